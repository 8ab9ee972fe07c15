"""More than one bot process on one database (PostgreSQL in CI, SQLite locally): decisions and
notifications are exactly-once through the database, whichever process handles a press."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from bot.config import Settings
from bot.services import people, review
from storage.models import Item, ItemEvent, ItemStatus, OutboxMessage
from tests.conftest import BotHarness, start_app, stop_app
from tests.fakeapi.core import FakeTelegram
from tests.figures import record
from tests.helpers import NOW, STRESS, ManualClock, plant, seed_member
from tests.test_review import card_of, submit


async def test_two_applications_on_one_database_decide_each_item_once(
    settings: Settings, clock: ManualClock
) -> None:
    telegram = FakeTelegram()
    one = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    two = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    try:
        p = await plant(one, clock, "en", assessor=False)
        # A second committee member whose presses reach the other process.
        vice = two.user(user_id=7_000_001, first_name="Vice", language_code="en")
        member = await seed_member(two.db, vice.id, p.unit_id, "孙委员", language="en")
        await people.set_role(two.db, member.id, member.id, "committee", True, NOW)
        rounds = 40 * STRESS
        wrong: list[Any] = []  # rounds without exactly one refusal
        for n in range(rounds):
            item = await submit(p, f"Idea {n}")
            await p.committee.press(card_of(p.committee, item.number), "✅ 批准")
            await vice.press(card_of(vice, item.number), "✅ Approve")
            panels = (p.committee.last, vice.last)
            await asyncio.gather(
                p.committee.press(panels[0], "✅ 确认批准"),
                vice.press(panels[1], "✅ Confirm approval"),
            )
            answers = (p.committee.answers[-1], vice.answers[-1])
            if sum(bool(a.show_alert) for a in answers) != 1:
                wrong.append(answers)
        # Both processes sweep the outbox at once: every notification leaves once.
        await asyncio.gather(one.drain(), two.drain())
        async with one.db.read() as session:
            approvals = await session.scalar(
                select(func.count()).select_from(ItemEvent).where(ItemEvent.action == "approve")
            )
            statuses = dict(
                (
                    await session.execute(
                        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                    )
                ).all()
            )
        told = [m.text for m in p.worker.inbox if "was approved!" in m.text]
        items = await _items(one)
        approved = sum(i.status == ItemStatus.APPROVED for i in items)
        record(
            "scale: two processes, one database",
            f"{rounds} items pressed in two processes at once: {approvals} decisions, {approved} "
            f"approved; {len(wrong)} rounds without exactly one refusal; outbox swept by both: "
            f"{sum(statuses.values())} rows, {statuses.get('sent', 0)} sent, {len(told)} approval "
            f"notices ({len(told) - len(set(told))} repeated)",
        )
        assert wrong == []
        assert approvals == rounds
        assert set(statuses) == {"sent"}
        assert len(told) == rounds and len(set(told)) == rounds
        assert approved == len(items) == rounds
    finally:
        await stop_app(one.app)
        await stop_app(two.app)
    assert telegram.violations == []
    assert one.errors == [] and two.errors == []


async def _items(bot: BotHarness) -> list[Item]:
    async with bot.db.read() as session:
        return list(await session.scalars(select(Item)))


async def test_two_applications_remind_each_overdue_item_once_a_day(
    settings: Settings, clock: ManualClock
) -> None:
    telegram = FakeTelegram()
    one = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    two = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    try:
        p = await plant(one, clock, "en")
        late = [await submit(p, f"Late {n}") for n in range(10 * STRESS)]
        clock.advance(days=3, hours=1)
        limits = review.Limits(3, 7, 30)
        days = 2
        claimed = []  # reminders the two processes claimed, per day
        per_item: list[Counter[str]] = []  # reminders the assessor got, by item, per day
        for _ in range(days):
            seen = len([m for m in p.assessor.inbox if m.text.startswith("⏰ ")])
            counts = await asyncio.gather(
                review.send_reminders(one.db, limits, clock.now(), "zh"),
                review.send_reminders(two.db, limits, clock.now(), "zh"),
            )
            claimed.append(sum(counts))
            await asyncio.gather(one.drain(), two.drain())
            reminders = [m.text for m in p.assessor.inbox if m.text.startswith("⏰ ")][seen:]
            per_item.append(Counter(r.split()[1] for r in reminders))
            clock.advance(days=1)
        expected = Counter(i.number for i in late)
        once = sum(day == expected for day in per_item)
        record(
            "scale: reminders from two processes",
            f"{len(late)} overdue items, {days} days, two processes sweeping at once: "
            f"{sum(claimed)} reminders claimed, {sum(d.total() for d in per_item)} received; "
            f"{once} of {days} days with each item reminded exactly once",
        )
        assert claimed == [len(late)] * days
        assert per_item == [expected] * days
    finally:
        await stop_app(one.app)
        await stop_app(two.app)
    assert telegram.violations == []
