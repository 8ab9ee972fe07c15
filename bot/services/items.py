"""Items (ideas and waste reports): registration numbers, submission, routing, a member's items."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Executable,
    Exists,
    Integer,
    Select,
    String,
    bindparam,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot import cards, notify
from bot.services.errors import ServiceError
from storage.db import Database, dialect_insert
from storage.models import (
    Attachment,
    Campaign,
    Counter,
    Item,
    ItemAuthor,
    ItemEvent,
    ItemKind,
    ItemStatus,
    Member,
    MemberStatus,
    Unit,
    UnitAssessor,
)

MAX_TITLE = 100
MAX_BODY = 3000


@dataclass
class Draft:
    """What the worker filled in; JSON-friendly so it can live in the conversation's draft."""

    kind: str
    unit_id: int
    title: str
    key: str | None = None  # the draft's random key: submitting it twice makes one item
    body: str = ""
    category_id: int | None = None
    place: str | None = None
    claimed_amount: str | None = None  # a Decimal as text
    anonymous: bool = False
    co_author_ids: list[int] = field(default_factory=list)
    attachments: list[dict[str, str]] = field(default_factory=list)  # kind, file_id, ...


async def next_number(
    session: AsyncSession, campaign: Campaign, kind: str, year: int, *, sqlite: bool
) -> str:
    """The next registration number: one atomic upsert on the counter row, so numbers are
    unique and gap-free (a rolled-back submission gives its number back)."""
    values = {"campaign_id": campaign.id, "kind": kind, "year": year}
    value: int = (await session.execute(_next_value(sqlite), values)).scalar_one()
    prefix = campaign.idea_prefix if kind == ItemKind.IDEA else campaign.waste_prefix
    return f"{prefix}-{year}-{value:04d}"


@functools.cache
def _next_value(sqlite: bool) -> Executable:
    """The counter's upsert (parameters `campaign_id`, `kind`, `year`), built once."""
    statement = dialect_insert(sqlite, Counter).values(
        campaign_id=bindparam("campaign_id"),
        kind=bindparam("kind"),
        year=bindparam("year"),
        last_value=1,
    )
    return statement.on_conflict_do_update(
        index_elements=["campaign_id", "kind", "year"],
        set_={"last_value": Counter.last_value + 1},
    ).returning(Counter.last_value)


def check_text(title: str, body: str) -> None:
    """Refuse (never cut) a title or description over its limit."""
    if not title.strip():
        raise ServiceError("empty_title")
    if len(title) > MAX_TITLE:
        raise ServiceError("title_too_long", limit=MAX_TITLE)
    if len(body) > MAX_BODY:
        raise ServiceError("body_too_long", limit=MAX_BODY)


async def reviewers_for(session: AsyncSession, item: Item) -> list[Member]:
    """Who holds the item at its stage and gets its review card:
    first review and implementation: the unit's assessors (the committee when the unit has
    none who can act); the committee's decision and verification: the committee; a waste
    report: the unit's assessors and the office. Nobody is left without an answer: with no
    such reviewer at all, the office gets it."""
    assessors, committee, office = _REVIEWERS
    stages: dict[str, list[Select[Any]]] = {
        ItemStatus.FIRST_REVIEW: [assessors],
        ItemStatus.APPROVED: [assessors],
        ItemStatus.COMMITTEE: [committee],
        ItemStatus.IMPLEMENTED: [committee],
    }
    values = {"unit_id": item.unit_id, "item_id": item.id}
    found: dict[int, Member] = {}
    for query in stages.get(item.status, [assessors, office]):
        for member in await session.scalars(query, values):
            found.setdefault(member.id, member)
    if not found and item.status in (ItemStatus.FIRST_REVIEW, ItemStatus.APPROVED):
        for member in await session.scalars(committee, values):
            found.setdefault(member.id, member)
    if not found:
        for member in await session.scalars(office, values):
            found.setdefault(member.id, member)
    return list(found.values())


