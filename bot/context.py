"""The typed context handed to every handler: settings, database, clock, member, language."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import Application, CallbackContext, ExtBot

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Translator, translator
from bot.sender import OutboxSender
from bot.services.errors import ServiceError
from storage.db import Database

if TYPE_CHECKING:
    from bot.persistence import SqlPersistence
    from storage.models import Campaign, Member


class AppState:
    """Everything built once by the composition root (stored as `bot_data`)."""

    settings: Settings
    db: Database
    clock: Clock
    outbox: OutboxSender
    persistence: SqlPersistence
    # Updates a handler failed on (the error handler gets a context of its own): they are not
    # recorded as handled, so a redelivery is handled again.
    failed_updates: set[int]


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], AppState]):
    """Per-update context; `member` and `lang` are filled by the first handler group."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        self.member: Member | None = None
        self.member_looked_up = False  # `member` was read with the redelivery check
        # The active campaign when the update arrived: a snapshot to read (detached after the
        # update's first write or Bot API call); a change re-reads it in its own transaction.
        self.campaign: Campaign | None = None
        self.lang: str = "zh"
        # Set by a handler that wrote outbox rows: they are sent when the update is done.
        self.outbox_dirty = False

    async def say(
        self, update: Update, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> Message:
        """Send a new message to the chat the update came from."""
        assert update.effective_chat
        return await self.bot.send_message(update.effective_chat.id, text, reply_markup=markup)

    async def show(
        self, update: Update, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """Edit the message in place after a button, or reply to a command or typed input."""
        query = update.callback_query
        if query is not None and query.message is not None:
            await query.answer()
            try:
                await query.edit_message_text(text, reply_markup=markup)
            except BadRequest as exc:  # a second press of the same button: nothing to change
                if "message is not modified" not in str(exc).lower():
                    raise
        elif update.effective_message:
            await update.effective_message.reply_text(text, reply_markup=markup)

    async def press_fits(self, update: Update, pattern: str) -> bool:
        """A navigation press edits the message it came from: it must be a message of that
        kind (one with a button whose data matches `pattern`) in a private chat. Else (data
        forged onto a group message, or onto another message such as a draft's summary card)
        the press is answered "no longer valid" and False returned."""
        query = update.callback_query
        assert query is not None
        chat, message = update.effective_chat, query.message
        fits = chat is not None and chat.type == ChatType.PRIVATE
        if fits and isinstance(message, Message):  # else too old to be shown to the bot
            markup = message.reply_markup
            rows = markup.inline_keyboard if markup is not None else ()
            fits = any(re.match(pattern, str(b.callback_data)) for row in rows for b in row)
        if not fits:
            await query.answer(self.tr.plain("This button is no longer valid."), show_alert=True)
        return fits

    async def refuse(self, update: Update, error: ServiceError) -> None:
        """Answer a press with an alert, or a message with a reply: the refusal in words."""
        from bot.texts import error_plain, error_text

        if update.callback_query is not None:
            await update.callback_query.answer(error_plain(self.tr, error), show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(error_text(self.tr, error))

    @property
    def state(self) -> AppState:
        return self.bot_data

    @property
    def db(self) -> Database:
        return self.bot_data.db

    @property
    def settings(self) -> Settings:
        return self.bot_data.settings

    def today(self) -> date:
        """Today in the plant's time zone (the campaign's days and years are local)."""
        return self.state.clock.now().astimezone(self.settings.tzinfo).date()

    @property
    def tr(self) -> Translator:
        return translator(self.lang)
