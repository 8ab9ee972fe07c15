"""Reviewing from the chat: decisions by inline button on the review card, the reason asked
for in chat where one is needed, the approval panel (certified amount, grade, reward), the
author's answer to a question, /review and /overdue."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
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
from bot.keyboards import page_count, page_nav, paged_choices
from bot.menu import any_button, button_filter
from bot.services import people, review, units
from bot.services.errors import ServiceError
from bot.texts import ACTIONS, GRADES
from storage.models import Grade, MemberStatus

TEXT, PANEL, AMOUNT, REWARD, UNIT = range(30, 35)
PENDING = "review"
END = ConversationHandler.END
PAGE = 5


def _(message: str) -> str:
    """Mark a text for extraction; it is translated where it is shown."""
    return message


PROMPTS = {
    "forward": _("Write your handling opinion on {number}; the committee and the author see it."),
    "ask": _("What should the author of {number} add? Your question is sent to them."),
    "reject": _("Why is {number} not adopted? The reason is sent to the author."),
    "dismiss": _("Why is {number} dismissed? The reason is sent to the reporter."),
    "fix": _("How was {number} fixed? Write a note (you may send a photo of the fix first)."),
    "implement": _(
        "Add a note or a photo about the implementation of {number}, or tap the button."
    ),
    "answer": _("Write your answer about {number}; it goes back to the reviewer who asked."),
}


def _key(update: Update) -> str:
    """A decision in progress belongs to the chat it was started in (a committee member may
    decide in the committee group and in the private chat at the same time)."""
    return f"{PENDING}:{update.effective_chat.id}" if update.effective_chat else PENDING


def _pending(update: Update, context: BotContext) -> dict[str, Any] | None:
    return context.user_data.get(_key(update)) if context.user_data is not None else None


def _member_id(context: BotContext) -> int | None:
    member = context.member
    return member.id if member is not None and member.status == MemberStatus.ACTIVE else None


async def pressed(update: Update, context: BotContext) -> int | None:
    """A decision button on a review card. A refusal, opening a card and a one-tap decision
    leave a decision in progress (a reason being typed) as it was."""
    query = update.callback_query
    assert query and query.data and context.user_data is not None
    _rv, item_id, code = query.data.split(":")
    member_id = _member_id(context)
    if member_id is None:
        await context.refuse(update, ServiceError("forbidden"))
        return None
    if code == "open":
        try:
            await review.open_card(
                context.db,
                int(item_id),
                member_id,
                context.state.clock.now(),
                context.settings.tzinfo,
                context.settings.default_language,
            )
        except ServiceError as exc:
            await context.refuse(update, exc)
            return None
        context.outbox_dirty = True
        await query.answer()
        return None
    action = review.CODES.get(code, "")
    try:
        checked = await review.check(
            context.db, int(item_id), member_id, action, context.settings.tzinfo
        )
    except ServiceError as exc:
        await context.refuse(update, exc)
        return None
    item = checked.item
    pending: dict[str, Any] = {"item": item.id, "number": item.number, "action": action}
    if action == "acknowledge":
        await _decide(update, context, pending)
        return None
    context.user_data[_key(update)] = pending
    tr = context.tr
    await query.answer()
    if action == "approve":
        claimed = checked.claimed
        pending.update(amount=str(claimed) if claimed else None, grade=Grade.NONE, reward=None)
        pending["rewards"] = {g: str(v) for g, v in checked.proposed_reward.items()}
        return await _panel(update, context, pending)
    if action == "verify":
        certified = item.certified_amount
        same = InlineKeyboardButton(
            tr.plain("= {amount}", amount=cards.money(tr, certified)),
            callback_data=f"rvx:{item.id}:same",
        )
        pending["prompt"] = await context.say(
            update,
            tr._(
                "Send the verified yearly saving of {number} (certified: {amount}; 0 if it "
                "saved nothing), or tap the button if it is the same.",
                number=item.number,
                amount=cards.money(tr, certified),
            ),
            InlineKeyboardMarkup([[same]]),
        )
        pending["prompt"] = pending["prompt"].message_id
        return AMOUNT
    if action == "assign":
        return await _ask_unit(update, context, pending, 0)
    markup = None
    if action == "implement":
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        tr.plain("✅ Implemented, no note"), callback_data=f"rvx:{item.id}:bare"
                    )
                ]
            ]
        )
    pending["files"] = []
    prompt = await context.say(update, tr._(PROMPTS[action], number=item.number), markup)
    if markup is not None:
        pending["prompt"] = prompt.message_id
    return TEXT


async def answer_pressed(update: Update, context: BotContext) -> int | None:
    """The author's "Answer" button on a question."""
    query = update.callback_query
    assert query and query.data and context.user_data is not None
    item_id = int(query.data.split(":")[1])
    member_id = _member_id(context)
    if member_id is None:
        await context.refuse(update, ServiceError("forbidden"))
        return None
    try:
        checked = await review.check(
            context.db, item_id, member_id, "answer", context.settings.tzinfo
        )
    except ServiceError as exc:
        await context.refuse(update, exc)
        return None
    await query.answer()
    number = checked.item.number
    context.user_data[_key(update)] = {"item": item_id, "number": number, "action": "answer"}
    prompt = PROMPTS["answer"]
    await context.say(update, context.tr._(prompt, number=number))
    return TEXT


