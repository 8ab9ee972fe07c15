"""Run Alembic migrations from code, with the same URL the bot uses."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from storage.db import ensure_sqlite_dir, normalise_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = normalise_url(url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (blocking; call from a thread inside an event loop)."""
    ensure_sqlite_dir(normalise_url(url))
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Upgrade without blocking the running event loop (env.py starts its own)."""
    await asyncio.to_thread(upgrade, url, revision)
