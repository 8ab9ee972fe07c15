"""Charts for the posts (PNG, matplotlib): units' savings per head against the target.

Chinese labels need a CJK font, and a fresh machine has none: the package ships a subset of
Noto Sans CJK SC (bot/fonts/, SIL OFL 1.1) and registers it with matplotlib. Characters the
subset lacks fall back to CJK fonts installed on the machine, if any.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from decimal import Decimal
from functools import cache
from pathlib import Path

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text

from bot.i18n import Translator
from bot.services.figures import UnitFigures

FONT_PATH = Path(__file__).resolve().parent / "fonts" / "NotoSansCJKsc-Subset.otf"
FALLBACKS = ["Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "DejaVu Sans"]
MAX_BARS = 30
BAR = "#2e7d32"
BEHIND = "#c62828"


@cache
def font_family() -> str:
    """Register the shipped font once; its family name."""
    font_manager.fontManager.addfont(str(FONT_PATH))
    return font_manager.FontProperties(fname=str(FONT_PATH)).get_name()


@cache
def families() -> list[str]:
    """The shipped font first, then CJK fonts installed here (for characters it lacks)."""
    ours = font_family()
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return [ours, *[f for f in FALLBACKS if f != ours and f in installed]]


def texts_of(figure: Figure) -> Iterator[Text]:
    """Every text artist in the figure (labels, ticks, title, legend)."""
    for artist in figure.findobj(Text):
        if isinstance(artist, Text) and artist.get_text():
            yield artist


def units_chart(
    units: Sequence[UnitFigures],
    *,
    per_head_target: Decimal,
    due_per_head: Decimal,
    title: str,
    tr: Translator,
) -> bytes:
    """Bars: each unit's savings per head to date, best first; lines: the year's per-head
    target and the share of it due by now."""
    return render(
        units_figure(
            units, per_head_target=per_head_target, due_per_head=due_per_head, title=title, tr=tr
        )
    )


def units_figure(
    units: Sequence[UnitFigures],
    *,
    per_head_target: Decimal,
    due_per_head: Decimal,
    title: str,
    tr: Translator,
) -> Figure:
    shown = sorted(units, key=lambda u: (-u.per_head_to_date, u.name))[:MAX_BARS]
    figure = Figure(figsize=(max(6.0, 0.45 * len(shown) + 2.5), 4.8), dpi=110)
    with matplotlib.rc_context({"font.family": families(), "axes.unicode_minus": False}):
        axes = figure.add_subplot()
        names = [u.name for u in shown]
        values = [float(u.per_head_to_date) for u in shown]
        colours = [BAR if v >= float(due_per_head) else BEHIND for v in values]
        axes.bar(range(len(shown)), values, color=colours)
        axes.set_xticks(range(len(shown)), names, rotation=45, ha="right")
        axes.axhline(
            float(per_head_target),
            color="#1565c0",
            linewidth=1.5,
            label=tr.plain("Year target {amount} yuan/head", amount=f"{per_head_target:,.0f}"),
        )
        if 0 < due_per_head < per_head_target:
            axes.axhline(
                float(due_per_head),
                color="#ef6c00",
                linewidth=1.2,
                linestyle="--",
                label=tr.plain("Due by now {amount} yuan/head", amount=f"{due_per_head:,.0f}"),
            )
        axes.set_ylabel(tr.plain("Saved per head (yuan)"))
        axes.set_title(title)
        axes.legend(loc="upper right", fontsize=8)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
    return figure


def render(figure: Figure) -> bytes:
    with matplotlib.rc_context({"font.family": families()}):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()
