"""The real `savings-bot run` process, killed with SIGKILL at bad moments and started again,
against the fake Bot API over HTTP: nothing half-done is lost, nothing is done or sent twice,
and the token never reaches the log."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.sender import STALE_CLAIM
from bot.services import campaigns, items, people
from storage.db import Database
from storage.models import BotState, Item, ItemEvent, ItemStatus, OutboxMessage, ProcessedUpdate
from tests.conftest import ADMIN_TG_ID, TEST_TOKEN
from tests.fakeapi.core import Call
from tests.fakeapi.server import FakeBotApiServer, Hold, HttpHarness
from tests.fakeapi.users import FakeUser, SentMessage
from tests.figures import record, tally
from tests.helpers import STRESS, seed_member, seed_unit

BOT = Path(sys.executable).with_name("savings-bot")
TZ = ZoneInfo(Settings.model_fields["timezone"].default)  # what the subprocess uses
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))\b", re.M)
FORWARDED = "passed the first review and is now with the review committee"


class BotProcess:
    """`savings-bot run` in a subprocess, logging at DEBUG into files under `folder`."""

    def __init__(self, server: FakeBotApiServer, db_url: str, folder: Path) -> None:
        fields = {name.upper() for name in Settings.model_fields}
        self.env = {k: v for k, v in os.environ.items() if k.upper() not in fields}
        self.env.update(
            BOT_TOKEN=TEST_TOKEN,
            BOT_API_BASE_URL=server.base_url,
            DATABASE_URL=db_url,
            ADMIN_IDS=str(ADMIN_TG_ID),
            LOG_LEVEL="DEBUG",
        )
        self.folder = folder  # also the working directory: no stray .env is read
        self.logs: list[Path] = []
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        log = self.folder / f"bot-{len(self.logs) + 1}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(BOT), "run"], cwd=self.folder, env=self.env, stdout=out, stderr=out
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(5) == -signal.SIGKILL
        self.kills += 1

    async def stop(self) -> None:
        """SIGTERM, as a service manager stops it; SIGKILL if it does not end in time."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        for _ in range(200):
            if process.poll() is not None:
                return
            await asyncio.sleep(0.05)
        process.kill()
        process.wait(5)
        raise AssertionError("the bot did not stop within 10 s of SIGTERM")

    def log_text(self) -> str:
        return "\n".join(p.read_text("utf-8", "replace") for p in self.logs)

    def exceptions(self) -> set[str]:
        """The exceptions of every traceback in the log (their last lines name them)."""
        return set(_EXCEPTION_LINE.findall(self.log_text()))


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApiServer]:
    async with FakeBotApiServer(token=TEST_TOKEN) as fake:
        yield fake
    assert fake.telegram.violations == [], fake.telegram.violations


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
async def bot(server: FakeBotApiServer, db_url: str, tmp_path: Path) -> AsyncIterator[BotProcess]:
    process = BotProcess(server, db_url, tmp_path)
    try:
        yield process
    finally:
        await process.stop()
    text = process.log_text()
    lines = text.splitlines()
    secret = TEST_TOKEN.split(":")[1]
    tally(
        "crash: the token in the killed processes' logs",
        "{lines:,} log lines of `savings-bot run` at DEBUG ({runs} runs): {leaked} with the token",
        lines=len(lines),
        runs=len(process.logs),
        leaked=sum(TEST_TOKEN in line or secret in line for line in lines),
    )
    assert TEST_TOKEN not in text
    assert secret not in text
    # Not vacuous: the scan covered the most verbose level the bot logs at.
    assert " DEBUG " in text, text[-2000:]


class Plant:
    """One unit: a worker, the unit's assessor and a committee member, all chatting in English."""

    def __init__(self, people_: HttpHarness) -> None:
        self.worker = people_.user(first_name="Zhang", language_code="en")
        self.assessor = people_.user(first_name="Wang", language_code="en")
        self.committee = people_.user(first_name="Zhao", language_code="en")
        self.unit_id = 0
        self.worker_id = 0

    async def seed(self, db: Database) -> None:
        now = datetime.now(UTC)
        await campaigns.ensure_default(db, now.astimezone(TZ).date())
        unit = await seed_unit(db, "一车间")
        self.unit_id = unit.id
        worker = await seed_member(db, self.worker.id, unit.id, "张三", language="en")
        self.worker_id = worker.id
        assessor = await seed_member(db, self.assessor.id, unit.id, "王考核", language="en")
        committee = await seed_member(db, self.committee.id, unit.id, "赵委员", language="en")
        await people.set_role(db, assessor.id, assessor.id, "assessor", True, now, unit.id)
        await people.set_role(db, committee.id, committee.id, "committee", True, now)

    async def submit(self, db: Database) -> Item:
        """An idea submitted (as the chat would), its review card waiting in the outbox."""
        campaign = await campaigns.get_current(db)
        worker = await people.get(db, self.worker_id)
        assert campaign and worker
        draft = items.Draft(
            kind="idea", unit_id=self.unit_id, title="夜班加热", body="说明", claimed_amount="15000"
        )
        done = await items.submit(db, campaign.id, worker, draft, datetime.now(UTC), TZ)
        return done.item


