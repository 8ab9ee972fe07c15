"""/progress, /rank, /bulletin (office) and /export (office; assessors for their units)."""

from __future__ import annotations

import io
from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ChatAction, ChatType
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import bulletins, cards
from bot.context import BotContext
from bot.menu import button_filter
from bot.services import announcements, export, figures, people, posts
from bot.services.errors import ServiceError
from bot.services.periods import PeriodKind, containing
from bot.services.reports import ReportKind
from storage.models import Campaign, MemberStatus

TOP = 10


def _(message: str) -> str:
    """Mark a label for extraction; translated where it is shown."""
    return message


RANK_PERIODS = {
    "week": _("This week"),
    "month": _("This month"),
    "quarter": _("This quarter"),
    "year": _("This year"),
    "all": _("Whole campaign"),
}


def _active(context: BotContext) -> bool:
    member = context.member
    return member is not None and member.status == MemberStatus.ACTIVE


async def _campaign(update: Update, context: BotContext) -> Campaign | None:
    if not _active(context):
        if update.callback_query is not None:
            await context.refuse(update, ServiceError("forbidden"))
        elif update.effective_message:
            await update.effective_message.reply_text(
                context.tr._("Please join the campaign first: send /start.")
            )
        return None
    campaign = context.campaign
    if campaign is None:
        await context.refuse(update, ServiceError("no_campaign"))
    return campaign


# ---- /progress --------------------------------------------------------------------------------


async def progress(update: Update, context: BotContext) -> None:
    """The plant against both targets, and my unit."""
    campaign = await _campaign(update, context)
    if campaign is None:
        return
    assert context.member is not None
    tr = context.tr
    today = context.state.clock.now().astimezone(context.settings.tzinfo).date()
    async with context.db.read() as session:
        # Savings to date and headcounts are all this shows: from the units' ledger.
        units = await figures.unit_progress(session, campaign.id, context.member.unit_id)
    plant = figures.plant_to_date(campaign, units, today + timedelta(days=1))
    lines = [
        tr._("📈 <b>Campaign progress</b> · {name}", name=campaign.name),
        "",
        *bulletins.progress_lines(tr, plant),
    ]
    if units.unit is not None:
        lines += ["", *_unit_progress(context, campaign, units, plant.elapsed)]
    await context.show(update, "\n".join(lines))


def _unit_progress(
    context: BotContext, campaign: Campaign, units: figures.UnitProgress, elapsed: float
) -> list[str]:
    unit = units.unit
    assert unit is not None
    tr = context.tr
    return [
        tr._("<b>My unit: {unit}</b> ({n} people)", unit=unit.name, n=unit.headcount),
        tr._(
            "Saved: {saved}; per head {per_head} of {target} ({pct}%)",
            saved=cards.money(tr, unit.saved_to_date),
            per_head=cards.money(tr, unit.per_head_to_date),
            target=cards.money(tr, campaign.per_head_target),
            pct=figures.target_pct(unit.per_head_to_date, campaign),
        ),
        bulletins.bar(figures.target_pct(unit.per_head_to_date, campaign)),
        tr._(
            "Pace: {pace}% of what is due by now · rank {rank} of {n} units",
            pace=figures.pace_pct(unit.per_head_to_date, campaign, elapsed),
            rank=units.position,
            n=units.units,
        ),
    ]


# ---- /rank ------------------------------------------------------------------------------------


def _rank_keyboard(context: BotContext, chosen: str) -> InlineKeyboardMarkup:
    tr = context.tr
    buttons = [
        InlineKeyboardButton(
            ("• " if key == chosen else "") + tr.plain(label), callback_data=f"rk:{key}"
        )
        for key, label in RANK_PERIODS.items()
    ]
    return InlineKeyboardMarkup([buttons[:3], buttons[3:]])


