"""Registration numbers: per campaign and year, gap-free and unique under concurrency."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.services import campaigns, items
from bot.services.errors import ServiceError
from storage.db import Database
from storage.models import Item, ItemAuthor, ItemEvent
from tests.helpers import NOW, seed_member, seed_unit

TZ = ZoneInfo("Asia/Shanghai")


async def test_fifty_concurrent_submissions_get_fifty_gap_free_numbers(db_url: str) -> None:
    db = Database(db_url)
    try:
        campaign = await campaigns.ensure_default(db, NOW.date())
        unit = await seed_unit(db)
        authors = [await seed_member(db, 100 + n, unit.id, f"W{n}") for n in range(50)]

        async def one(n: int) -> str:
            draft = items.Draft(
                kind="idea", unit_id=unit.id, title=f"Idea {n}", body="b", claimed_amount="1500.00"
            )
            return (await items.submit(db, campaign.id, authors[n], draft, NOW, TZ)).item.number

        numbers = await asyncio.gather(*(one(n) for n in range(50)))
        assert sorted(numbers) == [f"JY-2026-{n:04d}" for n in range(1, 51)]
        async with db.read() as session:
            assert len(list(await session.scalars(select(Item)))) == 50
            assert len(list(await session.scalars(select(ItemEvent)))) == 50
            assert len(list(await session.scalars(select(ItemAuthor)))) == 50
    finally:
        await db.dispose()


async def test_waste_reports_count_apart_and_a_refused_submission_uses_no_number(
    db_url: str,
) -> None:
    db = Database(db_url)
    try:
        campaign = await campaigns.ensure_default(db, NOW.date())
        unit = await seed_unit(db)
        author = await seed_member(db, 100, unit.id)
        waste = items.Draft(kind="waste", unit_id=unit.id, title="Leaking valve", place="Pump 3")
        first = (await items.submit(db, campaign.id, author, waste, NOW, TZ)).item
        too_long = items.Draft(kind="idea", unit_id=unit.id, title="x" * 101)
        with pytest.raises(ServiceError) as refused:
            await items.submit(db, campaign.id, author, too_long, NOW, TZ)
        assert refused.value.code == "title_too_long" and refused.value.params == {"limit": 100}
        idea = items.Draft(kind="idea", unit_id=unit.id, title="Night shift heating")
        second = (await items.submit(db, campaign.id, author, idea, NOW, TZ)).item
        assert (first.number, second.number) == ("LF-2026-0001", "JY-2026-0001")
    finally:
        await db.dispose()
