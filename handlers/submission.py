"""Submitting an idea (/idea) or a waste report (/waste): short steps, big buttons, a summary
card to check and edit, then a registration number. The draft lives in the conversation's
persistent user data until it is submitted, cancelled or left idle too long."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import cards
from bot.amounts import AmountError, parse_amount
from bot.context import BotContext
from bot.conversation import conversation
from bot.keyboards import paged_choices
from bot.menu import any_button, button_filter, main_menu
from bot.services import campaigns, items, people, units
from bot.services.errors import ServiceError
from bot.texts import error_text
from storage.models import ItemKind, ItemStatus, MemberStatus


def _(message: str) -> str:
    """Mark a label for extraction; it is translated where it is shown."""
    return message


DRAFT = "item"
DRAFT_CONVERSATION = "item"  # the conversation's name
CATEGORY, TITLE, BODY, AMOUNT, UNIT, PLACE, FILES, COAUTHORS, ANON, SUMMARY, RESUME = range(10, 21)
STEPS: dict[str, list[str]] = {
    ItemKind.IDEA: ["category", "title", "body", "amount", "unit", "files", "coauthors"],
    ItemKind.WASTE: ["unit", "place", "title", "amount", "files", "anon"],
}
MAX_FILES = 20
MAX_PLACE = 100
MAX_CO_AUTHORS = 10
END = ConversationHandler.END

Draft = dict[str, Any]
Step = Callable[[Update, BotContext, Draft], Awaitable[int | None]]


def _cb(draft: Draft, *parts: object) -> str:
    """Callback data of a draft's button: `it:<draft key>:<action>[:<argument>]`."""
    return ":".join(["it", draft["key"], *map(str, parts)])


def _is_idea(draft: Draft) -> bool:
    return bool(draft["kind"] == ItemKind.IDEA)


async def _close_buttons(update: Update) -> None:
    """Answer the press and take the buttons off the message they were on."""
    query = update.callback_query
    if query is not None:
        await query.answer()
        await query.edit_message_reply_markup(None)


def _expired(draft: Draft, now: datetime, hours: int) -> bool:
    touched = datetime.fromisoformat(draft["touched"])
    return now - touched > timedelta(hours=hours)


def guarded(step: Step) -> Callable[[Update, BotContext], Coroutine[Any, Any, int | None]]:
    """Every step: the draft must exist, not be idle too long, and own the pressed button."""

    @functools.wraps(step)
    async def wrapper(update: Update, context: BotContext) -> int | None:
        tr = context.tr
        draft = context.user_data.get(DRAFT) if context.user_data is not None else None
        query = update.callback_query
        now = context.state.clock.now()
        if draft is None or _expired(draft, now, context.settings.draft_idle_hours):
            if draft is not None and context.user_data is not None:
                context.user_data.pop(DRAFT, None)
                text = tr._(
                    "Your draft was discarded after {hours} hours without changes. "
                    "Send /idea or /waste to start again.",
                    hours=context.settings.draft_idle_hours,
                )
            else:
                text = tr._("There is no draft in progress. Send /idea or /waste to start one.")
            if query is not None:
                await query.answer(tr.plain("This button is no longer valid."), show_alert=True)
            if query is None or draft is not None:
                await context.say(update, text)
            return END
        if query is not None and query.data and query.data.split(":")[1] != draft["key"]:
            await query.answer(tr.plain("This button is no longer valid."), show_alert=True)
            return None
        draft["touched"] = now.isoformat()
        return await step(update, context, draft)

    return wrapper


# --- starting --------------------------------------------------------------------------------


