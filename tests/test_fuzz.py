"""Fuzzing the real application: generated input (any text, emoji, right-to-left and zero-width
characters, 10,000-character messages, HTML and Markdown injection, stickers, locations,
contacts, photos, voice, commands, forged callback data) at every step of every conversation.

Each scenario builds the bot once and feeds it many generated cases (hypothesis; the number of
cases per scenario is in EXAMPLES, times STRESS). For every input: no handler raised, every call
the bot made passed the strict fake Bot API, the person got an answer (the expected re-ask where
there is one), nothing was stored that should not be, and what they typed comes back literally
(HTML escaped). The number of inputs is among the figures printed after the run
(tests/figures.py). Cases that random input rarely hits (texts exactly at their limits, tricky
numbers, broken files) have their own tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.amounts import AmountError, parse_amount
from bot.i18n import Translator, translator
from bot.menu import ENTRIES
from bot.services import campaigns, items, people, review, units
from bot.services.errors import ServiceError
from bot.texts import ERRORS
from handlers.admin import CAMPAIGN_FIELDS
from handlers.submission import MAX_FILES, MAX_PLACE
from storage.models import (
    Attachment,
    Category,
    Item,
    ItemAuthor,
    ItemEvent,
    ItemStatus,
    Member,
    MemberStatus,
    Unit,
)
from tests.conftest import BotHarness, make_settings, start_app, stop_app
from tests.fakeapi.core import FakeTelegram, StoredMessage
from tests.fakeapi.html import parse_html
from tests.fakeapi.users import FakeGroup, FakeUser, Replies, SentMessage
from tests.figures import record
from tests.helpers import NOW, STRESS, ManualClock, Plant, plant, seed_member, snapshot

# Generated cases per scenario (a case is a walk through a conversation, or a few inputs).
EXAMPLES = {
    "outside": 25,
    "buttons": 25,
    "idea": 16,
    "waste": 14,
    "review": 20,
    "approve": 12,
    "admin": 25,
    "joining": 16,
}
INPUTS: Counter[str] = Counter()  # inputs sent, by scenario
FAILED: Counter[str] = Counter()  # inputs after which a handler had raised
INVALID: Counter[str] = Counter()  # inputs after which the bot had broken a Bot API rule
COMMITTEE_CHAT = -400_999
LONG = 10_000


def fuzz(scenario: str) -> Callable[[Any], Any]:
    """Hypothesis settings: the app is built once per test and shared by its cases."""
    return fuzz_settings(
        max_examples=EXAMPLES[scenario] * STRESS,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    """Record how many inputs the module's tests sent, and how many broke something."""
    yield
    total = sum(INPUTS.values())
    if total:
        detail = ", ".join(f"{name} {n:,}" for name, n in sorted(INPUTS.items()))
        record(
            "fuzz: generated input",
            f"{total:,} fuzzed inputs: {sum(FAILED.values())} unhandled errors, "
            f"{sum(INVALID.values())} invalid Bot API calls ({detail})",
        )


# ---- generated input ------------------------------------------------------------------------

ZERO_WIDTH = ["\u200b", "\u200d", "\ufeff", "\u202e"]
RTL = ["مرحبا بالعالم", "שלום עולם", "\u200f", "١٢٣", "تم التوفير ٥٠٠"]
MARKUP = ["<b>", "</b>", "<b>bold</b>", '<a href="javascript:alert(1)">x</a>', "&amp;"]
MARKUP += ["&lt;b&gt;", "&#", "<code>", "</code>", "<pre>", "<tg-spoiler>", "<script>"]
MARKUP += ["*_[", "](tg://user?id=1)", "`", "||", "\\", "<", ">", "&", '"', "'"]
EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🇨🇳", "❤️", "🏭"]
WORDS = ["节约", "压缩空气漏气", "1.5万", "一万五千", "15,000元", "車間", "x", " ", "\n"]
# Numbers and dates that parse in surprising ways.
TRICKY = ["NaN", "nan%", "sNaN", "Infinity", "-0", "1e999999", "1E+99999999999", "²", "①", "٣"]
TRICKY += ["１２０", "0x10", "2026-02-30", "9999-12-31", "0001-01-01", "1_000", "+5", "5%"]
# Chat text leaves out U+0000 (no keyboard types it; files, which can hold it, have it below).
CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
PIECES = st.one_of(
    st.text(CHARS, min_size=1, max_size=12),
    st.sampled_from(ZERO_WIDTH + RTL + MARKUP + EMOJI + WORDS),
    st.sampled_from(TRICKY),
)
MENU_LABELS = {translator(lang).plain(entry.label) for entry in ENTRIES for lang in ("zh", "en")}


def _sendable(text: str) -> bool:
    """A text a person can send that is not a command or a menu button."""
    return bool(text) and not text.startswith("/") and text not in MENU_LABELS