async def rank(update: Update, context: BotContext) -> None:
    """Units by savings per head, the top savers and my place, for a period."""
    query = update.callback_query
    key = query.data.split(":")[1] if query and query.data else "month"
    chat = update.effective_chat
    if query is not None and (chat is None or chat.type != ChatType.PRIVATE):
        # Forged on a group message: it would replace that message.
        await query.answer(context.tr.plain("This button is no longer valid."), show_alert=True)
        return
    campaign = await _campaign(update, context)
    if campaign is None:
        return
    if query is not None and not await context.press_fits(update, r"rk:"):
        return  # a period button forged onto another message, which it would replace
    member = context.member
    assert member is not None
    tr = context.tr
    tz = context.settings.tzinfo
    today = context.state.clock.now().astimezone(tz).date()
    period = None if key == "all" else containing(PeriodKind(key), today)
    async with context.db.read() as session:
        # The period's savings per head is all the ranking shows: from the units' ledger.
        ranked = await figures.unit_ranking(session, campaign.id, period, TOP, member.unit_id)
        workers = await figures.top_workers(session, campaign.id, period, TOP)
        standing = await figures.member_standing(session, campaign.id, member, period)
    lines = [tr._("🏆 <b>Rankings</b> · {period}", period=tr.plain(RANK_PERIODS[key])), ""]
    lines.append(tr._("<b>Units by savings per head</b>"))
    for i, unit in ranked:
        marker = "👉 " if unit.unit_id == member.unit_id else ""
        lines.append(
            tr._(
                "{marker}{rank}. {unit}: {per_head}/head ({saved})",
                marker=marker,
                rank=i,
                unit=unit.name,
                per_head=cards.money(tr, unit.per_head),
                saved=cards.money(tr, unit.saved),
            )
        )
    if not ranked:
        lines.append(tr._("No units yet."))
    lines += ["", tr._("<b>Top savers</b>")]
    lines += bulletins.worker_lines(tr, workers) or [tr._("No savings certified in this period.")]
    lines += [
        "",
        tr._("<b>My place</b>: {saved}", saved=cards.money(tr, standing.total)),
        *bulletins.standing_lines(tr, standing),
    ]
    await context.show(update, "\n".join(lines), _rank_keyboard(context, key))


# ---- /bulletin (office) -----------------------------------------------------------------------


def _admin(context: BotContext) -> bool:
    return _active(context) and context.member is not None and context.member.is_admin


async def bulletin_menu(update: Update, context: BotContext) -> None:
    """Pick a post to preview privately or to post now."""
    if not _admin(context):
        await context.refuse(update, ServiceError("forbidden"))
        return
    tr = context.tr
    rows = [
        [InlineKeyboardButton(tr.plain(bulletins.KIND_NAMES[kind]), callback_data=f"bl:{kind}")]
        for kind in ReportKind
    ]
    await context.show(
        update,
        tr._("Which post? You can preview it here or post it to the announcement chats now."),
        InlineKeyboardMarkup(rows),
    )


def _due(context: BotContext, kind: ReportKind) -> posts.Due:
    now = context.state.clock.now().astimezone(context.settings.tzinfo)
    return posts.last_due(kind, now, context.settings)


async def bulletin_kind(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query and query.data
    if not _admin(context):
        await context.refuse(update, ServiceError("forbidden"))
        return
    kind = ReportKind(query.data.split(":")[1])
    tr = context.tr
    due = _due(context, kind)
    text = tr._(
        "<b>{kind}</b> for {period}. Preview it here, or post it now to every announcement chat "
        "that has not had it.",
        kind=tr.plain(bulletins.KIND_NAMES[kind]),
        period=bulletins.period_name(tr, due.period),
    )
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(tr.plain("👁 Preview"), callback_data=f"bl:{kind}:v"),
                InlineKeyboardButton(tr.plain("📣 Post now"), callback_data=f"bl:{kind}:p"),
            ],
            [InlineKeyboardButton(tr.plain("◀ Back"), callback_data="bl:home")],
        ]
    )
    await context.show(update, text, keyboard)


