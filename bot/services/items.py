"""Items (ideas and waste reports): registration numbers and submission."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.errors import ServiceError
from storage.db import Database
from storage.models import (
    Attachment,
    Campaign,
    Counter,
    Item,
    ItemAuthor,
    ItemEvent,
    ItemKind,
    ItemStatus,
    Member,
    MemberStatus,
    Unit,
)

MAX_TITLE = 100
MAX_BODY = 3000


@dataclass
class Draft:
    """What the worker filled in; JSON-friendly so it can live in the conversation's draft."""

    kind: str
    unit_id: int
    title: str
    body: str = ""
    category_id: int | None = None
    place: str | None = None
    claimed_amount: str | None = None  # a Decimal as text
    anonymous: bool = False
    co_author_ids: list[int] = field(default_factory=list)
    attachments: list[dict[str, str]] = field(default_factory=list)  # kind, file_id, ...


async def next_number(
    session: AsyncSession, campaign: Campaign, kind: str, year: int, *, sqlite: bool
) -> str:
    """The next registration number: one atomic upsert on the counter row, so numbers are
    unique and gap-free (a rolled-back submission gives its number back)."""
    insert = sqlite_insert if sqlite else pg_insert
    statement = insert(Counter).values(campaign_id=campaign.id, kind=kind, year=year, last_value=1)
    upsert = statement.on_conflict_do_update(
        index_elements=["campaign_id", "kind", "year"],
        set_={"last_value": Counter.last_value + 1},
    ).returning(Counter.last_value)
    value: int = (await session.execute(upsert)).scalar_one()
    prefix = campaign.idea_prefix if kind == ItemKind.IDEA else campaign.waste_prefix
    return f"{prefix}-{year}-{value:04d}"


def check_text(title: str, body: str) -> None:
    """Refuse (never cut) a title or description over its limit."""
    if not title.strip():
        raise ServiceError("empty_title")
    if len(title) > MAX_TITLE:
        raise ServiceError("title_too_long", limit=MAX_TITLE)
    if len(body) > MAX_BODY:
        raise ServiceError("body_too_long", limit=MAX_BODY)


async def submit(
    db: Database, campaign_id: int, author: Member, draft: Draft, now: datetime, tz: ZoneInfo
) -> Item:
    """Write the item, its authors, attachments and first audit event in one transaction."""
    check_text(draft.title, draft.body)
    if author.status != MemberStatus.ACTIVE:
        raise ServiceError("forbidden")
    async with db.write() as session:
        campaign = await session.get(Campaign, campaign_id)
        unit = await session.get(Unit, draft.unit_id)
        if campaign is None or unit is None or unit.archived:
            raise ServiceError("not_found")
        number = await next_number(
            session, campaign, draft.kind, now.astimezone(tz).year, sqlite=db.is_sqlite
        )
        status = ItemStatus.FIRST_REVIEW if draft.kind == ItemKind.IDEA else ItemStatus.REPORTED
        item = Item(
            campaign_id=campaign.id,
            kind=draft.kind,
            number=number,
            category_id=draft.category_id,
            unit_id=unit.id,
            author_id=author.id,
            anonymous=draft.anonymous and draft.kind == ItemKind.WASTE,
            title=draft.title.strip(),
            body=draft.body,
            place=draft.place,
            claimed_amount=Decimal(draft.claimed_amount) if draft.claimed_amount else None,
            status=status,
            submitted_at=now,
            stage_since=now,
            updated_at=now,
        )
        session.add(item)
        await session.flush()
        session.add(ItemAuthor(item_id=item.id, member_id=author.id, is_submitter=True))
        co_authors = set(draft.co_author_ids) - {author.id}
        if co_authors:
            found = set(
                await session.scalars(
                    select(Member.id).where(
                        Member.id.in_(co_authors), Member.status == MemberStatus.ACTIVE
                    )
                )
            )
            for member_id in sorted(found):
                session.add(ItemAuthor(item_id=item.id, member_id=member_id))
        event = ItemEvent(
            item_id=item.id,
            actor_id=author.id,
            action="submit",
            to_status=status,
            amount=item.claimed_amount,
            created_at=now,
        )
        session.add(event)
        await session.flush()
        for attachment in draft.attachments:
            session.add(
                Attachment(
                    item_id=item.id,
                    event_id=event.id,
                    kind=attachment["kind"],
                    file_id=attachment["file_id"],
                    file_unique_id=attachment.get("file_unique_id"),
                    file_name=attachment.get("file_name"),
                    created_at=now,
                )
            )
        return item
