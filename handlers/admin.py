"""Administration from chat (campaign office): units, members, roles, campaign, chats, import."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import cards
from bot.context import BotContext
from bot.conversation import conversation
from bot.i18n import Translator
from bot.keyboards import paged_choices
from bot.menu import any_button, button_filter
from bot.services import announcements, campaigns, importer, people, units
from bot.services.errors import ServiceError
from bot.services.people import Access
from bot.texts import error_plain, error_text, group_name
from storage.models import Campaign, Member, MemberStatus

AWAIT = 0
ASK = "admin_ask"
SEARCH = "admin_search"
PAGE = 8


def _import_error(tr: Translator, error: importer.ImportError_) -> str:
    texts = {
        "too_big": tr._("The file is too big (at most 5 MB)."),
        "unsupported": tr._("Please send a .csv or .xlsx file."),
        "unreadable": tr._("The file could not be read. Please send a .csv or .xlsx file."),
        "bad_header": tr._(
            "The first row must name the columns: name, headcount or name, unit, group."
        ),
        "too_many_rows": tr._("Too many rows (at most 20,000)."),
        "empty": tr._("The file has no rows."),
        "empty_name": tr._("the name is empty"),
        "name_too_long": tr._("the name «{value}» is too long", value=error.value),
        "duplicate": tr._("«{value}» appears twice", value=error.value),
        "bad_headcount": tr._("«{value}» is not a headcount", value=error.value),
        "missing_unit": tr._("the unit is empty"),
        "bad_group": tr._("«{value}» is not a group (党员, 团员 or 群众)", value=error.value),
        "unknown_unit": tr._("unknown unit «{value}»", value=error.value),
    }
    text = texts.get(error.code, error.code)
    if error.line == 0:
        return text
    if error.sheet:
        return tr._("Sheet {sheet}, line {line}: ", sheet=error.sheet, line=error.line) + text
    return tr._("Line {line}: ", line=error.line) + text


async def _admin(update: Update, context: BotContext) -> Access | None:
    """The admin's access, or a refusal (nothing changes) and None."""
    access = await people.access_of(context.db, context.member)
    if access.is_admin and access.member_id is not None:
        return access
    refusal = error_plain(context.tr, ServiceError("forbidden"))
    if update.callback_query:
        await update.callback_query.answer(refusal, show_alert=True)
    elif update.effective_message:
        await update.effective_message.reply_text(error_text(context.tr, ServiceError("forbidden")))
    return None


def _button(label: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=data)


# ---- panel ---------------------------------------------------------------------------------


async def panel(update: Update, context: BotContext) -> None:
    """The administration panel."""
    if await _admin(update, context) is None:
        return
    tr = context.tr
    pending = len(await people.pending_members(context.db))
    markup = InlineKeyboardMarkup(
        [
            [
                _button(tr.plain("🏭 Units"), "ad:units:0"),
                _button(tr.plain("👥 Members"), "ad:find"),
            ],
            [
                InlineKeyboardButton(
                    tr.plain("⏳ Pending joins ({n})", n=pending), callback_data="ad:pending"
                ),
                _button(tr.plain("📋 Campaign"), "ad:camp"),
            ],
            [
                _button(tr.plain("📣 Announcement chats"), "ad:chats"),
                _button(tr.plain("📥 Import"), "ad:imp"),
            ],
        ]
    )
    await context.show(
        update, tr._("<b>Administration</b>\nWhat would you like to manage?"), markup
    )


# ---- units ---------------------------------------------------------------------------------


async def units_list(update: Update, context: BotContext) -> None:
    """All units, archived ones marked."""
    if await _admin(update, context) is None:
        return
    assert update.callback_query and update.callback_query.data
    page = int(update.callback_query.data.rsplit(":", 1)[1])
    tr = context.tr
    choices = [
        (("🗄 " if u.archived else "") + f"{u.name} ({u.headcount})", f"ad:u:{u.id}")
        for u in await units.list_units(context.db, archived=True)
    ]
    markup = paged_choices(
        choices,
        page,
        "ad:units:",
        extra=[
            _button(tr.plain("➕ New unit"), "ad:newunit"),
            _button(tr.plain("« Back"), "ad:home"),
        ],
    )
    await context.show(update, tr._("<b>Units</b> (headcount in brackets)"), markup)


