"""Submitting ideas and waste reports through the real application and the strict fake API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.config import Settings
from bot.services import campaigns, items, people
from handlers.submission import expire_drafts
from storage.models import (
    Attachment,
    BotState,
    Item,
    ItemAuthor,
    ItemEvent,
    ItemStatus,
    OutboxMessage,
)
from tests.conftest import BotHarness, start_app, stop_app
from tests.fakeapi.core import FakeTelegram
from tests.helpers import NOW, ManualClock, Plant, snapshot
from tests.helpers import plant as _plant

T = {
    "zh": {
        "code": "zh-hans",
        "energy": "节能降耗",
        "my_unit": "✅ 一车间（本单位）",
        "done": "✅ 完成",
        "skip": "⏭ 跳过",
        "edit_title": "✏️ 标题",
        "edit_anon": "🕶 匿名",
        "submit": "✅ 提交",
        "cancel": "🗑 放弃",
        "submitted": "提交成功！登记编号：JY-2026-0001",
        "waste_done": "谢谢！登记编号：LF-2026-0001",
        "check": "请核对您的建议",
        "amount_shown": "预计年节约额：15,000.00 元",
        "not_amount": "无法识别这个金额",
        "negative": "金额不能为负数",
        "zero": "金额必须大于零",
        "too_large": "超过了 1 亿元",
        "title_long": "最多 100 个字符",
        "body_long": "3000",
        "anon_yes": "🕶 是，匿名反映",
        "anon_no": "👤 不匿名，显示姓名",
        "anonymous_card": "反映人：匿名",
        "new_review": "新的待审项目",
        "discarded": "草稿已放弃",
        "dont_know": "⏭ 不清楚",
        "similar": "已有类似建议",
    },
    "en": {
        "code": "en",
        "energy": "Energy saving",
        "my_unit": "✅ 一车间 (my unit)",
        "done": "✅ Done",
        "skip": "⏭ Skip",
        "edit_title": "✏️ Title",
        "edit_anon": "🕶 Anonymity",
        "submit": "✅ Submit",
        "cancel": "🗑 Cancel",
        "submitted": "Submitted! Registration number: JY-2026-0001",
        "waste_done": "Thank you! Registration number: LF-2026-0001",
        "check": "Please check your idea",
        "amount_shown": "Estimated saving per year: ¥15,000.00",
        "not_amount": "could not read that as an amount",
        "negative": "cannot be negative",
        "zero": "must be more than zero",
        "too_large": "more than 100 million yuan",
        "title_long": "at most 100 characters",
        "body_long": "at most 3000 characters",
        "anon_yes": "🕶 Yes, stay anonymous",
        "anon_no": "👤 No, show my name",
        "anonymous_card": "Reported by: anonymous",
        "new_review": "New item to review",
        "discarded": "Draft discarded",
        "dont_know": "⏭ I don't know",
        "similar": "A similar idea was already submitted",
    },
}
LANGS = ["zh", "en"]


async def _all_items(bot: BotHarness) -> list[Item]:
    async with bot.db.read() as session:
        return list(await session.scalars(select(Item).order_by(Item.id)))


async def _idea_until_summary(p: Plant, lang: str, title: str = "夜班加热节约电费") -> None:
    w = p.worker
    await w.command("idea")
    await w.press(w.last, T[lang]["energy"])
    await w.send(title)
    await w.send("把加热炉的加热时间从白班改到夜班，避开峰时电价。")
    await w.send("1.5万")
    await w.press(w.last, T[lang]["my_unit"])
    await w.press(w.last, T[lang]["skip"])
    await w.press(w.last, T[lang]["done"])


@pytest.mark.parametrize("lang", LANGS)
async def test_idea_flow_with_files_co_author_and_an_edit(
    bot: BotHarness, clock: ManualClock, lang: str
) -> None:
    p = await _plant(bot, clock, lang)
    w = p.worker
    replies = await w.command("idea")
    assert T[lang]["energy"] in replies[-1].button_texts
    await w.press(w.last, T[lang]["energy"])
    await w.send("<b>夜班</b>加热")  # HTML in the title comes back escaped
    await w.send("把加热炉的加热时间从白班改到夜班，避开峰时电价。")
    await w.send("1.5万")
    await w.press(w.last, T[lang]["my_unit"])
    await w.send_photo()
    replies = await w.send_document("plan.pdf")
    assert T[lang]["done"] in replies[-1].button_texts
    await w.press(w.last, T[lang]["done"])
    replies = await w.send("李")
    await w.press(replies[-1], "➕ 李四 · 二车间")
    replies = await w.press(w.last, T[lang]["done"])
    card = replies[-1]
    assert T[lang]["check"] in card.text and T[lang]["amount_shown"] in card.text
    assert "&lt;b&gt;夜班&lt;/b&gt;加热" in card.html and "李四" in card.text
    # Edit the title from the card: back to the card with the new title.
    await w.press(card, T[lang]["edit_title"])
    replies = await w.send("加热炉改夜班运行")
    card = replies[-1]
    assert "加热炉改夜班运行" in card.text and T[lang]["check"] in card.text
    replies = await w.press(card, T[lang]["submit"])
    assert T[lang]["submitted"] in replies.texts[0]
    [item] = await _all_items(bot)
    assert (item.number, item.title, item.claimed_amount, item.status) == (
        "JY-2026-0001",
        "加热炉改夜班运行",
        Decimal("15000.00"),
        ItemStatus.FIRST_REVIEW,
    )
    async with bot.db.read() as session:
        authors = set(await session.scalars(select(ItemAuthor.member_id)))
        kinds = sorted(await session.scalars(select(Attachment.kind)))
        events = list(await session.scalars(select(ItemEvent)))
    assert authors == {p.worker_id, p.colleague_id}
    assert kinds == ["document", "photo"]
    assert [(e.action, e.to_status, e.amount) for e in events] == [
        ("submit", ItemStatus.FIRST_REVIEW, Decimal("15000.00"))
    ]
    # The unit's assessor got the card in English with the decisions, and both files.
    inbox = p.assessor.inbox
    assert "New item to review" in inbox[0].text and "加热炉改夜班运行" in inbox[0].text
    assert inbox[0].button_texts == [
        "➡️ Forward to committee",
        "❓ Ask for information",
        "❌ Reject",
    ]
    assert [m.photo for m in inbox[1:]] == [True, False] and inbox[2].document
    assert p.committee.inbox == []  # the committee sees it after the first review


@pytest.mark.parametrize("lang", LANGS)
async def test_anonymous_waste_report_never_shows_its_author(
    bot: BotHarness, clock: ManualClock, lang: str
) -> None:
    p = await _plant(bot, clock, lang)
    w = p.worker
    await w.command("waste")
    await w.press(w.last, T[lang]["my_unit"])
    await w.send("3号泵房")
    await w.send("压缩空气管道漏气")
    await w.press(w.last, T[lang]["dont_know"])
    await w.send_photo()
    await w.press(w.last, T[lang]["done"])
    replies = await w.press(w.last, T[lang]["anon_no"])
    # Changed mind on the card: anonymous after all.
    await w.press(replies[-1], T[lang]["edit_anon"])
    replies = await w.press(w.last, T[lang]["anon_yes"])
    replies = await w.press(replies[-1], T[lang]["submit"])
    assert T[lang]["waste_done"] in replies.texts[0]
    [item] = await _all_items(bot)
    assert item.anonymous and item.status == ItemStatus.REPORTED and item.claimed_amount is None
    # The unit's assessor and the office got the card; nothing they see names the reporter.
    for reviewer in (p.assessor, p.office):
        texts = [m.text for m in reviewer.inbox]
        assert any("Reported by: anonymous" in t for t in texts), texts
        joined = "\n".join(texts)
        for secret in ("张三", "Zhang", "zhang_w", str(w.id)):
            assert secret not in joined
    async with bot.db.read() as session:
        payloads = [str(row.payload) for row in await session.scalars(select(OutboxMessage))]
    reviewer_rows = [pl for pl in payloads if "New item to review" in pl or "新的待审" in pl]
    assert len(reviewer_rows) == 2 and not any("张三" in pl for pl in reviewer_rows)
    # The author still sees it as theirs.
    replies = await w.command("my")
    assert "LF-2026-0001" in replies[-1].text


@pytest.mark.parametrize("lang", LANGS)
async def test_bad_amounts_and_long_texts_are_asked_again_and_nothing_is_saved(
    bot: BotHarness, clock: ManualClock, lang: str
) -> None:
    p = await _plant(bot, clock, lang)
    w = p.worker
    before = await snapshot(bot.db)
    await w.command("idea")
    await w.press(w.last, T[lang]["energy"])
    replies = await w.send("x" * 101)
    assert T[lang]["title_long"] in replies.texts[-1]
    await w.send("Title")
    replies = await w.send("y" * 3001)
    assert T[lang]["body_long"] in replies.texts[-1]
    await w.send("Body")
    for typed, key in [
        ("abc", "not_amount"),
        ("-5", "negative"),
        ("0", "zero"),
        ("2亿", "too_large"),
        ("NaN", "not_amount"),
        ("inf", "not_amount"),
    ]:
        replies = await w.send(typed)
        assert len(replies) == 1 and T[lang][key] in replies.texts[0], typed
    assert await snapshot(bot.db) == before
    replies = await w.send("一万五千")
    assert T[lang]["my_unit"] in replies[-1].button_texts  # on to the next step


@pytest.mark.parametrize("lang", LANGS)
async def test_cancel_at_a_step_or_on_the_card_discards_the_draft(
    bot: BotHarness, clock: ManualClock, lang: str
) -> None:
    p = await _plant(bot, clock, lang)
    w = p.worker
    before = await snapshot(bot.db)
    await w.command("idea")
    await w.press(w.last, T[lang]["energy"])
    replies = await w.command("cancel")
    assert T[lang]["discarded"] in replies.texts[-1]
    replies = await w.send("Some text after cancelling")
    assert replies[-1].reply_keyboard  # the menu, not a step of the cancelled draft
    await _idea_until_summary(p, lang)
    card = w.last
    replies = await w.press(card, T[lang]["cancel"])
    assert T[lang]["discarded"] in replies.texts[-1]
    await w.press_raw(card, card.callback_data[-2])  # the old card's Submit
    assert w.answers[-1].show_alert
    assert await snapshot(bot.db) == before


async def test_a_restart_mid_conversation_resumes_with_the_draft(
    settings: Settings, clock: ManualClock
) -> None:
    telegram = FakeTelegram()
    first = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    p = await _plant(first, clock, "en")
    w = p.worker
    await w.command("idea")
    await w.press(w.last, "Energy saving")
    await w.send("Night shift heating")
    await w.send("Move the furnace to the night tariff.")
    assert "How much could it save per year" in w.last.text
    await stop_app(first.app)

    second = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    for user in (p.worker, p.colleague, p.assessor, p.committee, p.office):
        user.harness = second
    try:
        await w.send("15k")
        await w.press(w.last, T["en"]["my_unit"])
        await w.press(w.last, "⏭ Skip")
        replies = await w.press(w.last, "✅ Done")
        card = replies[-1].text
        assert "Night shift heating" in card and "Move the furnace" in card
        assert "Energy saving" in card and "¥15,000.00" in card
        replies = await w.press(replies[-1], "✅ Submit")
        assert "JY-2026-0001" in replies.texts[0]
    finally:
        await stop_app(second.app)
    assert telegram.violations == [] and first.errors == [] and second.errors == []


async def test_double_submit_makes_one_item(bot: BotHarness, clock: ManualClock) -> None:
    p = await _plant(bot, clock, "en")
    await _idea_until_summary(p, "en")
    card = p.worker.last
    submit = card.callback_data[-2]
    await p.worker.press(card, "✅ Submit")
    await p.worker.press_raw(card, submit)
    assert p.worker.answers[-1].text == "This button is no longer valid."
    assert len(await _all_items(bot)) == 1


async def test_the_same_draft_submitted_twice_is_one_item(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await _plant(bot, clock, "en")
    campaign = await campaigns.get_current(bot.db)
    worker = await people.get(bot.db, p.worker_id)
    assert campaign and worker
    draft = items.Draft(kind="idea", unit_id=p.unit_id, title="T", key="abc123", claimed_amount="5")
    first = await items.submit(
        bot.db, campaign.id, worker, draft, NOW, bot.app.bot_data.settings.tzinfo
    )
    again = await items.submit(
        bot.db, campaign.id, worker, draft, NOW, bot.app.bot_data.settings.tzinfo
    )
    assert first.created and not again.created and first.item.id == again.item.id
    assert len(await _all_items(bot)) == 1


async def test_unit_without_assessor_goes_to_the_committee(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await _plant(bot, clock, "zh", assessor=False)
    await _idea_until_summary(p, "zh")
    replies = await p.worker.press(p.worker.last, "✅ 提交")
    assert "评审委员会在 7 天内认定" in replies.texts[0]
    [item] = await _all_items(bot)
    assert item.status == ItemStatus.COMMITTEE
    assert "新的待审项目" in p.committee.inbox[0].text
    assert p.committee.inbox[0].button_texts[0] == "✅ 批准"
    assert p.assessor.inbox == []


async def test_duplicate_hint_names_the_closest_idea(bot: BotHarness, clock: ManualClock) -> None:
    p = await _plant(bot, clock, "zh")
    await _idea_until_summary(p, "zh", "夜班加热节约电费")
    await p.worker.press(p.worker.last, "✅ 提交")
    await _idea_until_summary(p, "zh", "加热改到夜班节约电费")
    card = p.worker.last
    assert "已有类似建议：JY-2026-0001“夜班加热节约电费”" in card.text
    replies = await p.worker.press(card, "✅ 提交")  # may still submit
    assert "JY-2026-0002" in replies.texts[0]
    await _idea_until_summary(p, "zh", "废旧劳保手套回收再利用")
    assert "已有类似建议" not in p.worker.last.text


async def test_duplicate_hint_finds_latin_letters_in_any_case(
    bot: BotHarness, clock: ManualClock
) -> None:
    """Letters are compared in any case on both databases (SQLite's LIKE did, PostgreSQL's
    did not)."""
    p = await _plant(bot, clock, "zh")
    await _idea_until_summary(p, "zh", "LED TUBES IN WORKSHOP 2")
    await p.worker.press(p.worker.last, "✅ 提交")
    await _idea_until_summary(p, "zh", "led tubes for workshop 2")
    assert "已有类似建议：JY-2026-0001“LED TUBES IN WORKSHOP 2”" in p.worker.last.text


def test_similarity_scores() -> None:
    assert items.similarity("夜班加热节约电费", "", "加热改到夜班节约电费", "") >= items.SIMILAR
    assert items.similarity("Double-sided printing", "", "double sided printing!", "") > 0.9
    assert items.similarity("夜班加热节约电费", "", "废旧手套回收", "") < items.SIMILAR


_WORDS = st.text(alphabet="夜班加热节约电费废旧手套回收ab ", max_size=12)


@given(_WORDS, _WORDS, _WORDS, _WORDS, st.floats(0, 1))
def test_a_floor_changes_no_score_that_reaches_it(
    title_a: str, body_a: str, title_b: str, body_b: str, floor: float
) -> None:
    """The duplicate hint skips comparing descriptions that cannot lift a score to the best
    so far: every score at or above the floor is the exact one."""
    exact = items.similarity(title_a, body_a, title_b, body_b)
    grams = items._bigrams(title_a), items._bigrams(body_a)
    quick = items._similarity(*grams, title_b, body_b, floor)
    assert quick == exact or (quick < floor and exact < floor)


async def test_an_idle_draft_is_discarded_with_a_message(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await _plant(bot, clock, "en")
    w = p.worker
    await w.command("idea")
    await w.press(w.last, "Energy saving")
    await w.send("Night shift heating")
    await bot.user(first_name="Zed", language_code="en").start()  # someone else meanwhile
    clock.advance(hours=23)
    assert await expire_drafts(bot.app) == 0
    clock.advance(hours=2)
    assert await expire_drafts(bot.app) == 1
    await bot.drain()
    assert "«Night shift heating» was discarded after 24 hours" in w.last.text
    async with bot.db.read() as session:  # gone from the database too: a restart has no draft
        saved = list(await session.scalars(select(BotState.data)))
    assert not any("Night shift heating" in str(data) for data in saved), saved
    replies = await w.send("A description for a draft that is gone")
    assert "There is no draft in progress" in replies.texts[-1]
    assert await _all_items(bot) == []


async def test_an_idle_draft_is_discarded_on_the_next_answer(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await _plant(bot, clock, "zh")
    await p.worker.command("idea")
    clock.advance(hours=25)
    replies = await p.worker.press(p.worker.last, "节能降耗")
    assert p.worker.answers[-1].show_alert
    assert "草稿已超过 24 小时未修改，已自动放弃" in replies.texts[-1]
    replies = await p.worker.send("标题")
    assert "请从下方菜单中选择" in replies.texts[-1]


async def test_a_second_idea_command_offers_to_continue(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await _plant(bot, clock, "en")
    w = p.worker
    await w.command("idea")
    await w.press(w.last, "Energy saving")
    await w.send("Night shift heating")
    replies = await w.command("idea")
    assert "unfinished draft: «Night shift heating»" in replies.texts[-1]
    replies = await w.press(replies[-1], "▶️ Continue it")
    assert "Describe the idea" in replies.texts[-1]
    await w.command("waste")
    replies = await w.press(w.last, "🗑 Discard it and start anew")
    assert "In which unit is the waste?" in replies.texts[-1]


async def test_strangers_cannot_submit(bot: BotHarness, clock: ManualClock) -> None:
    await _plant(bot, clock, "en")
    stranger = bot.user(first_name="Nobody", language_code="en")
    before = await snapshot(bot.db)
    replies = await stranger.command("idea")
    assert replies.texts == ["Please join the campaign first: send /start."]
    replies = await stranger.command("my")
    assert replies.texts == ["Please join the campaign first: send /start."]
    assert await snapshot(bot.db) == before


async def test_menu_buttons_start_flows_and_are_not_taken_as_answers(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await _plant(bot, clock, "en")
    w = p.worker
    await w.send("💡 Submit an idea")
    await w.press(w.last, "Energy saving")
    replies = await w.send("📋 My items")  # a menu press during the title step
    assert "My items" in replies.texts[-1]
    replies = await w.send("Real title")
    assert "Describe the idea" in replies.texts[-1]
    replies = await w.send_sticker()
    assert "Please answer the question above" in replies.texts[-1]


async def test_a_voice_message_is_the_description(bot: BotHarness, clock: ManualClock) -> None:
    p = await _plant(bot, clock, "en")
    w = p.worker
    await w.command("idea")
    await w.press(w.last, "Energy saving")
    await w.send("Night shift heating")
    replies = await w.send_voice(duration=12)
    assert "Voice message kept with the idea." in replies.texts[0]
    await w.send("2万")
    await w.press(w.last, T["en"]["my_unit"])
    await w.press(w.last, "✅ Done")  # the voice message is already one file
    replies = await w.press(w.last, "✅ Done")
    assert "Description: (voice message)" in replies[-1].text
    assert "Files: 1" in replies[-1].text
    await w.press(replies[-1], "✅ Submit")
    async with bot.db.read() as session:
        assert list(await session.scalars(select(Attachment.kind))) == ["voice"]
    assert [m.voice for m in p.assessor.inbox] == [False, True]


async def test_buttons_forged_onto_the_summary_card_leave_it_alone(
    bot: BotHarness, clock: ManualClock
) -> None:
    """Page and period buttons edit the message they are pressed on: pressed on the summary
    card (a modified client can send any data), they are refused and the card stays."""
    p = await _plant(bot, clock, "en")
    await _idea_until_summary(p, "en")
    card = p.worker.last
    before = await snapshot(bot.db)
    for data in ("my:p:0", "my:i:1:0", "rk:week", "rk:all", "lang:zh"):
        replies = await p.worker.press_raw(card, data)
        assert p.worker.answers[-1].text == "This button is no longer valid.", data
        assert (list(replies), replies.edited) == ([], []), data
    assert await snapshot(bot.db) == before
    replies = await p.worker.press(card, "✅ Submit")
    assert "Submitted! Registration number: JY-2026-0001" in replies.texts[0]
