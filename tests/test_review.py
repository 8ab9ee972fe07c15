"""Reviewing in chat: the two-level path, questions, rejections, waste reports, concurrency,
durable notifications under faults, reminders and forged buttons."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.services import campaigns, items, people, review
from storage.models import Item, ItemEvent, ItemStatus, Member, OutboxMessage
from tests.conftest import BotHarness, make_settings, start_app, stop_app
from tests.fakeapi.core import FakeTelegram
from tests.fakeapi.users import FakeGroup, FakeUser, SentMessage
from tests.figures import record
from tests.helpers import NOW, STRESS, ManualClock, Plant, plant, seed_member, snapshot


async def submit(
    p: Plant, title: str = "夜班加热", claimed: str = "15000", kind: str = "idea", **kw: object
) -> Item:
    db = p.bot.db
    campaign = await campaigns.get_current(db)
    worker = await people.get(db, p.worker_id)
    assert campaign and worker
    draft = items.Draft(
        kind=kind, unit_id=p.unit_id, title=title, body="说明", claimed_amount=claimed, **kw
    )  # type: ignore[arg-type]
    done = await items.submit(
        db, campaign.id, worker, draft, p.clock.now(), p.bot.app.bot_data.settings.tzinfo
    )
    await p.bot.drain()
    return done.item


def card_of(user: FakeUser, number: str) -> SentMessage:
    """The user's newest message about `number` that has buttons."""
    found = [m for m in user.inbox if number in m.text and m.buttons]
    assert found, f"{user!r} has no card for {number}: {[m.text for m in user.inbox]}"
    return found[-1]


async def item_row(bot: BotHarness, item_id: int) -> Item:
    async with bot.db.read() as session:
        item = await session.get(Item, item_id)
        assert item
        return item


async def events(bot: BotHarness, item_id: int) -> list[tuple[str, str | None]]:
    async with bot.db.read() as session:
        rows = await session.scalars(
            select(ItemEvent).where(ItemEvent.item_id == item_id).order_by(ItemEvent.id)
        )
        return [(e.action, e.reason) for e in rows]