async def unit_view(update: Update, context: BotContext, unit_id: int | None = None) -> None:
    """One unit with its actions."""
    if await _admin(update, context) is None:
        return
    if unit_id is None:
        assert update.callback_query and update.callback_query.data
        unit_id = int(update.callback_query.data.split(":")[2])
    unit = await units.get_unit(context.db, unit_id)
    tr = context.tr
    if unit is None:
        await context.show(update, error_text(tr, ServiceError("not_found")), None)
        return
    invite = await units.active_invite(context.db, unit.id)
    _, total = await units.members_of(context.db, unit.id, 0, 1)
    lines = [
        tr._("<b>{name}</b>", name=unit.name),
        tr._("Headcount: {n}", n=unit.headcount),
        tr._("Registered members: {n}", n=total),
    ]
    if unit.archived:
        lines.append(tr._("Archived"))
    if invite is not None:
        link = f"https://t.me/{context.bot.username}?start={invite.code}"
        lines.append(tr._("Invite link: {link}", link=link))
    else:
        lines.append(tr._("No invite link."))
    u = f"ad:u:{unit.id}"
    rows = [
        [_button(tr.plain("✏️ Rename"), f"{u}:ren"), _button(tr.plain("🔢 Headcount"), f"{u}:hc")],
        [_button(tr.plain("🔗 New invite link"), f"{u}:inv")]
        + ([_button(tr.plain("🚫 Revoke link"), f"{u}:rev")] if invite else []),
        [_button(tr.plain("👥 Members"), f"{u}:mem:0")],
        [
            _button(tr.plain("♻️ Restore"), f"{u}:rest")
            if unit.archived
            else _button(tr.plain("🗄 Archive"), f"{u}:arch"),
            _button(tr.plain("« Units"), "ad:units:0"),
        ],
    ]
    await context.show(update, "\n".join(lines), InlineKeyboardMarkup(rows))


async def unit_action(update: Update, context: BotContext) -> None:
    """Invite links, archive and restore."""
    access = await _admin(update, context)
    if access is None or access.member_id is None:
        return
    query = update.callback_query
    assert query and query.data
    _, _, unit_id, action = query.data.split(":")
    now = context.state.clock.now()
    try:
        if action == "inv":
            await units.create_invite(context.db, access.member_id, int(unit_id), now)
        elif action == "rev":
            await units.revoke_invites(context.db, access.member_id, int(unit_id), now)
        else:
            await units.set_archived(
                context.db, access.member_id, int(unit_id), action == "arch", now
            )
    except ServiceError as exc:
        await query.answer(error_plain(context.tr, exc), show_alert=True)
        return
    await unit_view(update, context, int(unit_id))


async def unit_members(update: Update, context: BotContext) -> None:
    """Members of a unit, paged."""
    if await _admin(update, context) is None:
        return
    query = update.callback_query
    assert query and query.data
    parts = query.data.split(":")
    unit_id, page = int(parts[2]), int(parts[4])
    rows, total = await units.members_of(context.db, unit_id, page * PAGE, PAGE)
    await _member_page(
        update, context, rows, total, page, f"ad:u:{unit_id}:mem:", f"ad:u:{unit_id}"
    )