async def _begin(update: Update, context: BotContext, kind: str) -> int:
    """Start a new draft of `kind`, or offer to go on with the unfinished one."""
    assert update.effective_message
    tr = context.tr
    member = context.member
    if member is None or member.status != MemberStatus.ACTIVE or context.user_data is None:
        await update.effective_message.reply_text(
            tr._("Please join the campaign first: send /start.")
        )
        return END
    old = context.user_data.get(DRAFT)
    now = context.state.clock.now()
    if old is not None and not _expired(old, now, context.settings.draft_idle_hours):
        what = old.get("title") or (tr.plain("idea") if _is_idea(old) else tr.plain("report"))
        markup = InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(tr.plain("▶️ Continue it"), callback_data=_cb(old, "resume"))],
                [
                    InlineKeyboardButton(
                        tr.plain("🗑 Discard it and start anew"), callback_data=_cb(old, "new", kind)
                    )
                ],
            ]
        )
        await update.effective_message.reply_text(
            tr._("You have an unfinished draft: «{what}».", what=what), reply_markup=markup
        )
        return RESUME
    campaign = await campaigns.ensure_default(context.db, context.today())
    draft: Draft = {
        "key": secrets.token_hex(8),
        "kind": kind,
        "campaign_id": campaign.id,
        "unit_id": member.unit_id,
        "category_id": None,
        "title": "",
        "body": "",
        "place": None,
        "claimed": None,
        "anonymous": False,
        "co_authors": [],
        "files": [],
        "editing": False,
        "step": None,
        "touched": now.isoformat(),
    }
    context.user_data[DRAFT] = draft
    if kind == ItemKind.IDEA:
        intro = tr._(
            "💡 <b>New savings idea</b>\nA few short questions. Send /cancel to stop at any time."
        )
    else:
        intro = tr._(
            "🚯 <b>Report waste</b>\nA few short questions. Send /cancel to stop at any time."
        )
    await update.effective_message.reply_text(intro)
    return await _ask(update, context, draft, STEPS[kind][0])


async def start_idea(update: Update, context: BotContext) -> int:
    """/idea or the menu button."""
    return await _begin(update, context, ItemKind.IDEA)


async def start_waste(update: Update, context: BotContext) -> int:
    """/waste or the menu button."""
    return await _begin(update, context, ItemKind.WASTE)


@guarded
async def resume(update: Update, context: BotContext, draft: Draft) -> int | None:
    """Go on with the unfinished draft where it was left."""
    await _close_buttons(update)
    return await _ask(update, context, draft, draft.get("step") or STEPS[draft["kind"]][0])


@guarded
async def restart(update: Update, context: BotContext, draft: Draft) -> int | None:
    """Throw the unfinished draft away and start a new one."""
    query = update.callback_query
    assert query and query.data and context.user_data is not None
    await _close_buttons(update)
    context.user_data.pop(DRAFT, None)
    kind = query.data.rsplit(":", 1)[1]
    return await _begin(update, context, kind if kind in STEPS else ItemKind.IDEA)


# --- asking ----------------------------------------------------------------------------------


async def _ask(update: Update, context: BotContext, draft: Draft, step: str) -> int:
    draft["step"] = step
    return await ASKS[step](update, context, draft)


async def _next(update: Update, context: BotContext, draft: Draft, done: str) -> int:
    """After a step: back to the summary when editing, else the next step or the summary."""
    steps = STEPS[draft["kind"]]
    index = steps.index(done) + 1
    if draft.get("editing") or index >= len(steps):
        return await _summary(update, context, draft)
    return await _ask(update, context, draft, steps[index])