def _forget(update: Update, context: BotContext, pending: dict[str, Any]) -> None:
    """The decision is over: drop it if it is the one in progress in this chat (a one-tap
    acknowledgement leaves another decision in progress alone)."""
    if context.user_data is not None and context.user_data.get(_key(update)) == pending:
        context.user_data.pop(_key(update), None)


async def _decide(update: Update, context: BotContext, pending: dict[str, Any], **kw: Any) -> int:
    """Take the decision; say what happened, or why not."""
    tr = context.tr
    member_id = _member_id(context)
    if member_id is None:
        await context.refuse(update, ServiceError("forbidden"))
        return END
    try:
        decision = await review.decide(
            context.db,
            int(pending["item"]),
            member_id,
            pending["action"],
            context.state.clock.now(),
            context.settings.tzinfo,
            default_lang=context.settings.default_language,
            committee_chat_id=context.settings.committee_chat_id or None,
            files=pending.get("files"),
            **kw,
        )
    except ServiceError as exc:
        if exc.code in ("reason_required", "reason_too_long", "amount_required"):
            await context.refuse(update, exc)
            return TEXT if exc.code != "amount_required" else PANEL
        _forget(update, context, pending)
        await context.refuse(update, exc)
        return END
    context.outbox_dirty = True
    _forget(update, context, pending)
    query = update.callback_query
    if query is not None:
        await query.answer()
        if query.data and query.data.startswith("rvx:"):  # the panel or prompt is used up
            await query.edit_message_reply_markup(None)
    elif pending.get("prompt") and update.effective_chat:
        # The prompt's button ("same amount", "no note") is used up too.
        await context.bot.edit_message_reply_markup(
            update.effective_chat.id, int(pending["prompt"]), reply_markup=None
        )
    what = tr.plain(ACTIONS.get(pending["action"], ACTIONS["submit"]))
    await context.say(
        update,
        tr._(
            "Done: {number}: {action}. The author is told.",
            number=decision.item.number,
            action=what,
        ),
    )
    return END


async def text_given(update: Update, context: BotContext) -> int | None:
    """The reason, opinion, question, note or answer."""
    assert update.effective_message
    pending = _pending(update, context)
    if pending is None:
        return END
    return await _decide(update, context, pending, text=update.effective_message.text or "")


async def photo_given(update: Update, context: BotContext) -> int | None:
    """A photo of the fix or of the implementation, kept with the decision."""
    message = update.effective_message
    pending = _pending(update, context)
    assert message
    if pending is None or pending["action"] not in ("fix", "implement"):
        await message.reply_text(context.tr._("Please write it as text, or send /cancel."))
        return None
    if message.photo:
        file = {"kind": "photo", "file_id": message.photo[-1].file_id}
    elif message.document:
        file = {"kind": "document", "file_id": message.document.file_id}
    else:
        return None
    pending.setdefault("files", []).append(file)
    if message.caption:
        return await _decide(update, context, pending, text=message.caption)
    await message.reply_text(context.tr._("Photo kept. Now write the note."))
    return None


