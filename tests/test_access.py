"""Who may do what: every privileged action (review decisions, administration, exports,
bulletins, restricted reports) tried by every role. Allowed ones work; refused ones get a
clear refusal in the person's language, nothing else is sent to anyone and nothing changes.
Also: nobody sees another worker's items, and an anonymous reporter stays anonymous in every
message, export, log line and error report."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.i18n import translator
from bot.services import announcements, campaigns, items, people, review, units
from bot.texts import ERRORS
from storage.models import (
    AnnouncementChat,
    Campaign,
    Category,
    Item,
    ItemStatus,
    Member,
    MemberStatus,
    Unit,
)
from tests.conftest import BotHarness, make_settings, start_app, stop_app
from tests.fakeapi.core import CallbackAnswer, FakeTelegram, StoredMessage
from tests.fakeapi.users import FakeGroup, FakeUser, Replies
from tests.figures import tally
from tests.helpers import NOW, ManualClock, changed_rows, seed_member, seed_unit, snapshot

COMMITTEE_CHAT = -400_888
# Every role, and the language each one reads (refusals must come in it).
LANG = {
    "admin": "en",
    "committee": "zh",
    "assessor": "en",  # of unit A, where the items are
    "other_assessor": "zh",  # of unit B
    "author": "zh",  # the worker who submitted the items
    "worker": "en",  # a worker of unit A
    "pending": "zh",  # joined, not approved yet
    "suspended": "en",  # deactivated (was admin, committee and assessor of A)
    "stranger": "zh",  # not a member: never sent /start
    "group_member": "en",  # not a member: only in the committee group chat
}
ACTORS = list(LANG)
MEMBERS = frozenset({"admin", "committee", "assessor", "other_assessor", "author", "worker"})
REVIEWERS = frozenset({"admin", "committee", "assessor", "other_assessor"})
NAMES = {
    "admin": "钱办公室",
    "committee": "赵委员",
    "assessor": "王考核",
    "other_assessor": "孙考核",
    "author": "张三",
    "worker": "李工",
    "pending": "待批准",
    "suspended": "已停用",
}


@dataclass
class World:
    bot: BotHarness
    clock: ManualClock
    users: dict[str, FakeUser]
    ids: dict[str, int]  # member ids
    unit_a: int
    unit_b: int
    group: FakeGroup  # the committee's chat
    news: FakeGroup  # an announcement chat

    @property
    def db(self) -> Any:
        return self.bot.db

    @property
    def telegram(self) -> FakeTelegram:
        return self.bot.telegram

    async def item(self, stage: str) -> Item:
        """An item of the author in unit A, brought to `stage` by the reviewers' decisions."""
        db, tz = self.db, self.bot.app.bot_data.settings.tzinfo
        campaign = await campaigns.get_current(db)
        author = await people.get(db, self.ids["author"])
        assert campaign and author
        waste = stage == "reported"
        draft = items.Draft(
            kind="waste" if waste else "idea",
            unit_id=self.unit_a,
            title="压缩空气漏气" if waste else "夜班加热",
            body="说明",
            place="3号泵房" if waste else None,
            claimed_amount=None if waste else "15000",
            anonymous=waste,
        )
        item = (await items.submit(db, campaign.id, author, draft, NOW, tz)).item
        steps = {
            "committee": [("assessor", "forward", {"text": "可行"})],
            "approved": [("assessor", "forward", {"text": "可行"}), ("committee", "approve", {})],
            "implemented": [
                ("assessor", "forward", {"text": "可行"}),
                ("committee", "approve", {}),
                ("assessor", "implement", {}),
            ],
            "needs_info": [("assessor", "ask", {"text": "电价多少？"})],
        }
        for who, action, kw in steps.get(stage, []):
            await review.decide(
                db, item.id, self.ids[who], action, NOW, tz, committee_chat_id=COMMITTEE_CHAT, **kw
            )
        await self.bot.drain()
        return item

    async def status(self, item_id: int) -> Item:
        async with self.db.read() as session:
            found = await session.get(Item, item_id)
            assert found
            return found

    async def member(self, member_id: int) -> Member:
        async with self.db.read() as session:
            found = await session.get(Member, member_id)
            assert found
            return found


