"""Bulk import of units and members from CSV or XLSX: all rows, or none when any is wrong."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import ledger
from bot.services.audit import record_admin
from bot.services.people import MAX_NAME, settle_headcount
from bot.services.units import MAX_HEADCOUNT, MAX_UNIT_NAME, name_key
from storage.db import Database
from storage.models import Member, MemberGroup, MemberStatus, Unit

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000

# Header names accepted for each column (lower-cased, spaces removed).
HEADERS = {
    "name": {"name", "姓名", "名称", "单位名称", "unitname"},
    "headcount": {"headcount", "人数", "职工人数", "在册人数"},
    "unit": {"unit", "单位", "车间", "部门", "所在单位"},
    "group": {"group", "分组", "政治面貌", "类别"},
    "username": {"username", "telegram", "用户名", "telegram用户名"},
}
GROUP_VALUES = {
    "party": MemberGroup.PARTY,
    "党员": MemberGroup.PARTY,
    "中共党员": MemberGroup.PARTY,
    "partymember": MemberGroup.PARTY,
    "预备党员": MemberGroup.PARTY,
    "league": MemberGroup.LEAGUE,
    "团员": MemberGroup.LEAGUE,
    "共青团员": MemberGroup.LEAGUE,
    "youthleague": MemberGroup.LEAGUE,
    "youthleaguemember": MemberGroup.LEAGUE,
    "staff": MemberGroup.STAFF,
    "群众": MemberGroup.STAFF,
    "other": MemberGroup.STAFF,
    "otherstaff": MemberGroup.STAFF,
    "": MemberGroup.STAFF,
}


@dataclass
class ImportError_:
    """One problem, tied to its place in the file."""

    sheet: str | None
    line: int
    code: str
    value: str = ""


@dataclass
class ImportResult:
    units_created: int = 0
    units_updated: int = 0
    members_created: int = 0
    members_updated: int = 0
    errors: list[ImportError_] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _UnitRow:
    line: int
    name: str
    headcount: int


@dataclass
class _MemberRow:
    sheet: str | None
    line: int
    name: str
    unit: str
    group: str
    username: str | None


def _norm(header: object) -> str:
    return "".join(str(header or "").split()).lower().replace("_", "")


def _column_map(headers: list[object]) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for index, header in enumerate(headers):
        key = _norm(header)
        for column, names in HEADERS.items():
            if key in names and column not in mapping:
                mapping[column] = index
    return mapping


def _sheets(filename: str, data: bytes) -> Iterator[tuple[str | None, list[list[object]]]]:
    """Rows of every sheet (one for CSV); raises ValueError for an unreadable file."""
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise ValueError("unreadable") from exc
        for sheet in book.worksheets:
            yield sheet.title, [list(row) for row in sheet.iter_rows(values_only=True)]
        book.close()
        return
    if not filename.lower().endswith(".csv"):
        raise ValueError("unsupported")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError("unreadable")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:  # newline="": a carriage return inside a field is data, not an error
        rows: list[list[object]] = [
            list(row) for row in csv.reader(io.StringIO(text, newline=""), dialect)
        ]
    except csv.Error as exc:
        raise ValueError("unreadable") from exc
    yield None, rows


def _cell(row: list[object], index: int | None) -> str:
    if index is None or index >= len(row) or row[index] is None:
        return ""
    value = row[index]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # NUL is no text (PostgreSQL refuses it): a blank like any other.
    return " ".join(str(value).replace("\x00", " ").split())


def parse(filename: str, data: bytes) -> tuple[list[_UnitRow], list[_MemberRow], ImportResult]:
    """Read and check every row; problems go to the result's errors."""
    result = ImportResult()
    unit_rows: list[_UnitRow] = []
    member_rows: list[_MemberRow] = []
    if len(data) > MAX_BYTES:
        result.errors.append(ImportError_(None, 0, "too_big"))
        return unit_rows, member_rows, result
    try:
        sheets = list(_sheets(filename, data))
    except ValueError as exc:
        result.errors.append(ImportError_(None, 0, str(exc)))
        return unit_rows, member_rows, result
    total = 0
    seen: set[tuple[str, str]] = set()  # unit names and usernames so far, as compared
    for sheet, rows in sheets:
        if not rows:
            continue
        columns = _column_map(rows[0])
        is_members = "group" in columns or ("unit" in columns and "name" in columns)
        is_units = "headcount" in columns and not is_members
        if not (is_members or is_units) or "name" not in columns:
            result.errors.append(ImportError_(sheet, 1, "bad_header"))
            continue
        for offset, row in enumerate(rows[1:], start=2):
            if not any(_cell(row, i) for i in range(len(row))):
                continue
            total += 1
            if total > MAX_ROWS:
                result.errors.append(ImportError_(sheet, offset, "too_many_rows"))
                return unit_rows, member_rows, result
            name = _cell(row, columns.get("name"))
            if is_units:
                headcount = _cell(row, columns.get("headcount"))
                _check_unit(sheet, offset, name, headcount, unit_rows, seen, result)
            else:
                _check_member(sheet, offset, name, row, columns, member_rows, seen, result)
    return unit_rows, member_rows, result


