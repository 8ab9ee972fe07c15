"""Savings figures computed in SQL: what counts, who is credited, how units and people stand.

Every figure is one aggregate statement over indexed columns (a fixed number of statements per
report, whatever the number of units or items). The counted amount of an idea is its verified
amount if there is one, else its certified amount; it counts in the period it was approved, and
co-authors share it equally.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Subquery,
    and_,
    case,
    func,
    literal,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.services.periods import Period, elapsed_share
from storage.db import Database
from storage.models import (
    Campaign,
    Category,
    Grade,
    Item,
    ItemAuthor,
    ItemKind,
    ItemStatus,
    Member,
    MemberGroup,
    MemberStatus,
    Unit,
)

# An idea's saving counts once the committee has certified it.
COUNTED_STATUSES = (ItemStatus.APPROVED, ItemStatus.IMPLEMENTED, ItemStatus.VERIFIED)
YUAN = Decimal("0.01")


def counted_fen() -> ColumnElement[int]:
    """The counted amount of an item in fen: its verified amount if there is one, else its
    certified amount (raw integers, so sums stay exact)."""
    return func.coalesce(
        type_coerce(Item.verified_amount, BigInteger),
        type_coerce(Item.certified_amount, BigInteger),
        0,
    )


def yuan(fen: float | int | None) -> Decimal:
    """Fen (possibly a fractional share) as yuan, rounded to the fen."""
    return (Decimal(repr(float(fen or 0))) / 100).quantize(YUAN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Span:
    """UTC instants [start, end) that figures are computed over."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, period: Period, tz: ZoneInfo) -> Span:
        return cls(*period.utc_bounds(tz))


def _counted(campaign_id: int) -> list[ColumnElement[bool]]:
    return [
        Item.campaign_id == campaign_id,
        Item.kind == ItemKind.IDEA,
        Item.status.in_(COUNTED_STATUSES),
    ]


def _within(column: Any, span: Span | None) -> ColumnElement[bool]:
    """`column` (a timestamp) falls within the span; always true without one."""
    if span is None:
        return true()
    return and_(column >= span.start, column < span.end)


def author_counts() -> Subquery:
    """How many authors each item has: each is credited an equal share."""
    return (
        select(ItemAuthor.item_id, func.count().label("n"))
        .group_by(ItemAuthor.item_id)
        .subquery("authors_per_item")
    )


def _authors_of_item() -> ColumnElement[int]:
    """The number of authors of the row's item (an index lookup per item, so only the items
    a figure needs are counted, never the whole table)."""
    other = aliased(ItemAuthor)
    return (
        select(func.count())
        .select_from(other)
        .where(other.item_id == Item.id)
        .correlate(Item)
        .scalar_subquery()
    )


def _share() -> ColumnElement[float]:
    """An author's share of the row's item, in fen (a float: shares may split a fen)."""
    return type_coerce(counted_fen(), Float) / (_authors_of_item() + 0.0)


def member_shares(campaign_id: int, span: Span | None = None) -> Subquery:
    """Each member's credited savings (in fen, a float: shares may split a fen), for ideas
    approved within `span` (all when None)."""
    return (
        select(ItemAuthor.member_id, func.sum(_share()).label("fen"))
        .join(Item, Item.id == ItemAuthor.item_id)
        .where(*_counted(campaign_id), _approved(span))
        .group_by(ItemAuthor.member_id)
        .subquery("shares")
    )


def _approved(span: Span | None) -> ColumnElement[bool]:
    """Approved within the span; without one, approved at all (every counted idea has its
    approval time: the condition lets the approval-time index find them)."""
    if span is None:
        return Item.approved_at.is_not(None)
    return _within(Item.approved_at, span)


# ---- units ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitFigures:
    unit_id: int
    name: str
    archived: bool
    headcount: int  # as set by the office, else the unit's active members
    submitted: int  # ideas submitted in the period
    approved: int  # ideas approved in the period
    rejected: int  # ideas rejected in the period
    participants: int  # the unit's people who (co-)authored an idea submitted in the period
    saved: Decimal  # counted savings of ideas approved in the period
    saved_to_date: Decimal  # counted savings from the campaign's start to the period's end
    open_waste: int  # waste reports about the unit still open at the period's end

    @property
    def per_head(self) -> Decimal:
        return _per_head(self.saved, self.headcount)

    @property
    def per_head_to_date(self) -> Decimal:
        return _per_head(self.saved_to_date, self.headcount)

    @property
    def active(self) -> bool:
        """Worth a line in a report."""
        return not self.archived or bool(self.submitted or self.saved_to_date or self.open_waste)


