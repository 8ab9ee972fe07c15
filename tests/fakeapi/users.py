"""Simulated people and chats driving a real ``telegram.ext.Application``.

Each action of a :class:`FakeUser` builds the Update Telegram would send, stores the user's
message in the :class:`~.core.FakeTelegram` (so the bot can reply to it, copy it, ...), runs it
through ``app.process_update`` and returns the bot's new messages in that chat as
:class:`SentMessage` objects::

    harness = Harness(app, telegram)
    alice = harness.user(first_name="Alice")
    replies = await alice.command("start")
    await alice.press(replies[0], "Submit an idea")
    assert "idea" in alice.last.text

Pressing a button fails (AssertionError) unless the message has that inline button right now,
and a callback query the bot never answers is recorded as a violation (Telegram clients would
show a spinner until it times out); pass ``require_callback_answers=False`` to allow it.

The harness adds an error handler to the app that collects handler exceptions in
:attr:`Harness.errors` (``raise_errors=True`` re-raises them from the action instead).
"""

from __future__ import annotations

import copy
import itertools
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackContext

from .core import CallbackAnswer, ChatState, FakeTelegram, StoredMessage
from .html import utf16_len

__all__ = ["FakeGroup", "FakeUser", "Harness", "Replies", "SentMessage"]

JSON = dict[str, Any]
_LOGGER = logging.getLogger(__name__)
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?")


@dataclass(frozen=True)
class SentMessage:
    """A bot message as the user sees it (a snapshot; ``user.inbox`` has the current state)."""

    chat_id: int
    message_id: int
    text: str  # plain text or caption, after entity parsing
    html: str  # text or caption exactly as the bot sent it
    buttons: list[list[tuple[str, str | None]]]  # inline: (text, callback_data or url)
    reply_keyboard: list[list[str]]  # custom reply keyboard sent with it
    photo: bool
    document: bool
    voice: bool
    data: JSON  # the full Message object
    remove_keyboard: bool = False
    force_reply: bool = False

    @classmethod
    def from_stored(cls, message: StoredMessage) -> SentMessage:
        buttons = [
            [(b["text"], b.get("callback_data", b.get("url"))) for b in row]
            for row in message.inline_keyboard
        ]
        markup = message.reply_keyboard or {}
        keyboard = [
            [b if isinstance(b, str) else str(b["text"]) for b in row]
            for row in markup.get("keyboard", [])
        ]
        return cls(
            chat_id=message.chat_id,
            message_id=message.message_id,
            text=message.text,
            html=message.source if message.source is not None else message.text,
            buttons=buttons,
            reply_keyboard=keyboard,
            photo="photo" in message.data,
            document="document" in message.data,
            voice="voice" in message.data,
            data=copy.deepcopy(message.data),
            remove_keyboard=bool(markup.get("remove_keyboard")),
            force_reply=bool(markup.get("force_reply")),
        )

    @property
    def button_texts(self) -> list[str]:
        return [text for row in self.buttons for text, _ in row]

    @property
    def callback_data(self) -> list[str]:
        return [data for row in self.buttons for _, data in row if data is not None]


class Replies(list[SentMessage]):
    """The bot's new messages in a chat after one action; also what it edited and deleted."""

    def __init__(
        self,
        sent: Iterable[SentMessage] = (),
        *,
        edited: Iterable[SentMessage] = (),
        deleted: Iterable[int] = (),
    ) -> None:
        super().__init__(sent)
        self.edited: list[SentMessage] = list(edited)
        self.deleted: list[int] = list(deleted)

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self]


MessageRef = SentMessage | StoredMessage | int


class _Chatter:
    """Shared helpers of people and groups."""

    harness: Harness

    @property
    def telegram(self) -> FakeTelegram:
        return self.harness.telegram