@pytest.fixture
async def world(db_url: str, clock: ManualClock) -> AsyncIterator[World]:
    telegram = FakeTelegram()
    settings = make_settings(db_url, committee_chat_id=COMMITTEE_CHAT)
    bot = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    try:
        db = bot.db
        await campaigns.ensure_default(db, NOW.date())
        a = await seed_unit(db, "一车间")
        b = await seed_unit(db, "二车间")
        users: dict[str, FakeUser] = {}
        ids: dict[str, int] = {}
        for role, lang in LANG.items():
            code = "zh-hans" if lang == "zh" else "en"
            extra = {"username": "zhang_w", "first_name": "Zhang"} if role == "author" else {}
            users[role] = bot.user(**{"first_name": role.title(), "language_code": code, **extra})
            if role in ("stranger", "group_member"):
                continue
            unit = b.id if role in ("admin", "committee", "other_assessor") else a.id
            if role == "pending":
                member = await people.join(
                    db,
                    telegram_id=users[role].id,
                    username=None,
                    name=NAMES[role],
                    unit_id=unit,
                    group="staff",
                    language=lang,
                    pending=True,
                    now=NOW,
                )
            else:
                member = await seed_member(db, users[role].id, unit, NAMES[role], language=lang)
            ids[role] = member.id
        grant = people.set_role
        await grant(db, ids["admin"], ids["admin"], "admin", True, NOW)
        await grant(db, ids["admin"], ids["committee"], "committee", True, NOW)
        await grant(db, ids["admin"], ids["assessor"], "assessor", True, NOW, unit_id=a.id)
        await grant(db, ids["admin"], ids["other_assessor"], "assessor", True, NOW, unit_id=b.id)
        for role in ("admin", "committee"):
            await grant(db, ids["admin"], ids["suspended"], role, True, NOW)
        await grant(db, ids["admin"], ids["suspended"], "assessor", True, NOW, unit_id=a.id)
        await people.set_active(db, ids["admin"], ids["suspended"], False, NOW)
        group = bot.group("节约评审委员会", chat_id=COMMITTEE_CHAT)
        news = bot.group("节约通报群", bot_status="member")
        await announcements.register(db, ids["admin"], news.id, news.title, NOW)
        await bot.drain()
        # Everyone has a message to press buttons on: private chats and the two groups.
        for role, user in users.items():
            if role == "group_member":
                await user.command_in(group, "help")
            else:
                await user.command("help")
        await users["group_member"].command_in(news, "help")
        yield World(bot, clock, users, ids, a.id, b.id, group, news)
    finally:
        await stop_app(bot.app)
    assert telegram.violations == [] and bot.errors == []


# ---- attempts -------------------------------------------------------------------------------


@dataclass
class Attempt:
    """What one actor did and what came back in the chat they did it in."""

    replies: Replies
    answer: CallbackAnswer | None = None  # for a press
    chat: int = 0
    silent_in_group: bool = False  # a private-only command sent in a group: ignored by design
    target: dict[str, Any] = field(default_factory=dict)


Target = dict[str, Any]
Attempter = Callable[[World, str, Target], Awaitable[Attempt]]


def _last(w: World, chat_id: int) -> StoredMessage:
    return w.telegram.bot_messages(chat_id)[-1]


def _buttons(message: StoredMessage) -> list[str]:
    return [str(b.get("callback_data")) for row in message.inline_keyboard for b in row]


def tap(template: str, *, where: str = "private") -> Attempter:
    """Press a button with this callback data: on the actor's own copy of the review card
    when they have one, else on a message in their private chat ("card"/"private"), or on
    the committee group's card ("group"); the group member always presses in the group."""

    async def attempt(w: World, actor: str, target: Target) -> Attempt:
        user = w.users[actor]
        data = template.format(**target)
        if where == "group" or actor == "group_member":
            cards = [m for m in w.telegram.bot_messages(w.group.id) if data in _buttons(m)]
            message = cards[-1] if cards else _last(w, w.group.id)
        else:
            cards = [m for m in w.telegram.bot_messages(user.id) if data in _buttons(m)]
            message = cards[-1] if cards else _last(w, user.id)
        answered = len(user.answers)
        replies = await user.press_raw(message, data)
        answer = user.answers[-1] if len(user.answers) > answered else None
        return Attempt(replies, answer, message.chat_id, target=target)

    return attempt


def cmd(name: str, *, in_group: bool = False) -> Attempter:
    """Send a command in the private chat (the group member: in the committee group, where
    private-only commands are ignored), or in the announcement group (`in_group`)."""

    async def attempt(w: World, actor: str, target: Target) -> Attempt:
        user = w.users[actor]
        if in_group:
            return Attempt(await user.command_in(w.news, name), chat=w.news.id, target=target)
        if actor == "group_member":
            replies = await user.command_in(w.group, name)
            return Attempt(replies, chat=w.group.id, silent_in_group=True, target=target)
        return Attempt(await user.command(name), chat=user.id, target=target)

    return attempt


# ---- setups: what each attempt needs, fresh for every actor ---------------------------------


def stage(name: str) -> Callable[[World], Awaitable[Target]]:
    async def setup(w: World) -> Target:
        item = await w.item(name)
        return {"item": item.id, "number": item.number}

    return setup


async def nothing(w: World) -> Target:
    return {"unit": w.unit_a, "b": w.unit_b, "worker": w.ids["worker"]}


