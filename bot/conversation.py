"""Building ConversationHandlers the way every feature here uses them."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseHandler, ConversationHandler


class OwnedConversation(ConversationHandler[Any]):
    """A conversation per user and chat; one question at a time across all of them.

    When a conversation asks something (its callback returns a state to wait in), every other
    conversation waiting in that chat for that user is set aside (ended), so a typed message
    always answers the question asked last: a reason asked for a decision is not taken by a
    draft's title step registered first, and a dismissal set aside does not take an admin
    search typed later. What a conversation keeps in user_data stays: /idea offers a draft set
    aside again. A press that asks nothing (opening a card, a stale button) changes nothing.
    """

    def __init__(self, **kwargs: Any) -> None:
        with warnings.catch_warnings():
            # Our conversations mix text and button steps, so per_message stays False; PTB
            # warns about that combination, and it does not apply: every button a step accepts
            # is on the message that step sent.
            warnings.filterwarnings("ignore", message="If 'per_message=False'")
            super().__init__(**kwargs)
        self._returned: object = None  # what the callback of the update being handled returned

    def _update_state(
        self, new_state: object, key: Any, handler: BaseHandler[Any, Any, Any] | None = None
    ) -> None:
        # PTB's own step after each callback (with the handler that ran), and when a
        # conversation ends for other reasons (without one).
        super()._update_state(new_state, key, handler)
        if handler is not None:
            self._returned = new_state

    async def handle_update(
        self, update: Update, application: Any, check_result: Any, context: Any
    ) -> object | None:
        self._returned = None
        result = await super().handle_update(update, application, check_result, context)
        if self._returned is not None and self._returned != self.END:  # it asked something
            key = check_result[1]
            for other in conversations(application):
                if other is not self and other.waits(key):
                    other._update_state(other.END, key)  # set aside (persisted as ended)
        return result

    def waits(self, key: Any) -> bool:
        return self._conversations.get(key) is not None


def conversations(application: Application[Any, Any, Any, Any, Any, Any]) -> Iterator[Any]:
    """The application's conversations built by `conversation`."""
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, OwnedConversation):
                yield handler


def waiting_in(application: Application[Any, Any, Any, Any, Any, Any], update: Update) -> Any:
    """The name of the conversation waiting for the update's user in its chat, if any."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return None
    key = (chat.id, user.id)
    return next((c.name for c in conversations(application) if c.waits(key)), None)


def conversation(**kwargs: Any) -> OwnedConversation:
    """A ConversationHandler per user and chat that sets the others aside when it asks."""
    return OwnedConversation(**kwargs)
