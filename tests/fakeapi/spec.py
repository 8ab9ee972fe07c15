"""The Bot API reference as data, and a strict validator of calls against it.

The reference is ``tests/data/telegram-bot-api/api.json`` (scraped from the official docs by
PaulSonOfLars/telegram-bot-api-spec, MIT licence). :class:`ApiSpec` checks a call's parameters
the way Telegram would, and more strictly:

* unknown method, unknown parameter or object field, missing required parameter or field;
* the type of every value, recursing into objects, unions and abstract types (by their
  ``type``/``status``/``source`` discriminator when the spec documents one);
* length limits written in the field descriptions ("1-4096 characters after entities parsing",
  "1-64 bytes", "must include 2-10 items", ...), counting characters in UTF-16 code units;
* HTML markup (``parse_mode="HTML"``) of every field parsed for entities, via :mod:`.html`;
* a few rules stated only in prose: inline buttons need exactly one action, at most 100 inline
  buttons and 100 bot commands, command names match ``[a-z0-9_]{1,32}``, and so on.

Values are the Python values a client passes (``int``, ``str``, ``bool``, ``list``, ``dict``);
an uploaded file is an :class:`UploadedFile`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .html import HtmlParseError, parse_html, utf16_len

__all__ = [
    "DEFAULT_SPEC_PATH",
    "PTB_DEFAULT_PARAMS",
    "ApiSpec",
    "FieldSpec",
    "Limit",
    "MethodSpec",
    "TypeSpec",
    "UploadedFile",
    "Violation",
    "parsed_text",
]

DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "telegram-bot-api" / "api.json"

# python-telegram-bot sends these ``Defaults``-driven parameters to every send/edit method,
# including ones that do not take them (sendDice, editMessageReplyMarkup, ...); Telegram ignores
# unknown parameters, so the fake tolerates these few where the method lacks them.
PTB_DEFAULT_PARAMS = frozenset({"parse_mode", "disable_notification", "protect_content"})
PRIMITIVES = frozenset({"Integer", "String", "Boolean", "Float", "InputFile"})
PARSE_MODES = frozenset({"html", "markdown", "markdownv2", "none", ""})
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Fields of InlineKeyboardButton that are not its "action".
_BUTTON_DECORATIONS = frozenset({"text", "icon_custom_emoji_id", "style"})
_BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")

_STRING_LIMIT_RE = re.compile(
    r"(\d+)-(\d+) (characters|bytes|Bytes)"
    r"((?: with at most \d+ line feeds)? after entit(?:y|ies) parsing)?"
)
_ARRAY_LIMIT_RE = re.compile(r"(?:[Ll]ist of|include) (\d+)-(\d+)\b")
_VALUE_LIMIT_RE = re.compile(r"Values between (\d+)-(\d+) are accepted")
_DISCRIMINATOR_RE = re.compile(r'(?:always|must be) "?([a-z_]+)"?')

# Telegram's own wording for some limits: (owner, field) -> (too short, too long).
_LIMIT_ERRORS: dict[tuple[str, str], tuple[str, str]] = {
    ("sendMessage", "text"): ("message text is empty", "message is too long"),
    ("editMessageText", "text"): ("message text is empty", "message is too long"),
    ("InlineKeyboardButton", "callback_data"): ("BUTTON_DATA_INVALID", "BUTTON_DATA_INVALID"),
    ("BotCommand", "command"): ("BOT_COMMAND_INVALID", "BOT_COMMAND_INVALID"),
    ("BotCommand", "description"): (
        "BOT_COMMAND_DESCRIPTION_INVALID",
        "BOT_COMMAND_DESCRIPTION_INVALID",
    ),
    ("answerCallbackQuery", "text"): ("MESSAGE_TOO_LONG", "MESSAGE_TOO_LONG"),
}
_MISSING_ERRORS: dict[str, str] = {
    "chat_id": "chat_id is empty",
    "text": "message text is empty",
    "callback_query_id": "query_id is empty",
    "message_id": "message identifier is not specified",
}


@dataclass(frozen=True)
class UploadedFile:
    """A file uploaded with multipart/form-data (the spec's ``InputFile``)."""

    filename: str
    content: bytes
    mime_type: str | None = None


@dataclass(frozen=True)
class Violation:
    """One way a call breaks the Bot API's rules."""

    path: str  # e.g. "sendMessage.reply_markup.inline_keyboard[0][0].callback_data"
    description: str  # Telegram-style, e.g. "Bad Request: BUTTON_DATA_INVALID"
    detail: str = ""  # human explanation
    status: int = 400

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.path}: {self.description}{extra}"


