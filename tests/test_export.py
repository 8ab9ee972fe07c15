"""The XLSX export: sheets and headers in both languages, amounts and local times, ledger
totals, co-author shares, anonymity, the assessor's unit filter, and flat memory."""

from __future__ import annotations

import gettext
import io
import re
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import insert, select, update

from bot.i18n import Translator
from bot.services import campaigns
from bot.services.errors import ServiceError
from bot.services.export import YUAN_FORMATS, ExportSummary, write_workbook
from storage.db import Database
from storage.models import (
    Campaign,
    Category,
    Grade,
    Item,
    ItemAuthor,
    ItemEvent,
    ItemKind,
    ItemStatus,
    Member,
    MemberGroup,
    Unit,
)
from tests.helpers import NOW, seed_member, seed_unit

TZ = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parent.parent

# The export's new texts in Simplified Chinese (for the catalogs; the zh tests use them).
ZH = {
    "Summary": "汇总",
    "Unit ledgers": "节约台账",
    "Worker records": "节约记录",
    "All items": "全部项目",
    "History": "审核记录",
    "Campaign": "活动",
    "Scope": "范围",
    "Whole plant": "全厂",
    "Target per head": "人均目标",
    "Total target": "总目标",
    "Generated at": "生成时间",
    "Headcount": "人数",
    "Ideas submitted": "申报项目数",
    "Ideas approved": "认定项目数",
    "Certified savings": "认定节约额",
    "Counted savings": "计入节约额",
    "Counted per head": "人均节约额",
    "% of per-head target": "人均目标完成率",
    "% of total target": "总目标完成率",
    "Open waste reports": "未处理浪费反映",
    "Unit": "单位",
    "Number": "编号",
    "Title": "标题",
    "Category": "类别",
    "Authors": "提出人",
    "Number of authors": "提出人数",
    "Approved at": "认定时间",
    "Claimed": "申报金额",
    "Certified": "认定金额",
    "Verified": "核实金额",
    "Counted": "计入金额",
    "Grade": "等级",
    "Reward": "奖励",
    "Status": "状态",
    "Worker": "职工",
    "Group": "政治面貌",
    "Credited share": "个人计入额",
    "Kind": "类型",
    "Place": "地点",
    "Submitted at": "提交时间",
    "Stage since": "进入当前环节时间",
    "Time": "时间",
    "Action": "操作",
    "By": "操作人",
    "From status": "原状态",
    "To status": "新状态",
    "Reason": "说明",
    "Amount": "金额",
}

SHEETS = ["Summary", "Unit ledgers", "Worker records", "All items", "History"]
HEADERS = {
    "Unit ledgers": [
        "Unit",
        "Number",
        "Title",
        "Category",
        "Authors",
        "Approved at",
        "Claimed",
        "Certified",
        "Verified",
        "Counted",
        "Grade",
        "Reward",
        "Status",
    ],
    "Worker records": [
        "Worker",
        "Unit",
        "Group",
        "Number",
        "Title",
        "Approved at",
        "Number of authors",
        "Credited share",
    ],
    "All items": [
        "Number",
        "Kind",
        "Status",
        "Unit",
        "Category",
        "Title",
        "Place",
        "Authors",
        "Submitted at",
        "Stage since",
        "Claimed",
        "Certified",
        "Verified",
        "Grade",
        "Reward",
    ],
    "History": [
        "Number",
        "Time",
        "Action",
        "By",
        "From status",
        "To status",
        "Reason",
        "Amount",
    ],
}
UNIT_TABLE = [
    "Unit",
    "Headcount",
    "Ideas submitted",
    "Ideas approved",
    "Certified savings",
    "Counted savings",
    "Counted per head",
    "% of per-head target",
    "Open waste reports",
]
MONEY = {
    "Claimed",
    "Certified",
    "Verified",
    "Counted",
    "Reward",
    "Credited share",
    "Amount",
    "Certified savings",
    "Counted savings",
    "Counted per head",
    "Target per head",
    "Total target",
}
DATES = {"Approved at", "Submitted at", "Stage since", "Time", "Generated at"}


