"""Refusals a service can give; each code has a translated text in bot.texts."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request that cannot be carried out; nothing was changed."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


class Forbidden(ServiceError):
    """The actor lacks the role for this action."""

    def __init__(self) -> None:
        super().__init__("forbidden")
