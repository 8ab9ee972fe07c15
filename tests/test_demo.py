"""`savings-bot demo` and `savings-bot export` from the command line: no Telegram, no token."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image

from bot.cli import main


def _column(path: Path, sheet: str, header: str) -> list[object]:
    book = load_workbook(path, read_only=True)
    try:
        rows = list(book[sheet].iter_rows(values_only=True))
    finally:
        book.close()
    index = rows[0].index(header)
    return [row[index] for row in rows[1:]]


def test_the_demo_writes_a_bulletin_an_assessment_and_the_ledgers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--today", "2026-11-22"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "demo.db",
        "ledgers.xlsx",
        "monthly.png",
        "monthly.txt",
        "weekly.png",
        "weekly.txt",
    ]
    assert capsys.readouterr().out.split() == [str(out / n) for n in names_in_order()]
    weekly = (out / "weekly.txt").read_text(encoding="utf-8")
    assert weekly.startswith("📢 节约通报 · 2026年第46周（11月9日—11月15日）")
    assert "<b>" not in weekly and "单位排名（人均节约）" in weekly
    monthly = (out / "monthly.txt").read_text(encoding="utf-8")
    assert monthly.startswith("📊 月度考评 · 2026年10月")
    assert monthly.count("分（节约 ") == 12  # one score line per unit
    for chart in ("weekly.png", "monthly.png"):
        with Image.open(out / chart) as image:
            assert image.format == "PNG" and image.width >= 600
    # The demo is the campaign of the report: 178 declared, 97 certified, 287,600 yuan.
    certified = _column(out / "ledgers.xlsx", "节约台账", "认定金额")
    assert len(certified) == 97
    assert sum(Decimal(str(v)) for v in certified) == Decimal("287600")
    numbers = _column(out / "ledgers.xlsx", "全部项目", "编号")
    assert sum(1 for n in numbers if str(n).startswith("JY-")) == 178

    # The same ledgers from `savings-bot export`, in English, from the demo database.
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{out / 'demo.db'}")
    book = tmp_path / "en.xlsx"
    assert main(["export", "--out", str(book), "--lang", "en"]) == 0
    assert "97 counted ideas" in capsys.readouterr().out
    certified_en = _column(book, "Unit ledgers", "Certified")
    assert sum(Decimal(str(v)) for v in certified_en) == Decimal("287600")


def names_in_order() -> list[str]:
    return ["demo.db", "weekly.txt", "weekly.png", "monthly.txt", "monthly.png", "ledgers.xlsx"]
