"""The members' savings ledger: kept by the committee's decisions, equal to a rebuild from the
items, and rebuilt when the time zone its periods are cut in changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.services import campaigns, figures, items, ledger, people, review, units
from bot.services.periods import Period, PeriodKind, containing, local_midnight
from storage.db import Database
from storage.models import Campaign, Member, MemberSaving, Unit, UnitSaving
from tests.helpers import NOW, seed_member, seed_unit

TZ = ZoneInfo("Asia/Shanghai")
_UNIT_ROWS = select(
    UnitSaving.campaign_id,
    UnitSaving.period,
    UnitSaving.unit_id,
    UnitSaving.fen,
    UnitSaving.approved,
)


async def _rows(db: Database) -> dict[tuple[str, int], float]:
    async with db.read() as session:
        found = await session.execute(
            select(MemberSaving.period, MemberSaving.member_id, MemberSaving.fen)
        )
        return {(period, member): round(fen, 6) for period, member, fen in found}


async def _three_and_a_chair(db: Database) -> tuple[Campaign, Unit, list[Member]]:
    """A unit without an assessor (ideas go to the committee), three workers and a chair."""
    campaign = await campaigns.ensure_default(db, NOW.date())
    unit = await seed_unit(db)
    people_ = [await seed_member(db, n, unit.id, name) for n, name in enumerate("甲乙丙", 1)]
    chair = await seed_member(db, 4, unit.id, "主任")
    await people.set_role(db, chair.id, chair.id, "committee", True, NOW)
    return campaign, unit, [*people_, chair]


async def _idea(
    db: Database,
    campaign: Campaign,
    author: Member,
    unit_id: int,
    n: int,
    claimed: str,
    co: list[int] | None = None,
    when: datetime = NOW,
) -> int:
    """Submit idea number `n` (its title); returns its id."""
    draft = items.Draft(
        kind="idea",
        unit_id=unit_id,
        title=f"想法 {n}",
        body="说明",
        claimed_amount=claimed,
        co_author_ids=co or [],
    )
    return (await items.submit(db, campaign.id, author, draft, when, TZ)).item.id


async def test_decisions_keep_the_ledger_equal_to_a_rebuild(db_url: str) -> None:
    db = Database(db_url)
    try:
        campaign, unit, (a, b, c, chair) = await _three_and_a_chair(db)
        amounts = [("1000", [b.id, c.id]), ("2500", []), ("700", [a.id])]
        authors = [a, a, b]
        ids = []
        for n, ((claimed, co), author) in enumerate(zip(amounts, authors, strict=True)):
            ids.append(await _idea(db, campaign, author, unit.id, n, claimed, co))
        # Approved on 31 March 23:30 local (the last day of March and of Q1) and 1 April.
        march_end = NOW.replace(month=3, day=31, hour=15, minute=30)
        times = (march_end, march_end, march_end + timedelta(hours=1))
        for item_id, when in zip(ids, times, strict=True):
            await review.decide(db, item_id, chair.id, "approve", when, TZ)
        await review.decide(db, ids[1], chair.id, "implement", march_end, TZ)
        later = march_end + timedelta(days=40)
        await review.decide(db, ids[1], chair.id, "verify", later, TZ, amount=Decimal("2000"))
        kept = await _rows(db)
        await ledger.rebuild(db, campaign.id, TZ)
        assert await _rows(db) == kept
        # 甲: a third of 1,000 + 2,000 (verified) + half of 700; in March and Q1 alike.
        a_total = round(100_000 / 3 + 200_000 + 35_000, 6)
        assert kept[("all", a.id)] == a_total
        assert kept[("2026-03", a.id)] == round(100_000 / 3 + 200_000, 6)
        assert kept[("2026-04", a.id)] == 35_000
        assert kept[("2026-Q1", b.id)] == round(100_000 / 3, 6)
        assert kept[("2026-Q2", b.id)] == 35_000
        assert ("2026-04", c.id) not in kept
        # In UTC the last approval falls on 31 March too: a start in UTC rebuilds the ledger.
        assert await ledger.ensure_current(db, ZoneInfo("UTC")) == 1
        utc = await _rows(db)
        assert ("2026-04", a.id) not in utc
        assert utc[("2026-03", a.id)] == a_total and utc[("all", a.id)] == a_total
        assert await ledger.ensure_current(db, ZoneInfo("UTC")) == 0  # built in UTC now
        async with db.read() as session:
            assert await session.scalar(select(Campaign.ledger_tz)) == "UTC"
    finally:
        await db.dispose()


async def test_amounts_shared_and_taken_back_leave_nobody_in_the_top_list(db_url: str) -> None:
    """Thirds of a fen added and taken away again leave float crumbs: nobody is listed for them."""
    db = Database(db_url)
    try:
        campaign, unit, (a, b, c, chair) = await _three_and_a_chair(db)
        ids = []
        for n, claimed in enumerate(("1.00", "15.00")):
            ids.append(await _idea(db, campaign, a, unit.id, n, claimed, [b.id, c.id]))
        for action in ("approve", "implement"):
            for item_id in ids:
                await review.decide(db, item_id, chair.id, action, NOW, TZ)
        for item_id in ids:  # the effect: nothing after all
            await review.decide(db, item_id, chair.id, "verify", NOW, TZ, amount=Decimal("0"))
        async with db.read() as session:
            crumbs = list(await session.scalars(select(MemberSaving.fen)))
        assert any(0 < abs(fen) < 1e-6 for fen in crumbs), crumbs  # what the test is about
        async with db.read() as session:
            top = await figures.top_workers(session, campaign.id, None, 10)
            standing = await figures.member_standing(session, campaign.id, a)
        assert top == []
        assert (standing.total, standing.plant_rank) == (Decimal("0.00"), 1)
    finally:
        await db.dispose()


async def test_the_units_ledger_agrees_with_the_items_in_every_period(db_url: str) -> None:
    """/rank and /progress read the units' ledger; the bulletins sum the items. Both agree."""
    db = Database(db_url)
    try:
        campaign, unit, (a, *_, chair) = await _three_and_a_chair(db)
        other = await seed_unit(db, "二车间")
        march_end = NOW.replace(month=3, day=31, hour=15, minute=30)  # 23:30 local
        ideas = [  # unit, claimed, hours after march_end it is approved (None: rejected)
            (unit.id, "1000", 0),
            (unit.id, "2500", 1),
            (other.id, "700", 0),
            (other.id, "300", 1),
            (other.id, "900", None),
        ]
        ids = []
        for n, (unit_id, claimed, hours) in enumerate(ideas):
            submitted = march_end - timedelta(days=3)
            ids.append(await _idea(db, campaign, a, unit_id, n, claimed, when=submitted))
            when = march_end + timedelta(hours=hours or 0)
            if hours is None:
                await review.decide(db, ids[-1], chair.id, "reject", when, TZ, text="不行")
            else:
                await review.decide(db, ids[-1], chair.id, "approve", when, TZ)
        await review.decide(db, ids[1], chair.id, "implement", march_end, TZ)
        later = march_end + timedelta(days=40)
        await review.decide(db, ids[1], chair.id, "verify", later, TZ, amount=Decimal("2000"))

        async def both(period: Period | None) -> tuple[list[tuple[int, int, Decimal]], ...]:
            span = (
                figures.Span.of(period, TZ)
                if period
                else figures.Span(
                    local_midnight(campaign.starts_on, TZ),
                    local_midnight(campaign.ends_on + timedelta(days=1), TZ),
                )
            )
            async with db.read() as session:
                ranking = await figures.unit_ranking(session, campaign.id, period, 100, None)
                kept = [unit for _, unit in ranking]
                summed = await figures.unit_figures(session, campaign.id, span)
            return tuple(
                sorted((u.unit_id, u.approved, u.saved) for u in f) for f in (kept, summed)
            )

        days = (march_end.astimezone(TZ).date(), (march_end + timedelta(hours=1)).astimezone(TZ))
        periods: list[Period | None] = [None]
        for day in (days[0], days[1].date()):
            periods += [containing(kind, day) for kind in ledger.KINDS]
        for period in periods:
            kept, summed = await both(period)
            assert kept == summed, period
        kept, _ = await both(containing(PeriodKind.MONTH, days[0]))
        assert kept == [(unit.id, 1, Decimal("1000.00")), (other.id, 1, Decimal("700.00"))]
        kept, _ = await both(None)  # 2,500 certified, then 2,000 verified
        assert kept == [(unit.id, 2, Decimal("3000.00")), (other.id, 2, Decimal("1000.00"))]
        async with db.read() as session:
            rows = set((await session.execute(_UNIT_ROWS)).all())
        await ledger.rebuild(db, campaign.id, TZ)
        async with db.read() as session:
            assert set((await session.execute(_UNIT_ROWS)).all()) == rows
    finally:
        await db.dispose()


