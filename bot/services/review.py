"""The review state machine: who may decide what at which stage, and each decision as one
transaction (conditional UPDATE on the expected status + audit event + every message it
causes, written to the outbox)."""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Executable,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot import cards, notify
from bot.config import Settings
from bot.services import ledger, people
from bot.services.errors import ServiceError
from bot.services.items import add_attachments, assessed, reviewers_for
from storage.db import Database, one_of, set_parameters, set_values
from storage.models import (
    Attachment,
    Campaign,
    Grade,
    Item,
    ItemAuthor,
    ItemEvent,
    ItemStatus,
    Member,
    MemberStatus,
    OutboxMessage,
    Unit,
    UnitAssessor,
)
from storage.types import UTCDateTime

S = ItemStatus


@dataclass(frozen=True)
class Rule:
    """One decision: the stages it is taken from, the stage it leads to (None: the stage the
    item was returned from), who may take it, and what it needs."""

    sources: tuple[str, ...]
    target: str | None
    role: str  # assessor, stage, committee, implementer, waste, author
    text: bool = False  # a reason, opinion, question, note or answer is required


RULES: dict[str, Rule] = {
    "forward": Rule((S.FIRST_REVIEW,), S.COMMITTEE, "assessor", text=True),
    "ask": Rule((S.FIRST_REVIEW, S.COMMITTEE), S.NEEDS_INFO, "stage", text=True),
    "reject": Rule((S.FIRST_REVIEW, S.COMMITTEE), S.REJECTED, "stage", text=True),
    "approve": Rule((S.COMMITTEE,), S.APPROVED, "committee"),
    "implement": Rule((S.APPROVED,), S.IMPLEMENTED, "implementer"),
    "verify": Rule((S.IMPLEMENTED,), S.VERIFIED, "committee"),
    "acknowledge": Rule((S.REPORTED,), S.ACKNOWLEDGED, "waste"),
    "assign": Rule((S.REPORTED, S.ACKNOWLEDGED), S.ACKNOWLEDGED, "waste"),
    "fix": Rule((S.REPORTED, S.ACKNOWLEDGED), S.FIXED, "waste", text=True),
    "dismiss": Rule((S.REPORTED, S.ACKNOWLEDGED), S.DISMISSED, "waste", text=True),
    "answer": Rule((S.NEEDS_INFO,), None, "author", text=True),
}
# The codes on review-card buttons (callback data is short).
CODES = {
    "fwd": "forward",
    "ask": "ask",
    "rej": "reject",
    "ok": "approve",
    "impl": "implement",
    "ver": "verify",
    "ack": "acknowledge",
    "asg": "assign",
    "fix": "fix",
    "dis": "dismiss",
}
CLOSED = (S.REJECTED, S.VERIFIED, S.FIXED, S.DISMISSED)
MAX_TEXT = 1000


@dataclass(frozen=True)
class Actor:
    member: Member
    assessor_units: frozenset[int]  # for a decision on an item: its unit, if they assess it
    # For a decision on an item: its unit has no assessor who can act (none active and
    # joined), so the committee takes the unit's first reviews (as for a unit without one).
    unassessed: bool = False

    def may(self, rule: Rule, item: Item, is_author: bool, status: str | None = None) -> bool:
        """May take the decision on the item at `status` (default: its current stage)."""
        m = self.member
        assessor = item.unit_id in self.assessor_units
        if self.unassessed and m.is_committee and (status or item.status) == S.FIRST_REVIEW:
            assessor = True
        if rule.role != "author" and is_author:
            return False  # nobody reviews their own item
        if rule.role == "author":
            return is_author
        if rule.role == "assessor":
            return assessor
        if rule.role == "committee":
            return m.is_committee
        if rule.role == "stage":
            stage = status or item.status
            return assessor if stage == S.FIRST_REVIEW else m.is_committee
        if rule.role == "implementer":
            return assessor or m.is_committee or m.is_admin
        return assessor or m.is_admin  # waste reports: the unit's assessors and the office