class FakeUser(_Chatter):
    """A person with a private chat with the bot."""

    def __init__(self, harness: Harness, data: Mapping[str, Any]) -> None:
        self.harness = harness
        self.data: JSON = dict(data)
        self.answers: list[CallbackAnswer] = []

    def __repr__(self) -> str:
        return f"FakeUser(id={self.id}, first_name={self.first_name!r})"

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def chat_id(self) -> int:
        return self.id

    @property
    def first_name(self) -> str:
        return str(self.data["first_name"])

    @property
    def username(self) -> str | None:
        return self.data.get("username")

    @property
    def language_code(self) -> str | None:
        return self.data.get("language_code")

    def to_dict(self) -> JSON:
        return dict(self.data)

    # -- what the user sees ------------------------------------------------------------------

    @property
    def inbox(self) -> list[SentMessage]:
        """All bot messages in the private chat, as they are now (edits applied, no deleted)."""
        return [SentMessage.from_stored(m) for m in self.telegram.bot_messages(self.id)]

    @property
    def last(self) -> SentMessage:
        """The latest bot message in the private chat (as it is now)."""
        inbox = self.inbox
        assert inbox, f"{self!r} has received no message from the bot"
        return inbox[-1]

    @property
    def keyboard(self) -> list[list[str]]:
        """The custom reply keyboard currently shown in the private chat."""
        chat = self.telegram.chat(self.id)
        markup = (chat.reply_keyboard if chat else None) or {}
        return [
            [b if isinstance(b, str) else str(b["text"]) for b in row]
            for row in markup.get("keyboard", [])
        ]

    @property
    def blocked_bot(self) -> bool:
        chat = self.telegram.chat(self.id)
        return bool(chat and chat.blocked)

    # -- private chat actions ----------------------------------------------------------------

    async def send(self, text: str, *, reply_to: MessageRef | None = None) -> Replies:
        """Send a text message (a leading /command gets its bot_command entity)."""
        return await self._post(self.id, _text_content(text), reply_to)

    async def command(self, cmd: str, args: str = "") -> Replies:
        """Send ``/cmd args``; ``command("start", "payload")`` is a deep link."""
        return await self._post(self.id, _command_content(cmd, args, None), None)

    async def start(self, payload: str = "") -> Replies:
        return await self.command("start", payload)

    async def send_photo(
        self, caption: str | None = None, *, content: bytes | None = None
    ) -> Replies:
        media: JSON = {"photo": self.telegram.new_media("photo", content=content)}
        if caption is not None:
            media["caption"] = caption
        return await self._post(self.id, media, None)

    async def send_document(
        self,
        file_name: str = "a.pdf",
        mime_type: str | None = None,
        caption: str | None = None,
        *,
        content: bytes | None = None,
    ) -> Replies:
        document = self.telegram.new_media(
            "document", content=content, file_name=file_name, mime_type=mime_type
        )
        media: JSON = {"document": document}
        if caption is not None:
            media["caption"] = caption
        return await self._post(self.id, media, None)

    async def send_voice(self, duration: int = 3, *, content: bytes | None = None) -> Replies:
        voice = self.telegram.new_media("voice", content=content, duration=duration)
        return await self._post(self.id, {"voice": voice}, None)

    async def send_sticker(self, emoji: str = "👍") -> Replies:
        sticker = self.telegram.new_media("sticker", emoji=emoji)
        return await self._post(self.id, {"sticker": sticker}, None)

    async def send_location(self, lat: float, lon: float) -> Replies:
        return await self._post(self.id, {"location": {"latitude": lat, "longitude": lon}}, None)

    async def send_contact(
        self,
        phone: str,
        first_name: str,
        *,
        last_name: str | None = None,
        user_id: int | None = None,
    ) -> Replies:
        contact: JSON = {"phone_number": phone, "first_name": first_name}
        if last_name is not None:
            contact["last_name"] = last_name
        if user_id is not None:
            contact["user_id"] = user_id
        return await self._post(self.id, {"contact": contact}, None)

    async def share_contact(self, phone: str) -> Replies:
        """Share one's own phone number (a request_contact keyboard button)."""
        return await self.send_contact(
            phone, self.first_name, last_name=self.data.get("last_name"), user_id=self.id
        )

    async def press(
        self, message_or_id: MessageRef, button: str, *, chat: FakeGroup | None = None
    ) -> Replies:
        """Press the inline button whose text or callback_data is ``button``, as it is now."""
        chat_id, message_id = self._locate(message_or_id, chat)
        stored = self.telegram.message(chat_id, message_id)
        assert stored is not None, f"message {message_id} in chat {chat_id} does not exist (now)"
        buttons = [b for row in stored.inline_keyboard for b in row]
        matches = [b for b in buttons if b.get("text") == button] or [
            b for b in buttons if b.get("callback_data") == button
        ]
        if not matches:
            labels = [(b.get("text"), b.get("callback_data")) for b in buttons]
            raise AssertionError(
                f"message {message_id} in chat {chat_id} has no inline button {button!r} now; "
                f"its buttons: {labels}"
            )
        target = matches[0]
        if "callback_data" not in target:
            raise AssertionError(f"button {button!r} is not a callback button: {target}")
        return await self._callback(stored, str(target["callback_data"]))

    async def press_raw(
        self, message_id: MessageRef, data: str, *, chat: FakeGroup | None = None
    ) -> Replies:
        """Send a callback query with arbitrary (forged) data for an existing message."""
        chat_id, mid = self._locate(message_id, chat)
        stored = self.telegram.message(chat_id, mid)
        assert stored is not None, f"message {mid} in chat {chat_id} does not exist (now)"
        return await self._callback(stored, data)

    async def block(self) -> Replies:
        """Block the bot: the bot gets a my_chat_member update and 403s afterwards."""
        chat = self.telegram.chat(self.id)
        assert chat is not None
        update = self.harness.member_update(chat, self, old="member", new="kicked")
        self.telegram.blocked(self.id)
        return await self.harness.deliver(self.id, update)

    async def unblock(self) -> Replies:
        """Unblock the bot (the bot gets a my_chat_member update)."""
        chat = self.telegram.chat(self.id)
        assert chat is not None
        self.telegram.unblock(self.id)
        update = self.harness.member_update(chat, self, old="kicked", new="member")
        return await self.harness.deliver(self.id, update)

    # -- group actions -----------------------------------------------------------------------

    async def send_in(
        self, group: FakeGroup, text: str, *, reply_to: MessageRef | None = None
    ) -> Replies:
        return await self._post(group.id, _text_content(text), reply_to)

    async def command_in(
        self, group: FakeGroup, cmd: str, args: str = "", *, mention: bool = False
    ) -> Replies:
        """``/cmd args`` in a group (``/cmd@bot`` with ``mention=True``)."""
        botname = self.telegram.bot_user["username"] if mention else None
        return await self._post(group.id, _command_content(cmd, args, botname), None)

    # -- plumbing ----------------------------------------------------------------------------

    def _locate(self, ref: MessageRef, chat: FakeGroup | None) -> tuple[int, int]:
        if isinstance(ref, SentMessage | StoredMessage):
            return ref.chat_id, ref.message_id
        return (chat.id if chat is not None else self.id), ref

    async def _post(self, chat_id: int, content: JSON, reply_to: MessageRef | None) -> Replies:
        reply_id: int | None = None
        if reply_to is not None:
            reply_chat, reply_id = self._locate(reply_to, None)
            assert self.telegram.chat(reply_chat) is self.telegram.chat(chat_id), (
                "can only reply to a message in the same chat"
            )
        message = self.telegram.add_user_message(
            chat_id, self.data, content, reply_to_message_id=reply_id
        )
        return await self.harness.deliver(message["chat"]["id"], {"message": message})

    async def _callback(self, stored: StoredMessage, data: str) -> Replies:
        query_id = self.harness.new_query_id()
        chat_id = stored.chat_id
        self.telegram.register_callback_query(query_id, self.id, chat_id, stored.message_id, data)
        update = {
            "callback_query": {
                "id": query_id,
                "from": self.to_dict(),
                "message": copy.deepcopy(stored.data),
                "chat_instance": str(abs(chat_id * 7919 + self.id) % 10**18),
                "data": data,
            }
        }
        replies = await self.harness.deliver(chat_id, update)
        answer = self.telegram.callback_answer(query_id)
        if answer is not None:
            self.answers.append(answer)
        elif self.harness.require_callback_answers:
            self.telegram.violations.append(
                f"answerCallbackQuery: callback query {query_id} (data {data!r}, message "
                f"{stored.message_id}) was never answered; the user's client shows a spinner"
            )
        return replies


