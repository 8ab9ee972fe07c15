"""Typed SQLAlchemy models of the campaign: who, where, what was submitted, what happened."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import Money, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), Decimal: Money(), dict[str, Any]: JSON()}


class MemberGroup(enum.StrEnum):
    """The statistical group of a worker."""

    PARTY = "party"  # 党员
    LEAGUE = "league"  # 团员
    STAFF = "staff"  # 群众


class MemberStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the office's approval
    ACTIVE = "active"
    INACTIVE = "inactive"  # deactivated: records stay
    DECLINED = "declined"  # the office declined the join; may apply again


class ItemKind(enum.StrEnum):
    IDEA = "idea"
    WASTE = "waste"


class ItemStatus(enum.StrEnum):
    """Where an item is; the allowed moves between them live in bot.workflow."""

    FIRST_REVIEW = "first_review"  # 初评: with the unit's assessors
    COMMITTEE = "committee"  # 评审认定: with the committee
    NEEDS_INFO = "needs_info"  # returned to the author with a question
    APPROVED = "approved"  # certified, waiting for implementation
    IMPLEMENTED = "implemented"  # waiting for the verified effect
    VERIFIED = "verified"
    REJECTED = "rejected"
    # waste reports
    REPORTED = "reported"
    ACKNOWLEDGED = "acknowledged"
    FIXED = "fixed"
    DISMISSED = "dismissed"


class Grade(enum.StrEnum):
    NONE = "none"
    SILVER = "silver"
    GOLD = "gold"


class Campaign(Base):
    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    per_head_target: Mapped[Decimal] = mapped_column(default=Decimal("1000"))
    total_target: Mapped[Decimal] = mapped_column(default=Decimal("1000000"))
    idea_prefix: Mapped[str] = mapped_column(String(8), default="JY")
    waste_prefix: Mapped[str] = mapped_column(String(8), default="LF")
    gold_reward: Mapped[Decimal] = mapped_column(default=Decimal("500"))
    silver_reward: Mapped[Decimal] = mapped_column(default=Decimal("200"))
    reward_share: Mapped[Decimal] = mapped_column(Numeric(6, 4), default=Decimal("0"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The time zone the savings ledger's periods were cut in (`member_saving`); None: not built.
    ledger_tz: Mapped[str | None] = mapped_column(String(64), default=None)

    categories: Mapped[list[Category]] = relationship(
        back_populates="campaign", order_by="Category.position"
    )


class Category(Base):
    __tablename__ = "category"
    __table_args__ = (UniqueConstraint("campaign_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)

    campaign: Mapped[Campaign] = relationship(back_populates="categories")


class Counter(Base):
    """Next registration number per campaign, kind and year: gap-free by row lock."""

    __tablename__ = "counter"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Unit(Base):
    """A workshop or department."""

    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    headcount: Mapped[int] = mapped_column(Integer, default=0)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Member(Base):
    __tablename__ = "member"
    # Headcounts of the plant and of a unit are index ranges (ranks in /my and /rank); the
    # committee and the office are found by their flag (by status alone, every active member
    # would be read).
    __table_args__ = (
        Index("ix_member_status_unit", "status", "unit_id"),
        Index("ix_member_committee", "is_committee", "status"),
        Index("ix_member_admin", "is_admin", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    group: Mapped[str] = mapped_column(String(16), default=MemberGroup.STAFF)
    language: Mapped[str | None] = mapped_column(String(8))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_committee: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=MemberStatus.ACTIVE)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit | None] = relationship()


class UnitAssessor(Base):
    __tablename__ = "unit_assessor"

    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), primary_key=True, index=True)


class InviteCode(Base):
    __tablename__ = "invite_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class Item(Base):
    """An idea (节约项目) or a waste report (浪费现象投诉)."""

    __tablename__ = "item"
    __table_args__ = (
        UniqueConstraint("number"),
        UniqueConstraint("client_key"),
        # Wide indexes: figures and reports read only these columns, never the rows (0006).
        Index("ix_item_campaign_status", "campaign_id", "status", "stage_since"),
        Index("ix_item_campaign_submitted", "campaign_id", "submitted_at", "kind", "unit_id", "id"),
        Index("ix_item_unit_status", "unit_id", "status"),
        # The items at a stage, oldest first: the committee's queue and the overdue look read
        # the stage's range, not every item ever submitted (0011).
        Index("ix_item_status_stage", "status", "stage_since", "id"),
        Index(
            "ix_item_campaign_approved",
            "campaign_id",
            "approved_at",
            "kind",
            "status",
            "unit_id",
            "certified_amount",
            "verified_amount",
            "id",
            "grade",  # the period's gold ideas without reading the other rows (0007)
        ),
        # Savings per unit: one range per unit and counted status, by approval time (0007).
        Index(
            "ix_item_campaign_unit_approved",
            "campaign_id",
            "unit_id",
            "status",
            "approved_at",
            "certified_amount",
            "verified_amount",
        ),
        Index(
            "ix_item_campaign_closed",
            "campaign_id",
            "kind",
            "closed_at",
            "status",
            "unit_id",
            "submitted_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"))
    kind: Mapped[str] = mapped_column(String(8))
    number: Mapped[str] = mapped_column(String(32))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str | None] = mapped_column(String(200))
    claimed_amount: Mapped[Decimal | None] = mapped_column()
    certified_amount: Mapped[Decimal | None] = mapped_column()
    verified_amount: Mapped[Decimal | None] = mapped_column()
    reward_amount: Mapped[Decimal | None] = mapped_column()
    grade: Mapped[str] = mapped_column(String(8), default=Grade.NONE)
    status: Mapped[str] = mapped_column(String(16))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    stage_since: Mapped[datetime] = mapped_column(default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(index=True)
    implemented_at: Mapped[datetime | None] = mapped_column()
    verified_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The draft's random key: submitting the same draft twice (a retry after a crash,
    # a double tap) finds the first item instead of making a second.
    client_key: Mapped[str | None] = mapped_column(String(32))
    # While returned for information: the stage it came from and who asked.
    info_from_status: Mapped[str | None] = mapped_column(String(16))
    info_asked_by: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    # The last overdue reminder for the current stage (at most one a day).
    reminded_at: Mapped[datetime | None] = mapped_column()


class ItemAuthor(Base):
    """Every author of an item (the submitter and co-authors share its credit equally)."""

    __tablename__ = "item_author"
    # A member's items, latest first, straight from the index (/my reads a page of five).
    __table_args__ = (Index("ix_item_author_member_item", "member_id", "item_id"),)

    item_id: Mapped[int] = mapped_column(
        ForeignKey("item.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), primary_key=True)
    is_submitter: Mapped[bool] = mapped_column(Boolean, default=False)


class ItemEvent(Base):
    """The audit trail of an item: every decision, by whom, when, why and with which amounts."""

    __tablename__ = "item_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column()
    data: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdminEvent(Base):
    """The audit trail of roles and administration."""

    __tablename__ = "admin_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    """A photo, document or voice note kept by its Telegram file id."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("item_event.id"))
    kind: Mapped[str] = mapped_column(String(16))
    file_id: Mapped[str] = mapped_column(String(255))
    file_unique_id: Mapped[str | None] = mapped_column(String(64))
    file_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnnouncementChat(Base):
    __tablename__ = "announcement_chat"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    registered_by: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A message to a person or a chat, written with the change that causes it."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_pending", "status", "not_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    method: Mapped[str] = mapped_column(String(32), default="sendMessage")
    payload: Mapped[dict[str, Any]] = mapped_column()
    purpose: Mapped[str | None] = mapped_column(String(40))
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("item.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)


class ScheduledPost(Base):
    """A claim on one scheduled post (kind, period, chat): whoever inserts it first sends it."""

    __tablename__ = "scheduled_post"
    __table_args__ = (UniqueConstraint("kind", "period", "chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # weekly, monthly, quarterly, half, year
    period: Mapped[str] = mapped_column(String(16))  # 2026-W47, 2026-11, 2026-Q4, 2026-H1, 2026
    chat_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # queued (in the outbox) or skipped
    due_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("member.id"))


class Blob(Base):
    """A file the bot made (a chart) waiting in the outbox to be uploaded."""

    __tablename__ = "blob"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MemberSaving(Base):
    """Each member's credited savings per period (节约记录): an approved idea's counted amount,
    shared equally among its authors, is added to the periods of its approval (week, month,
    quarter, half-year and year in the campaign's time zone, and "all"). Written with each
    decision, so ranks and top lists are index ranges, not sums over the items."""

    __tablename__ = "member_saving"
    __table_args__ = (
        Index("ix_member_saving_rank", "campaign_id", "period", "fen"),
        Index("ix_member_saving_unit_rank", "campaign_id", "period", "unit_id", "fen"),
    )

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(8), primary_key=True)  # 2026-W47 ... 2026, all
    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    fen: Mapped[float] = mapped_column(Double)  # shares may split a fen
    # The member's unit (member.unit_id, kept equal wherever either is written): a rank in the
    # unit is an index range too.
    unit_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Headcount(Base):
    """The plant's active members: triggers on `member` (migration 0014) log every row into or
    out of status "active" as a change (HeadcountChange), whichever code writes it; the count
    here plus the changes logged is the headcount ("of N" in a member's place reads two small
    tables instead of counting the members). The changes are folded in now and then
    (people.settle_headcount); a log and not a counter, so no two writers wait on one row."""

    __tablename__ = "headcount"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1: the only row
    active: Mapped[int] = mapped_column(Integer)


class HeadcountChange(Base):
    """+1 or -1 to the headcount, written by the triggers on `member`."""

    __tablename__ = "headcount_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change: Mapped[int] = mapped_column(Integer)


class MemberBand(Base):
    """How many member-ledger rows (MemberSaving) of a campaign and period fall in each band of
    amounts (`low`, one of bot.services.ledger.BANDS: 0 and +-2^(k/8) fen, up to the next): a
    member's place in the plant adds up the bands above their amount and counts the rows of
    their own band alone, instead of every row above. Written with the ledger (no code
    deletes members: a member deleted by hand takes their rows along, and the bands need a
    rebuild, `ledger.rebuild`)."""

    __tablename__ = "member_band"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    low: Mapped[float] = mapped_column(Double, primary_key=True)
    members: Mapped[int] = mapped_column(Integer)


class UnitSaving(Base):
    """Each unit's counted savings (exact fen) and ideas approved, per period of approval (the
    periods of MemberSaving), written with each decision: rankings and progress read a row per
    unit instead of the units' approvals."""

    __tablename__ = "unit_saving"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True
    )
    fen: Mapped[int] = mapped_column(BigInteger)
    approved: Mapped[int] = mapped_column(Integer)


class BotState(Base):
    """Conversation positions and per-user drafts (PTB persistence), never records of substance."""

    __tablename__ = "bot_state"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # conv, user, chat
    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # conversation name or ""
    key: Mapped[str] = mapped_column(String(128), primary_key=True)  # JSON of the key
    data: Mapped[dict[str, Any] | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedUpdate(Base):
    """An update Telegram sent that was handled: a redelivery of it is ignored."""

    __tablename__ = "processed_update"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    handled_at: Mapped[datetime] = mapped_column(index=True)