async def ask_category(update: Update, context: BotContext, draft: Draft) -> int:
    tr = context.tr
    categories = await campaigns.categories(context.db, int(draft["campaign_id"]))
    if not categories:
        return await _next(update, context, draft, "category")
    buttons = [
        InlineKeyboardButton(
            cards.category_name((c.name_zh, c.name_en), tr.lang),
            callback_data=_cb(draft, "cat", c.id),
        )
        for c in categories
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    await context.say(update, tr._("Which kind of idea is it?"), InlineKeyboardMarkup(rows))
    return CATEGORY


async def ask_title(update: Update, context: BotContext, draft: Draft) -> int:
    tr = context.tr
    if _is_idea(draft):
        text = tr._(
            "What is your idea? Send a short title (at most {limit} characters).",
            limit=items.MAX_TITLE,
        )
    else:
        text = tr._(
            "What is being wasted? Say it in one sentence (at most {limit} characters).",
            limit=items.MAX_TITLE,
        )
    await context.say(update, text)
    return TITLE


async def ask_body(update: Update, context: BotContext, draft: Draft) -> int:
    await context.say(
        update,
        context.tr._(
            "Describe the idea: what to change and how it saves money (at most {limit} "
            "characters). You can also send a voice message.",
            limit=items.MAX_BODY,
        ),
    )
    return BODY


async def ask_amount(update: Update, context: BotContext, draft: Draft) -> int:
    tr = context.tr
    if _is_idea(draft):
        await context.say(
            update,
            tr._(
                "How much could it save per year, in yuan? For example: 15000, 1.5万 or 一万五千."
            ),
        )
    else:
        skip = InlineKeyboardButton(tr.plain("⏭ I don't know"), callback_data=_cb(draft, "skip"))
        await context.say(
            update,
            tr._("Roughly how much is lost per year, in yuan? For example: 2000 or 2千."),
            InlineKeyboardMarkup([[skip]]),
        )
    return AMOUNT


async def ask_unit(update: Update, context: BotContext, draft: Draft, page: int = 0) -> int:
    tr = context.tr
    own = context.member.unit_id if context.member else None
    listed = await units.unit_names(context.db)
    listed.sort(key=lambda pair: pair[0] != own)  # the member's own unit first
    choices = [
        (
            tr.plain("✅ {unit} (my unit)", unit=name) if unit_id == own else name,
            _cb(draft, "unit", unit_id),
        )
        for unit_id, name in listed
    ]
    if _is_idea(draft):
        text = tr._("Which unit does the idea apply to?")
    else:
        text = tr._("In which unit is the waste?")
    markup = paged_choices(choices, page, _cb(draft, "upage", ""))
    query = update.callback_query
    if query is not None and query.data and ":upage:" in query.data:
        await context.show(update, text, markup)
    else:
        await context.say(update, text, markup)
    return UNIT


async def ask_place(update: Update, context: BotContext, draft: Draft) -> int:
    await context.say(
        update,
        context.tr._(
            "Where exactly? For example: pump room 3, assembly line 2 "
            "(at most {limit} characters).",
            limit=MAX_PLACE,
        ),
    )
    return PLACE


def _files_markup(draft: Draft, context: BotContext) -> InlineKeyboardMarkup:
    label = _("✅ Done") if draft["files"] else _("⏭ Skip")
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(context.tr.plain(label), callback_data=_cb(draft, "done"))]]
    )


async def ask_files(update: Update, context: BotContext, draft: Draft) -> int:
    tr = context.tr
    if _is_idea(draft):
        text = tr._(
            "Add photos or documents if you have any: send them now, as many as you like. "
            "Tap the button when you are finished."
        )
    else:
        text = tr._(
            "A photo of the waste helps most. Send photos now, then tap the button when you are "
            "finished."
        )
    await context.say(update, text, _files_markup(draft, context))
    return FILES


async def _co_author_markup(
    context: BotContext, draft: Draft, found: Sequence[tuple[int, str]] = ()
) -> InlineKeyboardMarkup:
    tr = context.tr
    rows = [
        [InlineKeyboardButton(f"➕ {name}", callback_data=_cb(draft, "co", member_id))]
        for member_id, name in found
    ]
    for member_id in draft["co_authors"]:
        member = await people.get(context.db, int(member_id))
        name = member.name if member else "?"
        rows.append(
            [
                InlineKeyboardButton(
                    tr.plain("✖ Remove {name}", name=name),
                    callback_data=_cb(draft, "unco", member_id),
                )
            ]
        )
    rows.append([InlineKeyboardButton(tr.plain("✅ Done"), callback_data=_cb(draft, "done"))])
    return InlineKeyboardMarkup(rows)


async def ask_coauthors(update: Update, context: BotContext, draft: Draft) -> int:
    await context.say(
        update,
        context.tr._(
            "Did colleagues work on this with you? Type part of a co-author's name to find them, "
            "or tap Done."
        ),
        await _co_author_markup(context, draft),
    )
    return COAUTHORS


async def ask_anonymous(update: Update, context: BotContext, draft: Draft) -> int:
    tr = context.tr
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    tr.plain("🕶 Yes, stay anonymous"), callback_data=_cb(draft, "anon", "y")
                )
            ],
            [
                InlineKeyboardButton(
                    tr.plain("👤 No, show my name"), callback_data=_cb(draft, "anon", "n")
                )
            ],
        ]
    )
    await context.say(
        update,
        tr._(
            "Do you want to stay anonymous? Then nobody, not even the reviewers, sees who "
            "reported it; you still get every reply."
        ),
        markup,
    )
    return ANON


ASKS: dict[str, Callable[[Update, BotContext, Draft], Awaitable[int]]] = {
    "category": ask_category,
    "title": ask_title,
    "body": ask_body,
    "amount": ask_amount,
    "unit": ask_unit,
    "place": ask_place,
    "files": ask_files,
    "coauthors": ask_coauthors,
    "anon": ask_anonymous,
}


