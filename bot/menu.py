"""The main menu: a persistent reply keyboard with big buttons, by role and language."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import KeyboardButton, ReplyKeyboardMarkup
from telegram.ext import filters

from bot.i18n import LANGUAGES, translator
from bot.services.people import Access


def _(message: str) -> str:
    """Mark a label for extraction; it is translated when the keyboard is built."""
    return message


@dataclass(frozen=True)
class Entry:
    key: str
    label: str
    role: str  # who sees it: "member", "reviewer" or "admin"


ENTRIES: list[Entry] = [
    Entry("idea", _("💡 Submit an idea"), "member"),
    Entry("waste", _("🚯 Report waste"), "member"),
    Entry("my", _("📋 My items"), "member"),
    Entry("progress", _("📈 Progress"), "member"),
    Entry("rank", _("🏆 Rankings"), "member"),
    Entry("review", _("📥 To review"), "reviewer"),
    Entry("help", _("❓ Help"), "member"),
    Entry("language", _("🌐 Language"), "member"),
    Entry("admin", _("⚙️ Administration"), "admin"),
]


def _visible(entry: Entry, access: Access) -> bool:
    if entry.role == "admin":
        return access.is_admin
    if entry.role == "reviewer":
        return access.is_reviewer or access.is_admin
    return True


def main_menu(access: Access, lang: str) -> ReplyKeyboardMarkup:
    """The keyboard for this member: two big buttons a row."""
    tr = translator(lang)
    labels = [tr.plain(entry.label) for entry in ENTRIES if _visible(entry, access)]
    rows = [
        [KeyboardButton(label) for label in labels[i : i + 2]] for i in range(0, len(labels), 2)
    ]
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, is_persistent=True)


def button_filter(key: str) -> filters.BaseFilter:
    """Matches a press of the menu button `key` in any language."""
    entry = next(e for e in ENTRIES if e.key == key)
    return filters.ChatType.PRIVATE & filters.Text(
        [translator(lang).plain(entry.label) for lang in LANGUAGES]
    )


def any_button() -> filters.BaseFilter:
    """Matches a press of any menu button: typed answers in a conversation exclude these."""
    return filters.Text(
        [translator(lang).plain(entry.label) for entry in ENTRIES for lang in LANGUAGES]
    )
