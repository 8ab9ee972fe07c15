"""The real application over real HTTP: long polling and a webhook against the fake Bot API
server, forged webhook calls refused, and the token never in a log line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select
from telegram.error import NetworkError

from bot.app import ALLOWED_UPDATES, BotApplication, build_application
from bot.config import Settings
from bot.logsetup import RedactFilter
from bot.services import campaigns, people
from storage.db import Database
from storage.models import Base, Item, ProcessedUpdate
from tests.conftest import ADMIN_TG_ID, TEST_TOKEN, make_settings
from tests.fakeapi.server import SECRET_HEADER, FakeBotApiServer, HttpHarness
from tests.fakeapi.users import FakeUser
from tests.figures import record, tally
from tests.helpers import STRESS, seed_member, seed_unit

SECRET = "webhook-secret_0123456789"


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApiServer]:
    async with FakeBotApiServer(token=TEST_TOKEN) as fake:
        yield fake
    assert fake.telegram.violations == [], fake.telegram.violations


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record at DEBUG (httpx's request lines too), through the redaction the bot's
    `configure_logging` puts on its log handlers."""
    redact = RedactFilter([TEST_TOKEN, SECRET])
    caplog.handler.addFilter(redact)
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, "httpx"),
        caplog.at_level(logging.DEBUG, "httpcore"),
    ):
        yield caplog
    caplog.handler.removeFilter(redact)


def assert_no_secret_logged(caplog: pytest.LogCaptureFixture) -> None:
    lines = caplog.text.splitlines() + [r.getMessage() for r in caplog.records]
    leaked = sum(TEST_TOKEN in line or SECRET in line for line in lines)
    redacted = sum("/bot<redacted>/" in line for line in lines)
    tally(
        "transport: secrets in logs",
        "{records:,} log records at DEBUG over real HTTP: {leaked} with the token or the webhook "
        "secret, {redacted:,} with the token redacted",
        records=len(caplog.records),
        leaked=leaked,
        redacted=redacted,
    )
    assert leaked == 0
    # Not vacuous: PTB and httpx do write the token (in URLs) at DEBUG and INFO.
    assert redacted > 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def running(app: BotApplication) -> AsyncIterator[BotApplication]:
    """Start the application as `run_polling`/`run_webhook` do; the caller starts the updater."""
    await app.initialize()
    assert app.post_init and app.post_shutdown
    await app.post_init(app)
    await app.start()
    try:
        yield app
    finally:
        assert app.updater is not None
        if app.updater.running:
            await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await app.post_shutdown(app)


async def seed_worker(
    db_url: str, settings: Settings, worker: FakeUser, assessor: FakeUser
) -> None:
    """This year's campaign, a unit, the worker in it, and an assessor of the unit."""
    db = Database(db_url)
    try:
        await campaigns.ensure_default(db, datetime.now(settings.tzinfo).date())
        unit = await seed_unit(db, "一车间")
        await seed_member(db, worker.id, unit.id, "张三", language="en")
        member = await seed_member(db, assessor.id, unit.id, "王考核", language="en")
        now = datetime.now(UTC)
        await people.set_role(db, member.id, member.id, "assessor", True, now, unit_id=unit.id)
    finally:
        await db.dispose()


async def dump(db: Database) -> dict[str, list[str]]:
    """Every row of every table, conversation state included."""
    out: dict[str, list[str]] = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
    return out