def _repeat(piece_size: tuple[str, int]) -> str:
    piece, size = piece_size
    return (piece * (size // len(piece) + 1))[:size]


# Lengths at and over the limits (title 100, reason 1000, description 3000, message 4096).
SIZES = [40, 60, 100, 101, 1000, 1001, 3000, 3001, 4096, LONG]
TEXTS = (
    st.one_of(
        st.lists(PIECES, min_size=1, max_size=8).map("".join),
        st.tuples(PIECES, st.sampled_from(SIZES)).map(_repeat),
    )
    .map(str.strip)
    .filter(_sendable)
)
SHORT_TEXTS = st.lists(PIECES, min_size=1, max_size=4).map("".join).map(str.strip).filter(_sendable)


def near(limit: int) -> st.SearchStrategy[str]:
    """Any text, or one of `limit` or `limit + 1` characters (astral ones count twice)."""
    piece = st.one_of(PIECES, st.sampled_from(["😀", "𝐀", "👍🏽", "<&>"]))
    sized = st.tuples(piece, st.sampled_from([limit, limit + 1])).map(_repeat).map(str.strip)
    return st.one_of(TEXTS, sized.filter(_sendable))


@dataclass(frozen=True)
class Msg:
    """One input: kind is text, command, menu, sticker, location, contact, photo, voice,
    document or button (callback data; {key}, {item} and {member} are filled in)."""

    kind: str
    value: str = ""

    def __repr__(self) -> str:
        return f"{self.kind}({self.value[:80]!r}{'…' if len(self.value) > 80 else ''})"


COMMANDS = ["start", "cancel", "my", "help", "foo", "lang"]
SAFE_MENU = ["my", "progress", "rank", "review", "help", "language", "admin"]
MEDIA = st.one_of(
    st.sampled_from(EMOJI).map(lambda e: Msg("sticker", e)),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)).map(
        lambda ll: Msg("location", f"{ll[0]},{ll[1]}")
    ),
    SHORT_TEXTS.map(lambda name: Msg("contact", name[:60])),
    st.one_of(st.just(""), SHORT_TEXTS).map(lambda c: Msg("photo", c[:200])),
    st.just(Msg("voice")),
    SHORT_TEXTS.map(lambda n: Msg("document", n[:60] + ".pdf")),
)
# Forged callback data: valid prefixes with bad numbers ("#"), other people's ids, over 64
# bytes, unknown prefixes.
NUMBERS = st.one_of(
    st.sampled_from(
        ["{item}", "{member}", "0", "999999999", "1" * 10, "9" * 30, "٣", "１", "-1", "", "1.5"]
    ),
    st.integers(10**6, 10**40).map(str),
)
FORGED_PREFIXES = ["rv:#:fwd", "rv:#:ok", "rv:#:open", "rv:#:zz", "rvx:#:confirm", "rvx:#:grade"]
FORGED_PREFIXES += ["rvx:{item}:unit:#", "ans:#", "my:i:#:0", "my:i:{item}:#", "my:p:#", "rvl:#"]
FORGED_PREFIXES += ["rk:#", "bl:weekly:#", "ad:u:#", "ad:u:#:arch", "ad:m:#:role:admin:1"]
FORGED_PREFIXES += ["ad:m:#:act:0", "ad:m:#:ast:#", "ad:units:#", "ad:found:#", "ad:cf:#"]
FORGED_PREFIXES += ["jr:#:y", "join:unit:#", "join:group:#", "lang:#", "it:{key}:cat:#"]
FORGED_PREFIXES += ["it:{key}:unit:#", "it:{key}:co:#", "it:{key}:edit:#", "it:{key}:new:#"]
FORGED_PREFIXES += ["it:0123456789abcdef:submit", "it:#:done"]
FORGED = st.one_of(
    st.tuples(st.sampled_from(FORGED_PREFIXES), NUMBERS).map(lambda t: t[0].replace("#", t[1])),
    st.sampled_from(FORGED_PREFIXES).map(lambda p: p.replace("#", "9" * 80)),
    st.text(CHARS, max_size=100),
).map(lambda data: Msg("button", data))
JUNK_COMMANDS = st.sampled_from(COMMANDS).map(lambda c: Msg("command", c))
MENU = st.sampled_from(SAFE_MENU).map(lambda key: Msg("menu", key))


def junk(*, text: bool, media: st.SearchStrategy[Msg] = MEDIA) -> st.SearchStrategy[Msg]:
    """What someone may send instead of the answer: commands, menu buttons, forged presses,
    media, and (where a button is expected) typed text."""
    options = [JUNK_COMMANDS, MENU, FORGED, media]
    if text:
        options.append(TEXTS.map(lambda t: Msg("text", t)))
    return st.one_of(*options)


ANY_INPUT = st.one_of(TEXTS.map(lambda t: Msg("text", t)), JUNK_COMMANDS, MENU, FORGED, MEDIA)


# ---- the world: a plant, its people, a committee group -------------------------------------


@dataclass
class World:
    bot: BotHarness
    p: Plant  # 张三 (worker), 李四 (colleague), assessor, committee member, office
    group: FakeGroup  # the committee's chat
    other_item: int  # the colleague's idea: nobody else may see it
    other_member: int
    stranger: FakeUser  # never a member
    pending: FakeUser  # joined, waiting for approval
    suspended: FakeUser  # deactivated

    @property
    def telegram(self) -> FakeTelegram:
        return self.bot.telegram


@pytest.fixture
async def world(db_url: str, clock: ManualClock) -> AsyncIterator[World]:
    telegram = FakeTelegram()
    settings = make_settings(db_url, committee_chat_id=COMMITTEE_CHAT)
    bot = BotHarness(await start_app(settings, telegram, clock), telegram)  # type: ignore[arg-type]
    try:
        p = await plant(bot, clock, "zh")
        group = bot.group("节约评审委员会", chat_id=COMMITTEE_CHAT)
        colleague = await people.get(bot.db, p.colleague_id)
        campaign = await campaigns.get_current(bot.db)
        assert colleague and colleague.unit_id and campaign
        draft = items.Draft(
            kind="idea", unit_id=colleague.unit_id, title="李四的秘密", body="b", claimed_amount="1"
        )
        other = await items.submit(bot.db, campaign.id, colleague, draft, NOW, settings.tzinfo)
        stranger = bot.user(first_name="Stranger", language_code="en", started=False)
        pending = bot.user(first_name="Pending", language_code="en")
        await people.join(
            bot.db,
            telegram_id=pending.id,
            username=None,
            name="待批准",
            unit_id=p.unit_id,
            group="staff",
            language="en",
            pending=True,
            now=NOW,
        )
        suspended = bot.user(first_name="Gone", language_code="zh-hans")
        gone = await seed_member(bot.db, suspended.id, p.unit_id, "已停用", language="zh")
        await people.set_role(bot.db, gone.id, gone.id, "committee", True, NOW)
        await people.set_active(bot.db, None, gone.id, False, NOW)  # type: ignore[arg-type]
        await bot.drain()
        yield World(bot, p, group, other.item.id, p.colleague_id, stranger, pending, suspended)
    finally:
        await stop_app(bot.app)
    assert telegram.violations == [] and bot.errors == []


def clean(w: World, what: object, scenario: str = "") -> None:
    """No handler raised and every call was valid."""
    if w.bot.errors:
        FAILED[scenario] += 1
    if w.telegram.violations:
        INVALID[scenario] += 1
    assert w.bot.errors == [], f"{what!r} raised {w.bot.errors!r}"
    assert w.telegram.violations == [], f"{what!r}: {w.telegram.violations!r}"


def fresh(w: World) -> None:
    """A new case starts clean (a failed case was already reported through its asserts)."""
    w.bot.errors.clear()
    w.telegram.violations.clear()


def buttons_of(message: StoredMessage) -> list[str]:
    return [
        str(b["callback_data"])
        for row in message.inline_keyboard
        for b in row
        if "callback_data" in b
    ]


def newest(w: World, chat_id: int, wanted: Callable[[list[str]], bool]) -> StoredMessage:
    """The newest bot message in the chat whose buttons are wanted (`user.inbox` copies every
    message: too slow for hundreds of cases)."""
    for message in reversed(w.telegram.bot_messages(chat_id)):
        if wanted(buttons_of(message)):
            return message
    raise AssertionError("no such message")