def _per_head(amount: Decimal, headcount: int) -> Decimal:
    return (amount / headcount).quantize(YUAN, ROUND_HALF_UP) if headcount > 0 else Decimal("0.00")


async def unit_figures(
    session: AsyncSession, campaign_id: int, span: Span, *, savings_only: bool = False
) -> list[UnitFigures]:
    """Every unit's figures for the span, best savings per head first (one statement).

    Each part reads only its rows, by its own index (ideas submitted, approved, rejected in
    the span; savings to date; open waste reports), rather than the whole campaign.
    `savings_only`: headcounts and savings alone (the counts of ideas, people taking part and
    open waste reports are left at 0), which over a long span is much cheaper."""
    ours = Item.campaign_id == campaign_id
    idea = Item.kind == ItemKind.IDEA
    submitted = (
        select(Item.unit_id.label("unit_id"), func.count().label("n"))
        .where(ours, _within(Item.submitted_at, span), idea)
        .group_by(Item.unit_id)
        .subquery("unit_submitted")
    )

    # Savings per unit: by the unit's approvals (an index range per unit, no sorting of the
    # campaign's approvals). Counted statuses are those of ideas only.
    def approvals(value: ColumnElement[Any], since: datetime | None) -> ColumnElement[Any]:
        return (
            select(value)
            .where(
                ours,
                Item.unit_id == Unit.id,
                Item.approved_at < span.end,
                true() if since is None else Item.approved_at >= since,
                Item.status.in_(COUNTED_STATUSES),
            )
            .correlate(Unit)
            .scalar_subquery()
        )

    fen = counted_fen()
    approved = approvals(func.count(), span.start)
    saved = approvals(func.coalesce(func.sum(fen), 0), span.start)
    to_date = approvals(func.coalesce(func.sum(fen), 0), None)
    rejected = (
        select(Item.unit_id.label("unit_id"), func.count().label("n"))
        .where(ours, idea, _within(Item.closed_at, span), Item.status == ItemStatus.REJECTED)
        .group_by(Item.unit_id)
        .subquery("unit_rejected")
    )
    # Open at the span's end: not closed yet, or closed after it (two ranges of the closing
    # index; the submission time is tested in the count so that it picks no other index).
    waste = [ours, Item.kind == ItemKind.WASTE]
    still_open = union_all(
        select(Item.unit_id, Item.submitted_at).where(*waste, Item.closed_at.is_(None)),
        select(Item.unit_id, Item.submitted_at).where(*waste, Item.closed_at >= span.end),
    ).subquery("waste_open")
    open_waste = (
        select(
            still_open.c.unit_id.label("unit_id"),
            func.count(case((still_open.c.submitted_at < span.end, 1))).label("n"),
        )
        .group_by(still_open.c.unit_id)
        .subquery("unit_open_waste")
    )
    people = (
        select(Member.unit_id.label("unit_id"), func.count().label("n"))
        .where(Member.status == MemberStatus.ACTIVE)
        .group_by(Member.unit_id)
        .subquery("unit_people")
    )
    taking_part = (
        select(
            Member.unit_id.label("unit_id"),
            func.count(func.distinct(ItemAuthor.member_id)).label("n"),
        )
        .join(Item, Item.id == ItemAuthor.item_id)
        .join(Member, Member.id == ItemAuthor.member_id)
        .where(ours, _within(Item.submitted_at, span), idea)
        .group_by(Member.unit_id)
        .subquery("unit_participants")
    )
    headcount = case((Unit.headcount > 0, Unit.headcount), else_=func.coalesce(people.c.n, 0))
    query = select(Unit.id, Unit.name, Unit.archived, headcount).outerjoin(
        people, people.c.unit_id == Unit.id
    )
    counts: list[ColumnElement[Any]] = []
    for part in (submitted, rejected, taking_part, open_waste):
        if savings_only:
            counts.append(literal(0))
        else:
            counts.append(func.coalesce(part.c.n, 0))
            query = query.outerjoin(part, part.c.unit_id == Unit.id)
    n_submitted, n_rejected, n_taking_part, n_open_waste = counts
    rows = await session.execute(
        query.add_columns(
            n_submitted, approved, n_rejected, n_taking_part, saved, to_date, n_open_waste
        )
    )
    figures = [
        UnitFigures(
            unit_id=r[0],
            name=r[1],
            archived=bool(r[2]),
            headcount=int(r[3]),
            submitted=int(r[4]),
            approved=int(r[5]),
            rejected=int(r[6]),
            participants=int(r[7]),
            saved=yuan(r[8]),
            saved_to_date=yuan(r[9]),
            open_waste=int(r[10]),
        )
        for r in rows
    ]
    figures = [f for f in figures if f.active]
    figures.sort(key=lambda f: (-f.per_head, -f.saved, f.name))
    return figures


