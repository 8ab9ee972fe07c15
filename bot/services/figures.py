"""Savings figures computed in SQL: what counts, who is credited, where a member stands."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import BigInteger, ColumnElement, Float, Subquery, and_, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import Item, ItemAuthor, ItemKind, ItemStatus, Member, MemberStatus

# An idea's saving counts once the committee has certified it.
COUNTED_STATUSES = (ItemStatus.APPROVED, ItemStatus.IMPLEMENTED, ItemStatus.VERIFIED)


def counted_fen() -> ColumnElement[int]:
    """The counted amount of an item in fen: its verified amount if there is one, else its
    certified amount (raw integers, so sums stay exact)."""
    return func.coalesce(
        type_coerce(Item.verified_amount, BigInteger),
        type_coerce(Item.certified_amount, BigInteger),
        0,
    )


def author_counts() -> Subquery:
    """How many authors each item has: each is credited an equal share."""
    return (
        select(ItemAuthor.item_id, func.count().label("n"))
        .group_by(ItemAuthor.item_id)
        .subquery("authors_per_item")
    )


def member_shares(campaign_id: int) -> Subquery:
    """Each member's credited savings in the campaign, in fen (a float: shares may split a fen)."""
    counts = author_counts()
    share = type_coerce(counted_fen(), Float) / counts.c.n
    return (
        select(ItemAuthor.member_id, func.sum(share).label("fen"))
        .join(Item, Item.id == ItemAuthor.item_id)
        .join(counts, counts.c.item_id == Item.id)
        .where(
            Item.campaign_id == campaign_id,
            Item.kind == ItemKind.IDEA,
            Item.status.in_(COUNTED_STATUSES),
        )
        .group_by(ItemAuthor.member_id)
        .subquery("shares")
    )


@dataclass(frozen=True)
class Standing:
    """A member's credited savings and rank (1 = first) in their unit and in the plant."""

    total: Decimal
    unit_rank: int
    unit_size: int
    plant_rank: int
    plant_size: int


async def _rank(
    session: AsyncSession, shares: Subquery, mine: float, unit_id: int | None
) -> tuple[int, int]:
    active = Member.status == MemberStatus.ACTIVE
    scope = [active] if unit_id is None else [active, Member.unit_id == unit_id]
    size = await session.scalar(select(func.count()).select_from(Member).where(*scope))
    ahead = await session.scalar(
        select(func.count())
        .select_from(shares)
        .join(Member, Member.id == shares.c.member_id)
        .where(and_(*scope), shares.c.fen > mine + 1e-6)
    )
    return int(ahead or 0) + 1, int(size or 0)


async def standing(db: Database, campaign_id: int, member: Member) -> Standing:
    """Where the member stands: ties share a rank; members with nothing yet rank last."""
    shares = member_shares(campaign_id)
    async with db.read() as session:
        mine = await session.scalar(select(shares.c.fen).where(shares.c.member_id == member.id))
        fen = float(mine or 0.0)
        unit_rank, unit_size = (
            await _rank(session, shares, fen, member.unit_id) if member.unit_id else (0, 0)
        )
        plant_rank, plant_size = await _rank(session, shares, fen, None)
    total = (Decimal(repr(fen)) / 100).quantize(Decimal("0.01"))
    return Standing(total, unit_rank, unit_size, plant_rank, plant_size)
