"""The savings ledgers: what each worker (`member_saving`) and each unit (`unit_saving`) is
credited, per period.

An idea counts when it is approved, in the periods of its approval (local time), with its
verified amount once there is one, else its certified amount: shared equally among its
authors, and whole to its unit (which also counts it as approved). `credit` adds a decision's
change in the transaction that takes the decision; `rebuild` writes a campaign's ledgers
afresh from its items (after a bulk load, or when the time zone the periods are cut in has
changed: `ensure_current` runs at every start).
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Executable,
    bindparam,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.periods import Period, PeriodKind, containing
from storage.db import Database, dialect_insert, one_of, table_of
from storage.models import (
    Campaign,
    Item,
    ItemAuthor,
    ItemKind,
    ItemStatus,
    Member,
    MemberBand,
    MemberSaving,
    UnitSaving,
)

# An idea's saving counts once the committee has certified it.
COUNTED_STATUSES = (ItemStatus.APPROVED, ItemStatus.IMPLEMENTED, ItemStatus.VERIFIED)
ALL = "all"
KINDS = (PeriodKind.WEEK, PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.HALF, PeriodKind.YEAR)
CHUNK = 5_000  # rows per INSERT while rebuilding
# The bands `member_band` counts the member ledger's rows in: 0 and +-2^(k/8) fen (steps of
# 9%, from 1 fen to far beyond any saving), and one below everything. A band is its least
# amount; a row belongs to the greatest band not above its amount.
BANDS: tuple[float, ...] = tuple(
    sorted({-1e300, 0.0, *(sign * 2 ** (k / 8) for k in range(8 * 48 + 1) for sign in (1, -1))})
)
# PostgreSQL: a campaign's ledger is written by one transaction at a time (see `credit`).
_LEDGER_LOCK = 0x5A11  # the first key of pg_advisory_xact_lock(key, campaign_id)


def band_of(fen: float) -> float:
    """The band a member-ledger row of `fen` counts in."""
    return BANDS[max(bisect_right(BANDS, fen) - 1, 0)]


def counted_fen() -> ColumnElement[int]:
    """The counted amount of an item in fen: its verified amount if there is one, else its
    certified amount (raw integers, so sums stay exact)."""
    return func.coalesce(
        type_coerce(Item.verified_amount, BigInteger),
        type_coerce(Item.certified_amount, BigInteger),
        0,
    )


def key_of(period: Period | None) -> str:
    """The ledger's name for a period; None is the whole campaign."""
    return ALL if period is None else period.key


def keys_for(approved_at: datetime | None, tz: ZoneInfo) -> list[str]:
    """The periods an approval at `approved_at` counts in."""
    if approved_at is None:
        return [ALL]
    day = approved_at.astimezone(tz).date()
    return [containing(kind, day).key for kind in KINDS] + [ALL]


@functools.cache
def _upsert(is_sqlite: bool) -> Executable:
    """Add to members' rows (parameters: the row's columns; one set per row), built once."""
    statement = dialect_insert(is_sqlite, table_of(MemberSaving))
    return statement.on_conflict_do_update(
        index_elements=["campaign_id", "period", "member_id"],
        set_={
            "fen": MemberSaving.fen + statement.excluded.fen,
            "unit_id": statement.excluded.unit_id,
        },
    )


@functools.cache
def _upsert_units(is_sqlite: bool) -> Executable:
    """Add to units' rows (parameters: the row's columns; one set per row), built once."""
    statement = dialect_insert(is_sqlite, table_of(UnitSaving))
    return statement.on_conflict_do_update(
        index_elements=["campaign_id", "period", "unit_id"],
        set_={
            "fen": UnitSaving.fen + statement.excluded.fen,
            "approved": UnitSaving.approved + statement.excluded.approved,
        },
    )


@functools.cache
def _upsert_bands(is_sqlite: bool) -> Executable:
    """Add to bands' counts (parameters: the row's columns; one set per row), built once."""
    statement = dialect_insert(is_sqlite, table_of(MemberBand))
    return statement.on_conflict_do_update(
        index_elements=["campaign_id", "period", "low"],
        set_={"members": MemberBand.members + statement.excluded.members},
    )


_ENTRIES = select(MemberSaving.period, MemberSaving.member_id, MemberSaving.fen)
_CAMPAIGN_IDS = select(Campaign.id).order_by(Campaign.id)