async def eventually(check: Any, what: str, within: float = 15.0) -> None:
    """Poll an async condition (the database) until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, f"timed out after {within}s waiting for {what}"
        await asyncio.sleep(0.05)


def card_of(user: FakeUser, number: str) -> SentMessage:
    found = [m for m in user.inbox if number in m.text and m.buttons]
    assert found, f"{user!r} has no card for {number}: {[m.text for m in user.inbox]}"
    return found[-1]


def texts(user: FakeUser) -> list[str]:
    return [m.text for m in user.inbox]


def asked(server: FakeBotApiServer, since: int, user: FakeUser, part: str) -> Callable[[], bool]:
    """A condition: the bot sent the user a message with `part` after `since` (a seq)."""
    return lambda: any(part in m.text for m in server.telegram.changes_since(since, user.id)[0])


def received(user: FakeUser, count: int) -> Callable[[], bool]:
    """A condition: the user has at least `count` messages from the bot."""
    return lambda: len(user.inbox) >= count


def caught(hold: Hold) -> Callable[[], bool]:
    """A condition: the hold caught a call."""
    return lambda: hold.caught > 0


async def outbox(db: Database, after_id: int = 0) -> list[OutboxMessage]:
    async with db.read() as session:
        return list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.id > after_id).order_by(OutboxMessage.id)
            )
        )


async def events(db: Database, item_id: int) -> list[str]:
    async with db.read() as session:
        rows = await session.scalars(
            select(ItemEvent.action).where(ItemEvent.item_id == item_id).order_by(ItemEvent.id)
        )
        return list(rows)


def deliveries(server: FakeBotApiServer, row: OutboxMessage, since: int = 0) -> list[Call]:
    """The calls Telegram accepted (from the `since`-th on) that carry this outbox row."""
    payload = row.payload
    return [
        c
        for c in server.telegram.calls[since:]
        if c.ok
        and c.method == row.method
        and str(c.params.get("chat_id")) == str(row.chat_id)
        and c.params.get("text") == payload.get("text")
        and c.params.get("caption") == payload.get("caption")
        and c.params.get("message_id") == payload.get("message_id")
    ]


async def forward_until_the_opinion(server: FakeBotApiServer, plant: Plant, item: Item) -> None:
    """The assessor gets the card, presses Forward and is asked for the handling opinion."""
    assessor = plant.assessor
    await server.wait_for(
        lambda: any(item.number in t for t in texts(assessor)), 20, "the review card"
    )
    replies = await assessor.press(card_of(assessor, item.number), "➡️ Forward to committee")
    assert "handling opinion" in replies[-1].text


def send_opinion(server: FakeBotApiServer, plant: Plant) -> None:
    """The opinion, queued without waiting for the bot (it will be stuck)."""
    telegram, assessor = server.telegram, plant.assessor
    message = telegram.add_user_message(assessor.id, assessor.data, {"text": "可行，建议评审"})
    server.queue_update({"message": message})


@dataclass
class OpinionRound:
    """One round: an idea forwarded up to the assessor's handling opinion."""

    people: HttpHarness
    plant: Plant
    item: Item
    before: int  # the newest outbox row before the opinion
    calls: int  # Bot API calls before the opinion


async def opinion_rounds(
    server: FakeBotApiServer, bot: BotProcess, db: Database
) -> AsyncIterator[OpinionRound]:
    """`STRESS` rounds; the bot is started with the first (the caller kills and restarts it)."""
    people_ = HttpHarness(server)
    plant = Plant(people_)
    await plant.seed(db)
    item = await plant.submit(db)
    bot.start()
    for n in range(STRESS):
        if n:
            item = await plant.submit(db)  # the running bot's outbox sends its card
        await forward_until_the_opinion(server, plant, item)
        before = max(r.id for r in await outbox(db))
        yield OpinionRound(people_, plant, item, before, len(server.telegram.calls))


