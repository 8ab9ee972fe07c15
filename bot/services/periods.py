"""Reporting periods in the campaign's time zone: week, month, quarter, half-year, year."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


class PeriodKind(enum.StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    HALF = "half"
    YEAR = "year"


@dataclass(frozen=True)
class Period:
    """Local calendar days [start, end) of one period."""

    kind: PeriodKind
    start: date
    end: date  # exclusive

    @property
    def key(self) -> str:
        """A stable name: 2026-W47, 2026-11, 2026-Q4, 2026-H2, 2026."""
        y = self.start.year
        match self.kind:
            case PeriodKind.WEEK:
                iso = self.start.isocalendar()
                return f"{iso.year}-W{iso.week:02d}"
            case PeriodKind.MONTH:
                return f"{y}-{self.start.month:02d}"
            case PeriodKind.QUARTER:
                return f"{y}-Q{(self.start.month - 1) // 3 + 1}"
            case PeriodKind.HALF:
                return f"{y}-H{1 if self.start.month < 7 else 2}"
        return str(y)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def utc_bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The period's start and end as UTC instants (local midnights)."""
        return local_midnight(self.start, tz), local_midnight(self.end, tz)

    def previous(self) -> Period:
        return containing(self.kind, self.start - timedelta(days=1))


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def containing(kind: PeriodKind, day: date) -> Period:
    """The period of `kind` that holds the local day `day`."""
    if kind is PeriodKind.WEEK:
        start = day - timedelta(days=day.weekday())
        return Period(kind, start, start + timedelta(days=7))
    months = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.HALF: 6, PeriodKind.YEAR: 12}
    size = months[kind]
    first_month = (day.month - 1) // size * size + 1
    start = date(day.year, first_month, 1)
    return Period(kind, start, _add_months(start, size))


def parse_key(kind: PeriodKind, key: str) -> Period:
    """The period named by `key` (the inverse of Period.key); ValueError when malformed."""
    try:
        if kind is PeriodKind.WEEK:
            year, week = key.split("-W")
            return containing(kind, date.fromisocalendar(int(year), int(week), 1))
        if kind is PeriodKind.MONTH:
            year, month = key.split("-")
            return containing(kind, date(int(year), int(month), 1))
        if kind is PeriodKind.QUARTER:
            year, quarter = key.split("-Q")
            return containing(kind, date(int(year), (int(quarter) - 1) * 3 + 1, 1))
        if kind is PeriodKind.HALF:
            year, half = key.split("-H")
            return containing(kind, date(int(year), (int(half) - 1) * 6 + 1, 1))
        return containing(kind, date(int(key), 1, 1))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad period {kind}:{key}") from exc


def elapsed_share(starts_on: date, ends_on: date, upto: date) -> float:
    """The share (0..1) of the campaign's days up to (not including) the local day `upto`."""
    total = (ends_on - starts_on).days + 1
    done = (min(upto, ends_on + timedelta(days=1)) - starts_on).days
    return max(0.0, min(1.0, done / total)) if total > 0 else 1.0