def with_button(w: World, chat_id: int, data: str) -> StoredMessage:
    return newest(w, chat_id, lambda buttons: data in buttons)


def shown(html: str) -> str:
    """What a person reads for an HTML text the bot sends."""
    return parse_html(html).text.strip()


def lang_of(user: FakeUser) -> str:
    return "en" if (user.language_code or "").startswith("en") else "zh"


def menu_label(key: str, lang: str) -> str:
    entry = next(e for e in ENTRIES if e.key == key)
    return translator(lang).plain(entry.label)


async def feed(
    w: World, user: FakeUser, msg: Msg, scenario: str, *, key: str = "", lang: str | None = None
) -> Replies:
    """Send one input and check what must hold for every input."""
    lang = lang or lang_of(user)
    answered = len(user.answers)
    if msg.kind == "text":
        replies = await user.send(msg.value)
    elif msg.kind == "command":
        replies = await user.command(msg.value)
    elif msg.kind == "menu":
        replies = await user.send(menu_label(msg.value, lang))
    elif msg.kind == "sticker":
        replies = await user.send_sticker(msg.value)
    elif msg.kind == "location":
        lat, lon = (float(x) for x in msg.value.split(","))
        replies = await user.send_location(lat, lon)
    elif msg.kind == "contact":
        replies = await user.send_contact("+8613800000000", msg.value)
    elif msg.kind == "photo":
        replies = await user.send_photo(msg.value or None)
    elif msg.kind == "voice":
        replies = await user.send_voice()
    elif msg.kind == "document":
        replies = await user.send_document(msg.value)
    else:
        if not w.telegram.bot_messages(user.id):
            await user.command("help")  # a message to press on

        def filled(item: object, member: object) -> str:
            value = msg.value.replace("{key}", key or "ffff")
            return value.replace("{item}", str(item)).replace("{member}", str(member))

        data = filled(w.other_item, w.other_member)
        shown = w.telegram.bot_messages(user.id)
        if any(data in SentMessage.from_stored(m).callback_data for m in shown):
            # An id filled in can name a real choice (the other item's id is also a unit's):
            # that press would be a choice the person can make, not junk.
            data = filled(999999999, 999999999)
        replies = await user.press_raw(shown[-1], data)
    INPUTS[scenario] += 1
    clean(w, msg, scenario)
    if msg.kind == "button":
        assert len(user.answers) > answered, f"{msg!r} was not answered"
    else:
        assert len(replies) > 0, f"{msg!r} got no answer"
    return replies


async def tap(w: World, user: FakeUser, data: str, scenario: str) -> Replies:
    """Press the newest button with this callback data in the user's chat."""
    replies = await user.press(with_button(w, user.id, data), data)
    INPUTS[scenario] += 1
    clean(w, data, scenario)
    return replies


# The texts replies are checked against (as shown, in the person's language).
USE_BUTTONS = "Please answer the question above, or send /cancel to stop."
JOIN_FIRST = "Please join the campaign first: send /start."
NOT_TEXT = "Please write it as text, or send /cancel."


def command_reply(
    tr: Translator, command: str, name: str | None, *, reviewer: bool = False, admin: bool = False
) -> str:
    """The start of the reply to a command or menu button (`name`: an active member's)."""
    if command == "help":
        return shown(tr._("<b>Savings campaign bot</b>"))
    if command in ("lang", "language"):
        return tr.plain("Choose your language:")
    if (command == "review" and not reviewer) or (command == "admin" and not admin):
        return tr.plain(ERRORS["forbidden"])
    if name is None:  # not an active member
        return tr.plain(
            JOIN_FIRST if command in ("my", "progress", "rank") else "Send /start to begin."
        )
    if command == "start":
        return tr.plain("Welcome, {name}! Choose from the menu below.", name=name)
    heads = {
        "my": tr._("📋 <b>My items</b>: {n}", n="@@"),
        "progress": tr._("📈 <b>Campaign progress</b> · {name}", name="@@"),
        "rank": tr._("🏆 <b>Rankings</b> · {period}", period="@@"),
        "review": tr._("📥 <b>Waiting for me</b>: {n}", n="@@"),
        "admin": tr._("<b>Administration</b>\nWhat would you like to manage?"),
    }
    if command in heads:
        return shown(heads[command]).split("@@")[0]
    return tr.plain("Please choose from the menu below, or send /help.")  # /foo


def check_command(
    replies: Replies, tr: Translator, msg: Msg, name: str | None, **roles: bool
) -> None:
    """A command (or menu button) sent in the middle of a step: its usual answer."""
    expected = command_reply(tr, msg.value, name, **roles)
    assert replies[0].text.startswith(expected), (msg, replies.texts)


# ---- outside any conversation ---------------------------------------------------------------


@fuzz("outside")
@given(data=st.data())
async def test_anything_outside_a_conversation_gets_an_answer_and_changes_nothing(
    world: World, data: st.DataObject
) -> None:
    """A member, a stranger, a pending and a deactivated member send anything at all."""
    w = world
    fresh(w)
    before = await snapshot(w.bot.db)
    senders = {
        "worker": (w.p.worker, "张三"),
        "stranger": (w.stranger, None),
        "pending": (w.pending, None),
        "suspended": (w.suspended, None),
    }
    user, name = senders[data.draw(st.sampled_from(sorted(senders)), label="who")]
    tr = translator(lang_of(user))
    # /start would begin joining (its own scenario below).
    for msg in data.draw(st.lists(ANY_INPUT.filter(lambda m: m.value != "start"), max_size=5)):
        replies = await feed(w, user, msg, "outside")
        if msg == Msg("command", "cancel"):
            assert replies.texts == [tr.plain("There is nothing to cancel.")]
        elif msg.kind in ("command", "menu"):
            check_command(replies, tr, msg, name)
        elif msg.kind != "button":
            menu = "Please choose from the menu below, or send /help."
            assert replies.texts == [tr.plain(menu if name else "Send /start to begin.")]
    assert await snapshot(w.bot.db) == before


# ---- submitting an idea or a waste report ---------------------------------------------------

FILES_TEXT = "Please send a photo or a file, or tap the button."
DISCARDED = "Draft discarded. Nothing was sent."
FILE_KINDS = ("photo", "voice", "document")
NOT_FILES = MEDIA.filter(lambda m: m.kind not in FILE_KINDS)
NOT_VOICE = MEDIA.filter(lambda m: m.kind != "voice")