@dataclass(frozen=True)
class Limit:
    """A documented range: a length in characters/bytes/items, or an integer value."""

    minimum: int
    maximum: int
    unit: str  # "characters", "bytes", "items" or "value"
    after_parsing: bool = False


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool
    description: str
    limit: Limit | None


@dataclass(frozen=True)
class TypeSpec:
    name: str
    fields: dict[str, FieldSpec]
    subtypes: tuple[str, ...]
    discriminator: tuple[str, str] | None  # (field, constant), e.g. ("type", "photo")


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fields: dict[str, FieldSpec]
    returns: tuple[str, ...]


def _limit_for(types: Sequence[str], description: str) -> Limit | None:
    if any(t.startswith("Array of") for t in types):
        match = _ARRAY_LIMIT_RE.search(description)
        if match:
            return Limit(int(match.group(1)), int(match.group(2)), "items")
        return None
    if "String" in types:
        match = _STRING_LIMIT_RE.search(description)
        if match:
            unit = "bytes" if match.group(3).lower() == "bytes" else "characters"
            return Limit(int(match.group(1)), int(match.group(2)), unit, bool(match.group(4)))
        return None
    if "Integer" in types:
        match = _VALUE_LIMIT_RE.search(description)
        if match:
            return Limit(int(match.group(1)), int(match.group(2)), "value")
    return None


def _fields(raw: Sequence[Mapping[str, Any]]) -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}
    for f in raw:
        types = tuple(f["types"])
        out[f["name"]] = FieldSpec(
            f["name"],
            types,
            bool(f["required"]),
            f["description"],
            _limit_for(types, f["description"]),
        )
    return out


def _py_type(value: object) -> str:
    if isinstance(value, UploadedFile):
        return "InputFile"
    return type(value).__name__


def parsed_text(text: str, parse_mode: str | None) -> str:
    """Plain text after entity parsing (HTML only; other modes are returned unchanged)."""
    if parse_mode is not None and parse_mode.lower() == "html":
        return parse_html(text).text
    return text