# ---- the plant --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlantFigures:
    """The plant against both targets, for a period, from its units' figures."""

    headcount: int
    submitted: int
    approved: int
    saved: Decimal
    saved_to_date: Decimal
    total_target: Decimal
    per_head_target: Decimal
    elapsed: float  # share of the campaign year gone at the period's end (0..1)

    @property
    def per_head_to_date(self) -> Decimal:
        return _per_head(self.saved_to_date, self.headcount)

    @property
    def total_pct(self) -> float:
        return _pct(self.saved_to_date, self.total_target)

    @property
    def per_head_pct(self) -> float:
        return _pct(self.per_head_to_date, self.per_head_target)

    @property
    def elapsed_pct(self) -> float:
        return round(self.elapsed * 100, 1)


def _pct(part: Decimal, whole: Decimal) -> float:
    return round(float(part / whole * 100), 1) if whole > 0 else 0.0


def plant_figures(campaign: Campaign, units: list[UnitFigures], upto: date) -> PlantFigures:
    """The plant's totals; `upto` is the (exclusive) local day the campaign year is measured to."""
    return PlantFigures(
        headcount=sum(u.headcount for u in units),
        submitted=sum(u.submitted for u in units),
        approved=sum(u.approved for u in units),
        saved=sum((u.saved for u in units), Decimal("0.00")),
        saved_to_date=sum((u.saved_to_date for u in units), Decimal("0.00")),
        total_target=campaign.total_target,
        per_head_target=campaign.per_head_target,
        elapsed=elapsed_share(campaign.starts_on, campaign.ends_on, upto),
    )


def target_pct(amount_per_head: Decimal, campaign: Campaign) -> float:
    return _pct(amount_per_head, campaign.per_head_target)


def pace_pct(amount_per_head: Decimal, campaign: Campaign, elapsed: float) -> float:
    """Savings per head against the share of the per-head target due by now (100 = on pace)."""
    due = float(campaign.per_head_target) * elapsed
    return round(float(amount_per_head) / due * 100, 1) if due > 0 else 0.0


# ---- people, groups, categories ---------------------------------------------------------------


@dataclass(frozen=True)
class WorkerFigures:
    member_id: int
    name: str
    unit: str
    saved: Decimal


async def top_workers(
    session: AsyncSession, campaign_id: int, span: Span | None, limit: int
) -> list[WorkerFigures]:
    shares = member_shares(campaign_id, span)
    rows = await session.execute(
        select(Member.id, Member.name, func.coalesce(Unit.name, ""), shares.c.fen)
        .join(shares, shares.c.member_id == Member.id)
        .outerjoin(Unit, Unit.id == Member.unit_id)
        .where(shares.c.fen > 0)
        .order_by(shares.c.fen.desc(), Member.name, Member.id)
        .limit(limit)
    )
    return [WorkerFigures(r[0], r[1], r[2], yuan(r[3])) for r in rows]


@dataclass(frozen=True)
class GroupFigures:
    group: str
    members: int
    participants: int
    saved: Decimal


async def group_figures(session: AsyncSession, campaign_id: int, span: Span) -> list[GroupFigures]:
    """Party members, league members and other staff: people, who took part, savings."""
    shares = member_shares(campaign_id, span)
    submitters = (
        select(ItemAuthor.member_id)
        .join(Item, Item.id == ItemAuthor.item_id)
        .where(
            Item.campaign_id == campaign_id,
            Item.kind == ItemKind.IDEA,
            _within(Item.submitted_at, span),
        )
        .distinct()
        .subquery("submitters")
    )
    rows = await session.execute(
        select(
            Member.group,
            func.count(Member.id),
            func.count(submitters.c.member_id),
            func.coalesce(func.sum(shares.c.fen), 0),
        )
        .outerjoin(shares, shares.c.member_id == Member.id)
        .outerjoin(submitters, submitters.c.member_id == Member.id)
        .where(Member.status == MemberStatus.ACTIVE)
        .group_by(Member.group)
    )
    found = {r[0]: GroupFigures(r[0], int(r[1]), int(r[2]), yuan(r[3])) for r in rows}
    return [found.get(g, GroupFigures(g, 0, 0, Decimal("0.00"))) for g in MemberGroup]


