"""Savings figures computed in SQL: what counts, who is credited, how units and people stand.

Every figure is one aggregate statement over indexed columns (a fixed number of statements per
report, whatever the number of units or items). The counted amount of an idea is its verified
amount if there is one, else its certified amount; it counts in the period it was approved, and
co-authors share it equally.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Double,
    Executable,
    Float,
    Integer,
    Numeric,
    Select,
    String,
    Subquery,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from bot.services import ledger
from bot.services.ledger import COUNTED_STATUSES, counted_fen
from bot.services.periods import Period, elapsed_share
from storage.db import one_of
from storage.models import (
    Campaign,
    Category,
    Grade,
    Headcount,
    HeadcountChange,
    Item,
    ItemAuthor,
    ItemKind,
    ItemStatus,
    Member,
    MemberBand,
    MemberGroup,
    MemberSaving,
    MemberStatus,
    Unit,
    UnitSaving,
)
from storage.types import UTCDateTime

YUAN = Decimal("0.01")
# Workers' amounts are sums of shares in float fen. Their exact values are rationals with small
# denominators (whole-fen amounts divided by numbers of authors): exactly on a half fen, or at
# least 1/(2 x denominator) fen from it (1/12 with 6 authors; 1/55440 for any mix of ideas of
# up to 11 authors, lcm(1..11) = 27720), far more than the float noise (below 1e-8 fen up to a
# million yuan). So an amount is first rounded to FEN_PLACES decimals of a fen, which takes the
# noise away (83333.49999999999 is 83333.5), then half up to the fen. SQL does the same
# (`_shown_fen`) where amounts shown equal must compare equal (ranks, the top list's ties).
FEN_PLACES = 5
_FEN_STEP = Decimal(1).scaleb(-FEN_PLACES)
# The least amount (in fen) shown as 0.01 yuan; k + HALF_FEN is the least shown as k + 1 fen.
HALF_FEN = 0.5 - 0.5 * 10**-FEN_PLACES
TOP_FEN = 1e300  # above every amount: the upper bound of the highest band


def yuan(fen: float | int | None) -> Decimal:
    """Fen (possibly a fractional share) as yuan, rounded to the fen: half up after the float
    noise is rounded away (see FEN_PLACES)."""
    if isinstance(fen, int):  # whole fen (sums of amounts): exact as they are
        return Decimal(fen).scaleb(-2)
    exact = Decimal(repr(float(fen or 0))).quantize(_FEN_STEP, rounding=ROUND_HALF_UP)
    return (exact / 100).quantize(YUAN, rounding=ROUND_HALF_UP)


def _shown_fen(
    fen: ColumnElement[Any] | InstrumentedAttribute[float], dialect: str
) -> ColumnElement[float]:
    """A float amount in fen as `yuan` shows it, in whole fen (a float): rounded to FEN_PLACES
    decimals, then to the fen, half away from zero (half up for amounts, never negative).
    SQLite's round does that on floats; PostgreSQL's only on numeric (its float one rounds
    half to even, and takes no decimals)."""
    if dialect == "postgresql":
        exact = func.round(func.round(cast(fen, Numeric), FEN_PLACES))
        return cast(exact, Double)
    return type_coerce(func.round(func.round(fen, FEN_PLACES)), Double)


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
        one_of(Item.status, COUNTED_STATUSES),
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
    # Computed once when built (ranking a few hundred units sorts on them).
    per_head: Decimal = field(init=False, compare=False)
    per_head_to_date: Decimal = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_head", _per_head(self.saved, self.headcount))
        object.__setattr__(self, "per_head_to_date", _per_head(self.saved_to_date, self.headcount))

    @property
    def active(self) -> bool:
        """Worth a line in a report."""
        return not self.archived or bool(self.submitted or self.saved_to_date or self.open_waste)

    @property
    def counted_heads(self) -> int:
        """Its people in the plant's per-head figures: an archived unit's count only with its
        savings to date (a report about it, or an idea not certified, is worth a line, but its
        people saved nothing and must not dilute the plant's figure)."""
        return self.headcount if not self.archived or self.saved_to_date else 0


def _per_head(amount: Decimal, headcount: int) -> Decimal:
    return (amount / headcount).quantize(YUAN, ROUND_HALF_UP) if headcount > 0 else Decimal("0.00")


def _headcount() -> ColumnElement[int]:
    """The unit's headcount as the office set it, else its active members (an index range per
    unit, read only when no headcount is set)."""
    people = (
        select(func.count())
        .select_from(Member)
        .where(Member.status == MemberStatus.ACTIVE, Member.unit_id == Unit.id)
        .correlate(Unit)
        .scalar_subquery()
    )
    return case((Unit.headcount > 0, Unit.headcount), else_=people)


@functools.cache
def _unit_query(dialect: str) -> Select[Any]:
    """The statement of `unit_figures` for a database (`dialect`), built once; its parameters
    are the campaign and the span (`campaign_id`, `start`, `end`)."""
    campaign = bindparam("campaign_id", type_=Integer)
    start = bindparam("start", type_=UTCDateTime())
    end = bindparam("end", type_=UTCDateTime())
    ours = Item.campaign_id == campaign
    idea = Item.kind == ItemKind.IDEA
    submitted_within = and_(Item.submitted_at >= start, Item.submitted_at < end)
    submitted = (
        select(Item.unit_id.label("unit_id"), func.count().label("n"))
        .where(ours, submitted_within, idea)
        .group_by(Item.unit_id)
        .subquery("unit_submitted")
    )

    # Savings per unit: by the unit's approvals, three index ranges per unit (one per counted
    # status, each ordered by approval time), no sorting of the campaign's approvals and no
    # test of the status row by row. Counted statuses are those of ideas only.
    def approvals(value: ColumnElement[Any], since: bool) -> ColumnElement[Any]:
        return (
            select(value)
            .where(
                ours,
                Item.unit_id == Unit.id,
                one_of(Item.status, COUNTED_STATUSES),
                Item.approved_at >= start if since else true(),
                Item.approved_at < end,
            )
            .correlate(Unit)
            .scalar_subquery()
        )

    fen = counted_fen()
    approved = approvals(func.count(), True)
    saved = approvals(func.coalesce(func.sum(fen), 0), True)
    saved_to_date = approvals(func.coalesce(func.sum(fen), 0), False)
    rejected = (
        select(Item.unit_id.label("unit_id"), func.count().label("n"))
        .where(
            ours,
            idea,
            Item.closed_at >= start,
            Item.closed_at < end,
            Item.status == ItemStatus.REJECTED,
        )
        .group_by(Item.unit_id)
        .subquery("unit_rejected")
    )
    # Open at the span's end: not closed yet, or closed after it (two ranges of the closing
    # index; the submission time is tested in the count so that it picks no other index).
    waste = [ours, Item.kind == ItemKind.WASTE]
    still_open = union_all(
        select(Item.unit_id, Item.submitted_at).where(*waste, Item.closed_at.is_(None)),
        select(Item.unit_id, Item.submitted_at).where(*waste, Item.closed_at >= end),
    ).subquery("waste_open")
    open_waste = (
        select(
            still_open.c.unit_id.label("unit_id"),
            func.count(case((still_open.c.submitted_at < end, 1))).label("n"),
        )
        .group_by(still_open.c.unit_id)
        .subquery("unit_open_waste")
    )
    # The people taking part: the authors of the span's ideas, each once, then counted by
    # their units (a member lookup per author, not per authorship). The authors are found by
    # the span's items, one primary-key lookup each: PostgreSQL is given the items' ids as an
    # array, or it would rather read every authorship of the campaign and hash the span's.
    span_authors = select(ItemAuthor.member_id.label("member_id"))
    if dialect == "postgresql":
        span_ids = select(Item.id).where(ours, submitted_within, idea).scalar_subquery()
        span_authors = span_authors.where(ItemAuthor.item_id == any_(func.array(span_ids)))
    else:
        span_authors = span_authors.join(Item, Item.id == ItemAuthor.item_id).where(
            ours, submitted_within, idea
        )
    authors = span_authors.group_by(ItemAuthor.member_id).subquery("span_authors")
    taking_part = (
        select(Member.unit_id.label("unit_id"), func.count().label("n"))
        .select_from(authors)
        .join(Member, Member.id == authors.c.member_id)
        .group_by(Member.unit_id)
        .subquery("unit_participants")
    )
    query = select(Unit.id, Unit.name, Unit.archived, _headcount())
    counts: list[ColumnElement[Any]] = []
    for part in (submitted, rejected, taking_part, open_waste):
        counts.append(func.coalesce(part.c.n, 0))
        query = query.outerjoin(part, part.c.unit_id == Unit.id)
    n_submitted, n_rejected, n_taking_part, n_open_waste = counts
    return query.add_columns(
        n_submitted, approved, n_rejected, n_taking_part, saved, saved_to_date, n_open_waste
    )


async def unit_figures(session: AsyncSession, campaign_id: int, span: Span) -> list[UnitFigures]:
    """Every unit's figures for the span, best savings per head first (one statement).

    Each part reads only its rows, by its own index (ideas submitted, approved, rejected in
    the span; savings to date; open waste reports), rather than the whole campaign."""
    rows = await session.execute(
        _unit_query(session.get_bind().dialect.name),
        {"campaign_id": campaign_id, "start": span.start, "end": span.end},
    )
    return _ranked(
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
    )


def _ranked(units: Iterable[UnitFigures]) -> list[UnitFigures]:
    """The units worth a line, best savings per head first."""
    shown = sorted((u for u in units if u.active), key=lambda u: u.name)
    # Stable: equal savings per head and savings keep the names' order.
    shown.sort(key=lambda u: (u.per_head, u.saved), reverse=True)
    return shown


def _from_ledger(
    row: tuple[Any, ...], period: Period | None, archived: bool = False
) -> UnitFigures:
    """A unit's figures from a row of the units' ledger (id, name, headcount, ideas approved,
    fen); the counts the ledger does not keep are left at 0."""
    unit, name, headcount, approved, fen = row[:5]
    saved = yuan(int(fen))
    return UnitFigures(
        unit_id=int(unit),
        name=str(name),
        archived=archived,
        headcount=int(headcount),
        submitted=0,
        approved=int(approved),
        rejected=0,
        participants=0,
        saved=saved,
        saved_to_date=saved if period is None else Decimal("0.00"),
        open_waste=0,
    )


def _ledger_units(with_savings: bool) -> Subquery:
    """Each unit's id, name, headcount, ideas approved and savings in fen in a period of the
    units' ledger (parameters `campaign_id`, `period`): the units not archived, and with
    `with_savings` the archived ones with savings too."""
    saving = func.coalesce(UnitSaving.fen, 0)
    row = and_(
        UnitSaving.campaign_id == bindparam("campaign_id", type_=Integer),
        UnitSaving.period == bindparam("period", type_=String),
        UnitSaving.unit_id == Unit.id,
    )
    shown = Unit.archived.is_(False)
    return (
        select(
            Unit.id.label("unit_id"),
            Unit.name.label("name"),
            _headcount().label("headcount"),
            func.coalesce(UnitSaving.approved, 0).label("approved"),
            saving.label("fen"),
        )
        .outerjoin(UnitSaving, row)
        .where(or_(shown, saving != 0) if with_savings else shown)
        .subquery()
    )


def _per_head_fen(units: Subquery) -> ColumnElement[int]:
    """Savings per head in whole fen, rounded half up (away from zero) as `_per_head` rounds:
    (2 x |fen| + headcount) div (2 x headcount), with the sign of the savings."""
    fen, people = units.c.fen, units.c.headcount
    whole = (2 * func.abs(fen) + people) // (2 * people)
    return case((people <= 0, 0), (fen < 0, -whole), else_=whole)


def _code_point_order(units: Subquery, dialect: str) -> ColumnElement[str]:
    """The units' names compared by code point, as Python compares them (PostgreSQL's
    collation "C")."""
    return units.c.name.collate("C" if dialect == "postgresql" else "BINARY")


@functools.cache
def _unit_ranking_query(dialect: str) -> Executable:
    """The units (not archived) ranked by the period's savings per head, then savings, then
    name, as `_ranked` orders them; the rows of the first `top` and of the unit `unit_id`
    (parameters also `campaign_id`, `period`). Built once per database."""
    units = _ledger_units(with_savings=False)
    order = (_per_head_fen(units).desc(), units.c.fen.desc(), _code_point_order(units, dialect))
    position = func.row_number().over(order_by=(*order, units.c.unit_id))
    ranked = select(units, position.label("position")).subquery()
    return (
        select(ranked)
        .where(
            (ranked.c.position <= bindparam("top", type_=Integer))
            | (ranked.c.unit_id == bindparam("unit_id", type_=Integer))
        )
        .order_by(ranked.c.position)
    )


async def unit_ranking(
    session: AsyncSession, campaign_id: int, period: Period | None, top: int, unit_id: int | None
) -> list[tuple[int, UnitFigures]]:
    """(position, figures) of the first `top` units by savings per head in the period (None:
    the whole campaign) and of the unit `unit_id`, from the units' ledger: the database ranks
    them, so only these few are built however many units there are. Archived units are not
    ranked; the counts other than ideas approved are left at 0."""
    values = {
        "campaign_id": campaign_id,
        "period": ledger.key_of(period),
        "top": top,
        "unit_id": unit_id or 0,
    }
    rows = await session.execute(_unit_ranking_query(session.get_bind().dialect.name), values)
    ranking = []
    for row in rows:
        fields = tuple[Any, ...](row)
        ranking.append((int(fields[5]), _from_ledger(fields, period)))
    return ranking


@functools.cache
def _unit_progress_query(dialect: str) -> Executable:
    """The units whose savings to date count (not archived, or with savings) ranked by
    savings per head to date, then name, with the totals over them (the headcounts those of
    `UnitFigures.counted_heads`, as `plant_figures` adds them up): the rows of the unit
    `unit_id` and of the first (the totals when the member has no unit). Parameters also
    `campaign_id`, `period`; built once per database."""
    units = _ledger_units(with_savings=True)
    order = (_per_head_fen(units).desc(), _code_point_order(units, dialect), units.c.unit_id)
    ranked = select(
        units,
        func.row_number().over(order_by=order).label("position"),
        func.count().over().label("units"),
        func.sum(units.c.headcount).over().label("people"),
        func.sum(units.c.approved).over().label("approved_in_all"),
        func.sum(units.c.fen).over().label("fen_in_all"),
    ).subquery()
    return (
        select(ranked)
        .where((ranked.c.unit_id == bindparam("unit_id", type_=Integer)) | (ranked.c.position == 1))
        .order_by(ranked.c.position)
    )


@dataclass(frozen=True)
class UnitProgress:
    """The units' savings to date, added up, and one unit's with its place among them."""

    units: int  # the units ranked
    headcount: int
    approved: int
    saved_to_date: Decimal
    unit: UnitFigures | None  # the unit asked for, if it is ranked
    position: int  # its place (1 = best savings per head), 0 without it


async def unit_progress(
    session: AsyncSession, campaign_id: int, unit_id: int | None
) -> UnitProgress:
    """The campaign's savings to date from the units' ledger, with the unit `unit_id` ranked
    by savings per head to date among the units (as /progress shows them), in one statement
    that returns one or two rows however many units there are."""
    values = {"campaign_id": campaign_id, "period": ledger.key_of(None), "unit_id": unit_id or 0}
    rows = await session.execute(_unit_progress_query(session.get_bind().dialect.name), values)
    totals: tuple[Any, ...] = (0, 0, 0, 0)  # units, people, ideas approved, fen: no units
    mine, position = None, 0
    for row in rows:
        fields = tuple[Any, ...](row)
        totals = fields[6:10]  # the same on every row
        if fields[0] == unit_id:  # (its archived flag is not read: /progress shows its figures)
            mine, position = _from_ledger(fields, None), int(fields[5])
    units, people, approved, fen = totals
    return UnitProgress(
        units=int(units),
        headcount=int(people or 0),
        approved=int(approved or 0),
        saved_to_date=yuan(int(fen or 0)),
        unit=mine,
        position=position,
    )


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
    """The plant's totals; `upto` is the (exclusive) local day the campaign year is measured to.
    The headcount is that of the units whose savings to date count (`counted_heads`), as
    `plant_to_date` has it from the units' ledger."""
    return PlantFigures(
        headcount=sum(u.counted_heads for u in units),
        submitted=sum(u.submitted for u in units),
        approved=sum(u.approved for u in units),
        saved=sum((u.saved for u in units), Decimal("0.00")),
        saved_to_date=sum((u.saved_to_date for u in units), Decimal("0.00")),
        total_target=campaign.total_target,
        per_head_target=campaign.per_head_target,
        elapsed=elapsed_share(campaign.starts_on, campaign.ends_on, upto),
    )


def plant_to_date(campaign: Campaign, progress: UnitProgress, upto: date) -> PlantFigures:
    """The plant's totals for the whole campaign from `unit_progress`, as `plant_figures`
    adds them up from every unit's figures (the same units' heads: those not archived, and the
    archived ones with savings)."""
    return PlantFigures(
        headcount=progress.headcount,
        submitted=0,
        approved=progress.approved,
        saved=progress.saved_to_date,
        saved_to_date=progress.saved_to_date,
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


@functools.cache
def _top_query(limit: int, dialect: str) -> Executable:
    """The active members credited most in a period (parameters `campaign_id`, `period`): the
    `limit`-th best amount is found by the ledger's index, then only those at or about it are
    ordered, by the amount as shown (ties by name). Built once per limit and database.

    Members no longer active are left out, as `member_standing` leaves them out of the members
    ahead: each ledger row read is checked by its member's primary key, so the ledger's index
    still drives the query (and reads past only the few inactive members at the top)."""
    campaign = bindparam("campaign_id", type_=Integer)
    key = bindparam("period", type_=String)
    period = [MemberSaving.campaign_id == campaign, MemberSaving.period == key]
    active = Member.status == MemberStatus.ACTIVE
    # At least what shows as 0.01 yuan: sums of shares leave float crumbs near zero.
    shown = MemberSaving.fen >= HALF_FEN
    threshold = (
        select(MemberSaving.fen)
        .where(*period, shown, exists().where(Member.id == MemberSaving.member_id, active))
        .order_by(MemberSaving.fen.desc())
        .limit(1)
        .offset(limit - 1)
        .scalar_subquery()
    )
    # Amounts shown equal to the threshold's may lie up to a fen below it (float crumbs, or a
    # share's fraction): they tie with it and are ordered by name, so they are read too.
    # One lower bound, so that the index range starts there (with two, SQLite bounded the
    # range by the constant and read every member credited in the period).
    larger = func.max if dialect == "sqlite" else func.greatest
    lowest = larger(HALF_FEN, func.coalesce(threshold, 0) - 1)
    in_range = MemberSaving.fen >= lowest
    if dialect == "postgresql":
        # PostgreSQL cannot tell how few rows the range holds (its bound is found by the
        # query), and would rather hash every member to join them: it is given the range's
        # members as an array, and looks them up one by one.
        ledger_ = aliased(MemberSaving)
        ids = select(ledger_.member_id).where(
            ledger_.campaign_id == campaign, ledger_.period == key, ledger_.fen >= lowest
        )
        in_range = MemberSaving.member_id == any_(func.array(ids.scalar_subquery()))
    return (
        select(Member.id, Member.name, func.coalesce(Unit.name, ""), MemberSaving.fen)
        .join(Member, Member.id == MemberSaving.member_id)
        .outerjoin(Unit, Unit.id == Member.unit_id)
        .where(*period, in_range, active)
        .order_by(_shown_fen(MemberSaving.fen, dialect).desc(), Member.name, Member.id)
        .limit(limit)
    )


async def top_workers(
    session: AsyncSession, campaign_id: int, period: Period | None, limit: int
) -> list[WorkerFigures]:
    """The members credited most in the period (None: the whole campaign), from the ledger."""
    rows = await session.execute(
        _top_query(limit, session.get_bind().dialect.name),
        {"campaign_id": campaign_id, "period": ledger.key_of(period)},
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
    counted = one_of(Item.status, COUNTED_STATUSES)
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


@functools.cache
def _gold_query(limit: int, dialect: str) -> Select[Any]:
    """The statement of `gold_ideas` for a database (`dialect`): the `limit` best gold ideas
    approved within the span (`campaign_id`, `start`, `end`), picked from the approval-time
    index (which holds the grade), then the names of those ideas' authors alone, in the order
    of their authorships (PostgreSQL is told it; SQLite reads them so)."""
    fen = counted_fen().label("fen")
    top = (
        select(Item.id, Item.number, Item.title, Item.unit_id, fen)
        .where(
            Item.campaign_id == bindparam("campaign_id", type_=Integer),
            Item.kind == ItemKind.IDEA,
            one_of(Item.status, COUNTED_STATUSES),
            Item.grade == Grade.GOLD,
            Item.approved_at >= bindparam("start", type_=UTCDateTime()),
            Item.approved_at < bindparam("end", type_=UTCDateTime()),
            exists().where(ItemAuthor.item_id == Item.id),  # an idea has authors
        )
        .order_by(fen.desc(), Item.number)
        .limit(limit)
        .subquery("gold")
    )
    names: ColumnElement[str] = func.aggregate_strings(Member.name, "、")
    if dialect == "postgresql":
        names = func.string_agg(
            Member.name, aggregate_order_by(literal_column("'、'"), ItemAuthor.member_id)
        )
    authors = (
        select(names)
        .select_from(ItemAuthor)
        .join(Member, Member.id == ItemAuthor.member_id)
        .where(ItemAuthor.item_id == top.c.id)
        .scalar_subquery()
    )
    return (
        select(top.c.number, top.c.title, Unit.name, authors, top.c.fen)
        .join(Unit, Unit.id == top.c.unit_id)
        .order_by(top.c.fen.desc(), top.c.number)
    )


async def gold_ideas(
    session: AsyncSession, campaign_id: int, span: Span, limit: int = 10
) -> list[GoldIdea]:
    """Ideas graded gold that were approved within the span, biggest saving first."""
    rows = await session.execute(
        _gold_query(limit, session.get_bind().dialect.name),
        {"campaign_id": campaign_id, "start": span.start, "end": span.end},
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


_MINE = select(MemberSaving.fen).where(
    MemberSaving.campaign_id == bindparam("campaign_id", type_=Integer),
    MemberSaving.period == bindparam("period", type_=String),
    MemberSaving.member_id == bindparam("member_id", type_=Integer),
)


def least_shown_above(fen: float) -> float:
    """The least amount (fen) shown a fen more than `fen` is (`yuan`): half a fen rounds away
    from zero, up to the next fen above zero, down to it below."""
    shown = float(yuan(fen).scaleb(2))
    return shown + HALF_FEN if shown >= 0 else shown + (1 - HALF_FEN)


@functools.cache
def _standing_query(in_a_unit: bool) -> Executable:
    """The members ahead of an amount in the plant and in a unit, and the sizes of both;
    parameters `campaign_id`, `period`, `above` (`least_shown_above` the member's amount) and
    `unit_id`. Built once for members with a unit and once without.

    Ahead means shown more (`yuan`): members shown the same amount share a rank, as the top
    list lists them together, by name. No member row is read per member ahead: in the plant
    the band counts (`member_band`) add up the bands above `above` and the ledger's index
    counts the rest of its band; in the unit the index counts the unit's rows from `above`;
    less those ahead who are not active (few: found by the status index). The amount comes as
    a parameter: an expression in its place would be repeated wherever it is compared, and
    PostgreSQL plans every copy of it at every execution."""
    period = [
        MemberSaving.campaign_id == bindparam("campaign_id", type_=Integer),
        MemberSaving.period == bindparam("period", type_=String),
    ]
    above = bindparam("above", type_=Double)
    not_active = [s for s in MemberStatus if s != MemberStatus.ACTIVE]
    in_unit = Member.unit_id == bindparam("unit_id", type_=Integer)

    def ahead_in_ledger(*where: ColumnElement[bool]) -> ColumnElement[int]:
        return (
            select(func.count())
            .select_from(MemberSaving)
            .where(*period, *where, MemberSaving.fen >= above)
            .scalar_subquery()
        )

    def ahead_not_active(*where: ColumnElement[bool]) -> ColumnElement[int]:
        # Driven by the members (a correlated lookup each): a join would be read from the
        # ledger's side, every member above the amount.
        theirs = (
            select(MemberSaving.fen)
            .where(*period, MemberSaving.member_id == Member.id)
            .correlate(Member)
            .scalar_subquery()
        )
        return (
            select(func.count())
            .select_from(Member)
            .where(one_of(Member.status, not_active), *where, theirs >= above)
            .scalar_subquery()
        )

    # In the plant: the bands above the amount (ledger.BANDS) by their counts, and the rows of
    # the amount's own band up to the next band counted one by one (a few hundred at most).
    bands = [
        MemberBand.campaign_id == bindparam("campaign_id", type_=Integer),
        MemberBand.period == bindparam("period", type_=String),
        MemberBand.low > above,
    ]
    next_band = select(func.min(MemberBand.low)).where(*bands).scalar_subquery()
    in_bands = select(func.coalesce(func.sum(MemberBand.members), 0)).where(*bands)
    in_own_band = ahead_in_ledger(MemberSaving.fen < func.coalesce(next_band, TOP_FEN))
    plant_ahead = in_bands.scalar_subquery() + in_own_band - ahead_not_active()
    # The plant's active members: the headcount and the changes the triggers logged since.
    counted = select(Headcount.active).where(Headcount.id == 1).scalar_subquery()
    changed = select(func.coalesce(func.sum(HeadcountChange.change), 0)).scalar_subquery()
    people = func.coalesce(counted, 0) + changed
    # The amount again: on PostgreSQL each statement reads the latest commits.
    mine = _MINE.scalar_subquery()
    if not in_a_unit:
        return select(plant_ahead, literal(0), people, literal(0), mine)
    unit = bindparam("unit_id", type_=Integer)
    unit_ahead = ahead_in_ledger(MemberSaving.unit_id == unit) - ahead_not_active(in_unit)
    active = Member.status == MemberStatus.ACTIVE
    unit_people = select(func.count()).select_from(Member).where(active, in_unit).scalar_subquery()
    return select(plant_ahead, unit_ahead, people, unit_people, mine)


async def member_standing(
    session: AsyncSession, campaign_id: int, member: Member, period: Period | None = None
) -> Standing:
    """Where the member stands in the period (None: the whole campaign): ties share a rank;
    members with nothing yet rank last. Two statements: the member's amount, then the counts
    around it (with the amount again, read anew if it changed in between)."""
    values: dict[str, Any] = {
        "campaign_id": campaign_id,
        "period": ledger.key_of(period),
        "member_id": member.id,
    }
    fen = float((await session.execute(_MINE, values)).scalar() or 0.0)
    values["unit_id"] = member.unit_id or 0
    for attempt in range(3):  # a decision may credit the member in between (PostgreSQL)
        values["above"] = above = least_shown_above(fen)
        row = (await session.execute(_standing_query(bool(member.unit_id)), values)).one()
        latest = float(row[4] or 0.0)
        if least_shown_above(latest) == above or attempt == 2:
            break  # the counts are for `fen` (or an amount shown the same)
        fen = latest
    plant_ahead, unit_ahead, plant_size, unit_size = (int(v or 0) for v in row[:4])
    if not member.unit_id:
        return Standing(yuan(fen), 0, 0, plant_ahead + 1, plant_size)
    return Standing(yuan(fen), unit_ahead + 1, unit_size, plant_ahead + 1, plant_size)
