"""The command menu shown by Telegram, per language."""

from __future__ import annotations

from telegram import BotCommand

from bot.i18n import LANGUAGES, translator


def _(message: str) -> str:
    """Mark a text for extraction; it is translated when the menu is built."""
    return message


# (command, description) in the order Telegram shows them.
COMMANDS: list[tuple[str, str]] = [
    ("start", _("Start or show the main menu")),
    ("idea", _("Submit a savings idea")),
    ("waste", _("Report waste")),
    ("my", _("My items, savings and rank")),
    ("progress", _("The campaign's progress against its targets")),
    ("rank", _("Rankings of units and people")),
    ("review", _("Items waiting for my review")),
    ("overdue", _("Overdue items by stage and unit (office)")),
    ("bulletin", _("Preview or post a bulletin (office)")),
    ("export", _("Ledgers as a spreadsheet (office, assessors)")),
    ("help", _("What this bot does and how to use it")),
    ("lang", _("Change the language")),
    ("cancel", _("Cancel what you are doing")),
]


def bot_commands(lang: str) -> list[BotCommand]:
    """The command menu in one language."""
    tr = translator(lang)
    return [BotCommand(command, tr.plain(description)) for command, description in COMMANDS]


def menu_languages(default_language: str) -> list[tuple[str | None, str]]:
    """(language_code for set_my_commands, our language): the default menu first."""
    pairs: list[tuple[str | None, str]] = [(None, default_language)]
    pairs += [(lang, lang) for lang in LANGUAGES]
    return pairs