# --- answers ---------------------------------------------------------------------------------


def _text(update: Update) -> str:
    assert update.effective_message
    return update.effective_message.text or ""


@guarded
async def category_chosen(update: Update, context: BotContext, draft: Draft) -> int | None:
    query = update.callback_query
    assert query and query.data
    category_id = int(query.data.rsplit(":", 1)[1])
    valid = {c.id: c for c in await campaigns.categories(context.db, int(draft["campaign_id"]))}
    if category_id not in valid:
        await query.answer(context.tr.plain("This button is no longer valid."), show_alert=True)
        return None
    await query.answer()
    category = valid[category_id]
    draft["category_id"] = category_id
    name = cards.category_name((category.name_zh, category.name_en), context.lang)
    await query.edit_message_text(context.tr._("Category: <b>{name}</b>", name=name))
    return await _next(update, context, draft, "category")


@guarded
async def title_typed(update: Update, context: BotContext, draft: Draft) -> int | None:
    title = " ".join(_text(update).split())
    try:
        items.check_text(title, "")
    except ServiceError as exc:
        await context.say(update, error_text(context.tr, exc))
        return None
    draft["title"] = title
    return await _next(update, context, draft, "title")


@guarded
async def body_typed(update: Update, context: BotContext, draft: Draft) -> int | None:
    body = _text(update).strip()
    try:
        items.check_text("-", body)
    except ServiceError as exc:
        await context.say(update, error_text(context.tr, exc))
        return None
    draft["body"] = body
    return await _next(update, context, draft, "body")


def _attachment(message: Message) -> dict[str, str] | None:
    if message.photo:
        photo = message.photo[-1]  # the largest size
        return {"kind": "photo", "file_id": photo.file_id, "file_unique_id": photo.file_unique_id}
    if message.document:
        doc = message.document
        found = {"kind": "document", "file_id": doc.file_id, "file_unique_id": doc.file_unique_id}
        if doc.file_name:
            found["file_name"] = doc.file_name[:255]
        return found
    if message.voice:
        voice = message.voice
        return {"kind": "voice", "file_id": voice.file_id, "file_unique_id": voice.file_unique_id}
    return None


@guarded
async def body_voice(update: Update, context: BotContext, draft: Draft) -> int | None:
    """A voice message as the description: kept as an attachment."""
    assert update.effective_message
    attachment = _attachment(update.effective_message)
    if attachment is None or len(draft["files"]) >= MAX_FILES:
        return await ask_body(update, context, draft)
    draft["files"].append(attachment)
    await context.say(update, context.tr._("🎤 Voice message kept with the idea."))
    return await _next(update, context, draft, "body")


def _amount_problem(context: BotContext, error: AmountError) -> str:
    tr = context.tr
    if error.kind == "negative":
        return tr._("The amount cannot be negative. Please send it again, for example 15000.")
    if error.kind == "zero":
        return tr._("The amount must be more than zero. Please send it again, for example 15000.")
    if error.kind == "too_large":
        return tr._(
            "That is more than 100 million yuan. Please check it and send it again, "
            "for example 15000."
        )
    return tr._(
        "Sorry, I could not read that as an amount. Please send a number of yuan, "
        "for example 15000, 1.5万 or 一万五千."
    )


@guarded
async def amount_typed(update: Update, context: BotContext, draft: Draft) -> int | None:
    try:
        amount = parse_amount(_text(update))
    except AmountError as exc:
        await context.say(update, _amount_problem(context, exc))
        return None
    draft["claimed"] = str(amount)
    await context.say(
        update,
        context.tr._("Amount: <b>{amount}</b>", amount=cards.money(context.tr, amount)),
    )
    return await _next(update, context, draft, "amount")


@guarded
async def amount_skipped(update: Update, context: BotContext, draft: Draft) -> int | None:
    await _close_buttons(update)
    draft["claimed"] = None
    return await _next(update, context, draft, "amount")


@guarded
async def unit_page(update: Update, context: BotContext, draft: Draft) -> int | None:
    query = update.callback_query
    assert query and query.data
    return await ask_unit(update, context, draft, int(query.data.rsplit(":", 1)[1]))


