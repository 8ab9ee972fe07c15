"""Settings, the command line, logging and migrations: the parts that run before any update."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot.config import MissingTokenError, Settings
from bot.logsetup import configure_logging, install_redaction
from storage.db import Database
from tests.conftest import TEST_TOKEN

ROOT = Path(__file__).resolve().parent.parent


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "TIMEZONE", "DEFAULT_LANGUAGE", "BOT_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "sqlite+aiosqlite:///data/savings.db"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.default_language == "zh"
    assert settings.bot_api_base_url == "https://api.telegram.org/bot"


def test_admin_ids_from_text() -> None:
    settings = Settings(_env_file=None, admin_ids="11, 22;33")  # type: ignore[call-arg]
    assert settings.admin_ids == [11, 22, 33]


@pytest.mark.parametrize("token", ["", "changeme", "123456:ABC-DEF", "not a token", "12:short"])
def test_placeholder_tokens_are_refused(token: str) -> None:
    settings = Settings(_env_file=None, bot_token=token)  # type: ignore[call-arg]
    with pytest.raises(MissingTokenError, match="@BotFather"):
        settings.require_token()


@pytest.mark.parametrize("secret", ["has space", "ünïcode", "x" * 257, "semi;colon"])
def test_a_webhook_secret_telegram_would_refuse_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="Telegram's rule"):
        Settings(_env_file=None, webhook_secret=secret)  # type: ignore[call-arg]
    ok = Settings(_env_file=None, webhook_secret="Ab0_-" * 10)  # type: ignore[call-arg]
    assert ok.webhook_secret.get_secret_value() == "Ab0_-" * 10


def test_bad_timezone_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(_env_file=None, timezone="Mars/Olympus")  # type: ignore[call-arg]


def _cli(args: list[str], cwd: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_run_without_token_prints_one_line(tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(ROOT)}
    result = _cli(["run"], tmp_path, env)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "@BotFather" in lines[0] and "BOT_TOKEN" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists()  # nothing was created


def test_migrate_creates_the_sqlite_file(tmp_path: Path) -> None:
    result = _cli(["migrate"], tmp_path, {"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "savings.db").exists()


async def test_schema_is_at_head(db_url: str) -> None:
    db = Database(db_url)
    async with db.engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        version = (
            await connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        ).scalar()
    await db.dispose()
    assert {
        "campaign",
        "unit",
        "member",
        "item",
        "item_event",
        "attachment",
        "outbox_message",
        "announcement_chat",
        "admin_event",
    } <= tables
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    assert version == ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()


async def test_sqlite_pragmas(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/p.db", busy_timeout_ms=1234)
    async with db.engine.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 1234
    await db.dispose()


def test_token_is_redacted_from_messages_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    flt = install_redaction([TEST_TOKEN], logger=logging.getLogger())
    caplog.handler.addFilter(flt)
    url = f"https://api.telegram.org/bot{TEST_TOKEN}/getMe"
    logger.warning("HTTP Request: POST %s", url)
    try:
        raise RuntimeError(f"failed {url}")
    except RuntimeError:
        logger.exception("boom")
    text = caplog.text
    assert TEST_TOKEN not in text
    assert "<redacted>" in text


def test_debug_logging_keeps_telegram_updates_out() -> None:
    root, ptb = logging.getLogger(), logging.getLogger("telegram")
    saved = (root.level, ptb.level, list(root.handlers))
    try:
        root.handlers.clear()  # as in the `savings-bot` process: no handlers before set-up
        configure_logging("DEBUG", [])
        assert logging.getLogger("bot.app").isEnabledFor(logging.DEBUG)
        # PTB's DEBUG lines are whole updates, with names and texts: never logged.
        assert not logging.getLogger("telegram.ext.Application").isEnabledFor(logging.DEBUG)
        assert logging.getLogger("telegram.ext.Application").isEnabledFor(logging.INFO)
    finally:
        root.setLevel(saved[0])
        ptb.setLevel(saved[1])
        root.handlers[:] = saved[2]