WORDS = {
    "zh": {
        "forwarded": "已通过初评，已报评审委员会",
        "opinion": "处理意见：“可行，建议评审”",
        "approved": "已评审通过",
        "certified": "认定节约额：12,000.00 元",
        "gold": "🥇 金点子",
        "reward": "奖励：500.00 元",
        "implemented": "已标记为实施",
        "verified": "实施效果已核实",
        "verified_amount": "核实节约额：15,000.00 元",
        "asked": "审核人员需要您补充",
        "answer": "✍️ 答复",
        "rejected": "未被采纳",
        "reason": "原因：“电价政策已变”",
    },
    "en": {
        "forwarded": "passed the first review and is now with the review committee",
        "opinion": "Opinion: «可行，建议评审»",
        "approved": "was approved!",
        "certified": "Certified saving: ¥12,000.00",
        "gold": "🥇 Gold idea",
        "reward": "Reward: ¥500.00",
        "implemented": "was marked as implemented",
        "verified": "was verified",
        "verified_amount": "Verified saving: ¥15,000.00",
        "asked": "The reviewers need more information",
        "answer": "✍️ Answer",
        "rejected": "was not adopted",
        "reason": "Reason: «电价政策已变»",
    },
}


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_the_whole_path_to_a_verified_saving(
    bot: BotHarness, clock: ManualClock, lang: str
) -> None:
    p = await plant(bot, clock, lang)
    w = WORDS[lang]
    item = await submit(p)
    number = item.number
    # The assessor (English) forwards with a handling opinion.
    card = card_of(p.assessor, number)
    await p.assessor.press(card, "➡️ Forward to committee")
    assert "handling opinion" in p.assessor.last.text
    clock.advance(hours=6)
    replies = await p.assessor.send("可行，建议评审")
    assert "Done: " + number in replies.texts[-1]
    old = p.assessor.inbox[card.message_id - p.assessor.inbox[0].message_id]
    assert old.message_id == card.message_id and old.buttons == []
    assert "— Forwarded to the committee: 王考核, 2026-03-02 22:00" in old.text
    assert w["forwarded"] in p.worker.last.text and w["opinion"] in p.worker.last.text
    # The committee member (Chinese) approves with a changed amount and the gold grade.
    card = card_of(p.committee, number)
    assert card.button_texts[0] == "✅ 批准"
    await p.committee.press(card, "✅ 批准")
    panel = p.committee.last
    await p.committee.press(panel, "✏️ 认定金额")
    replies = await p.committee.send("1.2万")
    panel = replies[-1]
    assert "认定节约额：12,000.00 元" in panel.text
    replies = await p.committee.press(panel, "🥇 金点子")
    assert "奖励：500.00 元" in replies.edited[-1].text
    replies = await p.committee.press(panel, "✅ 确认批准")
    row = await item_row(bot, item.id)
    assert (row.status, row.certified_amount, row.grade, row.reward_amount) == (
        ItemStatus.APPROVED,
        Decimal("12000.00"),
        "gold",
        Decimal("500.00"),
    )
    told = p.worker.last.text
    assert w["approved"] in told and w["certified"] in told and w["gold"] in told
    assert w["reward"] in told
    # The committee's copies now show the decision without buttons.
    assert not any(m.buttons for m in p.committee.inbox if number in m.text)
    # The assessor marks it implemented; the committee records the verified effect.
    card = card_of(p.assessor, number)
    await p.assessor.press(card, "🛠 Mark implemented")
    await p.assessor.press(p.assessor.last, "✅ Implemented, no note")
    assert w["implemented"] in p.worker.last.text
    card = card_of(p.committee, number)
    await p.committee.press(card, "📏 登记核实效果")
    await p.committee.send("1.5万")
    row = await item_row(bot, item.id)
    assert (row.status, row.verified_amount) == (ItemStatus.VERIFIED, Decimal("15000.00"))
    assert w["verified"] in p.worker.last.text and w["verified_amount"] in p.worker.last.text
    assert [a for a, _ in await events(bot, item.id)] == [
        "submit",
        "forward",
        "approve",
        "implement",
        "verify",
    ]
    # Nobody holds a card with buttons any more.
    for reviewer in (p.assessor, p.committee, p.office):
        assert all(not m.buttons for m in reviewer.inbox if number in m.text)


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_question_answer_then_rejection(
    bot: BotHarness, clock: ManualClock, lang: str
) -> None:
    p = await plant(bot, clock, lang)
    w = WORDS[lang]
    item = await submit(p, co_author_ids=[p.colleague_id])
    await p.assessor.press(card_of(p.assessor, item.number), "❓ Ask for information")
    await p.assessor.send("现在的电价是多少？")
    for author in (p.worker, p.colleague):  # every co-author is asked
        assert w["asked"] in author.last.text and "现在的电价是多少？" in author.last.text
    assert (await item_row(bot, item.id)).status == ItemStatus.NEEDS_INFO
    await p.worker.press(p.worker.last, w["answer"])
    await p.worker.send("峰时1.2元，谷时0.4元")
    row = await item_row(bot, item.id)
    assert row.status == ItemStatus.FIRST_REVIEW and row.info_asked_by is None
    card = card_of(p.assessor, item.number)
    assert "— Information added: 张三" in card.text and "«峰时1.2元，谷时0.4元»" in card.text
    # The co-author's old Answer button is no longer valid.
    await p.colleague.press(p.colleague.last, w["answer"])
    assert p.colleague.answers[-1].show_alert
    await p.assessor.press(card, "❌ Reject")
    replies = await p.assessor.send("电价政策已变")
    assert "Done" in replies.texts[-1]
    assert w["rejected"] in p.worker.last.text and w["reason"] in p.worker.last.text
    assert (await item_row(bot, item.id)).status == ItemStatus.REJECTED
    assert await events(bot, item.id) == [
        ("submit", None),
        ("ask", "现在的电价是多少？"),
        ("answer", "峰时1.2元，谷时0.4元"),
        ("reject", "电价政策已变"),
    ]