@guarded
async def unit_chosen(update: Update, context: BotContext, draft: Draft) -> int | None:
    query = update.callback_query
    assert query and query.data
    unit = await units.get_unit(context.db, int(query.data.rsplit(":", 1)[1]))
    if unit is None or unit.archived:
        await query.answer(context.tr.plain("That unit is no longer available."), show_alert=True)
        return None
    await query.answer()
    draft["unit_id"] = unit.id
    await query.edit_message_text(context.tr._("Unit: <b>{unit}</b>", unit=unit.name))
    return await _next(update, context, draft, "unit")


@guarded
async def place_typed(update: Update, context: BotContext, draft: Draft) -> int | None:
    place = " ".join(_text(update).split())
    if not place:
        return await ask_place(update, context, draft)
    if len(place) > MAX_PLACE:
        await context.say(
            update,
            context.tr._(
                "That is too long: at most {limit} characters. Please send it again.",
                limit=MAX_PLACE,
            ),
        )
        return None
    draft["place"] = place
    return await _next(update, context, draft, "place")


@guarded
async def file_received(update: Update, context: BotContext, draft: Draft) -> int | None:
    assert update.effective_message
    tr = context.tr
    attachment = _attachment(update.effective_message)
    if attachment is None:
        return None
    if len(draft["files"]) >= MAX_FILES:
        await context.say(
            update,
            tr._("That is the most one item can carry ({limit} files).", limit=MAX_FILES),
            _files_markup(draft, context),
        )
        return None
    draft["files"].append(attachment)
    await context.say(
        update,
        tr.n_(
            "📎 {n} file received. Send more, or tap the button.",
            "📎 {n} files received. Send more, or tap the button.",
            len(draft["files"]),
        ),
        _files_markup(draft, context),
    )
    return None


@guarded
async def step_done(update: Update, context: BotContext, draft: Draft) -> int | None:
    """Done (or Skip) on the files or co-authors step."""
    await _close_buttons(update)
    return await _next(update, context, draft, draft["step"])


@guarded
async def text_instead_of_file(update: Update, context: BotContext, draft: Draft) -> int | None:
    await context.say(
        update,
        context.tr._("Please send a photo or a file, or tap the button."),
        _files_markup(draft, context),
    )
    return None


@guarded
async def co_author_search(update: Update, context: BotContext, draft: Draft) -> int | None:
    tr = context.tr
    query_text = " ".join(_text(update).split())[:40]
    own = context.member.id if context.member else None
    found, _total = await people.search(context.db, query_text, 0, 20)
    names = dict(await units.unit_names(context.db, archived=True))
    matches = [
        (m.id, f"{m.name} · {names.get(m.unit_id or 0, '-')}")
        for m in found
        if m.status == MemberStatus.ACTIVE and m.id != own and m.id not in draft["co_authors"]
    ][:8]
    if not matches:
        text = tr._(
            "Nobody found for «{query}». Try another part of the name, or tap Done.",
            query=query_text,
        )
    else:
        text = tr._("Tap the co-author to add:")
    await context.say(update, text, await _co_author_markup(context, draft, matches))
    return None


@guarded
async def co_author_added(update: Update, context: BotContext, draft: Draft) -> int | None:
    query = update.callback_query
    assert query and query.data
    tr = context.tr
    member = await people.get(context.db, int(query.data.rsplit(":", 1)[1]))
    if member is None or member.status != MemberStatus.ACTIVE:
        await query.answer(tr.plain("This button is no longer valid."), show_alert=True)
        return None
    if len(draft["co_authors"]) >= MAX_CO_AUTHORS:
        await query.answer(
            tr.plain("At most {limit} co-authors.", limit=MAX_CO_AUTHORS), show_alert=True
        )
        return None
    own = context.member.id if context.member else None
    if member.id not in draft["co_authors"] and member.id != own:
        draft["co_authors"].append(member.id)
    await context.show(  # a second tap shows the same: not an error
        update,
        tr._("Added {name}. Type another name, or tap Done.", name=member.name),
        await _co_author_markup(context, draft),
    )
    return None


@guarded
async def co_author_removed(update: Update, context: BotContext, draft: Draft) -> int | None:
    query = update.callback_query
    assert query and query.data
    member_id = int(query.data.rsplit(":", 1)[1])
    if member_id in draft["co_authors"]:
        draft["co_authors"].remove(member_id)
    await context.show(
        update,
        context.tr._("Type a co-author's name to add them, or tap Done."),
        await _co_author_markup(context, draft),
    )
    return None