class _WithExport(gettext.GNUTranslations):
    """The real catalog, and the export's texts from ZH until they are in it."""

    def __init__(self, base: gettext.GNUTranslations) -> None:
        super().__init__()
        self.base = base

    def gettext(self, message: str) -> str:
        text = self.base.gettext(message)
        return ZH.get(message, text) if text == message else text

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self.base.ngettext(msgid1, msgid2, n)


def translator(lang: str) -> Translator:
    tr = Translator(lang)
    if lang == "zh":
        tr._t = _WithExport(tr._t)
    return tr


# ---- the data set ---------------------------------------------------------------------------


def utc(day: int, hour: int = 8, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Plant:
    u1: int
    u2: int
    u3: int
    zhang: int
    li: int
    wang: int
    zhao: int
    sun: int  # the anonymous reporter
    qian: int  # the committee member


async def add_item(
    db: Database,
    number: str,
    unit_id: int,
    authors: list[int],
    status: str,
    *,
    kind: str = ItemKind.IDEA,
    anonymous: bool = False,
    category: str | None = "technical",
    events: list[tuple[str, int | None, datetime, str | None, str | None, Decimal | None]],
    **fields: Any,
) -> int:
    async with db.write() as session:
        campaign = await campaigns.current(session)
        assert campaign
        category_id = None
        if category:
            category_id = await session.scalar(
                select(Category.id).where(
                    Category.campaign_id == campaign.id, Category.code == category
                )
            )
        submitted = events[0][2]
        item = Item(
            campaign_id=campaign.id,
            kind=kind,
            number=number,
            category_id=category_id if kind == ItemKind.IDEA else None,
            unit_id=unit_id,
            author_id=authors[0],
            anonymous=anonymous,
            title=fields.pop("title", f"标题 {number}"),
            status=status,
            submitted_at=submitted,
            stage_since=events[-1][2],
            updated_at=events[-1][2],
            **fields,
        )
        session.add(item)
        await session.flush()
        for position, member_id in enumerate(authors):
            session.add(
                ItemAuthor(item_id=item.id, member_id=member_id, is_submitter=position == 0)
            )
        previous: str | None = None
        for action, actor, at, to_status, reason, amount in events:
            session.add(
                ItemEvent(
                    item_id=item.id,
                    actor_id=actor,
                    action=action,
                    from_status=previous,
                    to_status=to_status,
                    reason=reason,
                    amount=amount,
                    created_at=at,
                )
            )
            previous = to_status or previous
        return item.id


async def build_plant(db: Database) -> Plant:
    await campaigns.ensure_default(db, NOW.date())
    u1 = (await seed_unit(db, "一车间", 100)).id
    u2 = (await seed_unit(db, "二车间", 0)).id  # headcount from its active members
    u3 = (await seed_unit(db, "三车间", 50)).id
    zhang = (await seed_member(db, 1, u1, "张三", group=MemberGroup.PARTY)).id
    li = (await seed_member(db, 2, u1, "李四", group=MemberGroup.LEAGUE)).id
    wang = (await seed_member(db, 3, u2, "王五")).id
    zhao = (await seed_member(db, 4, u2, "赵六")).id
    sun = (await seed_member(db, 5, u3, "孙匿名")).id
    qian = (await seed_member(db, 6, u3, "钱委员")).id
    async with db.write() as session:
        await session.execute(update(Member).where(Member.id == sun).values(username="sun_secret"))
        await session.execute(update(Member).where(Member.id == qian).values(is_committee=True))
    s, c, a = ItemStatus.FIRST_REVIEW, ItemStatus.COMMITTEE, ItemStatus.APPROVED
    y = Decimal
    # A co-authored idea: 1,000 between three authors; approved at 00:30 Beijing time.
    await add_item(
        db,
        "JY-2026-0001",
        u1,
        [zhang, li, wang],
        a,
        title="夜班加热避峰",
        claimed_amount=y("1200"),
        certified_amount=y("1000"),
        grade=Grade.GOLD,
        reward_amount=y("500"),
        approved_at=utc(1, 16, 30),
        events=[
            ("submit", zhang, utc(1, 2), s, None, y("1200")),
            ("forward", qian, utc(1, 5), c, "可行", None),
            ("approve", qian, utc(1, 16, 30), a, None, y("1000")),
        ],
    )
    # Verified: the verified amount is what counts.
    await add_item(
        db,
        "JY-2026-0002",
        u1,
        [zhang],
        ItemStatus.VERIFIED,
        category="energy",
        claimed_amount=y("5000"),
        certified_amount=y("3000"),
        verified_amount=y("4200.50"),
        grade=Grade.SILVER,
        reward_amount=y("200"),
        approved_at=utc(10, month=2),
        implemented_at=utc(15, month=2),
        verified_at=utc(1),
        events=[
            ("submit", zhang, utc(5, month=2), c, None, y("5000")),
            ("approve", qian, utc(10, month=2), a, None, y("3000")),
            ("implement", qian, utc(15, month=2), ItemStatus.IMPLEMENTED, None, None),
            ("verify", qian, utc(1), ItemStatus.VERIFIED, None, y("4200.50")),
        ],
    )
    await add_item(
        db,
        "JY-2026-0003",
        u2,
        [wang],
        ItemStatus.IMPLEMENTED,
        certified_amount=y("800"),
        approved_at=utc(20, month=2),
        implemented_at=utc(25, month=2),
        events=[
            ("submit", wang, utc(18, month=2), c, None, None),
            ("approve", qian, utc(20, month=2), a, None, y("800")),
            ("implement", qian, utc(25, month=2), ItemStatus.IMPLEMENTED, None, None),
        ],
    )
    await add_item(
        db,
        "JY-2026-0004",
        u2,
        [zhao],
        ItemStatus.REJECTED,
        claimed_amount=y("100"),
        closed_at=utc(1),
        events=[
            ("submit", zhao, utc(27, month=2), c, None, y("100")),
            ("reject", qian, utc(1), ItemStatus.REJECTED, "电价政策已变\x07", None),
        ],
    )
    await add_item(
        db,
        "JY-2026-0005",
        u1,
        [li],
        c,
        title='=HYPERLINK("http://example.com")',  # typed text, never a formula
        claimed_amount=y("200"),
        events=[("submit", li, utc(1, 9), c, None, y("200"))],
    )
    # The anonymous waste report: its reporter asks and answers, and is never named.
    await add_item(
        db,
        "LF-2026-0001",
        u2,
        [sun],
        ItemStatus.ACKNOWLEDGED,
        kind=ItemKind.WASTE,
        anonymous=True,
        category=None,
        title="水泵房长流水",
        place="二车间水泵房",
        events=[
            ("submit", sun, utc(1, 3), ItemStatus.REPORTED, None, None),
            ("ask", qian, utc(1, 4), ItemStatus.NEEDS_INFO, "具体位置？", None),
            ("answer", sun, utc(1, 5), ItemStatus.REPORTED, "东侧阀门", None),
            ("acknowledge", qian, utc(1, 6), ItemStatus.ACKNOWLEDGED, None, None),
        ],
    )
    await add_item(
        db,
        "LF-2026-0002",
        u3,
        [zhao],
        ItemStatus.FIXED,
        kind=ItemKind.WASTE,
        category=None,
        title="三车间灯不关",
        place="三车间仓库",
        closed_at=utc(2, 1),
        events=[
            ("submit", zhao, utc(1, 3), ItemStatus.REPORTED, None, None),
            ("fix", qian, utc(2, 1), ItemStatus.FIXED, "已加装定时器", None),
        ],
    )
    await add_item(
        db,
        "JY-2026-0006",
        u3,
        [qian],
        a,
        title="三车间废料回收",
        category="repair",
        certified_amount=y("2000"),
        approved_at=utc(1, 12),
        events=[
            ("submit", qian, utc(1, 10), c, None, None),
            ("approve", qian, utc(1, 12), a, None, y("2000")),
        ],
    )
    return Plant(u1, u2, u3, zhang, li, wang, zhao, sun, qian)


# ---- reading the workbook back ----------------------------------------------------------------


async def export(
    db: Database, lang: str, unit_ids: set[int] | None = None
) -> tuple[Workbook, ExportSummary, Translator]:
    tr = translator(lang)
    out = io.BytesIO()
    summary = await write_workbook(db, out, tr=tr, tz=TZ, now=NOW, unit_ids=unit_ids)
    out.seek(0)
    return load_workbook(out), summary, tr


def table(ws: Worksheet) -> list[dict[str, Any]]:
    """A sheet's data rows as dicts by header."""
    rows = list(ws.iter_rows(values_only=True))
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def summary_parts(ws: Worksheet) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    """The summary's facts (label -> value), the unit table's header and its rows."""
    rows = list(ws.iter_rows(values_only=True))
    blank = next(i for i, r in enumerate(rows) if all(v is None for v in r))
    facts = {str(r[0]): r[1] for r in rows[:blank]}
    header = [str(h) for h in rows[blank + 1]]
    return facts, header, [dict(zip(header, r, strict=False)) for r in rows[blank + 2 :]]


def every_value(wb: Workbook) -> list[str]:
    return [str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row]


def runs(keys: list[Any]) -> bool:
    """Equal keys are next to each other (sorted, whatever the collation)."""
    starts = [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
    return len(starts) == len(set(starts))


def by_number(rows: list[dict[str, Any]], tr: Translator) -> dict[str, dict[str, Any]]:
    return {r[tr.plain("Number")]: r for r in rows}


# ---- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_sheets_headers_and_formats(db_url: str, lang: str) -> None:
    db = Database(db_url)
    try:
        await build_plant(db)
        wb, summary, tr = await export(db, lang)
    finally:
        await db.dispose()
    expected_titles = {
        "zh": ["汇总", "节约台账", "节约记录", "全部项目", "审核记录"],
        "en": SHEETS,
    }[lang]
    assert wb.sheetnames == expected_titles
    for key, sheet in zip(["ledger", "records", "items", "history"], SHEETS[1:], strict=True):
        ws = wb[tr.plain(sheet)]
        header = [c.value for c in ws[1]]
        assert header == [tr.plain(h) for h in HEADERS[sheet]]
        assert all(c.font.b for c in ws[1])
        assert ws.freeze_panes == "A2"
        assert ws.max_row - 1 == summary.rows[key]
        assert ws.column_dimensions["A"].width > 8
    if lang == "zh":
        assert [c.value for c in wb["节约台账"][1]][:3] == ["单位", "编号", "标题"]
    assert summary.rows == {"summary": 3, "ledger": 4, "records": 6, "items": 8, "history": 21}

    money = {tr.plain(h) for h in MONEY}
    dates = {tr.plain(h) for h in DATES}
    yuan_format = YUAN_FORMATS[lang]
    seen = {"money": 0, "date": 0}

    def check(label: str, cell: Any) -> None:
        if cell.value is None:
            return
        if label in money:
            assert isinstance(cell.value, int | float), (label, cell.value)
            assert cell.number_format == yuan_format, (label, cell.number_format)
            seen["money"] += 1
        elif label in dates:
            assert isinstance(cell.value, datetime) and cell.value.tzinfo is None
            assert cell.number_format == "yyyy-mm-dd hh:mm"
            seen["date"] += 1
        else:
            assert cell.number_format != yuan_format, label

    for sheet in SHEETS[1:]:
        ws = wb[tr.plain(sheet)]
        header = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            for label, cell in zip(header, row, strict=True):
                check(label, cell)
    ws = wb[tr.plain("Summary")]
    rows = list(ws.iter_rows())
    blank = next(i for i, r in enumerate(rows) if all(c.value is None for c in r))
    for row in rows[:blank]:
        assert row[0].font.b
        check(row[0].value, row[1])
    unit_header = [c.value for c in rows[blank + 1]]
    assert unit_header == [tr.plain(h) for h in UNIT_TABLE]
    assert all(c.font.b for c in rows[blank + 1])
    for row in rows[blank + 2 :]:
        for label, cell in zip(unit_header, row, strict=False):
            check(label, cell)
    assert seen["money"] > 40 and seen["date"] > 30

    # Translated values: status, grade, kind, group, action.
    items = by_number(table(wb[tr.plain("All items")]), tr)
    words = {
        "zh": ("已通过，待实施", "🥇 金点子", "浪费现象反映", "党员", "评审通过"),
        "en": (
            "approved, to be implemented",
            "🥇 Gold idea",
            "Waste report",
            "Party member",
            "Approved",
        ),
    }[lang]
    assert items["JY-2026-0001"][tr.plain("Status")] == words[0]
    assert items["JY-2026-0001"][tr.plain("Grade")] == words[1]
    assert items["LF-2026-0001"][tr.plain("Kind")] == words[2]
    assert items["LF-2026-0001"][tr.plain("Grade")] is None
    records = table(wb[tr.plain("Worker records")])
    assert {r[tr.plain("Group")] for r in records if r[tr.plain("Worker")] == "张三"} == {words[3]}
    actions = {r[tr.plain("Action")] for r in table(wb[tr.plain("History")])}
    assert words[4] in actions


async def test_local_times_ledger_totals_shares_and_verified(db_url: str) -> None:
    db = Database(db_url)
    try:
        await build_plant(db)
        wb, summary, _tr = await export(db, "en")
    finally:
        await db.dispose()
    assert summary.certified_total == Decimal("6800.00")
    assert summary.counted_total == Decimal("8000.50")

    # 2026-03-01 16:30 UTC is 00:30 the next day in Shanghai.
    history = table(wb["History"])
    approve = next(
        r for r in history if r["Number"] == "JY-2026-0001" and r["Action"] == "Approved"
    )
    assert approve["Time"] == datetime(2026, 3, 2, 0, 30)
    assert approve["By"] == "钱委员"
    assert approve["From status"] == "with the review committee"
    assert approve["To status"] == "approved, to be implemented"
    assert approve["Amount"] == 1000
    reject = next(
        r for r in history if r["Number"] == "JY-2026-0004" and r["Action"] == "Not adopted"
    )
    assert reject["Reason"] == "电价政策已变"  # without the control character
    items = {r["Number"]: r for r in table(wb["All items"])}
    assert items["JY-2026-0005"]["Title"] == '=HYPERLINK("http://example.com")'
    assert wb["All items"]["F6"].data_type == "s"
    numbers = [r["Number"] for r in history]
    assert numbers == sorted(numbers)  # ideas, then waste reports, each in registration order
    first = [r["Time"] for r in history if r["Number"] == "JY-2026-0002"]
    assert first == sorted(first) and len(first) == 4

    ledger = table(wb["Unit ledgers"])
    assert runs([r["Unit"] for r in ledger])  # by unit (in the database's collation)
    assert [r["Number"] for r in ledger if r["Unit"] == "一车间"] == [
        "JY-2026-0002",  # approved 10 February
        "JY-2026-0001",  # approved 1 March
    ]
    rows = {r["Number"]: r for r in ledger}
    assert set(rows) == {"JY-2026-0001", "JY-2026-0002", "JY-2026-0003", "JY-2026-0006"}
    first_idea = rows["JY-2026-0001"]
    assert first_idea["Approved at"] == datetime(2026, 3, 2, 0, 30)
    assert first_idea["Authors"] == "张三、李四、王五"  # the submitter first
    assert first_idea["Category"] == "Technical innovation"
    assert (first_idea["Certified"], first_idea["Counted"], first_idea["Reward"]) == (
        1000,
        1000,
        500,
    )
    verified = rows["JY-2026-0002"]
    assert (verified["Certified"], verified["Verified"], verified["Counted"]) == (
        3000,
        4200.5,
        4200.5,
    )
    assert verified["Grade"] == "🥈 Silver idea"
    assert rows["JY-2026-0003"]["Grade"] == "No grade"
    assert rows["JY-2026-0003"]["Status"] == "implemented, effect being verified"
    certified_sum = sum(Decimal(str(r["Certified"])) for r in ledger)
    counted_sum = sum(Decimal(str(r["Counted"])) for r in ledger)
    assert certified_sum == summary.certified_total
    assert counted_sum == summary.counted_total

    facts, _header, units = summary_parts(wb["Summary"])
    assert facts["Campaign"].startswith("人均节约1000元")
    assert facts["Scope"] == "Whole plant"
    assert (facts["Target per head"], facts["Total target"]) == (1000, 1000000)
    assert facts["Generated at"] == datetime(2026, 3, 2, 16, 0)
    assert Decimal(str(facts["Certified savings"])) == summary.certified_total
    assert Decimal(str(facts["Counted savings"])) == summary.counted_total
    assert facts["Headcount"] == 100 + 2 + 50  # 二车间 has no headcount: its 2 active members
    assert (facts["Ideas submitted"], facts["Ideas approved"]) == (6, 4)
    assert facts["Counted per head"] == pytest.approx(52.63)  # 8,000.50 / 152
    assert facts["% of per-head target"] == pytest.approx(0.05263)
    assert facts["% of total target"] == pytest.approx(0.0080005)
    by_unit = {u["Unit"]: u for u in units}
    assert set(by_unit) == {"一车间", "二车间", "三车间"}
    assert [u["Unit"] for u in units] == list(dict.fromkeys(r["Unit"] for r in ledger))
    one = by_unit["一车间"]
    assert (one["Headcount"], one["Ideas submitted"], one["Ideas approved"]) == (100, 3, 2)
    assert (one["Certified savings"], one["Counted savings"]) == (4000, 5200.5)
    assert one["Counted per head"] == pytest.approx(52.01)
    assert (by_unit["二车间"]["Headcount"], by_unit["二车间"]["Open waste reports"]) == (2, 1)
    assert by_unit["三车间"]["Open waste reports"] == 0
    assert sum(u["Certified savings"] for u in units) == pytest.approx(6800)

    # Worker records: 1,000 between three authors is 333.33 each.
    records = table(wb["Worker records"])
    shares = {
        (r["Worker"], r["Number"]): (r["Number of authors"], r["Credited share"]) for r in records
    }
    assert shares[("张三", "JY-2026-0001")] == (3, 333.33)
    assert shares[("李四", "JY-2026-0001")] == (3, 333.33)
    assert shares[("王五", "JY-2026-0001")] == (3, 333.33)
    assert shares[("张三", "JY-2026-0002")] == (1, 4200.5)
    assert runs([r["Unit"] for r in records])
    assert runs([(r["Unit"], r["Worker"]) for r in records])
    wang = next(r for r in records if r["Worker"] == "王五" and r["Number"] == "JY-2026-0001")
    assert wang["Unit"] == "二车间"  # the worker's own unit
    zhang = [r["Number"] for r in records if r["Worker"] == "张三"]
    assert zhang == ["JY-2026-0002", "JY-2026-0001"]  # by approval time


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_the_anonymous_reporter_is_named_nowhere(db_url: str, lang: str) -> None:
    db = Database(db_url)
    try:
        plant = await build_plant(db)
        for unit_ids in (None, {plant.u1, plant.u2}):
            wb, _summary, tr = await export(db, lang, unit_ids)
            values = every_value(wb)
            assert not [v for v in values if "孙匿名" in v or "sun_secret" in v]
            items = by_number(table(wb[tr.plain("All items")]), tr)
            report = items["LF-2026-0001"]
            assert report[tr.plain("Authors")] is None
            assert report[tr.plain("Place")] == "二车间水泵房"
            history = [
                r for r in table(wb[tr.plain("History")]) if r[tr.plain("Number")] == "LF-2026-0001"
            ]
            assert [r[tr.plain("By")] for r in history] == [None, "钱委员", None, "钱委员"]
            assert history[2][tr.plain("Reason")] == "东侧阀门"
            # A report that is not anonymous names its reporter.
            if unit_ids is None:
                assert items["LF-2026-0002"][tr.plain("Authors")] == "赵六"
    finally:
        await db.dispose()


async def test_unit_filter_leaves_other_units_out(db_url: str) -> None:
    db = Database(db_url)
    try:
        plant = await build_plant(db)
        wb, summary, _tr = await export(db, "zh", {plant.u1, plant.u2})
    finally:
        await db.dispose()
    values = every_value(wb)
    for other in ("三车间", "JY-2026-0006", "LF-2026-0002", "三车间废料回收", "三车间仓库"):
        assert not [v for v in values if other in v], other
    assert summary.certified_total == Decimal("4800.00")
    assert summary.counted_total == Decimal("6000.50")
    assert summary.rows == {"summary": 2, "ledger": 3, "records": 5, "items": 6, "history": 17}
    facts, _header, units = summary_parts(wb["汇总"])
    assert facts["范围"] == "一车间、二车间"
    assert facts["人数"] == 102
    assert facts["认定节约额"] == 4800
    assert [u["单位"] for u in units] == ["一车间", "二车间"]
    ledger = table(wb["节约台账"])
    assert [r["单位"] for r in ledger] == ["一车间", "一车间", "二车间"]
    assert ledger[0]["类别"] == "节能降耗"
    numbers = {r["编号"] for r in table(wb["全部项目"])}
    assert numbers == {f"JY-2026-000{i}" for i in range(1, 6)} | {"LF-2026-0001"}


async def test_empty_campaign_has_headers_only(db_url: str) -> None:
    db = Database(db_url)
    try:
        with pytest.raises(ServiceError) as refused:
            await write_workbook(db, io.BytesIO(), tr=translator("en"), tz=TZ, now=NOW)
        assert refused.value.code == "no_campaign"
        await campaigns.ensure_default(db, NOW.date())
        wb, summary, _tr = await export(db, "zh")
    finally:
        await db.dispose()
    assert summary == ExportSummary(
        rows={"summary": 0, "ledger": 0, "records": 0, "items": 0, "history": 0},
        certified_total=Decimal("0.00"),
        counted_total=Decimal("0.00"),
    )
    assert wb.sheetnames == ["汇总", "节约台账", "节约记录", "全部项目", "审核记录"]
    for title in wb.sheetnames[1:]:
        assert wb[title].max_row == 1
    facts, header, units = summary_parts(wb["汇总"])
    assert header[0] == "单位" and units == []
    assert facts["范围"] == "全厂"
    assert facts["人数"] == 0 and facts["认定节约额"] == 0 and facts["人均目标完成率"] == 0


async def test_writes_to_a_path(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    try:
        await build_plant(db)
        path = tmp_path / "ledgers.xlsx"
        summary = await write_workbook(db, path, tr=translator("en"), tz=TZ, now=NOW)
    finally:
        await db.dispose()
    wb = load_workbook(path)
    assert wb["Unit ledgers"].max_row == summary.rows["ledger"] + 1


async def seed_many(db: Database, n: int) -> set[int]:
    """`n` items across five units, inserted in bulk: every fifth a counted idea with two
    authors and an event, the others bare waste reports. Returns the first unit's id."""
    await campaigns.ensure_default(db, NOW.date())
    async with db.write() as session:
        unit_ids = list(
            await session.scalars(
                insert(Unit).returning(Unit.id),
                [{"name": f"{i}号车间", "headcount": 40} for i in range(5)],
            )
        )
        campaign_id = await session.scalar(select(Campaign.id))
        category_id = await session.scalar(select(Category.id).limit(1))
        members = list(
            await session.scalars(
                insert(Member).returning(Member.id),
                [
                    {"telegram_id": 100 + i, "name": f"职工{i:03d}", "unit_id": unit_ids[i % 5]}
                    for i in range(50)
                ],
            )
        )
    start = utc(1, month=1)
    for first in range(0, n, 1000):
        batch = range(first, min(n, first + 1000))
        ideas = {i for i in batch if i % 5 == 0}
        async with db.write() as session:
            await session.execute(
                insert(Item),
                [
                    {
                        "id": i + 1,
                        "campaign_id": campaign_id,
                        "kind": ItemKind.IDEA if i in ideas else ItemKind.WASTE,
                        "number": f"X-2026-{i + 1:05d}",
                        "category_id": category_id if i in ideas else None,
                        "unit_id": unit_ids[i % 5],
                        "author_id": members[i % 50],
                        "title": f"第{i}号：" + "改进工艺流程，" * 4,
                        "body": "",
                        "status": ItemStatus.APPROVED if i in ideas else ItemStatus.REPORTED,
                        "certified_amount": Decimal(900 + i) if i in ideas else None,
                        "approved_at": start + timedelta(minutes=i) if i in ideas else None,
                        "submitted_at": start + timedelta(minutes=i),
                        "stage_since": start + timedelta(minutes=i),
                        "updated_at": start + timedelta(minutes=i),
                    }
                    for i in batch
                ],
            )
            await session.execute(
                insert(ItemAuthor),
                [
                    {"item_id": i + 1, "member_id": members[(i + k) % 50], "is_submitter": k == 0}
                    for i in batch
                    for k in ((0, 1) if i in ideas else (0,))
                ],
            )
            await session.execute(
                insert(ItemEvent),
                [
                    {
                        "item_id": i + 1,
                        "actor_id": members[i % 50],
                        "action": "approve",
                        "to_status": ItemStatus.APPROVED,
                        "amount": Decimal(900 + i),
                        "created_at": start + timedelta(minutes=i),
                    }
                    for i in ideas
                ],
            )
    return {unit_ids[0]}


async def held_peak(db: Database) -> int:
    """What holding the items would take: the traced peak of loading them as ORM objects."""
    tracemalloc.start()
    try:
        async with db.read() as session:
            held = (await session.scalars(select(Item))).all()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(held) > 0
    return peak


async def test_memory_stays_flat_for_thousands_of_items(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    try:
        await seed_many(db, 5000)
        held = await held_peak(db)
        tr = translator("zh")
        began = time.monotonic()
        tracemalloc.start()
        try:
            summary = await write_workbook(db, tmp_path / "big.xlsx", tr=tr, tz=TZ, now=NOW)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        elapsed = time.monotonic() - began
    finally:
        await db.dispose()
    assert summary.rows == {
        "summary": 5,
        "ledger": 1000,
        "records": 2000,
        "items": 5000,
        "history": 1000,
    }
    # Rows are streamed in batches, never held: the whole export needs less than half of
    # what holding just the items would (about 4 MB against 11 MB for 5,000 items).
    measured = f"export peak {peak / 2**20:.1f} MB, items {held / 2**20:.1f} MB, {elapsed:.1f} s"
    assert peak < 60 * 2**20, measured
    assert peak < held / 2, measured
    wb = load_workbook(tmp_path / "big.xlsx", read_only=True)
    assert wb.sheetnames[3] == "全部项目"
    wb.close()


def test_every_new_text_has_a_chinese_translation() -> None:
    """The export's texts are all in the zh catalog or in ZH (to be added to the catalogs)."""
    source = (ROOT / "bot" / "services" / "export.py").read_text()
    texts = set(re.findall(r'tr\.plain\(\s*"([^"]+)"', source))
    assert len(texts) > 30
    plain = Translator("zh")
    missing = [t for t in texts if t not in ZH and plain.plain(t) == t]
    assert not missing
    assert not set(ZH) - texts, "ZH has texts the export does not use"