async def test_waste_reports_fixed_and_dismissed_never_name_the_reporter(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "zh")
    fixed = await submit(p, "压缩空气漏气", None, kind="waste", anonymous=True, place="3号泵房")  # type: ignore[arg-type]
    await p.office.press(card_of(p.office, fixed.number), "👀 Acknowledge")
    assert "已受理" in p.worker.last.text
    await p.assessor.press(card_of(p.assessor, fixed.number), "🔧 Mark fixed")
    await p.assessor.send_photo(caption="更换了密封圈")
    row = await item_row(bot, fixed.id)
    assert row.status == ItemStatus.FIXED and row.closed_at is not None
    assert "已整改" in p.worker.last.text and "更换了密封圈" in p.worker.last.text
    dismissed = await submit(p, "灯没关", None, kind="waste", anonymous=True, place="办公室")  # type: ignore[arg-type]
    await p.office.press(card_of(p.office, dismissed.number), "🚫 Dismiss")
    await p.office.send("夜班需要照明")
    assert "不予处理" in p.worker.last.text and "夜班需要照明" in p.worker.last.text
    for reviewer in (p.assessor, p.office, p.committee):
        for message in reviewer.inbox:
            for secret in ("张三", "Zhang", "zhang_w"):
                assert secret not in message.text, (reviewer, message.text)
    # The item's history, as a reviewer would read it, has no name for the reporter.
    async with bot.db.read() as session:
        item = await session.get(Item, fixed.id)
        assert item
        from bot import cards

        view = await cards.load_view(session, item, history=True)
    assert view.events[0].actor_name is None


