"""Joining the campaign: by invite link or by picking a unit; the main menu; join approvals."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import BotContext
from bot.conversation import conversation
from bot.keyboards import paged_choices
from bot.menu import main_menu
from bot.services import people, units
from bot.services.errors import ServiceError
from bot.texts import GROUPS, error_plain, error_text
from storage.models import MemberGroup, MemberStatus

# Conversation states.
UNIT, NAME, GROUP, CLAIM = range(4)
DRAFT = "join"


async def show_menu(update: Update, context: BotContext, text: str | None = None) -> None:
    """Send the main menu keyboard with a greeting."""
    assert update.effective_message
    access = await people.access_of(context.db, context.member)
    name = context.member.name if context.member else ""
    await update.effective_message.reply_text(
        text or context.tr._("Welcome, {name}! Choose from the menu below.", name=name),
        reply_markup=main_menu(access, context.lang),
    )


async def _ask_unit(update: Update, context: BotContext, page: int = 0) -> int:
    """Offer the units as buttons."""
    assert update.effective_message
    choices = [
        (name, f"join:unit:{unit_id}") for unit_id, name in await units.unit_names(context.db)
    ]
    if not choices:
        if update.callback_query:
            await update.callback_query.answer()
        await update.effective_message.reply_text(
            context.tr._("No units are set up yet. Please ask the campaign office.")
        )
        return ConversationHandler.END
    markup = paged_choices(choices, page, "join:page:")
    text = context.tr._("Which workshop or department do you work in?")
    if update.callback_query:
        await context.show(update, text, markup)  # answers the press
    else:
        await update.effective_message.reply_text(text, reply_markup=markup)
    return UNIT


async def _ask_name(update: Update, context: BotContext) -> int:
    """Ask for the display name, with the Telegram name as a one-tap answer."""
    assert update.effective_user and update.effective_chat
    suggestion = update.effective_user.full_name[: people.MAX_NAME]
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    context.tr.plain("Use «{name}»", name=suggestion), callback_data="join:name"
                )
            ]
        ]
    )
    await context.bot.send_message(
        update.effective_chat.id,
        context.tr._("What name should your colleagues see? Tap the button or type your name."),
        reply_markup=markup,
    )
    return NAME


async def start(update: Update, context: BotContext) -> int:
    """/start: the menu for members, otherwise the first step of joining."""
    assert update.effective_message and update.effective_user
    member = context.member
    if member is not None and member.status == MemberStatus.ACTIVE:
        await show_menu(update, context)
        return ConversationHandler.END
    if member is not None and member.status in (MemberStatus.PENDING, MemberStatus.INACTIVE):
        code = "join_pending" if member.status == MemberStatus.PENDING else "deactivated"
        await update.effective_message.reply_text(error_text(context.tr, ServiceError(code)))
        return ConversationHandler.END
    if context.user_data is None:
        return ConversationHandler.END
    draft: dict[str, object] = {"unit_id": None, "invite": False}
    context.user_data[DRAFT] = draft
    await update.effective_message.reply_text(
        context.tr._(
            "Welcome to the savings campaign! Three quick questions and you are in. "
            "Send /cancel to stop at any time."
        ),
        reply_markup=ReplyKeyboardRemove(),
    )
    invite_code = context.args[0] if context.args else None
    if invite_code:
        unit = await units.unit_for_code(context.db, invite_code)
        if unit is not None:
            draft.update(unit_id=unit.id, invite=True)
            await update.effective_message.reply_text(
                context.tr._("You are joining <b>{unit}</b>.", unit=unit.name)
            )
            return await _ask_name(update, context)
        await update.effective_message.reply_text(
            context.tr._(
                "This invite link is unknown or no longer valid. Ask your unit for a new one, "
                "or pick your unit below."
            )
        )
    match = await people.imported_match(context.db, update.effective_user.username)
    if match is not None:
        draft["claim"] = match.id
        unit = await units.get_unit(context.db, match.unit_id) if match.unit_id else None
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        context.tr.plain("Yes, that is me"), callback_data="join:claim:y"
                    ),
                    InlineKeyboardButton(context.tr.plain("No"), callback_data="join:claim:n"),
                ]
            ]
        )
        await update.effective_message.reply_text(
            context.tr._(
                "The campaign office registered <b>{name}</b> of {unit}. Is that you?",
                name=match.name,
                unit=unit.name if unit else "-",
            ),
            reply_markup=markup,
        )
        return CLAIM
    return await _ask_unit(update, context)


async def claim_answer(update: Update, context: BotContext) -> int:
    """Link the imported record, or go on to register normally."""
    query = update.callback_query
    assert query and query.data and update.effective_user and context.user_data is not None
    draft = context.user_data.get(DRAFT, {})
    if query.data.endswith(":n") or "claim" not in draft:
        return await _ask_unit(update, context)  # the question becomes the list of units
    await query.answer()
    try:
        member = await people.claim_imported(
            context.db,
            int(draft["claim"]),
            update.effective_user.id,
            context.lang,
            context.state.clock.now(),
        )
    except ServiceError as exc:
        await query.edit_message_text(error_text(context.tr, exc))
        return ConversationHandler.END
    context.member = member
    context.user_data.pop(DRAFT, None)
    await query.edit_message_reply_markup(None)
    await show_menu(update, context)
    return ConversationHandler.END


async def unit_page(update: Update, context: BotContext) -> int:
    """Another page of units."""
    query = update.callback_query
    assert query and query.data
    return await _ask_unit(update, context, int(query.data.rsplit(":", 1)[1]))


async def unit_chosen(update: Update, context: BotContext) -> int:
    """Remember the unit and ask for the name."""
    query = update.callback_query
    assert query and query.data and context.user_data is not None
    unit = await units.get_unit(context.db, int(query.data.rsplit(":", 1)[1]))
    if unit is None or unit.archived:
        await query.answer(error_plain(context.tr, ServiceError("unit_gone")), show_alert=True)
        return UNIT
    await query.answer()
    context.user_data.setdefault(DRAFT, {})["unit_id"] = unit.id
    await query.edit_message_text(context.tr._("Unit: <b>{unit}</b>", unit=unit.name))
    return await _ask_name(update, context)


async def _ask_group(update: Update, context: BotContext) -> int:
    assert update.effective_chat
    buttons = [
        [InlineKeyboardButton(context.tr.plain(label), callback_data=f"join:group:{group}")]
        for group, label in GROUPS.items()
    ]
    await context.bot.send_message(
        update.effective_chat.id,
        context.tr._("Which group do you belong to? (used only for the campaign's statistics)"),
        reply_markup=InlineKeyboardMarkup(buttons),
    )
    return GROUP


async def name_from_telegram(update: Update, context: BotContext) -> int:
    """Take the Telegram name."""
    query = update.callback_query
    assert query and update.effective_user and context.user_data is not None
    await query.answer()
    try:
        name = people.clean_name(update.effective_user.full_name[: people.MAX_NAME])
    except ServiceError as exc:  # a Telegram name of blanks: it has to be typed
        await context.say(update, error_text(context.tr, exc))
        return NAME
    context.user_data.setdefault(DRAFT, {})["name"] = name
    await query.edit_message_text(context.tr._("Name: <b>{name}</b>", name=name))
    return await _ask_group(update, context)


async def name_typed(update: Update, context: BotContext) -> int:
    """Take a typed name, or ask again."""
    assert update.effective_message and context.user_data is not None
    try:
        name = people.clean_name(update.effective_message.text or "")
    except ServiceError as exc:
        await update.effective_message.reply_text(error_text(context.tr, exc))
        return NAME
    context.user_data.setdefault(DRAFT, {})["name"] = name
    return await _ask_group(update, context)


async def group_chosen(update: Update, context: BotContext) -> int | None:
    """Register the member with everything collected."""
    query = update.callback_query
    assert query and query.data and update.effective_user and context.user_data is not None
    group = query.data.rsplit(":", 1)[1]
    draft = context.user_data.get(DRAFT) or {}
    if group not in set(MemberGroup) or not draft.get("unit_id") or not draft.get("name"):
        await query.answer(context.tr.plain("This button is no longer valid."), show_alert=True)
        # A forged group leaves the question open: its real buttons still answer it.
        return None if draft.get("unit_id") and draft.get("name") else ConversationHandler.END
    await query.answer()
    pending = context.settings.join_requires_approval and not draft.get("invite")
    try:
        member = await people.join(
            context.db,
            telegram_id=update.effective_user.id,
            username=update.effective_user.username,
            name=str(draft["name"]),
            unit_id=int(draft["unit_id"]),
            group=group,
            language=context.lang,
            pending=pending,
            now=context.state.clock.now(),
            default_lang=context.settings.default_language,
        )
    except ServiceError as exc:
        await query.edit_message_text(error_text(context.tr, exc))
        context.user_data.pop(DRAFT, None)
        return ConversationHandler.END
    context.user_data.pop(DRAFT, None)
    context.member = member
    await query.edit_message_text(
        context.tr._("Group: <b>{group}</b>", group=context.tr.plain(GROUPS[group]))
    )
    if pending:
        context.outbox_dirty = True
        await context.bot.send_message(
            update.effective_user.id,
            context.tr._(
                "Thank you! The campaign office will confirm your registration; "
                "you will get a message here."
            ),
        )
    else:
        await show_menu(
            update,
            context,
            context.tr._("You are registered, {name}. Welcome to the campaign!", name=member.name),
        )
    return ConversationHandler.END


async def cancel(update: Update, context: BotContext) -> int:
    """Stop joining; nothing is saved."""
    assert update.effective_message
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)
    await update.effective_message.reply_text(
        context.tr._("Registration cancelled. Send /start to begin again.")
    )
    return ConversationHandler.END


async def stray_input(update: Update, context: BotContext) -> None:
    """Anything else during joining: say what is expected."""
    assert update.effective_message
    await update.effective_message.reply_text(
        context.tr._("Please use the buttons above, or send /cancel to stop.")
    )


async def decide_join(update: Update, context: BotContext) -> None:
    """An admin approves or declines a join request."""
    query = update.callback_query
    assert query and query.data
    access = await people.access_of(context.db, context.member)
    if not access.is_admin or access.member_id is None:
        await query.answer(error_plain(context.tr, ServiceError("forbidden")), show_alert=True)
        return
    _, member_id, verdict = query.data.split(":")
    try:
        member = await people.decide_join(
            context.db,
            access.member_id,
            int(member_id),
            verdict == "y",
            context.state.clock.now(),
            context.settings.default_language,
        )
    except (ServiceError, ValueError) as exc:
        error = exc if isinstance(exc, ServiceError) else ServiceError("not_found")
        await query.answer(error_plain(context.tr, error), show_alert=True)
        return
    context.outbox_dirty = True
    await query.answer()
    text = (
        context.tr._("{name}: approved.", name=member.name)
        if verdict == "y"
        else context.tr._("{name}: declined.", name=member.name)
    )
    await query.edit_message_text(text)


def register(app: Application) -> None:
    """Joining is one conversation in private chats; approvals are plain buttons."""
    private = filters.ChatType.PRIVATE
    joining = conversation(
        name="join",
        persistent=True,
        entry_points=[CommandHandler("start", start, filters=private)],
        states={
            CLAIM: [CallbackQueryHandler(claim_answer, pattern=r"^join:claim:")],
            UNIT: [
                CallbackQueryHandler(unit_chosen, pattern=r"^join:unit:\d{1,9}$"),
                CallbackQueryHandler(unit_page, pattern=r"^join:page:\d{1,9}$"),
            ],
            NAME: [
                CallbackQueryHandler(name_from_telegram, pattern=r"^join:name$"),
                MessageHandler(private & filters.TEXT & ~filters.COMMAND, name_typed),
            ],
            GROUP: [CallbackQueryHandler(group_chosen, pattern=r"^join:group:\w+$")],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CommandHandler("start", start, filters=private),
            MessageHandler(private & ~filters.COMMAND, stray_input),
        ],
        allow_reentry=True,
    )
    app.add_handler(joining)
    app.add_handler(CallbackQueryHandler(decide_join, pattern=r"^jr:\d{1,9}:[yn]$"))
