"""Money amounts (yuan) as shop-floor workers type them on a phone, and back to text.

`parse_amount` accepts Arabic digits (ASCII or full-width) with optional thousands
separators ("15,000", "15 000"), a comma as decimal mark ("1,5万"), a multiplier
("1.5万", "1.5w", "15k", "3千", "2百万", "5kw"), Chinese numerals, including spoken
and financial forms ("一万五", "1万5千", "壹万伍仟", "十五点五万"), and currency marks
("¥", "RMB", "人民币", "元", "块", "yuan"). It returns a positive `Decimal` quantized
to fen, or raises `AmountError` -- never anything else -- for any string.

No float is ever involved: the digits are checked by regular expressions, cut to a
bounded length, and only then handed to `Decimal` in a small bounded context.
`cn2an` converts Chinese integer numerals; it is lenient, so its input is checked first.
"""

from __future__ import annotations

import re
import warnings
from decimal import ROUND_HALF_UP, Context, Decimal, DecimalException, InvalidOperation, Overflow
from typing import Literal

import cn2an

__all__ = ["MAX_AMOUNT", "AmountError", "AmountErrorKind", "format_amount", "parse_amount"]

AmountErrorKind = Literal["empty", "not_a_number", "negative", "zero", "too_large"]

MAX_AMOUNT = Decimal("100000000")  # over 100 million is absurd
CENT = Decimal("0.01")

# Every value we build has at most ~25 significant digits; this context is exact for them
# and refuses anything enormous instead of allocating it.
_CTX = Context(
    prec=40, rounding=ROUND_HALF_UP, Emax=40, Emin=-40, traps=[InvalidOperation, Overflow]
)
_MAX_INT_DIGITS = len(str(MAX_AMOUNT))  # an integer part with more digits is too large
# Rounding half-up to 2 places depends only on the 3rd decimal of the final value; the
# largest multiplier is 10**8, so 3 + 8 fractional digits of the typed number suffice.
_MAX_FRAC_DIGITS = 12
_MAX_CHINESE_LEN = 40  # the longest sane numeral below the maximum has ~17 characters
_TOO_LARGE = MAX_AMOUNT + 1  # stands for "some value beyond the maximum"


class AmountError(ValueError):
    """The text is not an acceptable amount; `kind` says why (for a translated message)."""

    def __init__(self, kind: AmountErrorKind, text: str = "") -> None:
        super().__init__(f"{kind}: {text!r}")
        self.kind: AmountErrorKind = kind
        self.text = text


# --- normalisation -------------------------------------------------------------------

_TRANSLATE: dict[int, str] = {code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}
_TRANSLATE.update({ord(c): "-" for c in "\u2212\u2010\u2011\u2012\u2013\u2014\ufe63"})
_TRANSLATE.update({ord("\uffe5"): "¥", ord("\u3000"): " "})
# Traditional forms, and financial numerals to their everyday equivalents.
_TRANSLATE.update({ord(k): v for k, v in zip("萬億兩圓塊拾佰仟", "万亿两圆块十百千", strict=True)})

_SPACES = re.compile(r"\s+")
_SIGNS = {"-": -1, "负": -1, "+": 1}
_PREFIXES = ("人民币", "rmb", "cny", "¥")
_SUFFIXES = ("人民币", "块钱", "元整", "圆整", "元钱", "yuan", "rmb", "cny", "元", "圆", "块")

# --- numerals ------------------------------------------------------------------------

_CN_DIGITS = {
    "零": "0", "〇": "0", "一": "1", "壹": "1", "幺": "1", "二": "2", "贰": "2", "两": "2",
    "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6", "陆": "6",
    "七": "7", "柒": "7", "八": "8", "捌": "8", "九": "9", "玖": "9",
}  # fmt: skip
_CN_UNITS = {"十": 1, "百": 2, "千": 3, "万": 4, "亿": 8}  # powers of ten
# Trailing multipliers ("1.5万", "2百万"); a lone 十 is not one ("一点二十" is no number).
_MULTIPLIERS = {"十万": 5, "百万": 6, "千万": 7, "百": 2, "千": 3, "万": 4, "亿": 8}
_ARABIC_DIGITS = frozenset("0123456789")
_CN_CHARS = frozenset(_CN_DIGITS) | frozenset(_CN_UNITS) | _ARABIC_DIGITS | {"点"}
_ONE_YI = ("一亿", "壹亿", "幺亿")  # exactly MAX_AMOUNT

