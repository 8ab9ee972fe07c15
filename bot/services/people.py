"""Members: joining, approval, roles and deactivation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, delete, func, literal_column, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import notify
from bot.services import ledger
from bot.services.audit import record_admin
from bot.services.errors import ServiceError
from storage.db import Database, dialect_insert, table_of
from storage.models import (
    Headcount,
    HeadcountChange,
    Member,
    MemberGroup,
    MemberStatus,
    Unit,
    UnitAssessor,
)

logger = logging.getLogger(__name__)

MAX_NAME = 40
ROLES = ("admin", "committee", "assessor")


@dataclass(frozen=True)
class Access:
    """What a member may do; checked on the server for every privileged action."""

    member_id: int | None
    is_admin: bool
    is_committee: bool
    assessor_units: frozenset[int]

    @property
    def is_assessor(self) -> bool:
        return bool(self.assessor_units)

    @property
    def is_reviewer(self) -> bool:
        return self.is_committee or self.is_assessor


NOBODY = Access(None, False, False, frozenset())


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ServiceError("empty_name")
    if len(name) > MAX_NAME:
        raise ServiceError("name_too_long", limit=MAX_NAME)
    return name


# The units a member assesses (parameter `member_id`), built once.
ASSESSED_UNITS = select(UnitAssessor.unit_id).where(
    UnitAssessor.member_id == bindparam("member_id")
)


async def access_of(db: Database, member: Member | None) -> Access:
    """The roles of an active member; nobody's roles for strangers and inactive members."""
    if member is None or member.status != MemberStatus.ACTIVE:
        return NOBODY
    async with db.read() as session:
        units = await session.scalars(ASSESSED_UNITS, {"member_id": member.id})
        return Access(member.id, member.is_admin, member.is_committee, frozenset(units))


async def ensure_admin(
    db: Database, telegram_id: int, name: str, language: str | None, now: datetime
) -> Member:
    """Make a user listed in ADMIN_IDS an active admin member (created on first contact)."""
    async with db.write() as session:
        member = await session.scalar(select(Member).where(Member.telegram_id == telegram_id))
        if member is not None and member.is_admin and member.status == MemberStatus.ACTIVE:
            return member
        if member is None:
            member = Member(
                telegram_id=telegram_id,
                name=clean_name(name[:MAX_NAME] or str(telegram_id)),
                language=language,
                created_at=now,
            )
            session.add(member)
        member.is_admin = True
        member.status = MemberStatus.ACTIVE
        await session.flush()
        record_admin(
            session,
            None,
            "role.grant",
            f"member:{member.id}",
            {"role": "admin", "source": "ADMIN_IDS"},
            now,
        )
        return member


async def imported_match(db: Database, username: str | None) -> Member | None:
    """An imported member waiting to be claimed by this Telegram username."""
    if not username:
        return None
    async with db.read() as session:
        return await session.scalar(
            select(Member).where(
                Member.telegram_id.is_(None),
                func.lower(Member.username) == username.lower(),
                Member.status == MemberStatus.ACTIVE,
            )
        )


async def claim_imported(
    db: Database, member_id: int, telegram_id: int, language: str | None, now: datetime
) -> Member:
    """Link an imported member to the Telegram user who just joined."""
    async with db.write() as session:
        member = await session.get(Member, member_id, with_for_update=True)
        if member is None or member.telegram_id is not None:
            raise ServiceError("already_claimed")
        if await session.scalar(select(Member.id).where(Member.telegram_id == telegram_id)):
            raise ServiceError("already_member")
        member.telegram_id = telegram_id
        member.language = language
        record_admin(session, member.id, "member.claim", f"member:{member.id}", None, now)
        return member