async def _member_page(
    update: Update,
    context: BotContext,
    rows: list[Member],
    total: int,
    page: int,
    nav: str,
    back: str,
) -> None:
    tr = context.tr
    choices = [(_member_label(m), f"ad:m:{m.id}") for m in rows]
    # The page's rows were fetched with an offset: pad so paged_choices shows the right page.
    padded = [("", "")] * (page * PAGE) + choices
    padded += [("", "")] * max(0, total - len(padded))
    markup = paged_choices(
        padded,
        page,
        nav,
        columns=1,
        page_size=PAGE,
        extra=[_button(tr.plain("« Back"), back)],
    )
    text = tr._("Members: {n}", n=total) if total else tr._("No members found.")
    await context.show(update, text, markup)


def _member_label(member: Member) -> str:
    marks = ("👑" if member.is_admin else "") + ("⚖️" if member.is_committee else "")
    if member.status == MemberStatus.INACTIVE:
        marks += "⛔"
    if member.telegram_id is None:
        marks += "📥"
    return f"{member.name} {marks}".strip()


# ---- members and roles -----------------------------------------------------------------------


async def member_view(update: Update, context: BotContext, member_id: int | None = None) -> None:
    """One member with role toggles."""
    if await _admin(update, context) is None:
        return
    if member_id is None:
        assert update.callback_query and update.callback_query.data
        member_id = int(update.callback_query.data.split(":")[2])
    member = await people.get(context.db, member_id)
    tr = context.tr
    if member is None:
        await context.show(update, error_text(tr, ServiceError("not_found")), None)
        return
    unit = await units.get_unit(context.db, member.unit_id) if member.unit_id else None
    assessed = await people.assessor_unit_ids(context.db, member.id)
    assessed_names = [
        name
        for unit_id, name in await units.unit_names(context.db, archived=True)
        if unit_id in assessed
    ]
    status = {
        MemberStatus.ACTIVE: tr.plain("active"),
        MemberStatus.PENDING: tr.plain("waiting for approval"),
        MemberStatus.INACTIVE: tr.plain("deactivated"),
        MemberStatus.DECLINED: tr.plain("declined"),
    }.get(MemberStatus(member.status), member.status)
    lines = [
        tr._("<b>{name}</b>", name=member.name),
        tr._("Unit: {unit}", unit=unit.name if unit else "-"),
        tr._("Group: {group}", group=group_name(tr, member.group)),
        tr._("Status: {status}", status=status),
        tr._("Admin: {yes}", yes=tr.plain("yes") if member.is_admin else tr.plain("no")),
        tr._("Committee: {yes}", yes=tr.plain("yes") if member.is_committee else tr.plain("no")),
        tr._("Assessor of: {units}", units=", ".join(assessed_names) or "-"),
    ]
    if member.telegram_id is None:
        lines.append(tr._("Imported; has not joined in Telegram yet."))
    m = f"ad:m:{member.id}"
    rows = [
        [
            _button(
                tr.plain("➖ Admin") if member.is_admin else tr.plain("➕ Admin"),
                f"{m}:role:admin:{0 if member.is_admin else 1}",
            ),
            _button(
                tr.plain("➖ Committee") if member.is_committee else tr.plain("➕ Committee"),
                f"{m}:role:committee:{0 if member.is_committee else 1}",
            ),
        ],
        [_button(tr.plain("⚖️ Assessor of units…"), f"{m}:as:0")],
        [
            _button(tr.plain("♻️ Reactivate"), f"{m}:act:1")
            if member.status == MemberStatus.INACTIVE
            else _button(tr.plain("⛔ Deactivate"), f"{m}:act:0"),
            _button(tr.plain("« Back"), "ad:home"),
        ],
    ]
    await context.show(update, "\n".join(lines), InlineKeyboardMarkup(rows))


async def member_role(update: Update, context: BotContext) -> None:
    """Grant or revoke admin or committee."""
    access = await _admin(update, context)
    if access is None or access.member_id is None:
        return
    query = update.callback_query
    assert query and query.data
    _, _, member_id, _, role, grant = query.data.split(":")
    try:
        await people.set_role(
            context.db,
            access.member_id,
            int(member_id),
            role,
            grant == "1",
            context.state.clock.now(),
        )
    except ServiceError as exc:
        await query.answer(error_plain(context.tr, exc), show_alert=True)
        return
    await member_view(update, context, int(member_id))