async def test_sigkill_mid_conversation_resumes_at_the_same_step(
    server: FakeBotApiServer, bot: BotProcess, db: Database
) -> None:
    people_ = HttpHarness(server)
    plant = Plant(people_)
    await plant.seed(db)
    worker, telegram = plant.worker, server.telegram
    year = datetime.now(TZ).year
    rounds = STRESS
    saved = resumed = registered = 0  # rounds whose draft was saved, resumed, registered
    bot.start()
    server.telegram.inject("getUpdates", kind="network")  # an error to log: the bot polls again
    for n in range(rounds):
        title = f"Night shift heating {n + 1}"
        replies = await worker.command("idea")
        assert "Energy saving" in replies[-1].button_texts
        await worker.press(worker.last, "Energy saving")
        # The title, and a kill as soon as the bot has finished with it (before anything else).
        message = telegram.add_user_message(worker.id, worker.data, {"text": title})
        seq = telegram.seq
        title_update = server.queue_update({"message": message})
        question = asked(server, seq, worker, "Describe the idea")
        await server.wait_for(question, 10, "the question for the description")

        async def finished(update_id: int = title_update) -> bool:
            async with db.read() as session:
                done = await session.scalar(
                    select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id == update_id)
                )
                return done is not None

        await eventually(finished, "the title's update to be finished")
        bot.kill()
        async with db.read() as session:
            state: list[Any] = list(
                await session.scalars(
                    select(BotState.data).where(
                        BotState.kind == "user", BotState.key == str(worker.id)
                    )
                )
            )
        saved += title in json.dumps(state, ensure_ascii=False)  # the finished update's draft

        bot.start()
        replies = await worker.send("Move the furnace to the night tariff.")
        resumed += "How much could it save per year" in replies[-1].text  # not the title again
        await worker.send("15k")
        await worker.press(worker.last, "✅ 一车间 (my unit)")
        await worker.press(worker.last, "⏭ Skip")
        replies = await worker.press(worker.last, "✅ Done")
        card = replies[-1].text
        assert title in card and "Move the furnace" in card and "Energy" in card
        replies = await worker.press(replies[-1], "✅ Submit")
        registered += f"Registration number: JY-{year}-{n + 1:04d}" in replies.texts[0]
        await server.wait_for(received(plant.assessor, n + 1), 10, "the assessor's card")

    async with db.read() as session:
        stored = list(await session.scalars(select(Item).order_by(Item.id)))
    expected = [
        (
            f"JY-{year}-{n + 1:04d}",
            f"Night shift heating {n + 1}",
            "Move the furnace to the night tariff.",
            ItemStatus.FIRST_REVIEW,
        )
        for n in range(rounds)
    ]
    cards = [t for t in texts(plant.assessor) if "New item to review" in t]
    record(
        "crash: SIGKILL mid-conversation",
        f"SIGKILLs of `savings-bot run` right after an idea's title was handled: {bot.kills}; "
        f"drafts saved: {saved}; resumed at the next step: {resumed}; ideas registered: "
        f"{registered}; items stored: {len(stored)}; review cards: {len(cards)}",
    )
    assert saved == resumed == registered == rounds
    assert [(i.number, i.title, i.body, i.status) for i in stored] == expected
    assert len(cards) == len(texts(plant.assessor)) == rounds
    assert all(sum(i.number in t for t in cards) == 1 for i in stored)
    assert [c.method for c in server.telegram.errors] == ["getUpdates"]
    assert "telegram.error.NetworkError" in bot.exceptions()  # logged with its traceback