async def _lock_ledger(session: AsyncSession, is_sqlite: bool, campaign_id: int) -> None:
    """PostgreSQL: wait for other transactions writing the campaign's ledger (SQLite has one
    writer at a time). A band's count changes with rows read before they are written; two
    decisions at once must not both read the same row's old amount."""
    if not is_sqlite:
        await session.execute(
            select(func.pg_advisory_xact_lock(_LEDGER_LOCK, campaign_id)),
        )


_AUTHORS = (
    select(ItemAuthor.member_id, Member.unit_id)
    .join(Member, Member.id == ItemAuthor.member_id)
    .where(ItemAuthor.item_id == bindparam("item_id"))
    .order_by(ItemAuthor.member_id)
)


async def credit(
    session: AsyncSession,
    is_sqlite: bool,
    item: Item,
    before_fen: int,
    tz: ZoneInfo,
    *,
    approved: bool = False,
) -> None:
    """Add the change of `item`'s counted amount (from `before_fen`, now its own) to its
    authors' and its unit's ledgers, in the caller's transaction; `approved`: this decision
    approved it (the unit counts one more approved idea)."""
    after_fen = item.verified_amount if item.verified_amount is not None else item.certified_amount
    delta = int((after_fen or 0) * 100) - before_fen
    if (delta == 0 and not approved) or item.kind != ItemKind.IDEA:
        return
    keys = keys_for(item.approved_at, tz)
    await _lock_ledger(session, is_sqlite, item.campaign_id)
    unit_rows: list[dict[str, object]] = [
        {
            "campaign_id": item.campaign_id,
            "period": key,
            "unit_id": item.unit_id,
            "fen": delta,
            "approved": int(approved),
        }
        for key in keys
    ]
    await session.execute(_upsert_units(is_sqlite), unit_rows)
    if delta == 0:
        return
    # In member order: two decisions at once lock their authors' rows in the same order.
    authors = (await session.execute(_AUTHORS, {"item_id": item.id})).all()
    if not authors:
        return
    share = delta / len(authors)
    rows: list[dict[str, object]] = [
        {
            "campaign_id": item.campaign_id,
            "period": key,
            "member_id": member_id,
            "fen": share,
            "unit_id": unit_id,
        }
        for key in keys
        for member_id, unit_id in authors
    ]
    ids = [member_id for member_id, _ in authors]
    found = await session.execute(
        _ENTRIES.where(
            MemberSaving.campaign_id == item.campaign_id,
            one_of(MemberSaving.period, keys),
            one_of(MemberSaving.member_id, ids),
        )
    )
    before: dict[tuple[str, int], float] = {(p, m): fen for p, m, fen in found}
    await session.execute(_upsert(is_sqlite), rows)
    # The database adds as Python does (IEEE doubles), so each row's new amount is known.
    moves: Counter[tuple[str, float]] = Counter()
    for key in keys:
        for member_id in ids:
            old = before.get((key, member_id))
            new = share if old is None else old + share
            if old is not None:
                moves[(key, band_of(old))] -= 1
            moves[(key, band_of(new))] += 1
    await _count_in_bands(session, is_sqlite, item.campaign_id, moves)


async def _count_in_bands(
    session: AsyncSession,
    is_sqlite: bool,
    campaign_id: int,
    moves: Counter[tuple[str, float]],
) -> None:
    """Add `moves` (rows in or out, per period and band) to the campaign's band counts, in
    band order (two writers lock them in the same order)."""
    rows: list[dict[str, object]] = [
        {"campaign_id": campaign_id, "period": key, "low": low, "members": n}
        for (key, low), n in sorted(moves.items())
        if n
    ]
    if rows:
        await session.execute(_upsert_bands(is_sqlite), rows)


async def member_moved(
    session: AsyncSession, is_sqlite: bool, member_id: int, unit_id: int | None
) -> None:
    """The member's rows follow them to their new unit (in the caller's transaction, with the
    change of `member.unit_id`)."""
    ledger_ = table_of(MemberSaving)
    if not is_sqlite:
        # Rows of the ledger are written under its lock (see `credit`): every campaign's (a
        # decision may be making the member's first row in one), in id order (a transaction
        # moving several members takes them once, in the same order as any other).
        for campaign_id in (await session.scalars(_CAMPAIGN_IDS)).all():
            await _lock_ledger(session, is_sqlite, campaign_id)
    await session.execute(
        update(ledger_).where(ledger_.c.member_id == member_id).values(unit_id=unit_id)
    )