def _reviewers() -> tuple[Select[Any], Select[Any], Select[Any]]:
    """A unit's assessors (parameter `unit_id`) and the committee, each reachable and none of
    them an author of the item `item_id` (nobody reviews their own item), and the office (the
    last resort), ordered by id: built once."""
    reachable = (Member.status == MemberStatus.ACTIVE, Member.telegram_id.is_not(None))
    not_author = ~exists().where(
        ItemAuthor.item_id == bindparam("item_id", type_=Integer), ItemAuthor.member_id == Member.id
    )
    # Read from the unit's assessors: "status || ''" keeps SQLite off the status index, by
    # which it read every active member (20,000 on the large benchmark set) and looked each up.
    assessors = select(Member).join(UnitAssessor, UnitAssessor.member_id == Member.id)
    assessors = assessors.where(
        UnitAssessor.unit_id == bindparam("unit_id"),
        (Member.status + "") == MemberStatus.ACTIVE,
        Member.telegram_id.is_not(None),
        not_author,
    )
    committee = select(Member).where(Member.is_committee.is_(True), *reachable, not_author)
    office = select(Member).where(Member.is_admin.is_(True), *reachable)
    return tuple(query.order_by(Member.id) for query in (assessors, committee, office))  # type: ignore[return-value]


_REVIEWERS = _reviewers()


def assessed(
    unit_id: ColumnElement[int] | InstrumentedAttribute[int],
    *also: ColumnElement[bool],
) -> Exists:
    """Whether the unit has an assessor who can take a first review: active, and joined (the
    bot can write to them), and meeting `also` (not an author of the item). Without one, an
    idea's first review is the committee's.

    Driven by the unit's assessors (a lookup of each one's member row): as a join SQLite read
    every active member from the status index."""
    return exists().where(
        UnitAssessor.unit_id == unit_id,
        exists().where(
            Member.id == UnitAssessor.member_id,
            Member.status == MemberStatus.ACTIVE,
            Member.telegram_id.is_not(None),
        ),
        *also,
    )


# The assessors of the unit `unit_id` who can act (as `assessed` has them), by id.
_ASSESSORS_WHO_CAN_ACT = select(UnitAssessor.member_id).where(
    UnitAssessor.unit_id == bindparam("unit_id", type_=Integer),
    exists().where(
        Member.id == UnitAssessor.member_id,
        Member.status == MemberStatus.ACTIVE,
        Member.telegram_id.is_not(None),
    ),
)


async def _has_assessor(session: AsyncSession, unit_id: int, authors: list[int]) -> bool:
    """Whether someone other than the idea's authors can take its first review."""
    found = await session.scalars(_ASSESSORS_WHO_CAN_ACT, {"unit_id": unit_id})
    return bool(set(found) - set(authors))


def add_attachments(
    session: AsyncSession,
    item_id: int,
    event_id: int,
    files: list[dict[str, str]],
    now: datetime,
) -> list[Attachment]:
    """Keep the files (Telegram file ids) sent with a submission or a decision."""
    rows = [
        Attachment(
            item_id=item_id,
            event_id=event_id,
            kind=f["kind"],
            file_id=f["file_id"],
            file_unique_id=f.get("file_unique_id"),
            file_name=f.get("file_name"),
            created_at=now,
        )
        for f in files
    ]
    session.add_all(rows)
    return rows


@dataclass
class Submitted:
    item: Item
    created: bool  # False: this draft had been submitted already
    reviewers: int  # how many reviewers were sent the card


_BY_CLIENT_KEY = select(Item).where(Item.client_key == bindparam("key"))
_ACTIVE_AMONG = select(Member.id).where(
    Member.id.in_(bindparam("ids", expanding=True)), Member.status == MemberStatus.ACTIVE
)


