"""/progress, /rank, /bulletin and /export in chat, in both languages, and who may use them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.services import announcements
from tests.conftest import BotHarness
from tests.helpers import ManualClock, Plant, plant, snapshot
from tests.test_posts import approved

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


async def _plant(bot: BotHarness, clock: ManualClock, lang: str) -> Plant:
    p = await plant(bot, clock, lang)
    # 12,000 certified for the worker's unit (headcount 100) on 1 March.
    await approved(bot.db, p, "JY-2026-0001", "12000", local(2026, 3, 1, 10))
    return p


async def test_progress_against_both_targets_and_my_unit(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await _plant(bot, clock, "zh")
    [reply] = await p.worker.command("progress")
    lines = reply.text.split("\n")
    assert lines[0].startswith("📈 活动进度 · ")
    # 12,000 of 1,000,000; 200 people in two units: 60 a head of 1,000.
    assert "累计节约：12,000.00 元 / 目标 1,000,000.00 元（1.2%）" in lines
    assert "人均：60.00 元 / 目标 1,000.00 元（6.0%）" in lines
    # 2 March: 61 of 365 days gone.
    assert "时间进度：活动年度已过 16.7%" in lines
    assert "本单位：一车间（100 人）" in lines
    assert "累计节约 12,000.00 元；人均 120.00 元 / 目标 1,000.00 元（12.0%）" in lines
    # Pace: 120 against 1,000 x 61/365 = 167.12 due by now.
    assert "进度：完成应达进度的 71.8% · 在 2 个单位中排第 1" in lines
    [same] = await p.worker.send("📈 活动进度")
    assert same.text == reply.text


async def test_rankings_by_period(bot: BotHarness, clock: ManualClock) -> None:
    p = await _plant(bot, clock, "en")
    [reply] = await p.worker.command("rank")
    assert reply.text.split("\n") == [
        "🏆 Rankings · This month",
        "",
        "Units by savings per head",
        "👉 1. 一车间: ¥120.00/head (¥12,000.00)",
        "2. 二车间: ¥0.00/head (¥0.00)",
        "",
        "Top savers",
        "1. 张三 (一车间): ¥12,000.00",
        "",
        "My place: ¥12,000.00",
        "Rank in my unit: 1 of 2",
        "Rank in the plant: 1 of 5",
    ]
    assert reply.button_texts == [
        "This week",
        "• This month",
        "This quarter",
        "This year",
        "Whole campaign",
    ]
    # This week began on Monday 2 March: nothing yet.
    await p.worker.press(reply, "This week")
    week = p.worker.inbox[-1]
    assert week.text.startswith("🏆 Rankings · This week")
    assert "No savings certified in this period." in week.text
    assert "My place: ¥0.00" in week.text and "Rank in the plant: 1 of 5" in week.text
    assert week.button_texts[0] == "• This week"
    await p.worker.press(week, "Whole campaign")
    assert "1. 张三 (一车间): ¥12,000.00" in p.worker.inbox[-1].text
    # The colleague in the other unit sees their unit marked.
    [other] = await p.colleague.command("rank")
    assert "👉 2. 二车间: ¥0.00/head (¥0.00)" in other.text


async def test_bulletin_preview_and_post_by_the_office_only(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await _plant(bot, clock, "zh")
    before = await snapshot(bot.db)
    [refused] = await p.worker.command("bulletin")
    assert refused.text == "抱歉，您没有执行此操作的权限。"
    [refused] = await p.assessor.command("bulletin")
    assert refused.text == "Sorry, you are not allowed to do that."
    assert await snapshot(bot.db) == before
    [menu] = await p.office.command("bulletin")
    assert menu.button_texts == [
        "Weekly bulletin",
        "Monthly assessment",
        "Quarterly ranking",
        "Half-year summary",
        "Year-end summary",
    ]
    await p.office.press(menu, "Weekly bulletin")
    card = p.office.inbox[-1]
    assert card.text.startswith("Weekly bulletin for Week 9, 2026 (Feb 23 – Mar 1).")
    # A worker pressing the office's buttons (forged data) is refused.
    replies = await p.worker.press_raw(card, "bl:weekly:p")
    assert p.worker.answers[-1].text == "抱歉，您没有执行此操作的权限。" and not replies
    await p.office.press(card, "👁 Preview")
    preview = p.office.inbox[-2:]
    assert preview[0].text.startswith("📢 Savings bulletin · Week 9, 2026 (Feb 23 – Mar 1)")
    assert preview[1].photo and preview[1].text == "Weekly bulletin · Week 9, 2026 (Feb 23 – Mar 1)"
    await p.office.press(card, "📣 Post now")
    assert p.office.inbox[-1].text.startswith("There is no announcement chat yet")
    group = bot.group("节约通报群")
    await p.office.command_in(group, "announce_here")
    await p.office.press(card, "📣 Post now")
    assert p.office.inbox[-1].text == "Posted to 1 announcement chat."
    posted = group.messages[1:]
    assert posted[0].text.startswith("📢 节约通报 · 2026年第9周（2月23日—3月1日）")
    assert posted[-1].photo
    await p.office.press(card, "📣 Post now")
    assert p.office.inbox[-1].text == "Every announcement chat already has this post."
    assert len(group.messages) == 1 + len(posted)
    [chat] = await announcements.active_chats(bot.db)
    assert chat.chat_id == group.id


async def test_export_for_the_office_and_an_assessor_only(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await _plant(bot, clock, "zh")
    before = await snapshot(bot.db)
    [refused] = await p.worker.command("export")
    assert refused.text == "抱歉，您没有执行此操作的权限。"
    assert await snapshot(bot.db) == before
    [sheet] = await p.office.command("export")
    assert sheet.document and sheet.data["document"]["file_name"] == "savings-2026-03-02.xlsx"
    assert sheet.text == "Savings ledgers, 2026-03-02: 1 counted idea, ¥12,000.00 certified."
    [mine] = await p.assessor.command("export")
    assert mine.document and "1 counted idea" in mine.text