class ApiSpec:
    """The Bot API reference; validates calls and values against it."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version: str = data.get("version", "?")
        self.types: dict[str, TypeSpec] = {}
        for name, raw in data["types"].items():
            fields = _fields(raw.get("fields", []))
            discriminator = None
            for key in ("type", "status", "source"):
                if key in fields:
                    match = _DISCRIMINATOR_RE.search(fields[key].description)
                    if match:
                        discriminator = (key, match.group(1))
                    break
            self.types[name] = TypeSpec(name, fields, tuple(raw.get("subtypes", ())), discriminator)
        self.methods: dict[str, MethodSpec] = {
            name: MethodSpec(name, _fields(raw.get("fields", [])), tuple(raw.get("returns", ())))
            for name, raw in data["methods"].items()
        }
        # Each table of fields (by id): the fields' positions and the required ones.
        self._layout: dict[int, tuple[dict[str, int], frozenset[str]]] = {}
        tables = [t.fields for t in self.types.values()] + [m.fields for m in self.methods.values()]
        for table in tables:
            self._layout[id(table)] = (
                {name: i for i, name in enumerate(table)},
                frozenset(name for name, fld in table.items() if fld.required),
            )
        self._type_rules: dict[str, Callable[[Mapping[str, Any], str], list[Violation]]] = {
            "InlineKeyboardButton": self._rule_inline_button,
            "InlineKeyboardMarkup": self._rule_inline_markup,
            "BotCommand": self._rule_bot_command,
        }

    @classmethod
    def load(cls, path: Path | str | None = None) -> ApiSpec:
        """Load (and cache) the spec from ``path`` (default: the copy in tests/data)."""
        return _load_cached(str(path or DEFAULT_SPEC_PATH))

    # -- public API --------------------------------------------------------------------------

    def has_method(self, name: str) -> bool:
        return name in self.methods

    def validate_call(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        tolerated: frozenset[str] = frozenset(),
    ) -> list[Violation]:
        """Every way calling ``method`` with ``params`` breaks the rules (empty: valid).

        Unknown parameters named in ``tolerated`` are not reported (see
        :data:`PTB_DEFAULT_PARAMS`).
        """
        spec = self.methods.get(method)
        if spec is None:
            return [Violation(method, "Not Found", "no such Bot API method", status=404)]
        out: list[Violation] = []
        for name in params:
            if name not in spec.fields and name not in tolerated:
                out.append(
                    Violation(
                        f"{method}.{name}",
                        f'Bad Request: unknown parameter "{name}"',
                        f"{method} has no parameter {name!r} in {self.version} "
                        "(Telegram silently ignores it; the fake does not)",
                    )
                )
        out.extend(self._check_fields(method, spec.fields, params, method, top_level=True))
        out.extend(self._method_rules(method, params))
        return out

    def check_value(self, value: object, types: Sequence[str], path: str) -> list[Violation]:
        """Check ``value`` against a union of type expressions like "Array of Message"."""
        return self._check_union(value, tuple(types), path)

    def check_result(self, method: str, result: object) -> list[Violation]:
        """Check a fake's result against the method's documented return type."""
        spec = self.methods[method]
        return self._check_union(result, spec.returns, f"{method}->result")

    def decode_params(
        self, method: str, params: Mapping[str, Any], *, form: bool = False
    ) -> dict[str, Any]:
        """JSON-decode string values of parameters that are objects or arrays.

        With ``form=True`` (all values are strings, as in a form-encoded HTTP request) also
        convert Integer, Float and Boolean parameters, as Telegram does.
        """
        spec = self.methods.get(method)
        out = dict(params)
        if spec is None:
            return out
        for name, value in params.items():
            fld = spec.fields.get(name)
            if fld is None or not isinstance(value, str) or "String" in fld.types:
                continue
            try:
                if any(t not in PRIMITIVES for t in fld.types):
                    out[name] = json.loads(value)
                elif form and "Boolean" in fld.types and value.lower() in ("true", "false"):
                    out[name] = value.lower() == "true"
                elif form and "Integer" in fld.types and re.fullmatch(r"-?\d+", value):
                    out[name] = int(value)
                elif form and "Float" in fld.types:
                    out[name] = float(value)
            except ValueError:
                pass  # left as a string: the type check reports it
        return out

    # -- checking ----------------------------------------------------------------------------

    def _check_union(
        self, value: object, alternatives: tuple[str, ...], path: str
    ) -> list[Violation]:
        if len(alternatives) == 1:
            return self._check_type(value, alternatives[0], path)
        # A union of arrays (e.g. sendMediaGroup.media): each item may be any of the item types.
        if all(a.startswith("Array of ") for a in alternatives):
            if not isinstance(value, list | tuple):
                return [self._type_error(value, " or ".join(alternatives), path)]
            items = tuple(a[len("Array of ") :] for a in alternatives)
            out: list[Violation] = []
            for i, item in enumerate(value):
                out.extend(self._check_union(item, items, f"{path}[{i}]"))
            return out
        candidates = alternatives
        if isinstance(value, Mapping):
            narrowed = self._narrow_by_discriminator(value, alternatives, path)
            if isinstance(narrowed, Violation):
                return [narrowed]
            candidates = narrowed
        best: tuple[tuple[int, int], list[Violation]] | None = None
        for alt in candidates:
            errors = self._check_type(value, alt, path)
            if not errors:
                return []
            score = (self._misfit(value, alt), len(errors))
            if best is None or score < best[0]:
                best = (score, errors)
        assert best is not None
        if best[0][0] >= 1000:  # no alternative even has the right shape
            return [self._type_error(value, " or ".join(alternatives), path)]
        return best[1]

    def _narrow_by_discriminator(
        self, value: Mapping[str, Any], alternatives: tuple[str, ...], path: str
    ) -> tuple[str, ...] | Violation:
        """Pick the alternatives whose discriminator constant matches the value's."""
        known: dict[str, list[tuple[str, str]]] = {}
        for alt in alternatives:
            spec = self.types.get(alt)
            if spec is not None and spec.discriminator is not None:
                key, const = spec.discriminator
                known.setdefault(key, []).append((alt, const))
        for key, options in known.items():
            if key not in value:
                continue
            matching = tuple(alt for alt, const in options if value[key] == const)
            if matching:
                others = tuple(a for a in alternatives if a not in {o for o, _ in options})
                return matching + others
            if len(options) == len(alternatives):
                allowed = ", ".join(sorted({const for _, const in options}))
                return Violation(
                    f"{path}.{key}",
                    f'Bad Request: can\'t parse object: unsupported {key} "{value[key]}"',
                    f"expected one of: {allowed}",
                )
        return alternatives

    def _misfit(self, value: object, alt: str) -> int:
        """How badly ``value`` fits ``alt`` structurally (0 = same shape), to pick the error."""
        spec = self.types.get(alt)
        if spec is not None and spec.fields and isinstance(value, Mapping):
            return len(set(value) - set(spec.fields))
        if self._shape_matches(value, alt):
            return 0
        return 1000

    def _shape_matches(self, value: object, alt: str) -> bool:
        if alt.startswith("Array of "):
            return isinstance(value, list | tuple)
        if alt in ("Integer", "Float"):
            return isinstance(value, int | float) and not isinstance(value, bool)
        if alt == "String":
            return isinstance(value, str)
        if alt == "Boolean":
            return isinstance(value, bool)
        if alt == "InputFile":
            return isinstance(value, UploadedFile)
        return isinstance(value, Mapping)

    def _type_error(self, value: object, expected: str, path: str) -> Violation:
        return Violation(
            path,
            f'Bad Request: field "{path.rsplit(".", 1)[-1]}" must be of type {expected}',
            f"got {_py_type(value)} {value!r:.60}",
        )

    def _check_type(self, value: object, type_expr: str, path: str) -> list[Violation]:
        if type_expr.startswith("Array of "):
            if not isinstance(value, list | tuple):
                return [self._type_error(value, type_expr, path)]
            inner = type_expr[len("Array of ") :]
            out: list[Violation] = []
            for i, item in enumerate(value):
                out.extend(self._check_type(item, inner, f"{path}[{i}]"))
            return out
        ok: bool
        if type_expr == "Integer":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif type_expr == "Float":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif type_expr == "String":
            ok = isinstance(value, str)
        elif type_expr == "Boolean":
            ok = isinstance(value, bool)
        elif type_expr == "InputFile":
            ok = isinstance(value, UploadedFile)
        else:
            return self._check_object(value, type_expr, path)
        return [] if ok else [self._type_error(value, type_expr, path)]

    def _check_object(self, value: object, type_name: str, path: str) -> list[Violation]:
        spec = self.types.get(type_name)
        if spec is None:
            return [Violation(path, "Bad Request: internal", f"unknown spec type {type_name!r}")]
        if type_name == "KeyboardButton" and isinstance(value, str):
            return []  # documented: a String may be used instead of a text-only button
        if spec.subtypes:
            return self._check_union(value, spec.subtypes, path)
        if not isinstance(value, Mapping):
            return [self._type_error(value, type_name, path)]
        out: list[Violation] = []
        for key in value:
            if key not in spec.fields:
                out.append(
                    Violation(
                        f"{path}.{key}",
                        f'Bad Request: can\'t parse {type_name}: unknown field "{key}"',
                        f"{type_name} has no field {key!r}",
                    )
                )
        if spec.discriminator is not None:
            key, const = spec.discriminator
            if key in value and value[key] != const:
                out.append(
                    Violation(
                        f"{path}.{key}",
                        f'Bad Request: can\'t parse {type_name}: {key} must be "{const}"',
                        f"got {value[key]!r}",
                    )
                )
        out.extend(self._check_fields(type_name, spec.fields, value, path, top_level=False))
        rule = self._type_rules.get(type_name)
        if rule is not None and not out:
            out.extend(rule(value, path))
        return out

    def _check_fields(
        self,
        owner: str,
        fields: Mapping[str, FieldSpec],
        value: Mapping[str, Any],
        path: str,
        *,
        top_level: bool,
    ) -> list[Violation]:
        out: list[Violation] = []
        for fld in self._present_or_required(fields, value):
            item = value.get(fld.name)
            if item is None:
                if fld.required:
                    fpath = f"{path}.{fld.name}"
                    if top_level:
                        reason = _MISSING_ERRORS.get(
                            fld.name, f'parameter "{fld.name}" is required'
                        )
                    else:
                        reason = f'can\'t parse {owner}: field "{fld.name}" is required'
                    out.append(Violation(fpath, f"Bad Request: {reason}", "missing"))
                continue
            fpath = f"{path}.{fld.name}"
            errors = self._check_union(item, fld.types, fpath)
            if errors:
                out.extend(errors)
                continue
            if fld.name.endswith("parse_mode") and isinstance(item, str):
                if item.lower() not in PARSE_MODES:
                    out.append(
                        Violation(fpath, "Bad Request: unsupported parse_mode", f"got {item!r}")
                    )
                continue
            if fld.limit is not None:
                out.extend(self._check_limit(owner, fld, item, value, fields, fpath))
        return out

    def _present_or_required(
        self, fields: Mapping[str, FieldSpec], value: Mapping[str, Any]
    ) -> Iterable[FieldSpec]:
        """The fields `value` holds and the required ones, in the spec's order: an absent
        optional field has nothing to check (a Message has some 80 fields, most absent)."""
        layout = self._layout.get(id(fields))
        if layout is None:
            return fields.values()
        order, required = layout
        names = required.union(name for name in value if name in order)
        return [fields[name] for name in sorted(names, key=order.__getitem__)]

    def _parse_mode_for(
        self, name: str, value: Mapping[str, Any], fields: Mapping[str, FieldSpec]
    ) -> str | None:
        for candidate in (f"{name}_parse_mode", "parse_mode"):
            if candidate in fields:
                mode = value.get(candidate)
                return mode if isinstance(mode, str) else None
        return None

    def _check_limit(
        self,
        owner: str,
        fld: FieldSpec,
        item: object,
        value: Mapping[str, Any],
        fields: Mapping[str, FieldSpec],
        path: str,
    ) -> list[Violation]:
        limit = fld.limit
        assert limit is not None
        size: int
        empty = False
        mode: str | None = None
        if limit.unit == "items":
            if not isinstance(item, list | tuple):
                return []
            size = len(item)
        elif limit.unit == "value":
            if not isinstance(item, int):
                return []
            size = item
        else:
            if not isinstance(item, str):
                return []
            text = item
            if limit.after_parsing:
                mode = self._parse_mode_for(fld.name, value, fields)
                try:
                    text = parsed_text(item, mode)
                except HtmlParseError as exc:
                    return [Violation(path, str(exc), f"text: {item!r:.200}")]
            size = len(text.encode("utf-8")) if limit.unit == "bytes" else utf16_len(text)
            empty = not text.strip()
        if limit.minimum <= size <= limit.maximum and not (empty and limit.minimum > 0):
            return []
        too_short = size < limit.minimum or empty
        short_msg, long_msg = _LIMIT_ERRORS.get((owner, fld.name), ("", ""))
        if fld.name == "caption" and not long_msg:
            long_msg = "message caption is too long"
        reason = short_msg if too_short else long_msg
        if not reason:
            unit = "" if limit.unit == "value" else f" {limit.unit}"
            reason = f"{fld.name} must be {limit.minimum}-{limit.maximum}{unit}"
        unit_note = " (UTF-16 code units)" if limit.unit == "characters" else ""
        parsed_note = " after entities parsing" if mode and mode.lower() == "html" else ""
        detail = (
            f"{size}{'' if limit.unit == 'value' else ' ' + limit.unit}{unit_note}{parsed_note}"
            f"{' (blank)' if empty else ''}, allowed {limit.minimum}-{limit.maximum}"
        )
        return [Violation(path, f"Bad Request: {reason}", detail)]

    # -- rules stated in prose ---------------------------------------------------------------

    def _rule_inline_button(self, value: Mapping[str, Any], path: str) -> list[Violation]:
        actions = [k for k in value if k not in _BUTTON_DECORATIONS and value[k] is not None]
        if len(actions) == 1:
            return []
        if not actions:
            reason = "Text buttons are unallowed in the inline keyboard"
        else:
            reason = f"exactly one action field must be used, got {', '.join(sorted(actions))}"
        return [
            Violation(
                path,
                f"Bad Request: can't parse inline keyboard button: {reason}",
                "InlineKeyboardButton must have exactly one of its optional action fields",
            )
        ]

    def _rule_inline_markup(self, value: Mapping[str, Any], path: str) -> list[Violation]:
        rows = value.get("inline_keyboard") or []
        count = sum(len(row) for row in rows)
        if count > 100:
            return [
                Violation(
                    f"{path}.inline_keyboard",
                    "Bad Request: reply markup is too long",
                    f"{count} buttons, at most 100 allowed",
                )
            ]
        return []

    def _rule_bot_command(self, value: Mapping[str, Any], path: str) -> list[Violation]:
        command = value.get("command", "")
        if isinstance(command, str) and not _BOT_COMMAND_RE.fullmatch(command):
            return [
                Violation(
                    f"{path}.command",
                    "Bad Request: BOT_COMMAND_INVALID",
                    f"{command!r}: 1-32 characters of lowercase English letters, digits and _",
                )
            ]
        return []

    def _method_rules(self, method: str, params: Mapping[str, Any]) -> list[Violation]:
        out: list[Violation] = []
        if method.startswith("editMessage"):
            has_inline = params.get("inline_message_id") is not None
            has_chat = params.get("chat_id") is not None or params.get("message_id") is not None
            if has_inline and has_chat:
                out.append(
                    Violation(
                        method,
                        "Bad Request: can't specify both inline_message_id and chat_id/message_id",
                    )
                )
            elif not has_inline and (
                params.get("chat_id") is None or params.get("message_id") is None
            ):
                out.append(
                    Violation(
                        method,
                        "Bad Request: message identifier is not specified",
                        "pass chat_id and message_id, or inline_message_id",
                    )
                )
        if (
            method == "editMessageText"
            and params.get("text") is None
            and params.get("rich_message") is None
        ):
            out.append(Violation(f"{method}.text", "Bad Request: message text is empty", "missing"))
        if method == "setMyCommands":
            commands = params.get("commands")
            if isinstance(commands, list | tuple) and len(commands) > 100:
                out.append(
                    Violation(
                        f"{method}.commands",
                        "Bad Request: too many commands",
                        f"{len(commands)} commands, at most 100 allowed",
                    )
                )
        if method == "sendChatAction":
            action = params.get("action")
            if isinstance(action, str) and action not in CHAT_ACTIONS:
                out.append(
                    Violation(
                        f"{method}.action",
                        "Bad Request: wrong parameter action in request",
                        f"got {action!r}",
                    )
                )
        if method == "sendMediaGroup":
            media = params.get("media")
            if isinstance(media, list | tuple):
                kinds = {m.get("type") for m in media if isinstance(m, Mapping)}
                for special in ("document", "audio"):
                    if special in kinds and len(kinds) > 1:
                        out.append(
                            Violation(
                                f"{method}.media",
                                f"Bad Request: {special}s can't be mixed with other media types",
                                f"types: {sorted(str(k) for k in kinds)}",
                            )
                        )
        return out


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> ApiSpec:
    with open(path, encoding="utf-8") as fh:
        return ApiSpec(json.load(fh))
