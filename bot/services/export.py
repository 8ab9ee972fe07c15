"""The campaign's ledgers as an XLSX workbook: a summary, the unit ledgers (节约台账), the
worker records (节约记录), every item and the review history (审核记录).

Rows are streamed from the database in batches and written as they come, sheet after sheet,
into the zip of the workbook (a temporary file), so memory stays flat however many items there
are. The sheets' XML is written here (text as inline strings, a few styles): making openpyxl
cell objects took about ten times as long, minutes of CPU for a big plant.
Everything is read in one transaction (a repeatable-read snapshot on PostgreSQL), so the sheets
agree with each other. An anonymous reporter is never named: their name is not even selected.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Executable,
    and_,
    case,
    exists,
    func,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncResult, AsyncSession
from sqlalchemy.orm import aliased

from bot.i18n import Translator
from bot.services.campaigns import current
from bot.services.errors import ServiceError
from bot.services.figures import COUNTED_STATUSES, author_counts, counted_fen
from bot.texts import ACTIONS, GRADES, STATUSES, group_name
from storage.db import Database, one_of
from storage.models import (
    Campaign,
    Category,
    Grade,
    Item,
    ItemAuthor,
    ItemEvent,
    ItemKind,
    Member,
    MemberStatus,
    Unit,
)

BATCH = 1000  # rows fetched from the database at a time
AUTHOR_SEPARATOR = "、"
DATE_FORMAT = "yyyy-mm-dd hh:mm"
PERCENT_FORMAT = "0.0%"
YUAN_FORMATS = {"zh": '#,##0.00 "元"', "en": '"¥"#,##0.00'}
YUAN = Decimal("0.01")
T = TypeVar("T")

# A result row (typed differently by SQLAlchemy 2.0 and 2.1; it is a tuple with named columns).
DbRow = Any


@dataclass(frozen=True)
class ExportSummary:
    rows: dict[str, int]  # sheet key -> data rows written ("summary": one per unit)
    certified_total: Decimal  # certified amounts of the counted ideas exported
    counted_total: Decimal  # their counted amounts (verified if any, else certified)


# Cell kinds: how a value is written.
TEXT, NUMBER, MONEY, DATE, PERCENT = "text", "number", "money", "date", "percent"


@dataclass(frozen=True)
class Column:
    title: str
    width: float
    kind: str = TEXT


# Styles of cells (the workbook's cellXfs, in this order): plain, bold, then number formats.
PLAIN, BOLD, DATE_STYLE, MONEY_STYLE, PERCENT_STYLE = range(5)
STYLES = {DATE: DATE_STYLE, MONEY: MONEY_STYLE, PERCENT: PERCENT_STYLE}
# Characters XML 1.0 cannot hold (a pasted control character would break the whole file).
ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _text(value: str) -> str:
    """A text cell's content: what people typed, never a formula (inline strings are text)."""
    if ILLEGAL_XML.search(value):
        value = ILLEGAL_XML.sub("", value)
    if value[:1].isspace() or value[-1:].isspace():
        return f'<is><t xml:space="preserve">{escape(value)}</t></is>'
    return f"<is><t>{escape(value)}</t></is>"