# The statements of every decision are built once: building one costs more than running it.
# The member, whether they assess the unit `unit_id`, whether they are an author of the
# item `item_id`, and whether the unit has an assessor who can act on it (not an author).
_ACTOR_ON_ITEM = select(
    Member,
    exists().where(
        UnitAssessor.member_id == Member.id,
        UnitAssessor.unit_id == bindparam("unit_id", type_=Integer),
    ),
    exists().where(
        ItemAuthor.item_id == bindparam("item_id", type_=Integer),
        ItemAuthor.member_id == Member.id,
    ),
    assessed(
        bindparam("unit_id", type_=Integer),
        ~exists().where(
            ItemAuthor.item_id == bindparam("item_id", type_=Integer),
            ItemAuthor.member_id == UnitAssessor.member_id,
        ),
    ),
).where(Member.id == bindparam("member_id", type_=Integer))
_AUTHORS = (
    select(Member)
    .join(ItemAuthor, ItemAuthor.member_id == Member.id)
    .where(ItemAuthor.item_id == bindparam("item_id"))
    .order_by(Member.id)
)
_CANCEL_UNSENT_CARDS = (
    update(OutboxMessage)
    .where(
        OutboxMessage.item_id == bindparam("card_item"),
        one_of(OutboxMessage.purpose, ("review_card", "review_file")),
        OutboxMessage.status == "pending",
    )
    .values(status="cancelled")
    .execution_options(synchronize_session=False)
)
_SENT_CARDS = (
    select(OutboxMessage.chat_id, OutboxMessage.message_id, OutboxMessage.member_id)
    .where(
        OutboxMessage.item_id == bindparam("item_id"),
        OutboxMessage.purpose == "review_card",
        OutboxMessage.status == "sent",
        OutboxMessage.message_id.is_not(None),
    )
    .order_by(OutboxMessage.id)
)
_MEMBERS = select(Member).where(Member.id.in_(bindparam("ids", expanding=True)))
# Units with first reviews waiting and no assessor who can act (usually none).
_UNASSESSED_UNITS = (
    select(Unit.id)
    .where(
        exists().where(Item.unit_id == Unit.id, Item.status == S.FIRST_REVIEW),
        ~assessed(Unit.id),
    )
    .order_by(Unit.id)
)
_ATTACHMENTS = (
    select(Attachment).where(Attachment.item_id == bindparam("item_id")).order_by(Attachment.id)
)


async def _actor(session: AsyncSession, member_id: int) -> Actor:
    member = await session.get(Member, member_id)
    if member is None or member.status != MemberStatus.ACTIVE:
        raise ServiceError("forbidden")
    units = await session.scalars(people.ASSESSED_UNITS, {"member_id": member_id})
    return Actor(member, frozenset(units))