async def invite(w: World) -> Target:
    await units.create_invite(w.db, w.ids["admin"], w.unit_a, NOW)
    return await nothing(w)


async def archived(w: World) -> Target:
    await units.set_archived(w.db, w.ids["admin"], w.unit_b, True, NOW)
    return {"unit": w.unit_b}


async def category(w: World) -> Target:
    async with w.db.read() as session:
        cat = await session.scalar(select(Category).order_by(Category.id.desc()).limit(1))
        assert cat
    return {"cat": cat.id}


async def old_category(w: World) -> Target:
    target = await category(w)
    await campaigns.set_category_archived(w.db, w.ids["admin"], target["cat"], True, NOW)
    return target


async def chat_row(w: World) -> Target:
    """The announcement group, registered (again)."""
    await announcements.register(w.db, w.ids["admin"], w.news.id, w.news.title, NOW)
    [row] = await announcements.active_chats(w.db)
    return {"chat": row.id}


async def applicant(w: World) -> Target:
    """A fresh join request (the pending actor stays pending)."""
    user = w.bot.user(language_code="zh-hans")
    member = await people.join(
        w.db,
        telegram_id=user.id,
        username=None,
        name=f"申请人{user.id}",
        unit_id=w.unit_a,
        group="staff",
        language="zh",
        pending=True,
        now=NOW,
    )
    return {"member": member.id}


async def unannounced(w: World) -> Target:
    """The announcement group is not registered (any more)."""
    for row in await announcements.active_chats(w.db):
        await announcements.deactivate(w.db, w.ids["admin"], row.id, NOW)
    return {}


async def colleague(w: World) -> Target:
    """A fresh member of unit A whose roles or status the action changes."""
    user = w.bot.user(language_code="zh-hans")
    member = await seed_member(w.db, user.id, w.unit_a, f"同事{user.id}")
    return {"unit": w.unit_a, "worker": member.id}


async def deactivated(w: World) -> Target:
    target = await colleague(w)
    await people.set_active(w.db, w.ids["admin"], target["worker"], False, NOW)
    return {"member": target["worker"]}


# ---- what an allowed attempt must have done -------------------------------------------------

Verifier = Callable[[World, str, Attempt], Awaitable[None]]


def shows(*starts: str) -> Verifier:
    """The pressed message now shows this (in English or Chinese)."""

    async def verify(w: World, actor: str, attempt: Attempt) -> None:
        assert attempt.answer is not None and not attempt.answer.show_alert, attempt.answer
        shown = [m.text for m in attempt.replies.edited] + attempt.replies.texts
        assert any(t.startswith(starts) for t in shown), (starts, shown)

    return verify


def says(*starts: str) -> Verifier:
    async def verify(w: World, actor: str, attempt: Attempt) -> None:
        assert attempt.replies and attempt.replies[0].text.startswith(starts), attempt.replies.texts

    return verify


def to(status: str, *follow: str, typed: str | None = None) -> Verifier:
    """A review decision: press what follows (panel, prompt buttons), type the reason."""

    async def verify(w: World, actor: str, attempt: Attempt) -> None:
        user, item_id = w.users[actor], attempt.target["item"]
        assert attempt.answer is not None and not attempt.answer.show_alert, attempt.answer
        for data in follow:
            message = next(
                m
                for m in reversed(w.telegram.bot_messages(attempt.chat))
                if data.format(item=item_id, b=w.unit_b) in _buttons(m)
            )
            await user.press(message, data.format(item=item_id, b=w.unit_b))
        if typed is not None:
            if attempt.chat == w.group.id:
                await user.send_in(w.group, typed)
            else:
                await user.send(typed)
        assert (await w.status(item_id)).status == status

    return verify


async def card_opened(w: World, actor: str, attempt: Attempt) -> None:
    number = attempt.target["number"]
    cards = [
        m
        for m in w.telegram.bot_messages(w.users[actor].id)
        if number in m.text and m.inline_keyboard
    ]
    assert len(cards) == 2  # the first card, and the fresh one


def does(check: Callable[[World, Target], Awaitable[bool]]) -> Verifier:
    async def verify(w: World, actor: str, attempt: Attempt) -> None:
        assert await check(w, attempt.target), attempt.replies.texts

    return verify


def enter(text: str, check: Callable[[World, Target], Awaitable[bool]]) -> Verifier:
    """An administration step asking for input: the prompt, then the value typed."""

    async def verify(w: World, actor: str, attempt: Attempt) -> None:
        assert attempt.replies.texts[-1].endswith("Send /cancel to stop.")
        await w.users[actor].send(text)
        assert await check(w, attempt.target)

    return verify