def title_ok(text: str) -> str | None:
    title = " ".join(text.split())
    try:
        items.check_text(title, "")
    except ServiceError:
        return None
    return title


def body_ok(text: str) -> str | None:
    return text.strip() if len(text.strip()) <= items.MAX_BODY else None


def place_ok(text: str) -> str | None:
    place = " ".join(text.split())
    return place if 0 < len(place) <= MAX_PLACE else None


def amount_ok(text: str, *, zero: bool = False) -> Decimal | None:
    try:
        return parse_amount(text, zero=zero)
    except AmountError:
        return None


class Cancelled(Exception):
    """A /cancel in the middle: the walk ends, with nothing stored."""


@dataclass
class Walk:
    """The worker going through the idea or waste-report steps, with junk in between."""

    w: World
    user: FakeUser
    lang: str
    data: st.DataObject
    scenario: str
    key: str = ""  # the draft's, in its buttons' callback data
    files: int = 0
    title: str = ""
    body: str = ""
    place: str | None = None
    amount: Decimal | None = None
    unit_id: int = 0
    anonymous: bool = False
    co_authors: int = 0

    @property
    def tr(self) -> Translator:
        return translator(self.lang)

    async def send(self, msg: Msg) -> Replies:
        return await feed(self.w, self.user, msg, self.scenario, key=self.key, lang=self.lang)

    async def press(self, data: str) -> Replies:
        return await tap(self.w, self.user, data, self.scenario)

    def buttons(self, action: str) -> list[str]:
        prefix = f"it:{self.key}:{action}:"
        message = newest(self.w, self.user.id, lambda b: any(d.startswith(prefix) for d in b))
        return [d for d in buttons_of(message) if d.startswith(prefix)]

    async def junk(self, strategy: st.SearchStrategy[Msg], step: str) -> None:
        """0-2 inputs that are not the answer: each is answered, the step stays."""
        tr = self.tr
        for msg in self.data.draw(st.lists(strategy, max_size=2), label=f"junk at {step}"):
            replies = await self.send(msg)
            if msg == Msg("command", "cancel"):
                assert replies.texts == [tr.plain(DISCARDED)]
                raise Cancelled
            if msg.kind in ("command", "menu"):
                check_command(replies, tr, msg, "张三")
            elif msg.kind == "text" and step == "files":
                assert replies.texts == [tr.plain(FILES_TEXT)], replies.texts
            elif msg.kind != "button":
                assert replies.texts == [tr.plain(USE_BUTTONS)], (msg, replies.texts)

    async def typed(
        self, step: str, check: Callable[[str], Any], fallback: str, limit: int = 100
    ) -> Any:
        """Typed answers until one is accepted; each refused one gets one message back."""
        attempts = self.data.draw(st.lists(near(limit), max_size=2), label=f"typed at {step}")
        for text in [*attempts, fallback]:
            value = check(text)
            replies = await self.send(Msg("text", text))
            if value is not None:
                return value
            assert len(replies) == 1 and replies[0].text, (step, text, replies.texts)
        raise AssertionError("the fallback is accepted")

    async def idea(self) -> None:
        tr, data = self.tr, self.data
        replies = await self.send(Msg("command", "idea"))
        self.key = replies[-1].callback_data[0].split(":")[1]
        await self.junk(junk(text=True), "category")
        replies = await self.press(
            data.draw(st.sampled_from(self.buttons("cat")), label="category")
        )
        title = "What is your idea? Send a short title (at most {limit} characters)."
        assert replies[-1].text == shown(tr._(title, limit=items.MAX_TITLE))
        await self.junk(junk(text=False), "title")
        self.title = await self.typed("title", title_ok, "夜班加热")
        await self.junk(junk(text=False, media=NOT_VOICE), "body")
        if data.draw(st.booleans(), label="voice as the description"):
            await self.send(Msg("voice"))
            self.files += 1
        else:
            self.body = await self.typed("body", body_ok, "说明", items.MAX_BODY)
        await self.junk(junk(text=False), "amount")
        self.amount = await self.typed("amount", amount_ok, "1.5万")
        assert self.w.telegram.bot_messages(self.user.id)[-1].text == tr.plain(
            "Which unit does the idea apply to?"
        )
        await self.unit_and_files()
        # Adding the colleague (a member's id filled in) is a choice the worker can make.
        colleague = Msg("button", "it:{key}:co:{member}")
        await self.junk(junk(text=False).filter(lambda m: m != colleague), "co-authors")
        for query in data.draw(st.lists(TEXTS, max_size=2), label="co-author search"):
            replies = await self.send(Msg("text", query))
            nobody = "Nobody found for «{query}». Try another part of the name, or tap Done."
            nobody = shown(tr._(nobody, query=" ".join(query.split())[:40]))  # shown literally
            assert replies[-1].text in (nobody, tr.plain("Tap the co-author to add:"))
            found = [d for d in replies[-1].callback_data if ":co:" in d]
            if found and data.draw(st.booleans(), label="add the co-author"):
                await self.press(found[0])
                self.co_authors += 1
        await self.press(f"it:{self.key}:done")
        await self.summary()

    async def waste(self) -> None:
        replies = await self.send(Msg("command", "waste"))
        self.key = replies[-1].callback_data[0].split(":")[1]
        await self.unit_and_files(place_and_title=True)
        await self.junk(junk(text=True), "anonymity")
        self.anonymous = self.data.draw(st.booleans(), label="anonymous")
        await self.press(f"it:{self.key}:anon:{'y' if self.anonymous else 'n'}")
        await self.summary()

    async def unit_and_files(self, *, place_and_title: bool = False) -> None:
        data = self.data
        await self.junk(junk(text=True), "unit")
        choice = data.draw(st.sampled_from(self.buttons("unit")), label="unit")
        self.unit_id = int(choice.rsplit(":", 1)[1])
        await self.press(choice)
        if place_and_title:
            await self.junk(junk(text=False), "place")
            self.place = await self.typed("place", place_ok, "3号泵房")
            await self.junk(junk(text=False), "title")
            self.title = await self.typed("title", title_ok, "压缩空气漏气")
            await self.junk(junk(text=False), "amount")
            if data.draw(st.booleans(), label="skip the amount"):
                await self.press(f"it:{self.key}:skip")
            else:
                self.amount = await self.typed("amount", amount_ok, "2千")
        await self.junk(junk(text=True, media=NOT_FILES), "files")
        for kind in data.draw(st.lists(st.sampled_from(FILE_KINDS), max_size=3), label="files"):
            replies = await self.send(Msg(kind, "plan.pdf" if kind == "document" else ""))
            self.files = min(self.files + 1, MAX_FILES)
            assert replies[-1].callback_data == [f"it:{self.key}:done"]
        await self.press(f"it:{self.key}:done")

    async def summary(self) -> None:
        """The card shows what was typed, literally; Submit or Cancel."""
        tr = self.tr
        await self.junk(junk(text=True), "summary")
        card = with_button(self.w, self.user.id, f"it:{self.key}:submit")
        if self.place is None:
            title = tr._("Title: <b>{title}</b>", title=self.title)
        else:
            title = tr._("What is wasted: <b>{title}</b>", title=self.title)
            assert shown(tr._("Place: {place}", place=self.place)) in card.text
        assert shown(title) in card.text, (self.title, card.text)
        if self.body:
            start = shown(tr._("Description: {body}", body=self.body[:100]))
            assert start in card.text, (self.body[:100], card.text)
        if not self.data.draw(st.booleans(), label="submit"):
            replies = await self.press(f"it:{self.key}:cancel")
            assert replies.texts == [tr.plain(DISCARDED)]
            raise Cancelled
        await self.press(f"it:{self.key}:submit")


