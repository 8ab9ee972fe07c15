"""A strict validator for Telegram's ``parse_mode=HTML``.

It follows the rules documented at https://core.telegram.org/bots/api#html-style and
https://core.telegram.org/bots/api#formatting-options:

* only the tags b, strong, i, em, u, ins, s, strike, del, span class="tg-spoiler",
  tg-spoiler, a href, tg-emoji emoji-id, code (class="language-..." only directly inside pre),
  pre and blockquote (optionally ``expandable``) exist; any other tag or attribute is an error;
* tags must be closed and properly nested;
* every ``<``, ``>`` and ``&`` that is not part of a tag or of an entity must be escaped (a lone
  ``&`` inside an attribute value is kept, as Telegram does); the only named entities are
  ``&lt;``, ``&gt;``, ``&amp;`` and ``&quot;``, numeric ones are all allowed;
* nesting restrictions: pre and code contain nothing (except pre > code for the language),
  links, custom emoji, code and pre can't contain each other, blockquotes can't be nested.

Real Telegram is more forgiving in places (it ignores unknown attributes, for example); this
validator is deliberately stricter so that sloppy markup is caught in tests.

:func:`parse_html` returns the plain text and the message entities Telegram would produce, with
offsets and lengths in UTF-16 code units, so that limits can be checked after parsing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HtmlParseError", "ParsedText", "parse_html", "strip_text", "utf16_len"]

# Tag name -> message entity type.
_ENTITY_TYPES: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}

# Tag name -> attributes it may carry.
_ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "span": frozenset({"class"}),
    "a": frozenset({"href"}),
    "tg-emoji": frozenset({"emoji-id"}),
    "code": frozenset({"class"}),
    "blockquote": frozenset({"expandable"}),
}

# Entities that "can't contain each other" (besides pre > code for the language).
_EXCLUSIVE = frozenset({"a", "tg-emoji", "code", "pre"})

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,7}|[a-zA-Z][a-zA-Z0-9]{0,31});")
_TAG_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTR_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:.-]*")
_WS = " \t\r\n"


class HtmlParseError(ValueError):
    """Markup Telegram would reject; ``str(error)`` is Telegram's error description."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Bad Request: can't parse entities: {reason}")


