"""Building ConversationHandlers the way every feature here uses them."""

from __future__ import annotations

import warnings
from typing import Any

from telegram.ext import ConversationHandler


def conversation(**kwargs: Any) -> ConversationHandler[Any]:
    """A ConversationHandler per user and chat.

    Our conversations mix text and button steps, so per_message stays False; PTB warns about
    that combination at construction, and the warning does not apply: every button a step
    accepts is on the message that step sent.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="If 'per_message=False'")
        return ConversationHandler(**kwargs)
