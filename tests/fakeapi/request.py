"""A ``telegram.request.BaseRequest`` that talks to a :class:`~.core.FakeTelegram` in-process.

Use it for both request objects of a bot, so that nothing ever touches the network::

    telegram = FakeTelegram()
    request = FakeRequest(telegram)
    app = (
        Application.builder().token("123:TEST")
        .request(request).get_updates_request(request).build()
    )

File downloads (``File.download_*``) are served from the fake's stored file contents.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from .core import FakeTelegram, transport_fault
from .spec import UploadedFile

__all__ = ["FakeRequest"]

_FILE_URL_RE = re.compile(r"/file/bot[^/]+/(.+)$")
_ATTACH_RE = re.compile(r"attach://([^\"\s]+)")


class FakeRequest(BaseRequest):
    """Answers PTB's requests with :meth:`FakeTelegram.handle`; raises injected transport faults.

    ``long_poll_wait``: how long an empty ``getUpdates`` with a timeout waits before answering,
    so that a polling loop does not spin.
    """

    def __init__(
        self,
        telegram: FakeTelegram,
        *,
        read_timeout: float | None = 5.0,
        long_poll_wait: float = 0.01,
    ) -> None:
        self.telegram = telegram
        self._read_timeout = read_timeout
        self.long_poll_wait = long_poll_wait

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    def decode(
        self, api_method: str, request_data: RequestData | None
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        """Parameters as JSON values (uploads as :class:`UploadedFile`) and attach:// parts."""
        if request_data is None:
            return {}, {}
        params: dict[str, Any] = {}
        for name, value in request_data.parameters.items():
            # A JSON round trip gives exactly what Telegram would receive (tuples become lists).
            params[name] = value if isinstance(value, str) else json.loads(json.dumps(value))
        files: dict[str, UploadedFile] = {}
        parts = request_data.multipart_data
        referenced = set(_ATTACH_RE.findall(json.dumps(params))) if parts else set()
        for part, (filename, content, mime_type) in parts.items():
            data = content if isinstance(content, bytes) else content.read()
            upload = UploadedFile(filename or part, bytes(data), mime_type)
            if part in referenced:
                files[part] = upload
            else:
                params[part] = upload  # a parameter uploaded directly, like sendPhoto.photo
        return self.telegram.spec.decode_params(api_method, params), files

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | Any | None = BaseRequest.DEFAULT_NONE,
        write_timeout: float | Any | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | Any | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | Any | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        await asyncio.sleep(0)  # yield to the event loop like real I/O would
        file_match = _FILE_URL_RE.search(url)
        if file_match is not None:
            content = self.telegram.file_content(file_match.group(1))
            if content is None:
                body = {"ok": False, "error_code": 404, "description": "Not Found"}
                return 404, json.dumps(body).encode()
            return 200, content

        api_method = url.rstrip("/").rsplit("/", 1)[-1]
        params, files = self.decode(api_method, request_data)
        status, body = self.telegram.handle(api_method, params, files)

        fault = transport_fault(body)
        if fault == "network":
            raise NetworkError(f"Fake network error: {api_method} never reached Telegram")
        if fault == "connect_timeout":
            raise TimedOut(
                f"Fake timeout: {api_method} could not connect"
            ) from httpx.ConnectTimeout("connect timed out")
        if fault == "timeout":
            raise TimedOut(f"Fake timeout: {api_method} was accepted, but no answer arrived")
        if (
            api_method == "getUpdates"
            and status == 200
            and not body["result"]
            and params.get("timeout")
        ):
            await asyncio.sleep(self.long_poll_wait)
        return status, json.dumps(body).encode()
