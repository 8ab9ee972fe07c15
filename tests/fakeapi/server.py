"""The fake Bot API (:class:`~.core.FakeTelegram`) served over real HTTP, like api.telegram.org.

:class:`FakeBotApiServer` is an asyncio HTTP/1.1 server on 127.0.0.1 (an ephemeral port by
default). A bot in this process or in a subprocess reaches it with
``base_url = server.base_url`` (``http://127.0.0.1:<port>/bot``; PTB appends the token):

* ``GET``/``POST /bot<token>/<method>`` with a query string, a JSON body,
  ``application/x-www-form-urlencoded`` or ``multipart/form-data`` (uploads, ``attach://``);
* ``GET /file/bot<token>/<file_path>`` downloads a stored file;
* a wrong token is answered 401 Unauthorized, an unknown path 404, as Telegram does;
* ``getUpdates`` long-polls up to its ``timeout`` and answers as soon as an update is queued;
* injected faults (:meth:`FakeTelegram.inject`): ``network`` drops the connection before the
  call is handled; ``timeout_after_accept`` handles the call, then never answers (the client
  times out, or hangs up);
* :meth:`FakeBotApiServer.hold` keeps matching calls waiting, before or after Telegram has
  handled them, until released (or the client hangs up): "the process was killed mid-send";
* after ``setWebhook`` queued updates are POSTed to the webhook, in order and one at a time,
  with ``X-Telegram-Bot-Api-Secret-Token``, again and again until the webhook answers 2xx; a
  local ``http://`` webhook URL is accepted (Telegram wants HTTPS on a few ports).
  ``getUpdates`` while a webhook is set gives 409, as in :mod:`.core`.

Everything runs on the event loop that started the server, so a test may read and change the
:class:`FakeTelegram` directly between awaits. :class:`HttpHarness` drives simulated people
(:class:`~.users.FakeUser`) through the server instead of ``Application.process_update``.

Run ``python -m tests.fakeapi.server --token <token>`` to serve a fake by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import itertools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from .core import FakeTelegram, transport_fault
from .spec import UploadedFile
from .users import FakeUser, Harness

__all__ = [
    "SECRET_HEADER",
    "Exchange",
    "FakeBotApiServer",
    "Hold",
    "HttpHarness",
    "WebhookDelivery",
]

JSON = dict[str, Any]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

_API_PATH = re.compile(r"/bot([^/]*)/([A-Za-z0-9_]*)")
_FILE_PATH = re.compile(r"/file/bot([^/]*)/(.+)")
_ATTACH = re.compile(r"attach://([^\"\s]+)")
_INTEGER = re.compile(r"-?\d+")
# A webhook on this machine over plain HTTP: allowed by the fake, validated as if it were HTTPS.
_LOCAL_WEBHOOK = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/.*)?")
_STAND_IN_WEBHOOK = "https://webhook.invalid/"
_SLICE = 0.25  # waits re-check their condition at least this often

Outcome = Literal["ready", "timeout", "gone"]


@dataclass
class Hold:
    """Calls of ``method`` (to ``chat_id``) that wait until :meth:`release`.

    ``accept=False``: they wait before Telegram handles them (if the client hangs up meanwhile,
    Telegram never got the call). ``accept=True``: Telegram handles them, then the answer waits
    (if the client hangs up, the call took effect but the client never learnt it).
    ``times``: how many calls to catch (``None``: every one until released).
    """

    method: str
    chat_id: int | str | None = None
    accept: bool = False
    times: int | None = None
    caught: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()

    def matches(self, method: str, params: Mapping[str, Any]) -> bool:
        if self.released.is_set() or self.method not in ("*", method):
            return False
        if self.times is not None and self.caught >= self.times:
            return False
        return self.chat_id is None or str(params.get("chat_id")) == str(self.chat_id)


@dataclass
class Exchange:
    """One HTTP request to the server and what became of it (``status`` 0: no answer)."""

    http_method: str
    api_method: str | None
    content_type: str
    status: int = 0


@dataclass
class WebhookDelivery:
    """One POST of an update to the webhook (``status`` 0: the connection failed)."""

    update_id: int
    url: str
    secret: str | None
    status: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


class FakeBotApiServer:
    """Serves ``telegram`` over HTTP for ``token``; use ``async with`` (or start/stop)."""

    def __init__(
        self,
        telegram: FakeTelegram | None = None,
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_retry_delay: float = 0.1,
        webhook_timeout: float = 10.0,
        max_long_poll: float = 50.0,
    ) -> None:
        self.telegram = telegram or FakeTelegram()
        self.token = token
        self.host = host
        self.port = port
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.max_long_poll = max_long_poll
        self.holds: list[Hold] = []
        self.exchanges: list[Exchange] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_secret: str | None = None
        self._methods = {name.lower(): name for name in self.telegram.spec.methods}
        self._server: asyncio.Server | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._change = asyncio.Event()
        self._stopping = False
        self._allow_local_webhooks()

    # == life cycle ============================================================================

    async def start(self) -> None:
        self._stopping = False
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._pusher = asyncio.create_task(self._push_loop(), name="fake-telegram-webhook")

    async def stop(self) -> None:
        """Stop serving: connections are closed, waiting calls are dropped unanswered."""
        self._stopping = True
        self._notify()
        if self._server is not None:
            self._server.close()
        if self._pusher is not None:
            self._pusher.cancel()
            await asyncio.gather(self._pusher, return_exceptions=True)
        # Not task.cancel(): asyncio's stream callback would log the cancelled task as an error.
        for writer in self._connections.values():
            writer.transport.abort()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeBotApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """PTB's ``base_url`` (the token is appended)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """PTB's ``base_file_url`` (the token is appended)."""
        return f"{self.url}/file/bot"

    # == test controls =========================================================================

    def queue_update(self, update: Mapping[str, Any]) -> int:
        """Queue an update for getUpdates or the webhook; returns its ``update_id``."""
        update_id = self.telegram.queue_update(update)
        self._notify()
        return update_id

    def hold(
        self,
        method: str,
        *,
        chat_id: int | str | None = None,
        accept: bool = False,
        times: int | None = None,
    ) -> Hold:
        """Make matching calls wait until the returned hold is released; see :class:`Hold`."""
        hold = Hold(method, chat_id, accept, times)
        self.holds.append(hold)
        return hold

    async def wait_for(
        self, condition: Callable[[], object], within: float = 10.0, what: str = ""
    ) -> None:
        """Wait until ``condition()`` is true (checked on every change); AssertionError if not
        ``within`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {within}s waiting for {what or condition}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._change.wait(), min(remaining, _SLICE))

    def _notify(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    # == HTTP ==================================================================================

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while not self._stopping:
                request = await _read_request(reader)
                if request is None or not await self._answer(request, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the client hung up, or spoke something else than HTTP/1.1
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection is to be closed."""
        parts = urlsplit(request.target)
        path = unquote(parts.path)
        content_type = request.headers.get("content-type", "")
        exchange = Exchange(request.method, None, content_type)
        self.exchanges.append(exchange)
        keep = request.keep_alive

        async def reply(status: int, body: bytes, kind: str = "application/json") -> bool:
            exchange.status = status
            await _write(writer, status, body, kind, keep)
            return keep

        file_match = _FILE_PATH.fullmatch(path)
        api_match = _API_PATH.fullmatch(path)
        match = file_match or api_match
        if match is None or request.method not in ("GET", "POST"):
            return await reply(404, _error(404, "Not Found"))
        if match.group(1) != self.token:
            return await reply(401, _error(401, "Unauthorized"))
        if file_match is not None:
            content = self.telegram.file_content(file_match.group(2))
            if content is None:
                return await reply(404, _error(404, "Not Found"))
            return await reply(200, content, "application/octet-stream")

        assert api_match is not None
        method = self._methods.get(api_match.group(2).lower(), api_match.group(2))
        exchange.api_method = method
        if not method:
            return await reply(404, _error(404, "Not Found"))
        try:
            params, files = self._params(method, parts.query, content_type, request.body)
        except ValueError as exc:
            return await reply(400, _error(400, f"Bad Request: {exc}"))

        hold = next((h for h in self.holds if h.matches(method, params)), None)
        if hold is not None:
            hold.caught += 1
            self._notify()
        if hold is not None and not hold.accept:
            if await self._wait(reader, hold.released.is_set) == "gone":
                return False  # hung up while held: Telegram never got the call
        gone = method == "getUpdates" and await self._long_poll(params, reader) == "gone"

        status, body = self.telegram.handle(method, params, files)  # getUpdates: confirms offset
        self._notify()
        if gone:
            return False
        fault = transport_fault(body)
        if fault == "network":
            return False  # dropped before Telegram handled it
        if fault == "timeout":
            await self._wait(reader, lambda: False)
            return False  # handled, but the answer never comes
        if hold is not None and hold.accept:
            if await self._wait(reader, hold.released.is_set) == "gone":
                return False  # handled, the client never learnt it
        return await reply(status, json.dumps(body).encode())

    async def _long_poll(self, params: Mapping[str, Any], reader: asyncio.StreamReader) -> Outcome:
        """Wait (up to the call's ``timeout``) until there is something for getUpdates."""
        timeout = params.get("timeout")
        if not isinstance(timeout, int) or timeout <= 0:
            return "ready"
        offset = params.get("offset")

        def ready() -> bool:
            telegram = self.telegram
            if telegram.webhook.get("url"):
                return True  # answered at once with 409
            if any(f.method in ("*", "getUpdates") for f in telegram.faults):
                return True
            if isinstance(offset, int) and offset > 0:
                return any(u["update_id"] >= offset for u in telegram.updates)
            return bool(telegram.updates)

        return await self._wait(reader, ready, min(float(timeout), self.max_long_poll))

    async def _wait(
        self,
        reader: asyncio.StreamReader,
        condition: Callable[[], bool],
        within: float | None = None,
    ) -> Outcome:
        """Wait until ``condition()``, the timeout, or the client hanging up (or the server
        stopping, or the client sending more while it should wait: "gone")."""
        loop = asyncio.get_running_loop()
        deadline = None if within is None else loop.time() + within
        hangup = asyncio.ensure_future(reader.read(1))  # b"": the client closed the connection
        try:
            while True:
                if condition():
                    return "ready"
                if self._stopping or hangup.done():
                    return "gone"
                remaining = _SLICE if deadline is None else min(_SLICE, deadline - loop.time())
                if remaining <= 0:
                    return "timeout"
                change = asyncio.ensure_future(self._change.wait())
                await asyncio.wait(
                    {hangup, change}, timeout=remaining, return_when="FIRST_COMPLETED"
                )
                change.cancel()
        finally:
            hangup.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await hangup

    # == parameters ============================================================================

    def _params(
        self, method: str, query: str, content_type: str, body: bytes
    ) -> tuple[JSON, dict[str, UploadedFile]]:
        """The call's parameters as Python values (uploads as UploadedFile) and attach:// parts."""
        spec = self.telegram.spec
        params = self._form(method, dict(parse_qsl(query, keep_blank_values=True)))
        mime = content_type.split(";")[0].strip().lower()
        parts: dict[str, UploadedFile] = {}
        if not body:
            pass
        elif mime == "application/json":
            try:
                data = json.loads(body)
            except ValueError:
                raise ValueError("can't parse JSON") from None
            if not isinstance(data, dict):
                raise ValueError("JSON object expected")
            params.update(spec.decode_params(method, data))
        elif mime == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            params.update(self._form(method, form))
        elif mime == "multipart/form-data":
            fields: dict[str, str] = {}
            for name, filename, part_type, content in _multipart(content_type, body):
                if filename is None:
                    fields[name] = content.decode("utf-8")
                else:
                    parts[name] = UploadedFile(filename, content, part_type)
            params.update(self._form(method, fields))
        else:
            raise ValueError(f"unsupported Content-Type {mime!r}")
        referenced = set(_ATTACH.findall(json.dumps(params, default=str)))
        files: dict[str, UploadedFile] = {}
        for name, upload in parts.items():
            if name in referenced:
                files[name] = upload
            else:
                params[name] = upload  # a parameter uploaded directly, like sendPhoto.photo
        return params, files

    def _form(self, method: str, values: Mapping[str, str]) -> JSON:
        """Form values (all strings) as Telegram reads them: JSON objects, numbers, booleans."""
        params = self.telegram.spec.decode_params(method, values, form=True)
        spec = self.telegram.spec.methods.get(method)
        for name, value in params.items():
            fld = spec.fields.get(name) if spec else None
            # "Integer or String" (chat_id): digits are the integer.
            if fld and "Integer" in fld.types and isinstance(value, str):
                if _INTEGER.fullmatch(value):
                    params[name] = int(value)
        return params

    # == webhook ===============================================================================

    def _allow_local_webhooks(self) -> None:
        """Accept ``http://127.0.0.1:<any port>/...`` in setWebhook and keep the secret."""
        handlers = self.telegram._handlers
        original = handlers["setWebhook"]

        def set_webhook(p: JSON, files: Mapping[str, UploadedFile]) -> Any:
            url = p.get("url") or ""
            local = _LOCAL_WEBHOOK.fullmatch(url) is not None
            result = original({**p, "url": _STAND_IN_WEBHOOK} if local else p, files)
            self.telegram.webhook["url"] = url
            self.webhook_secret = p.get("secret_token")
            return result

        handlers["setWebhook"] = set_webhook

    async def _push_loop(self) -> None:
        """Deliver queued updates to the webhook like Telegram: in order, one at a time,
        retrying until the webhook answers 2xx."""
        async with httpx.AsyncClient(timeout=self.webhook_timeout) as client:
            while not self._stopping:
                url = str(self.telegram.webhook.get("url") or "")
                if not url or not self.telegram.updates:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._change.wait(), _SLICE)
                    continue
                update = copy.deepcopy(min(self.telegram.updates, key=lambda u: u["update_id"]))
                secret = self.webhook_secret
                headers = {"Content-Type": "application/json"}
                if secret:
                    headers[SECRET_HEADER] = secret
                status, error = 0, None
                try:
                    response = await client.post(url, content=json.dumps(update), headers=headers)
                    status = response.status_code
                    if not 200 <= status < 300:
                        error = (
                            f"Wrong response from the webhook: {status} {response.reason_phrase}"
                        )
                except httpx.HTTPError as exc:
                    error = f"Connection failed: {type(exc).__name__}"
                uid = update["update_id"]
                self.webhook_deliveries.append(WebhookDelivery(uid, url, secret, status, error))
                if error is None:
                    self.telegram.updates = [
                        u for u in self.telegram.updates if u["update_id"] != uid
                    ]
                else:
                    self.telegram.webhook["last_error_date"] = int(self.telegram.clock())
                    self.telegram.webhook["last_error_message"] = error
                self._notify()
                if error is not None:
                    await asyncio.sleep(self.webhook_retry_delay)


# == HTTP/1.1 plumbing =========================================================================


def _error(code: int, description: str) -> bytes:
    return json.dumps({"ok": False, "error_code": code, "description": description}).encode()


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One request from the connection; None when the client closed it."""
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError("not an HTTP/1.x request line")
    headers: dict[str, str] = {}
    while True:
        header = await reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while size := int((await reader.readline()).split(b";")[0].strip() or b"0", 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        body = b"".join(chunks)
    else:
        length = int(headers.get("content-length") or 0)
        body = await reader.readexactly(length) if length else b""
    return _Request(parts[0].upper(), parts[1], parts[2].upper(), headers, body)


async def _write(
    writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str, keep: bool
) -> None:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Server: fake-telegram\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    await writer.drain()


def _header_params(value: str) -> Message:
    message = Message()
    message["content-disposition"] = value
    return message


def _multipart(content_type: str, body: bytes) -> list[tuple[str, str | None, str | None, bytes]]:
    """The parts of a multipart/form-data body: (name, filename, content type, content)."""
    boundary = _header_params(content_type).get_param("boundary", header="content-disposition")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("multipart/form-data without a boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    sections = (b"\r\n" + body).split(delimiter)
    if len(sections) < 3 or not sections[-1].startswith(b"--"):
        raise ValueError("malformed multipart/form-data")
    out = []
    for section in sections[1:-1]:
        head, sep, content = section.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("malformed multipart/form-data part")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = _header_params(headers.get("content-disposition", ""))
        part_name = disposition.get_param("name", header="content-disposition")
        filename = disposition.get_filename()
        if not isinstance(part_name, str):
            raise ValueError("multipart/form-data part without a name")
        out.append((part_name, filename, headers.get("content-type"), content))
    return out


# == people over HTTP ==========================================================================

PROBE_USER_ID = 777_000_001


class HttpHarness(Harness):
    """:class:`~.users.Harness` whose updates reach the bot through ``server`` (getUpdates or
    the webhook), so the bot may run in this process or in another one.

    The application handles updates one at a time, so after each update a probe user sends
    /help: when its answer arrives, the update before it has been handled completely. Replies
    are then collected as :meth:`Harness.deliver` does.
    """

    def __init__(
        self,
        server: FakeBotApiServer,
        *,
        app: Any = None,
        require_callback_answers: bool = True,
        timeout: float = 15.0,
    ) -> None:
        # Not Harness.__init__: it needs the application, which may live in another process.
        self.server = server
        self.app = app
        self.telegram = server.telegram
        self.require_callback_answers = require_callback_answers
        self.raise_errors = False
        self.timeout = timeout
        self.users = {}
        self.groups = {}
        self.errors = []
        self._ids = itertools.count(1)
        self._admin = None
        self._probe: FakeUser | None = None
        if app is not None:
            app.add_error_handler(self._record_error)

    async def process(self, update: Mapping[str, Any], *, validate: bool = True) -> None:
        data = dict(update)
        if validate:
            data.setdefault("update_id", self.telegram.next_update_id())
            problems = self.telegram.spec.check_value(data, ["Update"], "update")
            assert not problems, "malformed update: " + "; ".join(str(p) for p in problems)
        self.server.queue_update(data)
        await self.settle()

    async def settle(self) -> None:
        """Wait until the bot has handled every update queued so far."""
        if self._probe is None:
            data = {"id": PROBE_USER_ID, "is_bot": False, "first_name": "Probe"}
            self.telegram.register_user({**data, "language_code": "en"})
            self._probe = FakeUser(self, {**data, "language_code": "en"})
        probe = self._probe
        content = {"text": "/help", "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}
        message = self.telegram.add_user_message(probe.id, probe.data, content)
        seq = self.telegram.seq
        self.server.queue_update({"message": message})
        await self.server.wait_for(
            lambda: self.telegram.changes_since(seq, probe.id)[0],
            self.timeout,
            "the bot to answer the probe's /help (it handles updates in order)",
        )


# == by hand ===================================================================================


async def _serve(token: str, port: int) -> None:
    async with FakeBotApiServer(token=token, port=port) as server:
        print(f"Fake Bot API: BOT_API_BASE_URL={server.base_url}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve an empty fake Telegram Bot API.")
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.token, args.port))


if __name__ == "__main__":
    main()