class Book:
    """An XLSX package written sheet by sheet into a temporary zip; `save` copies it out."""

    def __init__(self, money_format: str) -> None:
        self.money_format = money_format
        self.file = tempfile.TemporaryFile()
        self.zip = zipfile.ZipFile(self.file, "w", zipfile.ZIP_DEFLATED)
        self.titles: list[str] = []
        self.stream: IO[bytes] | None = None

    def open_sheet(self, title: str) -> IO[bytes]:
        """The stream of a new sheet's XML (the sheet before it is finished first)."""
        self.close_sheet()
        self.titles.append(title)
        name = f"xl/worksheets/sheet{len(self.titles)}.xml"
        self.stream = self.zip.open(name, "w")
        return self.stream

    def close_sheet(self) -> None:
        if self.stream is not None:
            self.stream.write(b"</sheetData></worksheet>")
            self.stream.close()
            self.stream = None

    def save(self, out: Path | BinaryIO) -> None:
        """Finish the package and copy it to `out` (blocking: call from a thread)."""
        self.close_sheet()
        for name, xml in self._parts().items():
            self.zip.writestr(name, XML_HEAD + xml)
        self.zip.close()
        self.file.seek(0)
        if isinstance(out, Path):
            with out.open("wb") as f:
                shutil.copyfileobj(self.file, f)
        else:
            shutil.copyfileobj(self.file, out)
        self.file.close()

    def discard(self) -> None:
        """Drop a workbook that will never be saved."""
        try:
            if self.stream is not None:
                self.stream.close()
            self.zip.close()
        except Exception:  # the temporary file goes anyway
            pass
        self.file.close()

    def _parts(self) -> dict[str, str]:
        n = len(self.titles)
        sheets = "".join(
            f'<sheet name={quoteattr(title)} sheetId="{i}" r:id="rId{i}"/>'
            for i, title in enumerate(self.titles, 1)
        )
        sheet_rels = "".join(
            f'<Relationship Id="rId{i}" Target="worksheets/sheet{i}.xml" '
            f'Type="{REL_NS}/worksheet"/>'
            for i in range(1, n + 1)
        )
        sheet_types = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, n + 1)
        )
        formats = [(164, DATE_FORMAT), (165, self.money_format), (166, PERCENT_FORMAT)]
        numfmts = "".join(f'<numFmt numFmtId="{i}" formatCode={quoteattr(f)}/>' for i, f in formats)
        xfs = '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        xfs += '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        xfs += "".join(
            f'<xf numFmtId="{i}" fontId="0" fillId="0" borderId="0" xfId="0" '
            'applyNumberFormat="1"/>'
            for i, _ in formats
        )
        font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
        return {
            "[Content_Types].xml": (
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" '
                'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/styles.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                f"{sheet_types}</Types>"
            ),
            "_rels/.rels": (
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                'relationships"><Relationship Id="rId1" Target="xl/workbook.xml" '
                f'Type="{REL_NS}/officeDocument"/></Relationships>'
            ),
            "xl/workbook.xml": (
                f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><bookViews><workbookView/>'
                f"</bookViews><sheets>{sheets}</sheets></workbook>"
            ),
            "xl/_rels/workbook.xml.rels": (
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                f'relationships">{sheet_rels}<Relationship Id="rId{n + 1}" '
                f'Target="styles.xml" Type="{REL_NS}/styles"/></Relationships>'
            ),
            "xl/styles.xml": (
                f'<styleSheet xmlns="{MAIN_NS}">'
                f'<numFmts count="{len(formats)}">{numfmts}</numFmts>'
                f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
                '<fills count="2"><fill><patternFill patternType="none"/></fill>'
                '<fill><patternFill patternType="gray125"/></fill></fills>'
                '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
                "</borders>"
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
                f'</cellStyleXfs><cellXfs count="{2 + len(formats)}">{xfs}</cellXfs>'
                '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
                "</cellStyles></styleSheet>"
            ),
        }


