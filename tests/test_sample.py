"""The sample dataset: the demo plant matches the campaign report, every row is what the real
services would have written (numbers, counters, authors, the review history, amounts, times),
the same shape gives the same rows, and larger shapes complete."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter as Tally
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from bot.services import campaigns, items, review
from bot.services.figures import COUNTED_STATUSES, counted_fen
from bot.services.sample import DEMO, Facts, Shape, chinese_number, populate, unit_names
from storage.db import Database
from storage.models import (
    Base,
    Campaign,
    Category,
    Counter,
    Item,
    ItemAuthor,
    ItemEvent,
    ItemStatus,
    Member,
    MemberGroup,
    MemberStatus,
    Unit,
    UnitAssessor,
)
from tests.conftest import postgres_url
from tests.helpers import snapshot

TODAY = date(2026, 3, 2)
TZ = ZoneInfo("Asia/Shanghai")
S = ItemStatus
MEDIUM = Shape(
    units=20,
    workers=2_000,
    ideas=5_000,
    approved=2_300,
    certified_total=None,
    waste=800,
    days=400,
    seed=11,
)


async def fresh_url(db_url: str, template: str, tmp_path: Path, name: str) -> str:
    """Another empty migrated database: a copy of the template file, or PostgreSQL emptied."""
    if postgres_url():
        db = Database(db_url)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with db.write() as session:
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await db.dispose()
        return db_url
    path = tmp_path / name
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


async def digest(db: Database) -> str:
    """A hash of every row of every table."""
    return hashlib.sha256(repr(await snapshot(db)).encode()).hexdigest()


async def built(url: str, shape: Shape) -> tuple[Facts, str]:
    db = Database(url)
    try:
        facts = await populate(db, shape, TODAY, TZ)
        return facts, await digest(db)
    finally:
        await db.dispose()


def local(moment: datetime) -> datetime:
    return moment.astimezone(TZ)


async def check_dataset(db: Database, shape: Shape, facts: Facts) -> dict[str, int]:
    """Everything that must hold for any shape; returns the statuses of the items."""
    async with db.read() as session:
        campaign = await session.get(Campaign, facts.campaign_id)
        assert campaign is not None and campaign.active
        assert campaign.starts_on == TODAY - timedelta(days=shape.days)
        assert campaign.ends_on >= TODAY
        if shape.days < 365:  # one campaign year: starts_on + 1 year - 1 day
            next_year = campaign.starts_on.replace(year=campaign.starts_on.year + 1)
            assert campaign.ends_on == next_year - timedelta(days=1)
        begin = datetime.combine(campaign.starts_on, time(), TZ)
        end = datetime.combine(TODAY, time.max, TZ)

        # People.
        units = list(await session.scalars(select(Unit).order_by(Unit.id)))
        members = {m.id: m for m in await session.scalars(select(Member))}
        assert len(units) == shape.units == facts.units
        assert len({u.name for u in units}) == shape.units
        assert [u.name for u in units] == unit_names(shape.units)
        active = [m for m in members.values() if m.status == MemberStatus.ACTIVE]
        assert len(active) == len(members) == shape.workers == facts.workers
        assert sum(u.headcount for u in units) == shape.workers
        sizes = Tally(m.unit_id for m in members.values())
        assert all(sizes[u.id] == u.headcount for u in units)
        assert len({m.telegram_id for m in members.values()}) == shape.workers
        assert all(m.telegram_id and m.telegram_id >= 7_000_000_000 for m in members.values())
        groups = Tally(m.group for m in members.values())
        languages = Tally(m.language for m in members.values())
        assert set(groups) <= {g.value for g in MemberGroup}
        assert set(languages) <= {None, "zh", "en"}
        if shape.workers >= 500:
            assert 0.1 < groups[MemberGroup.PARTY] / shape.workers < 0.2
            assert 0.15 < groups[MemberGroup.LEAGUE] / shape.workers < 0.25
            assert 0.03 < languages["en"] / shape.workers < 0.15
            assert languages[None] > languages["zh"] > languages["en"]
        assert sum(m.is_admin for m in members.values()) == 1
        committee = {m.id for m in members.values() if m.is_committee}
        assert len(committee) >= 5
        assessors = list(
            await session.execute(select(UnitAssessor.unit_id, UnitAssessor.member_id))
        )
        assessed = {unit_id for unit_id, _ in assessors}
        assert len(assessed) == len(assessors)  # one per unit
        assert len(units) - len(assessed) == (1 if shape.units > 1 else 0)
        assert all(members[member].unit_id == unit for unit, member in assessors)
        assessor_units = defaultdict(set)
        for unit_id, member_id in assessors:
            assessor_units[member_id].add(unit_id)
        for moment in [u.created_at for u in units] + [m.created_at for m in members.values()]:
            assert begin <= moment <= end

        # Items: counts and amounts.
        all_items = {i.id: i for i in await session.scalars(select(Item).order_by(Item.id))}
        ideas = [i for i in all_items.values() if i.kind == "idea"]
        waste = [i for i in all_items.values() if i.kind == "waste"]
        assert len(ideas) == shape.ideas == facts.ideas
        assert len(waste) == shape.waste == facts.waste
        counted = [i for i in ideas if i.status in COUNTED_STATUSES]
        assert len(counted) == shape.approved == facts.approved
        certified = sum((i.certified_amount or Decimal(0) for i in counted), Decimal(0))
        assert certified == facts.certified_total
        if shape.certified_total is not None:
            assert certified == shape.certified_total
        counted_sum = await session.scalar(
            select(func.sum(counted_fen())).where(
                Item.kind == "idea", Item.status.in_(COUNTED_STATUSES)
            )
        )
        assert Decimal(int(counted_sum or 0)).scaleb(-2) == facts.counted_total
        for item in ideas:
            assert item.claimed_amount and item.claimed_amount > 0 and item.category_id
            assert item.place is None and not item.anonymous
            if item.status in COUNTED_STATUSES:
                assert item.certified_amount and item.certified_amount > 0
                assert item.reward_amount == review.reward_for(
                    campaign, item.grade, item.certified_amount
                )
                assert (item.verified_amount is not None) == (item.status == S.VERIFIED)
            else:
                assert item.certified_amount is item.reward_amount is item.verified_amount is None
                assert item.grade == "none"
        for item in waste:
            assert item.claimed_amount is None and item.category_id is None and item.place
            assert item.status in (S.REPORTED, S.ACKNOWLEDGED, S.FIXED, S.DISMISSED)

        # Registration numbers: per kind and year, in submission order, and the counters.
        per_year: dict[tuple[str, int], list[Item]] = defaultdict(list)
        for item in sorted(all_items.values(), key=lambda i: (i.submitted_at, i.id)):
            per_year[(item.kind, local(item.submitted_at).year)].append(item)
        for (kind, year), listed in per_year.items():
            prefix = campaign.idea_prefix if kind == "idea" else campaign.waste_prefix
            numbers = [i.number for i in listed]
            assert numbers == [f"{prefix}-{year}-{n:04d}" for n in range(1, len(listed) + 1)]
            assert [i.id for i in listed] == sorted(i.id for i in listed)
        counters = {
            (c.kind, c.year): c.last_value
            for c in await session.scalars(
                select(Counter).where(Counter.campaign_id == campaign.id)
            )
        }
        assert counters == {key: len(listed) for key, listed in per_year.items()}

        # Authors: one submitter (the item's author), co-authors from the same unit.
        authors: dict[int, list[ItemAuthor]] = defaultdict(list)
        for row in await session.scalars(select(ItemAuthor)):
            authors[row.item_id].append(row)
        assert set(authors) == set(all_items)
        with_co_authors = 0
        for item in all_items.values():
            rows = authors[item.id]
            assert [r.member_id for r in rows if r.is_submitter] == [item.author_id]
            if item.kind == "idea":
                assert len(rows) <= 3
                assert all(members[r.member_id].unit_id == item.unit_id for r in rows)
                with_co_authors += len(rows) > 1
            else:
                assert len(rows) == 1
        if shape.ideas >= 100:
            assert 0.1 < with_co_authors / shape.ideas < 0.3

        # The history: a chain of the real decisions, by people allowed to take them.
        events: dict[int, list[ItemEvent]] = defaultdict(list)
        for event in await session.scalars(select(ItemEvent).order_by(ItemEvent.id)):
            events[event.item_id].append(event)
        assert set(events) == set(all_items)
        for item in all_items.values():
            chain = events[item.id]
            first = chain[0]
            assert (first.action, first.from_status, first.actor_id) == (
                "submit",
                None,
                item.author_id,
            )
            assert first.amount == item.claimed_amount and first.created_at == item.submitted_at
            assert first.to_status in (S.FIRST_REVIEW, S.COMMITTEE, S.REPORTED)
            if item.kind == "idea":
                unit_has_assessor = item.unit_id in assessed
                assert first.to_status == (S.FIRST_REVIEW if unit_has_assessor else S.COMMITTEE)
            authored = {r.member_id for r in authors[item.id]}
            assigned = any(e.action == "assign" for e in chain)
            for before, event in pairwise(chain):
                assert event.from_status == before.to_status
                assert event.created_at >= before.created_at
                rule = review.RULES[event.action]
                assert event.from_status in rule.sources
                if rule.target is not None:
                    assert event.to_status == rule.target
                if rule.text:
                    assert event.reason
                if event.action == "answer":
                    assert before.action == "ask" and event.to_status == before.from_status
                    assert event.actor_id == item.author_id
                    continue
                assert event.actor_id not in authored  # nobody reviews their own item
                assert event.actor_id is not None
                member = members[event.actor_id]
                actor = review.Actor(member, frozenset(assessor_units[member.id]))
                if assigned and item.kind == "waste":
                    assert member.is_admin or assessor_units[member.id]
                else:
                    assert actor.may(rule, item, False, event.from_status)
            last = chain[-1]
            assert last.to_status == item.status
            assert item.stage_since == item.updated_at == last.created_at
            assert begin <= item.submitted_at and last.created_at <= end
            submitted = local(item.submitted_at).time()
            assert time(8, 30) <= submitted < time(17, 30)
            when = {e.action: e for e in chain}
            closed = item.status in (S.REJECTED, S.VERIFIED, S.FIXED, S.DISMISSED)
            assert (item.closed_at == last.created_at) if closed else item.closed_at is None
            if item.status in COUNTED_STATUSES:
                approve = when["approve"]
                assert item.approved_at == approve.created_at
                assert approve.amount == item.certified_amount
                assert approve.data == {"grade": item.grade, "reward": str(item.reward_amount)}
            else:
                assert item.approved_at is None and "approve" not in when
            assert (item.implemented_at is not None) == (item.status in (S.IMPLEMENTED, S.VERIFIED))
            if item.implemented_at:
                assert item.implemented_at == when["implement"].created_at
            if item.status == S.VERIFIED:
                assert item.verified_at == when["verify"].created_at
                assert when["verify"].amount == item.verified_amount
            else:
                assert item.verified_at is None
            if item.status == S.NEEDS_INFO:
                assert item.info_from_status == last.from_status
                assert item.info_asked_by == last.actor_id
            else:
                assert item.info_from_status is item.info_asked_by is None
            if assigned:
                unit = await session.get(Unit, item.unit_id)
                assert unit and [e.data for e in chain if e.action == "assign"][-1] == {
                    "unit": unit.name
                }
        return dict(Tally(i.status for i in all_items.values()))


async def test_the_demo_plant_matches_the_report(db_url: str) -> None:
    db = Database(db_url)
    try:
        facts = await populate(db, DEMO, TODAY, TZ)
        assert (facts.units, facts.workers, facts.ideas, facts.approved, facts.waste) == (
            12,
            600,
            178,
            97,
            24,
        )
        assert facts.certified_total == Decimal("287600")
        statuses = await check_dataset(db, DEMO, facts)

        async with db.read() as session:
            # The plain numbers of the report, straight from SQL.
            count = await session.scalar(
                select(func.count()).select_from(Item).where(Item.kind == "idea")
            )
            approved = await session.scalar(
                select(func.count())
                .select_from(Item)
                .where(Item.kind == "idea", Item.status.in_(COUNTED_STATUSES))
            )
            total = await session.scalar(
                select(func.sum(Item.certified_amount)).where(Item.status.in_(COUNTED_STATUSES))
            )
            assert (count, approved, total) == (178, 97, Decimal("287600.00"))
            names = list(await session.scalars(select(Unit.name).order_by(Unit.id)))
            grades = Tally(
                await session.scalars(select(Item.grade).where(Item.status.in_(COUNTED_STATUSES)))
            )
            categories = Tally(
                await session.scalars(select(Item.category_id).where(Item.kind == "idea"))
            )
            repair = await session.scalar(select(Category.id).where(Category.code == "repair"))
        assert names[:4] == ["一车间", "二车间", "三车间", "机修车间"]
        assert "供应科" in names and "质检科" in names and "仓储物流部" in names
        # Roughly 50/30/20 of the approved ones, gold 10% and silver 20%.
        assert (statuses[S.APPROVED], statuses[S.IMPLEMENTED], statuses[S.VERIFIED]) == (49, 29, 19)
        assert (grades["gold"], grades["silver"]) == (10, 19)
        others = DEMO.ideas - DEMO.approved
        assert 0.3 <= statuses[S.REJECTED] / others <= 0.55
        assert statuses[S.FIRST_REVIEW] and statuses[S.COMMITTEE] and statuses[S.NEEDS_INFO]
        assert sum(statuses.get(s, 0) for s in ("reported", "acknowledged", "fixed", "dismissed"))
        assert len(categories) == 7
        assert categories.most_common(1)[0][0] == repair  # repair and reuse comes first

        # The bot has overdue items at both review stages.
        now = datetime.combine(TODAY, time(10), TZ).astimezone(UTC)
        overdue = await review.overdue(db, review.Limits(3, 7, 30), now)
        stages = {stage for stage, _, _ in overdue}
        assert {S.FIRST_REVIEW, S.COMMITTEE} <= stages
        # And keeps numbering after the demo data.
        async with db.write() as session:
            current = await session.get(Campaign, facts.campaign_id)
            assert current
            number = await items.next_number(session, current, "idea", 2026, sqlite=db.is_sqlite)
        ideas_2026 = await count_numbers(db, "JY-2026-%")
        assert number == f"JY-2026-{ideas_2026 + 1:04d}"
        assert (await campaigns.get_current(db)) is not None
    finally:
        await db.dispose()


async def count_numbers(db: Database, pattern: str) -> int:
    async with db.read() as session:
        query = select(func.count()).select_from(Item).where(Item.number.like(pattern))
        return int(await session.scalar(query) or 0)


async def test_the_same_shape_gives_the_same_rows(
    db_url: str, migrated_template: str, tmp_path: Path
) -> None:
    first = await built(db_url, DEMO)
    second = await built(await fresh_url(db_url, migrated_template, tmp_path, "b.db"), DEMO)
    assert first == second
    other = replace(DEMO, seed=DEMO.seed + 1)
    third = await built(await fresh_url(db_url, migrated_template, tmp_path, "c.db"), other)
    assert third[1] != first[1] and third[0].certified_total == DEMO.certified_total


async def test_ids_continue_after_the_sample(db_url: str) -> None:
    """Ids were given by the generator: new rows still get fresh ones (PostgreSQL sequences)."""
    shape = Shape(units=3, workers=30, ideas=20, approved=5, certified_total=None, waste=3, days=9)
    db = Database(db_url)
    try:
        facts = await populate(db, shape, TODAY, TZ)
        async with db.write() as session:
            unit = Unit(name="新车间", headcount=1)
            session.add(unit)
            await session.flush()
            member = Member(name="新人", unit_id=unit.id, telegram_id=1)
            session.add(member)
            await session.flush()
            item = Item(
                campaign_id=facts.campaign_id, kind="idea", number="X-1", unit_id=unit.id,
                author_id=member.id, title="t", status=S.FIRST_REVIEW,
            )  # fmt: skip
            session.add(item)
            await session.flush()
            assert (unit.id, member.id, item.id) == (4, 31, 24)
    finally:
        await db.dispose()


async def test_edge_shapes(db_url: str, migrated_template: str, tmp_path: Path) -> None:
    # One day, every idea approved, a total with fen: still exact.
    tiny = Shape(
        units=2, workers=12, ideas=15, approved=15, certified_total=Decimal("1000.55"),
        waste=2, days=0,
    )  # fmt: skip
    db = Database(db_url)
    try:
        facts = await populate(db, tiny, TODAY, TZ)
        assert facts.certified_total == Decimal("1000.55")
        await check_dataset(db, tiny, facts)
        with pytest.raises(ValueError, match="already holds"):
            await populate(db, tiny, TODAY, TZ)
    finally:
        await db.dispose()
    # A single unit and nothing approved.
    single = Shape(units=1, workers=10, ideas=30, approved=0, certified_total=None, waste=0, days=5)
    db = Database(await fresh_url(db_url, migrated_template, tmp_path, "single.db"))
    try:
        facts = await populate(db, single, TODAY, TZ)
        assert facts.certified_total == facts.counted_total == 0
        await check_dataset(db, single, facts)
    finally:
        await db.dispose()


SMALL = Shape(units=2, workers=20, ideas=5, approved=1, certified_total=None, waste=0, days=1)


@pytest.mark.parametrize(
    "shape",
    [
        replace(SMALL, units=0),
        replace(SMALL, units=3, workers=8),  # under three per unit
        replace(SMALL, units=2, workers=8),  # no room for the committee
        replace(SMALL, approved=6),
        replace(SMALL, approved=5, certified_total=Decimal(4)),  # under a yuan each
        replace(SMALL, approved=0, certified_total=Decimal(4)),
        replace(SMALL, certified_total=Decimal("1.001")),
        replace(SMALL, days=-1),
    ],
)
async def test_impossible_shapes_are_refused(db_url: str, shape: Shape) -> None:
    db = Database(db_url)
    try:
        with pytest.raises(ValueError):
            await populate(db, shape, TODAY, TZ)
    finally:
        await db.dispose()


async def test_a_medium_plant(db_url: str) -> None:
    db = Database(db_url)
    try:
        facts = await populate(db, MEDIUM, TODAY, TZ)
        statuses = await check_dataset(db, MEDIUM, facts)
        assert statuses[S.VERIFIED] == round(0.2 * MEDIUM.approved)
        assert statuses[S.IMPLEMENTED] == round(0.3 * MEDIUM.approved)
        assert facts.counted_total > 0
        async with db.read() as session:
            years = set(await session.scalars(select(Counter.year)))
        assert years == {2025, 2026}
    finally:
        await db.dispose()


def test_unit_names_stay_unique_at_scale() -> None:
    names = unit_names(500)
    assert len(set(names)) == 500 and names[:3] == ["一车间", "二车间", "三车间"]
    assert [chinese_number(n) for n in (1, 10, 11, 20, 23, 99)] == [
        "一", "十", "十一", "二十", "二十三", "九十九",
    ]  # fmt: skip