@guarded
async def anonymous_chosen(update: Update, context: BotContext, draft: Draft) -> int | None:
    query = update.callback_query
    assert query and query.data
    await query.answer()
    draft["anonymous"] = query.data.endswith(":y")
    text = (
        context.tr._("Anonymous: <b>yes</b>")
        if draft["anonymous"]
        else context.tr._("Anonymous: <b>no</b>")
    )
    await query.edit_message_text(text)
    return await _next(update, context, draft, "anon")


# --- the summary card ------------------------------------------------------------------------

EDIT_LABELS = {
    "category": _("✏️ Category"),
    "title": _("✏️ Title"),
    "body": _("✏️ Description"),
    "amount": _("✏️ Amount"),
    "unit": _("✏️ Unit"),
    "place": _("✏️ Place"),
    "files": _("📎 Files"),
    "coauthors": _("👥 Co-authors"),
    "anon": _("🕶 Anonymity"),
}
_WASTE_TITLE = _("✏️ What is wasted")


async def _summary_text(context: BotContext, draft: Draft) -> str:
    tr = context.tr
    unit = await units.get_unit(context.db, int(draft["unit_id"])) if draft["unit_id"] else None
    idea = _is_idea(draft)
    head = tr._("Please check your idea:") if idea else tr._("Please check your report:")
    lines = [f"<b>{head}</b>", ""]
    described: int | None = None  # the line of the description
    if idea:
        category = "-"
        for c in await campaigns.categories(context.db, int(draft["campaign_id"]), archived=True):
            if c.id == draft["category_id"]:
                category = cards.category_name((c.name_zh, c.name_en), tr.lang)
        lines.append(tr._("Category: {name}", name=category))
        lines.append(tr._("Title: <b>{title}</b>", title=draft["title"]))
        voices = sum(1 for f in draft["files"] if f["kind"] == "voice")
        if draft["body"]:
            described = len(lines)
            lines.append("")  # filled in last, shortened to what the message has room for
        elif voices:
            lines.append(tr._("Description: (voice message)"))
        claimed = Decimal(draft["claimed"]) if draft["claimed"] else None
        lines.append(tr._("Estimated saving per year: {amount}", amount=cards.money(tr, claimed)))
        lines.append(tr._("Unit: {unit}", unit=unit.name if unit else "-"))
    else:
        lines.append(tr._("Unit: {unit}", unit=unit.name if unit else "-"))
        lines.append(tr._("Place: {place}", place=draft["place"] or "-"))
        lines.append(tr._("What is wasted: <b>{title}</b>", title=draft["title"]))
        claimed = Decimal(draft["claimed"]) if draft["claimed"] else None
        lines.append(tr._("Estimated loss: {amount}", amount=cards.money(tr, claimed)))
    lines.append(tr.n_("Files: {n}", "Files: {n}", len(draft["files"])))
    if idea and draft["co_authors"]:
        names = []
        for member_id in draft["co_authors"]:
            member = await people.get(context.db, int(member_id))
            names.append(member.name if member else "?")
        lines.append(tr._("Co-authors: {names}", names="、".join(names)))
    if not idea:
        lines.append(
            tr._("Anonymous: <b>yes</b>") if draft["anonymous"] else tr._("Anonymous: <b>no</b>")
        )
    if idea:
        similar = await items.similar_idea(
            context.db, int(draft["campaign_id"]), draft["title"], draft["body"]
        )
        if similar:
            lines += [
                "",
                tr._(
                    "⚠️ A similar idea was already submitted: <b>{number}</b> «{title}». "
                    "You can still submit yours.",
                    number=similar[0],
                    title=similar[1],
                ),
            ]
    lines += ["", tr._("Nothing is sent until you tap Submit.")]
    if described is not None:
        room = cards.MESSAGE_LIMIT - cards.shown_len("\n".join(lines))
        room -= cards.shown_len(tr._("Description: {body}", body=""))
        lines[described] = tr._("Description: {body}", body=cards.clip(draft["body"], room))
    return "\n".join(lines)


