"""The bot's first words: /start, /help, /lang, /cancel, the command menu, errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup
from sqlalchemy import text

from bot.commands import COMMANDS
from bot.i18n import _html_format
from bot.services import units
from bot.services.errors import ServiceError
from tests.conftest import TEST_TOKEN, BotHarness


async def test_help_in_chinese_and_english(harness: BotHarness) -> None:
    zh = harness.user(language_code="zh-hans")
    en = harness.user(language_code="en")
    [reply_zh] = await zh.command("help")
    [reply_en] = await en.command("help")
    assert "节约活动机器人" in reply_zh.text and "/start" in reply_zh.text
    assert "Savings campaign bot" in reply_en.text and "/start" in reply_en.text


async def test_start_in_chinese_and_english(harness: BotHarness) -> None:
    zh = harness.user(language_code="zh-CN")
    en = harness.user(language_code="en-US")
    replies_zh = await zh.start()
    replies_en = await en.start()
    # No units yet: the newcomer is greeted and told to ask the office, in their language.
    assert "欢迎参加节约活动" in replies_zh.texts[0]
    assert "尚未设置任何单位" in replies_zh.texts[-1]
    assert "Welcome to the savings campaign" in replies_en.texts[0]
    assert "No units are set up yet" in replies_en.texts[-1]


async def test_other_languages_get_the_default(harness: BotHarness) -> None:
    ru = harness.user(language_code="ru")
    [reply] = await ru.command("help")
    assert "节约活动机器人" in reply.text


async def test_lang_switches_and_is_remembered(harness: BotHarness) -> None:
    admin = harness.user(user_id=9001, language_code="zh-hans")  # an admin: a member at once
    [menu] = await admin.command("lang")
    replies = await admin.press(menu, "English")
    assert replies.edited[0].text == "Language set to English."
    [reply] = await admin.command("help")
    assert "Savings campaign bot" in reply.text


async def test_cancel_with_nothing_to_cancel(harness: BotHarness) -> None:
    en = harness.user(language_code="en")
    [reply] = await en.command("cancel")
    assert reply.text == "There is nothing to cancel."


async def test_command_menu_is_registered_in_both_languages(harness: BotHarness) -> None:
    calls = [c for c in harness.telegram.calls if c.method == "setMyCommands"]
    by_language = {c.params.get("language_code"): c.params["commands"] for c in calls}
    assert set(by_language) == {None, "zh", "en"}
    names = [c["command"] for c in by_language["en"]]
    assert names == [command for command, _ in COMMANDS]
    assert by_language["en"][0]["description"] == "Start or show the main menu"
    assert by_language["zh"][0]["description"] == "开始或显示主菜单"
    assert by_language[None] == by_language["zh"]


async def test_an_error_is_logged_and_the_user_gets_an_apology(
    harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    en = harness.user(language_code="en")
    # Break the database under the running bot: every handler that looks up a member fails.
    async with harness.db.write() as session:
        await session.execute(text("ALTER TABLE unit_assessor RENAME TO unit_assessor_gone"))
        await session.execute(text("ALTER TABLE member RENAME TO member_gone"))
    try:
        with caplog.at_level(logging.ERROR):
            replies = await en.command("help")
    finally:  # the PostgreSQL test database is shared by the session: put the tables back
        async with harness.db.write() as session:
            await session.execute(text("ALTER TABLE member_gone RENAME TO member"))
            await session.execute(text("ALTER TABLE unit_assessor_gone RENAME TO unit_assessor"))
    assert replies.texts == ["Sorry, something went wrong. Please try again."]
    assert any(r.exc_info for r in caplog.records if r.levelno == logging.ERROR)
    assert TEST_TOKEN not in caplog.text


class _Colour(str, Enum):  # noqa: UP042  (a str mixin enum: str() is not its value)
    RED = "<red>"


def _outcome(format_text: Callable[[], str]) -> tuple[str, object]:
    try:
        return "text", format_text()
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        return "error", type(exc)


@given(
    st.lists(
        st.tuples(
            st.one_of(
                st.text(),
                st.text().map(Markup),
                st.integers(),
                st.decimals(allow_nan=False, allow_infinity=False),
                st.floats(allow_nan=False),
                st.dates(),
                st.just(_Colour.RED),
            ),
            st.sampled_from(["", "", "!r", "!s", ":>12", "[0]"]),
        ),
        min_size=1,
        max_size=4,
    ),
    st.text(alphabet="<>&\"' ab文", max_size=8),
)
def test_texts_are_formatted_exactly_as_markupsafe_would(
    fields: list[tuple[object, str]], glue: str
) -> None:
    """The fast path of `Translator._` gives markupsafe's result (or its error): arguments
    escaped, Markup kept, numbers as they are, anything else through markupsafe itself."""
    template = "".join(f"<b>{{v{i}{how}}}</b>{glue}" for i, (_, how) in enumerate(fields))
    kwargs = {f"v{i}": value for i, (value, _) in enumerate(fields)}
    fast = _outcome(lambda: _html_format(template, kwargs))
    assert fast == _outcome(lambda: str(Markup(template).format(**kwargs)))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("120", 120),
        ("1,200人", 1200),
        ("０１２", 12),
        ("0" * 10_000 + "7", 7),  # leading zeros: a number all the same
        ("1000000", 1_000_000),
        ("1000001", None),
        ("9" * 10_000, None),  # int() refuses more than 4,300 digits: a clear "no", not a crash
        ("²", None),
    ],
)
def test_a_headcount_is_a_number_of_people(typed: str, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(ServiceError) as refused:
            units.parse_headcount(typed)
        assert refused.value.code == "bad_headcount"
    else:
        assert units.parse_headcount(typed) == expected