class Sheet:
    """A sheet written as it goes: a bold, frozen header row, then typed rows."""

    def __init__(
        self,
        book: Book,
        title: str,
        columns: Sequence[Column],
        *,
        tz: ZoneInfo,
        header: bool = True,
    ) -> None:
        self.stream = book.open_sheet(title)
        self.tz = tz
        self.rows = 0  # data rows (`append`)
        self.next_row = 1
        self.kinds = [c.kind for c in columns]
        self.styles = [STYLES.get(c.kind, PLAIN) for c in columns]
        self.letters = [get_column_letter(i) for i in range(1, len(columns) + 2)]
        pane = '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{c.width}" customWidth="1"/>'
            for i, c in enumerate(columns, 1)
        )
        self.stream.write(
            (
                f'{XML_HEAD}<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheetViews>'
                f'<sheetView workbookViewId="0">{pane if header else ""}</sheetView>'
                f'</sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols>'
                "<sheetData>"
            ).encode()
        )
        if header:
            self.write([(c.title, BOLD) for c in columns])

    def local(self, value: datetime) -> datetime:
        """Excel has no time zones: local times without one."""
        return value.astimezone(self.tz).replace(tzinfo=None)

    def _cell(self, column: int, row: int, value: Any, style: int) -> str:
        ref = f"{self.letters[column]}{row}"
        s = f' s="{style}"' if style else ""
        if isinstance(value, str):
            return f'<c r="{ref}"{s} t="inlineStr">{_text(value)}</c>'
        if isinstance(value, datetime):
            value = to_excel(self.local(value))
        if isinstance(value, bool):
            return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
        if isinstance(value, float):
            return f'<c r="{ref}"{s}><v>{value!r}</v></c>'
        return f'<c r="{ref}"{s}><v>{value}</v></c>'

    def _row(self, cells: Iterable[tuple[Any, int]]) -> str:
        r = self.next_row
        self.next_row += 1
        body = "".join(
            self._cell(c, r, value, style)
            for c, (value, style) in enumerate(cells)
            if value is not None
        )
        return f'<row r="{r}">{body}</row>'

    def write(self, cells: Sequence[tuple[Any, int]]) -> None:
        """A row of (value, style) cells, as given."""
        self.stream.write(self._row(cells).encode())

    def skip(self) -> None:
        """An empty row."""
        self.next_row += 1

    def typed(self, kind: str, value: Any) -> tuple[Any, int]:
        """A value with the style of its kind."""
        return value, STYLES.get(kind, PLAIN)

    def append(self, values: Sequence[Any]) -> None:
        """Append a data row, each value styled as its column."""
        self.write(list(zip(values, self.styles, strict=True)))
        self.rows += 1

    def extend(self, rows: Iterable[Sequence[Any]]) -> None:
        parts = []
        for values in rows:
            parts.append(self._row(zip(values, self.styles, strict=True)))
            self.rows += 1
        self.stream.write("".join(parts).encode())

    async def fill(self, batches: AsyncIterator[Sequence[T]], row: Callable[[T], list[Any]]) -> int:
        """Write the rows made by `row` from each batch, batch by batch. Making and writing
        rows is pure-Python work: it runs in a worker thread (one batch at a time, never two),
        so the bot keeps answering during a big export."""
        async for batch in batches:
            await asyncio.to_thread(self.extend, map(row, batch))
        return self.rows


def fen_to_yuan(fen: Any) -> Decimal:
    return (Decimal(int(fen or 0)) / 100).quantize(YUAN)


def per_head(amount: Decimal, headcount: int) -> Decimal:
    if headcount <= 0:
        return Decimal("0.00")
    return (amount / headcount).quantize(YUAN, rounding=ROUND_HALF_UP)


def ratio(part: Decimal, whole: Decimal) -> float:
    """`part` as a fraction of `whole` (shown as a percentage), 0 without a whole."""
    return float(part / whole) if whole > 0 else 0.0


async def _batches(session: AsyncSession, query: Executable) -> AsyncIterator[Sequence[DbRow]]:
    """The query's rows in batches from a server-side cursor: only one batch is in memory."""
    result: AsyncResult[Any] = await session.stream(query.execution_options(yield_per=BATCH))
    try:
        async for batch in result.partitions():
            yield batch
    finally:
        await result.close()


Authored = tuple[DbRow, str]  # an item's row and its authors' names


async def _with_authors(batches: AsyncIterator[Sequence[DbRow]]) -> AsyncIterator[list[Authored]]:
    """Batches of item x author rows (ordered by item, then author; the author's name last)
    as batches of one row per item with its authors' names joined. An item whose authors may
    go on in the next batch waits for it."""
    first: DbRow | None = None
    names: list[str] = []
    async for batch in batches:
        done: list[Authored] = []
        for row in batch:
            if first is not None and row.item_id != first.item_id:
                done.append((first, AUTHOR_SEPARATOR.join(names)))
                first, names = None, []
            if first is None:
                first = row
            if row[-1] is not None:
                names.append(row[-1])
        if done:
            yield done
    if first is not None:
        yield [(first, AUTHOR_SEPARATOR.join(names))]


def _by_number() -> list[Any]:
    """Items in registration order: per kind, "JY-2026-0002" before "JY-2026-10000"."""
    return [Item.kind, func.length(Item.number), Item.number, Item.id]


def _by_author() -> list[Any]:
    """An item's authors: the submitter first, then by name."""
    return [ItemAuthor.is_submitter.desc(), Member.name, Member.id]