async def _walk(w: World, data: st.DataObject, kind: str) -> None:
    fresh(w)
    lang = data.draw(st.sampled_from(["zh", "en"]), label="language")
    user = w.p.worker
    await user.command("cancel")  # whatever the last case left
    async with w.bot.db.write() as session:  # the worker's language in this case
        member = await session.get(Member, w.p.worker_id)
        assert member
        member.language = lang
    before = await snapshot(w.bot.db)
    async with w.bot.db.read() as session:
        last = await session.scalar(select(func.max(Item.id))) or 0
    walk = Walk(w, user, lang, data, kind)
    try:
        await (walk.idea() if kind == "idea" else walk.waste())
    except Cancelled:
        assert await snapshot(w.bot.db) == before
        return
    async with w.bot.db.read() as session:
        [item] = list(await session.scalars(select(Item).where(Item.id > last)))
        files = await session.scalar(
            select(func.count()).select_from(Attachment).where(Attachment.item_id == item.id)
        )
        authors = await session.scalar(
            select(func.count()).select_from(ItemAuthor).where(ItemAuthor.item_id == item.id)
        )
    stored = (item.title, item.body, item.place, item.claimed_amount, item.unit_id)
    assert stored == (walk.title, walk.body, walk.place, walk.amount, walk.unit_id)
    assert (files, authors, item.anonymous) == (walk.files, 1 + walk.co_authors, walk.anonymous)
    if item.anonymous:  # nobody who reviews it learns who sent it
        for reviewer in (w.p.assessor, w.p.office, w.p.committee):
            for message in w.telegram.bot_messages(reviewer.id):
                if item.number in message.text:
                    assert "张三" not in message.text and "zhang_w" not in message.text


@fuzz("idea")
@given(data=st.data())
async def test_idea_steps_survive_garbage(world: World, data: st.DataObject) -> None:
    await _walk(world, data, "idea")


@fuzz("waste")
@given(data=st.data())
async def test_waste_report_steps_survive_garbage(world: World, data: st.DataObject) -> None:
    await _walk(world, data, "waste")


# ---- texts at their limits: every message they appear in still fits ------------------------


@pytest.mark.parametrize("piece", ["😀", "<&>", "长"])
async def test_texts_at_their_limits_fit_every_message(world: World, piece: str) -> None:
    """The longest title and description, ten co-authors with the longest names, the longest
    question, answer, opinion and reason on one item: the summary, the reviewers' cards (with
    the answer on top, with the decision below), the committee group's card and the author's
    detail view all still fit in a message. (Astral characters count twice in Telegram's
    4096; markup is escaped.)"""
    w = world
    fresh(w)
    p, db, user = w.p, w.bot.db, w.p.worker

    def fill(n: int) -> str:
        return _repeat((piece, n))

    co = []
    for n in range(10):
        member = await seed_member(
            db, w.bot.user().id, p.unit_id, fill(people.MAX_NAME - 1) + str(n)
        )
        co.append(member)
    await user.command("idea")
    category = buttons_of(w.telegram.bot_messages(user.id)[-1])[0]  # it:<key>:cat:<id>
    key = category.split(":")[1]
    await tap(w, user, category, "limits")
    for text in (fill(items.MAX_TITLE), fill(items.MAX_BODY), "1.5万"):
        await feed(w, user, Msg("text", text), "limits")
    await tap(w, user, f"it:{key}:unit:{p.unit_id}", "limits")
    await tap(w, user, f"it:{key}:done", "limits")
    for member in co:
        await feed(w, user, Msg("text", member.name[-8:]), "limits")
        await tap(w, user, f"it:{key}:co:{member.id}", "limits")
    replies = await tap(w, user, f"it:{key}:done", "limits")
    assert replies[-1].text.count(piece) > 100  # the summary, with (part of) the description
    await tap(w, user, f"it:{key}:submit", "limits")
    async with db.read() as session:
        item = await session.scalar(select(Item).order_by(Item.id.desc()).limit(1))
    assert item and item.body == fill(items.MAX_BODY)
    longest = Msg("text", fill(review.MAX_TEXT))
    await tap(w, p.assessor, f"rv:{item.id}:ask", "limits")
    await feed(w, p.assessor, longest, "limits")
    await tap(w, user, f"ans:{item.id}", "limits")
    await feed(w, user, longest, "limits")
    await tap(w, p.assessor, f"rv:{item.id}:fwd", "limits")
    await feed(w, p.assessor, longest, "limits")
    assert any(item.number in m.text for m in w.telegram.bot_messages(w.group.id))
    await tap(w, p.committee, f"rv:{item.id}:rej", "limits")
    await feed(w, p.committee, longest, "limits")
    async with db.read() as session:
        row = await session.get(Item, item.id)
        assert row and row.status == ItemStatus.REJECTED
    await user.command("my")
    replies = await tap(w, user, f"my:i:{item.id}:0", "limits")
    assert fill(20) in replies.edited[-1].text


# ---- forged and random presses --------------------------------------------------------------


