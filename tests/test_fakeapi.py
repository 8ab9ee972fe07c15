"""Tests of the offline Bot API harness itself (tests/fakeapi)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    ExtBot,
    MessageHandler,
    filters,
)

from tests.fakeapi.core import FakeTelegram
from tests.fakeapi.html import HtmlParseError, parse_html, strip_text, utf16_len
from tests.fakeapi.request import FakeRequest
from tests.fakeapi.spec import ApiSpec, UploadedFile
from tests.fakeapi.users import Harness

TOKEN = "123:TEST"
USER = 1001
GROUP = -4001


# == HTML validator ============================================================================


@pytest.mark.parametrize(
    ("source", "plain"),
    [
        ("plain text", "plain text"),
        ("<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em>", "bold s i e"),
        ("<u>u</u><ins>i</ins><s>s</s><strike>k</strike><del>d</del>", "uiskd"),
        ('<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler>', "xy"),
        ('<a href="https://example.com/?a=1&amp;b=2">link</a>', "link"),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
        ("<code>x &lt; y</code>", "x < y"),
        ('<pre><code class="language-python">print(1)</code></pre>', "print(1)"),
        ("<blockquote>q</blockquote><blockquote expandable>e</blockquote>", "qe"),
        ("<b>bold <i>both <u>all</u></i></b>", "bold both all"),
        ("<B>upper</B>", "upper"),
        ("&lt;&gt;&amp;&quot;&#65;&#x42;&#x1F600;", '<>&"AB😀'),
        ("<b><a href='tg://user?id=1'>mention</a></b>", "mention"),
        ("<blockquote><b>bold</b> and <code>code</code></blockquote>", "bold and code"),
        ("中文 <b>粗体</b>", "中文 粗体"),
        ('<a href="https://x.y/?a=1&b=2">q</a>', "q"),
    ],
)
def test_html_valid(source: str, plain: str) -> None:
    assert parse_html(source).text == plain


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("ok <br>", 'Unsupported start tag "br" at byte offset 3'),
        ("<b>x</i>", 'Unmatched end tag, expected "</b>", found "</i>"'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", 'Unexpected end tag "</b>"'),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("1 < 2", 'Unescaped "<"'),
        ("1 > 2", 'Unescaped ">"'),
        ("a & b", 'Unescaped "&"'),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;"'),
        ("&#xD800;", "Invalid numeric HTML entity"),
        ('<b class="x">x</b>', 'Unsupported attribute "class" in the tag "b"'),
        ('<a href="x" title="t">x</a>', 'Unsupported attribute "title"'),
        ("<a>x</a>", 'Tag "a" must have a non-empty attribute "href"'),
        ('<span class="red">x</span>', 'must have class "tg-spoiler"'),
        ("<span>x</span>", 'must have class "tg-spoiler"'),
        ('<tg-emoji emoji-id="abc">x</tg-emoji>', "numeric attribute"),
        ('<code class="language-py">x</code>', "standalone code tags"),
        ('<pre><code class="python">x</code></pre>', "language-<name>"),
        ("<code><b>x</b></code>", 'Tag "b" can\'t be nested inside "code"'),
        ("<pre><b>x</b></pre>", 'Tag "b" can\'t be nested inside "pre"'),
        ('<a href="u"><code>x</code></a>', 'Tag "code" can\'t be nested inside "a"'),
        ('<a href="u"><a href="v">x</a></a>', 'Tag "a" can\'t be nested inside "a"'),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "can't be nested"),
        ("<b", "Unclosed start tag"),
        ("<b>x</b", "Unclosed end tag"),
        ("<b/>", "Self-closing"),
        ("中文<foo>", "byte offset 6"),
    ],
)
def test_html_invalid(source: str, error: str) -> None:
    with pytest.raises(HtmlParseError) as info:
        parse_html(source)
    assert error in str(info.value)
    assert str(info.value).startswith("Bad Request: can't parse entities: ")


def test_html_entities_use_utf16_offsets() -> None:
    parsed = parse_html(
        '😀 <b>bold</b> <a href="https://x.y">l</a> <pre><code class="language-py">p</code></pre>'
    )
    assert parsed.entities == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "text_link", "offset": 8, "length": 1, "url": "https://x.y"},
        {"type": "pre", "offset": 10, "length": 1, "language": "py"},
    ]
    assert utf16_len("😀") == 2
    stripped = strip_text(parse_html("  <b> x </b>  "))
    assert stripped.text == "x"
    assert stripped.entities == [{"type": "bold", "offset": 0, "length": 1}]


# == spec validation ===========================================================================


@pytest.fixture(scope="module")
def spec() -> ApiSpec:
    return ApiSpec.load()


def _button(**kwargs: Any) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": "b", **kwargs}]]}


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        ("sendMessage", {"chat_id": 1, "text": "x"}, None),
        ("sendMessage", {"chat_id": "@channel", "text": "x"}, None),
        ("sendMessage", {"chat_id": 1, "text": "x" * 4096}, None),
        ("sendMessage", {"chat_id": 1, "text": "x" * 4097}, "message is too long"),
        ("sendMessage", {"chat_id": 1, "text": "😀" * 2048}, None),
        ("sendMessage", {"chat_id": 1, "text": "😀" * 2049}, "message is too long"),
        (
            "sendMessage",
            {"chat_id": 1, "text": "<b>" + "x" * 4096 + "</b>", "parse_mode": "HTML"},
            None,
        ),
        ("sendMessage", {"chat_id": 1, "text": "<b> </b>", "parse_mode": "HTML"}, "text is empty"),
        ("sendMessage", {"chat_id": 1, "text": ""}, "message text is empty"),
        ("sendMessage", {"chat_id": 1, "text": "a<b", "parse_mode": "HTML"}, "parse entities"),
        ("sendMessage", {"chat_id": 1, "text": "a<b"}, None),
        ("sendMessage", {"chat_id": 1, "text": "x", "parse_mode": "XML"}, "unsupported parse_mode"),
        ("sendMessage", {"text": "x"}, "chat_id is empty"),
        ("sendMessage", {"chat_id": 1}, "message text is empty"),
        ("sendMessage", {"chat_id": 1, "text": "x", "bogus": 1}, 'unknown parameter "bogus"'),
        ("sendMessage", {"chat_id": 1.5, "text": "x"}, "must be of type"),
        ("sendMessage", {"chat_id": True, "text": "x"}, "must be of type"),
        ("sendMessage", {"chat_id": 1, "text": 5}, "must be of type String"),
        ("deleteMessage", {"chat_id": 1, "message_id": "5"}, "must be of type Integer"),
        ("sendMessage", {"chat_id": 1, "text": "x", "disable_notification": 1}, "Boolean"),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": _button(callback_data="d")},
            None,
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": _button(url="https://a.b")},
            None,
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": _button(callback_data="x" * 64)},
            None,
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": _button(callback_data="x" * 65)},
            "BUTTON_DATA_INVALID",
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": _button(callback_data="中" * 22)},
            "BUTTON_DATA_INVALID",
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": _button(callback_data="")},
            "BUTTON_DATA_INVALID",
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": _button()},
            "Text buttons are unallowed",
        ),
        (
            "sendMessage",
            {
                "chat_id": 1,
                "text": "x",
                "reply_markup": _button(callback_data="d", url="https://a"),
            },
            "exactly one action",
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": _button(callback_data="d", x=1)},
            'unknown field "x"',
        ),
        (
            "sendMessage",
            {
                "chat_id": 1,
                "text": "x",
                "reply_markup": {
                    "inline_keyboard": [
                        [{"text": str(i), "callback_data": str(i)}] for i in range(101)
                    ]
                },
            },
            "reply markup is too long",
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": {"keyboard": [["a", {"text": "b"}]]}},
            None,
        ),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": {"remove_keyboard": True}},
            None,
        ),
        ("sendMessage", {"chat_id": 1, "text": "x", "reply_markup": {"force_reply": True}}, None),
        (
            "sendMessage",
            {"chat_id": 1, "text": "x", "reply_markup": {"keyboard": "a"}},
            "must be of type",
        ),
        ("sendPhoto", {"chat_id": 1, "photo": "file-id", "caption": "c" * 1024}, None),
        (
            "sendPhoto",
            {"chat_id": 1, "photo": "file-id", "caption": "c" * 1025},
            "message caption is too long",
        ),
        ("sendPhoto", {"chat_id": 1, "photo": UploadedFile("a.jpg", b"x")}, None),
        ("sendPhoto", {"chat_id": 1, "photo": 5}, "must be of type InputFile or String"),
        (
            "sendPhoto",
            {"chat_id": 1, "photo": "f", "caption": "<i>x", "parse_mode": "HTML"},
            "parse entities",
        ),
        (
            "sendMediaGroup",
            {
                "chat_id": 1,
                "media": [{"type": "photo", "media": "a"}, {"type": "video", "media": "b"}],
            },
            None,
        ),
        (
            "sendMediaGroup",
            {"chat_id": 1, "media": [{"type": "photo", "media": "a"}]},
            "media must be 2-10 items",
        ),
        (
            "sendMediaGroup",
            {
                "chat_id": 1,
                "media": [{"type": "photo", "media": "a"}, {"type": "document", "media": "b"}],
            },
            "documents can't be mixed",
        ),
        (
            "sendMediaGroup",
            {
                "chat_id": 1,
                "media": [
                    {"type": "photo", "media": "a"},
                    {"type": "photo", "media": "b", "caption": "<b>", "parse_mode": "HTML"},
                ],
            },
            "parse entities",
        ),
        ("answerCallbackQuery", {"callback_query_id": "1", "text": "t" * 200}, None),
        ("answerCallbackQuery", {"callback_query_id": "1", "text": "t" * 201}, "MESSAGE_TOO_LONG"),
        ("setMyCommands", {"commands": [{"command": "start", "description": "go"}]}, None),
        (
            "setMyCommands",
            {"commands": [{"command": "Start", "description": "go"}]},
            "BOT_COMMAND_INVALID",
        ),
        (
            "setMyCommands",
            {"commands": [{"command": "x" * 33, "description": "go"}]},
            "BOT_COMMAND_INVALID",
        ),
        (
            "setMyCommands",
            {"commands": [{"command": "start", "description": "d" * 257}]},
            "BOT_COMMAND_DESCRIPTION_INVALID",
        ),
        ("setMyCommands", {"commands": [{"command": "start"}]}, 'field "description" is required'),
        (
            "setMyCommands",
            {"commands": [{"command": f"c{i}", "description": "d"} for i in range(101)]},
            "too many commands",
        ),
        (
            "setMyCommands",
            {"commands": [], "scope": {"type": "chat", "chat_id": 5}, "language_code": "zh"},
            None,
        ),
        ("setMyCommands", {"commands": [], "scope": {"type": "chat"}}, 'field "chat_id"'),
        ("setMyCommands", {"commands": [], "scope": {"type": "everyone"}}, "unsupported type"),
        ("editMessageText", {"chat_id": 1, "text": "x"}, "message identifier is not specified"),
        ("editMessageText", {"chat_id": 1, "message_id": 2}, "message text is empty"),
        (
            "editMessageText",
            {"chat_id": 1, "message_id": 2, "text": "x" * 4097},
            "message is too long",
        ),
        ("sendChatAction", {"chat_id": 1, "action": "typing"}, None),
        ("sendChatAction", {"chat_id": 1, "action": "thinking"}, "wrong parameter action"),
        ("getUpdates", {"limit": 101}, "limit must be 1-100"),
        ("setChatMenuButton", {"menu_button": {"type": "commands"}}, None),
        ("noSuchMethod", {}, "Not Found"),
    ],
)
def test_spec_validate_call(
    spec: ApiSpec, method: str, params: dict[str, Any], expected: str | None
) -> None:
    problems = spec.validate_call(method, params)
    if expected is None:
        assert problems == []
    else:
        assert problems, f"expected a violation containing {expected!r}"
        assert any(expected in str(p) for p in problems), [str(p) for p in problems]


def test_spec_checks_results_and_decodes_form_values(spec: ApiSpec) -> None:
    message = {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "x"}
    assert spec.check_result("sendMessage", message) == []
    assert spec.check_result("sendMessage", {"message_id": 1}) != []
    assert spec.check_result("editMessageText", True) == []
    decoded = spec.decode_params(
        "sendMessage",
        {
            "chat_id": "5",
            "text": "7",
            "reply_markup": '{"force_reply": true}',
            "protect_content": "true",
        },
        form=True,
    )
    assert decoded == {
        "chat_id": "5",
        "text": "7",
        "reply_markup": {"force_reply": True},
        "protect_content": True,
    }


# == FakeTelegram over a real bot ==============================================================


@pytest.fixture
def fake() -> FakeTelegram:
    telegram = FakeTelegram()
    telegram.register_user({"id": USER, "is_bot": False, "first_name": "Ann"})
    telegram.register_chat(GROUP, "group", title="Team")
    return telegram


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[ExtBot[None]]:
    request = FakeRequest(fake)
    ext_bot: ExtBot[None] = ExtBot(
        TOKEN,
        defaults=Defaults(parse_mode=ParseMode.HTML),
        request=request,
        get_updates_request=request,
    )
    async with ext_bot:
        yield ext_bot


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


async def test_valid_calls_succeed(bot: ExtBot[None], fake: FakeTelegram) -> None:
    assert bot.username == "savings_test_bot"
    message = await bot.send_message(
        USER, "<b>Hi</b> &amp; welcome", reply_markup=keyboard(("Go", "go"))
    )
    assert message.text == "Hi & welcome"
    assert message.entities[0].type == "bold"
    assert message.reply_markup == keyboard(("Go", "go"))
    assert message.from_user is not None and message.from_user.is_bot
    reply = await message.reply_text("a reply", do_quote=True)
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == message.message_id
    assert reply.message_id == message.message_id + 1
    await bot.send_message(GROUP, "group hello", reply_markup=ReplyKeyboardMarkup([["A", "B"]]))
    assert await bot.send_chat_action(USER, "typing")
    assert await bot.set_my_commands([BotCommand("start", "Start")])
    assert await bot.set_my_commands(
        [BotCommand("admin", "Admin")], scope=BotCommandScopeChat(USER), language_code="zh"
    )
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert [c.command for c in await bot.get_my_commands(BotCommandScopeChat(USER), "zh")] == [
        "admin"
    ]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    chat = await bot.get_chat(GROUP)
    assert chat.title == "Team"
    member = await bot.get_chat_member(GROUP, bot.id)
    assert member.status == "administrator"
    assert (await bot.get_chat_member(USER, USER)).status == "member"
    assert await bot.set_chat_menu_button()
    assert await bot.leave_chat(GROUP)
    with pytest.raises(Forbidden, match="not a member"):
        await bot.send_message(GROUP, "still here?")
    assert fake.violations == []
    assert [c.method for c in fake.calls][:2] == ["getMe", "sendMessage"]


async def test_ptb_default_parse_mode_on_other_methods_is_tolerated(
    bot: ExtBot[None], fake: FakeTelegram
) -> None:
    # PTB sends Defaults' parse_mode even to methods without it; Telegram ignores it.
    message = await bot.send_location(USER, 31.2, 121.5)
    await bot.edit_message_reply_markup(USER, message.message_id, reply_markup=keyboard(("a", "a")))
    assert fake.calls[-1].params["parse_mode"] == "HTML"
    assert fake.violations == []


async def test_members_and_admins(bot: ExtBot[None], fake: FakeTelegram) -> None:
    fake.register_user({"id": 5, "is_bot": False, "first_name": "Boss"})
    fake.set_member(GROUP, 5, "creator")
    fake.set_member(GROUP, USER, "restricted")
    assert (await bot.get_chat_member(GROUP, 5)).status == "creator"
    assert (await bot.get_chat_member(GROUP, USER)).status == "restricted"
    admins = await bot.get_chat_administrators(GROUP)
    assert sorted(a.user.id for a in admins) == sorted([5, bot.id])
    with pytest.raises(BadRequest, match="User not found"):
        await bot.get_chat_member(GROUP, 31337)
    fake.set_bot_status(GROUP, "kicked")
    with pytest.raises(Forbidden, match="kicked"):
        await bot.send_message(GROUP, "hi")
    assert fake.violations == []


async def test_files_upload_and_download(bot: ExtBot[None], fake: FakeTelegram) -> None:
    photo = await bot.send_photo(USER, b"\x89PNG fake", caption="<i>nice</i>")
    assert photo.caption == "nice"
    assert photo.photo[-1].width > photo.photo[0].width
    file = await bot.get_file(photo.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == b"\x89PNG fake"
    again = await bot.send_photo(GROUP, photo.photo[-1].file_id)
    assert again.photo[-1].file_id == photo.photo[-1].file_id
    document = await bot.send_document(USER, b"%PDF", filename="report.pdf")
    assert document.document is not None
    assert document.document.file_name == "report.pdf"
    assert document.document.mime_type == "application/pdf"
    voice = await bot.send_voice(USER, b"OggS", duration=4)
    assert voice.voice is not None
    assert fake.message(USER, voice.message_id).data["voice"]["duration"] == 4  # type: ignore[union-attr]
    album = await bot.send_media_group(
        USER, [InputMediaPhoto(b"1", caption="<b>one</b>"), InputMediaVideo(b"2")]
    )
    assert len(album) == 2 and album[0].caption == "one"
    assert album[0].media_group_id == album[1].media_group_id
    with pytest.raises(BadRequest, match="Documents can't be mixed"):
        await bot.send_media_group(USER, [InputMediaPhoto(b"1"), InputMediaDocument(b"2")])
    fake.violations.clear()
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_photo(USER, "no-such-file-id")
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("no-such-file-id")
    copied = await bot.copy_message(GROUP, USER, document.message_id, caption="copy")
    stored = fake.message(GROUP, copied.message_id)
    assert stored is not None and stored.data["caption"] == "copy" and "document" in stored.data
    forwarded = await bot.forward_message(GROUP, USER, photo.message_id)
    assert forwarded.forward_origin is not None
    assert fake.violations == []


async def test_acceptance_too_long_text(bot: ExtBot[None], fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(USER, "x" * 5000)
    assert len(fake.violations) == 1 and "5000" in fake.violations[0]
    assert fake.bot_messages(USER) == []


async def test_acceptance_callback_data_too_long(bot: ExtBot[None], fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(USER, "pick", reply_markup=keyboard(("A", "a" * 70)))
    assert len(fake.violations) == 1 and "callback_data" in fake.violations[0]
    assert "70 bytes" in fake.violations[0]


async def test_acceptance_unknown_parameter(bot: ExtBot[None], fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match='Unknown parameter "reply_to"'):
        await bot.send_message(USER, "hi", api_kwargs={"reply_to": 5})
    assert fake.violations == [
        'sendMessage.reply_to: Bad Request: unknown parameter "reply_to" (sendMessage has no '
        "parameter 'reply_to' in Bot API 10.1 (Telegram silently ignores it; the fake does not))"
    ]
    fake.violations.clear()
    with pytest.raises(BadRequest, match="Unknown parameter"):
        await bot._post("sendMessage", {"chat_id": USER, "text": "x", "colour": "red"})
    assert len(fake.violations) == 1
    fake.violations.clear()
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathicMessage", api_kwargs={"chat_id": USER})
    assert fake.violations == ["sendTelepathicMessage: Not Found (no such Bot API method)"]


async def test_acceptance_broken_html(bot: ExtBot[None], fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "yuan" at byte offset 17'):
        await bot.send_message(USER, "Total <b>100</b> <yuan>")
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_photo(USER, b"img", caption="<b>unclosed")
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.send_message(USER, "Tom & Jerry")
    assert len(fake.violations) == 3
    # Without parse_mode the same text is fine.
    fake.violations.clear()
    message = await bot.send_message(USER, "Tom & Jerry <3", parse_mode=None)
    assert message.text == "Tom & Jerry <3"
    assert fake.violations == []


async def test_not_implemented_method_is_a_violation(bot: ExtBot[None], fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="not implemented in the fake"):
        await bot.send_dice(USER)
    assert fake.violations == [
        "sendDice: Bad Request: method sendDice is not implemented in "
        "the fake Telegram (not implemented in fake)"
    ]


async def test_edits(bot: ExtBot[None], fake: FakeTelegram) -> None:
    message = await bot.send_message(USER, "<b>Vote</b>", reply_markup=keyboard(("Yes", "y")))
    edited = await bot.edit_message_text(
        "Vote: <i>yes</i>", USER, message.message_id, reply_markup=keyboard(("Undo", "u"))
    )
    assert isinstance(edited, type(message)) and edited.text == "Vote: yes"
    assert edited.edit_date is not None
    # Exactly the same content and markup: not modified (a 400, but not a violation).
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "Vote: <i>yes</i>", USER, message.message_id, reply_markup=keyboard(("Undo", "u"))
        )
    # Same text, no markup: the keyboard goes away, as on Telegram.
    await bot.edit_message_text("Vote: <i>yes</i>", USER, message.message_id)
    stored = fake.message(USER, message.message_id)
    assert stored is not None and stored.inline_keyboard == []
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(USER, message.message_id)
    await bot.edit_message_reply_markup(USER, message.message_id, reply_markup=keyboard(("A", "a")))
    assert stored.inline_keyboard == [[{"text": "A", "callback_data": "a"}]]
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", USER, 999)
    photo = await bot.send_photo(USER, b"img", caption="old")
    await bot.edit_message_caption(USER, photo.message_id, caption="<b>new</b>")
    assert fake.message(USER, photo.message_id).data["caption"] == "new"  # type: ignore[union-attr]
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_caption(USER, photo.message_id, caption="<b>new</b>")
    assert fake.violations == []
    # Editing the text of a photo is a bug in the bot, whatever the state.
    with pytest.raises(BadRequest, match="There is no text in the message to edit"):
        await bot.edit_message_text("text", USER, photo.message_id)
    assert len(fake.violations) == 1
    fake.violations.clear()
    assert await bot.delete_message(USER, message.message_id)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(USER, message.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("gone", USER, message.message_id)
    assert fake.violations == []


async def test_reachability(bot: ExtBot[None], fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(424242, "who?")
    fake.blocked(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "hello?")
    fake.unblock(USER)
    await bot.send_message(USER, "hello again")
    fake.register_user({"id": 7, "is_bot": False, "first_name": "New"}, started=False)
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(7, "hi")
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(USER, "re", reply_parameters=ReplyParameters(99))
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("12345")
    assert fake.violations == []


async def test_fault_retry_after(
    bot: ExtBot[None], fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB 22.x's RetryAfter reads its own deprecated int-valued property while being built; with
    # filterwarnings=error that turns into PTBDeprecationWarning unless timedeltas are opted in.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    fake.inject("sendMessage", kind="retry_after", retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(USER, "flood")
    assert info.value.retry_after == dt.timedelta(seconds=7)
    assert fake.calls[-1].status == 429
    await bot.send_message(USER, "after the wait")
    assert len(fake.bot_messages(USER)) == 1


async def test_fault_forbidden_only_for_one_chat(bot: ExtBot[None], fake: FakeTelegram) -> None:
    fake.inject("sendMessage", chat_id=USER, kind="forbidden", times=2)
    await bot.send_message(GROUP, "not affected")
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(USER, "x")
    await bot.send_message(USER, "works again")


async def test_fault_migrated(bot: ExtBot[None], fake: FakeTelegram) -> None:
    old = await bot.send_message(GROUP, "before")
    fake.inject("sendMessage", chat_id=GROUP, kind="migrated", migrate_to_chat_id=-1009999)
    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(GROUP, "during")
    assert info.value.new_chat_id == -1009999
    with pytest.raises(ChatMigrated):  # for good
        await bot.send_message(GROUP, "again")
    message = await bot.send_message(-1009999, "after")
    assert message.chat.type == "supergroup"
    assert [m.text for m in fake.bot_messages(-1009999)] == ["before", "after"]
    await bot.edit_message_text("before, edited", -1009999, old.message_id)
    assert fake.violations == []


async def test_fault_network(bot: ExtBot[None], fake: FakeTelegram) -> None:
    fake.inject("sendMessage", kind="network")
    with pytest.raises(NetworkError) as info:
        await bot.send_message(USER, "lost")
    assert not isinstance(info.value, TimedOut)
    assert fake.bot_messages(USER) == []
    assert fake.calls[-1].error is not None and fake.sent("sendMessage") == []


async def test_fault_timeout_after_accept(bot: ExtBot[None], fake: FakeTelegram) -> None:
    fake.inject("*", kind="timeout_after_accept")
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "delivered anyway")
    assert [m.text for m in fake.bot_messages(USER)] == ["delivered anyway"]


async def test_get_updates_and_webhook(bot: ExtBot[None], fake: FakeTelegram) -> None:
    text = {"message_id": 1, "date": 0, "chat": {"id": USER, "type": "private"}, "text": "hi"}
    ids = [fake.queue_update({"message": {**text, "message_id": i}}) for i in range(1, 4)]
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == ids
    assert [u.update_id for u in await bot.get_updates(offset=ids[1], limit=1)] == [ids[1]]
    assert [u.update_id for u in await bot.get_updates(offset=ids[2] + 1, timeout=1)] == []
    assert await bot.set_webhook("https://bot.example.com/hook", secret_token="s3cr3t")
    assert (await bot.get_webhook_info()).url == "https://bot.example.com/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    with pytest.raises(BadRequest, match=r"(?i)https url"):
        await bot.set_webhook("http://insecure.example.com")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()
    ids = [fake.queue_update({"message": {**text, "message_id": i}}) for i in range(1, 4)]
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == ids[-1:]


# == Harness with a small Application ==========================================================


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    payload = " ".join(context.args or [])
    await update.effective_message.reply_text(
        f"<b>Welcome</b> {payload}".strip(),
        reply_markup=InlineKeyboardMarkup(
            [
                [InlineKeyboardButton("Yes ✅", callback_data="vote:yes")],
                [InlineKeyboardButton("Site", url="https://example.com")],
            ]
        ),
    )


async def on_vote(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    if query.data == "silent":
        return  # forgets to answer
    if query.data != "vote:yes":
        await query.answer("Unknown button", show_alert=True)
        return
    await query.answer("Thanks!")
    await query.edit_message_text("You voted <i>yes</i>")


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None
    if message.photo:
        await message.reply_text(f"photo: {message.caption or ''}")
    elif message.document:
        await message.reply_text(f"document: {message.document.file_name}")
    elif message.voice:
        # (reading Voice.duration directly emits a PTB deprecation warning in 22.x)
        await message.reply_text(f"voice: {message.voice.to_dict()['duration']}s")
    elif message.contact:
        await message.reply_text(
            f"contact: {message.contact.phone_number}",
            reply_markup=ReplyKeyboardMarkup([[KeyboardButton("OK")]], one_time_keyboard=True),
        )
    elif message.location:
        await message.reply_text(f"location: {message.location.latitude}")
    elif message.sticker:
        await message.delete()
    elif message.text == "quote me":
        await message.reply_text("quoted", do_quote=True)
    elif message.text:
        quoted = message.reply_to_message.text if message.reply_to_message else None
        await message.reply_text(f"echo: {message.text}" + (f" (re: {quoted})" if quoted else ""))


async def on_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    change = update.my_chat_member
    assert change is not None
    if change.new_chat_member.status == "member" and change.chat.type != "private":
        await context.bot.send_message(change.chat.id, "Hello, group!")


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    telegram = FakeTelegram()
    request = FakeRequest(telegram)
    app = (
        Application.builder()
        .token(TOKEN)
        .request(request)
        .get_updates_request(request)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(on_vote))
    app.add_handler(ChatMemberHandler(on_member))
    app.add_handler(MessageHandler(~filters.COMMAND, echo))
    async with app:
        yield Harness(app, telegram)
    assert telegram.violations == []


async def test_harness_command_and_press(harness: Harness) -> None:
    ann = harness.user(first_name="Ann")
    replies = await ann.command("start", "ref42")
    assert replies.texts == ["Welcome ref42"]
    welcome = replies[0]
    assert welcome.html == "<b>Welcome</b> ref42"
    assert welcome.buttons == [[("Yes ✅", "vote:yes")], [("Site", "https://example.com")]]
    assert welcome.button_texts == ["Yes ✅", "Site"]
    pressed = await ann.press(welcome, "Yes ✅")
    assert list(pressed) == [] and pressed.edited[0].text == "You voted yes"
    assert ann.answers[-1].text == "Thanks!"
    assert ann.last.text == "You voted yes" and ann.last.buttons == []
    with pytest.raises(AssertionError, match="no inline button"):
        await ann.press(welcome, "Yes ✅")  # the keyboard is gone after the edit
    with pytest.raises(AssertionError, match="no inline button"):
        await ann.press(welcome.message_id, "Nope")
    with pytest.raises(AssertionError, match="not a callback button"):
        await ann.press((await ann.start())[0], "Site")
    await ann.press_raw(welcome.message_id, "forged:data")
    assert ann.answers[-1].text == "Unknown button" and ann.answers[-1].show_alert


async def test_harness_unanswered_callback_is_a_violation(harness: Harness) -> None:
    ann = harness.user()
    welcome = (await ann.start())[0]
    await ann.press_raw(welcome, "silent")
    assert len(harness.telegram.violations) == 1
    assert "never answered" in harness.telegram.violations[0]
    harness.telegram.violations.clear()


async def test_harness_message_kinds(harness: Harness) -> None:
    bob = harness.user(first_name="Bob", username="bob", language_code="en")
    assert (await bob.send("hello")).texts == ["echo: hello"]
    first = bob.last
    assert (await bob.send("again", reply_to=first)).texts == ["echo: again (re: echo: hello)"]
    assert (await bob.send_photo(caption="look")).texts == ["photo: look"]
    assert (await bob.send_document("plan.xlsx")).texts == ["document: plan.xlsx"]
    assert (await bob.send_voice(duration=5)).texts == ["voice: 5s"]
    assert (await bob.send_location(31.2, 121.5)).texts == ["location: 31.2"]
    replies = await bob.share_contact("+8613800000000")
    assert replies.texts == ["contact: +8613800000000"]
    assert replies[0].reply_keyboard == [["OK"]] and bob.keyboard == [["OK"]]
    quoted = (await bob.send("quote me"))[0]
    assert quoted.data["reply_to_message"]["text"] == "quote me"
    assert quoted.data["reply_to_message"]["from"]["id"] == bob.id
    sticker_replies = await bob.send_sticker()
    assert list(sticker_replies) == [] and len(sticker_replies.deleted) == 1
    assert [m.text for m in bob.inbox][-2:] == ["contact: +8613800000000", "quoted"]


async def test_harness_groups(harness: Harness) -> None:
    ann = harness.user(first_name="Ann")
    group = harness.group("Workshop 3")
    added = await harness.my_chat_member(group, "member")
    assert added.texts == ["Hello, group!"]
    assert (await ann.send_in(group, "hi all")).texts == ["echo: hi all"]
    replies = await ann.command_in(group, "start", mention=True)
    assert replies.texts == ["Welcome"]
    await ann.press(replies[0], "vote:yes")  # by callback_data
    assert group.last.text == "You voted yes"
    assert [m.text for m in group.messages] == ["Hello, group!", "echo: hi all", "You voted yes"]
    assert ann.inbox == []


async def test_harness_raw_update_and_blocking(harness: Harness) -> None:
    ann = harness.user()
    await harness.process(
        {
            "message": {
                "message_id": 77,
                "date": 0,
                "chat": {"id": ann.id, "type": "private"},
                "from": ann.to_dict(),
                "text": "raw",
            }
        }
    )
    assert ann.last.text == "echo: raw"
    with pytest.raises(AssertionError, match="malformed update"):
        await harness.process({"message": {"text": "no ids"}})
    await ann.block()
    assert ann.blocked_bot
    with pytest.raises(Forbidden):
        await harness.app.bot.send_message(ann.id, "anyone there?")
    # Writing to the bot again unblocks it.
    assert (await ann.send("back")).texts == ["echo: back"]


async def test_harness_collects_handler_errors() -> None:
    telegram = FakeTelegram()
    request = FakeRequest(telegram)
    app = Application.builder().token(TOKEN).request(request).get_updates_request(request).build()

    async def boom(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        raise RuntimeError("boom")

    app.add_handler(MessageHandler(filters.TEXT, boom))
    async with app:
        harness = Harness(app, telegram)
        user = harness.user()
        assert list(await user.send("hi")) == []
        assert [str(e) for e in harness.errors] == ["boom"]
        harness.raise_errors = True
        with pytest.raises(RuntimeError, match="boom"):
            await user.send("again")


async def test_harness_group_migration(harness: Harness) -> None:
    ann = harness.user()
    group = harness.group("Old group")
    old_id = group.id
    await ann.send_in(group, "one")
    new_id = group.migrate()
    assert group.id == new_id != old_id and group.type == "supergroup"
    with pytest.raises(ChatMigrated):
        await harness.app.bot.send_message(old_id, "to the old id")
    assert (await ann.send_in(group, "two")).texts == ["echo: two"]
    assert [m.text for m in group.messages] == ["echo: one", "echo: two"]


async def test_polling_loop_over_get_updates() -> None:
    telegram = FakeTelegram()
    request = FakeRequest(telegram)
    app = Application.builder().token(TOKEN).request(request).get_updates_request(request).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    harness = Harness(app, telegram)
    user = harness.user()
    message = telegram.add_user_message(user.id, user.to_dict(), {"text": "polled"})
    telegram.queue_update({"message": message})
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(timeout=1)
        await app.start()
        for _ in range(200):
            if user.inbox:
                break
            await asyncio.sleep(0.01)
        await app.updater.stop()
        await app.stop()
    assert user.last.text == "echo: polled"
    methods = [c.method for c in telegram.calls]
    assert "deleteWebhook" in methods and "getUpdates" in methods
    assert telegram.updates == [] and telegram.violations == []
