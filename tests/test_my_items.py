"""/my: own items newest first in pages, details with history, savings and rank."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import update

from bot.services import campaigns, figures, items, ledger, people
from storage.db import Database
from storage.models import Item, ItemEvent, ItemStatus, Member
from tests.conftest import BotHarness
from tests.helpers import NOW, seed_member, seed_unit


async def _standing(db: Database, campaign_id: int, member: Member) -> figures.Standing:
    async with db.read() as session:
        return await figures.member_standing(session, campaign_id, member)


TZ = ZoneInfo("Asia/Shanghai")


async def _submit(
    db: Database, author: Member, unit_id: int, title: str, *, minutes: int = 0, co: list[int] = ()
) -> Item:  # type: ignore[assignment]
    campaign = await campaigns.ensure_default(db, NOW.date())
    draft = items.Draft(
        kind="idea",
        unit_id=unit_id,
        title=title,
        body="b",
        claimed_amount="1000",
        co_author_ids=list(co),
    )
    when = NOW + timedelta(minutes=minutes)
    return (await items.submit(db, campaign.id, author, draft, when, TZ)).item


async def _certify(
    db: Database, item: Item, certified: str, verified: str | None = None, reason: str = ""
) -> None:
    """Stands in for the committee's decision (the review flow has its own tests)."""
    status = ItemStatus.VERIFIED if verified else ItemStatus.APPROVED
    async with db.write() as session:
        await session.execute(
            update(Item)
            .where(Item.id == item.id)
            .values(
                status=status,
                certified_amount=Decimal(certified),
                verified_amount=Decimal(verified) if verified else None,
                approved_at=NOW + timedelta(days=2),
            )
        )
        session.add(
            ItemEvent(
                item_id=item.id,
                action="approve",
                to_status=ItemStatus.APPROVED,
                amount=Decimal(certified),
                reason=reason or None,
                created_at=NOW + timedelta(days=2),
            )
        )
    await ledger.rebuild(db, item.campaign_id, TZ)


async def test_standing_credits_co_authors_equal_shares_and_ranks_ties(db_url: str) -> None:
    db = Database(db_url)
    try:
        one = await seed_unit(db, "一车间")
        two = await seed_unit(db, "二车间")
        a = await seed_member(db, 1, one.id, "A")
        b = await seed_member(db, 2, one.id, "B")
        c = await seed_member(db, 3, two.id, "C")
        await seed_member(db, 4, one.id, "D")  # nothing yet
        first = await _submit(db, a, one.id, "Shared", co=[b.id])
        second = await _submit(db, a, one.id, "Own")
        third = await _submit(db, c, two.id, "Other unit")
        await _submit(db, b, one.id, "Still in review")
        await _certify(db, first, "10000")  # A 5000, B 5000
        await _certify(db, second, "4000", verified="3000")  # the verified amount counts
        await _certify(db, third, "6000")
        campaign = await campaigns.get_current(db)
        assert campaign
        stand = {m.name: await _standing(db, campaign.id, m) for m in (a, b, c)}
        assert stand["A"] == figures.Standing(Decimal("8000.00"), 1, 3, 1, 4)
        assert stand["C"] == figures.Standing(Decimal("6000.00"), 1, 1, 2, 4)
        assert stand["B"] == figures.Standing(Decimal("5000.00"), 2, 3, 3, 4)
        d = await people.get(db, 4)
        assert d
        assert await _standing(db, campaign.id, d) == figures.Standing(Decimal("0.00"), 3, 3, 4, 4)
    finally:
        await db.dispose()


async def test_my_items_pages_details_and_privacy(harness: BotHarness) -> None:
    db = harness.db
    unit = await seed_unit(db, "一车间")
    worker = harness.user(first_name="Zhang", language_code="en")
    other = harness.user(first_name="Li", language_code="en")
    me = await seed_member(db, worker.id, unit.id, "张三", language="en")
    them = await seed_member(db, other.id, unit.id, "李四", language="en")
    mine = [await _submit(db, me, unit.id, f"Idea {n}", minutes=n) for n in range(6)]
    shared = await _submit(db, them, unit.id, "Their idea with me", minutes=10, co=[me.id])
    private = await _submit(db, them, unit.id, "Not mine", minutes=11)
    await _certify(db, mine[0], "2000", reason="Checked the meter <readings>")

    replies = await worker.command("my")
    page = replies[-1]
    assert "My items: 7" in page.text
    assert "My certified savings: ¥2,000.00" in page.text
    assert "Rank in my unit: 1 of 2" in page.text and "Rank in the plant: 1 of 2" in page.text
    # Newest first: the shared idea, then Idea 5..2; five a page.
    assert page.button_texts[:5] == [f"🔎 {i.number}" for i in [shared, *mine[:1:-1]]][:5]
    assert "Not mine" not in page.text and "Their idea with me" in page.text
    replies = await worker.press(page, "▶")
    assert "Idea 0" in replies.edited[-1].text and "Idea 1" in replies.edited[-1].text
    detail = await worker.press(worker.last, f"🔎 {mine[0].number}")
    text = detail.edited[-1].text
    assert "Idea 0" in text and "Certified saving: ¥2,000.00" in text
    assert "Submitted" in text and "Approved (" not in text  # no actor on the stand-in event
    assert "«Checked the meter <readings>»" in text
    assert "approved, to be implemented" in text
    # A forged button for someone else's item changes nothing and shows nothing.
    await worker.press_raw(worker.last, f"my:i:{private.id}:0")
    assert worker.answers[-1].text == "That record no longer exists."
    assert "Not mine" not in worker.last.text
    # A page past the end (a forged button) shows the last page.
    replies = await worker.press_raw(worker.last, "my:p:9")
    text = replies.edited[-1].text
    assert "My items: 7" in text and "Idea 0" in text and "Idea 2" not in text
