"""A transport-independent fake of the Telegram Bot API.

:class:`FakeTelegram` keeps chats, messages, files, callback queries, commands and the update
queue, and answers Bot API calls with Telegram-shaped JSON through :meth:`FakeTelegram.handle`.
It is strict: every call is validated against the published spec (:mod:`.spec`) and HTML markup
(:mod:`.html`). A call that breaks the rules is answered with the error Telegram would give
*and* recorded in :attr:`FakeTelegram.violations`, so a test fixture can assert that the bot never
broke a rule, even where the bot swallowed the error.

Errors that depend on state (message to edit not found, message is not modified, query too old,
chat not found, bot blocked, ...) are answered like Telegram does but are *not* violations:
a correct bot must cope with them.

:meth:`FakeTelegram.inject` schedules faults (flood control, forbidden, chat migration, network
errors, connect timeouts, timeouts after the request was accepted). The transport-level faults
are returned as a marker (see :func:`transport_fault`) for the transport (:mod:`.request`, or an
HTTP server) to turn into a dropped connection or a timeout.
"""

from __future__ import annotations

import copy
import json
import mimetypes
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .html import ParsedText, parse_html, strip_text
from .spec import PTB_DEFAULT_PARAMS, ApiSpec, UploadedFile

__all__ = [
    "TRANSPORT_FAULT_KEY",
    "ApiError",
    "Call",
    "CallbackAnswer",
    "CallbackQueryState",
    "ChatState",
    "FakeTelegram",
    "Fault",
    "FaultKind",
    "FileRecord",
    "StoredMessage",
    "transport_fault",
]

JSON = dict[str, Any]
FaultKind = Literal[
    "retry_after", "forbidden", "migrated", "network", "connect_timeout", "timeout_after_accept"
]
FAULT_KINDS: frozenset[str] = frozenset(
    {"retry_after", "forbidden", "migrated", "network", "connect_timeout", "timeout_after_accept"}
)
TRANSPORT_FAULT_KEY = "fake_transport_fault"

MESSAGE_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
CHAT_NOT_FOUND = "Bad Request: chat not found"
BLOCKED = "Forbidden: bot was blocked by the user"
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
DELETE_WINDOW = 48 * 3600  # bots can delete messages for 48 hours

# Message fields that hold media and can carry a caption.
CAPTIONED_MEDIA = ("photo", "document", "voice", "audio", "video", "animation")
# Content fields copied by copyMessage / forwardMessage.
CONTENT_FIELDS = (
    "text",
    "entities",
    "caption",
    "caption_entities",
    "show_caption_above_media",
    "photo",
    "document",
    "voice",
    "audio",
    "video",
    "animation",
    "sticker",
    "location",
    "contact",
)


_SCALARS = (str, int, float, bool, type(None))


