"""What the bot produces, without Telegram: the ledgers workbook of a database, and an offline
demo plant with its weekly bulletin, monthly assessment (texts and charts) and workbook."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, time
from pathlib import Path

from bot import bulletins
from bot.clock import Clock
from bot.config import Settings
from bot.i18n import translator
from bot.services import export, posts, reports, sample
from bot.services.export import ExportSummary
from bot.services.reports import ReportKind
from storage.db import Database
from storage.migrate import upgrade

TAG = re.compile(r"<[^>]+>")
DEMO_DB = "demo.db"


def plain(text: str) -> str:
    """A post's HTML as plain text."""
    return html.unescape(TAG.sub("", text))


async def export_file(settings: Settings, out: Path, lang: str) -> ExportSummary:
    db = Database(settings.database_url)
    try:
        return await export.write_workbook(
            db, out, tr=translator(lang), tz=settings.tzinfo, now=Clock().now()
        )
    finally:
        await db.dispose()


def fresh_database(folder: Path) -> str:
    """An empty, migrated SQLite file `folder`/demo.db (replacing an earlier demo's); its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DEMO_DB
    path.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path.resolve()}"
    upgrade(url)
    return url


async def build(
    settings: Settings, folder: Path, url: str, lang: str, today: date | None
) -> list[Path]:
    """Fill the demo database at `url` and write into `folder` what the bot would post."""
    tz = settings.tzinfo
    today = today or datetime.now(tz).date()
    settings = settings.model_copy(update={"database_url": url})
    now = datetime.combine(today, time(12, 0), tz)
    db = Database(url)
    written = [folder / DEMO_DB]
    tr = translator(lang)
    try:
        await sample.populate(db, sample.DEMO, today, tz)
        for kind, name in ((ReportKind.WEEKLY, "weekly"), (ReportKind.MONTHLY, "monthly")):
            due = posts.last_due(kind, now, settings)
            report = await reports.build(db, kind, due.period, settings, now)
            assert report is not None
            post = bulletins.post(tr, report)
            text_path = folder / f"{name}.txt"
            text_path.write_text("\n".join(plain(p) for p in post.parts) + "\n", encoding="utf-8")
            chart_path = folder / f"{name}.png"
            chart_path.write_bytes(post.chart)
            written += [text_path, chart_path]
        book = folder / "ledgers.xlsx"
        await export.write_workbook(db, book, tr=tr, tz=tz, now=now)
        written.append(book)
    finally:
        await db.dispose()
    return written