async def submit(
    db: Database,
    campaign_id: int,
    author: Member,
    draft: Draft,
    now: datetime,
    tz: ZoneInfo,
    *,
    default_lang: str = "zh",
) -> Submitted:
    """Write the item, its authors, attachments, first audit event and the reviewers' cards
    (outbox rows) in one transaction."""
    check_text(draft.title, draft.body)
    if author.status != MemberStatus.ACTIVE:
        raise ServiceError("forbidden")
    async with db.write() as session:
        if draft.key:
            existing = await session.scalar(_BY_CLIENT_KEY, {"key": draft.key})
            if existing is not None:
                return Submitted(existing, created=False, reviewers=0)
        campaign = await session.get(Campaign, campaign_id)
        unit = await session.get(Unit, draft.unit_id)
        if campaign is None or unit is None or unit.archived:
            raise ServiceError("unit_gone")
        number = await next_number(
            session, campaign, draft.kind, now.astimezone(tz).year, sqlite=db.is_sqlite
        )
        if draft.kind == ItemKind.WASTE:
            status = ItemStatus.REPORTED
        elif await _has_assessor(session, unit.id, [author.id, *draft.co_author_ids]):
            status = ItemStatus.FIRST_REVIEW
        else:
            status = ItemStatus.COMMITTEE
        item = Item(
            campaign_id=campaign.id,
            kind=draft.kind,
            number=number,
            category_id=draft.category_id,
            unit_id=unit.id,
            author_id=author.id,
            anonymous=draft.anonymous and draft.kind == ItemKind.WASTE,
            title=draft.title.strip(),
            body=draft.body,
            place=draft.place,
            claimed_amount=Decimal(draft.claimed_amount) if draft.claimed_amount else None,
            status=status,
            submitted_at=now,
            stage_since=now,
            updated_at=now,
            client_key=draft.key,
        )
        session.add(item)
        await session.flush()
        session.add(ItemAuthor(item_id=item.id, member_id=author.id, is_submitter=True))
        co_authors = set(draft.co_author_ids) - {author.id}
        if co_authors and draft.kind == ItemKind.IDEA:
            found = set(await session.scalars(_ACTIVE_AMONG, {"ids": sorted(co_authors)}))
            for member_id in sorted(found):
                session.add(ItemAuthor(item_id=item.id, member_id=member_id))
        event = ItemEvent(
            item_id=item.id,
            actor_id=author.id,
            action="submit",
            to_status=status,
            amount=item.claimed_amount,
            created_at=now,
        )
        session.add(event)
        await session.flush()
        attachments = add_attachments(session, item.id, event.id, draft.attachments, now)
        reviewers = await reviewers_for(session, item)
        view = await cards.load_view(session, item)
        notify.review_cards(session, view, reviewers, attachments, default_lang, now)
        return Submitted(item, created=True, reviewers=len(reviewers))


async def tell_draft_discarded(
    db: Database, telegram_id: int, title: str, hours: int, now: datetime, default_lang: str
) -> None:
    """Queue the message that an idle draft was discarded."""
    async with db.write() as session:
        member = await session.scalar(select(Member).where(Member.telegram_id == telegram_id))
        notify.draft_discarded(session, telegram_id, member, title, hours, default_lang, now)


# --- a member's own items ------------------------------------------------------------------

MY_PAGE = 5


_MINE = select(ItemAuthor.item_id).where(ItemAuthor.member_id == bindparam("member_id"))
_COUNT_MINE = select(func.count()).select_from(_MINE.subquery())
# Latest registered first: ids grow with registration, and the page's five ids come straight
# from the (member, item) index however many items the member has.
_PAGE_IDS = _MINE.order_by(ItemAuthor.item_id.desc()).offset(bindparam("offset")).limit(MY_PAGE)


# The page with the member's item count on every row: one statement for /my.
_PAGE_AND_COUNT = (
    select(Item, _COUNT_MINE.scalar_subquery())
    .where(Item.id.in_(_PAGE_IDS))
    .order_by(Item.id.desc())
)


async def page_of(session: AsyncSession, member_id: int, page: int) -> tuple[int, int, list[Item]]:
    """How many items the member has (as submitter or co-author), and one page of them,
    latest registered first: (item count, the page shown, its items). A page past the end
    shows the last one."""
    values = {"member_id": member_id, "offset": max(page, 0) * MY_PAGE}
    rows = (await session.execute(_PAGE_AND_COUNT, values)).all()
    if rows:
        return int(rows[0][1]), max(page, 0), [row[0] for row in rows]
    if page <= 0:  # the first page is empty: the member has no items
        return 0, 0, []
    total = int(await session.scalar(_COUNT_MINE, {"member_id": member_id}) or 0)
    last = max(0, (total - 1) // MY_PAGE)
    if total == 0 or page <= last:
        return total, 0 if total == 0 else page, []
    values["offset"] = last * MY_PAGE
    rows = (await session.execute(_PAGE_AND_COUNT, values)).all()
    return total, last, [row[0] for row in rows]


async def view_for_author(db: Database, item_id: int, member_id: int) -> cards.ItemView:
    """An item with its history, for one of its authors only."""
    async with db.read() as session:
        is_author = await session.scalar(
            select(func.count())
            .select_from(ItemAuthor)
            .where(ItemAuthor.item_id == item_id, ItemAuthor.member_id == member_id)
        )
        item = await session.get(Item, item_id) if is_author else None
        if item is None:
            raise ServiceError("not_found")
        return await cards.load_view(session, item, history=True)


# --- the duplicate hint --------------------------------------------------------------------

_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)
SIMILAR = 0.5  # a score from 0 (nothing shared) to 1 (the same text)
_CANDIDATES = 200
_WINDOW = 20_000  # the newest items looked at