async def bare_implemented(update: Update, context: BotContext) -> int | None:
    pending = _pending(update, context)
    if pending is None or pending["action"] != "implement":
        return await stale(update, context)
    return await _decide(update, context, pending)


# --- approval panel --------------------------------------------------------------------------


def _reward(pending: dict[str, Any]) -> Decimal:
    if pending.get("reward") is not None:
        return Decimal(pending["reward"])
    return Decimal(pending["rewards"].get(pending["grade"], "0"))


async def _panel(update: Update, context: BotContext, pending: dict[str, Any]) -> int:
    tr = context.tr
    item = pending["item"]
    amount = Decimal(pending["amount"]) if pending.get("amount") else None
    lines = [
        tr._("<b>Approve {number}</b>", number=pending["number"]),
        tr._("Certified saving: {amount}", amount=cards.money(tr, amount)),
        tr._("Grade: {grade}", grade=tr.plain(GRADES[str(pending.get("grade"))])),
        tr._("Reward: {amount}", amount=cards.money(tr, _reward(pending))),
    ]
    if pending.get("reward") is None:
        lines.append(tr._("(the reward follows the campaign's rule; you can change it)"))
    grades = [
        InlineKeyboardButton(
            ("• " if pending["grade"] == g else "") + tr.plain(GRADES[g]),
            callback_data=f"rvx:{item}:grade:{g}",
        )
        for g in (Grade.GOLD, Grade.SILVER, Grade.NONE)
    ]
    markup = InlineKeyboardMarkup(
        [
            grades,
            [
                InlineKeyboardButton(
                    tr.plain("✏️ Certified amount"), callback_data=f"rvx:{item}:amt"
                ),
                InlineKeyboardButton(tr.plain("✏️ Reward"), callback_data=f"rvx:{item}:rew"),
            ],
            [
                InlineKeyboardButton(
                    tr.plain("✅ Confirm approval"), callback_data=f"rvx:{item}:confirm"
                ),
                InlineKeyboardButton(tr.plain("✖ Cancel"), callback_data=f"rvx:{item}:cancel"),
            ],
        ]
    )
    text = "\n".join(lines)
    query = update.callback_query
    if query is not None and query.data and query.data.startswith("rvx:"):
        await context.show(update, text, markup)  # the same grade again: nothing changes
    else:
        await context.say(update, text, markup)
    return PANEL


def _own(update: Update, pending: dict[str, Any] | None) -> bool:
    """The pressed panel button belongs to the decision in progress."""
    query = update.callback_query
    return bool(
        query and query.data and pending and query.data.split(":")[1] == str(pending["item"])
    )


async def panel_pressed(update: Update, context: BotContext) -> int | None:
    query = update.callback_query
    assert query and query.data
    pending = _pending(update, context)
    if pending is None or not _own(update, pending):
        return await stale(update, context)
    parts = query.data.split(":")
    choice = parts[2]
    tr = context.tr
    if choice == "grade" and len(parts) > 3 and parts[3] in set(Grade):
        pending["grade"] = parts[3]
        return await _panel(update, context, pending)
    if choice == "amt":
        await query.answer()
        await query.edit_message_reply_markup(None)  # a fresh panel follows the amount
        await context.say(update, tr._("Send the certified yearly saving in yuan."))
        return AMOUNT
    if choice == "rew":
        await query.answer()
        await query.edit_message_reply_markup(None)
        await context.say(update, tr._("Send the reward in yuan (0 for none)."))
        return REWARD
    if choice == "cancel":
        return await cancel(update, context)
    if choice == "confirm":
        return await _decide(
            update,
            context,
            pending,
            amount=Decimal(pending["amount"]) if pending.get("amount") else None,
            grade=pending["grade"],
            reward=_reward(pending),
        )
    return await stale(update, context)