def _copy(value: Any) -> Any:
    """A deep copy of JSON-like data (a fast path for dicts, lists and scalars)."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if isinstance(value, _SCALARS):
        return value
    return copy.deepcopy(value)


def transport_fault(body: Mapping[str, Any]) -> str | None:
    """``"network"``, ``"connect_timeout"`` or ``"timeout"`` if ``handle`` answered with a
    transport-level fault."""
    value = body.get(TRANSPORT_FAULT_KEY)
    return value if isinstance(value, str) else None


class ApiError(Exception):
    """An error answer; ``violation`` marks the ones that break the rules whatever the state."""

    def __init__(
        self,
        description: str,
        *,
        status: int = 400,
        parameters: JSON | None = None,
        violation: bool = False,
        detail: str = "",
    ) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.parameters = parameters
        self.violation = violation
        self.detail = detail

    def body(self) -> JSON:
        out: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


@dataclass
class Call:
    """One Bot API call as the fake received it."""

    method: str
    params: dict[str, Any]
    time: float
    status: int = 200
    result: Any = None
    error: str | None = None  # the error description, or a transport fault

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Fault:
    """A scheduled fault; see :meth:`FakeTelegram.inject`."""

    method: str  # "*" matches every method
    kind: FaultKind
    chat_id: int | str | None = None
    times: int = 1
    retry_after: int = 3
    migrate_to_chat_id: int | None = None


@dataclass
class CallbackAnswer:
    query_id: str
    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int | None = None


@dataclass
class CallbackQueryState:
    query_id: str
    user_id: int
    chat_id: int | None
    message_id: int | None
    data: str | None
    created: float
    answer: CallbackAnswer | None = None


@dataclass
class StoredMessage:
    """A message in a chat, as it is now (after edits)."""

    chat_id: int
    message_id: int
    data: JSON  # the Message object as Telegram returns it
    from_bot: bool
    source: str | None = None  # text or caption exactly as sent (raw HTML, say)
    parse_mode: str | None = None
    reply_keyboard: JSON | None = None  # a non-inline reply_markup sent with it
    sent_seq: int = 0
    edit_seq: int = 0
    deleted: bool = False

    @property
    def text(self) -> str:
        """Plain text or caption (after entity parsing)."""
        return str(self.data.get("text") or self.data.get("caption") or "")

    @property
    def inline_keyboard(self) -> list[list[JSON]]:
        markup = self.data.get("reply_markup") or {}
        return list(markup.get("inline_keyboard") or [])


@dataclass
class FileRecord:
    file_id: str
    file_unique_id: str
    content: bytes
    file_path: str
    kind: str
    file_name: str | None = None
    mime_type: str | None = None
    photo_sizes: list[JSON] | None = None  # all sizes of a photo


@dataclass
class ChatState:
    id: int
    type: str  # "private", "group", "supergroup" or "channel"
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    bot_status: str = "member"
    blocked: bool = False  # private chats: the user blocked the bot
    started: bool = True  # private chats: the user has started the bot
    members: dict[int, str] = field(default_factory=dict)  # user id -> status
    reply_keyboard: JSON | None = None  # custom keyboard currently shown
    menu_button: JSON | None = None

    def to_dict(self) -> JSON:
        out: JSON = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def _norm_markup(markup: object) -> JSON | None:
    """An inline keyboard as stored on a message (an empty one means none)."""
    if not isinstance(markup, Mapping) or "inline_keyboard" not in markup:
        return None
    if not any(markup["inline_keyboard"]):
        return None
    return dict(markup)


Handler = Callable[[JSON, Mapping[str, UploadedFile]], Any]


class FakeTelegram:
    """State and behaviour of a strict fake Bot API; see the module docstring."""

    def __init__(
        self,
        *,
        username: str = "savings_test_bot",
        bot_id: int = 4242,
        first_name: str = "Savings Test Bot",
        spec: ApiSpec | None = None,
        clock: Callable[[], float] = time.time,
        callback_query_ttl: float | None = None,
        tolerated_params: frozenset[str] = PTB_DEFAULT_PARAMS,
    ) -> None:
        self.spec = spec or ApiSpec.load()
        # Unknown parameters accepted silently (Telegram ignores them; PTB always sends these).
        self.tolerated_params = tolerated_params
        self.clock = clock
        self.callback_query_ttl = callback_query_ttl
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.violations: list[str] = []
        self.calls: list[Call] = []
        self.chats: dict[int, ChatState] = {}
        self.users: dict[int, JSON] = {}
        self.files: dict[str, FileRecord] = {}
        self.callback_queries: dict[str, CallbackQueryState] = {}
        self.faults: list[Fault] = []
        self.migrations: dict[int, int] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.bot_texts: dict[tuple[str, str], str] = {}  # (kind, language) -> name/description
        self.default_menu_button: JSON = {"type": "default"}
        self.webhook: JSON = {"url": ""}
        self.updates: list[JSON] = []
        self.deletions: list[tuple[int, int, int]] = []  # (seq, chat_id, message_id)
        self._seq = 0
        self._next_update_id = 1
        self._counter = 0
        self._media_group = 0
        self._handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_media("photo"),
            "sendDocument": self._send_media("document"),
            "sendVoice": self._send_media("voice"),
            "sendAudio": self._send_media("audio"),
            "sendVideo": self._send_media("video"),
            "sendAnimation": self._send_media("animation"),
            "sendSticker": self._send_media("sticker"),
            "sendLocation": self._send_location,
            "sendContact": self._send_contact,
            "sendMediaGroup": self._send_media_group,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setMyName": self._set_bot_text("name"),
            "getMyName": self._get_bot_text("name"),
            "setMyDescription": self._set_bot_text("description"),
            "getMyDescription": self._get_bot_text("description"),
            "setMyShortDescription": self._set_bot_text("short_description"),
            "getMyShortDescription": self._get_bot_text("short_description"),
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getChatMemberCount": self._get_chat_member_count,
            "getFile": self._get_file,
            "sendChatAction": self._send_chat_action,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "leaveChat": self._leave_chat,
        }

    # == entry point ===========================================================================

    def handle(
        self,
        method: str,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
    ) -> tuple[int, JSON]:
        """Answer one Bot API call: ``(http_status, json_body)``.

        ``params`` are Python values (uploaded files as :class:`UploadedFile`); ``files`` are
        multipart parts referenced as ``attach://<name>``.
        """
        p: JSON = _copy(dict(params))
        files = dict(files or {})
        call = Call(method, p, self.clock())
        self.calls.append(call)

        problems = self.spec.validate_call(method, p, tolerated=self.tolerated_params)
        if problems:
            self.violations.extend(str(v) for v in problems)
            error = ApiError(problems[0].description, status=problems[0].status)
            return self._fail(call, error)

        fault = self._take_fault(method, p)
        if fault is not None and fault.kind == "network":
            call.status, call.error = 0, "network error (injected: never reached Telegram)"
            return 0, {"ok": False, TRANSPORT_FAULT_KEY: "network"}
        if fault is not None and fault.kind == "connect_timeout":
            call.status, call.error = 0, "connect timeout (injected: never reached Telegram)"
            return 0, {"ok": False, TRANSPORT_FAULT_KEY: "connect_timeout"}
        if fault is not None and fault.kind != "timeout_after_accept":
            return self._fail(call, self._fault_error(fault, p))

        known = self.spec.methods[method].fields
        p = {k: v for k, v in p.items() if k in known}  # Telegram ignores tolerated extras
        handler = self._handlers.get(method)
        if handler is None:
            error = ApiError(
                f"Bad Request: method {method} is not implemented in the fake Telegram",
                violation=True,
                detail="not implemented in fake",
            )
            return self._fail(call, error)
        try:
            result = handler(p, files)
        except ApiError as error:
            return self._fail(call, error)
        except Exception as exc:  # a bug in the fake: make it loud, not a vague NetworkError
            self.violations.append(f"internal: the fake crashed on {method}: {exc!r}")
            raise

        for problem in self.spec.check_result(method, result):
            self.violations.append(f"internal: the fake's result is malformed: {problem}")
        call.result = result
        if fault is not None:  # timeout_after_accept: done, but the client never hears
            call.status, call.error = 0, "timed out (injected: after Telegram accepted it)"
            return 0, {"ok": False, TRANSPORT_FAULT_KEY: "timeout"}
        return 200, {"ok": True, "result": result}

    def _fail(self, call: Call, error: ApiError) -> tuple[int, JSON]:
        if error.violation:
            detail = f" ({error.detail})" if error.detail else ""
            self.violations.append(f"{call.method}: {error.description}{detail}")
        call.status, call.error = error.status, error.description
        return error.status, error.body()

    # == fault injection =======================================================================

    def inject(
        self,
        method: str,
        *,
        chat_id: int | str | None = None,
        times: int = 1,
        kind: FaultKind = "retry_after",
        retry_after: int = 3,
        migrate_to_chat_id: int | None = None,
    ) -> Fault:
        """Make the next ``times`` calls of ``method`` (``"*"``: any) fail with ``kind``.

        Kinds: ``retry_after`` (429 with ``parameters.retry_after``), ``forbidden`` (403),
        ``migrated`` (400 with ``parameters.migrate_to_chat_id``; the chat moves for good),
        ``network`` (never reaches Telegram), ``connect_timeout`` (never reaches Telegram; the
        client times out connecting) and ``timeout_after_accept`` (done, but the client
        times out). With ``chat_id`` only calls for that chat match.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(method, kind, chat_id, times, retry_after, migrate_to_chat_id)
        self.faults.append(fault)
        return fault

    def _take_fault(self, method: str, p: JSON) -> Fault | None:
        for fault in self.faults:
            if fault.method not in ("*", method):
                continue
            if fault.chat_id is not None and str(p.get("chat_id")) != str(fault.chat_id):
                continue
            fault.times -= 1
            if fault.times <= 0:
                self.faults.remove(fault)
            return fault
        return None

    def _fault_error(self, fault: Fault, p: JSON) -> ApiError:
        if fault.kind == "retry_after":
            return ApiError(
                f"Too Many Requests: retry after {fault.retry_after}",
                status=429,
                parameters={"retry_after": fault.retry_after},
            )
        if fault.kind == "forbidden":
            return ApiError(BLOCKED, status=403)
        # migrated
        old = self._chat_id_int(fault.chat_id if fault.chat_id is not None else p.get("chat_id"))
        new = self.migrate_chat(old, fault.migrate_to_chat_id)
        return ApiError(MIGRATED, parameters={"migrate_to_chat_id": new})

    # == registration (used by the users module and tests) =====================================

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def register_user(self, user: Mapping[str, Any], *, started: bool = True) -> ChatState:
        """Know a user and their private chat with the bot."""
        data = dict(user)
        self.users[data["id"]] = data
        chat = self.chats.get(data["id"])
        if chat is None:
            chat = ChatState(
                id=data["id"],
                type="private",
                username=data.get("username"),
                first_name=data.get("first_name"),
                last_name=data.get("last_name"),
                started=started,
            )
            self.chats[chat.id] = chat
        return chat

    def register_chat(
        self,
        chat_id: int,
        chat_type: str,
        *,
        title: str | None = None,
        username: str | None = None,
        bot_status: str = "administrator",
    ) -> ChatState:
        """Know a group, supergroup or channel; the bot is in it with ``bot_status``."""
        chat = ChatState(
            id=chat_id, type=chat_type, title=title, username=username, bot_status=bot_status
        )
        self.chats[chat_id] = chat
        return chat

    def blocked(self, user_id: int) -> None:
        """The user blocks the bot: sending to them gives 403."""
        chat = self.chats.get(user_id)
        if chat is None:
            chat = self.register_user({"id": user_id, "is_bot": False, "first_name": "Blocked"})
        chat.blocked = True

    def unblock(self, user_id: int) -> None:
        self.chats[user_id].blocked = False

    def set_bot_status(self, chat_id: int, status: str) -> None:
        """The bot's membership in a group: creator/administrator/member/restricted/left/kicked."""
        self.chats[chat_id].bot_status = status

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        self.chats[chat_id].members[user_id] = status

    def migrate_chat(self, old_id: int, new_id: int | None = None) -> int:
        """Upgrade a group to a supergroup: its messages move to ``new_id`` for good."""
        if old_id in self.migrations:
            return self.migrations[old_id]
        if new_id is None:
            new_id = int(f"-100{abs(old_id)}")
        old = self.chats.pop(old_id, None)
        if old is not None:
            old.id = new_id
            old.type = "supergroup"
            for message in old.messages.values():
                message.chat_id = new_id
                message.data["chat"] = old.to_dict()
            self.chats[new_id] = old
        self.migrations[old_id] = new_id
        return new_id

    # == updates ===============================================================================

    @property
    def last_update_id(self) -> int:
        """The id of the newest update made so far (0 before the first)."""
        return self._next_update_id - 1

    def next_update_id(self) -> int:
        value = self._next_update_id
        self._next_update_id += 1
        return value

    def queue_update(self, update: Mapping[str, Any]) -> int:
        """Queue an update for getUpdates (an ``update_id`` is assigned if missing)."""
        data = dict(update)
        if "update_id" not in data:
            data["update_id"] = self.next_update_id()
        else:
            self._next_update_id = max(self._next_update_id, int(data["update_id"]) + 1)
        self.updates.append(data)
        return int(data["update_id"])

    # == inspection helpers ====================================================================

    @property
    def seq(self) -> int:
        """A counter that grows on every new, edited or deleted message."""
        return self._seq

    def _bump(self) -> int:
        self._seq += 1
        return self._seq

    def chat(self, chat_id: int) -> ChatState | None:
        return self.chats.get(self.migrations.get(chat_id, chat_id))

    def message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        """A message as it is now; None if unknown or deleted."""
        chat = self.chat(chat_id)
        if chat is None:
            return None
        message = chat.messages.get(message_id)
        return None if message is None or message.deleted else message

    def bot_messages(self, chat_id: int) -> list[StoredMessage]:
        """The bot's messages in a chat (not deleted), oldest first."""
        chat = self.chat(chat_id)
        if chat is None:
            return []
        return [m for m in chat.messages.values() if m.from_bot and not m.deleted]

    def changes_since(
        self, seq: int, chat_id: int
    ) -> tuple[list[StoredMessage], list[StoredMessage], list[int]]:
        """Bot messages (new, edited, deleted ids) in a chat after :attr:`seq` was ``seq``."""
        chat = self.chat(chat_id)
        if chat is None:
            return [], [], []
        new = [
            m for m in chat.messages.values() if m.from_bot and not m.deleted and m.sent_seq > seq
        ]
        edited = [
            m
            for m in chat.messages.values()
            if m.from_bot and not m.deleted and m.edit_seq > seq and m.sent_seq <= seq
        ]
        deleted = [mid for s, cid, mid in self.deletions if s > seq and cid == chat.id]
        return new, edited, deleted

    def callback_answer(self, query_id: str) -> CallbackAnswer | None:
        state = self.callback_queries.get(query_id)
        return state.answer if state else None

    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        """Successful calls, optionally of one method and/or to one chat."""
        return [
            c
            for c in self.calls
            if c.ok
            and (method is None or c.method == method)
            and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    @property
    def errors(self) -> list[Call]:
        """Calls that were answered with an error (or a transport fault)."""
        return [c for c in self.calls if not c.ok]

    def file_content(self, file_path: str) -> bytes | None:
        for record in self.files.values():
            if record.file_path == file_path:
                return record.content
        return None

    # == incoming content (the users module) ===================================================

    def add_user_message(
        self,
        chat_id: int,
        from_user: Mapping[str, Any],
        content: Mapping[str, Any],
        *,
        reply_to_message_id: int | None = None,
    ) -> JSON:
        """Store a message a user sends; returns the Message object for an update."""
        chat = self.chat(chat_id)
        if chat is None:
            raise KeyError(f"unknown chat {chat_id}")
        if chat.type == "private":
            chat.blocked = False
            chat.started = True
        elif from_user["id"] not in chat.members:
            chat.members[from_user["id"]] = "member"
        data: JSON = {
            "message_id": chat.next_message_id,
            "from": dict(from_user),
            "date": int(self.clock()),
            "chat": chat.to_dict(),
            **_copy(dict(content)),
        }
        if reply_to_message_id is not None:
            target = self.message(chat.id, reply_to_message_id)
            if target is None:
                raise KeyError(f"no message {reply_to_message_id} in chat {chat_id} to reply to")
            data["reply_to_message"] = self._shallow(target.data)
        chat.next_message_id += 1
        stored = StoredMessage(chat.id, data["message_id"], data, from_bot=False)
        stored.sent_seq = self._bump()
        chat.messages[stored.message_id] = stored
        return _copy(data)

    def register_callback_query(
        self,
        query_id: str,
        user_id: int,
        chat_id: int | None,
        message_id: int | None,
        data: str | None,
    ) -> CallbackQueryState:
        state = CallbackQueryState(query_id, user_id, chat_id, message_id, data, self.clock())
        self.callback_queries[query_id] = state
        return state

    def new_media(
        self,
        kind: str,
        *,
        content: bytes | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        duration: int | None = None,
        emoji: str | None = None,
    ) -> Any:
        """A fresh media object (PhotoSize list for photos) backed by a stored file."""
        record = self._new_file(kind, content, file_name, mime_type)
        return self._media_json(record, duration=duration, emoji=emoji)

    # == files =================================================================================

    def _new_file(
        self,
        kind: str,
        content: bytes | None,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> FileRecord:
        n = self._next()
        data = content if content is not None else f"fake {kind} #{n}".encode()
        if mime_type is None and file_name:
            mime_type = mimetypes.guess_type(file_name)[0]
        ext = {"photo": ".jpg", "voice": ".oga", "sticker": ".webp"}.get(kind, "")
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1]
        record = FileRecord(
            file_id=f"FAKE{kind[:3].upper()}{n:08d}AgADfakefileid",
            file_unique_id=f"AgAD{n:06d}",
            content=data,
            file_path=f"{kind}s/file_{n}{ext}",
            kind=kind,
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[record.file_id] = record
        if kind == "photo":
            sizes = []
            for i, width in enumerate((90, 320, 800)):
                size_record = record
                if i < 2:  # thumbnails are files of their own
                    size_record = FileRecord(
                        f"{record.file_id}s{i}",
                        f"{record.file_unique_id}s{i}",
                        data,
                        record.file_path.replace(".jpg", f"_{i}.jpg"),
                        "photo",
                    )
                    self.files[size_record.file_id] = size_record
                sizes.append(
                    {
                        "file_id": size_record.file_id,
                        "file_unique_id": size_record.file_unique_id,
                        "file_size": len(data),
                        "width": width,
                        "height": width * 3 // 4,
                    }
                )
            for size in sizes:
                self.files[str(size["file_id"])].photo_sizes = sizes
        return record

    def _media_json(
        self, record: FileRecord, *, duration: int | None = None, emoji: str | None = None
    ) -> Any:
        if record.kind == "photo" and record.photo_sizes:
            return _copy(record.photo_sizes)
        base: JSON = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": len(record.content),
        }
        kind = record.kind
        if kind in ("document", "animation", "audio", "video") and record.file_name:
            base["file_name"] = record.file_name
        if kind in ("document", "animation", "audio", "video", "voice"):
            default_mime = {"video": "video/mp4", "audio": "audio/mpeg"}
            # Telegram stores voice notes as OGG/Opus whatever the client claimed.
            mime = "audio/ogg" if kind == "voice" else record.mime_type or default_mime.get(kind)
            if mime:
                base["mime_type"] = mime
        if kind in ("voice", "audio", "video", "animation"):
            base["duration"] = duration if duration is not None else 1
        if kind in ("video", "animation"):
            base.update(width=640, height=480)
        if kind == "sticker":
            base.update(type="regular", width=512, height=512, is_animated=False, is_video=False)
            base["emoji"] = emoji or "🙂"
        return base

    def _resolve_file(
        self, kind: str, value: object, files: Mapping[str, UploadedFile], path: str
    ) -> FileRecord:
        """An InputFile or String (file_id, URL or attach://name) as a stored file."""
        if isinstance(value, str) and value.startswith("attach://"):
            name = value[len("attach://") :]
            if name not in files:
                raise ApiError(
                    f'Bad Request: {path}: can\'t find attached file "{name}"',
                    violation=True,
                    detail="attach:// refers to no multipart part",
                )
            value = files[name]
        if isinstance(value, UploadedFile):
            return self._new_file(kind, value.content, value.filename, value.mime_type)
        assert isinstance(value, str)
        if value in self.files:
            return self.files[value]
        if value.startswith(("http://", "https://")):
            url_name = value.rstrip("/").rsplit("/", 1)[-1] or None
            return self._new_file(kind, None, url_name if kind != "photo" else None)
        raise ApiError("Bad Request: wrong file identifier/HTTP URL specified")

    # == chats =================================================================================

    def _chat_id_int(self, chat_id: object) -> int:
        if isinstance(chat_id, int):
            return chat_id
        if isinstance(chat_id, str):
            if re.fullmatch(r"-?\d+", chat_id):
                return int(chat_id)
            if chat_id.startswith("@"):
                for chat in self.chats.values():
                    if chat.username and chat.username.lower() == chat_id[1:].lower():
                        return chat.id
        raise ApiError(CHAT_NOT_FOUND)

    def _readable(self, chat_id: object) -> ChatState:
        cid = self._chat_id_int(chat_id)
        if cid in self.migrations:
            raise ApiError(MIGRATED, parameters={"migrate_to_chat_id": self.migrations[cid]})
        chat = self.chats.get(cid)
        if chat is None:
            raise ApiError(CHAT_NOT_FOUND)
        return chat

    def _writable(self, chat_id: object) -> ChatState:
        chat = self._readable(chat_id)
        if chat.type == "private":
            if chat.blocked:
                raise ApiError(BLOCKED, status=403)
            if not chat.started:
                raise ApiError("Forbidden: bot can't initiate conversation with a user", status=403)
        elif chat.bot_status == "kicked":
            raise ApiError(f"Forbidden: bot was kicked from the {chat.type} chat", status=403)
        elif chat.bot_status == "left":
            raise ApiError(f"Forbidden: bot is not a member of the {chat.type} chat", status=403)
        elif chat.type == "channel" and chat.bot_status not in ("administrator", "creator"):
            raise ApiError("Bad Request: need administrator rights in the channel chat")
        return chat

    # == message building ======================================================================

    @staticmethod
    def _shallow(data: JSON) -> JSON:
        """A message as embedded in another one (without its own reply)."""
        out = _copy(data)
        out.pop("reply_to_message", None)
        return out

    def _formatted(self, text: str, parse_mode: object, entities: object) -> tuple[str, list[JSON]]:
        """Plain text and entities as Telegram stores them (stripped of outer whitespace)."""
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            parsed = parse_html(text)
        elif isinstance(parse_mode, str) and parse_mode.lower() in ("markdown", "markdownv2"):
            parsed = ParsedText(text)  # not parsed by the fake
        else:
            parsed = ParsedText(text, list(entities) if isinstance(entities, list) else [])
        parsed = strip_text(parsed)
        return parsed.text, parsed.entities

    def _set_caption(
        self, data: JSON, caption: object, parse_mode: object, entities: object
    ) -> None:
        data.pop("caption", None)
        data.pop("caption_entities", None)
        if isinstance(caption, str):
            text, ents = self._formatted(caption, parse_mode, entities)
            if text:
                data["caption"] = text
            if ents:
                data["caption_entities"] = ents

    def _store_bot_message(
        self,
        chat: ChatState,
        content: JSON,
        p: JSON,
        *,
        source: str | None = None,
        parse_mode: str | None = None,
    ) -> StoredMessage:
        data: JSON = {
            "message_id": chat.next_message_id,
            "from": dict(self.bot_user),
            "date": int(self.clock()),
            "chat": chat.to_dict(),
        }
        reply = p.get("reply_parameters")
        if isinstance(reply, Mapping):
            target_chat = chat
            if reply.get("chat_id") is not None:
                target_chat = self._readable(reply["chat_id"])
            target = self.message(target_chat.id, reply["message_id"])
            if target is not None:
                data["reply_to_message"] = self._shallow(target.data)
            elif not reply.get("allow_sending_without_reply"):
                raise ApiError("Bad Request: message to be replied not found")
        data.update(content)
        if p.get("protect_content"):
            data["has_protected_content"] = True
        markup = p.get("reply_markup")
        reply_keyboard: JSON | None = None
        if isinstance(markup, Mapping):
            inline = _norm_markup(markup)
            if inline is not None:
                data["reply_markup"] = inline
            elif "inline_keyboard" not in markup:
                reply_keyboard = dict(markup)
                if "keyboard" in markup:
                    chat.reply_keyboard = dict(markup)
                elif markup.get("remove_keyboard"):
                    chat.reply_keyboard = None
        chat.next_message_id += 1
        stored = StoredMessage(
            chat.id,
            data["message_id"],
            data,
            from_bot=True,
            source=source,
            parse_mode=parse_mode,
            reply_keyboard=reply_keyboard,
        )
        stored.sent_seq = self._bump()
        chat.messages[stored.message_id] = stored
        return stored

    # == methods: bot and misc =================================================================

    def _true(self, p: JSON, files: Mapping[str, UploadedFile]) -> bool:
        return True

    def _get_me(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        return dict(self.bot_user)

    # == methods: sending ======================================================================

    def _send_message(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        chat = self._writable(p["chat_id"])
        text, entities = self._formatted(p["text"], p.get("parse_mode"), p.get("entities"))
        content: JSON = {"text": text}
        if entities:
            content["entities"] = entities
        if p.get("link_preview_options"):
            content["link_preview_options"] = p["link_preview_options"]
        stored = self._store_bot_message(
            chat, content, p, source=p["text"], parse_mode=p.get("parse_mode")
        )
        return _copy(stored.data)

    def _send_media(self, kind: str) -> Handler:
        def send(p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
            chat = self._writable(p["chat_id"])
            record = self._resolve_file(kind, p[kind], files, kind)
            content: JSON = {
                kind: self._media_json(record, duration=p.get("duration"), emoji=p.get("emoji"))
            }
            if kind == "animation":
                content["document"] = dict(content["animation"])
            self._set_caption(
                content, p.get("caption"), p.get("parse_mode"), p.get("caption_entities")
            )
            if p.get("show_caption_above_media"):
                content["show_caption_above_media"] = True
            stored = self._store_bot_message(
                chat, content, p, source=p.get("caption"), parse_mode=p.get("parse_mode")
            )
            return _copy(stored.data)

        return send

    def _send_location(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        chat = self._writable(p["chat_id"])
        content = {"location": {"latitude": p["latitude"], "longitude": p["longitude"]}}
        return _copy(self._store_bot_message(chat, content, p).data)

    def _send_contact(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        chat = self._writable(p["chat_id"])
        contact = {k: p[k] for k in ("phone_number", "first_name", "last_name", "vcard") if k in p}
        return _copy(self._store_bot_message(chat, {"contact": contact}, p).data)

    def _send_media_group(self, p: JSON, files: Mapping[str, UploadedFile]) -> list[JSON]:
        chat = self._writable(p["chat_id"])
        self._media_group += 1
        group_id = f"fake-album-{self._media_group}"
        out: list[JSON] = []
        for i, item in enumerate(p["media"]):
            kind = item["type"]
            record = self._resolve_file(kind, item["media"], files, f"media[{i}].media")
            content: JSON = {"media_group_id": group_id, kind: self._media_json(record)}
            self._set_caption(
                content, item.get("caption"), item.get("parse_mode"), item.get("caption_entities")
            )
            stored = self._store_bot_message(
                chat,
                content,
                {k: v for k, v in p.items() if k != "reply_markup"},
                source=item.get("caption"),
                parse_mode=item.get("parse_mode"),
            )
            out.append(_copy(stored.data))
        return out

    def _source_message(self, p: JSON, what: str) -> StoredMessage:
        source_chat = self._readable(p["from_chat_id"])
        source = self.message(source_chat.id, p["message_id"])
        if source is None:
            raise ApiError(f"Bad Request: message to {what} not found")
        return source

    def _copy_message(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        source = self._source_message(p, "copy")
        chat = self._writable(p["chat_id"])
        content = {k: _copy(v) for k, v in source.data.items() if k in CONTENT_FIELDS}
        src_text, mode = source.source, source.parse_mode
        if "caption" in p and any(k in content for k in CAPTIONED_MEDIA):
            self._set_caption(content, p["caption"], p.get("parse_mode"), p.get("caption_entities"))
            src_text, mode = p["caption"], p.get("parse_mode")
        stored = self._store_bot_message(chat, content, p, source=src_text, parse_mode=mode)
        return {"message_id": stored.message_id}

    def _forward_message(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        source = self._source_message(p, "forward")
        chat = self._writable(p["chat_id"])
        content = {k: _copy(v) for k, v in source.data.items() if k in CONTENT_FIELDS}
        content["forward_origin"] = {
            "type": "user",
            "date": source.data["date"],
            "sender_user": _copy(source.data.get("from", self.bot_user)),
        }
        stored = self._store_bot_message(
            chat,
            content,
            {k: v for k, v in p.items() if k != "reply_markup"},
            source=source.source,
            parse_mode=source.parse_mode,
        )
        return _copy(stored.data)

    # == methods: editing and deleting =========================================================

    def _editable(self, p: JSON) -> StoredMessage:
        if p.get("inline_message_id") is not None:
            raise ApiError(
                "Bad Request: inline messages are not implemented in the fake Telegram",
                violation=True,
                detail="not implemented in fake",
            )
        chat = self._readable(p["chat_id"])
        message = self.message(chat.id, p["message_id"])
        if message is None:
            raise ApiError("Bad Request: message to edit not found")
        if not message.from_bot:
            raise ApiError(
                "Bad Request: message can't be edited",
                violation=True,
                detail=f"message {message.message_id} was not sent by the bot",
            )
        return message

    def _apply_edit(self, message: StoredMessage, new: JSON, p: JSON, source: str | None) -> JSON:
        """Replace content keys (None removes) and the inline keyboard, or raise not modified."""
        markup = _norm_markup(p.get("reply_markup"))
        current = {k: message.data.get(k) for k in new}
        if current == new and message.data.get("reply_markup") == markup:
            raise ApiError(MESSAGE_NOT_MODIFIED)
        for key, value in new.items():
            if value is None:
                message.data.pop(key, None)
            else:
                message.data[key] = value
        if markup is None:
            message.data.pop("reply_markup", None)  # Telegram drops a keyboard not re-sent
        else:
            message.data["reply_markup"] = markup
        if source is not None or "parse_mode" in p:
            message.source, message.parse_mode = source, p.get("parse_mode")
        message.data["edit_date"] = int(self.clock())
        message.edit_seq = self._bump()
        return _copy(message.data)

    def _edit_message_text(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        message = self._editable(p)
        if "text" not in message.data:
            raise ApiError(
                "Bad Request: there is no text in the message to edit",
                violation=True,
                detail=f"message {message.message_id} has media; use editMessageCaption",
            )
        if p.get("text") is None:
            raise ApiError(
                "Bad Request: rich messages are not implemented in the fake Telegram",
                violation=True,
                detail="not implemented in fake",
            )
        text, entities = self._formatted(p["text"], p.get("parse_mode"), p.get("entities"))
        if not text:
            raise ApiError("Bad Request: message text is empty", violation=True)
        new: JSON = {"text": text, "entities": entities or None}
        return self._apply_edit(message, new, p, p["text"])

    def _edit_message_caption(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        message = self._editable(p)
        if not any(k in message.data for k in CAPTIONED_MEDIA):
            raise ApiError(
                "Bad Request: there is no caption in the message to edit",
                violation=True,
                detail=f"message {message.message_id} has no media; use editMessageText",
            )
        scratch: JSON = {}
        self._set_caption(scratch, p.get("caption"), p.get("parse_mode"), p.get("caption_entities"))
        new: JSON = {
            "caption": scratch.get("caption"),
            "caption_entities": scratch.get("caption_entities"),
        }
        if "show_caption_above_media" in p:
            new["show_caption_above_media"] = p["show_caption_above_media"] or None
        return self._apply_edit(message, new, p, p.get("caption"))

    def _edit_message_reply_markup(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        message = self._editable(p)
        return self._apply_edit(message, {}, p, None)

    def _delete_one(self, chat: ChatState, message_id: int) -> None:
        message = self.message(chat.id, message_id)
        if message is None:
            raise ApiError("Bad Request: message to delete not found")
        if self.clock() - message.data["date"] > DELETE_WINDOW:
            raise ApiError("Bad Request: message can't be deleted for everyone")
        if (
            not message.from_bot
            and chat.type != "private"
            and chat.bot_status not in ("administrator", "creator")
        ):
            raise ApiError("Bad Request: message can't be deleted")
        message.deleted = True
        self.deletions.append((self._bump(), chat.id, message_id))

    def _delete_message(self, p: JSON, files: Mapping[str, UploadedFile]) -> bool:
        self._delete_one(self._readable(p["chat_id"]), p["message_id"])
        return True

    def _delete_messages(self, p: JSON, files: Mapping[str, UploadedFile]) -> bool:
        chat = self._readable(p["chat_id"])
        for message_id in p["message_ids"]:
            try:
                self._delete_one(chat, message_id)
            except ApiError:
                pass  # Telegram skips messages it can't delete
        return True

    # == methods: callback queries =============================================================

    def _answer_callback_query(self, p: JSON, files: Mapping[str, UploadedFile]) -> bool:
        state = self.callback_queries.get(p["callback_query_id"])
        if state is None or state.answer is not None:
            raise ApiError(QUERY_TOO_OLD)
        if (
            self.callback_query_ttl is not None
            and self.clock() - state.created > self.callback_query_ttl
        ):
            raise ApiError(QUERY_TOO_OLD)
        state.answer = CallbackAnswer(
            state.query_id,
            p.get("text"),
            bool(p.get("show_alert", False)),
            p.get("url"),
            p.get("cache_time"),
        )
        return True

    # == methods: commands, names and menu =====================================================

    @staticmethod
    def _commands_key(p: JSON) -> tuple[str, str]:
        scope = p.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(p.get("language_code") or "")

    def _set_my_commands(self, p: JSON, files: Mapping[str, UploadedFile]) -> bool:
        if p.get("commands"):
            self.commands[self._commands_key(p)] = [dict(c) for c in p["commands"]]
        else:
            self.commands.pop(self._commands_key(p), None)
        return True

    def _get_my_commands(self, p: JSON, files: Mapping[str, UploadedFile]) -> list[JSON]:
        return _copy(self.commands.get(self._commands_key(p), []))

    def _delete_my_commands(self, p: JSON, files: Mapping[str, UploadedFile]) -> bool:
        self.commands.pop(self._commands_key(p), None)
        return True

    def _set_bot_text(self, kind: str) -> Handler:
        def set_text(p: JSON, files: Mapping[str, UploadedFile]) -> bool:
            key = (kind, str(p.get("language_code") or ""))
            value = p.get(kind)
            if value:
                self.bot_texts[key] = value
            else:
                self.bot_texts.pop(key, None)
            return True

        return set_text

    def _get_bot_text(self, kind: str) -> Handler:
        def get_text(p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
            language = str(p.get("language_code") or "")
            value = self.bot_texts.get((kind, language), self.bot_texts.get((kind, ""), ""))
            if kind == "name" and not value:
                value = self.bot_user["first_name"]
            return {kind: value}

        return get_text

    def _set_chat_menu_button(self, p: JSON, files: Mapping[str, UploadedFile]) -> bool:
        button = p.get("menu_button") or {"type": "default"}
        if p.get("chat_id") is None:
            self.default_menu_button = dict(button)
        else:
            chat = self._readable(p["chat_id"])
            if chat.type != "private":
                raise ApiError("Bad Request: menu button can be set only in private chats")
            chat.menu_button = dict(button)
        return True

    def _get_chat_menu_button(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        if p.get("chat_id") is not None:
            chat = self._readable(p["chat_id"])
            if chat.menu_button is not None:
                return dict(chat.menu_button)
        return dict(self.default_menu_button)

    # == methods: webhook and updates ==========================================================

    def _set_webhook(self, p: JSON, files: Mapping[str, UploadedFile]) -> bool:
        url = p["url"]
        if url:
            match = re.match(r"https://[^/:]+(?::(\d+))?(/|$)", url)
            if match is None:
                raise ApiError(
                    "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
                )
            if match.group(1) and match.group(1) not in ("80", "88", "443", "8443"):
                raise ApiError(
                    "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 "
                    "or 8443"
                )
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ApiError(
                "Bad Request: secret token contains unallowed characters", violation=True
            )
        if p.get("drop_pending_updates"):
            self.updates.clear()
        self.webhook = {"url": url}
        for key in ("max_connections", "allowed_updates", "ip_address"):
            if key in p:
                self.webhook[key] = p[key]
        return True

    def _delete_webhook(self, p: JSON, files: Mapping[str, UploadedFile]) -> bool:
        if p.get("drop_pending_updates"):
            self.updates.clear()
        self.webhook = {"url": ""}
        return True

    def _get_webhook_info(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        info = {
            **_copy(self.webhook),
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }
        info.pop("secret_token", None)
        return info

    def _get_updates(self, p: JSON, files: Mapping[str, UploadedFile]) -> list[JSON]:
        if self.webhook.get("url"):
            raise ApiError(
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
                status=409,
            )
        offset = p.get("offset")
        if isinstance(offset, int) and offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif isinstance(offset, int) and offset < 0:
            self.updates = self.updates[offset:]
        limit = p.get("limit") or 100
        return _copy(self.updates[:limit])

    # == methods: chats and files ==============================================================

    def _fill_required(self, type_name: str, base: JSON, *, rights: bool = False) -> JSON:
        """Complete ``base`` with defaults for the spec's required fields of ``type_name``."""
        out = dict(base)
        spec = self.spec.types[type_name]
        for name, fld in spec.fields.items():
            if not fld.required or name in out:
                continue
            kind = fld.types[0]
            if kind == "Boolean":
                out[name] = rights and name.startswith("can_") and name != "can_be_edited"
            elif kind in ("Integer", "Float"):
                out[name] = 0
            elif kind == "String":
                out[name] = ""
            elif kind.startswith("Array of"):
                out[name] = []
            elif kind in self.spec.types:
                out[name] = self._fill_required(kind, {})
        return out

    def chat_member(self, user: Mapping[str, Any], status: str) -> JSON:
        """A ChatMember object for ``user`` with ``status``, all required fields filled."""
        for sub in self.spec.types["ChatMember"].subtypes:
            disc = self.spec.types[sub].discriminator
            if disc == ("status", status):
                base: JSON = {"status": status, "user": dict(user)}
                if status == "restricted":
                    base["is_member"] = True
                return self._fill_required(sub, base, rights=status == "administrator")
        raise ValueError(f"unknown chat member status {status!r}")

    def _get_chat(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        chat = self._readable(p["chat_id"])
        base = {**chat.to_dict(), "accent_color_id": 0, "max_reaction_count": 11}
        return self._fill_required("ChatFullInfo", base)

    def _status_of(self, chat: ChatState, user_id: int) -> str:
        if user_id == self.bot_user["id"]:
            return "member" if chat.type == "private" else chat.bot_status
        if user_id not in self.users:
            raise ApiError("Bad Request: user not found")
        if chat.type == "private":
            return "member" if user_id == chat.id else "left"
        return chat.members.get(user_id, "left")

    def _get_chat_member(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        chat = self._readable(p["chat_id"])
        user_id = p["user_id"]
        status = self._status_of(chat, user_id)
        user = self.bot_user if user_id == self.bot_user["id"] else self.users[user_id]
        return self.chat_member(user, status)

    def _get_chat_administrators(self, p: JSON, files: Mapping[str, UploadedFile]) -> list[JSON]:
        chat = self._readable(p["chat_id"])
        if chat.type == "private":
            raise ApiError("Bad Request: there are no administrators in the private chat")
        out = [
            self.chat_member(self.users[uid], status)
            for uid, status in chat.members.items()
            if status in ("creator", "administrator") and uid in self.users
        ]
        if chat.bot_status in ("creator", "administrator"):
            out.append(self.chat_member(self.bot_user, chat.bot_status))
        return out

    def _get_chat_member_count(self, p: JSON, files: Mapping[str, UploadedFile]) -> int:
        chat = self._readable(p["chat_id"])
        if chat.type == "private":
            return 2
        present = ("creator", "administrator", "member", "restricted")
        bot = 1 if chat.bot_status in present else 0
        return bot + sum(1 for s in chat.members.values() if s in present)

    def _get_file(self, p: JSON, files: Mapping[str, UploadedFile]) -> JSON:
        record = self.files.get(p["file_id"])
        if record is None:
            raise ApiError("Bad Request: invalid file_id")
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": len(record.content),
            "file_path": record.file_path,
        }

    def _send_chat_action(self, p: JSON, files: Mapping[str, UploadedFile]) -> bool:
        self._writable(p["chat_id"])
        return True

    def _leave_chat(self, p: JSON, files: Mapping[str, UploadedFile]) -> bool:
        chat = self._readable(p["chat_id"])
        if chat.type == "private":
            raise ApiError("Bad Request: chat member status can't be changed in private chats")
        chat.bot_status = "left"
        return True