def _check_unit(
    sheet: str | None,
    line: int,
    name: str,
    headcount: str,
    rows: list[_UnitRow],
    seen: set[tuple[str, str]],
    result: ImportResult,
) -> None:
    if not name:
        result.errors.append(ImportError_(sheet, line, "empty_name"))
    elif len(name) > MAX_UNIT_NAME:
        result.errors.append(ImportError_(sheet, line, "name_too_long", name))
    elif ("unit", name_key(name)) in seen:
        result.errors.append(ImportError_(sheet, line, "duplicate", name))
    elif not headcount.isdecimal() or int(headcount) > MAX_HEADCOUNT:  # int() refuses "²"
        result.errors.append(ImportError_(sheet, line, "bad_headcount", headcount))
    else:
        rows.append(_UnitRow(line, name, int(headcount)))
        seen.add(("unit", name_key(name)))


def _check_member(
    sheet: str | None,
    line: int,
    name: str,
    row: list[object],
    columns: dict[str, int],
    rows: list[_MemberRow],
    seen: set[tuple[str, str]],
    result: ImportResult,
) -> None:
    unit = _cell(row, columns.get("unit"))
    group_text = _cell(row, columns.get("group"))
    username = _cell(row, columns.get("username")).lstrip("@") or None
    group = GROUP_VALUES.get(_norm(group_text))
    if not name:
        result.errors.append(ImportError_(sheet, line, "empty_name"))
    elif len(name) > MAX_NAME:
        result.errors.append(ImportError_(sheet, line, "name_too_long", name))
    elif not unit:
        result.errors.append(ImportError_(sheet, line, "missing_unit"))
    elif group is None:
        result.errors.append(ImportError_(sheet, line, "bad_group", group_text))
    elif username and ("username", _fold(username)) in seen:
        result.errors.append(ImportError_(sheet, line, "duplicate", username))
    else:
        rows.append(_MemberRow(sheet, line, name, unit, group, username))
        if username:
            seen.add(("username", _fold(username)))


async def import_file(
    db: Database, actor_id: int, filename: str, data: bytes, now: datetime
) -> ImportResult:
    """Check the whole file, then import every row in one transaction, or nothing."""
    unit_rows, member_rows, result = parse(filename, data)
    if result.errors:
        return result
    if not unit_rows and not member_rows:
        result.errors.append(ImportError_(None, 0, "empty"))
        return result
    try:
        await _apply(db, actor_id, filename, unit_rows, member_rows, result, now)
    except _Rollback:
        result.units_created = result.units_updated = 0
        result.members_created = result.members_updated = 0
        return result
    if result.members_created or result.members_updated:
        await settle_headcount(db)  # "of N" adds up the import's changes once, not each time
    return result


def _fold(username: str) -> str:
    """A username as matched: in any case (Telegram's usernames are ASCII letters, digits
    and "_")."""
    return username.lower()


