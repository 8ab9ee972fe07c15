"""Building ConversationHandlers the way every feature here uses them."""

from __future__ import annotations

import warnings
from typing import Any

from telegram import Update
from telegram.ext import Application, ConversationHandler

# user_data key: per chat (its id as text, for the JSON store), the name of the conversation
# the user last dealt with there.
ANSWERING = "answering"


class OwnedConversation(ConversationHandler[Any]):
    """A conversation that takes a user's messages only while it is the one the user last
    dealt with in that chat.

    Several conversations can wait at once (a draft half written, then a reason asked for a
    decision, then an admin question): a message answers the question asked last, never one
    set aside earlier, which would otherwise take it only for being registered first. Buttons
    and commands that start a conversation work as always; a conversation that handles an
    update and then waits for more becomes the one answered (one that ends at once, such as
    /start for a member, leaves the question before it open)."""

    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], **kwargs: Any):
        with warnings.catch_warnings():
            # Our conversations mix text and button steps, so per_message stays False; PTB
            # warns about that combination, and it does not apply: every button a step accepts
            # is on the message that step sent.
            warnings.filterwarnings("ignore", message="If 'per_message=False'")
            super().__init__(**kwargs)
        self._application = application

    def check_update(self, update: object) -> Any:
        found = super().check_update(update)
        if found is None or not isinstance(update, Update) or update.message is None:
            return found
        _state, _key, handler, _check = found
        if handler in self.entry_points:
            return found  # starting (again) is always possible
        answering = answering_in(self._application, update)
        return found if answering in (None, self.name) else None

    async def handle_update(
        self, update: Update, application: Any, check_result: Any, context: Any
    ) -> object | None:
        result = await super().handle_update(update, application, check_result, context)
        chat = update.effective_chat
        data = context.user_data
        waiting = self._conversations.get(check_result[1]) is not None  # not ended
        if waiting and chat is not None and isinstance(data, dict) and self.name:
            marks = data.get(ANSWERING)
            if not isinstance(marks, dict):
                marks = {}
            if marks.get(str(chat.id)) != self.name:
                data[ANSWERING] = {**marks, str(chat.id): self.name}
        return result


def answering_in(application: Application[Any, Any, Any, Any, Any, Any], update: Update) -> Any:
    """The conversation the update's user last dealt with in its chat, if known."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    data = application.user_data.get(user.id)
    marks = data.get(ANSWERING) if isinstance(data, dict) else None
    return marks.get(str(chat.id)) if isinstance(marks, dict) else None


def conversation(
    application: Application[Any, Any, Any, Any, Any, Any], **kwargs: Any
) -> OwnedConversation:
    """A ConversationHandler per user and chat that answers only the question asked last."""
    return OwnedConversation(application, **kwargs)