@dataclass(frozen=True)
class ParsedText:
    """Result of entity parsing: the plain text and its entities (UTF-16 offsets)."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Open:
    tag: str
    attrs: dict[str, str | None]
    offset: int  # UTF-16 offset in the output where the tag starts
    byte_offset: int
    language: str | None = None


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts in."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


class _Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.out: list[str] = []
        self.out_len = 0  # UTF-16 length of the output so far
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    # -- helpers ---------------------------------------------------------------------------

    def error(self, reason: str, index: int | None = None) -> HtmlParseError:
        if index is None:
            return HtmlParseError(reason)
        return HtmlParseError(f"{reason} at byte offset {_byte_offset(self.src, index)}")

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.out_len += utf16_len(text)

    def decode_entity(self, index: int, *, in_attribute: bool = False) -> tuple[str, int]:
        """Decode the entity starting at ``index`` (an ``&``); return (text, next index).

        Inside attribute values a ``&`` that starts no entity is kept literally, as Telegram
        does (URLs with query strings are common there); in text it is an error.
        """
        match = _ENTITY_RE.match(self.src, index)
        if match is None:
            if in_attribute:
                return "&", index + 1
            raise self.error('Unescaped "&" (use "&amp;")', index)
        body = match.group(1)
        if body.startswith("#"):
            code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
            if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise self.error(f'Invalid numeric HTML entity "{match.group(0)}"', index)
            return chr(code), match.end()
        if body not in _NAMED_ENTITIES:
            raise self.error(
                f'Unsupported HTML entity "{match.group(0)}" (only &lt; &gt; &amp; &quot; '
                "and numeric entities are supported)",
                index,
            )
        return _NAMED_ENTITIES[body], match.end()

    def skip_ws(self) -> None:
        while self.pos < len(self.src) and self.src[self.pos] in _WS:
            self.pos += 1

    # -- main loop -------------------------------------------------------------------------

    def run(self) -> ParsedText:
        src = self.src
        while self.pos < len(src):
            ch = src[self.pos]
            if ch == "&":
                text, self.pos = self.decode_entity(self.pos)
                self.emit(text)
            elif ch == "<":
                if src.startswith("</", self.pos):
                    self.end_tag()
                else:
                    self.start_tag()
            elif ch == ">":
                raise self.error('Unescaped ">" (use "&gt;")', self.pos)
            else:
                # Copy the run of ordinary characters in one go.
                end = self.pos
                while end < len(src) and src[end] not in "&<>":
                    end += 1
                self.emit(src[self.pos : end])
                self.pos = end
        if self.stack:
            top = self.stack[-1]
            raise HtmlParseError(
                f'Can\'t find end tag corresponding to start tag "{top.tag}" '
                f"(opened at byte offset {top.byte_offset})"
            )
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return ParsedText("".join(self.out), self.entities)

    def start_tag(self) -> None:
        start = self.pos
        match = _TAG_NAME_RE.match(self.src, start + 1)
        if match is None:
            raise self.error('Unescaped "<" (use "&lt;")', start)
        tag = match.group(0).lower()
        if tag not in _ENTITY_TYPES:
            raise self.error(f'Unsupported start tag "{tag}"', start)
        self.pos = match.end()
        attrs: dict[str, str | None] = {}
        while True:
            self.skip_ws()
            if self.pos >= len(self.src):
                raise self.error("Unclosed start tag", start)
            ch = self.src[self.pos]
            if ch == ">":
                self.pos += 1
                break
            if ch == "/":
                raise self.error(f'Self-closing tag "{tag}" is not supported', start)
            name_match = _ATTR_NAME_RE.match(self.src, self.pos)
            if name_match is None:
                raise self.error(f'Empty attribute name in the tag "{tag}"', start)
            name = name_match.group(0).lower()
            self.pos = name_match.end()
            self.skip_ws()
            value: str | None = None
            if self.pos < len(self.src) and self.src[self.pos] == "=":
                self.pos += 1
                self.skip_ws()
                value = self.attribute_value(tag, start)
            if name not in _ALLOWED_ATTRIBUTES.get(tag, frozenset()):
                raise self.error(f'Unsupported attribute "{name}" in the tag "{tag}"', start)
            if name in attrs:
                raise self.error(f'Duplicate attribute "{name}" in the tag "{tag}"', start)
            attrs[name] = value
        self.open_tag(tag, attrs, start)

    def attribute_value(self, tag: str, start: int) -> str:
        src = self.src
        if self.pos >= len(src):
            raise self.error("Unclosed start tag", start)
        quote = src[self.pos]
        parts: list[str] = []
        if quote in "\"'":
            self.pos += 1
            while True:
                if self.pos >= len(src):
                    raise self.error(f'Unclosed attribute value in the tag "{tag}"', start)
                ch = src[self.pos]
                if ch == quote:
                    self.pos += 1
                    return "".join(parts)
                if ch == "&":
                    text, self.pos = self.decode_entity(self.pos, in_attribute=True)
                    parts.append(text)
                elif ch in "<>":
                    raise self.error(
                        f'Unescaped "{ch}" in an attribute of the tag "{tag}"', self.pos
                    )
                else:
                    parts.append(ch)
                    self.pos += 1
        while self.pos < len(src) and src[self.pos] not in _WS + ">":
            ch = src[self.pos]
            if ch == "&":
                text, self.pos = self.decode_entity(self.pos, in_attribute=True)
                parts.append(text)
            elif ch in "<\"'=`":
                raise self.error(f'Unexpected "{ch}" in an attribute of the tag "{tag}"', self.pos)
            else:
                parts.append(ch)
                self.pos += 1
        if not parts:
            raise self.error(f'Empty attribute value in the tag "{tag}"', start)
        return "".join(parts)

    def open_tag(self, tag: str, attrs: dict[str, str | None], start: int) -> None:
        # Tag-specific attribute rules.
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise self.error('Tag "span" must have class "tg-spoiler"', start)
        if tag == "a" and not attrs.get("href"):
            raise self.error('Tag "a" must have a non-empty attribute "href"', start)
        if tag == "tg-emoji":
            emoji_id = attrs.get("emoji-id")
            if not emoji_id or not emoji_id.isdigit():
                raise self.error('Tag "tg-emoji" must have a numeric attribute "emoji-id"', start)
        if tag == "blockquote" and attrs.get("expandable") not in (None, "", "expandable"):
            raise self.error('Attribute "expandable" of the tag "blockquote" takes no value', start)
        language: str | None = None
        if tag == "code" and "class" in attrs:
            css = attrs["class"] or ""
            if not self.stack or self.stack[-1].tag != "pre":
                raise self.error(
                    "Programming language can't be specified for standalone code tags", start
                )
            if not css.startswith("language-") or len(css) == len("language-"):
                raise self.error('Class of the tag "code" must be "language-<name>"', start)
            language = css[len("language-") :]
        # Nesting rules.
        for outer in self.stack:
            if outer.tag in ("pre", "code"):
                pre_code = tag == "code" and outer is self.stack[-1] and outer.tag == "pre"
                if not pre_code:
                    raise self.error(f'Tag "{tag}" can\'t be nested inside "{outer.tag}"', start)
            elif tag in _EXCLUSIVE and outer.tag in _EXCLUSIVE:
                raise self.error(f'Tag "{tag}" can\'t be nested inside "{outer.tag}"', start)
            elif tag == "blockquote" and (outer.tag == "blockquote" or outer.tag in _EXCLUSIVE):
                raise self.error(f'Tag "blockquote" can\'t be nested inside "{outer.tag}"', start)
        self.stack.append(_Open(tag, attrs, self.out_len, _byte_offset(self.src, start), language))

    def end_tag(self) -> None:
        start = self.pos
        close = self.src.find(">", start)
        if close == -1:
            raise self.error("Unclosed end tag", start)
        name = self.src[start + 2 : close].strip().lower()
        if not _TAG_NAME_RE.fullmatch(name):
            raise self.error(f'Invalid end tag "{self.src[start : close + 1]}"', start)
        if not self.stack:
            raise self.error(f'Unexpected end tag "</{name}>"', start)
        top = self.stack[-1]
        if name != top.tag:
            raise self.error(
                f'Unmatched end tag, expected "</{top.tag}>", found "</{name}>"', start
            )
        self.stack.pop()
        self.pos = close + 1
        length = self.out_len - top.offset
        if top.tag == "code" and self.stack and self.stack[-1].tag == "pre":
            # pre > code (class="language-x") yields a single pre entity with a language.
            self.stack[-1].language = top.language
            return
        if length == 0:
            return
        entity: dict[str, Any] = {
            "type": _ENTITY_TYPES[top.tag],
            "offset": top.offset,
            "length": length,
        }
        if top.tag == "a":
            entity["url"] = top.attrs["href"]
        elif top.tag == "tg-emoji":
            entity["custom_emoji_id"] = top.attrs["emoji-id"]
        elif top.tag == "pre" and top.language:
            entity["language"] = top.language
        elif top.tag == "blockquote" and "expandable" in top.attrs:
            entity["type"] = "expandable_blockquote"
        self.entities.append(entity)


def parse_html(source: str) -> ParsedText:
    """Parse Telegram HTML; raise :class:`HtmlParseError` with Telegram-like wording.

    A call is validated and then stored, and bots resend the same texts: recent results are
    kept (errors are not) and each caller gets its own entity dicts."""
    parsed = _parse_cached(source)
    return ParsedText(parsed.text, [dict(entity) for entity in parsed.entities])


@functools.lru_cache(maxsize=512)
def _parse_cached(source: str) -> ParsedText:
    return _Parser(source).run()


def strip_text(parsed: ParsedText) -> ParsedText:
    """Strip leading/trailing whitespace like Telegram does, adjusting entity offsets."""
    text = parsed.text
    stripped = text.strip()
    if stripped == text:
        return parsed
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    end = utf16_len(stripped)
    entities: list[dict[str, Any]] = []
    for entity in parsed.entities:
        start = max(entity["offset"] - shift, 0)
        stop = min(entity["offset"] + entity["length"] - shift, end)
        if stop > start:
            entities.append({**entity, "offset": start, "length": stop - start})
    return ParsedText(stripped, entities)