async def _unit(w: World, unit_id: int) -> Unit:
    async with w.db.read() as session:
        unit = await session.get(Unit, unit_id)
        assert unit
        return unit


async def _campaign(w: World) -> Campaign:
    found = await campaigns.get_current(w.db)
    assert found
    return found


async def _invite(w: World, t: Target) -> bool:
    return await units.active_invite(w.db, t["unit"]) is not None


async def _no_invite(w: World, t: Target) -> bool:
    return await units.active_invite(w.db, t["unit"]) is None


async def _archived(w: World, t: Target) -> bool:
    return (await _unit(w, t["unit"])).archived


async def _restored(w: World, t: Target) -> bool:
    return not (await _unit(w, t["unit"])).archived


async def _admin(w: World, t: Target) -> bool:
    return (await w.member(t["worker"])).is_admin


async def _committee(w: World, t: Target) -> bool:
    return (await w.member(t["worker"])).is_committee


async def _assessor(w: World, t: Target) -> bool:
    return w.unit_a in await people.assessor_unit_ids(w.db, t["worker"])


async def _inactive(w: World, t: Target) -> bool:
    return (await w.member(t["worker"])).status == MemberStatus.INACTIVE


async def _active(w: World, t: Target) -> bool:
    return (await w.member(t["member"])).status == MemberStatus.ACTIVE


async def _declined(w: World, t: Target) -> bool:
    return (await w.member(t["member"])).status == MemberStatus.DECLINED


async def _cat_archived(w: World, t: Target) -> bool:
    async with w.db.read() as session:
        cat = await session.get(Category, t["cat"])
        return bool(cat and cat.archived)


async def _cat_restored(w: World, t: Target) -> bool:
    return not await _cat_archived(w, t)


async def _chat_off(w: World, t: Target) -> bool:
    return await announcements.active_chats(w.db) == []


async def _announced(w: World, t: Target) -> bool:
    async with w.db.read() as session:
        rows = list(await session.scalars(select(AnnouncementChat)))
    return any(r.chat_id == w.news.id and r.active for r in rows)


async def _unit_named(name: str, w: World) -> bool:
    return any(u.name == name for u in await units.list_units(w.db, archived=True))


def field(name: str, value: object) -> Callable[[World, Target], Awaitable[bool]]:
    """The campaign's `name` is now `value` (numbers as Decimal)."""
    expected = Decimal(value) if isinstance(value, int) else value

    async def check(w: World, t: Target) -> bool:
        return bool(getattr(await _campaign(w), name) == expected)

    return check


def group_tap(code: str) -> Attempter:
    """A decision pressed on the committee group's copy of the card."""
    return tap("rv:{item}:" + code, where="group")


async def _categories(w: World) -> list[Category]:
    return await campaigns.categories(w.db, (await _campaign(w)).id, archived=True)


async def _new_category(w: World, t: Target) -> bool:
    return any(c.name_zh == "安全节能" for c in await _categories(w))


async def _recat(w: World, t: Target) -> bool:
    return any(c.id == t["cat"] and c.name_en == "Renamed" for c in await _categories(w))


async def _imported(w: World, t: Target) -> bool:
    return await _unit_named("四车间", w)


async def _headcount(w: World, t: Target) -> bool:
    return (await _unit(w, t["unit"])).headcount == 150


async def _renamed_unit(w: World, t: Target) -> bool:
    return (await _unit(w, t["unit"])).name == "一车间（冶炼）"


async def _new_unit(w: World, t: Target) -> bool:
    return await _unit_named("三车间", w)


async def _found(w: World, t: Target) -> bool:
    last = w.telegram.bot_messages(w.users["admin"].id)[-1]
    return last.text.startswith("Members: ")


async def _exported(w: World, actor: str, attempt: Attempt) -> None:
    [sheet] = attempt.replies
    assert "document" in sheet.data and sheet.data["document"]["file_name"].endswith(".xlsx")


async def _imported_file(w: World, actor: str, attempt: Attempt) -> None:
    assert attempt.replies.texts[-1].endswith("Send /cancel to stop.")
    csv = "名称,人数\n四车间,40\n".encode()
    await w.users[actor].send_document("units.csv", content=csv)
    assert await _imported(w, attempt.target)


async def _preview(w: World, actor: str, attempt: Attempt) -> None:
    assert [m.data.get("photo") is not None for m in attempt.replies][-1]


# ---- the table: every privileged action and who may take it ---------------------------------


@dataclass(frozen=True)
class Action:
    name: str
    allowed: frozenset[str]
    attempt: Attempter
    verify: Verifier
    setup: Callable[[World], Awaitable[Target]] = nothing
    refusal: str = "forbidden"  # a key of ERRORS, or "join" (members only)
    private_only: bool = False  # a button that only works in the private chat
    opened_by: str = ""  # a command that first shows the screen whose page the button turns


