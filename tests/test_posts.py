"""Scheduled posts: run times, exactly once across restarts and instances, catch-up within the
grace window, Telegram trouble during a post to several chats, long posts, the chart's font."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from fontTools.ttLib import TTFont
from matplotlib import font_manager
from sqlalchemy import func, select

from bot import charts
from bot.config import Settings
from bot.i18n import translator
from bot.services import ledger, posts
from bot.services.figures import UnitFigures
from bot.services.reports import ReportKind
from storage.db import Database
from storage.models import (
    AnnouncementChat,
    Campaign,
    Grade,
    Item,
    ItemAuthor,
    ItemKind,
    ItemStatus,
    OutboxMessage,
    ScheduledPost,
    Unit,
)
from tests.conftest import BotHarness, make_settings, start_app, stop_app
from tests.fakeapi.core import Call, FakeTelegram
from tests.fakeapi.users import FakeGroup
from tests.figures import record
from tests.helpers import STRESS, ManualClock, Plant, plant

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


async def approved(
    db: Database, p: Plant, number: str, amount: str, at: datetime, grade: str = Grade.NONE
) -> None:
    async with db.write() as s:
        campaign_id = await s.scalar(select(func.max(Campaign.id)))
        item = Item(
            campaign_id=campaign_id,
            kind=ItemKind.IDEA,
            number=number,
            unit_id=p.unit_id,
            author_id=p.worker_id,
            title=f"想法 {number}",
            status=ItemStatus.APPROVED,
            certified_amount=Decimal(amount),
            grade=grade,
            submitted_at=at - timedelta(days=2),
            approved_at=at,
        )
        s.add(item)
        await s.flush()
        s.add(ItemAuthor(item_id=item.id, member_id=p.worker_id, is_submitter=True))
        await s.flush()
        await ledger.credit(s, db.is_sqlite, item, 0, TZ)  # as the committee's decision does


async def groups(bot: BotHarness, p: Plant, n: int) -> list[FakeGroup]:
    made = []
    for i in range(n):
        group = bot.group(f"通报群{i + 1}")
        await p.office.command_in(group, "announce_here")
        made.append(group)
    return made


def post_messages(group: FakeGroup) -> list[str]:
    """What the bot posted in the group, photos marked."""
    return [("[photo] " if m.photo else "") + m.text for m in group.messages]


# ---- schedule ---------------------------------------------------------------------------------


async def test_jobs_run_at_the_configured_times(db_url: str) -> None:
    telegram = FakeTelegram()
    for overrides, expected in [
        (
            {},
            {
                "post:weekly": datetime(2026, 11, 23, 9, 0, tzinfo=TZ),  # Monday
                "post:monthly": datetime(2026, 12, 1, 9, 0, tzinfo=TZ),
                "post:quarterly": datetime(2027, 1, 1, 9, 0, tzinfo=TZ),
            },
        ),
        (
            {
                "bulletin_day": "fri",
                "bulletin_time": "17:30",
                "assessment_day": 3,
                "ranking_time": "08:15",
            },
            {
                "post:weekly": datetime(2026, 11, 20, 17, 30, tzinfo=TZ),  # Friday (PTB day 5)
                "post:monthly": datetime(2026, 12, 3, 9, 0, tzinfo=TZ),
                "post:quarterly": datetime(2027, 1, 1, 8, 15, tzinfo=TZ),
            },
        ),
        (
            {"bulletin_day": "sun", "timezone": "Europe/Berlin"},
            {"post:weekly": datetime(2026, 11, 22, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))},
        ),
    ]:
        settings = make_settings(db_url, **overrides)
        app = await start_app(settings, telegram)
        try:
            assert app.job_queue is not None
            jobs = {job.name: job for job in app.job_queue.jobs()}
            after = datetime(2026, 11, 18, 10, 0, tzinfo=TZ)  # a Wednesday
            for name, when in expected.items():
                fire = jobs[name].job.trigger.get_next_fire_time(None, after)
                assert fire == when, (name, overrides)
            assert "post:catch-up" in jobs
        finally:
            await stop_app(app)


def test_what_is_due_when() -> None:
    s = Settings(_env_file=None)
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
    due = posts.last_due(ReportKind.WEEKLY, monday, s)
    assert (due.at, due.period.key) == (monday, "2026-W47")
    due = posts.last_due(ReportKind.WEEKLY, monday - timedelta(minutes=1), s)
    assert (due.at, due.period.key) == (monday - timedelta(days=7), "2026-W46")
    due = posts.last_due(ReportKind.MONTHLY, datetime(2027, 1, 1, 9, 30, tzinfo=TZ), s)
    assert (due.at.date().isoformat(), due.period.key) == ("2027-01-01", "2026-12")
    due = posts.last_due(ReportKind.MONTHLY, datetime(2027, 1, 1, 8, 59, tzinfo=TZ), s)
    assert (due.at.date().isoformat(), due.period.key) == ("2026-12-01", "2026-11")
    due = posts.last_due(ReportKind.QUARTERLY, datetime(2027, 1, 1, 9, 0, tzinfo=TZ), s)
    assert due.period.key == "2026-Q4"
    due = posts.last_due(ReportKind.HALF, datetime(2026, 11, 22, tzinfo=TZ), s)
    assert (due.at.date().isoformat(), due.period.key) == ("2026-07-01", "2026-H1")
    due = posts.last_due(ReportKind.YEAR, datetime(2026, 11, 22, tzinfo=TZ), s)
    assert (due.at.date().isoformat(), due.period.key) == ("2026-01-01", "2025")


# ---- exactly once -----------------------------------------------------------------------------


async def test_a_post_goes_out_once_across_restarts_and_two_instances(
    settings: Settings, clock: ManualClock
) -> None:
    telegram = FakeTelegram()
    first = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    p = await plant(first, clock, "zh")
    await approved(first.db, p, "JY-2026-0001", "12000", local(2026, 2, 25, 10), Grade.GOLD)
    chats = await groups(first, p, 2 * STRESS)
    await stop_app(first.app)
    # NOW is Monday 2 March 16:00 local: the weekly bulletin of 9:00 is 7 hours late.
    one = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    two = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    try:
        counts = await asyncio.gather(
            posts.run_due(one.db, settings, clock.now()),
            posts.run_due(two.db, settings, clock.now()),
        )
        await asyncio.gather(one.drain(), two.drain())
        copies = []  # per chat: (bulletin texts, charts), and whether the text is the week's
        for group in chats:
            got = post_messages(group)
            texts = [m for m in got if "节约通报" in m and not m.startswith("[photo]")]
            copies.append((len(texts), sum(m.startswith("[photo]") for m in got)))
            assert got[-1].startswith("[photo] 节约通报")
            for text in texts:
                assert "2026年第9周（2月23日—3月1日）" in text
                assert "JY-2026-0001" in text and "12,000.00 元" in text
    finally:
        await stop_app(one.app)
        await stop_app(two.app)
    # A restart the same day: the catch-up finds the claims and posts nothing.
    again = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    try:
        before = [len(g.messages) for g in chats]
        clock.advance(hours=1)
        queued = await posts.run_due(again.db, settings, clock.now())
        await again.drain()
        after = [len(g.messages) for g in chats]
        async with again.db.read() as s:
            claims = list(await s.execute(select(ScheduledPost.kind, ScheduledPost.status)))
    finally:
        await stop_app(again.app)
    record(
        "posts: two instances and a restart",
        f"a weekly bulletin missed while the bot was down, caught up by two instances started "
        f"at once for {len(chats)} chats: queued by the instances {sorted(counts)}; chats that "
        f"got it once (text and chart) {copies.count((1, 1))} of {len(chats)}, twice "
        f"{sum(max(c) > 1 for c in copies)}; a restart an hour later queued {queued} and sent "
        f"{sum(after) - sum(before)} messages",
    )
    assert sorted(counts) == [0, len(chats)]  # one instance claimed every chat, the other none
    assert copies == [(1, 1)] * len(chats)
    assert queued == 0 and after == before
    # The weekly bulletin went out; the month's, quarter's, half's and year's posts were
    # due long before (beyond the 24-hour grace window) and are recorded as skipped.
    assert sorted(claims) == sorted(
        [("weekly", "queued")] * len(chats)
        + [(k, "skipped") for k in ("monthly", "quarterly", "half", "year")] * len(chats)
    )
    assert telegram.violations == []


async def test_missed_beyond_the_grace_window_is_skipped(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "zh")
    [group] = await groups(bot, p, 1)
    clock.advance(hours=18)  # Tuesday 10:00 local: 25 hours after the bulletin's time
    s = bot.app.bot_data.settings
    assert await posts.run_due(bot.db, s, clock.now()) == 0
    await bot.drain()
    assert post_messages(group) == ["This chat will receive the campaign's bulletins."]
    async with bot.db.read() as session:
        status = await session.scalar(
            select(ScheduledPost.status).where(ScheduledPost.kind == "weekly")
        )
    assert status == "skipped"


async def test_grace_window_from_settings(db_url: str, clock: ManualClock) -> None:
    settings = make_settings(db_url, post_grace_hours=48)
    telegram = FakeTelegram()
    bot = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    try:
        p = await plant(bot, clock, "en")
        [group] = await groups(bot, p, 1)
        clock.advance(hours=18)
        assert await posts.run_due(bot.db, settings, clock.now()) == 1
        await bot.drain()
        assert sum(m.startswith("[photo]") for m in post_messages(group)) == 1
    finally:
        await stop_app(bot.app)


# ---- Telegram trouble -------------------------------------------------------------------------


async def test_a_post_to_several_chats_under_telegram_faults(
    bot: BotHarness, clock: ManualClock, telegram: FakeTelegram
) -> None:
    p = await plant(bot, clock, "en")
    await approved(bot.db, p, "JY-2026-0001", "5000", local(2026, 2, 26, 10))
    n = STRESS  # chats of each kind
    chats = await groups(bot, p, 5 * n)
    slow, unsure, removed, upgraded, fine = (chats[k * n : (k + 1) * n] for k in range(5))
    old_ids = [group.id for group in upgraded]
    for group in slow:
        telegram.inject("sendMessage", chat_id=group.id, kind="retry_after", retry_after=5)
    for group in unsure:
        telegram.inject("sendMessage", chat_id=group.id, kind="timeout_after_accept")
    for group in removed:
        telegram.inject("sendMessage", chat_id=group.id, kind="forbidden")
    for group in upgraded:
        telegram.inject("sendMessage", chat_id=group.id, kind="migrated")
    s = bot.app.bot_data.settings
    queued = await posts.run_due(bot.db, s, clock.now())
    for _ in range(4):
        await bot.drain()
        clock.advance(seconds=10)
    # Each chat that can get the post: its text and its chart, how many times each arrived.
    reachable = slow + unsure + upgraded + fine
    copies = []
    for group in reachable:
        got = post_messages(group)
        texts = sum("节约通报" in m and not m.startswith("[photo]") for m in got)
        copies.append((texts, sum(m.startswith("[photo]") for m in got)))
    gone = [post_messages(group) for group in removed]
    office = [m.html for m in p.office.inbox]
    told = sum(
        any(f"removed from the group <b>{g.title}</b>" in t for t in office) for g in removed
    )
    async with bot.db.read() as session:
        active = {
            title: on
            for title, on in await session.execute(
                select(AnnouncementChat.title, AnnouncementChat.active)
            )
        }
        claimed = set(
            await session.scalars(
                select(ScheduledPost.chat_id).where(ScheduledPost.kind == "weekly")
            )
        )
        statuses = sorted(
            await session.scalars(
                select(OutboxMessage.status).where(OutboxMessage.purpose.like("post:%"))
            )
        )
    # Nothing more goes out later, whoever runs the schedule.
    clock.advance(hours=1)
    again = await posts.run_due(bot.db, s, clock.now())
    faults = Counter(_fault(c) for c in telegram.errors if c.method == "sendMessage")
    followed = sum(
        g.id != old and g.id in claimed and old not in claimed
        for g, old in zip(upgraded, old_ids, strict=True)
    )
    record(
        "posts: a bulletin under Telegram faults",
        f"a weekly bulletin (text and chart) queued for {queued} chats; faults: 429 "
        f"{faults['429']}, timeout after Telegram accepted {faults['accepted']}, Forbidden (bot "
        f"removed) {faults['forbidden']}, ChatMigrated {faults['migrated']}; reachable chats "
        f"that got it once: {copies.count((1, 1))} of {len(reachable)}, lost "
        f"{sum(0 in c for c in copies)}, twice {sum(max(c) > 1 for c in copies)}; uncertain "
        f"(not resent): {statuses.count('uncertain')}; removed chats deactivated "
        f"{sum(not active[g.title] for g in removed)} of {len(removed)}, office told {told}; "
        f"migrated chats followed {followed} of {len(upgraded)}; queued again an hour later: "
        f"{again}",
    )
    assert queued == 5 * n
    assert copies == [(1, 1)] * len(reachable)
    assert all(g.id != old for g, old in zip(upgraded, old_ids, strict=True))
    assert gone == [["This chat will receive the campaign's bulletins."]] * n
    assert told == n
    assert "removed from the group <b>" in p.office.last.html
    assert active == {g.title: g not in removed for g in chats}
    assert followed == n
    # 5 kinds of chat x (text + chart): 8 sent, the timed-out text uncertain, the removed
    # chat's 2 undeliverable (per chat of each kind).
    assert statuses.count("uncertain") == n and statuses.count("undeliverable") == 2 * n
    assert statuses.count("sent") == 7 * n
    assert again == 0


def _fault(call: Call) -> str:
    """Which injected fault a failed call met."""
    error = call.error or ""
    if call.status == 429:
        return "429"
    if call.status == 403:
        return "forbidden"
    if "upgraded to a supergroup" in error:
        return "migrated"
    return "accepted" if error.startswith("timed out") else error


# ---- long posts and the chart -----------------------------------------------------------------


async def test_a_long_assessment_is_split_at_line_ends(bot: BotHarness, clock: ManualClock) -> None:
    p = await plant(bot, clock, "zh")
    async with bot.db.write() as s:
        s.add_all(Unit(name=f"第{i:03d}号生产车间维修保障班组", headcount=20) for i in range(250))
    [group] = await groups(bot, p, 1)
    clock.current = local(2026, 3, 1, 9, 5)  # the monthly assessment of February
    settings = bot.app.bot_data.settings
    await posts.run_due(bot.db, settings, clock.now())
    await bot.drain()
    texts = [m.html for m in group.messages if not m.photo][1:]
    assert len(texts) > 2 and all(len(t) <= 4096 for t in texts)
    body = "\n".join(texts)
    for i in range(250):
        assert body.count(f"第{i:03d}号生产车间维修保障班组") == 1
    assert "月度考评" in texts[0]


def test_the_chart_uses_the_shipped_font_with_every_chinese_glyph() -> None:
    tr = translator("zh")
    units = [
        UnitFigures(i, name, False, 40, 3, 2, 0, 5, Decimal(v), Decimal(v), 0)
        for i, (name, v) in enumerate(
            [("一车间", "30000"), ("机修车间", "12000"), ("仓储物流部", "800"), ("质检科", "0")]
        )
    ]
    figure = charts.units_figure(
        units,
        per_head_target=Decimal("1000"),
        due_per_head=Decimal("250"),
        title="节约通报 · 2026年第47周",
        tr=tr,
    )
    png = charts.render(figure)
    assert png.startswith(b"\x89PNG")
    texts = [t for t in charts.texts_of(figure)]
    shown = "".join(t.get_text() for t in texts)
    assert "机修车间" in shown and "人均" in shown
    font = TTFont(str(charts.FONT_PATH))
    cmap = font.getBestCmap()
    assert charts.font_family() == "Noto Sans CJK SC"
    for text in texts:
        path = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
        assert path == str(charts.FONT_PATH), text.get_text()
        missing = [c for c in text.get_text() if not c.isspace() and ord(c) not in cmap]
        assert missing == [], text.get_text()