async def member_assessor_units(
    update: Update, context: BotContext, member_id: int | None = None, page: int = 0
) -> None:
    """Units to toggle the member's assessor role in."""
    if await _admin(update, context) is None:
        return
    if member_id is None:
        assert update.callback_query and update.callback_query.data
        parts = update.callback_query.data.split(":")
        member_id, page = int(parts[2]), int(parts[4])
    held = set(await people.assessor_unit_ids(context.db, member_id))
    choices = [
        (("✅ " if unit_id in held else "") + name, f"ad:m:{member_id}:ast:{unit_id}")
        for unit_id, name in await units.unit_names(context.db)
    ]
    markup = paged_choices(
        choices,
        page,
        f"ad:m:{member_id}:as:",
        extra=[_button(context.tr.plain("« Back"), f"ad:m:{member_id}")],
    )
    await context.show(
        update, context.tr._("Tap a unit to make them its assessor, or to stop."), markup
    )


async def member_assessor_toggle(update: Update, context: BotContext) -> None:
    access = await _admin(update, context)
    if access is None or access.member_id is None:
        return
    query = update.callback_query
    assert query and query.data
    parts = query.data.split(":")
    member_id, unit_id = int(parts[2]), int(parts[4])
    held = unit_id in await people.assessor_unit_ids(context.db, member_id)
    try:
        await people.set_role(
            context.db,
            access.member_id,
            member_id,
            "assessor",
            not held,
            context.state.clock.now(),
            unit_id=unit_id,
        )
    except ServiceError as exc:
        await query.answer(error_plain(context.tr, exc), show_alert=True)
        return
    await member_assessor_units(update, context, member_id, 0)


async def member_active(update: Update, context: BotContext) -> None:
    access = await _admin(update, context)
    if access is None or access.member_id is None:
        return
    query = update.callback_query
    assert query and query.data
    parts = query.data.split(":")
    member_id = int(parts[2])
    try:
        await people.set_active(
            context.db, access.member_id, member_id, parts[4] == "1", context.state.clock.now()
        )
    except ServiceError as exc:
        await query.answer(error_plain(context.tr, exc), show_alert=True)
        return
    await member_view(update, context, member_id)


async def pending_list(update: Update, context: BotContext) -> None:
    """Joins waiting for approval, each with its buttons."""
    if await _admin(update, context) is None:
        return
    tr = context.tr
    waiting = await people.pending_members(context.db)
    rows = [
        [
            InlineKeyboardButton(f"✅ {m.name}", callback_data=f"jr:{m.id}:y"),
            InlineKeyboardButton("❌", callback_data=f"jr:{m.id}:n"),
        ]
        for m in waiting[:20]
    ]
    rows.append([_button(tr.plain("« Back"), "ad:home")])
    text = (
        tr._("Waiting for approval: {n}", n=len(waiting))
        if waiting
        else tr._("Nobody is waiting for approval.")
    )
    await context.show(update, text, InlineKeyboardMarkup(rows))


# ---- campaign --------------------------------------------------------------------------------

CAMPAIGN_FIELDS = {
    "name": "name",
    "start": "starts_on",
    "end": "ends_on",
    "pht": "per_head_target",
    "tt": "total_target",
    "gold": "gold_reward",
    "silver": "silver_reward",
    "share": "reward_share",
}


def _campaign_text(tr: Translator, c: Campaign) -> str:
    share = (c.reward_share * 100).normalize()
    return "\n".join(
        [
            tr._("<b>{name}</b>", name=c.name),
            tr._("From {start} to {end}", start=c.starts_on.isoformat(), end=c.ends_on.isoformat()),
            tr._("Target per head: {amount} yuan", amount=f"{c.per_head_target:,.2f}"),
            tr._("Total target: {amount} yuan", amount=f"{c.total_target:,.2f}"),
            tr._(
                "Rewards: gold {gold} yuan, silver {silver} yuan, plus {share}% of the certified "
                "saving",
                gold=f"{c.gold_reward:,.2f}",
                silver=f"{c.silver_reward:,.2f}",
                share=f"{share:f}",
            ),
        ]
    )