def counted_fen_of(item: Item) -> int:
    """The item's counted amount in fen as the ledger has it (0 before approval)."""
    amount = item.verified_amount if item.verified_amount is not None else item.certified_amount
    return int((amount or 0) * 100) if item.approved_at is not None else 0


async def rebuild(db: Database, campaign_id: int, tz: ZoneInfo) -> None:
    """Write the campaign's ledgers afresh from its approved ideas, one kind of period at a
    time (memory holds the shares and one kind's totals)."""
    authors = (
        select(ItemAuthor.item_id, func.count().label("n"))
        .group_by(ItemAuthor.item_id)
        .subquery("authors")
    )
    query = (
        select(ItemAuthor.member_id, Item.approved_at, counted_fen(), authors.c.n)
        .join(Item, Item.id == ItemAuthor.item_id)
        .join(authors, authors.c.item_id == Item.id)
        .where(
            Item.campaign_id == campaign_id,
            Item.kind == ItemKind.IDEA,
            one_of(Item.status, COUNTED_STATUSES),
        )
    )
    async with db.write() as session:
        await _lock_ledger(session, db.is_sqlite, campaign_id)
        found = cast(
            list[tuple[int, datetime | None, int, int]], (await session.execute(query)).all()
        )
        shares: list[tuple[int, date | None, float]] = [
            (member_id, approved_at.astimezone(tz).date() if approved_at else None, fen / n)
            for member_id, approved_at, fen, n in found
        ]
        await session.execute(delete(MemberSaving).where(MemberSaving.campaign_id == campaign_id))
        await session.execute(delete(MemberBand).where(MemberBand.campaign_id == campaign_id))
        await _rebuild_units(session, campaign_id, tz)
        for kind in (*KINDS, None):
            totals: defaultdict[tuple[str, int], float] = defaultdict(float)
            for member_id, day, share in shares:
                if kind is None:
                    totals[(ALL, member_id)] += share
                elif day is not None:
                    totals[(containing(kind, day).key, member_id)] += share
            await _insert(session, campaign_id, totals.items())
            bands = Counter((key, band_of(fen)) for (key, _), fen in totals.items())
            await _count_in_bands(session, db.is_sqlite, campaign_id, bands)
        ledger_ = table_of(MemberSaving)
        unit_of_member = (
            select(Member.unit_id).where(Member.id == ledger_.c.member_id).scalar_subquery()
        )
        await session.execute(
            update(ledger_)
            .where(ledger_.c.campaign_id == campaign_id)
            .values(unit_id=unit_of_member)
        )
        await session.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(ledger_tz=tz.key)
        )


async def _rebuild_units(session: AsyncSession, campaign_id: int, tz: ZoneInfo) -> None:
    """The units' ledger afresh: a row per unit and period of approval."""
    await session.execute(delete(UnitSaving).where(UnitSaving.campaign_id == campaign_id))
    found = await session.execute(
        select(Item.unit_id, Item.approved_at, counted_fen()).where(
            Item.campaign_id == campaign_id,
            Item.kind == ItemKind.IDEA,
            one_of(Item.status, COUNTED_STATUSES),
        )
    )
    totals: defaultdict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for unit_id, approved_at, fen in found:
        for key in keys_for(approved_at, tz):
            total = totals[(key, unit_id)]
            total[0] += int(fen)
            total[1] += 1
    rows: list[dict[str, object]] = [
        {"campaign_id": campaign_id, "period": key, "unit_id": unit_id, "fen": f, "approved": n}
        for (key, unit_id), (f, n) in totals.items()
    ]
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(UnitSaving), rows[start : start + CHUNK])


async def _insert(
    session: AsyncSession, campaign_id: int, totals: Iterable[tuple[tuple[str, int], float]]
) -> None:
    rows: list[dict[str, object]] = []
    for (key, member_id), fen in totals:
        rows.append({"campaign_id": campaign_id, "period": key, "member_id": member_id, "fen": fen})
        if len(rows) >= CHUNK:
            await session.execute(insert(MemberSaving), rows)
            rows = []
    if rows:
        await session.execute(insert(MemberSaving), rows)


async def ensure_current(db: Database, tz: ZoneInfo) -> int:
    """Rebuild the ledgers of every campaign not built in `tz`; returns how many were."""
    async with db.read() as session:
        stale = list(
            await session.scalars(
                select(Campaign.id).where(
                    (Campaign.ledger_tz.is_(None)) | (Campaign.ledger_tz != tz.key)
                )
            )
        )
    for campaign_id in stale:
        await rebuild(db, campaign_id, tz)
    return len(stale)