def _summary_markup(context: BotContext, draft: Draft) -> InlineKeyboardMarkup:
    tr = context.tr
    edits = []
    for step in STEPS[draft["kind"]]:
        label = _WASTE_TITLE if step == "title" and not _is_idea(draft) else EDIT_LABELS[step]
        edits.append(InlineKeyboardButton(tr.plain(label), callback_data=_cb(draft, "edit", step)))
    rows = [edits[i : i + 2] for i in range(0, len(edits), 2)]
    rows.append(
        [
            InlineKeyboardButton(tr.plain("✅ Submit"), callback_data=_cb(draft, "submit")),
            InlineKeyboardButton(tr.plain("🗑 Cancel"), callback_data=_cb(draft, "cancel")),
        ]
    )
    return InlineKeyboardMarkup(rows)


async def _summary(update: Update, context: BotContext, draft: Draft) -> int:
    draft["editing"] = False
    draft["step"] = "summary"
    await context.say(update, await _summary_text(context, draft), _summary_markup(context, draft))
    return SUMMARY


@guarded
async def edit_chosen(update: Update, context: BotContext, draft: Draft) -> int | None:
    query = update.callback_query
    assert query and query.data
    step = query.data.rsplit(":", 1)[1]
    if step not in STEPS[draft["kind"]]:
        await query.answer(context.tr.plain("This button is no longer valid."), show_alert=True)
        return None
    await _close_buttons(update)
    draft["editing"] = True
    return await _ask(update, context, draft, step)


@guarded
async def submit(update: Update, context: BotContext, draft: Draft) -> int | None:
    """Register the item: a number, the reviewers' cards, and what happens next."""
    query = update.callback_query
    assert query and context.user_data is not None and context.member is not None
    tr = context.tr
    if not draft["title"] or not draft["unit_id"] or (_is_idea(draft) and not draft["claimed"]):
        await query.answer()
        missing = "title" if not draft["title"] else "unit" if not draft["unit_id"] else "amount"
        draft["editing"] = True
        return await _ask(update, context, draft, missing)
    values = items.Draft(
        kind=draft["kind"],
        unit_id=int(draft["unit_id"]),
        title=draft["title"],
        key=draft["key"],
        body=draft["body"],
        category_id=draft["category_id"],
        place=draft["place"],
        claimed_amount=draft["claimed"],
        anonymous=bool(draft["anonymous"]),
        co_author_ids=[int(m) for m in draft["co_authors"]],
        attachments=list(draft["files"]),
    )
    try:
        done = await items.submit(
            context.db,
            int(draft["campaign_id"]),
            context.member,
            values,
            context.state.clock.now(),
            context.settings.tzinfo,
            default_lang=context.settings.default_language,
        )
    except ServiceError as exc:
        await query.answer()
        await context.say(update, error_text(context.tr, exc))
        if exc.code == "unit_gone":
            draft["editing"] = True
            return await _ask(update, context, draft, "unit")
        return None
    context.outbox_dirty = True
    context.user_data.pop(DRAFT, None)
    await _close_buttons(update)
    item = done.item
    if item.status == ItemStatus.COMMITTEE:
        text = tr._(
            "✅ Submitted! Registration number: <b>{number}</b>.\n"
            "Next: the review committee decides within {days} days. You will get a message here "
            "at every step. See it any time under 📋 My items.",
            number=item.number,
            days=context.settings.committee_days,
        )
    elif item.kind == ItemKind.IDEA:
        text = tr._(
            "✅ Submitted! Registration number: <b>{number}</b>.\n"
            "Next: your unit's assessor reviews it within {days} days, then the review committee "
            "decides. You will get a message here at every step. See it any time under "
            "📋 My items.",
            number=item.number,
            days=context.settings.first_review_days,
        )
    else:
        text = tr._(
            "✅ Thank you! Registration number: <b>{number}</b>.\n"
            "The unit's assessor and the campaign office have your report. You will get a "
            "message here when it is handled.",
            number=item.number,
        )
        if item.anonymous:
            text += "\n" + tr._("Your name is shown to nobody.")
    access = await people.access_of(context.db, context.member)
    # The confirmation brings the main menu back (one message, not a second "what next").
    await context.bot.send_message(
        query.message.chat.id if query.message else context.member.telegram_id or 0,
        text,
        reply_markup=main_menu(access, context.lang),
    )
    return END


async def _discard(update: Update, context: BotContext) -> int:
    assert update.effective_chat
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)
    access = await people.access_of(context.db, context.member)
    await context.bot.send_message(
        update.effective_chat.id,
        context.tr._("Draft discarded. Nothing was sent."),
        reply_markup=main_menu(access, context.lang),
    )
    return END