async def join(
    db: Database,
    *,
    telegram_id: int,
    username: str | None,
    name: str,
    unit_id: int,
    group: str,
    language: str | None,
    pending: bool,
    now: datetime,
    default_lang: str = "zh",
) -> Member:
    """Register a new member; a pending one is announced to every admin for approval."""
    name = clean_name(name)
    if group not in set(MemberGroup):
        raise ServiceError("bad_group")
    async with db.write() as session:
        unit = await session.get(Unit, unit_id)
        if unit is None or unit.archived:
            raise ServiceError("unit_gone")
        existing = await session.scalar(select(Member).where(Member.telegram_id == telegram_id))
        if existing is not None and existing.status != MemberStatus.DECLINED:
            if existing.status == MemberStatus.PENDING:
                raise ServiceError("join_pending")
            if existing.status == MemberStatus.INACTIVE:
                raise ServiceError("deactivated")
            raise ServiceError("already_member")
        member = existing or Member(telegram_id=telegram_id, created_at=now)
        member.username = username
        member.name = name
        member.unit_id = unit_id
        member.group = group
        member.language = language
        member.status = MemberStatus.PENDING if pending else MemberStatus.ACTIVE
        if existing is None:
            session.add(member)
        elif existing.unit_id != unit_id:
            await ledger.member_moved(session, db.is_sqlite, existing.id, unit_id)
        await session.flush()
        record_admin(
            session,
            member.id,
            "member.join",
            f"member:{member.id}",
            {"unit": unit_id, "pending": pending},
            now,
        )
        if pending:
            notify.join_request(session, await admins_in(session), member, unit, default_lang, now)
        return member


async def decide_join(
    db: Database,
    actor_id: int,
    member_id: int,
    approve: bool,
    now: datetime,
    default_lang: str = "zh",
) -> Member:
    """Approve or decline a pending join; only a pending one can be decided."""
    async with db.write() as session:
        member = await session.get(Member, member_id, with_for_update=True)
        if member is None or member.status != MemberStatus.PENDING:
            raise ServiceError("already_decided")
        # A declined applicant may apply again; a deactivated member may not.
        member.status = MemberStatus.ACTIVE if approve else MemberStatus.DECLINED
        record_admin(
            session,
            actor_id,
            "member.approve" if approve else "member.decline",
            f"member:{member_id}",
            None,
            now,
        )
        notify.join_decided(session, member, approve, default_lang, now)
        return member


async def pending_members(db: Database) -> list[Member]:
    async with db.read() as session:
        return list(
            await session.scalars(
                select(Member).where(Member.status == MemberStatus.PENDING).order_by(Member.id)
            )
        )


# The office's members who can be written to.
_ADMINS = select(Member).where(
    Member.is_admin.is_(True),
    Member.status == MemberStatus.ACTIVE,
    Member.telegram_id.is_not(None),
)


async def admins_in(session: AsyncSession) -> list[Member]:
    return list(await session.scalars(_ADMINS))


async def admins(db: Database) -> list[Member]:
    async with db.read() as session:
        return await admins_in(session)


async def search(db: Database, query: str, offset: int, limit: int) -> tuple[list[Member], int]:
    """Members whose name or username contains `query`, by name."""
    pattern = "%" + query.strip().replace("%", "").replace("_", "") + "%"
    async with db.read() as session:
        base = select(Member).where(
            or_(Member.name.ilike(pattern), Member.username.ilike(pattern)),
            Member.status != MemberStatus.PENDING,
        )
        total = await session.scalar(select(func.count()).select_from(base.subquery()))
        rows = await session.scalars(
            base.order_by(Member.name, Member.id).offset(offset).limit(limit)
        )
        return list(rows), int(total or 0)


async def get(db: Database, member_id: int) -> Member | None:
    async with db.read() as session:
        return await session.get(Member, member_id)


async def assessor_unit_ids(db: Database, member_id: int) -> list[int]:
    async with db.read() as session:
        return list(
            await session.scalars(
                select(UnitAssessor.unit_id).where(UnitAssessor.member_id == member_id)
            )
        )


