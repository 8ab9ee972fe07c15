"""Figures the fault tests measure while they run (counts of calls, rows and messages), printed
after the session as a "Reliability figures" block (`pytest_terminal_summary` in conftest.py)
and quoted in the README. A test records a figure before its final assertions, so a failing
run prints what went wrong too.

`record` keeps one line per key (the last one recorded); `tally` adds counts to a running total
under its key, for figures gathered across several tests (parametrized cases, scenarios)."""

from __future__ import annotations

from collections import Counter

FIGURES: dict[str, str] = {}
_TOTALS: dict[str, Counter[str]] = {}


def record(key: str, line: str) -> None:
    """Set the line shown for `key`."""
    FIGURES[key] = line


def tally(key: str, template: str, **counts: int) -> None:
    """Add `counts` to the totals kept under `key`; the line is `template` formatted with the
    totals so far (for example "{inputs:,} inputs: {errors} unhandled errors")."""
    totals = _TOTALS.setdefault(key, Counter())
    for name, n in counts.items():
        totals[name] += n
    record(key, template.format_map(totals))


def lines() -> list[str]:
    """One line per key, sorted by key."""
    return [f"{key}: {FIGURES[key]}" for key in sorted(FIGURES)]