def _named_author() -> ColumnElement[bool]:
    """Join condition for an item's authors that finds none on an anonymous report."""
    return and_(ItemAuthor.item_id == Item.id, Item.anonymous.is_(False))


async def write_workbook(
    db: Database,
    out: Path | BinaryIO,
    *,
    tr: Translator,
    tz: ZoneInfo,
    now: datetime,
    unit_ids: set[int] | None = None,
) -> ExportSummary:
    """Write the active campaign's workbook to `out` in the translator's language; with
    `unit_ids` (an assessor's units) only the items of those units are exported."""
    book = Book(YUAN_FORMATS.get(tr.lang, YUAN_FORMATS["en"]))
    try:
        async with db.read(own=True) as session:
            if not db.is_sqlite:
                # One snapshot for every statement: the sheets add up even while people work.
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            campaign = await current(session)
            if campaign is None:
                raise ServiceError("no_campaign")
            writer = _Writer(book, session, campaign, tr, tz, unit_ids)
            rows = {"summary": await writer.summary(now)}
            rows["ledger"], certified, counted = await writer.ledger()
            rows["records"] = await writer.records()
            rows["items"] = await writer.items()
            rows["history"] = await writer.history()
    except BaseException:  # an error or a cancellation: nothing is saved
        book.discard()
        raise
    # Finishing the zip and copying it out: off the event loop.
    await asyncio.to_thread(book.save, out)
    return ExportSummary(rows=rows, certified_total=certified, counted_total=counted)