def _bigrams(text: str) -> set[str]:
    text = _PUNCTUATION.sub("", text.lower())
    if len(text) < 2:
        return {text} if text else set()
    return {text[i : i + 2] for i in range(len(text) - 1)}


def _dice(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def similarity(title_a: str, body_a: str, title_b: str, body_b: str) -> float:
    """How alike two ideas read (character bigrams work for Chinese and English alike)."""
    return _similarity(_bigrams(title_a), _bigrams(body_a[:500]), title_b, body_b)


def _similarity(
    title_a: set[str], body_a: set[str], title_b: str, body_b: str, at_least: float = 0.0
) -> float:
    """The score; below `at_least` it may return any lower value (the description, the costly
    part, is not compared when even identical ones would leave the score below it)."""
    titles = _dice(title_a, _bigrams(title_b))
    if not body_a or 0.6 * titles + 0.4 < at_least:
        return titles
    bodies_b = _bigrams(body_b[:500])
    if not bodies_b:
        return titles
    return 0.6 * titles + 0.4 * _dice(body_a, bodies_b)


@functools.cache
def _candidates(sqlite: bool, folded: int, plain: int) -> Executable:
    """The newest ideas of the campaign (parameter `campaign_id`) among the last `_WINDOW`
    items whose title holds one of the grams `g0`, `g1`, ... (the first `folded` in any case),
    built once per shape. A substring search (instr, strpos) rather than LIKE: no pattern to
    match, several times cheaper on every row read."""
    position = func.instr if sqlite else func.strpos

    def holds(i: int) -> ColumnElement[bool]:
        title = func.lower(Item.title) if i < folded else Item.title
        return position(title, bindparam(f"g{i}", type_=String)) > 0

    newest = select(func.max(Item.id)).scalar_subquery()
    return (
        select(Item.number, Item.title, func.substr(Item.body, 1, 500))
        .where(
            Item.id > newest - _WINDOW,
            # "+ 0": no index on the campaign, so the newest ids are read in order and the
            # search stops at the limit (SQLite would sort the whole campaign's ideas).
            Item.campaign_id + 0 == bindparam("campaign_id", type_=Integer),
            Item.kind == ItemKind.IDEA,
            or_(*(holds(i) for i in range(folded + plain))),
        )
        .order_by(Item.id.desc())
        .limit(_CANDIDATES)
    )


async def similar_idea(
    db: Database, campaign_id: int, title: str, body: str
) -> tuple[str, str] | None:
    """The closest existing idea of the campaign (number, title), if it is very similar.

    The database narrows the candidates to the newest ideas sharing a piece of the title,
    among the last `_WINDOW` items (a hint, so its cost stays the same however large the
    campaign grows); the score is computed on those few."""
    title_grams = _bigrams(title)
    grams = sorted(title_grams, key=lambda g: (-len(g), g))[:12]
    if not grams:
        return None
    # Grams with letters that have a case first: they are looked for in the lowercased title
    # (SQLite's lower() folds A-Z only, as its LIKE did; PostgreSQL's folds every script).
    folded = [g for g in grams if g != g.upper()]
    grams = folded + [g for g in grams if g == g.upper()]
    values: dict[str, object] = {"campaign_id": campaign_id}
    values.update((f"g{i}", gram) for i, gram in enumerate(grams))
    async with db.read() as session:
        query = _candidates(db.is_sqlite, len(folded), len(grams) - len(folded))
        rows = (await session.execute(query, values)).all()
    body_grams = _bigrams(body[:500])
    best: tuple[float, str, str] | None = None
    for number, other_title, other_body in rows:
        floor = SIMILAR if best is None else best[0]
        score = _similarity(title_grams, body_grams, str(other_title), str(other_body or ""), floor)
        if score >= SIMILAR and (best is None or score > best[0]):
            best = (score, str(number), str(other_title))
            if score >= 1.0:
                break  # the same text: nothing older can score higher
    return (best[1], best[2]) if best else None
