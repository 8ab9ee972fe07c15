"""Commands every user has: /start, /help, /lang, /cancel; member loading; errors."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.context import BotContext
from bot.conversation import waiting_in
from bot.i18n import LANGUAGES, normalise_language, translator
from bot.menu import button_filter, main_menu
from bot.services import members, people, updates
from handlers.submission import DRAFT, DRAFT_CONVERSATION
from storage.models import ItemKind, MemberStatus

logger = logging.getLogger(__name__)

LANG_NAMES = {"zh": "中文", "en": "English"}


async def skip_redelivered(update: Update, context: BotContext) -> None:
    """Runs first: an update Telegram delivers again after it was handled is ignored. The
    sender's member row (for `load_member`) and the active campaign come with the answer."""
    user = update.effective_user
    # Memory first: an id leaves it only once written, so it is in one place or the other.
    remembered = context.bot_data.persistence.remembers(update.update_id)
    try:
        async with context.db.read() as session:
            look = await updates.first_look(session, update.update_id, user.id if user else None)
        context.member, context.campaign = look.member, look.campaign
        context.member_looked_up = True
        again = remembered or look.handled
    except Exception:
        logger.error("Could not look up update %s", update.update_id, exc_info=True)
        _fallback_language(update, context)
        await apologise(update, context)
        raise ApplicationHandlerStop from None
    if again:
        logger.info("Update %s was handled before: ignored", update.update_id)
        raise ApplicationHandlerStop


def _fallback_language(update: Update, context: BotContext) -> None:
    user = update.effective_user
    code = user.language_code if user else None
    context.lang = normalise_language(code) or context.settings.default_language


async def load_member(update: Update, context: BotContext) -> None:
    """Find who is writing and in which language to answer (runs before every handler).

    If that fails (the database is down), nothing else can work: apologise and stop here.
    """
    try:
        await _load_member(update, context)
    except Exception:
        logger.error("Could not load the member for an update", exc_info=True)
        _fallback_language(update, context)
        await apologise(update, context)
        raise ApplicationHandlerStop from None
    query = update.callback_query
    if query is not None and not query.data:
        # PTB gives a press without data to the first CallbackQueryHandler, whatever its pattern.
        await unknown_button(update, context)
        raise ApplicationHandlerStop


async def _load_member(update: Update, context: BotContext) -> None:
    user = update.effective_user
    context.lang = context.settings.default_language
    if user is None:
        return
    if not context.member_looked_up:
        context.member = await members.by_telegram_id(context.db, user.id)
    if user.id in context.settings.admin_ids and (
        context.member is None
        or not context.member.is_admin
        or context.member.status != MemberStatus.ACTIVE
    ):
        context.member = await people.ensure_admin(
            context.db,
            user.id,
            user.full_name,
            normalise_language(user.language_code),
            context.state.clock.now(),
        )
    chosen = context.member.language if context.member else None
    if chosen is None and context.user_data is not None:
        chosen = context.user_data.get("lang")
    context.lang = chosen or normalise_language(user.language_code) or context.lang


async def start_in_group(update: Update, context: BotContext) -> None:
    """/start in a group: joining happens in a private chat."""
    assert update.effective_message
    name = update.effective_user.first_name if update.effective_user else ""
    await update.effective_message.reply_text(
        context.tr._(
            "Hello, {name}! This is the campaign's savings bot. "
            "Open a private chat with me to join, submit savings ideas and report waste.",
            name=name,
        )
    )


async def help_command(update: Update, context: BotContext) -> None:
    """Explain what the bot does and list the commands."""
    assert update.effective_message
    tr = context.tr
    lines = [
        tr._("<b>Savings campaign bot</b>"),
        tr._("Every idea and every waste report gets a registration number, a review and a reply."),
        "",
        tr._("/start: start or show the main menu"),
        tr._("/lang: change the language"),
        tr._("/cancel: cancel what you are doing"),
        tr._("/help: this help"),
    ]
    await update.effective_message.reply_text("\n".join(lines))


async def lang_command(update: Update, context: BotContext) -> None:
    """Offer the languages as buttons."""
    assert update.effective_message
    buttons = [
        InlineKeyboardButton(LANG_NAMES[lang], callback_data=f"lang:{lang}") for lang in LANGUAGES
    ]
    await update.effective_message.reply_text(
        context.tr._("Choose your language:"), reply_markup=InlineKeyboardMarkup([buttons])
    )


async def lang_chosen(update: Update, context: BotContext) -> None:
    """Save the chosen language and confirm in it."""
    query = update.callback_query
    assert query and query.data
    lang = query.data.split(":", 1)[1]
    if lang not in LANGUAGES:
        await query.answer(context.tr.plain("This button is no longer valid."))
        return
    if not await context.press_fits(update, r"lang:"):  # it replaces the message pressed on
        return
    if context.member is not None:
        await members.set_language(context.db, context.member.id, lang)
    if context.user_data is not None:
        context.user_data["lang"] = lang
    context.lang = lang
    await query.answer()
    await query.edit_message_text(translator(lang)._("Language set to English."))