async def campaign_view(update: Update, context: BotContext) -> None:
    if await _admin(update, context) is None:
        return
    tr = context.tr
    campaign = await campaigns.ensure_default(context.db, context.today())
    rows = [
        [_button(tr.plain("✏️ Name"), "ad:cf:name")],
        [
            _button(tr.plain("📅 Start date"), "ad:cf:start"),
            _button(tr.plain("📅 End date"), "ad:cf:end"),
        ],
        [_button(tr.plain("🎯 Per head"), "ad:cf:pht"), _button(tr.plain("🎯 Total"), "ad:cf:tt")],
        [
            _button(tr.plain("🥇 Gold reward"), "ad:cf:gold"),
            _button(tr.plain("🥈 Silver reward"), "ad:cf:silver"),
        ],
        [
            _button(tr.plain("％ Reward share"), "ad:cf:share"),
            _button(tr.plain("🏷 Categories"), "ad:cats"),
        ],
        [_button(tr.plain("« Back"), "ad:home")],
    ]
    await context.show(update, _campaign_text(tr, campaign), InlineKeyboardMarkup(rows))


async def categories_view(update: Update, context: BotContext) -> None:
    if await _admin(update, context) is None:
        return
    tr = context.tr
    campaign = await campaigns.ensure_default(context.db, context.today())
    rows = []
    for cat in await campaigns.categories(context.db, campaign.id, archived=True):
        label = cat.name_zh if context.lang == "zh" else cat.name_en
        rows.append(
            [
                InlineKeyboardButton(
                    ("🗄 " if cat.archived else "") + label, callback_data=f"ad:cat:{cat.id}:ren"
                ),
                _button(
                    tr.plain("♻️ Restore") if cat.archived else tr.plain("🗄 Archive"),
                    f"ad:cat:{cat.id}:{'rest' if cat.archived else 'arch'}",
                ),
            ]
        )
    rows.append(
        [_button(tr.plain("➕ New category"), "ad:newcat"), _button(tr.plain("« Back"), "ad:camp")]
    )
    await context.show(
        update, tr._("<b>Categories</b>\nTap a name to rename it."), InlineKeyboardMarkup(rows)
    )


async def category_archive(update: Update, context: BotContext) -> None:
    access = await _admin(update, context)
    if access is None or access.member_id is None:
        return
    query = update.callback_query
    assert query and query.data
    _, _, cat_id, action = query.data.split(":")
    try:
        await campaigns.set_category_archived(
            context.db, access.member_id, int(cat_id), action == "arch", context.state.clock.now()
        )
    except ServiceError as exc:
        await query.answer(error_plain(context.tr, exc), show_alert=True)
        return
    await categories_view(update, context)


# ---- announcement chats --------------------------------------------------------------------


async def chats_view(update: Update, context: BotContext) -> None:
    if await _admin(update, context) is None:
        return
    tr = context.tr
    chats = await announcements.active_chats(context.db)
    rows = [
        [InlineKeyboardButton(f"🚫 {c.title or c.chat_id}", callback_data=f"ad:chat:{c.id}:off")]
        for c in chats
    ]
    rows.append([_button(tr.plain("« Back"), "ad:home")])
    text = tr._(
        "Announcement chats: {n}. To add one, add me to the group and send /announce_here there. "
        "Tap a chat to stop posting to it.",
        n=len(chats),
    )
    await context.show(update, text, InlineKeyboardMarkup(rows))


async def chat_off(update: Update, context: BotContext) -> None:
    access = await _admin(update, context)
    if access is None or access.member_id is None:
        return
    query = update.callback_query
    assert query and query.data
    try:
        await announcements.deactivate(
            context.db, access.member_id, int(query.data.split(":")[2]), context.state.clock.now()
        )
    except ServiceError as exc:
        await query.answer(error_plain(context.tr, exc), show_alert=True)
        return
    await chats_view(update, context)