async def test_sigkill_after_a_decision_commits_sends_each_notification_once(
    server: FakeBotApiServer, bot: BotProcess, db: Database
) -> None:
    rounds = STRESS
    kept = refused = twice = 0  # decisions kept through the kill; opinions sent again:
    # refused, applied twice
    notices: list[OutboxMessage] = []  # the decisions' notifications
    sent: list[int] = []  # how many times Telegram accepted each of them
    told = on_committee = 0  # the worker's notices, the committee's cards
    async for r in opinion_rounds(server, bot, db):
        people_, plant, item, before, calls = r.people, r.plant, r.item, r.before, r.calls
        # The reply "Done" comes after the decision's commit: it hangs, and the process dies.
        done = server.hold("sendMessage", chat_id=plant.assessor.id, times=1)
        send_opinion(server, plant)
        await server.wait_for(caught(done), 10, "the assessor's 'Done' reply")
        bot.kill()

        kept += await events(db, item.id) == ["submit", "forward"]  # committed before the kill
        pending = await outbox(db, before)
        assert pending and {r.status for r in pending} == {"pending"}  # none sent yet
        assert not any(FORWARDED in t and item.number in t for t in texts(plant.worker))

        bot.start()

        async def all_sent(after: int = before) -> bool:
            return {r.status for r in await outbox(db, after)} == {"sent"}

        await eventually(all_sent, "the decision's notifications to be sent after the restart")
        # The assessor never saw "Done" and sends the opinion again: it is not applied twice.
        replies = await plant.assessor.send("可行，建议评审")
        refused += len(replies) == 1 and "Already decided by 王考核" in replies[-1].text
        await people_.settle()

        twice += (await events(db, item.id)).count("forward") > 1
        async with db.read() as session:
            row = await session.get(Item, item.id)
            assert row is not None and row.status == ItemStatus.COMMITTEE
        these = await outbox(db, before)
        notices += these
        sent += [len(deliveries(server, r, since=calls)) for r in these]
        told += sum(FORWARDED in t and item.number in t for t in texts(plant.worker))
        on_committee += sum(item.number in t for t in texts(plant.committee))

    record(
        "crash: SIGKILL after a decision committed",
        f"SIGKILLs of `savings-bot run` between a decision's commit and its reply: "
        f"{bot.kills}; decisions kept: {kept}; the same opinion sent again: refused {refused}, "
        f"applied twice {twice}; notifications {len(notices)}: sent once {sent.count(1)}, "
        f"lost {sent.count(0)}, twice {sum(k > 1 for k in sent)}",
    )
    assert twice == 0
    assert kept == refused == told == on_committee == rounds
    assert sent == [1] * len(notices)
    assert bot.exceptions() == set()


async def test_a_notification_in_flight_at_a_sigkill_is_not_sent_twice(
    server: FakeBotApiServer, bot: BotProcess, db: Database
) -> None:
    rounds = STRESS
    notices: list[OutboxMessage] = []  # every notification of the decisions
    sent: list[int] = []  # how many times Telegram accepted each of them
    arrived: list[int] = []  # how many times the worker read the notice that was in flight
    rows_to_worker: list[int] = []  # the worker's outbox rows per decision
    kept = 0
    async for r in opinion_rounds(server, bot, db):
        people_, plant, item, before, calls = r.people, r.plant, r.item, r.before, r.calls
        # Telegram takes the worker's notice, and the process dies before it hears back.
        in_flight = server.hold("sendMessage", chat_id=plant.worker.id, accept=True)
        send_opinion(server, plant)
        await server.wait_for(caught(in_flight), 10, "the worker's notice to be sent")
        bot.kill()
        assert sum(FORWARDED in t and item.number in t for t in texts(plant.worker)) == 1
        in_flight.release()
        # The process comes back after the claim went stale (no waiting: the claim is aged).
        async with db.write() as session:
            for row in await session.scalars(
                select(OutboxMessage).where(OutboxMessage.status == "sending")
            ):
                row.not_before -= STALE_CLAIM * 2

        bot.start()

        async def settled() -> bool:
            async with db.read() as session:
                busy = await session.scalar(
                    select(func.count()).where(OutboxMessage.status.in_(("pending", "sending")))
                )
                handled = await session.scalar(select(func.max(ProcessedUpdate.update_id)))
            return not busy and (handled or 0) >= server.telegram.last_update_id

        await eventually(settled, "the outbox to be done after the restart")
        await people_.settle()
        kept += await events(db, item.id) == ["submit", "forward"]
        these = await outbox(db, before)
        notices += these
        sent += [len(deliveries(server, r, since=calls)) for r in these]
        rows_to_worker.append(sum(r.chat_id == plant.worker.id for r in these))
        arrived.append(sum(FORWARDED in t and item.number in t for t in texts(plant.worker)))

    record(
        "crash: SIGKILL with a notification in flight",
        f"SIGKILLs of `savings-bot run` after Telegram took a notice, before it answered: "
        f"{bot.kills}; that notice read once {arrived.count(1)}, twice "
        f"{sum(k > 1 for k in arrived)}; decisions kept: {kept}; notifications "
        f"{len(notices)}: sent once {sent.count(1)}, lost {sent.count(0)}, twice "
        f"{sum(k > 1 for k in sent)}",
    )
    assert rows_to_worker == [1] * rounds
    assert arrived == [1] * rounds, (
        "the notice Telegram had accepted before the kill was sent again: "
        f"{[(r.id, r.status, r.attempts) for r in notices if r.chat_id == plant.worker.id]}"
    )
    assert kept == rounds
    assert sent == [1] * len(notices)
    assert bot.exceptions() == set()