async def cancel(update: Update, context: BotContext) -> None:
    """/cancel outside any conversation."""
    assert update.effective_message
    await update.effective_message.reply_text(context.tr._("There is nothing to cancel."))


async def on_error(update: object, context: BotContext) -> None:
    """Log every unhandled error and apologise to the user in their language."""
    if _not_modified(context.error):
        # A second press showing the same thing (handlers answer the press before editing).
        logger.debug("Edit left the message as it was: %s", context.error)
        return
    logger.error("Unhandled error while processing an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    context.bot_data.failed_updates.add(update.update_id)
    try:
        await _load_member(update, context)
    except Exception:  # the database may be the cause: fall back to Telegram's language
        _fallback_language(update, context)
    await apologise(update, context)


def _not_modified(error: object) -> bool:
    return isinstance(error, BadRequest) and "message is not modified" in str(error).lower()


async def apologise(update: Update, context: BotContext) -> None:
    """Tell the user that their request failed and that trying again is safe."""
    text = context.tr.plain("Sorry, something went wrong. Please try again.")
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.effective_chat is not None:
            await context.bot.send_message(
                update.effective_chat.id,
                context.tr._("Sorry, something went wrong. Please try again."),
            )
    except Exception:  # the apology itself failed: nothing more to do than log
        logger.warning("Could not send the apology", exc_info=True)


async def unknown_message(update: Update, context: BotContext) -> None:
    """A message outside any conversation (text, an unknown command, a photo, a sticker ...):
    point to the menu."""
    assert update.effective_message
    member = context.member
    if member is None or member.status != MemberStatus.ACTIVE:
        await update.effective_message.reply_text(context.tr._("Send /start to begin."))
        return
    access = await people.access_of(context.db, member)
    text = context.tr._("Please choose from the menu below, or send /help.")
    draft = context.user_data.get(DRAFT) if context.user_data else None
    set_aside = waiting_in(context.application, update) != DRAFT_CONVERSATION
    if isinstance(draft, dict) and set_aside:  # say how to go on with it
        command = "/idea" if draft.get("kind") == ItemKind.IDEA else "/waste"
        text = context.tr._(
            "You have an unfinished draft: send {command} to go on with it, or choose from the "
            "menu below.",
            command=command,
        )
    await update.effective_message.reply_text(text, reply_markup=main_menu(access, context.lang))


async def unknown_button(update: Update, context: BotContext) -> None:
    """A button nothing handles any more (an old message, forged data): answer, change nothing."""
    assert update.callback_query
    await update.callback_query.answer(
        context.tr.plain("This button is no longer valid."), show_alert=True
    )


async def edited(update: Update, context: BotContext) -> None:
    """An edit of a message already sent answers nothing (it would be taken for the answer to
    the question asked since): said in a private chat, ignored in a group."""
    context.bot_data.persistence.handled(update.update_id)  # later groups do not run
    message = update.edited_message
    if message is not None and message.chat.type == ChatType.PRIVATE:
        await message.reply_text(
            context.tr._(
                "✏️ Edited messages are not read: what you sent first stands. A draft can "
                "still be changed from its summary before you submit it."
            )
        )
    raise ApplicationHandlerStop


def register_first(app: Application) -> None:
    """Group -3 drops redelivered updates; group -2 finds who it is and which language;
    group -1 stops edits of sent messages. Errors end in `on_error`."""
    app.add_handler(TypeHandler(Update, skip_redelivered), group=-3)
    app.add_handler(TypeHandler(Update, load_member), group=-2)
    app.add_handler(MessageHandler(filters.UpdateType.EDITED, edited), group=-1)
    app.add_error_handler(on_error)


def register_last(app: Application) -> None:
    """Commands that work everywhere; added after the features so conversations come first."""
    app.add_handler(CommandHandler("start", start_in_group, filters=~filters.ChatType.PRIVATE))
    app.add_handler(CommandHandler("help", help_command))
    app.add_handler(MessageHandler(button_filter("help"), help_command))
    app.add_handler(CommandHandler("lang", lang_command))
    app.add_handler(MessageHandler(button_filter("language"), lang_command))
    app.add_handler(CallbackQueryHandler(lang_chosen, pattern=r"^lang:"))
    app.add_handler(CommandHandler("cancel", cancel))
    # Any private message nothing else took: text, an unknown /command, a sticker, a location ...
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL,
            unknown_message,
        )
    )
    # Last of all: every press gets an answer, so no button keeps spinning.
    app.add_handler(CallbackQueryHandler(unknown_button))