class _Writer:
    """Writes the sheets of one workbook from one session."""

    def __init__(
        self,
        book: Book,
        session: AsyncSession,
        campaign: Campaign,
        tr: Translator,
        tz: ZoneInfo,
        unit_ids: set[int] | None,
    ) -> None:
        self.book = book
        self.session = session
        self.campaign = campaign
        self.tr = tr
        self.tz = tz
        self.unit_ids = unit_ids
        self.category = Category.name_zh if tr.lang == "zh" else Category.name_en

    def sheet(self, title: str, columns: Sequence[Column], *, header: bool = True) -> Sheet:
        return Sheet(self.book, title, columns, tz=self.tz, header=header)

    def in_scope(self) -> list[ColumnElement[bool]]:
        """The campaign's items, of the chosen units if any."""
        scope = [Item.campaign_id == self.campaign.id]
        if self.unit_ids is not None:
            scope.append(Item.unit_id.in_(sorted(self.unit_ids)))
        return scope

    def counted(self) -> list[ColumnElement[bool]]:
        return [*self.in_scope(), Item.kind == ItemKind.IDEA, one_of(Item.status, COUNTED_STATUSES)]

    def status(self, status: str | None) -> str | None:
        if status is None:
            return None
        return self.tr.plain(STATUSES[status]) if status in STATUSES else status

    def action(self, action: str) -> str:
        return self.tr.plain(ACTIONS[action]) if action in ACTIONS else action

    def grade(self, grade: str) -> str:
        return self.tr.plain(GRADES.get(grade, GRADES[Grade.NONE]))

    # ---- 1. summary ---------------------------------------------------------------------------

    async def summary(self, now: datetime) -> int:
        """The campaign, the plant (or the chosen units) against both targets, then one line
        per unit; returns the number of unit lines."""
        tr, campaign = self.tr, self.campaign
        units = await self._unit_lines()
        headcount = sum(u[1] for u in units)
        submitted = sum(u[2] for u in units)
        approved = sum(u[3] for u in units)
        certified = sum((u[4] for u in units), Decimal("0.00"))
        counted = sum((u[5] for u in units), Decimal("0.00"))
        plant_per_head = per_head(counted, headcount)
        if self.unit_ids is None:
            scope = tr.plain("Whole plant")
        else:
            scope = AUTHOR_SEPARATOR.join(u[0] for u in units)
        table = [
            Column(tr.plain("Unit"), 24),
            Column(tr.plain("Headcount"), 12, NUMBER),
            Column(tr.plain("Ideas submitted"), 14, NUMBER),
            Column(tr.plain("Ideas approved"), 14, NUMBER),
            Column(tr.plain("Certified savings"), 18, MONEY),
            Column(tr.plain("Counted savings"), 18, MONEY),
            Column(tr.plain("Counted per head"), 16, MONEY),
            Column(tr.plain("% of per-head target"), 16, PERCENT),
            Column(tr.plain("Open waste reports"), 16, NUMBER),
        ]
        sheet = self.sheet(tr.plain("Summary"), table, header=False)
        facts: list[tuple[str, Any, str]] = [
            (tr.plain("Campaign"), campaign.name, TEXT),
            (tr.plain("Scope"), scope, TEXT),
            (tr.plain("Target per head"), campaign.per_head_target, MONEY),
            (tr.plain("Total target"), campaign.total_target, MONEY),
            (tr.plain("Generated at"), now, DATE),
            (tr.plain("Headcount"), headcount, NUMBER),
            (tr.plain("Ideas submitted"), submitted, NUMBER),
            (tr.plain("Ideas approved"), approved, NUMBER),
            (tr.plain("Certified savings"), certified, MONEY),
            (tr.plain("Counted savings"), counted, MONEY),
            (tr.plain("Counted per head"), plant_per_head, MONEY),
            (
                tr.plain("% of per-head target"),
                ratio(plant_per_head, campaign.per_head_target),
                PERCENT,
            ),
            (tr.plain("% of total target"), ratio(counted, campaign.total_target), PERCENT),
        ]
        for label, value, kind in facts:
            sheet.write([(label, BOLD), sheet.typed(kind, value)])
        sheet.skip()
        sheet.write([(c.title, BOLD) for c in table])
        for unit in units:
            unit_per_head = per_head(unit[5], unit[1])
            sheet.append(
                [*unit[:6], unit_per_head, ratio(unit_per_head, campaign.per_head_target), unit[6]]
            )
        return sheet.rows

    async def _unit_lines(self) -> list[tuple[str, int, int, int, Decimal, Decimal, int]]:
        """Per unit by name: headcount (as set, else its active members), ideas submitted and
        approved, certified and counted savings, open waste reports. Units are few: one list."""
        idea = Item.kind == ItemKind.IDEA
        counted = and_(idea, one_of(Item.status, COUNTED_STATUSES))
        certified_fen = func.coalesce(type_coerce(Item.certified_amount, BigInteger), 0)
        items = (
            select(
                Item.unit_id.label("unit_id"),
                func.count(case((idea, 1))).label("submitted"),
                func.count(case((counted, 1))).label("approved"),
                func.sum(case((counted, certified_fen), else_=0)).label("certified"),
                func.sum(case((counted, counted_fen()), else_=0)).label("counted"),
                func.count(
                    case((and_(Item.kind == ItemKind.WASTE, Item.closed_at.is_(None)), 1))
                ).label("open_waste"),
            )
            .where(*self.in_scope())
            .group_by(Item.unit_id)
            .subquery("unit_items")
        )
        people = (
            select(Member.unit_id.label("unit_id"), func.count().label("n"))
            .where(Member.status == MemberStatus.ACTIVE)
            .group_by(Member.unit_id)
            .subquery("unit_people")
        )
        headcount = case((Unit.headcount > 0, Unit.headcount), else_=func.coalesce(people.c.n, 0))
        if self.unit_ids is None:
            # Archived units only while they have items.
            listed = or_(Unit.archived.is_(False), items.c.unit_id.is_not(None))
        else:
            listed = Unit.id.in_(sorted(self.unit_ids))
        rows = await self.session.execute(
            select(
                Unit.name,
                headcount,
                func.coalesce(items.c.submitted, 0),
                func.coalesce(items.c.approved, 0),
                func.coalesce(items.c.certified, 0),
                func.coalesce(items.c.counted, 0),
                func.coalesce(items.c.open_waste, 0),
            )
            .outerjoin(items, items.c.unit_id == Unit.id)
            .outerjoin(people, people.c.unit_id == Unit.id)
            .where(listed)
            .order_by(Unit.name, Unit.id)
        )
        return [
            (r[0], int(r[1]), int(r[2]), int(r[3]), fen_to_yuan(r[4]), fen_to_yuan(r[5]), int(r[6]))
            for r in rows
        ]

    # ---- 2. unit ledgers (节约台账) -------------------------------------------------------------

    async def ledger(self) -> tuple[int, Decimal, Decimal]:
        """One row per counted idea, by unit, then approval time; returns the rows written and
        the certified and counted totals."""
        tr = self.tr
        sheet = self.sheet(
            tr.plain("Unit ledgers"),
            [
                Column(tr.plain("Unit"), 18),
                Column(tr.plain("Number"), 16),
                Column(tr.plain("Title"), 40),
                Column(tr.plain("Category"), 14),
                Column(tr.plain("Authors"), 22),
                Column(tr.plain("Approved at"), 17, DATE),
                Column(tr.plain("Claimed"), 15, MONEY),
                Column(tr.plain("Certified"), 15, MONEY),
                Column(tr.plain("Verified"), 15, MONEY),
                Column(tr.plain("Counted"), 15, MONEY),
                Column(tr.plain("Grade"), 12),
                Column(tr.plain("Reward"), 13, MONEY),
                Column(tr.plain("Status"), 22),
            ],
        )
        query = (
            select(
                Item.id.label("item_id"),
                Unit.name,
                Item.number,
                Item.title,
                self.category,
                Item.approved_at,
                Item.claimed_amount,
                Item.certified_amount,
                Item.verified_amount,
                counted_fen(),
                Item.grade,
                Item.reward_amount,
                Item.status,
                Member.name,
            )
            .join(Unit, Unit.id == Item.unit_id)
            .outerjoin(Category, Category.id == Item.category_id)
            .outerjoin(ItemAuthor, _named_author())
            .outerjoin(Member, Member.id == ItemAuthor.member_id)
            .where(*self.counted())
            .order_by(
                Unit.name, Unit.id, Item.approved_at.asc().nulls_last(), Item.id, *_by_author()
            )
        )
        totals = [Decimal("0.00"), Decimal("0.00")]  # certified, counted

        def row(item: Authored) -> list[Any]:
            r, authors = item
            counted = fen_to_yuan(r[9])
            totals[0] += r[7] or 0
            totals[1] += counted
            return [
                r[1],
                r[2],
                r[3],
                r[4],
                authors or None,
                r[5],
                r[6],
                r[7],
                r[8],
                counted,
                self.grade(r[10]),
                r[11],
                self.status(r[12]),
            ]

        rows = await sheet.fill(_with_authors(_batches(self.session, query)), row)
        return rows, totals[0], totals[1]

    # ---- 3. worker records (节约记录) -----------------------------------------------------------

    async def records(self) -> int:
        """One row per author of a counted idea, by the worker's unit, name, approval time;
        each author is credited an equal share."""
        tr = self.tr
        sheet = self.sheet(
            tr.plain("Worker records"),
            [
                Column(tr.plain("Worker"), 14),
                Column(tr.plain("Unit"), 18),
                Column(tr.plain("Group"), 12),
                Column(tr.plain("Number"), 16),
                Column(tr.plain("Title"), 40),
                Column(tr.plain("Approved at"), 17, DATE),
                Column(tr.plain("Number of authors"), 12, NUMBER),
                Column(tr.plain("Credited share"), 16, MONEY),
            ],
        )
        counts = author_counts()
        worker_unit = aliased(Unit)
        query = (
            select(
                Member.name,
                worker_unit.name,
                Member.group,
                Item.number,
                Item.title,
                Item.approved_at,
                counts.c.n,
                counted_fen(),
            )
            .select_from(ItemAuthor)
            .join(Item, _named_author())
            .join(Member, Member.id == ItemAuthor.member_id)
            .join(counts, counts.c.item_id == Item.id)
            .outerjoin(worker_unit, worker_unit.id == Member.unit_id)
            .where(*self.counted())
            .order_by(
                worker_unit.name.asc().nulls_last(),
                Member.name,
                Member.id,
                Item.approved_at.asc().nulls_last(),
                Item.id,
            )
        )

        def row(r: DbRow) -> list[Any]:
            n = int(r[6])
            share = (Decimal(int(r[7])) / n / 100).quantize(YUAN, rounding=ROUND_HALF_UP)
            return [r[0], r[1], group_name(tr, r[2]), r[3], r[4], r[5], n, share]

        return await sheet.fill(_batches(self.session, query), row)

    # ---- 4. all items -------------------------------------------------------------------------

    async def items(self) -> int:
        """Every idea and waste report in registration order; no author on anonymous ones."""
        tr = self.tr
        sheet = self.sheet(
            tr.plain("All items"),
            [
                Column(tr.plain("Number"), 16),
                Column(tr.plain("Kind"), 12),
                Column(tr.plain("Status"), 22),
                Column(tr.plain("Unit"), 18),
                Column(tr.plain("Category"), 14),
                Column(tr.plain("Title"), 40),
                Column(tr.plain("Place"), 18),
                Column(tr.plain("Authors"), 22),
                Column(tr.plain("Submitted at"), 17, DATE),
                Column(tr.plain("Stage since"), 17, DATE),
                Column(tr.plain("Claimed"), 15, MONEY),
                Column(tr.plain("Certified"), 15, MONEY),
                Column(tr.plain("Verified"), 15, MONEY),
                Column(tr.plain("Grade"), 12),
                Column(tr.plain("Reward"), 13, MONEY),
            ],
        )
        kinds = {ItemKind.IDEA: tr.plain("Idea"), ItemKind.WASTE: tr.plain("Waste report")}
        query = (
            select(
                Item.id.label("item_id"),
                Item.number,
                Item.kind,
                Item.status,
                Unit.name,
                self.category,
                Item.title,
                Item.place,
                Item.submitted_at,
                Item.stage_since,
                Item.claimed_amount,
                Item.certified_amount,
                Item.verified_amount,
                Item.grade,
                Item.reward_amount,
                Member.name,
            )
            .join(Unit, Unit.id == Item.unit_id)
            .outerjoin(Category, Category.id == Item.category_id)
            .outerjoin(ItemAuthor, _named_author())
            .outerjoin(Member, Member.id == ItemAuthor.member_id)
            .where(*self.in_scope())
            .order_by(*_by_number(), *_by_author())
        )

        def row(item: Authored) -> list[Any]:
            r, authors = item
            return [
                r[1],
                kinds.get(r[2], r[2]),
                self.status(r[3]),
                r[4],
                r[5],
                r[6],
                r[7],
                authors or None,
                r[8],
                r[9],
                r[10],
                r[11],
                r[12],
                self.grade(r[13]) if r[2] == ItemKind.IDEA else None,
                r[14],
            ]

        return await sheet.fill(_with_authors(_batches(self.session, query)), row)

    # ---- 5. history (审核记录) -----------------------------------------------------------------

    async def history(self) -> int:
        """Every recorded event by item number, then time. On an anonymous report the actor is
        left blank whenever it is one of its authors."""
        tr = self.tr
        sheet = self.sheet(
            tr.plain("History"),
            [
                Column(tr.plain("Number"), 16),
                Column(tr.plain("Time"), 17, DATE),
                Column(tr.plain("Action"), 22),
                Column(tr.plain("By"), 14),
                Column(tr.plain("From status"), 22),
                Column(tr.plain("To status"), 22),
                Column(tr.plain("Reason"), 40),
                Column(tr.plain("Amount"), 15, MONEY),
            ],
        )
        by_author = or_(
            ItemEvent.actor_id == Item.author_id,
            exists().where(
                ItemAuthor.item_id == ItemEvent.item_id,
                ItemAuthor.member_id == ItemEvent.actor_id,
            ),
        )
        actor = case((and_(Item.anonymous.is_(True), by_author), null()), else_=Member.name)
        query = (
            select(
                Item.number,
                ItemEvent.created_at,
                ItemEvent.action,
                actor,
                ItemEvent.from_status,
                ItemEvent.to_status,
                ItemEvent.reason,
                ItemEvent.amount,
            )
            .join(Item, Item.id == ItemEvent.item_id)
            .outerjoin(Member, Member.id == ItemEvent.actor_id)
            .where(*self.in_scope())
            .order_by(*_by_number(), ItemEvent.created_at, ItemEvent.id)
        )

        def row(r: DbRow) -> list[Any]:
            return [
                r[0],
                r[1],
                self.action(r[2]),
                r[3],
                self.status(r[4]),
                self.status(r[5]),
                r[6],
                r[7],
            ]

        return await sheet.fill(_batches(self.session, query), row)
