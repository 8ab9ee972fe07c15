"""Units (workshops and departments) and their invite links."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.audit import record_admin
from bot.services.errors import ServiceError
from storage.db import Database
from storage.models import InviteCode, Member, MemberStatus, Unit

MAX_UNIT_NAME = 60
MAX_HEADCOUNT = 1_000_000


def clean_unit_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ServiceError("empty_name")
    if len(name) > MAX_UNIT_NAME:
        raise ServiceError("name_too_long", limit=MAX_UNIT_NAME)
    return name


def parse_headcount(text: str) -> int:
    text = text.strip().replace(",", "").replace("，", "").rstrip("人")
    if not text.isdecimal():  # isdigit() also takes "²" and "①", which int() refuses
        raise ServiceError("bad_headcount")
    digits = text.lstrip("0０") or "0"
    # Too many digits is too many people (int() also refuses more than 4,300 digits).
    if len(digits) > len(str(MAX_HEADCOUNT)):
        raise ServiceError("bad_headcount")
    value = int(digits)
    if value > MAX_HEADCOUNT:
        raise ServiceError("bad_headcount")
    return value


def parse_name_and_headcount(text: str) -> tuple[str, int]:
    """ "一车间 120" (or "一车间，120人"): a name and an optional trailing headcount."""
    match = re.match(r"^(.*?)[\s,，]+(\d[\d,]*)\s*人?$", text.strip())
    if match is None:
        return text, 0
    return match.group(1), parse_headcount(match.group(2))


_ALL_UNITS = select(Unit).order_by(Unit.name)
_CURRENT_UNITS = select(Unit).where(Unit.archived.is_(False)).order_by(Unit.name)
_ALL_NAMES = select(Unit.id, Unit.name).order_by(Unit.name)
_CURRENT_NAMES = _ALL_NAMES.where(Unit.archived.is_(False))


async def list_units(db: Database, *, archived: bool = False) -> list[Unit]:
    async with db.read() as session:
        return list(await session.scalars(_ALL_UNITS if archived else _CURRENT_UNITS))


async def unit_names(db: Database, *, archived: bool = False) -> list[tuple[int, str]]:
    """(id, name) of the units by name: what a unit picker shows, without loading each unit."""
    async with db.read() as session:
        rows = await session.execute(_ALL_NAMES if archived else _CURRENT_NAMES)
        return [(unit_id, name) for unit_id, name in rows]


async def get_unit(db: Database, unit_id: int) -> Unit | None:
    async with db.read() as session:
        return await session.get(Unit, unit_id)


def name_key(name: str) -> str:
    """Unit names are the same in any case. Folded here, not in SQL: the databases' lower()
    differ (SQLite's folds ASCII letters only), and a plant has a few hundred units at most."""
    return name.casefold()


async def _name_taken(session: AsyncSession, name: str, except_id: int | None = None) -> bool:
    """Another unit has this name, in any case."""
    wanted = name_key(name)
    rows = await session.execute(select(Unit.id, Unit.name))
    return any(unit_id != except_id and name_key(other) == wanted for unit_id, other in rows)


async def create_unit(
    db: Database, actor_id: int, name: str, headcount: int, now: datetime
) -> Unit:
    name = clean_unit_name(name)
    async with db.write() as session:
        if await _name_taken(session, name):
            raise ServiceError("unit_exists", name=name)
        unit = Unit(name=name, headcount=headcount, created_at=now)
        session.add(unit)
        await session.flush()
        record_admin(
            session,
            actor_id,
            "unit.create",
            f"unit:{unit.id}",
            {"name": name, "headcount": headcount},
            now,
        )
        return unit


async def rename_unit(db: Database, actor_id: int, unit_id: int, name: str, now: datetime) -> Unit:
    name = clean_unit_name(name)
    async with db.write() as session:
        unit = await session.get(Unit, unit_id)
        if unit is None:
            raise ServiceError("not_found")
        if await _name_taken(session, name, except_id=unit_id):
            raise ServiceError("unit_exists", name=name)
        old, unit.name = unit.name, name
        record_admin(
            session, actor_id, "unit.rename", f"unit:{unit_id}", {"old": old, "new": name}, now
        )
        return unit


async def set_headcount(
    db: Database, actor_id: int, unit_id: int, headcount: int, now: datetime
) -> Unit:
    async with db.write() as session:
        unit = await session.get(Unit, unit_id)
        if unit is None:
            raise ServiceError("not_found")
        old, unit.headcount = unit.headcount, headcount
        record_admin(
            session,
            actor_id,
            "unit.headcount",
            f"unit:{unit_id}",
            {"old": old, "new": headcount},
            now,
        )
        return unit


async def set_archived(
    db: Database, actor_id: int, unit_id: int, archived: bool, now: datetime
) -> Unit:
    async with db.write() as session:
        unit = await session.get(Unit, unit_id)
        if unit is None:
            raise ServiceError("not_found")
        unit.archived = archived
        record_admin(
            session,
            actor_id,
            "unit.archive" if archived else "unit.restore",
            f"unit:{unit_id}",
            None,
            now,
        )
        return unit


async def active_invite(db: Database, unit_id: int) -> InviteCode | None:
    async with db.read() as session:
        return await session.scalar(
            select(InviteCode)
            .where(InviteCode.unit_id == unit_id, InviteCode.revoked_at.is_(None))
            .order_by(InviteCode.id.desc())
            .limit(1)
        )


async def create_invite(db: Database, actor_id: int, unit_id: int, now: datetime) -> InviteCode:
    """A new invite code for the unit; earlier ones are revoked so one link is valid at a time."""
    async with db.write() as session:
        unit = await session.get(Unit, unit_id)
        if unit is None or unit.archived:
            raise ServiceError("not_found")
        for old in await session.scalars(
            select(InviteCode).where(InviteCode.unit_id == unit_id, InviteCode.revoked_at.is_(None))
        ):
            old.revoked_at = now
        invite = InviteCode(
            code=secrets.token_urlsafe(9), unit_id=unit_id, created_by=actor_id, created_at=now
        )
        session.add(invite)
        await session.flush()
        record_admin(session, actor_id, "invite.create", f"unit:{unit_id}", None, now)
        return invite


async def revoke_invites(db: Database, actor_id: int, unit_id: int, now: datetime) -> int:
    async with db.write() as session:
        revoked = 0
        for old in await session.scalars(
            select(InviteCode).where(InviteCode.unit_id == unit_id, InviteCode.revoked_at.is_(None))
        ):
            old.revoked_at = now
            revoked += 1
        if revoked:
            record_admin(session, actor_id, "invite.revoke", f"unit:{unit_id}", None, now)
        return revoked


async def unit_for_code(db: Database, code: str) -> Unit | None:
    """The unit of a valid (not revoked) invite code, or None."""
    async with db.read() as session:
        return await session.scalar(
            select(Unit)
            .join(InviteCode, InviteCode.unit_id == Unit.id)
            .where(
                InviteCode.code == code,
                InviteCode.revoked_at.is_(None),
                Unit.archived.is_(False),
            )
        )


async def members_of(
    db: Database, unit_id: int, offset: int, limit: int
) -> tuple[list[Member], int]:
    async with db.read() as session:
        base = select(Member).where(
            Member.unit_id == unit_id, Member.status != MemberStatus.PENDING
        )
        total = await session.scalar(select(func.count()).select_from(base.subquery()))
        rows = await session.scalars(base.order_by(Member.name).offset(offset).limit(limit))
        return list(rows), int(total or 0)
