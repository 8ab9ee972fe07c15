"""Translations: gettext catalogs (Babel `.po` files) for Simplified Chinese and English.

Message ids are English source texts with `{name}` placeholders. `Translator._` returns
HTML-safe text: every argument is escaped unless it is already `Markup`, so user input
can never break the HTML we send. `Translator.plain` is for places Telegram does not
parse as HTML (button labels, alerts, command descriptions).
"""

from __future__ import annotations

import gettext
import io
import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from markupsafe import Markup, escape

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("zh", "en")
CATALOG_DIRS = {"zh": "zh_CN", "en": "en"}
DOMAIN = "messages"

__all__ = ["LANGUAGES", "Markup", "Translator", "escape", "normalise_language", "translator"]


def normalise_language(code: str | None) -> str | None:
    """Map a Telegram `language_code` (zh-hans, zh-CN, en-US...) to one of ours, or None."""
    if not code:
        return None
    base = code.strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else None


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / CATALOG_DIRS[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def _translations(lang: str) -> gettext.GNUTranslations:
    # Compile the .po in memory: no build step, no stale .mo files.
    with catalog_path(lang).open("rb") as handle:
        catalog = read_po(handle, locale=CATALOG_DIRS[lang])
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Translator:
    """Texts in one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else LANGUAGES[0]
        self._t = _translations(self.lang)

    def _(self, message: str, **kwargs: Any) -> str:
        """The translated HTML text, with every argument escaped."""
        text = self._t.gettext(message)
        return _html_format(text, kwargs) if kwargs else text

    def n_(self, singular: str, plural: str, n: int, **kwargs: Any) -> str:
        """The plural-aware translated HTML text; `n` is available as `{n}`."""
        text = self._t.ngettext(singular, plural, n)
        return _html_format(text, {**kwargs, "n": n})

    def plain(self, message: str, **kwargs: Any) -> str:
        """The translated text for places that are not parsed as HTML."""
        text = self._t.gettext(message)
        return text.format(**kwargs) if kwargs else text


_NUMBERS = (int, float, Decimal)
# A field with more than a name ({x[0]}, {x.y}, {x!r}, {x:>5}): markupsafe's formatter escapes
# what such a field yields, so those templates take it.
_RICH_FIELD = re.compile(r"\{[^{}]*[\[.!:][^{}]*\}")


@cache
def _plain_fields(template: str) -> bool:
    return _RICH_FIELD.search(template) is None


def _html_format(template: str, values: dict[str, Any]) -> str:
    """`Markup(template).format(**values)`: texts escaped, `Markup` kept. Templates with plain
    `{name}` fields and the usual arguments (texts, Markup, and numbers, whose digits need no
    escaping) take str.format, several times faster; anything else markupsafe's formatter."""
    if not _plain_fields(template):
        return str(Markup(template).format(**values))
    escaped: dict[str, Any] = {}
    for name, value in values.items():
        if type(value) is str:
            escaped[name] = escape(value)
        elif type(value) is Markup or isinstance(value, _NUMBERS):
            escaped[name] = value
        else:
            return str(Markup(template).format(**values))
    return template.format(**escaped)


@cache
def translator(lang: str) -> Translator:
    return Translator(lang)