def _amount_problem(context: BotContext) -> str:
    return context.tr._("Please send an amount in yuan, for example 15000 or 1.5万.")


async def amount_given(update: Update, context: BotContext) -> int | None:
    assert update.effective_message
    pending = _pending(update, context)
    if pending is None:
        return END
    verify = pending["action"] == "verify"  # the effect found may be nothing at all
    try:
        amount = parse_amount(update.effective_message.text or "", zero=verify)
    except AmountError:
        await update.effective_message.reply_text(_amount_problem(context))
        return None
    if verify:
        return await _decide(update, context, pending, amount=amount)
    pending["amount"] = str(amount)
    return await _panel(update, context, pending)


async def same_as_certified(update: Update, context: BotContext) -> int | None:
    pending = _pending(update, context)
    if pending is None or pending["action"] != "verify" or not _own(update, pending):
        return await stale(update, context)
    try:
        checked = await review.check(
            context.db,
            int(pending["item"]),
            _member_id(context) or 0,
            "verify",
            context.settings.tzinfo,
        )
    except ServiceError as exc:  # decided meanwhile, or no longer this member's to decide
        _forget(update, context, pending)
        await context.refuse(update, exc)
        return END
    return await _decide(update, context, pending, amount=checked.item.certified_amount)


async def reward_given(update: Update, context: BotContext) -> int | None:
    assert update.effective_message
    pending = _pending(update, context)
    if pending is None:
        return END
    try:
        reward = parse_amount(update.effective_message.text or "", zero=True)
    except AmountError:
        await update.effective_message.reply_text(_amount_problem(context))
        return None
    pending["reward"] = str(reward)
    return await _panel(update, context, pending)


# --- assigning a waste report to a unit ------------------------------------------------------


async def _ask_unit(update: Update, context: BotContext, pending: dict[str, Any], page: int) -> int:
    item = pending["item"]
    choices = [
        (name, f"rvx:{item}:unit:{unit_id}") for unit_id, name in await units.unit_names(context.db)
    ]
    markup = paged_choices(choices, page, f"rvx:{item}:upage:")
    text = context.tr._("Which unit should handle {number}?", number=pending["number"])
    query = update.callback_query
    if query is not None and query.data and ":upage:" in query.data:
        await context.show(update, text, markup)
    else:
        await context.say(update, text, markup)
    return UNIT


async def unit_pressed(update: Update, context: BotContext) -> int | None:
    query = update.callback_query
    assert query and query.data
    pending = _pending(update, context)
    if pending is None or pending["action"] != "assign" or not _own(update, pending):
        return await stale(update, context)
    parts = query.data.split(":")
    if parts[2] == "upage":
        return await _ask_unit(update, context, pending, int(parts[3]))
    return await _decide(update, context, pending, unit_id=int(parts[3]))


async def cancel(update: Update, context: BotContext) -> int:
    """Nothing is decided."""
    if context.user_data is not None:
        context.user_data.pop(_key(update), None)
    if update.callback_query is not None:
        await update.callback_query.answer()
    await context.say(update, context.tr._("Cancelled: nothing was decided."))
    return END


async def stale(update: Update, context: BotContext) -> int | None:
    if update.callback_query is not None:
        await update.callback_query.answer(
            context.tr.plain("This button is no longer valid."), show_alert=True
        )
    return None


async def wrong_input(update: Update, context: BotContext) -> None:
    assert update.effective_message
    await update.effective_message.reply_text(
        context.tr._("Please answer the question above, or send /cancel to stop.")
    )


# --- lists -----------------------------------------------------------------------------------