async def settled(db: Database, server: FakeBotApiServer, within: float = 10.0) -> None:
    """Wait until the newest update is recorded as handled (its last writes are done)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    newest = server.telegram.last_update_id
    while True:
        async with db.read() as session:
            handled = await session.scalar(select(func.max(ProcessedUpdate.update_id)))
        if handled is not None and handled >= newest:
            return
        assert loop.time() < deadline, f"update {newest} not handled after {within}s"
        await asyncio.sleep(0.02)


# == the server on its own =====================================================================


async def test_the_server_speaks_the_bot_api_over_http(server: FakeBotApiServer) -> None:
    telegram = server.telegram
    telegram.register_user({"id": 11, "is_bot": False, "first_name": "A"})
    api = server.base_url + TEST_TOKEN
    async with httpx.AsyncClient() as client:
        wrong = await client.post(server.base_url + "1:wrong-token/getMe")
        assert (wrong.status_code, wrong.json()) == (
            401,
            {"ok": False, "error_code": 401, "description": "Unauthorized"},
        )
        assert (await client.get(server.url + "/nothing")).status_code == 404
        # A query string, a JSON body and a form: the same call, the same values.
        got = await client.get(api + "/sendMessage", params={"chat_id": "11", "text": "<b>a</b>"})
        markup = {"inline_keyboard": [[{"text": "x", "callback_data": "y"}]]}
        body = {"chat_id": 11, "text": "b", "reply_markup": markup}
        posted = await client.post(api + "/sendMessage", json=body)
        form = {"chat_id": "11", "text": "c", "reply_markup": json.dumps(markup)}
        formed = await client.post(api + "/sendMessage", data=form)
        for response in (got, posted, formed):
            assert response.status_code == 200 and response.json()["ok"], response.text
        assert formed.json()["result"]["reply_markup"] == markup
        assert [c.params["chat_id"] for c in telegram.sent("sendMessage")] == [11, 11, 11]
        # An upload, and a download of what was uploaded.
        photo = b"\x89PNG\r\n--not-a-boundary\r\n\x00\xff"
        uploaded = await client.post(
            api + "/sendPhoto",
            data={"chat_id": "11", "caption": "c"},
            files={"photo": ("p.png", photo, "image/png")},
        )
        assert uploaded.status_code == 200, uploaded.text
        file_id = uploaded.json()["result"]["photo"][-1]["file_id"]
        path = (await client.post(api + "/getFile", json={"file_id": file_id})).json()["result"]
        download = await client.get(f"{server.base_file_url}{TEST_TOKEN}/{path['file_path']}")
        assert download.content == photo
        assert (await client.get(f"{server.base_file_url}x/{path['file_path']}")).status_code == 401
        # attach:// names a part of the same request.
        media = [{"type": "document", "media": f"attach://d{n}"} for n in (1, 2)]
        grouped = await client.post(
            api + "/sendMediaGroup",
            data={"chat_id": "11", "media": json.dumps(media)},
            files={f"d{n}": (f"plan{n}.pdf", b"%PDF-1.4", "application/pdf") for n in (1, 2)},
        )
        assert grouped.status_code == 200, grouped.text
        names = [m["document"]["file_name"] for m in grouped.json()["result"]]
        assert names == ["plan1.pdf", "plan2.pdf"]
        # A strict fake: a broken call gets Telegram's error (and is recorded as a violation).
        bad = await client.post(api + "/sendMessage", json={"chat_id": 11})
        assert bad.status_code == 400 and not bad.json()["ok"]
        telegram.violations.clear()
        # Long polling: an update queued meanwhile is answered at once, not after the timeout.
        loop = asyncio.get_running_loop()
        started = loop.time()
        poll = asyncio.create_task(
            client.post(api + "/getUpdates", json={"timeout": 20}, timeout=30)
        )
        await server.wait_for(lambda: server.exchanges[-1].api_method == "getUpdates")
        server.queue_update({"message": telegram.add_user_message(11, telegram.users[11], {})})
        updates = (await poll).json()["result"]
        assert len(updates) == 1 and loop.time() - started < 5
        # Faults: "network" drops the connection unanswered, "timeout" answers never.
        telegram.inject("sendMessage", kind="network")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(api + "/sendMessage", json={"chat_id": 11, "text": "lost"})
        telegram.inject("sendMessage", kind="timeout_after_accept")
        with pytest.raises(httpx.ReadTimeout):
            await client.post(
                api + "/sendMessage", json={"chat_id": 11, "text": "kept"}, timeout=0.3
            )
    assert [m.text for m in telegram.bot_messages(11)][-1] == "kept"
    assert "lost" not in [m.text for m in telegram.bot_messages(11)]


async def test_webhooks_are_pushed_in_order_and_retried_until_accepted(
    server: FakeBotApiServer,
) -> None:
    answers = iter([None, 500, 200, 200])  # None: hang up without an answer
    received: list[tuple[int, str | None]] = []

    async def webhook(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        headers = dict(
            line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line
        )
        body = await reader.readexactly(int(headers["Content-Length"]))
        received.append((json.loads(body)["update_id"], headers.get(SECRET_HEADER)))
        status = next(answers)
        if status is not None:
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
        writer.close()

    receiver = await asyncio.start_server(webhook, "127.0.0.1", 0)
    port = receiver.sockets[0].getsockname()[1]
    api = server.base_url + TEST_TOKEN
    try:
        first = server.queue_update({"message": {}})
        second = server.queue_update({"message": {}})
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/hook"
            hook = {"url": url, "secret_token": SECRET}
            assert (await client.post(api + "/setWebhook", json=hook)).json()["ok"]
            await server.wait_for(lambda: not server.telegram.updates, what="both delivered")
            conflict = await client.post(api + "/getUpdates", json={})
            info = (await client.post(api + "/getWebhookInfo")).json()["result"]
    finally:
        receiver.close()
        await receiver.wait_closed()
    assert received == [(first, SECRET)] * 3 + [(second, SECRET)]
    assert [d.status for d in server.webhook_deliveries] == [0, 500, 200, 200]
    assert conflict.status_code == 409 and "webhook is active" in conflict.json()["description"]
    assert info["url"] == url and info["pending_update_count"] == 0
    assert "500" in info["last_error_message"]


# == the bot ===================================================================================


async def test_polling_over_http(
    server: FakeBotApiServer, db_url: str, logs: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(db_url, bot_api_base_url=server.base_url)
    app = build_application(settings)
    harness = HttpHarness(server, app=app)
    worker = harness.user(first_name="Zhang", language_code="en")
    assessor = harness.user(first_name="Wang", language_code="en")
    await seed_worker(db_url, settings, worker, assessor)
    year = datetime.now(settings.tzinfo).year
    async with running(app):
        assert app.updater is not None
        await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        # A lost getUpdates: the bot polls again.
        server.telegram.inject("getUpdates", kind="network")
        replies = await worker.command("idea")
        assert "Energy saving" in replies[-1].button_texts
        await worker.press(worker.last, "Energy saving")
        await worker.send("Night shift heating")
        replies = await worker.send("Move the furnace to the night tariff.")
        assert "How much could it save per year" in replies[-1].text
        await worker.send("15k")
        await worker.press(worker.last, "✅ 一车间 (my unit)")
        await worker.press(worker.last, "⏭ Skip")
        replies = await worker.press(worker.last, "✅ Done")
        assert "Night shift heating" in replies[-1].text
        replies = await worker.press(replies[-1], "✅ Submit")
        assert f"Registration number: JY-{year}-0001" in replies.texts[0]
        # The assessor's card went through the outbox, over HTTP too.
        await server.wait_for(
            lambda: any("New item to review" in m.text for m in assessor.inbox),
            what="the assessor's card",
        )
        # A reply lost on the network: the handler fails, the bot apologises and goes on.
        server.telegram.inject("sendMessage", kind="network", chat_id=worker.id)
        await worker.command("help")
        replies = await worker.command("help")
        assert "Savings campaign bot" in replies[-1].text
    db = Database(db_url)
    async with db.read() as session:
        items = list(await session.scalars(select(Item)))
    await db.dispose()
    assert [i.number for i in items] == [f"JY-{year}-0001"]
    assert len(harness.errors) == 1 and isinstance(harness.errors[0], NetworkError)
    failed = [c.method for c in server.telegram.errors]
    assert failed == ["getUpdates", "sendMessage"]
    assert any(r.levelno >= logging.ERROR and r.exc_info for r in logs.records)
    assert_no_secret_logged(logs)


async def test_webhook_over_http_refuses_calls_without_the_secret(
    server: FakeBotApiServer, db_url: str, logs: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(db_url, bot_api_base_url=server.base_url)
    app = build_application(settings)
    harness = HttpHarness(server, app=app)
    worker = harness.user(first_name="Zhang", language_code="en")
    assessor = harness.user(first_name="Wang", language_code="en")
    await seed_worker(db_url, settings, worker, assessor)
    port = free_port()
    webhook_url = f"http://127.0.0.1:{port}/telegram"
    db = Database(db_url)
    try:
        async with running(app):
            assert app.updater is not None
            await app.updater.start_webhook(
                listen="127.0.0.1",
                port=port,
                url_path="telegram",
                webhook_url=webhook_url,
                secret_token=SECRET,
                allowed_updates=ALLOWED_UPDATES,
            )
            assert server.telegram.webhook["url"] == webhook_url
            assert server.webhook_secret == SECRET
            replies = await worker.command("idea")
            assert "Energy saving" in replies[-1].button_texts
            await worker.press(worker.last, "Energy saving")
            replies = await worker.send("Night shift heating")
            assert "Describe the idea" in replies[-1].text
            # Someone who knows the URL but not the secret posts the worker's next message.
            await settled(db, server)
            before = await dump(db)
            content = {"text": "Forged body"}
            wrong_secrets = ["wrong", SECRET[:-1], SECRET + "x", SECRET.swapcase(), SECRET[::-1]]
            statuses: Counter[tuple[str, int]] = Counter()
            async with httpx.AsyncClient() as client:
                for n in range(5 * STRESS):
                    forged = {
                        "update_id": 900_001 + n,
                        "message": server.telegram.add_user_message(
                            worker.id, worker.data, content
                        ),
                    }
                    missing = await client.post(webhook_url, json=forged)
                    statuses["without", missing.status_code] += 1
                    headers = {SECRET_HEADER: wrong_secrets[n % len(wrong_secrets)]}
                    wrong = await client.post(webhook_url, json=forged, headers=headers)
                    statuses["wrong", wrong.status_code] += 1
            changed = await dump(db) != before
            # The worker's real message is taken as the body: the forged one was never handled.
            replies = await worker.send("Move the furnace to the night tariff.")
            assert "How much could it save per year" in replies[-1].text
            await settled(db, server)
            after = await dump(db)
    finally:
        await db.dispose()
    forged_ids = {str(900_001 + n) for n in range(5 * STRESS)}
    handled = sum(any(i in row for i in forged_ids) for row in after["processed_update"])
    kept = sum("Forged body" in row for rows in after.values() for row in rows)
    record(
        "transport: forged webhook requests",
        f"{statuses.total()} forged webhook requests ({statuses['without', 403]} without the "
        f"secret and {statuses['wrong', 403]} with a wrong one answered 403, "
        f"{statuses.total() - statuses['without', 403] - statuses['wrong', 403]} otherwise): "
        f"{handled} handled, {kept} rows holding their text, database "
        f"{'changed' if changed else 'unchanged'}",
    )
    assert statuses == {("without", 403): 5 * STRESS, ("wrong", 403): 5 * STRESS}
    assert not changed
    assert handled == 0
    assert kept == 0
    assert any("Move the furnace" in row for row in after["bot_state"])
    delivered = [d for d in server.webhook_deliveries if d.ok]
    assert len(delivered) >= 8  # three messages and a press, each with a probe
    assert all(d.secret == SECRET and d.url == webhook_url for d in delivered)
    assert harness.errors == []
    assert_no_secret_logged(logs)


async def test_files_the_bot_downloads_come_from_the_configured_server(
    server: FakeBotApiServer, db_url: str
) -> None:
    settings = make_settings(db_url, bot_api_base_url=server.base_url)
    app = build_application(settings)
    harness = HttpHarness(server, app=app)
    office = harness.user(user_id=ADMIN_TG_ID, first_name="Office", language_code="en")
    async with running(app):
        assert app.updater is not None
        await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        await office.start()
        [panel] = await office.command("admin")
        await office.press(panel, "📥 Import")
        replies = await office.send_document("units.csv", content=b"name,headcount\n3#,40\n")
    # Uploads and downloads go to the same Bot API server (a self-hosted one, say).
    file_url = app.bot.base_file_url.replace(TEST_TOKEN, "<token>")
    assert file_url == server.base_file_url + "<token>"
    assert replies.texts == ["Imported: 1 new units, 0 updated; 0 new members, 0 updated."]
    assert harness.errors == []