A = frozenset({"admin"})
C = frozenset({"committee"})
AS = frozenset({"assessor"})
WASTE = frozenset({"assessor", "admin"})
IMPL = frozenset({"assessor", "committee", "admin"})
EXPORT = frozenset({"admin", "assessor", "other_assessor"})
S = ItemStatus
FIRST, COMM, APPROVED = stage("first_review"), stage("committee"), stage("approved")
IMPLEMENTED, REPORTED, ASKED = stage("implemented"), stage("reported"), stage("needs_info")
AUTHOR = frozenset({"author"})
# What follows a decision button: the approval panel, the prompt's buttons, a unit.
CONFIRM, BARE, SAME = "rvx:{item}:confirm", "rvx:{item}:bare", "rvx:{item}:same"
TO_B = "rvx:{item}:unit:{b}"
ROLE = "ad:m:{worker}:role:"
JAN_5, NOV_30 = NOW.date().replace(month=1, day=5), NOW.date().replace(month=11, day=30)
WAITING = ("📥 Waiting for me", "📥 待我审核")

ACTIONS = [
    # Review decisions, pressed on the review card (or forged with the same data).
    Action("forward", AS, tap("rv:{item}:fwd"), to(S.COMMITTEE, typed="可行"), FIRST),
    Action("ask at first review", AS, tap("rv:{item}:ask"), to(S.NEEDS_INFO, typed="?"), FIRST),
    Action("reject at first review", AS, tap("rv:{item}:rej"), to(S.REJECTED, typed="不"), FIRST),
    Action("approve", C, tap("rv:{item}:ok"), to(S.APPROVED, CONFIRM), COMM),
    Action("ask at the committee", C, tap("rv:{item}:ask"), to(S.NEEDS_INFO, typed="?"), COMM),
    Action("reject at the committee", C, tap("rv:{item}:rej"), to(S.REJECTED, typed="不"), COMM),
    Action("approve in the group", C, group_tap("ok"), to(S.APPROVED, CONFIRM), COMM),
    Action("ask in the group", C, group_tap("ask"), to(S.NEEDS_INFO, typed="?"), COMM),
    Action("reject in the group", C, group_tap("rej"), to(S.REJECTED, typed="不"), COMM),
    Action("implement", IMPL, tap("rv:{item}:impl"), to(S.IMPLEMENTED, BARE), APPROVED),
    Action("verify the effect", C, tap("rv:{item}:ver"), to(S.VERIFIED, SAME), IMPLEMENTED),
    Action("acknowledge a report", WASTE, tap("rv:{item}:ack"), to(S.ACKNOWLEDGED), REPORTED),
    Action("assign a report", WASTE, tap("rv:{item}:asg"), to(S.ACKNOWLEDGED, TO_B), REPORTED),
    Action("fix a report", WASTE, tap("rv:{item}:fix"), to(S.FIXED, typed="修好了"), REPORTED),
    Action("dismiss a report", WASTE, tap("rv:{item}:dis"), to(S.DISMISSED, typed="不"), REPORTED),
    Action("open a review card", AS, tap("rv:{item}:open"), card_opened, FIRST),
    Action("answer a question", AUTHOR, tap("ans:{item}"), to(S.FIRST_REVIEW, typed="1元"), ASKED),
    Action("/review", REVIEWERS, cmd("review"), says(*WAITING)),
    Action("review list page", REVIEWERS, tap("rvl:0"), shows(*WAITING), private_only=True),
    Action("/overdue", A, cmd("overdue"), says("⏰ Overdue")),
    # Administration.
    Action("/admin", A, cmd("admin"), says("Administration")),
    Action("panel", A, tap("ad:home"), shows("Administration")),
    Action("units", A, tap("ad:units:0"), shows("Units")),
    Action("unit", A, tap("ad:u:{unit}"), shows("一车间")),
    Action("new invite link", A, tap("ad:u:{unit}:inv"), does(_invite)),
    Action("revoke invite link", A, tap("ad:u:{unit}:rev"), does(_no_invite), invite),
    Action("archive unit", A, tap("ad:u:{unit}:arch"), does(_archived)),
    Action("restore unit", A, tap("ad:u:{unit}:rest"), does(_restored), archived),
    Action("unit members", A, tap("ad:u:{unit}:mem:0"), shows("Members: ")),
    Action("member", A, tap("ad:m:{worker}"), shows("李工")),
    Action("grant admin", A, tap("ad:m:{worker}:role:admin:1"), does(_admin), colleague),
    Action("grant committee", A, tap(ROLE + "committee:1"), does(_committee), colleague),
    Action("assessor units", A, tap("ad:m:{worker}:as:0"), shows("Tap a unit")),
    Action("make assessor", A, tap("ad:m:{worker}:ast:{unit}"), does(_assessor), colleague),
    Action("suspend member", A, tap("ad:m:{worker}:act:0"), does(_inactive), colleague),
    Action("reactivate member", A, tap("ad:m:{member}:act:1"), does(_active), deactivated),
    Action("pending joins", A, tap("ad:pending"), shows("Waiting for approval: 1")),
    Action("approve a join", A, tap("jr:{member}:y"), does(_active), applicant),
    Action("decline a join", A, tap("jr:{member}:n"), does(_declined), applicant),
    Action("campaign", A, tap("ad:camp"), shows("人均节约1000元")),
    Action("categories", A, tap("ad:cats"), shows("Categories")),
    Action("archive category", A, tap("ad:cat:{cat}:arch"), does(_cat_archived), category),
    Action("restore category", A, tap("ad:cat:{cat}:rest"), does(_cat_restored), old_category),
    Action("announcement chats", A, tap("ad:chats"), shows("Announcement chats: 1")),
    Action("stop posting to a chat", A, tap("ad:chat:{chat}:off"), does(_chat_off), chat_row),
    Action("member search page", A, tap("ad:found:0"), shows("Members: ")),
    Action("new unit", A, tap("ad:newunit"), enter("三车间 50", _new_unit)),
    Action("rename unit", A, tap("ad:u:{unit}:ren"), enter("一车间（冶炼）", _renamed_unit)),
    Action("unit headcount", A, tap("ad:u:{unit}:hc"), enter("150", _headcount)),
    Action("find members", A, tap("ad:find"), enter("李", _found)),
    Action("new category", A, tap("ad:newcat"), enter("安全节能 / Safe", _new_category)),
    Action("rename category", A, tap("ad:cat:{cat}:ren"), enter("改 / Renamed", _recat), category),
    Action("import", A, tap("ad:imp"), _imported_file),
    Action("campaign name", A, tap("ad:cf:name"), enter("节约年", field("name", "节约年"))),
    Action("campaign start", A, tap("ad:cf:start"), enter("2026-01-05", field("starts_on", JAN_5))),
    Action("campaign end", A, tap("ad:cf:end"), enter("2026-11-30", field("ends_on", NOV_30))),
    Action("target per head", A, tap("ad:cf:pht"), enter("1200", field("per_head_target", 1200))),
    Action("total target", A, tap("ad:cf:tt"), enter("200万", field("total_target", 2000000))),
    Action("gold reward", A, tap("ad:cf:gold"), enter("800", field("gold_reward", 800))),
    Action("silver reward", A, tap("ad:cf:silver"), enter("300", field("silver_reward", 300))),
    Action(
        "reward share", A, tap("ad:cf:share"), enter("5%", field("reward_share", Decimal("0.05")))
    ),
    Action("/announce_here", A, cmd("announce_here", in_group=True), does(_announced), unannounced),
    # Exports, bulletins, reports.
    Action("/export", EXPORT, cmd("export"), _exported),
    Action("/bulletin", A, cmd("bulletin"), says("Which post?")),
    Action("bulletin menu", A, tap("bl:home"), shows("Which post?")),
    Action("bulletin kind", A, tap("bl:weekly"), shows("Weekly bulletin for")),
    Action("bulletin preview", A, tap("bl:weekly:v"), _preview),
    Action("bulletin post now", A, tap("bl:weekly:p"), says("Posted to 1 announcement chat.")),
    Action("/progress", MEMBERS, cmd("progress"), says("📈"), refusal="join"),
    Action("/rank", MEMBERS, cmd("rank"), says("🏆"), refusal="join"),
    Action(
        "rankings period",
        MEMBERS,
        tap("rk:week"),
        shows("🏆"),
        private_only=True,
        opened_by="rank",
    ),
]