async def bulletin_action(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query and query.data and update.effective_chat
    if not _admin(context):
        await context.refuse(update, ServiceError("forbidden"))
        return
    _bl, kind_key, action = query.data.split(":")
    kind = ReportKind(kind_key)
    tr = context.tr
    due = _due(context, kind)
    now = context.state.clock.now()
    if action == "v":
        await query.answer()
        post = await posts.make(context.db, context.settings, kind, due.period, now, context.lang)
        if post is None:
            await context.refuse(update, ServiceError("no_campaign"))
            return
        for part in post.parts:
            await context.bot.send_message(update.effective_chat.id, part)
        await context.bot.send_photo(
            update.effective_chat.id,
            InputFile(post.chart, filename=f"{kind}-{due.period.key}.png"),
            caption=post.caption,
        )
        return
    assert context.member is not None
    queued = await posts.publish(
        context.db, context.settings, due, now, member_id=context.member.id
    )
    context.outbox_dirty = bool(queued)
    if queued:
        text = tr.n_(
            "Posted to {n} announcement chat.", "Posted to {n} announcement chats.", len(queued)
        )
    elif not await announcements.active_chats(context.db):
        text = tr._(
            "There is no announcement chat yet: add me to a group and send /announce_here there."
        )
    else:
        text = tr._("Every announcement chat already has this post.")
    await query.answer()
    await context.say(update, text)


# ---- /export ----------------------------------------------------------------------------------


async def export_command(update: Update, context: BotContext) -> None:
    """The ledgers as a workbook: the whole plant for the office, own units for assessors."""
    if not _active(context) or update.effective_chat is None:
        await context.refuse(update, ServiceError("forbidden"))
        return
    member = context.member
    assert member is not None
    unit_ids: set[int] | None = None
    if not member.is_admin:
        unit_ids = set(await people.assessor_unit_ids(context.db, member.id))
        if not unit_ids:
            await context.refuse(update, ServiceError("forbidden"))
            return
    tr = context.tr
    now = context.state.clock.now()
    await context.bot.send_chat_action(update.effective_chat.id, ChatAction.UPLOAD_DOCUMENT)
    buffer = io.BytesIO()
    try:
        summary = await export.write_workbook(
            context.db, buffer, tr=tr, tz=context.settings.tzinfo, now=now, unit_ids=unit_ids
        )
    except ServiceError as exc:
        await context.refuse(update, exc)
        return
    day = now.astimezone(context.settings.tzinfo).date().isoformat()
    await context.bot.send_document(
        update.effective_chat.id,
        InputFile(buffer.getvalue(), filename=f"savings-{day}.xlsx"),
        caption=tr.n_(
            "Savings ledgers, {day}: {n} counted idea, {amount} certified.",
            "Savings ledgers, {day}: {n} counted ideas, {amount} certified.",
            summary.rows.get("ledger", 0),
            day=day,
            amount=cards.money(tr, summary.certified_total),
        ),
    )


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("progress", progress, filters=private))
    app.add_handler(MessageHandler(button_filter("progress"), progress))
    app.add_handler(CommandHandler("rank", rank, filters=private))
    app.add_handler(MessageHandler(button_filter("rank"), rank))
    app.add_handler(CallbackQueryHandler(rank, pattern=r"^rk:(week|month|quarter|year|all)$"))
    app.add_handler(CommandHandler("bulletin", bulletin_menu, filters=private))
    app.add_handler(CallbackQueryHandler(bulletin_menu, pattern=r"^bl:home$"))
    app.add_handler(
        CallbackQueryHandler(bulletin_kind, pattern=r"^bl:(weekly|monthly|quarterly|half|year)$")
    )
    app.add_handler(
        CallbackQueryHandler(
            bulletin_action, pattern=r"^bl:(weekly|monthly|quarterly|half|year):[vp]$"
        )
    )
    app.add_handler(CommandHandler("export", export_command, filters=private))