async def _load(session: AsyncSession, member_id: int) -> Member:
    member = await session.get(Member, member_id, with_for_update=True)
    if member is None:
        raise ServiceError("not_found")
    return member


async def set_role(
    db: Database,
    actor_id: int,
    member_id: int,
    role: str,
    grant: bool,
    now: datetime,
    unit_id: int | None = None,
) -> Member:
    """Grant or revoke admin, committee, or assessor of one unit."""
    if role not in ROLES:
        raise ServiceError("bad_role")
    async with db.write() as session:
        member = await _load(session, member_id)
        if member.status != MemberStatus.ACTIVE:
            raise ServiceError("member_inactive")
        if role == "admin":
            if not grant and member_id == actor_id:
                raise ServiceError("cannot_revoke_self")
            member.is_admin = grant
        elif role == "committee":
            member.is_committee = grant
        else:
            if unit_id is None or await session.get(Unit, unit_id) is None:
                raise ServiceError("not_found")
            held = await session.get(UnitAssessor, (unit_id, member_id))
            if grant and held is None:
                session.add(UnitAssessor(unit_id=unit_id, member_id=member_id))
            elif not grant and held is not None:
                await session.delete(held)
        record_admin(
            session,
            actor_id,
            "role.grant" if grant else "role.revoke",
            f"member:{member_id}",
            {"role": role, "unit": unit_id},
            now,
        )
        return member


async def set_active(
    db: Database, actor_id: int, member_id: int, active: bool, now: datetime
) -> Member:
    """Deactivate (records stay, roles go) or reactivate a member."""
    async with db.write() as session:
        member = await _load(session, member_id)
        if not active and member_id == actor_id:
            raise ServiceError("cannot_deactivate_self")
        member.status = MemberStatus.ACTIVE if active else MemberStatus.INACTIVE
        if not active:
            member.is_admin = False
            member.is_committee = False
            await session.execute(delete(UnitAssessor).where(UnitAssessor.member_id == member_id))
        record_admin(
            session,
            actor_id,
            "member.activate" if active else "member.deactivate",
            f"member:{member_id}",
            None,
            now,
        )
        return member


async def settle_headcount(db: Database, *, recount: bool = False) -> int:
    """Fold the headcount changes the triggers on `member` logged into the headcount (now and
    then, and after an import, so "of N" adds up a few); `recount`: count the active members
    afresh instead (at start), folding only if changes of status kept on past a few seconds.
    Returns the headcount."""
    if recount:
        try:
            return await _settle_headcount(db, recount=True)
        except DBAPIError:
            logger.warning("Headcount not recounted (members changing); changes folded in")
    return await _settle_headcount(db, recount=False)


async def _settle_headcount(db: Database, *, recount: bool) -> int:
    async with db.write() as session:
        if recount:
            if not db.is_sqlite:  # SQLite's write transaction already holds off writers
                # Changes of status hold the log's lock until they commit: once it is ours,
                # every change is either committed (and counted) or waits for the recount.
                await session.execute(text("SET LOCAL lock_timeout = '5s'"))
                await session.execute(
                    text("LOCK TABLE headcount_change IN SHARE ROW EXCLUSIVE MODE")
                )
            await session.execute(delete(HeadcountChange))
            active = await session.scalar(
                select(func.count()).select_from(Member).where(Member.status == MemberStatus.ACTIVE)
            )
            total = int(active or 0)
            set_to: dict[str, ColumnElement[int]] = {"active": literal_column("excluded.active")}
        else:
            # Exactly the changes deleted, however many commit meanwhile.
            folded = delete(HeadcountChange).returning(HeadcountChange.change)
            total = sum(await session.scalars(folded))
            set_to = {"active": Headcount.active + literal_column("excluded.active")}
        insert = dialect_insert(db.is_sqlite, table_of(Headcount)).values(id=1, active=total)
        await session.execute(insert.on_conflict_do_update(index_elements=["id"], set_=set_to))
        return int(await session.scalar(select(Headcount.active)) or 0)