def refusal_text(actor: str, action: Action) -> str:
    tr = translator(LANG[actor])
    if action.private_only and actor == "group_member":  # pressed on a group message
        return tr.plain("This button is no longer valid.")
    if action.refusal == "join":
        return tr.plain("Please join the campaign first: send /start.")
    return tr.plain(ERRORS[action.refusal])


@pytest.mark.parametrize("action", ACTIONS, ids=[a.name for a in ACTIONS])
async def test_every_privileged_action_by_every_role(world: World, action: Action) -> None:
    """The table: `action` tried by each role in turn (each on a fresh target). Refused: the
    refusal in the person's language (an alert for a press, a reply for a command), nothing
    else sent to anyone, nothing changed. Allowed: it works."""
    w = world
    outcomes: dict[str, str] = {}
    wrong: list[Any] = []  # refused cases with the wrong refusal, anything else sent or changed
    changed = 0  # rows the refused attempts changed
    # The refused first: what the allowed ones change cannot make a refusal pass.
    for actor in sorted(ACTORS, key=lambda a: a in action.allowed):
        target = await action.setup(w)
        if action.opened_by and actor != "group_member":
            await w.users[actor].command(action.opened_by)
        await w.bot.drain()  # what the setup queued is not part of the attempt
        before = await snapshot(w.db)
        calls = len(w.telegram.calls)
        attempt = await action.attempt(w, actor, target)
        assert w.bot.errors == [] and w.telegram.violations == [], (actor, action.name)
        if actor in action.allowed:
            await action.verify(w, actor, attempt)
            outcomes[actor] = "allowed"
            continue
        expected = refusal_text(actor, action)
        answer = attempt.answer
        if answer is not None or attempt.replies.edited:
            refused = answer is not None and (answer.text, answer.show_alert) == (expected, True)
            refused &= (list(attempt.replies), attempt.replies.edited) == ([], [])
            sent = ["answerCallbackQuery"]
        elif attempt.silent_in_group and not attempt.replies:
            refused = True
            sent = []  # a private-only command is not answered in a group, for anyone
        else:
            refused = attempt.replies.texts == [expected]
            sent = ["sendMessage"]
        # Nothing else went anywhere (no card, no notice, no edit), and nothing changed.
        made = [c.method for c in w.telegram.calls[calls:] if c.method != "getChatMember"]
        rows = changed_rows(before, await snapshot(w.db))
        changed += rows
        if not refused or made != sent or rows:
            to = [(c.method, c.params.get("chat_id")) for c in w.telegram.calls[calls:]]
            wrong.append((actor, answer, attempt.replies.texts, to, rows))
        outcomes[actor] = "refused"
    refusals = sum(o == "refused" for o in outcomes.values())
    tally(
        "access: the table of privileged actions",
        "{cases} (action, role) cases over {actions} privileged actions: {refused} refused, "
        "{clean} of them with only the refusal sent and nothing changed ({rows} rows changed); "
        "{allowed} allowed and done",
        cases=len(outcomes),
        actions=1,
        refused=refusals,
        clean=refusals - len(wrong),
        rows=changed,
        allowed=sum(o == "allowed" for o in outcomes.values()),
    )
    assert wrong == [], wrong
    assert changed == 0
    assert {a for a, o in outcomes.items() if o == "allowed"} == set(action.allowed)