async def test_a_waste_report_can_be_assigned_to_another_unit(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en")
    report = await submit(p, "Steam leak", None, kind="waste", place="Boiler")  # type: ignore[arg-type]
    await p.office.press(card_of(p.office, report.number), "🏭 Assign to a unit")
    await p.office.press(p.office.last, "二车间")
    row = await item_row(bot, report.id)
    assert row.status == ItemStatus.ACKNOWLEDGED and row.unit_id != p.unit_id
    assert "was passed on to 二车间" in p.worker.last.text


async def test_forged_stale_and_unauthorised_presses_change_nothing(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en")
    item = await submit(p)
    card = card_of(p.assessor, item.number)
    before = await snapshot(bot.db)
    await p.assessor.press_raw(card, "rv:999999:fwd")
    assert p.assessor.answers[-1].text == "That record no longer exists."
    await p.assessor.press_raw(card, f"rv:{item.id}:nope")
    assert p.assessor.answers[-1].text == "That record no longer exists."
    await p.assessor.press_raw(card, f"rv:{item.id}:ok")  # the committee's decision
    assert p.assessor.answers[-1].text == "Sorry, you are not allowed to do that."
    await p.worker.press_raw(p.worker.last if p.worker.inbox else card, f"rv:{item.id}:fwd")
    await p.colleague.start()
    await p.colleague.press_raw(p.colleague.last, f"rv:{item.id}:rej")
    assert p.colleague.answers[-1].text == "Sorry, you are not allowed to do that."
    await p.assessor.press_raw(card, "rvx:1:confirm")
    assert p.assessor.answers[-1].text == "This button is no longer valid."
    await p.assessor.press_raw(card, "x" * 64)
    assert p.assessor.answers[-1].text == "This button is no longer valid."
    assert await snapshot(bot.db) == before
    # Once decided, the other copies answer "already decided by".
    await p.assessor.press(card, "❌ Reject")
    await p.assessor.send("Not feasible")
    await p.assessor.press_raw(card, f"rv:{item.id}:fwd")
    assert p.assessor.answers[-1].text.startswith("Already decided by 王考核 at 2026-03-02")


async def test_two_committee_members_approving_at_once_decide_once(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en", assessor=False)
    second_user = bot.user(first_name="Vice", language_code="en")
    second = await seed_member(bot.db, second_user.id, p.unit_id, "孙委员", language="en")
    await people.set_role(bot.db, second.id, second.id, "committee", True, NOW)
    rounds = 100 * STRESS
    refusals = 0  # refusals that name who was first
    wrong: list[Any] = []  # rounds without exactly one such refusal
    for n in range(rounds):
        item = await submit(p, f"Idea {n}")
        panels = []
        for user in (p.committee, second_user):
            await user.press(
                card_of(user, item.number), "✅ 批准" if user is p.committee else "✅ Approve"
            )
            panels.append(user.last)
        confirm = ("✅ 确认批准", "✅ Confirm approval")
        await asyncio.gather(
            p.committee.press(panels[0], confirm[0]), second_user.press(panels[1], confirm[1])
        )
        answers = [p.committee.answers[-1], second_user.answers[-1]]
        refused = [a for a in answers if a.text and a.show_alert]
        first = [a for a in refused if a.text.startswith(("Already decided by", "已由"))]
        refusals += len(first)
        if len(refused) != 1 or len(first) != 1:
            wrong.append(answers)
    async with bot.db.read() as session:
        approvals = await session.scalar(
            select(func.count()).select_from(ItemEvent).where(ItemEvent.action == "approve")
        )
        approved = await session.scalar(
            select(func.count()).select_from(Item).where(Item.status == ItemStatus.APPROVED)
        )
    record(
        "review: two committee members at once",
        f"{rounds} rounds of two simultaneous approvals: {approvals} decisions ({approved} items "
        f"approved), {refusals} refusals naming who was first; {len(wrong)} rounds without "
        "exactly one refusal",
    )
    assert wrong == []
    assert approvals == rounds and approved == rounds


async def test_notifications_survive_faults_and_a_restart(
    settings: Settings, clock: ManualClock
) -> None:
    telegram = FakeTelegram()
    first = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    p = await plant(first, clock, "en")
    authors = [p.worker]
    for n in range(3):
        user = first.user(first_name=f"Co{n}", language_code="en")
        await seed_member(first.db, user.id, p.unit_id, f"合作者{n}", language="en")
        authors.append(user)
    ids = [await member_id(first, u.id) for u in authors[1:]]
    item = await submit(p, co_author_ids=ids)
    # Committed, not yet sent: the process dies here.
    await review.decide(
        first.db,
        item.id,
        await member_id(first, p.assessor.id),
        "reject",
        clock.now(),
        settings.tzinfo,
        text="Not feasible",
        default_lang="zh",
    )
    await stop_app(first.app)
    # Some sends fail: 429 for one author, blocked by another, a network error, and a
    # timeout after Telegram accepted the message.
    telegram.inject("sendMessage", chat_id=authors[0].id, kind="retry_after", retry_after=5)
    telegram.blocked(authors[1].id)
    telegram.inject("sendMessage", chat_id=authors[2].id, kind="network")
    telegram.inject("sendMessage", chat_id=authors[3].id, kind="timeout_after_accept")
    second = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    try:
        for _ in range(6):
            clock.advance(seconds=30)
            await second.drain()
        got = {u.id: [m.text for m in u.inbox if "was not adopted" in m.text] for u in authors}
        assert len(got[authors[0].id]) == 1  # after waiting out the 429
        assert got[authors[1].id] == []  # blocked: recorded as undeliverable
        assert len(got[authors[2].id]) == 1  # the network error was retried
        assert len(got[authors[3].id]) == 1  # accepted once, never sent again
        async with second.db.read() as session:
            rows = list(
                await session.scalars(
                    select(OutboxMessage).where(OutboxMessage.purpose == "decision")
                )
            )
            blocked = await session.scalar(
                select(Member.unreachable).where(Member.telegram_id == authors[1].id)
            )
        assert sorted(r.status for r in rows) == ["sent", "sent", "uncertain", "undeliverable"]
        assert blocked is True
    finally:
        await stop_app(second.app)
    assert telegram.violations == []


async def member_id(bot: BotHarness, telegram_id: int) -> int:
    async with bot.db.read() as session:
        found = await session.scalar(select(Member.id).where(Member.telegram_id == telegram_id))
        assert found
        return int(found)


async def test_reminders_once_a_day_per_holder_and_none_on_time(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en")
    late = await submit(p, "Late one")
    clock.advance(days=2)
    await submit(p, "On time")
    limits = review.Limits(3, 7, 30)
    assert await review.send_reminders(bot.db, limits, clock.now(), "zh") == 0
    clock.advance(days=1, hours=1)  # the first is now 3 days and 1 hour old
    assert await review.send_reminders(bot.db, limits, clock.now(), "zh") == 1
    await bot.drain()
    reminder = p.assessor.last
    assert reminder.text.startswith("⏰ " + late.number) and "waited 3 days" in reminder.text
    clock.advance(hours=5)
    assert await review.send_reminders(bot.db, limits, clock.now(), "zh") == 0
    clock.advance(days=1)
    assert await review.send_reminders(bot.db, limits, clock.now(), "zh") == 1
    await bot.drain()
    # The reminder opens a fresh card to decide from.
    await p.assessor.press(p.assessor.last, "📂 Open")
    assert card_of(p.assessor, late.number).button_texts[0] == "➡️ Forward to committee"
    # /review lists what waits, oldest first; /overdue (office) by stage and unit.
    replies = await p.assessor.command("review")
    text = replies[-1].text
    assert "Waiting for me: 2" in text and text.index("Late one") < text.index("On time")
    replies = await p.office.command("overdue")
    assert "waiting for the unit's first review" in replies[-1].text
    assert "一车间: 1" in replies[-1].text
    replies = await p.worker.command("overdue")
    assert replies.texts == ["Sorry, you are not allowed to do that."]


async def test_committee_group_chat_follows_a_migration_and_counts_only_the_committee(
    db_url: str, clock: ManualClock
) -> None:
    telegram = FakeTelegram()
    chat_id = -400_777
    settings = make_settings(db_url, committee_chat_id=chat_id)
    bot = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    try:
        p = await plant(bot, clock, "en")
        group = bot.group("Committee", chat_id=chat_id)
        new_id = group.migrate()  # became a supergroup before the card was sent
        item = await submit(p)
        await p.assessor.press(card_of(p.assessor, item.number), "➡️ Forward to committee")
        await p.assessor.send("Worth it")
        cards_in_group = [m for m in telegram.bot_messages(new_id) if item.number in m.text]
        assert len(cards_in_group) == 1 and cards_in_group[0].chat_id == new_id
        before = await snapshot(bot.db)
        await p.worker.press_raw(cards_in_group[0], f"rv:{item.id}:ok")
        assert p.worker.answers[-1].text == "Sorry, you are not allowed to do that."
        assert await snapshot(bot.db) == before
    finally:
        await stop_app(bot.app)
    assert telegram.violations == [] and bot.errors == []


GROUP_WORDS = {
    "zh": {
        "head": "🆕 新的待审项目",
        "buttons": ["✅ 批准", "❓ 退回补充", "❌ 不采纳"],
        "waiting": "状态：评审委员会审核中",
        "closed": "状态：未采纳",
        "decided": "— 未采纳：赵委员，2026-03-02 16:00",
        "reason": "“电价政策已变”",
        "forbidden": "抱歉，您没有执行此操作的权限。",
    },
    "en": {
        "head": "🆕 New item to review",
        "buttons": ["✅ Approve", "❓ Ask for information", "❌ Reject"],
        "waiting": "Status: with the review committee",
        "closed": "Status: not adopted",
        "decided": "— Not adopted: 赵委员, 2026-03-02 16:00",
        "reason": "«电价政策已变»",
        "forbidden": "Sorry, you are not allowed to do that.",
    },
}


async def start_with_committee_group(
    db_url: str, clock: ManualClock, lang: str
) -> tuple[BotHarness, Plant, FakeGroup]:
    """The bot with COMMITTEE_CHAT_ID set to a group where the committee member, the worker,
    a colleague and the assessor all are; everyone but the committee member may not decide."""
    telegram = FakeTelegram()
    chat_id = -400_555
    settings = make_settings(db_url, committee_chat_id=chat_id, default_language=lang)
    bot = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    p = await plant(bot, clock, lang)
    group = bot.group("节约评审委员会", chat_id=chat_id)
    for user in (p.committee, p.worker, p.colleague, p.assessor):
        telegram.set_member(chat_id, user.id, "member")
    return bot, p, group


async def forward_to_committee(p: Plant, title: str = "夜班加热") -> Item:
    item = await submit(p, title)
    await p.assessor.press(card_of(p.assessor, item.number), "➡️ Forward to committee")
    await p.assessor.send("可行，建议评审")
    assert (await item_row(p.bot, item.id)).status == ItemStatus.COMMITTEE
    return item


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_the_committee_group_card_counts_only_committee_presses_and_shows_the_decision(
    db_url: str, clock: ManualClock, lang: str
) -> None:
    bot, p, group = await start_with_committee_group(db_url, clock, lang)
    g = GROUP_WORDS[lang]
    try:
        item = await forward_to_committee(p)
        number = item.number
        # One copy of the card in the group, in the default language, with the stage's buttons.
        posted = [m for m in group.messages if number in m.text]
        assert len(posted) == 1
        card = posted[0]
        assert card.chat_id == group.id and card.text.startswith(g["head"])
        assert "夜班加热" in card.text and "张三" in card.text and g["waiting"] in card.text
        assert card.button_texts == g["buttons"]
        assert card.callback_data == [f"rv:{item.id}:ok", f"rv:{item.id}:ask", f"rv:{item.id}:rej"]
        private = card_of(p.committee, number)  # the committee member's own copy
        assert private.button_texts == GROUP_WORDS["zh"]["buttons"]
        # Everyone else in the group: each press is refused with an alert, nothing changes.
        before = await snapshot(bot.db)
        for user in (p.worker, p.colleague, p.assessor):
            refusal = GROUP_WORDS["en" if user is p.assessor else lang]["forbidden"]
            inbox = len(user.inbox)
            for label in g["buttons"]:
                replies = await user.press(card, label)
                answer = user.answers[-1]
                assert (answer.text, answer.show_alert) == (refusal, True), (user, label)
                assert (list(replies), replies.edited, replies.deleted) == ([], [], [])
            assert len(user.inbox) == inbox
        assert await snapshot(bot.db) == before
        assert group.messages == [card]
        assert (await item_row(bot, item.id)).status == ItemStatus.COMMITTEE
        # The committee member rejects from the group: the reason is asked there, in their
        # language, and answered there.
        replies = await p.committee.press(card, g["buttons"][2])
        assert p.committee.answers[-1].text is None
        assert replies.texts == [f"{number} 为什么不采纳？原因将发送给提交人。"]
        assert p.committee.last == private  # nothing asked in the private chat
        replies = await p.committee.send_in(group, "电价政策已变")
        assert replies.texts == [f"已完成：{number}：未采纳。已通知提交人。"]
        row = await item_row(bot, item.id)
        assert row.status == ItemStatus.REJECTED and row.closed_at is not None
        assert await events(bot, item.id) == [
            ("submit", None),
            ("forward", "可行，建议评审"),
            ("reject", "电价政策已变"),
        ]
        async with bot.db.read() as session:
            actor = await session.scalar(
                select(Member.name)
                .join(ItemEvent, ItemEvent.actor_id == Member.id)
                .where(ItemEvent.item_id == item.id, ItemEvent.action == "reject")
            )
        assert actor == "赵委员"
        # The author is told why.
        told = p.worker.last.text
        assert WORDS[lang]["rejected"] in told and WORDS[lang]["reason"] in told
        # The group card (edited in place, default language) shows who decided; no buttons.
        edited = [m for m in replies.edited if m.message_id == card.message_id]
        assert len(edited) == 1
        shown = edited[0]
        assert shown.buttons == [] and g["closed"] in shown.text
        assert g["decided"] in shown.text and g["reason"] in shown.text
        # So does the committee member's private copy (in Chinese).
        mine = next(m for m in p.committee.inbox if m.message_id == private.message_id)
        zh = GROUP_WORDS["zh"]
        assert mine.buttons == [] and zh["closed"] in mine.text
        assert zh["decided"] in mine.text and zh["reason"] in mine.text
        # The stale group card: the committee hears who decided, the others are still refused.
        await p.committee.press_raw(card, f"rv:{item.id}:ok")
        assert p.committee.answers[-1].text == "已由 赵委员 于 2026-03-02 16:00 处理。"
        await p.colleague.press_raw(card, f"rv:{item.id}:rej")
        assert p.colleague.answers[-1].text == g["forbidden"]
    finally:
        await stop_app(bot.app)
    assert bot.telegram.violations == [] and bot.errors == []


async def test_a_reason_typed_in_the_committee_group_decides_the_item_asked_about_there(
    db_url: str, clock: ManualClock
) -> None:
    """A committee member works in the group and in the private chat at once: the reason for
    rejecting A, typed in the group, must not take the decision open in the private chat
    (an approval of B that was never confirmed)."""
    bot, p, group = await start_with_committee_group(db_url, clock, "en")
    try:
        a = await forward_to_committee(p, "Item A")
        b = await forward_to_committee(p, "Item B")
        group_card = next(m for m in group.messages if a.number in m.text)
        replies = await p.committee.press(group_card, "❌ Reject")
        assert replies.texts == [f"{a.number} 为什么不采纳？原因将发送给提交人。"]
        # Meanwhile, in the private chat, the approval panel of B is opened, not confirmed.
        await p.committee.press(card_of(p.committee, b.number), "✅ 批准")
        assert p.committee.last.text.startswith(f"批准 {b.number}")
        await p.committee.send_in(group, "Not feasible")
        states = {
            "A": ((await item_row(bot, a.id)).status, (await events(bot, a.id))[-1]),
            "B": ((await item_row(bot, b.id)).status, (await events(bot, b.id))[-1]),
        }
        assert states == {
            "A": (ItemStatus.REJECTED, ("reject", "Not feasible")),
            "B": (ItemStatus.COMMITTEE, ("forward", "可行，建议评审")),
        }
        # B's panel in the private chat still works.
        await p.committee.press(p.committee.last, "✅ 确认批准")
        assert (await item_row(bot, b.id)).status == ItemStatus.APPROVED
    finally:
        await stop_app(bot.app)
    assert bot.telegram.violations == [] and bot.errors == []


# ---- refusals and zero amounts at the review's typed steps ---------------------------------


async def implemented(p: Plant) -> Item:
    """An idea forwarded, approved and marked implemented by the unit's assessor."""
    item = await submit(p)
    await p.assessor.press(card_of(p.assessor, item.number), "➡️ Forward to committee")
    await p.assessor.send("ok")
    await p.committee.press(card_of(p.committee, item.number), "✅ 批准")
    await p.committee.press(p.committee.last, "✅ 确认批准")
    await p.assessor.press(card_of(p.assessor, item.number), "🛠 Mark implemented")
    await p.assessor.press(p.assessor.last, "✅ Implemented, no note")
    assert (await item_row(p.bot, item.id)).status == ItemStatus.IMPLEMENTED
    return item


async def test_a_grade_button_forged_without_its_grade_changes_nothing(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en", assessor=False)
    item = await submit(p)
    await p.committee.press(card_of(p.committee, item.number), "✅ 批准")
    panel = p.committee.last
    before = await snapshot(bot.db)
    await p.committee.press_raw(panel, f"rvx:{item.id}:grade")
    assert p.committee.answers[-1].text == "此按钮已失效。"
    assert await snapshot(bot.db) == before
    await p.committee.press(p.committee.last, "✅ 确认批准")  # the panel still works
    assert (await item_row(bot, item.id)).status == ItemStatus.APPROVED


async def test_the_same_amount_button_after_another_member_verified_says_who(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en")
    vice_user = bot.user(first_name="Vice", language_code="en")
    vice = await seed_member(bot.db, vice_user.id, p.unit_id, "孙委员", language="en")
    await people.set_role(bot.db, vice.id, vice.id, "committee", True, NOW)
    item = await implemented(p)
    await p.committee.press(card_of(p.committee, item.number), "📏 登记核实效果")
    prompt = p.committee.last
    await vice_user.press(card_of(vice_user, item.number), "📏 Record verified effect")
    await vice_user.send("2万")
    assert (await item_row(bot, item.id)).verified_amount == Decimal("20000.00")
    before = await snapshot(bot.db)
    await p.committee.press(prompt, prompt.button_texts[0])  # "= certified amount"
    assert p.committee.answers[-1].text.startswith("已由 孙委员")
    assert await snapshot(bot.db) == before


async def test_a_verified_effect_of_nothing_can_be_recorded(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en")
    item = await implemented(p)
    replies = await p.committee.press(card_of(p.committee, item.number), "📏 登记核实效果")
    assert "0" in replies.texts[-1]  # the prompt says nothing at all may be recorded
    await p.committee.send("0元")
    row = await item_row(bot, item.id)
    assert (row.status, row.verified_amount) == (ItemStatus.VERIFIED, Decimal("0.00"))


@pytest.mark.parametrize("typed", ["0", "0元", "0.00", "零"])
async def test_a_reward_of_nothing_is_taken_however_typed(
    bot: BotHarness, clock: ManualClock, typed: str
) -> None:
    p = await plant(bot, clock, "en", assessor=False)
    item = await submit(p)
    await p.committee.press(card_of(p.committee, item.number), "✅ 批准")
    await p.committee.press(p.committee.last, "✏️ 奖励")
    replies = await p.committee.send(typed)
    assert "奖励：0.00 元" in replies[-1].text, replies.texts
    await p.committee.press(p.committee.last, "✅ 确认批准")
    assert (await item_row(bot, item.id)).reward_amount == Decimal("0.00")


# ---- a unit whose assessor cannot act ---------------------------------------------------------


async def test_an_idea_of_a_unit_whose_assessor_has_not_joined_goes_to_the_committee(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en", assessor=False)
    async with bot.db.write() as session:  # imported by the office, not joined yet
        imported = Member(name="周考核", status="active", unit_id=p.unit_id, created_at=NOW)
        session.add(imported)
        await session.flush()
        imported_id = imported.id
    await people.set_role(
        bot.db, imported_id, imported_id, "assessor", True, NOW, unit_id=p.unit_id
    )
    item = await submit(p)
    assert (await item_row(bot, item.id)).status == ItemStatus.COMMITTEE
    await p.committee.press(card_of(p.committee, item.number), "✅ 批准")
    await p.committee.press(p.committee.last, "✅ 确认批准")
    assert (await item_row(bot, item.id)).status == ItemStatus.APPROVED


async def test_first_reviews_left_by_an_assessor_who_left_are_the_committees(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en")
    item = await submit(p)
    assert (await item_row(bot, item.id)).status == ItemStatus.FIRST_REVIEW
    office = await member_id(bot, p.office.id)
    await people.set_active(bot.db, office, await member_id(bot, p.assessor.id), False, NOW)
    # The committee's queue shows it, the daily reminder goes to the committee ...
    [queue] = await p.committee.command("review")
    assert item.number in queue.text
    clock.advance(days=4)
    assert await review.send_reminders(bot.db, review.Limits(3, 7, 30), clock.now(), "zh") == 1
    await bot.drain()
    reminder = p.committee.last
    assert item.number in reminder.text
    # ... and the committee takes the first review from it.
    await p.committee.press(reminder, f"rv:{item.id}:open")
    await p.committee.press(card_of(p.committee, item.number), f"rv:{item.id}:rej")
    await p.committee.send("不可行")
    assert (await item_row(bot, item.id)).status == ItemStatus.REJECTED
    assert (await events(bot, item.id))[-1] == ("reject", "不可行")


async def test_an_idea_of_the_units_only_assessor_goes_to_the_committee(
    bot: BotHarness, clock: ManualClock
) -> None:
    """Nobody reviews their own item: with no other assessor, the committee takes it."""
    p = await plant(bot, clock, "en")
    campaign = await campaigns.get_current(bot.db)
    assessor = await people.get(bot.db, await member_id(bot, p.assessor.id))
    assert campaign and assessor
    draft = items.Draft(
        kind="idea", unit_id=p.unit_id, title="Own idea", body="-", claimed_amount="1000"
    )
    done = await items.submit(
        bot.db, campaign.id, assessor, draft, clock.now(), bot.app.bot_data.settings.tzinfo
    )
    await bot.drain()
    assert done.item.status == ItemStatus.COMMITTEE
    assert not any(done.item.number in m.text for m in p.assessor.inbox if m.buttons)
    await p.committee.press(card_of(p.committee, done.item.number), "✅ 批准")
    await p.committee.press(p.committee.last, "✅ 确认批准")
    assert (await item_row(bot, done.item.id)).status == ItemStatus.APPROVED


async def test_first_reviews_whose_only_other_assessor_left_are_the_committees(
    bot: BotHarness, clock: ManualClock
) -> None:
    """An assessor who co-authored the idea cannot take it: when the other assessor leaves,
    the reminder goes to the committee, which may take the first review."""
    p = await plant(bot, clock, "en")
    second_user = bot.user(first_name="Second", language_code="en")
    second = await seed_member(bot.db, second_user.id, p.unit_id, "周考核", language="en")
    await people.set_role(bot.db, second.id, second.id, "assessor", True, NOW, unit_id=p.unit_id)
    item = await submit(p, co_author_ids=[second.id])
    assert (await item_row(bot, item.id)).status == ItemStatus.FIRST_REVIEW
    office = await member_id(bot, p.office.id)
    await people.set_active(bot.db, office, await member_id(bot, p.assessor.id), False, NOW)
    clock.advance(days=4)
    assert await review.send_reminders(bot.db, review.Limits(3, 7, 30), clock.now(), "zh") == 1
    await bot.drain()
    reminder = p.committee.last
    assert item.number in reminder.text
    assert not any(item.number in m.text for m in second_user.inbox if m.buttons)
    await p.committee.press(reminder, f"rv:{item.id}:open")
    await p.committee.press(card_of(p.committee, item.number), f"rv:{item.id}:rej")
    await p.committee.send("不可行")
    assert (await item_row(bot, item.id)).status == ItemStatus.REJECTED