async def waiting(update: Update, context: BotContext, page: int = 0) -> None:
    """/review: what waits for me, oldest first."""
    tr = context.tr
    member_id = _member_id(context)
    access = await people.access_of(context.db, context.member)
    if member_id is None or not (access.is_reviewer or access.is_admin):
        await context.refuse(update, ServiceError("forbidden"))
        return
    rows, total = await review.waiting_for(context.db, member_id, page, PAGE)
    now = context.state.clock.now()
    lines = [tr._("📥 <b>Waiting for me</b>: {n}", n=total)]
    if not rows:
        lines.append(tr._("Nothing is waiting for you."))
    buttons = []
    for item in rows:
        days = (now - item.stage_since).days
        lines.append(
            tr._(
                "<b>{number}</b> {title} · {status} · {days} d",
                number=item.number,
                title=item.title,
                status=cards.status_text(tr, item.status),
                days=days,
            )
        )
        buttons.append(
            [InlineKeyboardButton(f"📂 {item.number}", callback_data=f"rv:{item.id}:open")]
        )
    buttons += page_nav(page, page_count(total, PAGE), "rvl:")
    await context.show(update, "\n".join(lines), InlineKeyboardMarkup(buttons) if buttons else None)


async def review_command(update: Update, context: BotContext) -> None:
    await waiting(update, context, 0)


async def review_page(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query and query.data
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:  # forged on a group message
        await stale(update, context)
        return
    await waiting(update, context, int(query.data.split(":")[1]))


async def overdue_command(update: Update, context: BotContext) -> None:
    """/overdue (office): everything overdue, by stage and unit."""
    assert update.effective_message
    tr = context.tr
    access = await people.access_of(context.db, context.member)
    if not access.is_admin:
        await context.refuse(update, ServiceError("forbidden"))
        return
    rows = await review.overdue(
        context.db, review.Limits.of(context.settings), context.state.clock.now()
    )
    lines = [tr._("⏰ <b>Overdue</b>")]
    if not rows:
        lines.append(tr._("Nothing is overdue."))
    stage = None
    for status, unit, count in rows:
        if status != stage:
            stage = status
            lines.append(tr._("<b>{status}</b>", status=cards.status_text(tr, status)))
        lines.append(tr._("    {unit}: {n}", unit=unit, n=count))
    await update.effective_message.reply_text("\n".join(lines))


def register(app: Application) -> None:
    """Decisions are one persistent conversation per reviewer; lists are plain commands."""
    private = filters.ChatType.PRIVATE
    typed = filters.TEXT & ~filters.COMMAND & ~any_button()
    photo = filters.PHOTO | filters.Document.ALL
    deciding = conversation(
        name="review",
        persistent=True,
        entry_points=[
            CallbackQueryHandler(pressed, pattern=r"^rv:\d{1,9}:\w+$"),
            CallbackQueryHandler(answer_pressed, pattern=r"^ans:\d{1,9}$"),
        ],
        states={
            TEXT: [
                MessageHandler(typed, text_given),
                MessageHandler(photo, photo_given),
                CallbackQueryHandler(bare_implemented, pattern=r"^rvx:\d{1,9}:bare$"),
            ],
            PANEL: [CallbackQueryHandler(panel_pressed, pattern=r"^rvx:\d{1,9}:")],
            AMOUNT: [
                MessageHandler(typed, amount_given),
                CallbackQueryHandler(same_as_certified, pattern=r"^rvx:\d{1,9}:same$"),
            ],
            REWARD: [MessageHandler(typed, reward_given)],
            UNIT: [
                CallbackQueryHandler(unit_pressed, pattern=r"^rvx:\d{1,9}:(unit|upage):\d{1,9}$")
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CallbackQueryHandler(stale, pattern=r"^rvx:"),
            MessageHandler(
                ~filters.COMMAND & ~any_button() & ~filters.StatusUpdate.ALL, wrong_input
            ),
        ],
        allow_reentry=True,
    )
    app.add_handler(deciding)
    app.add_handler(CommandHandler("review", review_command, filters=private))
    app.add_handler(MessageHandler(button_filter("review"), review_command))
    app.add_handler(CallbackQueryHandler(review_page, pattern=r"^rvl:\d{1,9}$"))
    app.add_handler(CommandHandler("overdue", overdue_command, filters=private))
