"""The members' savings ledger: kept by the committee's decisions, equal to a rebuild from the
items, and rebuilt when the time zone its periods are cut in changes."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Double, delete, func, literal, select, update

from bot.services import campaigns, figures, importer, items, ledger, people, review, units
from bot.services.periods import Period, PeriodKind, containing, local_midnight
from storage.db import Database
from storage.models import (
    Campaign,
    HeadcountChange,
    Member,
    MemberBand,
    MemberSaving,
    Unit,
    UnitSaving,
)
from tests.helpers import NOW, seed_member, seed_unit

TZ = ZoneInfo("Asia/Shanghai")
_T = TypeVar("_T")
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
        bands, counted = await _bands(db)
        assert bands == counted
        await ledger.rebuild(db, campaign.id, TZ)
        assert await _rows(db) == kept
        assert await _bands(db) == (bands, counted)
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


async def test_a_verified_share_is_shown_as_the_items_and_a_rebuild_show_it(
    db_url: str,
) -> None:
    """Six co-authors; 10,000 certified, then 5,000.01 verified: 833.335 yuan each, 833.34
    half up. The ledger, kept by adding the change in float fen (10,000/6, then -4,999.99/6),
    holds 83333.49999999999 fen: it is shown 833.34 too, as after a rebuild."""
    db = Database(db_url)
    try:
        campaign = await campaigns.ensure_default(db, NOW.date())
        unit = await seed_unit(db)
        authors = [await seed_member(db, n, unit.id, f"工{n}") for n in range(1, 7)]
        chair = await seed_member(db, 99, unit.id, "主任")
        await people.set_role(db, chair.id, chair.id, "committee", True, NOW)
        first = authors[0]
        item_id = await _idea(db, campaign, first, unit.id, 1, "10000", [m.id for m in authors[1:]])
        await review.decide(db, item_id, chair.id, "approve", NOW, TZ)
        await review.decide(db, item_id, chair.id, "implement", NOW, TZ)
        verified = Decimal("5000.01")
        later = NOW + timedelta(days=1)
        await review.decide(db, item_id, chair.id, "verify", later, TZ, amount=verified)
        expected = (verified / 6).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert expected == Decimal("833.34")
        for rebuilt in (False, True):
            if rebuilt:
                await ledger.rebuild(db, campaign.id, TZ)
            async with db.read() as session:
                shown = await figures.member_standing(session, campaign.id, first)
                top = await figures.top_workers(session, campaign.id, None, 10)
            assert shown.total == expected, rebuilt
            assert [w.saved for w in top] == [expected] * 6, rebuilt
            # Six equal shares, shown equal: all first, listed by name.
            assert shown.plant_rank == 1
            assert [w.name for w in top] == sorted(m.name for m in authors)
    finally:
        await db.dispose()


async def test_the_shown_fen_in_sql_is_what_yuan_shows(db_url: str) -> None:
    """`_shown_fen` (ranks and the top list's ties) rounds as `yuan` does on both databases:
    float noise away, then half up (PostgreSQL rounds its floats half to even)."""
    values = [
        0.0,
        1e-12,
        0.49994,
        0.49999,
        0.5,
        2.5,
        12.5,
        83333.49999999999,
        83333.50000000001,
        500.00000000000006,
        499.99999999999994,
        100_000 / 3,
        200_000 / 3,
        1_000_000_000.5,
        123.4994,
        123.4996,
    ]
    db = Database(db_url)
    try:
        async with db.read() as session:
            dialect = session.get_bind().dialect.name
            for value in values:
                shown = figures._shown_fen(literal(value, Double), dialect)
                fen = await session.scalar(select(shown))
                assert Decimal(repr(float(fen))).scaleb(-2) == figures.yuan(value), value
    finally:
        await db.dispose()
    assert figures.yuan(figures.HALF_FEN) == Decimal("0.01")
    assert figures.yuan(0.49999) == Decimal("0.00")
    assert figures.yuan(83333.49999999999) == Decimal("833.34")
    assert figures.yuan(83333.4) == Decimal("833.33")


async def test_the_top_savers_leave_out_members_no_longer_active(db_url: str) -> None:
    """/rank shows the top savers and "My place" on one screen: a deactivated member is in
    neither (README: "less the members ahead who are no longer active"), even when they
    saved more; back at work, they are in both again."""
    db = Database(db_url)
    try:
        campaign = await campaigns.ensure_default(db, NOW.date())
        unit = await seed_unit(db)
        gone = await seed_member(db, 1, unit.id, "离职")
        here = await seed_member(db, 2, unit.id, "在岗")
        chair = await seed_member(db, 3, unit.id, "主任")
        admin = await seed_member(db, 4, unit.id, "办公室")
        async with db.write() as session:
            (await session.get(Member, admin.id)).is_admin = True  # type: ignore[union-attr]
        await people.set_role(db, admin.id, chair.id, "committee", True, NOW)
        big = await _idea(db, campaign, gone, unit.id, 1, "5000")
        small = await _idea(db, campaign, here, unit.id, 2, "1000")
        for item_id in (big, small):
            await review.decide(db, item_id, chair.id, "approve", NOW, TZ)
        await people.set_active(db, admin.id, gone.id, False, NOW)
        month = containing(PeriodKind.MONTH, NOW.astimezone(TZ).date())
        for period in (None, month):
            async with db.read() as session:
                top = await figures.top_workers(session, campaign.id, period, 10)
                first = await figures.top_workers(session, campaign.id, period, 1)
                mine = await figures.member_standing(session, campaign.id, here, period)
            assert [(w.name, w.saved) for w in top] == [(here.name, Decimal("1000.00"))]
            assert [w.name for w in first] == [here.name]  # the 1st among the active
            assert mine.plant_rank == 1
        await people.set_active(db, admin.id, gone.id, True, NOW)
        async with db.read() as session:
            top = await figures.top_workers(session, campaign.id, None, 10)
            mine = await figures.member_standing(session, campaign.id, here)
        assert [w.name for w in top] == [gone.name, here.name]
        assert mine.plant_rank == 2
    finally:
        await db.dispose()


async def test_equal_shown_savings_share_a_rank_and_are_listed_by_name(db_url: str) -> None:
    """A is credited 5.00 (an idea of her own); B, C and D share an idea certified 16.00 and
    verified 15.00: 5.00 each, though B's ledger row is 500.00000000000006 fen (16/3 - 1/3 in
    float). All four show 5.00, rank first and are listed by name, however short the list;
    E, shown 4.99, comes after them."""
    db = Database(db_url)
    try:
        campaign = await campaigns.ensure_default(db, NOW.date())
        unit = await seed_unit(db)
        a, b, c, d, e = [
            await seed_member(db, n, unit.id, name) for n, name in enumerate("ABCDE", 1)
        ]
        chair = await seed_member(db, 9, unit.id, "Z")
        await people.set_role(db, chair.id, chair.id, "committee", True, NOW)
        alone = await _idea(db, campaign, a, unit.id, 1, "5")
        shared = await _idea(db, campaign, b, unit.id, 2, "16", [c.id, d.id])
        less = await _idea(db, campaign, e, unit.id, 3, "4.99")
        for item_id in (alone, shared, less):
            await review.decide(db, item_id, chair.id, "approve", NOW, TZ)
        await review.decide(db, shared, chair.id, "implement", NOW, TZ)
        await review.decide(db, shared, chair.id, "verify", NOW, TZ, amount=Decimal("15"))
        async with db.read() as session:
            crumbs = await session.scalar(
                select(MemberSaving.fen).where(
                    MemberSaving.member_id == b.id, MemberSaving.period == ledger.ALL
                )
            )
            top = await figures.top_workers(session, campaign.id, None, 10)
            shorter = [
                [w.name for w in await figures.top_workers(session, campaign.id, None, n)]
                for n in (1, 2)
            ]
            ranks = [
                (await figures.member_standing(session, campaign.id, m)).plant_rank
                for m in (a, b, c, d, e)
            ]
        assert crumbs != 500  # what the test is about
        assert [(w.name, w.saved) for w in top] == [
            *((name, Decimal("5.00")) for name in "ABCD"),
            ("E", Decimal("4.99")),
        ]
        assert shorter == [["A"], ["A", "B"]]
        assert ranks == [1, 1, 1, 1, 5]
    finally:
        await db.dispose()


async def test_progress_and_the_weekly_bulletin_count_the_same_heads(db_url: str) -> None:
    """/progress and the weekly bulletin both show the plant's savings per head to date. An
    archived unit with a waste report still open (and no savings) is worth a line in the
    bulletin, but its people count in neither per-head figure: an archived unit's heads count
    only with its savings, as in /progress (from the units' ledger)."""
    db = Database(db_url)
    try:
        campaign = await campaigns.ensure_default(db, NOW.date())
        a = await seed_unit(db, "一车间", 10)
        b = await seed_unit(db, "二车间", 90)
        c = await seed_unit(db, "三车间", 40)
        worker = await seed_member(db, 1, a.id, "甲")
        chair = await seed_member(db, 2, a.id, "主任")
        await people.set_role(db, chair.id, chair.id, "committee", True, NOW)
        waste = items.Draft(kind="waste", unit_id=b.id, title="长明灯", place="二车间")
        await items.submit(db, campaign.id, worker, waste, NOW - timedelta(days=20), TZ)
        # 三车间 saved 300 before it was archived: its heads count.
        saved_before = await _idea(
            db, campaign, worker, c.id, 2, "300", when=NOW - timedelta(days=20)
        )
        await review.decide(db, saved_before, chair.id, "approve", NOW - timedelta(days=19), TZ)
        for archived in (b, c):
            await units.set_archived(db, chair.id, archived.id, True, NOW - timedelta(days=10))
        idea = await _idea(db, campaign, worker, a.id, 1, "1000")
        await review.decide(db, idea, chair.id, "approve", NOW, TZ)
        today = NOW.astimezone(TZ).date()
        week = containing(PeriodKind.WEEK, today)
        async with db.read() as session:
            listed = await figures.unit_figures(session, campaign.id, figures.Span.of(week, TZ))
            progress = await figures.unit_progress(session, campaign.id, a.id)
        assert b.id in [u.unit_id for u in listed]  # its open report is worth a line
        upto = today + timedelta(days=1)
        bulletin = figures.plant_figures(campaign, listed, upto)
        shown = figures.plant_to_date(campaign, progress, upto)
        assert bulletin.saved_to_date == shown.saved_to_date == Decimal("1300.00")
        assert bulletin.headcount == shown.headcount == 50
        assert bulletin.per_head_to_date == shown.per_head_to_date == Decimal("26.00")
    finally:
        await db.dispose()


async def test_amounts_below_zero_shown_equal_share_a_rank(db_url: str) -> None:
    """A month's row can go below zero (a lower verified amount, shared): -3 fen and -2.5 fen
    both show as -0.03 (half a fen rounds away from zero), so neither is ahead of the other;
    -2.4 fen shows as -0.02 and is ahead of both."""
    db = Database(db_url)
    try:
        campaign = await campaigns.ensure_default(db, NOW.date())
        unit = await seed_unit(db)
        a, b, c = [await seed_member(db, n, unit.id, name) for n, name in enumerate("ABC", 1)]
        async with db.write() as session:
            for member, fen in ((a, -3.0), (b, -2.5)):
                session.add(
                    MemberSaving(
                        campaign_id=campaign.id, period=ledger.ALL, member_id=member.id, fen=fen
                    )
                )
        async with db.read() as session:
            ranks = [
                (await figures.member_standing(session, campaign.id, m)).plant_rank for m in (a, b)
            ]
        assert ranks == [1, 1]
        async with db.write() as session:
            session.add(
                MemberSaving(campaign_id=campaign.id, period=ledger.ALL, member_id=c.id, fen=-2.4)
            )
        async with db.read() as session:
            standings = [await figures.member_standing(session, campaign.id, m) for m in (a, b, c)]
        assert [(s.total, s.plant_rank) for s in standings] == [
            (Decimal("-0.03"), 2),
            (Decimal("-0.03"), 2),
            (Decimal("-0.02"), 1),
        ]
    finally:
        await db.dispose()


async def _units_in_ledger(db: Database) -> list[tuple[int | None, int | None]]:
    """(the ledger row's unit, the member's unit) of every row that disagree."""
    async with db.read() as session:
        found = await session.execute(
            select(MemberSaving.unit_id, Member.unit_id).join(
                Member, Member.id == MemberSaving.member_id
            )
        )
        return [(kept, actual) for kept, actual in found if kept != actual]


async def test_ranks_in_the_unit_count_its_active_members_ahead(db_url: str) -> None:
    """The member ledger keeps each member's unit, and a rank in the unit counts the unit's
    active members shown more, whatever unit their shares came from: an idea of the first
    unit with a co-author of the second credits the co-author in the second."""
    db = Database(db_url)
    try:
        campaign = await campaigns.ensure_default(db, NOW.date())
        first = await seed_unit(db, "一车间")
        second = await seed_unit(db, "二车间")
        a, b = [await seed_member(db, n, first.id, name) for n, name in enumerate("AB", 1)]
        c, d, e = [await seed_member(db, n, second.id, name) for n, name in enumerate("CDE", 3)]
        chair = await seed_member(db, 9, first.id, "Z")
        admin = await seed_member(db, 10, first.id, "O")
        async with db.write() as session:
            (await session.get(Member, admin.id)).is_admin = True  # type: ignore[union-attr]
        await people.set_role(db, admin.id, chair.id, "committee", True, NOW)
        ideas = [
            await _idea(db, campaign, a, first.id, 1, "3000", [d.id]),  # 1,500 each
            await _idea(db, campaign, b, first.id, 2, "1000"),
            await _idea(db, campaign, c, second.id, 3, "2000"),
            await _idea(db, campaign, e, second.id, 4, "1500"),  # as much as D
        ]
        for item_id in ideas:
            await review.decide(db, item_id, chair.id, "approve", NOW, TZ)
        assert await _units_in_ledger(db) == []

        async def ranks() -> dict[str, tuple[int, int]]:
            async with db.read() as session:
                return {
                    m.name: (s.unit_rank, s.unit_size)
                    for m in (a, b, c, d, e, chair)
                    for s in [await figures.member_standing(session, campaign.id, m)]
                }

        # The first unit: A 1,500, B 1,000, the chair and the office nothing (4 active).
        # The second: C 2,000, then D and E 1,500 each (tied).
        assert await ranks() == {
            "A": (1, 4),
            "B": (2, 4),
            "C": (1, 3),
            "D": (2, 3),
            "E": (2, 3),
            "Z": (3, 4),
        }
        await people.set_active(db, admin.id, c.id, False, NOW)
        after = await ranks()
        assert (after["D"], after["E"]) == ((1, 2), (1, 2))
        await ledger.rebuild(db, campaign.id, TZ)
        assert await _units_in_ledger(db) == []
        assert await ranks() == after
        # A roster import moves B (1,000) to the second unit by username: B's rows follow.
        async with db.write() as session:
            (await session.get(Member, b.id)).username = "bee"  # type: ignore[union-attr]
        roster = "姓名,单位,用户名\nB,二车间,@bee\n".encode()
        result = await importer.import_file(db, admin.id, "m.csv", roster, NOW)
        assert result.ok and result.members_updated == 1
        assert await _units_in_ledger(db) == []
        b = await _member(db, b.id)
        moved = await ranks()
        assert (moved["A"], moved["B"], moved["D"]) == ((1, 3), (3, 3), (1, 3))
    finally:
        await db.dispose()


async def _member(db: Database, member_id: int) -> Member:
    async with db.read() as session:
        found = await session.get(Member, member_id)
    assert found is not None
    return found


async def _bands(db: Database) -> tuple[dict[tuple[str, float], int], dict[tuple[str, float], int]]:
    """The band counts as kept (bands left empty dropped), and as counted from the ledger."""
    async with db.read() as session:
        kept = await session.execute(select(MemberBand.period, MemberBand.low, MemberBand.members))
        rows = await session.execute(select(MemberSaving.period, MemberSaving.fen))
        counted = Counter((period, ledger.band_of(fen)) for period, fen in rows)
        return {(p, low): n for p, low, n in kept if n}, dict(counted)


async def test_places_in_the_plant_add_up_bands_of_amounts_as_counting_would(
    db_url: str,
) -> None:
    """A place in the plant adds the band counts above the member's amount and counts the rows
    of its own band: amounts on a band's least amount (1,024 fen is 2^10), a fen either side of
    it, shares of a fen, ties, an amount verified lower (its rows move down bands), a member
    deactivated and a rebuild all rank as counting every member shown more would."""
    db = Database(db_url)
    try:
        campaign = await campaigns.ensure_default(db, NOW.date())
        first = await seed_unit(db, "一车间")
        second = await seed_unit(db, "二车间")
        workers = [
            await seed_member(db, n, (first, second)[n % 2].id, f"W{n:02}") for n in range(1, 13)
        ]
        chair = await seed_member(db, 99, first.id, "Z")
        admin = await seed_member(db, 98, first.id, "O")
        async with db.write() as session:
            (await session.get(Member, admin.id)).is_admin = True  # type: ignore[union-attr]
        await people.set_role(db, admin.id, chair.id, "committee", True, NOW)
        w = workers
        plan = [
            (w[0], "10.24", []),  # 1,024 fen: a band's least amount
            (w[1], "10.23", []),
            (w[2], "10.25", []),
            (w[3], "30.72", [w[4].id, w[5].id]),  # 1,024 fen each
            (w[6], "1310.72", []),  # 2^17 fen
            (w[7], "0.01", [w[8].id]),  # half a fen each: shown as 0.01
            (w[9], "5000", []),  # verified 20.48 below
            (w[10], "1310.71", []),
        ]
        ideas = []
        for n, (author, claimed, co) in enumerate(plan):
            unit_id = author.unit_id or first.id
            ideas.append(await _idea(db, campaign, author, unit_id, n, claimed, co))
        for item_id in ideas:
            await review.decide(db, item_id, chair.id, "approve", NOW, TZ)
        await review.decide(db, ideas[6], chair.id, "implement", NOW, TZ)
        later = NOW + timedelta(days=3)
        await review.decide(db, ideas[6], chair.id, "verify", later, TZ, amount=Decimal("20.48"))

        async def check(active: list[Member]) -> None:
            kept, counted = await _bands(db)
            assert kept == counted
            totals = await _rows(db)
            month = containing(PeriodKind.MONTH, NOW.astimezone(TZ).date())
            for period in (None, month):
                key = ledger.key_of(period)
                shown = {m.id: figures.yuan(totals.get((key, m.id), 0.0)) for m in active}
                async with db.read() as session:
                    for m in active:
                        got = await figures.member_standing(session, campaign.id, m, period)
                        ahead = sum(1 for v in shown.values() if v > shown[m.id])
                        assert (got.total, got.plant_rank, got.plant_size) == (
                            shown[m.id],
                            ahead + 1,
                            len(active),
                        ), (m.name, key)

        everyone = [*workers, chair, admin]
        await check(everyone)
        # Ahead of all: 1,310.72, 1,310.71 and 20.48 (verified). W03 10.25, then W01 and
        # W04-W06 on a band's least amount (10.24, tied), W02 a fen below it.
        async with db.read() as session:
            places = [
                (await figures.member_standing(session, campaign.id, m)).plant_rank
                for m in (w[1], w[0], w[3], w[4], w[2])
            ]
        assert places == [9, 5, 5, 5, 4]
        await people.set_active(db, admin.id, w[2].id, False, NOW)
        await check([m for m in everyone if m.id != w[2].id])
        await ledger.rebuild(db, campaign.id, TZ)
        await check([m for m in everyone if m.id != w[2].id])
    finally:
        await db.dispose()


def test_every_amount_falls_in_the_greatest_band_not_above_it() -> None:
    bands = ledger.BANDS
    assert list(bands) == sorted(set(bands)) and 0.0 in bands and 1024.0 in bands
    for fen in (-1e12, -1024.0, -1023.5, -0.5, 0.0, 0.5, 1.0, 1023.999, 1024.0, 1e12, 1e15):
        low = ledger.band_of(fen)
        above = [b for b in bands if b > fen]
        assert low <= fen and (not above or fen < min(above))
        assert low == max(b for b in bands if b <= fen)


async def test_the_headcount_follows_every_change_of_status(db_url: str) -> None:
    """'Of N' in a place reads the plant's active members from one row the database keeps: a
    pending join, its approval and a declined one, a declined member joining again, a
    deactivation and a reactivation, a roster import and an imported member's row deleted
    all move it as counting the active members would."""
    db = Database(db_url)
    try:
        campaign = await campaigns.ensure_default(db, NOW.date())
        unit = await seed_unit(db)
        admin = await seed_member(db, 1, unit.id, "O")
        async with db.write() as session:
            (await session.get(Member, admin.id)).is_admin = True  # type: ignore[union-attr]

        async def sizes() -> tuple[int, int]:
            async with db.read() as session:
                counted = await session.scalar(
                    select(func.count()).select_from(Member).where(Member.status == "active")
                )
                me = await session.get(Member, admin.id)
                assert me is not None
                place = await figures.member_standing(session, campaign.id, me)
                return place.plant_size, counted or 0

        async def apply(telegram_id: int, name: str) -> Member:
            return await people.join(
                db,
                telegram_id=telegram_id,
                username=None,
                name=name,
                unit_id=unit.id,
                group="staff",
                language=None,
                pending=True,
                now=NOW,
            )

        assert await sizes() == (1, 1)
        first, second = await apply(2, "P"), await apply(3, "Q")
        assert await sizes() == (1, 1)  # pending: not yet counted
        await people.decide_join(db, admin.id, first.id, True, NOW)
        await people.decide_join(db, admin.id, second.id, False, NOW)
        assert await sizes() == (2, 2)
        await apply(3, "Q")  # declined, applies again (pending)
        await people.decide_join(db, admin.id, second.id, True, NOW)
        assert await sizes() == (3, 3)
        await people.set_active(db, admin.id, first.id, False, NOW)
        assert await sizes() == (2, 2)
        await people.set_active(db, admin.id, first.id, True, NOW)
        assert await sizes() == (3, 3)
        roster = "姓名,单位\n甲,一车间\n乙,一车间\n".encode()
        result = await importer.import_file(db, admin.id, "m.csv", roster, NOW)
        assert result.ok
        assert await sizes() == (5, 5)
        async with db.read() as session:  # folded in once the import committed
            assert await session.scalar(select(func.count()).select_from(HeadcountChange)) == 0
        async with db.write() as session:
            await session.execute(delete(Member).where(Member.name == "甲"))
        assert await sizes() == (4, 4)
        # The changes logged are folded into the count, or the members counted afresh.
        assert await people.settle_headcount(db) == 4
        async with db.read() as session:
            assert await session.scalar(select(func.count()).select_from(HeadcountChange)) == 0
        assert await sizes() == (4, 4)
        await people.set_active(db, admin.id, first.id, False, NOW)
        assert await sizes() == (3, 3)
        assert await people.settle_headcount(db, recount=True) == 3
        assert await sizes() == (3, 3)
    finally:
        await db.dispose()


async def test_decisions_at_once_on_ideas_with_the_same_authors_keep_the_bands(
    db_url: str,
) -> None:
    """Two decisions at a time on different ideas of the same two authors, each through a
    connection pool of its own, both making the same new rows (on PostgreSQL they run at
    once and the ledger's lock takes them in turn): the bands still count the rows as they
    are, and the ledger equals a rebuild."""
    first, second = Database(db_url), Database(db_url)
    try:
        campaign, unit, (a, b, _, chair) = await _three_and_a_chair(first)
        other = await seed_unit(first, "二车间")
        # Every other idea in the other unit: each of a pair writes its own unit's rows.
        ideas = [
            await _idea(
                first, campaign, a, (unit, other)[n % 2].id, n, f"{100 + 37 * n}.{n:02}", [b.id]
            )
            for n in range(20)
        ]
        for week, (x, y) in enumerate(zip(ideas[::2], ideas[1::2], strict=True)):
            # A week apart: both decisions of a pair write the week's rows first.
            when = NOW + timedelta(weeks=week)
            await asyncio.gather(
                review.decide(first, x, chair.id, "approve", when, TZ),
                review.decide(second, y, chair.id, "approve", when, TZ),
            )
        rows = await _kept_by_a_rebuild(first, campaign.id, _rows)
        claimed = sum(100 * (100 + 37 * n) + n for n in range(20))  # fen
        assert rows[("all", a.id)] == rows[("all", b.id)] == round(claimed / 2, 6)
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_roster_import_moving_authors_while_their_ideas_are_approved_keeps_their_units(
    db_url: str,
) -> None:
    """Approvals that make the authors' first rows of a week, each at the same time as a roster
    import that moves both authors to the other unit, through connection pools of their own:
    on PostgreSQL whichever takes the campaign's ledger lock first makes the other wait for
    its commit, so no row is written with the unit an author has just left."""
    first, second = Database(db_url), Database(db_url)
    try:
        campaign, unit, (a, b, _, chair) = await _three_and_a_chair(first)
        other = await seed_unit(first, "二车间")
        async with first.write() as session:
            for member, username in ((a, "ay"), (b, "bee")):
                (await session.get(Member, member.id)).username = username  # type: ignore[union-attr]
        ideas = [
            await _idea(first, campaign, a, unit.id, n, f"{100 + 7 * n}", [b.id]) for n in range(8)
        ]
        for week, item_id in enumerate(ideas):
            to = (other, unit)[week % 2]
            roster = f"姓名,单位,用户名\n甲,{to.name},@ay\n乙,{to.name},@bee\n".encode()
            when = NOW + timedelta(weeks=week)  # the week's rows are new
            _, imported = await asyncio.gather(
                review.decide(first, item_id, chair.id, "approve", when, TZ),
                importer.import_file(second, chair.id, "m.csv", roster, when),
            )
            assert imported.ok and imported.members_updated == 2, imported
            assert await _units_in_ledger(first) == [], week
            assert (await _member(first, a.id)).unit_id == to.id
        units_rows = await _kept_by_a_rebuild(first, campaign.id, _rows_with_units)
        claimed = sum(100 * (100 + 7 * n) for n in range(8))  # fen
        assert units_rows[("all", a.id)][0] == units_rows[("all", b.id)][0] == round(claimed / 2, 6)
    finally:
        await first.dispose()
        await second.dispose()


async def _rows_with_units(db: Database) -> dict[tuple[str, int], tuple[float, int | None]]:
    async with db.read() as session:
        found = await session.execute(
            select(
                MemberSaving.period, MemberSaving.member_id, MemberSaving.fen, MemberSaving.unit_id
            )
        )
        return {(period, member): (round(fen, 6), unit) for period, member, fen, unit in found}


async def _kept_by_a_rebuild(
    db: Database, campaign_id: int, read: Callable[[Database], Awaitable[_T]]
) -> _T:
    """The bands count the ledger's rows as they are, and a rebuild leaves both the rows as
    `read` shows them and the bands unchanged: the rows."""
    kept, counted = await _bands(db)
    assert kept == counted
    rows = await read(db)
    await ledger.rebuild(db, campaign_id, TZ)
    assert await read(db) == rows
    assert await _bands(db) == (kept, counted)
    return rows
