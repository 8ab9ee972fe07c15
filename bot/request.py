"""The Bot API transport of the bot's own calls: the update's shared reads end before a call
goes out (a call may wait seconds on the network or the rate limiter)."""

from __future__ import annotations

from typing import Any

from telegram.request import BaseRequest, RequestData

from storage.db import Database


class ReleasingRequest(BaseRequest):
    """Wraps a transport (HTTPX, or the offline fake in tests); `Database.release_reads()`
    runs before each request."""

    def __init__(self, inner: BaseRequest, db: Database) -> None:
        self.inner = inner
        self.db = db

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | Any | None = BaseRequest.DEFAULT_NONE,  # PTB's "not given"
        write_timeout: float | Any | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | Any | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | Any | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        await self.db.release_reads()
        return await self.inner.do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