@guarded
async def cancel_pressed(update: Update, context: BotContext, draft: Draft) -> int | None:
    await _close_buttons(update)
    return await _discard(update, context)


async def cancel_command(update: Update, context: BotContext) -> int:
    """/cancel at any step: the draft is thrown away."""
    return await _discard(update, context)


async def use_buttons(update: Update, context: BotContext) -> None:
    """Typed or sent something where a button is expected (or the wrong kind of input)."""
    assert update.effective_message
    await update.effective_message.reply_text(
        context.tr._("Please answer the question above, or send /cancel to stop.")
    )


async def stale_button(update: Update, context: BotContext) -> None:
    """A button of an earlier step."""
    assert update.callback_query
    await update.callback_query.answer(
        context.tr.plain("This button is no longer valid."), show_alert=True
    )


async def expire_drafts(app: Application[Any, Any, Any, Any, Any, Any]) -> int:
    """Discard every draft idle longer than the setting and tell its worker; returns how many."""
    state = app.bot_data
    now = state.clock.now()
    hours = state.settings.draft_idle_hours
    discarded = 0
    for user_id, data in list(app.user_data.items()):
        draft = data.get(DRAFT)
        if draft is None or not _expired(draft, now, hours):
            continue
        data.pop(DRAFT, None)
        app.mark_data_for_update_persistence(user_ids=int(user_id))  # or PTB would not write it
        await items.tell_draft_discarded(
            state.db,
            int(user_id),
            draft.get("title") or "",
            hours,
            now,
            state.settings.default_language,
        )
        discarded += 1
    if discarded:
        await app.update_persistence()
    return discarded


def _buttons(pattern: str, callback: Callable[..., Any]) -> CallbackQueryHandler[Any, Any]:
    return CallbackQueryHandler(callback, pattern=rf"^it:[0-9a-f]+:{pattern}$")


def register(app: Application) -> None:
    """One persistent conversation for both kinds: each state is one question."""
    private = filters.ChatType.PRIVATE
    # Input a step takes: text that is neither a command nor a main-menu button.
    typed = private & filters.TEXT & ~filters.COMMAND & ~any_button()
    sent_file = private & (filters.PHOTO | filters.Document.ALL | filters.VOICE)
    entry_points = [
        CommandHandler("idea", start_idea, filters=private),
        CommandHandler("waste", start_waste, filters=private),
        MessageHandler(button_filter("idea"), start_idea),
        MessageHandler(button_filter("waste"), start_waste),
    ]
    done = _buttons("done", step_done)
    submission = conversation(
        name=DRAFT_CONVERSATION,
        persistent=True,
        entry_points=entry_points,
        states={
            RESUME: [_buttons("resume", resume), _buttons(r"new:\w+", restart)],
            CATEGORY: [_buttons(r"cat:\d{1,9}", category_chosen)],
            TITLE: [MessageHandler(typed, title_typed)],
            BODY: [
                MessageHandler(typed, body_typed),
                MessageHandler(private & filters.VOICE, body_voice),
            ],
            AMOUNT: [MessageHandler(typed, amount_typed), _buttons("skip", amount_skipped)],
            UNIT: [_buttons(r"unit:\d{1,9}", unit_chosen), _buttons(r"upage:\d{1,9}", unit_page)],
            PLACE: [MessageHandler(typed, place_typed)],
            FILES: [
                MessageHandler(sent_file, file_received),
                done,
                MessageHandler(typed, text_instead_of_file),
            ],
            COAUTHORS: [
                MessageHandler(typed, co_author_search),
                _buttons(r"co:\d{1,9}", co_author_added),
                _buttons(r"unco:\d{1,9}", co_author_removed),
                done,
            ],
            ANON: [_buttons("anon:[yn]", anonymous_chosen)],
            SUMMARY: [
                _buttons(r"edit:\w+", edit_chosen),
                _buttons("submit", submit),
                _buttons("cancel", cancel_pressed),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cancel_command),
            CallbackQueryHandler(stale_button, pattern=r"^it:"),
            MessageHandler(private & ~filters.COMMAND & ~any_button(), use_buttons),
        ],
        allow_reentry=True,
    )
    app.add_handler(submission)