@fuzz("buttons")
@given(data=st.data())
async def test_forged_presses_are_answered_and_change_nothing(
    world: World, data: st.DataObject
) -> None:
    """Callback data over 64 bytes, other people's ids, unknown prefixes, valid prefixes with
    bad numbers; pressed by members, by people who are not, and on the committee group's card."""
    w = world
    fresh(w)
    before = await snapshot(w.bot.db)
    who = data.draw(
        st.sampled_from(["worker", "colleague", "stranger", "pending", "suspended", "group"]),
        label="who",
    )
    user = {
        "worker": w.p.worker,
        "colleague": w.p.colleague,
        "stranger": w.stranger,
        "pending": w.pending,
        "suspended": w.suspended,
        "group": w.p.colleague,
    }[who]
    if who == "group" and not w.telegram.bot_messages(w.group.id):
        await w.p.office.command_in(w.group, "help")
    for msg in data.draw(st.lists(FORGED, min_size=1, max_size=5), label="presses"):
        if who == "group":
            answered = len(user.answers)
            forged = msg.value.replace("{item}", str(w.other_item)).replace("{key}", "ffff")
            forged = forged.replace("{member}", str(w.other_member))
            replies = await user.press_raw(w.telegram.bot_messages(w.group.id)[-1], forged)
            INPUTS["buttons"] += 1
            clean(w, msg, "buttons")
            assert len(user.answers) > answered and not replies.edited  # the card stays
        else:
            await feed(w, user, msg, "buttons")
        if who not in ("worker", "colleague"):  # members may see their own pages and items
            assert user.answers[-1].text, msg  # a refusal in words
    assert await snapshot(w.bot.db) == before


# ---- the review: reason, question, opinion; the approval panel ------------------------------

# Opening an item is no junk for a reviewer: the committee may open any item under review,
# and a member's id filled in can be an item's (the item being reviewed here, say).
OPENINGS = (Msg("button", "rv:{item}:open"), Msg("button", "rv:{member}:open"))
REVIEW_JUNK = junk(text=False).filter(lambda m: m not in OPENINGS)


async def _submitted(w: World) -> Item:
    db = w.bot.db
    campaign = await campaigns.get_current(db)
    worker = await people.get(db, w.p.worker_id)
    assert campaign and worker
    draft = items.Draft(
        kind="idea", unit_id=w.p.unit_id, title="夜班加热", body="b", claimed_amount="15000"
    )
    done = await items.submit(
        db, campaign.id, worker, draft, NOW, w.bot.app.bot_data.settings.tzinfo
    )
    await w.bot.drain()
    return done.item


async def _last_event(w: World, item_id: int) -> tuple[str, str | None]:
    async with w.bot.db.read() as session:
        event = await session.scalar(
            select(ItemEvent)
            .where(ItemEvent.item_id == item_id)
            .order_by(ItemEvent.id.desc())
            .limit(1)
        )
        assert event
        return event.action, event.reason


@fuzz("review")
@given(data=st.data())
async def test_review_reason_step_survives_garbage(world: World, data: st.DataObject) -> None:
    """The assessor's opinion, question or rejection reason: junk is answered and decides
    nothing; the first acceptable text decides, and the author reads it literally."""
    w = world
    fresh(w)
    assessor, tr = w.p.assessor, translator("en")
    await assessor.command("cancel")
    item = await _submitted(w)
    code = data.draw(st.sampled_from(["fwd", "ask", "rej"]), label="decision")
    await tap(w, assessor, f"rv:{item.id}:{code}", "review")
    before = await snapshot(w.bot.db)
    for msg in data.draw(st.lists(REVIEW_JUNK, max_size=4), label="junk"):
        replies = await feed(w, assessor, msg, "review")
        if msg == Msg("command", "cancel"):
            assert replies.texts == [tr.plain("Cancelled: nothing was decided.")]
            assert await snapshot(w.bot.db) == before
            return
        if msg.kind in ("command", "menu"):
            check_command(replies, tr, msg, "王考核", reviewer=True)
        elif msg.kind in ("photo", "document"):
            assert replies.texts == [tr.plain(NOT_TEXT)]
        elif msg.kind != "button":
            assert replies.texts == [tr.plain(USE_BUTTONS)], (msg, replies.texts)
    assert await snapshot(w.bot.db) == before
    for text in [*data.draw(st.lists(near(review.MAX_TEXT), max_size=2), label="reasons"), "OK"]:
        replies = await feed(w, assessor, Msg("text", text), "review")
        reason = text.strip()
        if len(reason) > review.MAX_TEXT:
            too_long = tr.plain(ERRORS["reason_too_long"], limit=review.MAX_TEXT)
            assert replies.texts == [too_long], replies.texts
            assert await snapshot(w.bot.db) == before
            continue
        assert await _last_event(w, item.id) == (review.CODES[code], reason)
        told = w.telegram.bot_messages(w.p.worker.id)[-1]
        assert reason[:100] in told.text  # the author reads it as typed
        return


@fuzz("approve")
@given(data=st.data())
async def test_approval_panel_survives_garbage(world: World, data: st.DataObject) -> None:
    """The committee's certified amount and reward: anything typed is either an amount or
    answered with a re-ask; only the confirmation decides, with the amounts typed."""
    w = world
    fresh(w)
    committee, tr = w.p.committee, translator("zh")
    await committee.command("cancel")
    item = await _submitted(w)
    async with w.bot.db.read() as session:
        assessor = await session.scalar(
            select(Member.id).where(Member.telegram_id == w.p.assessor.id)
        )
    assert assessor
    tz = w.bot.app.bot_data.settings.tzinfo
    await review.decide(w.bot.db, item.id, assessor, "forward", NOW, tz, text="可行")
    await w.bot.drain()
    await tap(w, committee, f"rv:{item.id}:ok", "approve")
    before = await snapshot(w.bot.db)
    certified, reward = Decimal("15000.00"), None
    for field in data.draw(st.lists(st.sampled_from(["amt", "rew"]), max_size=2), label="edits"):
        await tap(w, committee, f"rvx:{item.id}:{field}", "approve")
        for msg in data.draw(st.lists(REVIEW_JUNK, max_size=2), label="junk"):
            replies = await feed(w, committee, msg, "approve")
            if msg == Msg("command", "cancel"):
                assert replies.texts == [tr.plain("Cancelled: nothing was decided.")]
                assert await snapshot(w.bot.db) == before
                return
            if msg.kind in ("command", "menu"):
                check_command(replies, tr, msg, "赵委员", reviewer=True)
            elif msg.kind != "button":
                assert replies.texts == [tr.plain(USE_BUTTONS)], (msg, replies.texts)
        for text in [*data.draw(st.lists(TEXTS, max_size=2), label="amounts"), "1.2万"]:
            replies = await feed(w, committee, Msg("text", text), "approve")
            value = amount_ok(text, zero=field == "rew")  # a reward may be nothing
            if value is None:
                ask = tr._("Please send an amount in yuan, for example 15000 or 1.5万.")
                assert replies.texts == [shown(ask)]
                continue
            certified, reward = (value, reward) if field == "amt" else (certified, value)
            panel = shown(tr._("<b>Approve {number}</b>", number=item.number))
            assert replies[-1].text.startswith(panel)
            break
        assert await snapshot(w.bot.db) == before
    await tap(w, committee, f"rvx:{item.id}:confirm", "approve")
    async with w.bot.db.read() as session:
        row = await session.get(Item, item.id)
    assert row and row.status == ItemStatus.APPROVED and row.certified_amount == certified
    assert reward is None or row.reward_amount == reward


