"""Several conversations waiting at once: a typed message answers the question asked last, and
an edit of a message already sent answers nothing."""

from __future__ import annotations

import copy

from storage.models import ItemStatus
from tests.conftest import BotHarness
from tests.fakeapi.users import FakeUser, Replies
from tests.helpers import ManualClock, plant, snapshot
from tests.test_review import card_of, events, item_row, submit

EDIT_NOTICE = "Edited messages are not read"


async def edit(bot: BotHarness, user: FakeUser, text: str, new_text: str) -> Replies:
    """The user edits the message `text` they sent earlier into `new_text`."""
    chat = bot.telegram.chat(user.id)
    assert chat is not None
    [stored] = [m for m in chat.messages.values() if not m.from_bot and m.data.get("text") == text]
    data = copy.deepcopy(stored.data)
    data["text"] = new_text
    data["edit_date"] = data["date"] + 60
    stored.data["text"] = new_text
    return await bot.deliver(user.id, {"edited_message": data})


async def idea_at_its_title(user: FakeUser) -> None:
    """The user starts an idea and picks its category: the title is asked."""
    await user.command("idea")
    await user.press(user.last, user.last.button_texts[0])
    assert "title" in user.last.text


async def test_a_reason_goes_to_the_decision_not_to_a_draft_set_aside(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en")
    item = await submit(p)
    a = p.assessor
    await idea_at_its_title(a)  # an idea of the assessor's own
    replies = await a.press(card_of(a, item.number), "❌ Reject")
    assert "Why is" in replies.texts[-1]
    replies = await a.send("Not feasible")
    assert (await item_row(bot, item.id)).status == ItemStatus.REJECTED, replies.texts
    assert ("reject", "Not feasible") in await events(bot, item.id)
    # The draft waits untouched: a message says how to go on with it, /idea offers it again,
    # and it goes on from its title.
    replies = await a.send("Night shift heating")
    assert replies.texts == [
        "You have an unfinished draft: send /idea to go on with it, or choose from the menu below."
    ]
    await a.command("idea")
    assert "unfinished draft" in a.last.text
    await a.press(a.last, "▶️ Continue it")
    assert "title" in a.last.text
    await a.send("Night shift heating")
    assert "Describe the idea" in a.last.text


async def test_a_question_set_aside_does_not_take_the_answer_to_a_later_one(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en")
    report = await submit(p, "Steam leak", "", kind="waste", place="Boiler")
    o = p.office
    await o.press(card_of(o, report.number), "🚫 Dismiss")
    assert "dismissed" in o.last.text
    [panel] = await o.command("admin")  # the office turns to the member search instead
    await o.press(panel, "👥 Members")
    assert "search" in o.last.text
    before = await snapshot(bot.db)
    replies = await o.send("张")
    assert replies.texts[-1] == "Members: 1"  # the search found the worker
    assert any("张三" in b for b in replies[-1].button_texts)
    assert await snapshot(bot.db) == before  # and nothing was dismissed
    # Nor does a later message go to the dismissal set aside.
    replies = await o.send("never mind")
    assert (await item_row(bot, report.id)).status == ItemStatus.REPORTED, replies.texts
    assert "menu" in replies.texts[-1]


async def test_an_edited_title_is_not_taken_for_the_description(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en")
    w = p.worker
    await idea_at_its_title(w)
    await w.send("夜班加热")
    assert "Describe the idea" in w.last.text
    replies = await edit(bot, w, "夜班加热", "夜班加热炉")
    assert [EDIT_NOTICE in t for t in replies.texts] == [True]
    replies = await w.send("白班升温改到夜班谷电时段")  # the description, as asked
    assert "How much could it save" in replies.texts[-1]


async def test_an_edit_while_a_reason_is_asked_decides_nothing(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en")
    item = await submit(p)
    a = p.assessor
    await a.start()
    await a.send("hello")
    await a.press(card_of(a, item.number), "❌ Reject")
    before = await snapshot(bot.db)
    replies = await edit(bot, a, "hello", "hello!")
    assert [EDIT_NOTICE in t for t in replies.texts] == [True]
    assert await snapshot(bot.db) == before
    await a.send("Not feasible")  # the reason, typed afresh
    assert (await item_row(bot, item.id)).status == ItemStatus.REJECTED


async def test_a_press_that_asks_nothing_does_not_bring_back_a_question_set_aside(
    bot: BotHarness, clock: ManualClock
) -> None:
    p = await plant(bot, clock, "en")
    item = await submit(p)
    a = p.assessor
    await a.press(card_of(a, item.number), "❌ Reject")  # a reason is asked ...
    await idea_at_its_title(a)  # ... and set aside for an idea of the assessor's own
    [queue] = await a.command("review")
    await a.press(queue, f"rv:{item.id}:open")  # opening the card asks nothing
    await a.send("Night shift heating")
    assert (await item_row(bot, item.id)).status == ItemStatus.FIRST_REVIEW
    assert "Describe the idea" in a.last.text  # the title went to the draft


async def test_a_question_set_aside_is_over(bot: BotHarness, clock: ManualClock) -> None:
    p = await plant(bot, clock, "en")
    report = await submit(p, "Steam leak", "", kind="waste", place="Boiler")
    o = p.office
    await o.press(card_of(o, report.number), "🚫 Dismiss")
    [panel] = await o.command("admin")
    await o.press(panel, "👥 Members")
    await o.send("张")
    replies = await o.command("cancel")
    assert replies.texts == ["There is nothing to cancel."]
    replies = await o.press(card_of(o, report.number), "🚫 Dismiss")  # asked again
    assert "dismissed" in replies.texts[-1]
    await o.send("Not a leak")
    assert (await item_row(bot, report.id)).status == ItemStatus.DISMISSED


async def test_an_edit_is_recorded_as_handled(bot: BotHarness, clock: ManualClock) -> None:
    p = await plant(bot, clock, "en")
    w = p.worker
    await w.send("hello")
    await edit(bot, w, "hello", "hello!")
    assert bot.app.bot_data.persistence.remembers(bot.telegram.last_update_id)