# ---- privacy --------------------------------------------------------------------------------


async def _idea_of(w: World, role: str, title: str) -> Item:
    db = w.db
    campaign = await campaigns.get_current(db)
    author = await people.get(db, w.ids[role])
    assert campaign and author and author.unit_id
    draft = items.Draft(
        kind="idea", unit_id=author.unit_id, title=title, body="b", claimed_amount="1"
    )
    done = await items.submit(
        db, campaign.id, author, draft, NOW, w.bot.app.bot_data.settings.tzinfo
    )
    await w.bot.drain()
    return done.item


async def test_a_worker_sees_only_their_own_items(world: World) -> None:
    w = world
    author = w.users["author"]
    mine = await _idea_of(w, "author", "我的建议")
    theirs = await _idea_of(w, "worker", "李工的秘密")
    tz = w.bot.app.bot_data.settings.tzinfo
    await review.decide(w.db, theirs.id, w.ids["assessor"], "ask", NOW, tz, text="细节？")
    await w.bot.drain()
    [page] = await author.command("my")
    assert mine.number in page.text and theirs.number not in page.text
    assert all(f":{theirs.id}:" not in d for d in page.callback_data)
    before = await snapshot(w.db)
    tr = translator("zh")
    refusals = {
        f"my:i:{theirs.id}:0": ERRORS["not_found"],  # the detail, history and reasons
        f"ans:{theirs.id}": ERRORS["forbidden"],  # answering the question asked of them
        f"rv:{theirs.id}:open": ERRORS["forbidden"],  # a review card of it
        f"rv:{theirs.id}:fwd": ERRORS["forbidden"],
    }
    for data, refusal in refusals.items():
        replies = await author.press_raw(page, data)
        answer = author.answers[-1]
        assert (answer.text, answer.show_alert) == (tr.plain(refusal), True), data
        assert (list(replies), replies.edited) == ([], [])
    assert await snapshot(w.db) == before
    # Nothing the author ever received names the other item.
    for message in w.telegram.bot_messages(author.id):
        assert theirs.title not in message.text and theirs.number not in message.text
    # Their own item is shown in full.
    replies = await author.press(page, f"🔎 {mine.number}")
    assert "我的建议" in replies.edited[-1].text