# An Arabic number: plain; grouped by commas or single spaces; or with a decimal comma.
_NUMBER = re.compile(
    r"(?P<plain>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"|(?P<commas>[1-9][0-9]{0,2}(?:,[0-9]{3})+(?:\.[0-9]*)?)"
    r"|(?P<spaces>[1-9][0-9]{0,2}(?: [0-9]{3})+(?:\.[0-9]*)?)"
    r"|(?P<comma_decimal>[0-9]+,[0-9]{1,2})"
)
_ARABIC_POINT = re.compile(r"[0-9]+点[0-9]+")  # "1点5"
_ARABIC_RUN = re.compile(r"[0-9]+")

_Z = "[零〇]"
_D = "[" + "".join(c for c, d in _CN_DIGITS.items() if d != "0") + "]"
_ANY_D = "[" + "".join(_CN_DIGITS) + "]"
# Chinese digits read one by one ("一五零零零", "零点五"); one digit before a multiplier.
_CN_DIGIT_BY_DIGIT = re.compile(f"(?:{_Z}|{_D}{_ANY_D}*)(?:点{_ANY_D}+)?")
_CN_DIGIT_SCALED = re.compile(f"{_ANY_D}(?:点{_ANY_D}+)?")
# A Chinese integer numeral: each section 1..9999 with units in order, 零 optional between
# sections, and the spoken shorthand "一万五" / "三百四" (a bare digit after a unit).
_T99 = f"(?:{_D}?十{_D}?|{_D})"
_T999 = f"(?:{_D}百(?:{_Z}?{_T99})?|{_T99})"
_T9999 = f"(?:{_D}千(?:{_Z}?{_T999})?|{_T999})"
_WAN = f"(?:{_T9999}万(?:{_Z}?{_T9999})?|{_T9999})"
_CN_INTEGER = re.compile(f"{_WAN}亿(?:{_Z}?{_WAN})?|{_WAN}")
_SHORTHAND_END = re.compile(f"[百千万亿]{_D}$")
_MIXED_DIGITS = re.compile(f"[0-9]{_ANY_D}|{_D}[0-9]")  # "10二万", "550二"


def _normalise(text: str) -> str:
    """Half-width, simplified, lower-case, single-spaced, stripped."""
    return _SPACES.sub(" ", text.translate(_TRANSLATE)).strip().lower()


def _take_sign(text: str) -> tuple[int | None, str]:
    if text and text[0] in _SIGNS:
        return _SIGNS[text[0]], text[1:].lstrip()
    return None, text


def _split_decorations(text: str) -> tuple[int, str]:
    """Strip sign and currency marks: `-¥ 5`, `¥-5`, `负五百元`, `RMB 5`, `5 yuan`."""
    sign, text = _take_sign(text)
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :].lstrip()
            break
    if sign is None:
        sign, text = _take_sign(text)
    for suffix in _SUFFIXES:
        if text.endswith(suffix):
            text = text[: -len(suffix)].rstrip()
            break
    return (1 if sign is None else sign), text


def _split_multiplier(text: str) -> tuple[str, int]:
    """("1.5", 4) for "1.5万"; (text, 0) without a trailing multiplier."""
    for word, exponent in _MULTIPLIERS.items():
        if text.endswith(word):
            return text[: -len(word)].rstrip(), exponent
    return text, 0


def _decimal(integer: str, fraction: str, power: int = 0) -> Decimal:
    """`integer.fraction * 10**power` from digit strings, bounded before any arithmetic."""
    integer = integer.lstrip("0")
    if len(integer) > _MAX_INT_DIGITS:
        return _TOO_LARGE  # already too large before the (growing) multiplier
    digits = f"{integer or '0'}.{fraction[:_MAX_FRAC_DIGITS] or '0'}"
    return _CTX.create_decimal(digits).scaleb(power, _CTX)


def _arabic(core: str, power: int) -> Decimal | None:
    """An Arabic number (or digit-by-digit Chinese one) times 10**power; None if not one."""
    if core and set(core) <= _CN_DIGITS.keys() | {"点"}:
        pattern = _CN_DIGIT_SCALED if power else _CN_DIGIT_BY_DIGIT
        if not pattern.fullmatch(core):
            return None
        core = "".join(_CN_DIGITS.get(c, ".") for c in core)
    elif "点" in core:
        if not _ARABIC_POINT.fullmatch(core):
            return None
        core = core.replace("点", ".")
    match = _NUMBER.fullmatch(core)
    if match is None:
        return None
    if match["comma_decimal"]:
        integer, _, fraction = core.partition(",")
    else:
        integer, _, fraction = core.replace(",", "").replace(" ", "").partition(".")
    return _decimal(integer, fraction, power)