@dataclass(frozen=True)
class CategoryFigures:
    name_zh: str
    name_en: str
    submitted: int
    approved: int
    saved: Decimal


async def category_figures(
    session: AsyncSession, campaign_id: int, span: Span
) -> list[CategoryFigures]:
    counted = Item.status.in_(COUNTED_STATUSES)
    rows = await session.execute(
        select(
            Category.name_zh,
            Category.name_en,
            func.count(case((_within(Item.submitted_at, span), 1))),
            func.count(case((and_(counted, _within(Item.approved_at, span)), 1))),
            func.sum(
                case((and_(counted, _within(Item.approved_at, span)), counted_fen()), else_=0)
            ),
        )
        .join(Item, and_(Item.category_id == Category.id, Item.kind == ItemKind.IDEA))
        .where(Category.campaign_id == campaign_id)
        .group_by(Category.id, Category.name_zh, Category.name_en, Category.position)
        .order_by(Category.position)
    )
    return [
        CategoryFigures(r[0], r[1], int(r[2]), int(r[3]), yuan(r[4])) for r in rows if r[2] or r[3]
    ]


@dataclass(frozen=True)
class GoldIdea:
    number: str
    title: str
    unit: str
    authors: str
    saved: Decimal


async def gold_ideas(
    session: AsyncSession, campaign_id: int, span: Span, limit: int = 10
) -> list[GoldIdea]:
    """Ideas graded gold that were approved within the span, biggest saving first."""
    rows = await session.execute(
        select(
            Item.number,
            Item.title,
            Unit.name,
            func.aggregate_strings(Member.name, "、"),
            counted_fen(),
        )
        .join(Unit, Unit.id == Item.unit_id)
        .join(ItemAuthor, ItemAuthor.item_id == Item.id)
        .join(Member, Member.id == ItemAuthor.member_id)
        .where(*_counted(campaign_id), Item.grade == Grade.GOLD, _within(Item.approved_at, span))
        .group_by(Item.id, Item.number, Item.title, Unit.name)
        .order_by(counted_fen().desc(), Item.number)
        .limit(limit)
    )
    return [GoldIdea(r[0], r[1], r[2], r[3], yuan(r[4])) for r in rows]


# ---- one member -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """A member's credited savings and rank (1 = first) in their unit and in the plant."""

    total: Decimal
    unit_rank: int
    unit_size: int
    plant_rank: int
    plant_size: int


async def member_standing(
    session: AsyncSession, campaign_id: int, member: Member, span: Span | None = None
) -> Standing:
    """Where the member stands: ties share a rank; members with nothing yet rank last.

    Two statements: the member's own total (from their items alone), then everyone's totals
    once, counted against it for both ranks, with the sizes of the unit and the plant."""
    # The conditions go in the sum, not the WHERE: the member's own rows lead, never an index
    # over the whole campaign.
    mine = await session.scalar(
        select(func.sum(case((and_(*_counted(campaign_id), _approved(span)), _share()), else_=0)))
        .select_from(ItemAuthor)
        .join(Item, Item.id == ItemAuthor.item_id)
        .where(ItemAuthor.member_id == member.id)
    )
    fen = float(mine or 0.0)
    shares = member_shares(campaign_id, span)
    active = Member.status == MemberStatus.ACTIVE
    in_unit = Member.unit_id == member.unit_id
    ahead = (
        select(
            func.count(),
            func.count(case((in_unit, 1))) if member.unit_id else literal(0),
        )
        .select_from(shares)
        .join(Member, Member.id == shares.c.member_id)
        .where(active, shares.c.fen > fen + 1e-6)
        .subquery("ahead")
    )
    sizes = (
        select(func.count(), func.count(case((in_unit, 1))) if member.unit_id else literal(0))
        .select_from(Member)
        .where(active)
        .subquery("sizes")
    )
    both = ahead.join(sizes, true())  # one row each
    row = (await session.execute(select(*ahead.c, *sizes.c).select_from(both))).one()
    plant_ahead, unit_ahead, plant_size, unit_size = (int(v or 0) for v in row)
    if not member.unit_id:
        return Standing(yuan(fen), 0, 0, plant_ahead + 1, plant_size)
    return Standing(yuan(fen), unit_ahead + 1, unit_size, plant_ahead + 1, plant_size)


async def standing(db: Database, campaign_id: int, member: Member) -> Standing:
    async with db.read() as session:
        return await member_standing(session, campaign_id, member)