async def test_an_anonymous_reporter_is_named_nowhere(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reporter's name, Telegram id and username appear in no message to anyone else (card,
    notice, alert, edit, bulletin), no export, no log line and no error report."""
    caplog.set_level(logging.DEBUG)
    w = world
    reporter = w.users["author"]  # 张三, @zhang_w, "Zhang"
    secrets = ["张三", "Zhang", "zhang_w", str(reporter.id)]
    # Reported through the chat, anonymously.
    await reporter.command("waste")
    await reporter.press(newest_with(w, reporter, ":unit:"), "✅ 一车间（本单位）")
    await reporter.send("3号泵房")
    await reporter.send("压缩空气漏气")
    await reporter.press(newest_with(w, reporter, ":skip"), "⏭ 不清楚")
    await reporter.send_photo()
    await reporter.press(newest_with(w, reporter, ":done"), "✅ 完成")
    await reporter.press(newest_with(w, reporter, ":anon:y"), "🕶 是，匿名反映")
    await reporter.press(newest_with(w, reporter, ":submit"), "✅ 提交")
    async with w.db.read() as session:
        report = await session.scalar(select(Item).where(Item.kind == "waste"))
    assert report and report.anonymous
    item = report.id
    # Every way a reviewer meets it: cards, a fresh card, lists, decisions, stale presses,
    # reminders, a reassignment to another unit, a dismissal, exports and bulletins.
    office, assessor, other = w.users["admin"], w.users["assessor"], w.users["other_assessor"]
    await assessor.press_raw(newest_with(w, assessor, f"rv:{item}:"), f"rv:{item}:open")
    for user in (office, assessor, w.users["committee"]):
        await user.command("review")
    await office.press(newest_with(w, office, f"rv:{item}:ack"), f"rv:{item}:ack")
    await assessor.press_raw(newest_with(w, assessor, f"rv:{item}:"), f"rv:{item}:ack")  # stale
    w.clock.advance(days=10)
    await review.send_reminders(
        w.db, review.Limits.of(w.bot.app.bot_data.settings), w.clock.now(), "zh"
    )
    await w.bot.drain()
    await office.command("overdue")
    await office.press(newest_with(w, office, f"rv:{item}:asg"), f"rv:{item}:asg")
    await office.press(newest_with(w, office, f"rvx:{item}:unit:"), f"rvx:{item}:unit:{w.unit_b}")
    # A failure while a reviewer acts on it: the error report names nobody either.
    original = review.decide

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(review, "decide", broken)
    await other.press(newest_with(w, other, f"rv:{item}:dis"), f"rv:{item}:dis")
    await other.send("不属实")
    assert [type(e) for e in w.bot.errors] == [RuntimeError]
    w.bot.errors.clear()
    monkeypatch.setattr(review, "decide", original)
    await other.press(newest_with(w, other, f"rv:{item}:dis"), f"rv:{item}:dis")
    await other.send("不属实")
    assert (await w.status(item)).status == ItemStatus.DISMISSED
    exports = []
    for user in (office, assessor, other):
        [sheet] = await user.command("export")
        exports.append(w.telegram.files[sheet.data["document"]["file_id"]].content)
    [menu] = await office.command("bulletin")
    for data in ("bl:weekly", "bl:weekly:v", "bl:weekly:p", "bl:monthly:v", "bl:monthly:p"):
        await office.press_raw(menu, data)
    # Nothing sent to anyone but the reporter names them.
    for call in w.telegram.calls:
        if str(call.params.get("chat_id")) == str(reporter.id):
            continue
        shown = repr(call.params)
        for secret in secrets:
            assert secret not in shown, (secret, call.method, shown[:300])
    # Nor does any cell of any export.
    for content in exports:
        book = load_workbook(io.BytesIO(content), read_only=True)
        for sheet in book.worksheets:
            for row in sheet.iter_rows(values_only=True):
                for cell in row:
                    for secret in secrets:
                        assert secret not in str(cell), (sheet.title, row)
    # Nor any log line of the bot's (at any level) or of anything at INFO and above, error
    # reports with their tracebacks included. (DEBUG lines of the libraries, which print every
    # SQL parameter and Bot API call, are database-level access: they are not checked.)
    assert any(r.levelno >= logging.ERROR for r in caplog.records)  # the failure was reported
    ours = ("bot", "handlers", "storage")
    for record in caplog.records:
        if record.levelno < logging.INFO and record.name.split(".")[0] not in ours:
            continue
        text = record.getMessage() + (record.exc_text or "")
        if record.exc_info and not record.exc_text:
            text += logging.Formatter().formatException(record.exc_info)
        for secret in secrets:
            assert secret not in text, (record.name, text[:300])


def newest_with(w: World, user: FakeUser, part: str) -> StoredMessage:
    """The user's newest message with a button whose callback data contains `part`."""
    for message in reversed(w.telegram.bot_messages(user.id)):
        if any(part in d for d in _buttons(message)):
            return message
    raise AssertionError(f"no button with {part!r} in {user!r}'s chat")