# ---- administration steps -------------------------------------------------------------------

ADMIN_ASKS = ["ad:newunit", "ad:find", "ad:newcat", "ad:imp", "ad:u:{unit}:ren", "ad:u:{unit}:hc"]
ADMIN_ASKS += ["ad:cat:{category}:ren", *(f"ad:cf:{f}" for f in CAMPAIGN_FIELDS)]
# The office may press its own buttons: only data that no admin button has is junk here.
ADMIN_JUNK = junk(text=False).filter(
    lambda m: m.kind != "button" or not m.value.startswith(("ad:", "jr:", "bl:", "rv:"))
)
# A file may hold anything: NUL, carriage returns, quotes.
CELLS = st.one_of(
    SHORT_TEXTS,
    st.integers(-5, 10**7).map(str),
    st.sampled_from([*TRICKY, "\x00", "a\rb", '"', "党员", "一车间"]),
)
CSV = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=300),
    st.tuples(
        st.sampled_from(["name,headcount", "姓名,单位,政治面貌,用户名"]),
        st.lists(st.lists(CELLS, min_size=1, max_size=4), max_size=40),
    ).map(lambda t: t[0] + "\n" + "\n".join(",".join(r) for r in t[1])),
)


def admin_value(kind: str, text: str, field: str) -> object:
    """What the typed text means at this step (the services' own parsing); None if refused."""
    try:
        if kind == "newunit":
            name, _ = units.parse_name_and_headcount(text)
            return units.clean_unit_name(name)
        if kind == "ren":
            return units.clean_unit_name(text)
        if kind == "hc":
            return units.parse_headcount(text)
        if kind in ("newcat", "catren"):
            return campaigns.parse_category_names(text)
        return campaigns.parse_value(CAMPAIGN_FIELDS[field], text)
    except ServiceError:
        return None


async def _stored(w: World, kind: str, field: str, unit_id: int, category_id: int) -> object:
    """The value the step changes, as stored now."""
    async with w.bot.db.read() as session:
        if kind == "newunit":
            return set(await session.scalars(select(Unit.name)))
        if kind in ("ren", "hc"):
            unit = await session.get(Unit, unit_id)
            assert unit
            return unit.name if kind == "ren" else unit.headcount
        if kind in ("newcat", "catren"):
            rows = await session.execute(select(Category.name_zh, Category.name_en))
            return set(map(tuple, rows))
        campaign = await campaigns.current(session)
        assert campaign
        return getattr(campaign, CAMPAIGN_FIELDS[field])


@fuzz("admin")
@given(data=st.data())
async def test_admin_steps_survive_garbage(world: World, data: st.DataObject) -> None:
    """Every typed step of the administration: junk is answered and changes nothing; a typed
    value is either stored as parsed (and shown) or refused with a re-ask."""
    w = world
    fresh(w)
    office, tr = w.p.office, translator("en")  # an admin
    await office.command("cancel")
    async with w.bot.db.read() as session:
        unit_id = await session.scalar(select(func.max(Unit.id)))
        category_id = await session.scalar(select(func.max(Category.id)))
    assert unit_id and category_id
    template = data.draw(st.sampled_from(ADMIN_ASKS), label="step")
    ask = template.replace("{unit}", str(unit_id)).replace("{category}", str(category_id))
    replies = await office.press_raw(w.telegram.bot_messages(office.id)[-1], ask)
    INPUTS["admin"] += 1
    clean(w, ask, "admin")
    assert replies[-1].text.endswith(tr.plain("Send /cancel to stop.")), replies.texts
    parts = ask.split(":")
    kind = {"u": parts[-1], "cat": "catren"}.get(parts[1], parts[1])
    field = parts[2] if kind == "cf" else ""
    before = await snapshot(w.bot.db)
    for msg in data.draw(st.lists(ADMIN_JUNK, max_size=3), label="junk"):
        replies = await feed(w, office, msg, "admin")
        if msg == Msg("command", "cancel"):
            assert replies.texts == [tr.plain("Cancelled. Nothing was changed.")]
            assert await snapshot(w.bot.db) == before
            return
        if msg.kind in ("command", "menu"):
            check_command(replies, tr, msg, "钱办公室", reviewer=True, admin=True)
        elif msg.kind == "document" and kind == "imp":
            assert replies.texts[0].startswith("Nothing was imported."), replies.texts
        elif msg.kind != "button":
            expected = "Please send the file as a document." if kind == "imp" else NOT_TEXT
            assert replies.texts == [tr.plain(expected)], (msg, replies.texts)
        assert await snapshot(w.bot.db) == before
    if kind == "imp":
        replies = await office.send_document("plant.csv", content=data.draw(CSV).encode())
        INPUTS["admin"] += 1
        clean(w, "import", "admin")
        [reply] = replies
        if not reply.text.startswith("Imported:"):
            assert reply.text.startswith("Nothing was imported.")
            assert await snapshot(w.bot.db) == before
        return
    if kind == "find":  # a search changes nothing
        replies = await feed(w, office, Msg("text", data.draw(TEXTS, label="typed")), "admin")
        assert replies[-1].text.startswith(("Members: ", "No members found."))
        assert await snapshot(w.bot.db) == before
        return
    stored = await _stored(w, kind, field, unit_id, category_id)
    for text in data.draw(st.lists(near(60), min_size=1, max_size=3), label="typed"):
        replies = await feed(w, office, Msg("text", text), "admin")
        value = admin_value(kind, text, field)
        now = await _stored(w, kind, field, unit_id, category_id)
        if now == stored:  # refused: a re-ask (bad value, duplicate, dates out of order...)
            assert len(replies) == 1 and replies[0].text, replies.texts
            continue
        assert value is not None, (kind, text)
        if kind == "newunit":
            assert now == stored | {value} and replies[-1].text.startswith(str(value))
        elif kind == "ren":
            assert now == value and replies[-1].text.startswith(str(value))
        elif kind in ("newcat", "catren"):
            assert value in now  # type: ignore[operator]
        elif field == "share":  # stored with four decimals
            assert abs(now - value) < Decimal("0.0001")  # type: ignore[operator]
        else:
            assert now == value
        return