async def test_the_database_ranks_units_as_the_ranking_in_python_does(db_url: str) -> None:
    """/rank's and /progress's units come ranked from the database (savings per head rounded
    half up to the fen, then savings or not, then name by code point), with /progress's totals:
    the same as the units' figures ranked (`_ranked`) and added up in Python, ties, negative
    amounts, no headcount, and archived units included."""
    db = Database(db_url)
    try:
        campaign = await campaigns.ensure_default(db, NOW.date())
        shape = [  # name, headcount, fen (None: no ledger row), archived
            ("甲", 3, 1000, False),  # 333.33 fen per head
            ("乙", 6, 2000, False),  # 333.33, more saved
            ("丙", 3, 1001, False),  # 333.67: 334
            ("丁", 2, 667, False),  # 333.5: 334 (half up)
            ("c", 2, 667, False),  # ties on everything but the name: B < a < c by code point
            ("B", 2, 667, False),
            ("a", 2, 667, False),
            ("戊", 0, 500, False),  # no headcount, no members: 0 per head
            ("己", 10, None, False),
            ("庚", 3, -1001, False),  # -333.67: -334
            ("辛", 2, -667, False),  # -333.5: -334 (half up, away from zero)
            ("壬", 1, 900_000, True),  # archived: not in /rank; in /progress (it saved)
            ("癸", 5, None, True),  # archived, nothing saved: in neither
        ]
        ids = {}
        for name, headcount, fen, archived in shape:
            unit = await units.create_unit(db, None, name, headcount, NOW)  # type: ignore[arg-type]
            ids[name] = unit.id
            async with db.write() as session:
                if archived:
                    await session.execute(
                        update(Unit).where(Unit.id == unit.id).values(archived=True)
                    )
                if fen is not None:
                    session.add(
                        UnitSaving(
                            campaign_id=campaign.id,
                            period=ledger.key_of(None),
                            unit_id=unit.id,
                            fen=fen,
                            approved=1,
                        )
                    )
        # The ranking in Python: the units' figures as the ledger gives them, `_ranked`.
        everyone = figures._ranked(
            figures._from_ledger(
                (ids[name], name, people, int(fen is not None), fen or 0), None, gone
            )
            for name, people, fen, gone in shape
        )
        in_python = [u for u in everyone if not u.archived]
        order = [u.name for u in in_python]
        assert order == ["丙", "B", "a", "c", "丁", "乙", "甲", "戊", "己", "辛", "庚"]
        for top, mine in [(10, ids["庚"]), (3, ids["甲"]), (3, ids["壬"]), (0, None), (20, None)]:
            async with db.read() as session:
                ranked = await figures.unit_ranking(session, campaign.id, None, top, mine)
            expected = [
                (i, u.unit_id, u.per_head, u.saved, u.headcount)
                for i, u in enumerate(in_python, 1)
                if i <= top or u.unit_id == mine
            ]
            got = [(i, u.unit_id, u.per_head, u.saved, u.headcount) for i, u in ranked]
            assert got == expected, (top, mine)
        # /progress: every unit `_ranked` keeps, by savings per head to date, then name.
        by_progress = sorted(everyone, key=lambda u: (-u.per_head_to_date, u.name))
        assert ids["壬"] in [u.unit_id for u in by_progress]
        assert ids["癸"] not in [u.unit_id for u in everyone]
        plant = figures.plant_figures(campaign, everyone, NOW.date())
        for mine in [*ids.values(), None]:
            async with db.read() as session:
                progress = await figures.unit_progress(session, campaign.id, mine)
            totals = figures.plant_to_date(campaign, progress, NOW.date())
            assert totals == plant
            assert progress.units == len(by_progress)
            place = [i for i, u in enumerate(by_progress, 1) if u.unit_id == mine]
            assert progress.position == (place[0] if place else 0), mine
            shown = progress.unit
            found = next((u for u in by_progress if u.unit_id == mine), None)
            assert (shown and shown.per_head_to_date, shown and shown.headcount) == (
                found and found.per_head_to_date,
                found and found.headcount,
            )
    finally:
        await db.dispose()
