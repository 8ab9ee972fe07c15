"""The source of the current time, so schedules and deadlines can be tested."""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