async def test_tricky_values_at_every_admin_number_and_date(world: World) -> None:
    """Numbers and dates that parse in surprising ways ("NaN", "²", "1E+99999999999"...),
    at the headcount and every campaign field: answered, stored only when valid."""
    w = world
    office = w.p.office
    async with w.bot.db.read() as session:
        unit_id = await session.scalar(select(func.min(Unit.id)))
    for ask in [f"ad:u:{unit_id}:hc", *(f"ad:cf:{f}" for f in CAMPAIGN_FIELDS if f != "name")]:
        await office.press_raw(w.telegram.bot_messages(office.id)[-1], ask)
        clean(w, ask)
        for value in TRICKY:
            before = await snapshot(w.bot.db)
            replies = await office.send(value)
            INPUTS["admin"] += 1
            clean(w, (ask, value), "admin")
            assert len(replies) == 1, (ask, value)
            if await snapshot(w.bot.db) != before:  # stored: on to the next value
                await office.press_raw(w.telegram.bot_messages(office.id)[-1], ask)
        await office.command("cancel")


BROKEN_FILES = {
    "nul.csv": "name,headcount\n五\x00车间,5\n",  # PostgreSQL refuses NUL in text
    "superscript.csv": "name,headcount\n六车间,²\n",  # "²".isdigit(), and int("²") fails
    "carriage-return.csv": 'name,headcount\n七\r车间,5\n"八\r车间",6\n',
    "long-rows.csv": "name,headcount\n" + "".join(f"{'长' * 500}{n},x\n" for n in range(40)),
    "emoji-rows.csv": "name,headcount\n" + "".join(f"{'😀' * 70}{n},5\n" for n in range(40)),
}


async def test_import_files_that_broke_the_bot(world: World) -> None:
    """NUL, superscript digits, carriage returns, many long bad rows: each file is answered
    (its problems fit in one message); nothing is half imported."""
    w = world
    office = w.p.office
    for name, content in BROKEN_FILES.items():
        await office.press_raw(w.telegram.bot_messages(office.id)[-1], "ad:imp")
        before = await snapshot(w.bot.db)
        [reply] = await office.send_document(name, content=content.encode())
        INPUTS["admin"] += 1
        clean(w, name, "admin")
        if reply.text.startswith("Imported:"):
            assert await snapshot(w.bot.db) != before
        else:
            assert reply.text.startswith("Nothing was imported.")
            assert await snapshot(w.bot.db) == before
        await office.command("cancel")
    async with w.bot.db.read() as session:
        names = set(await session.scalars(select(Unit.name)))
    assert "五 车间" in names and "六车间" not in names


# ---- joining --------------------------------------------------------------------------------

PAYLOADS = st.one_of(
    st.just(""),
    st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", max_size=64),
)
STRAY = "Please use the buttons above, or send /cancel to stop."


@fuzz("joining")
@given(data=st.data())
async def test_joining_survives_garbage(world: World, data: st.DataObject) -> None:
    """Joining with any Telegram name, any deep-link payload and junk at every step: each
    answered; the member is stored once, with the name shown back literally."""
    w = world
    fresh(w)
    code = data.draw(st.sampled_from(["zh-hans", "en"]), label="language")
    tr = translator("en" if code == "en" else "zh")
    first = data.draw(SHORT_TEXTS.map(lambda t: t[:64]), label="first name")
    user = w.bot.user(first_name=first, language_code=code, started=False)
    before = await snapshot(w.bot.db)
    replies = await user.start(data.draw(PAYLOADS, label="payload"))
    INPUTS["joining"] += 1
    clean(w, "start", "joining")
    assert replies and replies[-1].callback_data, replies.texts

    async def junk_at(step: str, text: bool) -> None:
        for msg in data.draw(st.lists(junk(text=text), max_size=2), label=f"junk at {step}"):
            if msg.value == "start" or (msg.kind == "menu" and step == "name"):
                continue  # /start begins again; typed at the name step, a label is a name
            replies = await feed(w, user, msg, "joining")
            if msg == Msg("command", "cancel"):
                cancelled = "Registration cancelled. Send /start to begin again."
                assert replies.texts == [tr.plain(cancelled)]
                raise Cancelled
            if msg.kind == "command":
                check_command(replies, tr, msg, None)
            elif msg.kind != "button":
                assert replies.texts == [tr.plain(STRAY)], (msg, replies.texts)

    try:
        await junk_at("unit", text=True)
        message = newest(w, user.id, lambda b: any(d.startswith("join:unit:") for d in b))
        choices = [d for d in buttons_of(message) if d.startswith("join:unit:")]
        await tap(w, user, data.draw(st.sampled_from(choices), label="unit"), "joining")
        await junk_at("name", text=False)
        typed = data.draw(st.one_of(st.none(), near(people.MAX_NAME)), label="typed name")
        if typed is None:
            replies = await tap(w, user, "join:name", "joining")
            name = " ".join(first[: people.MAX_NAME].split())
        else:
            replies = await feed(w, user, Msg("text", typed), "joining")
            name = " ".join(typed.split())
        if not 0 < len(name) <= people.MAX_NAME:  # asked again
            assert not any("join:group:" in d for d in replies[-1].callback_data)
            raise Cancelled
        await junk_at("group", text=True)
    except Cancelled:
        assert await snapshot(w.bot.db) == before
        return
    replies = await tap(w, user, "join:group:staff", "joining")
    async with w.bot.db.read() as session:
        member = await session.scalar(select(Member).where(Member.telegram_id == user.id))
    assert member is not None and member.name == name and member.status == MemberStatus.ACTIVE
    welcome = tr.plain("You are registered, {name}. Welcome to the campaign!", name=name)
    assert replies[-1].text == welcome.strip()


async def test_a_telegram_name_of_blanks_is_asked_to_be_typed(world: World) -> None:
    w = world
    user = w.bot.user(first_name="\u00a0\u2003", language_code="en")
    before = await snapshot(w.bot.db)
    await user.start()
    await tap(w, user, f"join:unit:{w.p.unit_id}", "joining")
    replies = await tap(w, user, "join:name", "joining")
    assert replies.texts == ["The name cannot be empty. Please send it again."]
    assert await snapshot(w.bot.db) == before
    replies = await user.send("Wang Wu")
    assert "Which group" in replies.texts[-1]
