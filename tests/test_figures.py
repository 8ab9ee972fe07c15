"""Figures on a small plant computed by hand: per head, pace, scores, co-author shares, periods
across a year boundary and the time zone at midnight."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, event, select

from bot import bulletins
from bot.i18n import translator
from bot.services import figures, ledger, posts, reports, sample
from bot.services.figures import Span
from bot.services.periods import PeriodKind, containing, elapsed_share, parse_key
from bot.services.reports import ReportKind, Weights
from storage.db import Database
from storage.models import (
    Base,
    Campaign,
    Category,
    Grade,
    Item,
    ItemAuthor,
    ItemKind,
    ItemStatus,
    Member,
    MemberGroup,
    MemberStatus,
    Unit,
)
from tests.conftest import make_settings

TZ = ZoneInfo("Asia/Shanghai")
S = ItemStatus


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


@dataclass
class Small:
    db: Database
    campaign: Campaign
    a: Unit
    b: Unit
    people: dict[str, Member]


async def _plant(db: Database) -> Small:
    """Unit A: headcount 10 set by the office; unit B: no headcount, 4 active members (+1
    inactive); unit C archived and empty. Campaign year 2025-10-01 .. 2026-09-30."""
    async with db.write() as s:
        campaign = Campaign(
            name="test",
            starts_on=date(2025, 10, 1),
            ends_on=date(2026, 9, 30),
            per_head_target=Decimal("5000"),
            total_target=Decimal("100000"),
        )
        s.add(campaign)
        await s.flush()
        tech = Category(campaign_id=campaign.id, code="tech", name_zh="技术创新", name_en="Tech")
        repair = Category(
            campaign_id=campaign.id, code="rep", name_zh="修旧利废", name_en="Repair", position=1
        )
        a, b = Unit(name="甲车间", headcount=10), Unit(name="乙车间", headcount=0)
        c = Unit(name="丙车间", headcount=5, archived=True)
        s.add_all([tech, repair, a, b, c])
        await s.flush()
        spec = [
            ("a1", a, MemberGroup.PARTY, MemberStatus.ACTIVE),
            ("a2", a, MemberGroup.LEAGUE, MemberStatus.ACTIVE),
            ("a3", a, MemberGroup.STAFF, MemberStatus.ACTIVE),
            ("b1", b, MemberGroup.PARTY, MemberStatus.ACTIVE),
            ("b2", b, MemberGroup.STAFF, MemberStatus.ACTIVE),
            ("b3", b, MemberGroup.STAFF, MemberStatus.ACTIVE),
            ("b4", b, MemberGroup.STAFF, MemberStatus.ACTIVE),
            ("b5", b, MemberGroup.STAFF, MemberStatus.INACTIVE),
        ]
        people = {}
        for i, (name, unit, group, status) in enumerate(spec):
            people[name] = Member(
                telegram_id=100 + i, name=name, unit_id=unit.id, group=group, status=status
            )
        s.add_all(people.values())
        await s.flush()
        n = 0

        def item(unit: Unit, authors: list[str], **kw: object) -> Item:
            nonlocal n
            n += 1
            kw.setdefault("kind", ItemKind.IDEA)
            kw.setdefault("category_id", tech.id)
            row = Item(
                campaign_id=campaign.id,
                number=f"T-{n}",
                unit_id=unit.id,
                author_id=people[authors[0]].id,
                title=f"item {n}",
                **kw,
            )
            s.add(row)
            row_authors.append((row, authors))
            return row

        row_authors: list[tuple[Item, list[str]]] = []
        # I1: three authors share 3,000; approved 2026-02-28 16:30 UTC = 1 March 00:30 local.
        item(
            a,
            ["a1", "a2", "a3"],
            status=S.APPROVED,
            submitted_at=local(2026, 2, 20, 9),
            certified_amount=Decimal("3000"),
            approved_at=utc(2026, 2, 28, 16, 30),
        )
        # I2: verified 2,500 replaces certified 2,000; February.
        item(
            a,
            ["a1"],
            status=S.VERIFIED,
            submitted_at=local(2026, 2, 1, 9),
            certified_amount=Decimal("2000"),
            verified_amount=Decimal("2500"),
            approved_at=local(2026, 2, 27, 10),
            closed_at=local(2026, 3, 20, 10),
        )
        # I3: gold, B, 1,200, approved in March.
        item(
            b,
            ["b1"],
            status=S.IMPLEMENTED,
            submitted_at=local(2026, 2, 25, 9),
            certified_amount=Decimal("1200"),
            approved_at=local(2026, 3, 10, 10),
            grade=Grade.GOLD,
            category_id=repair.id,
        )
        # I4: rejected in March.
        item(
            b,
            ["b2"],
            status=S.REJECTED,
            submitted_at=local(2026, 3, 1, 10),
            claimed_amount=Decimal("900"),
            closed_at=local(2026, 3, 5, 10),
        )
        # I5: waiting.
        item(
            a,
            ["a2"],
            status=S.FIRST_REVIEW,
            submitted_at=local(2026, 3, 3, 9),
            claimed_amount=Decimal("700"),
        )
        # I6: 500 between a3 and a1, approved 2025-12-31 16:30 UTC = 1 January 2026 00:30 local.
        item(
            a,
            ["a3", "a1"],
            status=S.APPROVED,
            submitted_at=local(2025, 12, 20, 9),
            certified_amount=Decimal("500"),
            approved_at=utc(2025, 12, 31, 16, 30),
        )
        # Waste: W1 about B still open; W2 about A fixed on 15 March.
        item(
            b,
            ["b3"],
            kind=ItemKind.WASTE,
            status=S.REPORTED,
            category_id=None,
            submitted_at=local(2026, 2, 20, 9),
        )
        item(
            a,
            ["a3"],
            kind=ItemKind.WASTE,
            status=S.FIXED,
            category_id=None,
            submitted_at=local(2026, 2, 10, 9),
            closed_at=local(2026, 3, 15, 9),
        )
        await s.flush()
        for row, authors in row_authors:
            for i, name in enumerate(authors):
                s.add(ItemAuthor(item_id=row.id, member_id=people[name].id, is_submitter=i == 0))
    await ledger.rebuild(db, campaign.id, TZ)  # the items were written here, not decided
    return Small(db, campaign, a, b, people)  # type: ignore[arg-type]


@pytest.fixture
async def small(db_url: str) -> AsyncIterator[Small]:
    db = Database(db_url)
    try:
        yield await _plant(db)
    finally:
        await db.dispose()


async def _units(small: Small, kind: PeriodKind, day: date) -> dict[str, figures.UnitFigures]:
    async with small.db.read() as s:
        rows = await figures.unit_figures(s, small.campaign.id, Span.of(containing(kind, day), TZ))
    return {u.name: u for u in rows}


async def test_unit_figures_for_a_month_by_hand(small: Small) -> None:
    march = await _units(small, PeriodKind.MONTH, date(2026, 3, 1))
    assert set(march) == {"甲车间", "乙车间"}  # the archived, empty unit is left out
    a, b = march["甲车间"], march["乙车间"]
    # A: I5 submitted; I1 approved at 00:30 local on 1 March (still February in UTC).
    assert (a.headcount, a.submitted, a.approved, a.rejected) == (10, 1, 1, 0)
    assert a.saved == Decimal("3000.00")
    assert a.per_head == Decimal("300.00")
    assert a.saved_to_date == Decimal("6000.00")  # I6 500 + I2 2,500 (verified) + I1 3,000
    assert a.per_head_to_date == Decimal("600.00")
    assert a.participants == 1  # a2 (I5)
    assert a.open_waste == 0  # W2 fixed on 15 March
    # B: headcount from its 4 active members; I4 rejected; W1 open.
    assert (b.headcount, b.submitted, b.approved, b.rejected) == (4, 1, 1, 1)
    assert (b.saved, b.per_head, b.open_waste, b.participants) == (
        Decimal("1200.00"),
        Decimal("300.00"),
        1,
        1,
    )
    february = await _units(small, PeriodKind.MONTH, date(2026, 2, 1))
    assert february["甲车间"].saved == Decimal("2500.00")  # I2 only: I1 is March locally
    assert february["甲车间"].open_waste == 1  # W2 still open at the end of February
    assert february["乙车间"].submitted == 1  # I3


async def test_periods_across_the_year_boundary(small: Small) -> None:
    # I6 was approved on 1 January 2026 local time (31 December in UTC).
    y2025 = await _units(small, PeriodKind.YEAR, date(2025, 6, 1))
    y2026 = await _units(small, PeriodKind.YEAR, date(2026, 6, 1))
    assert y2025["甲车间"].saved == Decimal("0.00")
    assert y2026["甲车间"].saved == Decimal("6000.00")
    week = containing(PeriodKind.WEEK, date(2025, 12, 31))
    assert (week.start, week.end, week.key) == (date(2025, 12, 29), date(2026, 1, 5), "2026-W01")
    w01 = await _units(small, PeriodKind.WEEK, date(2026, 1, 1))
    assert w01["甲车间"].saved == Decimal("500.00")
    q4 = await _units(small, PeriodKind.QUARTER, date(2025, 12, 31))
    assert q4["甲车间"].saved == Decimal("0.00") and q4["甲车间"].submitted == 1  # I6 submitted


def test_period_keys_round_trip() -> None:
    for kind, day, key in [
        (PeriodKind.WEEK, date(2026, 11, 18), "2026-W47"),
        (PeriodKind.WEEK, date(2027, 1, 1), "2026-W53"),
        (PeriodKind.MONTH, date(2026, 12, 31), "2026-12"),
        (PeriodKind.QUARTER, date(2026, 11, 1), "2026-Q4"),
        (PeriodKind.HALF, date(2026, 6, 30), "2026-H1"),
        (PeriodKind.HALF, date(2026, 7, 1), "2026-H2"),
        (PeriodKind.YEAR, date(2026, 7, 1), "2026"),
    ]:
        period = containing(kind, day)
        assert period.key == key
        assert period.start <= day < period.end
        assert parse_key(kind, key) == period
    assert containing(PeriodKind.QUARTER, date(2026, 11, 1)).previous().key == "2026-Q3"
    with pytest.raises(ValueError):
        parse_key(PeriodKind.MONTH, "2026-13")


def test_elapsed_share_of_the_campaign_year() -> None:
    start, end = date(2025, 10, 1), date(2026, 9, 30)
    assert elapsed_share(start, end, date(2025, 10, 1)) == 0.0
    assert elapsed_share(start, end, date(2026, 4, 1)) == pytest.approx(182 / 365)
    assert elapsed_share(start, end, date(2027, 1, 1)) == 1.0
    assert elapsed_share(start, end, date(2025, 1, 1)) == 0.0


async def test_plant_pace_and_monthly_scores_by_hand(small: Small) -> None:
    settings = make_settings(small.db.url, timezone="Asia/Shanghai")
    now = local(2026, 4, 2, 9)
    report = await reports.build(
        small.db, ReportKind.MONTHLY, containing(PeriodKind.MONTH, date(2026, 3, 1)), settings, now
    )
    assert report is not None
    plant = report.plant
    assert (plant.headcount, plant.submitted, plant.approved) == (14, 2, 2)
    assert plant.saved == Decimal("4200.00")
    assert plant.saved_to_date == Decimal("7200.00")
    assert plant.per_head_to_date == Decimal("514.29")  # 7,200 / 14
    assert plant.total_pct == 7.2  # of 100,000
    assert plant.per_head_pct == 10.3  # 514.29 of 5,000
    assert plant.elapsed == pytest.approx(182 / 365)  # 1 October to 31 March
    by_name = {u.name: u for u in report.units}
    # Pace: 600 / (5,000 x 182/365) = 24.1%; B: 300 / 2,493.15 = 12.0%.
    assert report.pace(by_name["甲车间"]) == 24.1
    assert report.pace(by_name["乙车间"]) == 12.0
    # March's share of the per-head target: 5,000 x 31/365 = 424.66.
    assert report.period_target.quantize(Decimal("0.01")) == Decimal("424.66")
    scores = {s.unit.name: s for s in report.scores}
    a, b = scores["甲车间"], scores["乙车间"]
    # A: savings 40 x 300/424.66 = 28.3; participation 30 x 1/10; approval 1 of 1; no open waste.
    assert (a.savings, a.participation, a.approval, a.waste, a.total) == (28.3, 3.0, 20.0, 10, 61.3)
    # B: 40 x 300/424.66 = 28.3; 30 x 1/4 = 7.5; 1 of 2 decided = 10; one open report: 10 - 2.
    assert (b.savings, b.participation, b.approval, b.waste, b.total) == (28.3, 7.5, 10.0, 8, 53.8)
    assert [s.unit.name for s in report.scores] == ["甲车间", "乙车间"]
    # Other weights, from settings.
    heavy = reports.scores(report.units, report.period_target, Weights(70, 10, 10, 10, 5))
    assert {s.unit.name: s.total for s in heavy} == {"甲车间": 70.5, "乙车间": 62.0}


async def test_people_groups_categories_and_gold(small: Small) -> None:
    c = small.campaign
    whole = Span(local(2025, 10, 1), local(2026, 10, 1))
    february = containing(PeriodKind.MONTH, date(2026, 2, 1))
    async with small.db.read() as s:
        top = await figures.top_workers(s, c.id, None, 10)
        groups = await figures.group_figures(s, c.id, whole)
        categories = await figures.category_figures(s, c.id, whole)
        gold = await figures.gold_ideas(
            s, c.id, Span.of(containing(PeriodKind.MONTH, date(2026, 3, 1)), TZ)
        )
        a3 = await figures.member_standing(s, c.id, small.people["a3"])
        a3_feb = await figures.member_standing(s, c.id, small.people["a3"], february)
        feb_top = await figures.top_workers(s, c.id, february, 10)
    # a1: 1,000 (I1 / 3) + 2,500 (I2) + 250 (I6 / 2); a3: 1,000 + 250; b1: 1,200; a2: 1,000.
    assert [(w.name, w.saved) for w in top] == [
        ("a1", Decimal("3750.00")),
        ("a3", Decimal("1250.00")),
        ("b1", Decimal("1200.00")),
        ("a2", Decimal("1000.00")),
    ]
    assert [(g.group, g.members, g.participants, g.saved) for g in groups] == [
        (MemberGroup.PARTY, 2, 2, Decimal("4950.00")),
        (MemberGroup.LEAGUE, 1, 1, Decimal("1000.00")),
        (MemberGroup.STAFF, 4, 2, Decimal("1250.00")),
    ]
    assert [(x.name_zh, x.submitted, x.approved, x.saved) for x in categories] == [
        ("技术创新", 5, 3, Decimal("6000.00")),
        ("修旧利废", 1, 1, Decimal("1200.00")),
    ]
    assert [(g.number, g.unit, g.authors, g.saved) for g in gold] == [
        ("T-3", "乙车间", "b1", Decimal("1200.00"))
    ]
    assert (a3.total, a3.unit_rank, a3.unit_size, a3.plant_rank, a3.plant_size) == (
        Decimal("1250.00"),
        2,
        3,
        2,
        7,
    )
    assert a3_feb.total == Decimal("0.00") and a3_feb.plant_rank == 2  # only a1 had any (I2)
    assert [(w.name, w.saved) for w in feb_top] == [("a1", Decimal("2500.00"))]


async def test_a_third_of_a_fen_is_shared_exactly(small: Small) -> None:
    async with small.db.write() as s:
        item = await s.scalar(select(Item).where(Item.number == "T-1"))
        assert item is not None
        item.certified_amount = Decimal("1000")
    await ledger.rebuild(small.db, small.campaign.id, TZ)
    async with small.db.read() as s:
        top = await figures.top_workers(s, small.campaign.id, None, 10)
    shares = {w.name: w.saved for w in top}
    assert shares["a2"] == Decimal("333.33")
    assert shares["a1"] == Decimal("2500.00") + Decimal("333.33") + Decimal("250.00")


async def _statements(db: Database, kind: ReportKind, now: datetime) -> tuple[int, str]:
    """The SQL statements one report issues, and its text."""
    settings = make_settings(db.url)
    due = posts.last_due(kind, now.astimezone(TZ), settings)
    seen: list[object] = []

    def count(*args: object) -> None:
        seen.append(args[2])

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        report = await reports.build(db, kind, due.period, settings, now)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert report is not None
    return len(seen), bulletins.text(translator("zh"), report)


SMALL = sample.Shape(
    units=4, workers=40, ideas=60, approved=20, certified_total=None, waste=6, days=90
)
LARGER = sample.Shape(
    units=40, workers=800, ideas=3000, approved=1200, certified_total=None, waste=200, days=400
)


async def test_reports_issue_the_same_few_statements_whatever_the_size(db_url: str) -> None:
    now = datetime(2026, 11, 22, 12, tzinfo=TZ)
    counts: dict[ReportKind, list[int]] = {kind: [] for kind in ReportKind}
    db = Database(db_url)
    try:
        for shape in (SMALL, LARGER):
            async with db.write() as s:
                tables = [t for t in Base.metadata.sorted_tables if t.name != "bot_state"]
                for table in reversed(tables):
                    await s.execute(delete(table))
            await sample.populate(db, shape, now.date(), TZ)
            for kind in ReportKind:
                n, body = await _statements(db, kind, now)
                counts[kind].append(n)
                assert body.count("\n") > 5
    finally:
        await db.dispose()
    for kind, (small_n, larger_n) in counts.items():
        assert small_n == larger_n <= 8, (kind, counts)
