"""The campaign's regular reports as data: weekly bulletin, monthly assessment, rankings.

`build` reads everything a report shows in a fixed number of aggregate statements, whatever
the size of the plant; `bot.bulletins` turns a report into text and `bot.charts` into a chart.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.services import figures
from bot.services.campaigns import current
from bot.services.figures import (
    CategoryFigures,
    GoldIdea,
    GroupFigures,
    PlantFigures,
    Span,
    UnitFigures,
    WorkerFigures,
)
from bot.services.periods import Period, PeriodKind
from bot.services.review import Limits, count_overdue
from storage.db import Database
from storage.models import Campaign


class ReportKind(enum.StrEnum):
    WEEKLY = "weekly"  # 节约通报
    MONTHLY = "monthly"  # 月度考评
    QUARTERLY = "quarterly"  # 季度评比
    HALF = "half"  # 半年总结
    YEAR = "year"  # 年度总结


PERIOD_OF = {
    ReportKind.WEEKLY: PeriodKind.WEEK,
    ReportKind.MONTHLY: PeriodKind.MONTH,
    ReportKind.QUARTERLY: PeriodKind.QUARTER,
    ReportKind.HALF: PeriodKind.HALF,
    ReportKind.YEAR: PeriodKind.YEAR,
}
TOP_WORKERS = 10
SUMMARIES = (ReportKind.QUARTERLY, ReportKind.HALF, ReportKind.YEAR)


@dataclass(frozen=True)
class Weights:
    savings: int = 40
    participation: int = 30
    approval: int = 20
    waste: int = 10
    waste_penalty: int = 2

    @classmethod
    def of(cls, s: Settings) -> Weights:
        return cls(
            s.score_savings,
            s.score_participation,
            s.score_approval,
            s.score_waste,
            s.waste_penalty,
        )


@dataclass(frozen=True)
class Score:
    """A unit's 100-point monthly assessment, part by part (one decimal each)."""

    unit: UnitFigures
    savings: float
    participation: float
    approval: float
    waste: float

    @property
    def total(self) -> float:
        return round(self.savings + self.participation + self.approval + self.waste, 1)


def period_target(campaign: Campaign, period: Period) -> Decimal:
    """The share of the per-head target that falls in the period's days of the campaign."""
    days = (campaign.ends_on - campaign.starts_on).days + 1
    start = max(period.start, campaign.starts_on)
    end = min(period.last_day, campaign.ends_on)
    inside = max(0, (end - start).days + 1)
    return campaign.per_head_target * Decimal(inside) / Decimal(days) if days > 0 else Decimal(0)


def score(unit: UnitFigures, target: Decimal, w: Weights) -> Score:
    savings = min(1.0, float(unit.per_head / target)) if target > 0 else 0.0
    taking_part = min(1.0, unit.participants / unit.headcount) if unit.headcount else 0.0
    decided = unit.approved + unit.rejected
    approval = unit.approved / decided if decided else 0.0
    waste = max(0, w.waste - w.waste_penalty * unit.open_waste)
    return Score(
        unit=unit,
        savings=round(w.savings * savings, 1),
        participation=round(w.participation * taking_part, 1),
        approval=round(w.approval * approval, 1),
        waste=float(waste),
    )


def scores(units: list[UnitFigures], target: Decimal, w: Weights) -> list[Score]:
    ranked = [score(u, target, w) for u in units if not u.archived]
    ranked.sort(key=lambda s: (-s.total, -s.unit.per_head, s.unit.name))
    return ranked


@dataclass
class Report:
    kind: ReportKind
    period: Period
    campaign: Campaign
    today: date
    plant: PlantFigures
    units: list[UnitFigures]
    workers: list[WorkerFigures] = field(default_factory=list)
    gold: list[GoldIdea] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    groups: list[GroupFigures] = field(default_factory=list)
    categories: list[CategoryFigures] = field(default_factory=list)
    overdue: int = 0
    period_target: Decimal = Decimal("0")

    def pace(self, unit: UnitFigures) -> float:
        return figures.pace_pct(unit.per_head_to_date, self.campaign, self.plant.elapsed)


async def build(
    db: Database,
    kind: ReportKind,
    period: Period,
    settings: Settings,
    now: datetime,
    *,
    unit_ids: set[int] | None = None,
) -> Report | None:
    """The report of `kind` for `period`; None when there is no active campaign."""
    tz: ZoneInfo = settings.tzinfo
    today = now.astimezone(tz).date()
    span = Span.of(period, tz)
    async with db.read() as session:
        campaign = await current(session)
        if campaign is None:
            return None
        units = await figures.unit_figures(session, campaign.id, span)
        if unit_ids is not None:
            units = [u for u in units if u.unit_id in unit_ids]
        plant = figures.plant_figures(campaign, units, min(period.end, today + timedelta(days=1)))
        report = Report(kind, period, campaign, today, plant, units)
        report.period_target = period_target(campaign, period)
        report.workers = await figures.top_workers(session, campaign.id, period, TOP_WORKERS)
        report.gold = await figures.gold_ideas(session, campaign.id, span)
        if kind is ReportKind.WEEKLY:
            report.overdue = await count_overdue(session, campaign.id, Limits.of(settings), now)
        if kind is ReportKind.MONTHLY:
            report.scores = scores(units, report.period_target, Weights.of(settings))
        if kind in (ReportKind.HALF, ReportKind.YEAR):
            report.groups = await figures.group_figures(session, campaign.id, span)
            report.categories = await figures.category_figures(session, campaign.id, span)
    return report