async def announce_here(update: Update, context: BotContext) -> None:
    """/announce_here in a group: post the campaign's bulletins here."""
    message, chat = update.effective_message, update.effective_chat
    assert message and chat
    if chat.type == chat.PRIVATE:
        await message.reply_text(
            context.tr._("Send /announce_here in the group that should receive the bulletins.")
        )
        return
    access = await _admin(update, context)
    if access is None or access.member_id is None:
        return
    me = await context.bot.get_chat_member(chat.id, context.bot.id)
    if me.status not in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR):
        await message.reply_text(context.tr._("Please add me to this group first."))
        return
    _, changed = await announcements.register(
        context.db, access.member_id, chat.id, chat.title or "", context.state.clock.now()
    )
    await message.reply_text(
        context.tr._("This chat will receive the campaign's bulletins.")
        if changed
        else context.tr._("This chat already receives the campaign's bulletins.")
    )


# ---- typed input: names, numbers, dates, search, import --------------------------------------


async def ask(update: Update, context: BotContext) -> int:
    """A button that needs typed input: remember what is asked and ask it."""
    if await _admin(update, context) is None or context.user_data is None:
        return ConversationHandler.END
    query = update.callback_query
    assert query and query.data
    parts = query.data.split(":")
    kind, target = parts[1], None
    if kind == "u":  # ad:u:<id>:ren|hc
        kind, target = parts[3], parts[2]
    elif kind == "cat":  # ad:cat:<id>:ren
        kind, target = "catren", parts[2]
    elif kind == "cf":  # ad:cf:<field>
        target = parts[2]
    context.user_data[ASK] = {"kind": kind, "target": target}
    await query.answer()
    tr = context.tr
    texts = {
        "newunit": tr._("Send the new unit's name and headcount, for example: 一车间 120"),
        "ren": tr._("Send the new name."),
        "hc": tr._("Send the headcount, for example 120."),
        "find": tr._("Send part of a name (or a Telegram username) to search for."),
        "newcat": tr._(
            "Send the category's Chinese and English names separated by /, "
            "for example: 安全节能 / Safe saving"
        ),
        "catren": tr._("Send the new Chinese and English names separated by /."),
        "imp": tr._(
            "Send a .csv or .xlsx file with units (name, headcount) or members "
            "(name, unit, group, optional username). Nothing is imported if any row is wrong."
        ),
        "cf": tr._(
            "Send the new value. Dates as 2026-01-31, amounts like 1000 or 1.5万, "
            "the share in % like 5%."
        ),
    }
    assert query.message
    await context.bot.send_message(
        query.message.chat.id, texts[kind] + "\n" + tr._("Send /cancel to stop.")
    )
    return AWAIT