class FakeGroup(_Chatter):
    """A group or supergroup the bot is in."""

    def __init__(self, harness: Harness, chat: ChatState) -> None:
        self.harness = harness
        self.chat = chat

    def __repr__(self) -> str:
        return f"FakeGroup(id={self.id}, title={self.title!r})"

    @property
    def id(self) -> int:
        """The chat id (the supergroup's after a migration)."""
        return self.chat.id

    @property
    def title(self) -> str:
        return str(self.chat.title)

    @property
    def type(self) -> str:
        return self.chat.type

    def to_dict(self) -> JSON:
        return self.chat.to_dict()

    @property
    def messages(self) -> list[SentMessage]:
        """All bot messages in the group, as they are now."""
        return [SentMessage.from_stored(m) for m in self.telegram.bot_messages(self.id)]

    @property
    def last(self) -> SentMessage:
        messages = self.messages
        assert messages, f"the bot has sent nothing to {self!r}"
        return messages[-1]

    def migrate(self, new_id: int | None = None) -> int:
        """Upgrade to a supergroup: the old id answers with a migrate error from now on."""
        return self.telegram.migrate_chat(self.id, new_id)


class Harness:
    """Simulated people and groups in front of a real Application over a FakeTelegram."""

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        telegram: FakeTelegram,
        *,
        require_callback_answers: bool = True,
        raise_errors: bool = False,
    ) -> None:
        self.app = app
        self.telegram = telegram
        self.require_callback_answers = require_callback_answers
        self.raise_errors = raise_errors
        self.users: dict[int, FakeUser] = {}
        self.groups: dict[int, FakeGroup] = {}
        # Exceptions raised by the app's handlers (recorded by an added error handler).
        self.errors: list[BaseException] = []
        self._ids = itertools.count(1)
        self._admin: FakeUser | None = None
        app.add_error_handler(self._record_error)

    async def _record_error(
        self, update: object, context: CallbackContext[Any, Any, Any, Any]
    ) -> None:
        if context.error is None:
            return
        self.errors.append(context.error)
        if len(self.app.error_handlers) == 1:  # PTB stops logging once a handler exists
            _LOGGER.error("A handler raised while processing %r", update, exc_info=context.error)

    def new_query_id(self) -> str:
        return f"{next(self._ids):019d}"

    def user(
        self,
        user_id: int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        *,
        started: bool = True,
    ) -> FakeUser:
        """A new person (``started=False``: never talked to the bot, so it can't write first)."""
        n = next(self._ids)
        uid = user_id if user_id is not None else 1_000_000 + n
        data: JSON = {"id": uid, "is_bot": False, "first_name": first_name or f"User{n}"}
        for key, value in (
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
        ):
            if value is not None:
                data[key] = value
        self.telegram.register_user(data, started=started)
        user = FakeUser(self, data)
        self.users[uid] = user
        return user

    def group(
        self,
        title: str = "Test group",
        chat_id: int | None = None,
        supergroup: bool = False,
        *,
        username: str | None = None,
        bot_status: str = "administrator",
    ) -> FakeGroup:
        """A group (or supergroup) with the bot in it as ``bot_status``."""
        n = next(self._ids)
        if chat_id is None:
            chat_id = -(1_000_000_000_000 + n) if supergroup else -(400_000 + n)
        chat = self.telegram.register_chat(
            chat_id,
            "supergroup" if supergroup else "group",
            title=title,
            username=username,
            bot_status=bot_status,
        )
        group = FakeGroup(self, chat)
        self.groups[chat_id] = group
        return group

    async def process(self, update: Mapping[str, Any], *, validate: bool = True) -> None:
        """Run a raw update (an ``update_id`` is assigned if missing) through the app."""
        data = dict(update)
        if "update_id" not in data:
            data["update_id"] = self.telegram.next_update_id()
        if validate:
            problems = self.telegram.spec.check_value(data, ["Update"], "update")
            assert not problems, "malformed update: " + "; ".join(str(p) for p in problems)
        seen = len(self.errors)
        await self.app.process_update(Update.de_json(data, self.app.bot))
        if self.raise_errors and len(self.errors) > seen:
            raise self.errors[seen]

    async def deliver(self, chat_id: int, update: Mapping[str, Any]) -> Replies:
        """Process ``update`` and collect the bot's new/edited/deleted messages in ``chat_id``."""
        seq = self.telegram.seq
        chat = self.telegram.chat(chat_id)
        await self.process(update)
        # Follow a migration that happened meanwhile.
        target = chat.id if chat is not None else chat_id
        new, edited, deleted = self.telegram.changes_since(seq, target)
        return Replies(
            (SentMessage.from_stored(m) for m in new),
            edited=(SentMessage.from_stored(m) for m in edited),
            deleted=deleted,
        )

    def member_update(self, chat: ChatState, by: FakeUser, *, old: str, new: str) -> JSON:
        """A my_chat_member update: ``by`` changed the bot's status in ``chat``."""
        bot = self.telegram.bot_user
        return {
            "my_chat_member": {
                "chat": chat.to_dict(),
                "from": by.to_dict(),
                "date": int(self.telegram.clock()),
                "old_chat_member": self.telegram.chat_member(bot, old),
                "new_chat_member": self.telegram.chat_member(bot, new),
            }
        }

    async def my_chat_member(
        self,
        group: FakeGroup,
        status: str = "member",
        *,
        old_status: str = "left",
        by: FakeUser | None = None,
    ) -> Replies:
        """Simulate someone adding the bot to ``group`` (or changing its status there)."""
        if by is None:
            if self._admin is None:
                self._admin = self.user(first_name="Group admin")
            by = self._admin
        if by.id not in group.chat.members:
            group.chat.members[by.id] = "creator"
        self.telegram.set_bot_status(group.id, status)
        update = self.member_update(group.chat, by, old=old_status, new=status)
        return await self.deliver(group.id, update)


def _text_content(text: str) -> JSON:
    content: JSON = {"text": text}
    match = _COMMAND_RE.match(text)
    if match:
        content["entities"] = [
            {"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}
        ]
    return content


def _command_content(cmd: str, args: str, botname: str | None) -> JSON:
    head = f"/{cmd.lstrip('/')}" + (f"@{botname}" if botname else "")
    text = f"{head} {args}" if args else head
    return {
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": utf16_len(head)}],
    }