def _to_chinese(text: str) -> str | None:
    """Spell the Arabic runs of a mixed numeral in Chinese ("1万5千" -> "一万五千")."""

    def spell(match: re.Match[str]) -> str:
        run = match.group()
        if len(run) > 1 and run[0] == "0":
            return "".join("零一二三四五六七八九"[int(d)] for d in run)  # as cn2an "smart"
        spelled = str(cn2an.an2cn(run, "low"))
        # "1万10": cn2an wants "一万一十", not "一万十".
        return "一" + spelled if match.start() and spelled[0] == "十" else spelled

    if any(len(run) > _MAX_INT_DIGITS for run in _ARABIC_RUN.findall(text)):
        return None
    return _ARABIC_RUN.sub(spell, text)


def _chinese_int(spelled: str) -> int | None:
    """A Chinese integer numeral, checked by our grammar, converted by cn2an; None if bad.

    cn2an alone is lenient: it reads "一二万三" as 33000 and "五千千一" as 5100.
    """
    if not _CN_INTEGER.fullmatch(spelled):
        return None
    if "亿" in spelled:
        # Every well-formed numeral with 亿 other than "一亿" itself exceeds the maximum.
        return int(MAX_AMOUNT) if spelled in _ONE_YI else int(MAX_AMOUNT) + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = cn2an.cn2an(spelled, "normal")
    except Exception:  # mostly ValueError, but KeyError on some inputs too
        return None
    return value if type(value) is int else None


def _chinese(body: str) -> Decimal | None:
    """A numeral with Chinese units ("一万五", "1万5千"), maybe with 点 and a multiplier."""
    if len(body) > _MAX_CHINESE_LEN or not set(body) <= _CN_CHARS:
        return None
    if _MIXED_DIGITS.search(body):
        return None
    left, dot, right = body.partition("点")
    spelled = _to_chinese(left)
    if spelled is None:
        return None
    if not dot:
        value = _chinese_int(spelled)
        return None if value is None else min(Decimal(value), _TOO_LARGE)
    # "十五点五万": an integer numeral, then digits of one script, then maybe a multiplier.
    right, power = _split_multiplier(right)
    if set(right) <= _ARABIC_DIGITS:
        same_script = not set(left) & _CN_DIGITS.keys()
    else:
        same_script = set(right) <= _CN_DIGITS.keys() and not set(left) & _ARABIC_DIGITS
    if not right or not same_script or _SHORTHAND_END.search(spelled):
        return None  # "一万五点五": the spoken shorthand followed by decimals is ambiguous
    if power and max((_CN_UNITS[c] for c in spelled if c in _CN_UNITS), default=0) >= power:
        return None  # "一万点五万"
    integer = _chinese_int(spelled)
    if integer is None:
        return None
    return _decimal(str(integer), "".join(_CN_DIGITS.get(c, c) for c in right), power)


def _magnitude(body: str) -> Decimal | None:
    """The unsigned value of the number itself, unrounded; None if it is not one."""
    body = body.replace("kw", "千万").replace("k", "千").replace("w", "万")
    core, power = _split_multiplier(body)
    value = _arabic(core, power) if core else None
    return _chinese(body) if value is None else value


def parse_amount(text: str, *, zero: bool = False) -> Decimal:
    """The positive amount in `text` (or zero, with `zero`), quantized to 0.01 yuan (half up).

    Raises `AmountError` with kind "empty", "not_a_number", "negative", "zero" or
    "too_large" (above `MAX_AMOUNT`); no other exception escapes for any string.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_amount expects str, not {type(text).__name__}")
    normalised = _normalise(text)
    if not normalised:
        raise AmountError("empty", text)
    sign, body = _split_decorations(normalised)
    value = _magnitude(body) if body else None
    if value is None:
        raise AmountError("not_a_number", text)
    amount = value.quantize(CENT, rounding=ROUND_HALF_UP, context=_CTX)
    if amount == 0 and not zero:
        raise AmountError("zero", text)
    if sign < 0:
        raise AmountError("negative", text)
    if amount > MAX_AMOUNT:
        raise AmountError("too_large", text)
    return amount


def format_amount(value: Decimal | int, lang: str) -> str:
    """The amount for display: `15,000.00 元` for Chinese ("zh", "zh-CN"...), else `¥15,000.00`.

    Rounds half up to 0.01; raises ValueError for NaN, infinity or absurdly large values.
    """
    value = Decimal(value)
    if not value.is_finite():
        raise ValueError(f"cannot format amount {value!r}")
    try:
        amount = value.quantize(CENT, rounding=ROUND_HALF_UP, context=_CTX)
    except DecimalException:
        raise ValueError(f"cannot format amount {value!r}") from None
    number = f"{amount.copy_abs():,.2f}"
    minus = "-" if amount < 0 else ""  # a rounded "-0.00" compares equal to 0: no sign
    if lang.strip().lower().startswith("zh"):
        return f"{minus}{number} 元"
    return f"{minus}¥{number}"