async def answer(update: Update, context: BotContext) -> int:
    """Typed input for the pending question; a bad value is refused and asked again."""
    access = await _admin(update, context)
    if access is None or access.member_id is None or context.user_data is None:
        return ConversationHandler.END
    message = update.effective_message
    assert message
    pending = context.user_data.get(ASK) or {}
    kind, target = pending.get("kind"), pending.get("target")
    text = message.text or ""
    now = context.state.clock.now()
    actor = access.member_id
    try:
        if kind == "newunit":
            name, headcount = units.parse_name_and_headcount(text)
            unit = await units.create_unit(context.db, actor, name, headcount, now)
            context.user_data.pop(ASK, None)
            await unit_view(update, context, unit.id)
            return ConversationHandler.END
        if kind == "ren" and target:
            await units.rename_unit(context.db, actor, int(target), text, now)
            context.user_data.pop(ASK, None)
            await unit_view(update, context, int(target))
            return ConversationHandler.END
        if kind == "hc" and target:
            await units.set_headcount(
                context.db, actor, int(target), units.parse_headcount(text), now
            )
            context.user_data.pop(ASK, None)
            await unit_view(update, context, int(target))
            return ConversationHandler.END
        if kind == "find":
            context.user_data.pop(ASK, None)
            context.user_data[SEARCH] = text
            await _search_page(update, context, 0)
            return ConversationHandler.END
        if kind == "newcat":
            zh, en = campaigns.parse_category_names(text)
            campaign = await campaigns.ensure_default(context.db, context.today())
            await campaigns.add_category(context.db, actor, campaign.id, zh, en, now)
            context.user_data.pop(ASK, None)
            await categories_view(update, context)
            return ConversationHandler.END
        if kind == "catren" and target:
            zh, en = campaigns.parse_category_names(text)
            await campaigns.rename_category(context.db, actor, int(target), zh, en, now)
            context.user_data.pop(ASK, None)
            await categories_view(update, context)
            return ConversationHandler.END
        if kind == "cf" and target in CAMPAIGN_FIELDS:
            field = CAMPAIGN_FIELDS[str(target)]
            campaign = await campaigns.ensure_default(context.db, context.today())
            await campaigns.update_field(
                context.db, actor, campaign.id, field, campaigns.parse_value(field, text), now
            )
            context.user_data.pop(ASK, None)
            await campaign_view(update, context)
            return ConversationHandler.END
        if kind == "imp":
            await message.reply_text(context.tr._("Please send the file as a document."))
            return AWAIT
    except ServiceError as exc:
        await message.reply_text(_input_error(context.tr, exc))
        return AWAIT
    context.user_data.pop(ASK, None)
    return ConversationHandler.END


def _input_error(tr: Translator, exc: ServiceError) -> str:
    extra = {
        "bad_date": tr._("Please send the date as 2026-01-31."),
        "bad_share": tr._("Please send a share between 0% and 100%, for example 5%."),
        "bad_amount": tr._("Please send an amount in yuan, for example 1000 or 1.5万."),
    }
    return extra.get(exc.code) or error_text(tr, exc)


async def import_file(update: Update, context: BotContext) -> int:
    """A CSV or XLSX file for the pending import."""
    access = await _admin(update, context)
    if access is None or access.member_id is None or context.user_data is None:
        return ConversationHandler.END
    message = update.effective_message
    assert message and message.document
    if (context.user_data.get(ASK) or {}).get("kind") != "imp":
        await message.reply_text(context.tr._("Please write it as text, or send /cancel."))
        return AWAIT
    document = message.document
    tr = context.tr
    if document.file_size and document.file_size > importer.MAX_BYTES:
        await message.reply_text(tr._("The file is too big (at most 5 MB)."))
        return AWAIT
    file = await document.get_file()
    data = bytes(await file.download_as_bytearray())
    result = await importer.import_file(
        context.db,
        access.member_id,
        document.file_name or "upload.csv",
        data,
        context.state.clock.now(),
    )
    if not result.ok:
        lines = [tr._("Nothing was imported. Please fix these rows and send the file again:")]
        for error in result.errors[:30]:
            line = _import_error(tr, error)
            # Rows can hold anything: as many as fit in one message (with the "more" line).
            if cards.shown_len("\n".join([*lines, line])) > cards.MESSAGE_LIMIT - 100:
                break
            lines.append(line)
        shown = len(lines) - 1
        if len(result.errors) > shown:
            lines.append(tr._("…and {n} more.", n=len(result.errors) - shown))
        await message.reply_text("\n".join(lines))
        return AWAIT
    context.user_data.pop(ASK, None)
    await message.reply_text(
        tr._(
            "Imported: {uc} new units, {uu} updated; {mc} new members, {mu} updated.",
            uc=result.units_created,
            uu=result.units_updated,
            mc=result.members_created,
            mu=result.members_updated,
        )
    )
    return ConversationHandler.END


