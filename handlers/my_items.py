"""/my: a member's own items (as submitter or co-author), newest first, with their history,
the member's certified savings and rank."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import bulletins, cards
from bot.context import BotContext
from bot.keyboards import page_count, page_nav
from bot.menu import button_filter
from bot.services import figures, items
from bot.services.errors import ServiceError
from bot.texts import error_plain
from storage.models import ItemStatus, MemberStatus


def _header(context: BotContext, total_items: int, standing: figures.Standing | None) -> list[str]:
    tr = context.tr
    lines = [tr._("📋 <b>My items</b>: {n}", n=total_items)]
    if standing is None:
        return lines
    lines.append(
        tr._("My certified savings: <b>{amount}</b>", amount=cards.money(tr, standing.total))
    )
    lines += bulletins.standing_lines(tr, standing)
    return lines


async def show_page(update: Update, context: BotContext, page: int = 0) -> None:
    """One page of the member's items, each with a button to its details."""
    tr = context.tr
    member = context.member
    query = update.callback_query
    if member is None or member.status != MemberStatus.ACTIVE:
        if query is not None:
            await query.answer(error_plain(tr, ServiceError("forbidden")), show_alert=True)
        elif update.effective_message:
            await update.effective_message.reply_text(
                tr._("Please join the campaign first: send /start.")
            )
        return
    campaign = context.campaign
    async with context.db.read() as session:  # one read for the page and the standing
        total, page, rows = await items.page_of(session, member.id, page)
        standing = None
        if campaign is not None:
            standing = await figures.member_standing(session, campaign.id, member)
    pages = page_count(total, items.MY_PAGE)
    lines = _header(context, total, standing)
    lines.append("")
    if not rows:
        lines.append(tr._("Nothing yet. Send /idea to submit an idea or /waste to report waste."))
    lines += [cards.list_line(tr, item) for item in rows]
    buttons = [
        [InlineKeyboardButton(f"🔎 {item.number}", callback_data=f"my:i:{item.id}:{page}")]
        for item in rows
    ]
    buttons += page_nav(page, pages, "my:p:")
    await context.show(update, "\n".join(lines), InlineKeyboardMarkup(buttons) if buttons else None)


async def my_command(update: Update, context: BotContext) -> None:
    """/my or the menu button."""
    await show_page(update, context, 0)


async def page_pressed(update: Update, context: BotContext) -> None:
    assert update.callback_query and update.callback_query.data
    if not await context.press_fits(update, r"my:"):
        return
    await show_page(update, context, int(update.callback_query.data.rsplit(":", 1)[1]))


async def detail(update: Update, context: BotContext) -> None:
    """The item in full with every decision and reason; only for its authors."""
    query = update.callback_query
    assert query and query.data
    tr = context.tr
    _, _, item_id, page = query.data.split(":")
    if not await context.press_fits(update, r"my:"):
        return
    member = context.member
    if member is None or member.status != MemberStatus.ACTIVE:
        await query.answer(error_plain(tr, ServiceError("forbidden")), show_alert=True)
        return
    try:
        view = await items.view_for_author(context.db, int(item_id), member.id)
    except ServiceError as exc:
        await query.answer(error_plain(tr, exc), show_alert=True)
        return
    tz = context.settings.tzinfo
    bare = cards.shown_len(cards.item_text(tr, view, for_author=True, room=0))  # no description
    text = ""
    for events, reason_limit, body_min in (
        (50, cards.MESSAGE_LIMIT, 800),
        (12, 300, 200),
        (6, 100, 0),
    ):
        # A message holds 4096 UTF-16 code units: fewer, shorter history lines until the
        # description keeps a fair part of the room.
        history = cards.history_lines(tr, view, tz, reason_limit)[-events:]
        tail = "\n".join(["", tr._("<b>History</b>"), *history])
        room = cards.MESSAGE_LIMIT - cards.shown_len(tail) - 1
        text = cards.item_text(tr, view, for_author=True, room=room) + "\n" + tail
        if room - bare - 2 >= min(body_min, cards.utf16_len(view.body)):
            break
    back = InlineKeyboardButton(tr.plain("◀ Back to my items"), callback_data=f"my:p:{page}")
    rows = [[back]]
    if view.status == ItemStatus.NEEDS_INFO:
        rows.insert(0, [InlineKeyboardButton(tr.plain("✍️ Answer"), callback_data=f"ans:{view.id}")])
    await context.show(update, text, InlineKeyboardMarkup(rows))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("my", my_command, filters=filters.ChatType.PRIVATE))
    app.add_handler(MessageHandler(button_filter("my"), my_command))
    app.add_handler(CallbackQueryHandler(page_pressed, pattern=r"^my:p:\d{1,9}$"))
    app.add_handler(CallbackQueryHandler(detail, pattern=r"^my:i:\d{1,9}:\d{1,9}$"))