async def _already(session: AsyncSession, item: Item, tz: ZoneInfo) -> ServiceError:
    """ "Already decided by X at 14:02" from the item's latest event."""
    row = (
        await session.execute(
            select(ItemEvent, Member.name)
            .outerjoin(Member, Member.id == ItemEvent.actor_id)
            .where(ItemEvent.item_id == item.id)
            .order_by(ItemEvent.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return ServiceError("already_decided")
    event, name = row
    hidden = item.anonymous and event.actor_id == item.author_id
    return ServiceError(
        "decided_by",
        name="-" if hidden else name or "-",
        time=cards.local_time(event.created_at, tz),
    )


async def _permitted(
    session: AsyncSession, actor: Actor, rule: Rule, item: Item, is_author: bool, tz: ZoneInfo
) -> None:
    """Refuse who may never take this decision; tell who could that it was already taken."""
    if not any(actor.may(rule, item, is_author, stage) for stage in rule.sources):
        raise ServiceError("forbidden")
    if item.status not in rule.sources:
        raise await _already(session, item, tz)
    if not actor.may(rule, item, is_author):
        raise ServiceError("forbidden")


async def _checked(
    session: AsyncSession, item_id: int, member_id: int, rule: Rule, tz: ZoneInfo
) -> tuple[Item, Actor]:
    """The item and the actor, once the actor may take the decision on it now."""
    item, actor, is_author = await _load(session, item_id, member_id)
    await _permitted(session, actor, rule, item, is_author, tz)
    return item, actor


async def _load(session: AsyncSession, item_id: int, member_id: int) -> tuple[Item, Actor, bool]:
    """The item, the member as an actor on it, and whether they are one of its authors."""
    item = await session.get(Item, item_id)
    if item is None:
        raise ServiceError("not_found")
    keys = {"member_id": member_id, "unit_id": item.unit_id, "item_id": item_id}
    row = (await session.execute(_ACTOR_ON_ITEM, keys)).first()
    if row is None or row[0].status != MemberStatus.ACTIVE:
        raise ServiceError("forbidden")
    member, assesses, is_author, has_assessor = row
    units = frozenset({item.unit_id} if assesses else ())
    return item, Actor(member, units, unassessed=not has_assessor), bool(is_author)


@dataclass(frozen=True)
class Check:
    """What a reviewer about to decide needs to know."""

    item: Item
    action: str
    claimed: Decimal | None
    proposed_reward: dict[str, Decimal]  # by grade


async def check(db: Database, item_id: int, member_id: int, action: str, tz: ZoneInfo) -> Check:
    """May this member take this decision now? Raises the refusal to show otherwise."""
    rule = RULES.get(action)
    if rule is None:
        raise ServiceError("not_found")
    async with db.read() as session:
        item = (await _checked(session, item_id, member_id, rule, tz))[0]
        campaign = await session.get(Campaign, item.campaign_id)
        rewards = {str(g): reward_for(campaign, g, item.claimed_amount) for g in Grade}
        return Check(item, action, item.claimed_amount, rewards)


def reward_for(campaign: Campaign | None, grade: str, certified: Decimal | None) -> Decimal:
    """The reward rule set by the office: a per-grade amount plus a share of the saving."""
    if campaign is None:
        return Decimal("0.00")
    per_grade: dict[str, Decimal] = {
        Grade.GOLD: campaign.gold_reward,
        Grade.SILVER: campaign.silver_reward,
    }
    base = per_grade.get(grade, Decimal(0))
    share = (certified or Decimal(0)) * (campaign.reward_share or Decimal(0))
    return (Decimal(base or 0) + share).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class Decision:
    item: Item
    event: ItemEvent
    actor_name: str


async def decide(
    db: Database,
    item_id: int,
    member_id: int,
    action: str,
    now: datetime,
    tz: ZoneInfo,
    *,
    text: str | None = None,
    amount: Decimal | None = None,
    grade: str | None = None,
    reward: Decimal | None = None,
    unit_id: int | None = None,
    files: list[dict[str, str]] | None = None,
    default_lang: str = "zh",
    committee_chat_id: int | None = None,
) -> Decision:
    """Take one decision; exactly one of two concurrent decisions on an item succeeds, the
    other gets "already decided by X"."""
    rule = RULES.get(action)
    if rule is None:
        raise ServiceError("not_found")
    text = (text or "").strip()
    if rule.text and not text:
        raise ServiceError("reason_required")
    if len(text) > MAX_TEXT:
        raise ServiceError("reason_too_long", limit=MAX_TEXT)
    async with db.write() as session:
        item, actor = await _checked(session, item_id, member_id, rule, tz)
        current = item.status
        counted_before = ledger.counted_fen_of(item)
        target = rule.target or item.info_from_status or S.FIRST_REVIEW
        values: dict[str, Any] = {
            "status": target,
            "stage_since": now,
            "updated_at": now,
            "reminded_at": None,
        }
        data: dict[str, Any] = {}
        event_amount: Decimal | None = None
        if action == "approve":
            certified = amount if amount is not None else item.claimed_amount
            if certified is None or certified <= 0:
                raise ServiceError("amount_required")
            grade = grade if grade in set(Grade) else Grade.NONE
            campaign = await session.get(Campaign, item.campaign_id)
            given = reward if reward is not None else reward_for(campaign, grade, certified)
            values.update(
                certified_amount=certified, grade=grade, reward_amount=given, approved_at=now
            )
            event_amount = certified
            data = {"grade": grade, "reward": str(given)}
        elif action == "verify":
            if amount is None or amount < 0:
                raise ServiceError("amount_required")
            values.update(verified_amount=amount, verified_at=now)
            event_amount = amount
        elif action == "implement":
            values["implemented_at"] = now
        elif action == "ask":
            values.update(info_from_status=current, info_asked_by=member_id)
        elif action == "answer":
            values.update(info_from_status=None, info_asked_by=None)
        elif action == "assign":
            unit = await session.get(Unit, unit_id) if unit_id else None
            if unit is None or unit.archived:
                raise ServiceError("unit_gone")
            values["unit_id"] = unit.id
            data = {"unit": unit.name}
        if target in CLOSED:
            values["closed_at"] = now
        asked_by = item.info_asked_by
        result = await session.execute(
            _decision_update(frozenset(values)),
            {"item_id_": item_id, "status_": current} | set_values(values),
        )
        if result.scalar() is None:  # the item as written (`item`, refreshed), or nothing
            # Another decision committed first (PostgreSQL re-reads the row under the lock).
            await session.refresh(item)
            raise await _already(session, item, tz)
        if action in ("approve", "verify"):
            await ledger.credit(
                session, db.is_sqlite, item, counted_before, tz, approved=action == "approve"
            )
        event = ItemEvent(
            item_id=item.id,
            actor_id=member_id,
            action=action,
            from_status=current,
            to_status=target,
            reason=text or None,
            amount=event_amount,
            data=data or None,
            created_at=now,
        )
        session.add(event)
        await session.flush()
        add_attachments(session, item.id, event.id, files or [], now)
        view = await cards.load_view(session, item)
        hidden = item.anonymous and member_id == item.author_id
        actor_name = "" if hidden else actor.member.name
        await _tell_authors(session, view, item, action, text, default_lang, now)
        holders = await _holders(session, item, asked_by if action == "answer" else None)
        await _update_cards(
            session,
            view,
            action,
            actor_name,
            holders,
            text,
            default_lang,
            now,
            tz,
            committee_chat_id=committee_chat_id,
        )
        return Decision(item, event, actor_name)


@functools.cache
def _decision_update(columns: frozenset[str]) -> Executable:
    """The conditional update of an item's `columns` (parameters `item_id_`, `status_` and
    the columns' values), built once for each set of columns a decision writes. It returns
    the row as written, which refreshes the session's item."""
    return (
        update(Item)
        .where(Item.id == bindparam("item_id_"), Item.status == bindparam("status_"))
        .values(set_parameters(Item, columns))
        .returning(Item)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


async def _holders(session: AsyncSession, item: Item, asker: int | None) -> list[Member]:
    """Who holds the item at its new stage (gets a card with the stage's decisions)."""
    if item.status in CLOSED or item.status == S.NEEDS_INFO:
        return []
    if asker is not None:
        member = await session.get(Member, asker)
        if member is not None and member.status == MemberStatus.ACTIVE:
            return [member]
    return await reviewers_for(session, item)


async def _tell_authors(
    session: AsyncSession,
    view: cards.ItemView,
    item: Item,
    action: str,
    text: str,
    default_lang: str,
    now: datetime,
) -> None:
    if action == "answer":
        return
    authors = await session.scalars(_AUTHORS, {"item_id": item.id})
    notify.decision_to_authors(session, list(authors), view, action, text, default_lang, now)


async def _update_cards(
    session: AsyncSession,
    view: cards.ItemView,
    action: str,
    actor_name: str,
    holders: list[Member],
    text: str,
    default_lang: str,
    now: datetime,
    tz: ZoneInfo,
    *,
    committee_chat_id: int | None,
) -> None:
    """Every copy of the card shows the decision; holders of the new stage get its buttons
    (on their existing copy, or on a new card)."""
    # Cards not sent yet would be stale: they are not sent at all.
    await session.execute(_CANCEL_UNSENT_CARDS, {"card_item": view.id})
    sent = list(await session.execute(_SENT_CARDS, {"item_id": view.id}))
    holder_ids = {m.id for m in holders}
    ids = sorted({row.member_id for row in sent if row.member_id})
    members = {m.id: m for m in await session.scalars(_MEMBERS, {"ids": ids})} if ids else {}
    kept: set[int] = set()
    for chat_id, message_id, member_id in sent:
        if message_id is None:
            continue
        member = members.get(member_id) if member_id else None
        keep = member_id in holder_ids and member_id not in kept
        if keep and member_id is not None:
            kept.add(member_id)
        notify.card_decided(
            session,
            chat_id,
            message_id,
            member,
            view,
            action,
            actor_name,
            now,
            tz,
            default_lang,
            keep_buttons=keep or (member is None and view.status == S.COMMITTEE),
            text=text,
        )
    new = [m for m in holders if m.id not in kept]
    note = text if action == "answer" else None
    notify.review_cards(session, view, new, [], default_lang, now, note=note)
    if committee_chat_id and view.status == S.COMMITTEE and action != "answer":
        notify.review_card_to_chat(session, committee_chat_id, view, default_lang, now)


async def open_card(
    db: Database, item_id: int, member_id: int, now: datetime, tz: ZoneInfo, default_lang: str
) -> None:
    """Send a fresh review card to a reviewer who may decide the item's current stage."""
    async with db.write() as session:
        item, actor, is_author = await _load(session, item_id, member_id)
        allowed = [
            rule
            for name, rule in RULES.items()
            if name != "answer" and item.status in rule.sources and actor.may(rule, item, is_author)
        ]
        if not allowed:
            # "Already decided by X" only to who could have decided it: it names the reviewer.
            reviewer = any(
                actor.may(rule, item, is_author, stage)
                for name, rule in RULES.items()
                if name != "answer"
                for stage in rule.sources
            )
            if reviewer and (item.status not in OPEN or item.status == S.NEEDS_INFO):
                raise await _already(session, item, tz)
            raise ServiceError("forbidden")
        view = await cards.load_view(session, item)
        attachments = list(await session.scalars(_ATTACHMENTS, {"item_id": item.id}))
        notify.review_cards(session, view, [actor.member], attachments, default_lang, now)


# --- what waits, and what is overdue ---------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Days an item may wait at each stage before its holders are reminded."""

    first_review: int
    committee: int
    implementation: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            settings.first_review_days, settings.committee_days, settings.implementation_days
        )

    def days(self, status: str) -> int:
        if status in (S.COMMITTEE, S.IMPLEMENTED):
            return self.committee
        if status == S.APPROVED:
            return self.implementation
        return self.first_review


OPEN = (
    S.FIRST_REVIEW,
    S.COMMITTEE,
    S.NEEDS_INFO,
    S.APPROVED,
    S.IMPLEMENTED,
    S.REPORTED,
    S.ACKNOWLEDGED,
)


@functools.cache
def _overdue_query() -> Select[Any]:
    """How many items wait at their stage longer than its limit: one index range per stage
    (campaign, status, time at the stage), counted and added up; the parameters are the
    campaign and each stage's deadline (`deadline_<status>`)."""
    campaign = bindparam("campaign_id", type_=Integer)
    counts = [
        select(func.count())
        .select_from(Item)
        .where(
            Item.campaign_id == campaign,
            Item.status == status,
            Item.stage_since < bindparam(f"deadline_{status}", type_=UTCDateTime()),
        )
        .scalar_subquery()
        for status in OPEN
    ]
    return select(functools.reduce(operator.add, counts))


async def count_overdue(
    session: AsyncSession, campaign_id: int, limits: Limits, now: datetime
) -> int:
    deadlines = {f"deadline_{s}": now - timedelta(days=limits.days(s)) for s in OPEN}
    total = await session.scalar(_overdue_query(), {"campaign_id": campaign_id, **deadlines})
    return int(total or 0)


async def waiting_for(db: Database, member_id: int, page: int, size: int) -> tuple[list[Item], int]:
    """Items whose current stage this member may decide, oldest first."""
    async with db.read() as session:
        actor = await _actor(session, member_id)
        conditions = []
        units = list(actor.assessor_units)
        m = actor.member
        if units:
            conditions.append(
                and_(
                    one_of(Item.unit_id, units),
                    one_of(Item.status, (S.FIRST_REVIEW, S.APPROVED, S.REPORTED, S.ACKNOWLEDGED)),
                )
            )
        if m.is_committee:
            conditions.append(one_of(Item.status, (S.COMMITTEE, S.IMPLEMENTED, S.APPROVED)))
            # First reviews of units whose assessors cannot act: the units first (a look per
            # unit), so that the items are read by stage from the index (with a condition on
            # them only when there are such units).
            orphaned = list(await session.scalars(_UNASSESSED_UNITS))
            if orphaned:
                conditions.append(
                    and_(Item.status == S.FIRST_REVIEW, one_of(Item.unit_id, orphaned))
                )
        if m.is_admin:
            conditions.append(one_of(Item.status, (S.REPORTED, S.ACKNOWLEDGED)))
        if not conditions:
            return [], 0
        mine = select(ItemAuthor.item_id).where(ItemAuthor.member_id == member_id)
        query = select(Item).where(or_(*conditions), Item.id.not_in(mine))
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await session.scalars(
            query.order_by(Item.stage_since, Item.id).offset(page * size).limit(size)
        )
        return list(rows), int(total or 0)


async def overdue(db: Database, limits: Limits, now: datetime) -> list[tuple[str, str, int]]:
    """(stage, unit name, count) of overdue items, by stage then unit."""
    result: list[tuple[str, str, int]] = []
    async with db.read() as session:
        for status in OPEN:
            deadline = now - timedelta(days=limits.days(status))
            rows = await session.execute(
                select(Unit.name, func.count(Item.id))
                .join(Unit, Unit.id == Item.unit_id)
                .where(Item.status == status, Item.stage_since < deadline)
                .group_by(Unit.name)
                .order_by(Unit.name)
            )
            result += [(status, name, int(count)) for name, count in rows]
    return result


async def send_reminders(db: Database, limits: Limits, now: datetime, default_lang: str) -> int:
    """Remind whoever holds each overdue item, at most once a day per item; returns how many
    items were reminded about."""
    reminded = 0
    async with db.write() as session:
        for status in OPEN:
            deadline = now - timedelta(days=limits.days(status))
            rows = list(
                await session.scalars(
                    select(Item)
                    .where(
                        Item.status == status,
                        Item.stage_since < deadline,
                        (Item.reminded_at.is_(None))
                        | (Item.reminded_at <= now - timedelta(days=1)),
                    )
                    .order_by(Item.stage_since, Item.id)
                )
            )
            for item in rows:
                if status == S.NEEDS_INFO:
                    holders = list(
                        await session.scalars(
                            select(Member)
                            .join(ItemAuthor, ItemAuthor.member_id == Member.id)
                            .where(ItemAuthor.item_id == item.id)
                        )
                    )
                else:
                    holders = await _holders(session, item, None)
                result = await session.execute(
                    update(Item)
                    .where(
                        Item.id == item.id,
                        Item.status == status,
                        Item.stage_since == item.stage_since,
                        # Another process may have reminded meanwhile: once a day in all.
                        (Item.reminded_at.is_(None))
                        | (Item.reminded_at <= now - timedelta(days=1)),
                    )
                    .values(reminded_at=now)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                days = (now - item.stage_since).days
                notify.reminder(session, holders, item, days, default_lang, now)
                reminded += 1
    return reminded