async def not_text(update: Update, context: BotContext) -> int:
    """A sticker, photo, location... where a typed answer (or a file to import) is asked."""
    assert update.effective_message
    if context.user_data is not None and (context.user_data.get(ASK) or {}).get("kind") == "imp":
        text = context.tr._("Please send the file as a document.")
    else:
        text = context.tr._("Please write it as text, or send /cancel.")
    await update.effective_message.reply_text(text)
    return AWAIT


async def cancel_input(update: Update, context: BotContext) -> int:
    assert update.effective_message
    if context.user_data is not None:
        context.user_data.pop(ASK, None)
    await update.effective_message.reply_text(context.tr._("Cancelled. Nothing was changed."))
    return ConversationHandler.END


async def _search_page(update: Update, context: BotContext, page: int) -> None:
    query = (context.user_data or {}).get(SEARCH, "")
    rows, total = await people.search(context.db, query, page * PAGE, PAGE)
    await _member_page(update, context, rows, total, page, "ad:found:", "ad:home")


async def search_results(update: Update, context: BotContext) -> None:
    """Another page of the last member search."""
    if await _admin(update, context) is None:
        return
    assert update.callback_query and update.callback_query.data
    await _search_page(update, context, int(update.callback_query.data.rsplit(":", 1)[1]))


def register(app: Application) -> None:
    """Typed input is one conversation; every other admin button is a plain handler."""
    private = filters.ChatType.PRIVATE
    fields = "|".join(CAMPAIGN_FIELDS)
    # Ids and page numbers in callback data have at most 9 digits: longer ones are forged (and
    # would not fit the database's integers).
    asks = rf"newunit|find|newcat|imp|u:\d{{1,9}}:(ren|hc)|cat:\d{{1,9}}:ren|cf:({fields})"
    asking = conversation(
        name="admin_input",
        persistent=True,
        entry_points=[CallbackQueryHandler(ask, pattern=rf"^ad:({asks})$")],
        states={
            AWAIT: [
                MessageHandler(private & filters.Document.ALL, import_file),
                # A main-menu button is not an answer: it does what it always does.
                MessageHandler(private & filters.TEXT & ~filters.COMMAND & ~any_button(), answer),
                MessageHandler(private & ~filters.COMMAND & ~filters.TEXT, not_text),
            ]
        },
        fallbacks=[CommandHandler("cancel", cancel_input)],
        allow_reentry=True,
    )
    app.add_handler(asking)
    app.add_handler(CommandHandler("admin", panel, filters=private))
    app.add_handler(MessageHandler(button_filter("admin"), panel))
    app.add_handler(CommandHandler("announce_here", announce_here))
    routes = [
        (r"^ad:home$", panel),
        (r"^ad:units:\d{1,9}$", units_list),
        (r"^ad:u:\d{1,9}$", unit_view),
        (r"^ad:u:\d{1,9}:(inv|rev|arch|rest)$", unit_action),
        (r"^ad:u:\d{1,9}:mem:\d{1,9}$", unit_members),
        (r"^ad:m:\d{1,9}$", member_view),
        (r"^ad:m:\d{1,9}:role:(admin|committee):[01]$", member_role),
        (r"^ad:m:\d{1,9}:as:\d{1,9}$", member_assessor_units),
        (r"^ad:m:\d{1,9}:ast:\d{1,9}$", member_assessor_toggle),
        (r"^ad:m:\d{1,9}:act:[01]$", member_active),
        (r"^ad:pending$", pending_list),
        (r"^ad:camp$", campaign_view),
        (r"^ad:cats$", categories_view),
        (r"^ad:cat:\d{1,9}:(arch|rest)$", category_archive),
        (r"^ad:chats$", chats_view),
        (r"^ad:chat:\d{1,9}:off$", chat_off),
        (r"^ad:found:\d{1,9}$", search_results),
    ]
    for pattern, callback in routes:
        app.add_handler(CallbackQueryHandler(callback, pattern=pattern))
