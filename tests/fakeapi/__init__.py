"""An offline, strict fake of the Telegram Bot API for testing the bot end to end.

* :mod:`.spec` -- the published Bot API reference as data, and a validator of calls;
* :mod:`.html` -- a validator/parser for ``parse_mode="HTML"``;
* :mod:`.core` -- :class:`FakeTelegram`, the transport-independent fake server;
* :mod:`.request` -- :class:`FakeRequest`, plugging the fake into python-telegram-bot;
* :mod:`.users` -- :class:`Harness`, simulated people and chats driving a real Application.
"""

from .core import Call, FakeTelegram, StoredMessage
from .html import HtmlParseError, parse_html
from .request import FakeRequest
from .spec import ApiSpec, UploadedFile, Violation
from .users import FakeGroup, FakeUser, Harness, Replies, SentMessage

__all__ = [
    "ApiSpec",
    "Call",
    "FakeGroup",
    "FakeRequest",
    "FakeTelegram",
    "FakeUser",
    "Harness",
    "HtmlParseError",
    "Replies",
    "SentMessage",
    "StoredMessage",
    "UploadedFile",
    "Violation",
    "parse_html",
]