class _Known:
    """The members a roster's rows may name, read before the rows are applied (a few
    statements however long the roster), and kept up to date as rows change them. A row is
    the member with its username, else the first (lowest id) member not yet joined with its
    name in its unit, the members created by earlier rows after every other."""

    def __init__(self) -> None:
        self._by: dict[tuple[object, ...], dict[int, Member]] = {}
        self._order: dict[int, int] = {}  # id() of a member: its id, or its place if new
        self._created = 0

    @classmethod
    async def read(cls, session: AsyncSession, rows: list[_MemberRow]) -> _Known:
        known = cls()
        usernames = {_fold(row.username) for row in rows if row.username}
        names = {row.name for row in rows}
        found = await session.execute(
            select(Member.id, Member.username, Member.name, Member.telegram_id)
            .where(or_(Member.username.is_not(None), Member.telegram_id.is_(None)))
            .order_by(Member.id)
        )
        ids = [
            member_id
            for member_id, username, name, telegram_id in found
            if (username and _fold(username) in usernames)
            or (telegram_id is None and name in names)
        ]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for member in await session.scalars(select(Member).where(Member.id.in_(chunk))):
                known.add(member)
        return known

    @staticmethod
    def _keys(member: Member) -> list[tuple[object, ...]]:
        keys: list[tuple[object, ...]] = []
        if member.username:
            keys.append(("username", _fold(member.username)))
        if member.telegram_id is None:
            keys.append(("unjoined", member.name, member.unit_id))
        return keys

    def _first(self, key: tuple[object, ...]) -> Member | None:
        found = self._by.get(key)
        return found[min(found)] if found else None

    def match(self, username: str | None, name: str, unit_id: int) -> Member | None:
        member = self._first(("username", _fold(username))) if username else None
        return member or self._first(("unjoined", name, unit_id))

    def add(self, member: Member) -> None:
        """A member read, created or changed by a row."""
        order = self._order.get(id(member))
        if order is None:
            if member.id is None:  # created by a row: after every member before the import
                self._created += 1
                order = 2**62 + self._created
            else:
                order = member.id
            self._order[id(member)] = order
        for key in self._keys(member):
            self._by.setdefault(key, {})[order] = member

    def forget(self, member: Member) -> None:
        """Before a row changes the member's name, unit or username."""
        order = self._order[id(member)]
        for key in self._keys(member):
            self._by.get(key, {}).pop(order, None)


class _Rollback(Exception):
    """Raised inside the transaction to undo it when a row turns out to be wrong."""


async def _apply(
    db: Database,
    actor_id: int,
    filename: str,
    unit_rows: list[_UnitRow],
    member_rows: list[_MemberRow],
    result: ImportResult,
    now: datetime,
) -> None:
    async with db.write() as session:
        existing = {name_key(u.name): u for u in await session.scalars(select(Unit))}
        for row in unit_rows:
            unit = existing.get(name_key(row.name))
            if unit is None:
                unit = Unit(name=row.name, headcount=row.headcount, created_at=now)
                session.add(unit)
                existing[name_key(row.name)] = unit
                result.units_created += 1
            else:
                unit.headcount = row.headcount
                result.units_updated += 1
        await session.flush()
        known = await _Known.read(session, member_rows)
        for mrow in member_rows:
            unit = existing.get(name_key(mrow.unit))
            if unit is None:
                result.errors.append(ImportError_(mrow.sheet, mrow.line, "unknown_unit", mrow.unit))
                continue
            member = known.match(mrow.username, mrow.name, unit.id)
            if member is None:
                member = Member(name=mrow.name, status=MemberStatus.ACTIVE, created_at=now)
                session.add(member)
                result.members_created += 1
            else:
                known.forget(member)
                result.members_updated += 1
                if member.unit_id != unit.id:
                    await ledger.member_moved(session, db.is_sqlite, member.id, unit.id)
            member.name, member.unit_id, member.group = mrow.name, unit.id, mrow.group
            member.username = mrow.username or member.username
            known.add(member)
        if result.errors:
            raise _Rollback
        record_admin(
            session,
            actor_id,
            "import",
            filename[:100],
            {"units": len(unit_rows), "members": len(member_rows)},
            now,
        )
