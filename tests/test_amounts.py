"""Tests for bot.amounts: parsing yuan amounts as typed on a phone, and formatting them."""

from __future__ import annotations

import time
from decimal import Decimal

import cn2an
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.amounts import MAX_AMOUNT, AmountError, format_amount, parse_amount

D15000 = Decimal("15000.00")

FIFTEEN_THOUSAND = [
    "15000", "15,000", "1.5万", "1.5w", "1.5W", "15k", "15K", "15000元", "￥15000",
    "¥15000", "一万五千", "一万五", "1万5", "1万5千", "1,5万", " 15000 ", "１５０００",
    "15000块", "15000 yuan", "RMB 15000", "15000.00", "1.5 万元", "壹万伍仟", "15 000",
    "15000块钱", "壹万伍仟元整", "人民币15000元", "CNY15000", "15000rmb", "15,000.00元",
    "¥ 15,000.00", "１５，０００", "１．５万", "1点5万", "一点五万", "1w5", "+15000",
    "15\u00a0000", "\u300015000\u3000", "15000 Yuan", "一五零零零", "一萬五千",
]  # fmt: skip

OTHER_VALUES = [
    ("3千", "3000"),
    ("2.5k", "2500"),
    ("十五万", "150000"),
    ("0.5万", "5000"),
    (".5万", "5000"),
    ("100000000", "100000000"),
    ("1亿", "100000000"),  # exactly the maximum
    ("10000万", "100000000"),
    ("一亿", "100000000"),
    ("99999999.995", "100000000.00"),  # rounds half up to the maximum
    ("100000000.004", "100000000.00"),
    ("0.005", "0.01"),
    ("0.01", "0.01"),
    ("2.675", "2.68"),  # half up, not banker's rounding
    ("1.23456万", "12345.60"),
    ("1.234567万", "12345.67"),
    ("15.000", "15.00"),  # a dot is always the decimal mark
    ("15,00", "15.00"),  # comma + 1-2 digits: decimal mark
    ("1,5", "1.50"),
    ("1,000", "1000"),
    ("15000.", "15000"),
    ("15  000", "15000"),
    ("两千五", "2500"),
    ("三百四", "340"),
    ("二十五万五", "255000"),
    ("一百二十五万三", "1253000"),
    ("十五点五万", "155000"),
    ("一万点五", "10000.50"),
    ("三十万", "300000"),
    ("2百万", "2000000"),
    ("5kw", "50000000"),
    ("12万3千", "123000"),
    ("1万2千3百4十5", "12345"),
    ("3万零500", "30500"),
    ("1万500", "10500"),
    ("一万零五百", "10500"),
    ("十", "10"),
    ("两", "2"),
    ("九千九百九十九万九千九百九十九", "99999999"),
    ("一百一", "110"),
    ("1万10", "10010"),
    ("一点五千", "1500"),
    ("零点五万", "5000"),
    ("1.5千万", "15000000"),
    ("壹亿", "100000000"),
    ("一二零零", "1200"),  # digit by digit
    ("0" * 1000 + "5", "5"),
]

ERRORS = [
    ("", "empty"),
    ("   ", "empty"),
    ("\u3000\n\t", "empty"),
    ("-5", "negative"),
    ("－5", "negative"),
    ("−5", "negative"),
    ("负五百", "negative"),
    ("-¥5", "negative"),
    ("¥-5", "negative"),
    ("-1亿", "negative"),
    ("0", "zero"),
    ("0.00", "zero"),
    ("零", "zero"),
    ("0万", "zero"),
    ("-0", "zero"),
    ("0.001", "zero"),
    ("0.004", "zero"),
    ("100000000.01", "too_large"),
    ("100000000.005", "too_large"),
    ("1.5亿", "too_large"),
    ("2亿", "too_large"),
    ("一亿零一", "too_large"),
    ("一亿五", "too_large"),
    ("10001万", "too_large"),
    ("1" + "0" * 5000 + "万", "too_large"),
    ("9" * 100, "too_large"),
    ("nan", "not_a_number"),
    ("NaN", "not_a_number"),
    ("inf", "not_a_number"),
    ("-inf", "not_a_number"),
    ("Infinity", "not_a_number"),
    ("1e400", "not_a_number"),
    ("1e3", "not_a_number"),
    ("0x10", "not_a_number"),
    ("abc", "not_a_number"),
    ("15,00,0", "not_a_number"),
    ("1,50,000", "not_a_number"),
    ("0,500", "not_a_number"),
    ("1,2345", "not_a_number"),
    ("1..5", "not_a_number"),
    ("1.2.3", "not_a_number"),
    ("5万万", "not_a_number"),
    ("1ww", "not_a_number"),
    ("😀", "not_a_number"),
    ("15000😀", "not_a_number"),
    ("$15000", "not_a_number"),
    ("1 5", "not_a_number"),
    ("一二万三", "not_a_number"),  # cn2an alone says 33000
    ("二三千四", "not_a_number"),  # cn2an alone says 5400
    ("五十五十五", "not_a_number"),  # cn2an alone raises KeyError
    ("一万零", "not_a_number"),
    ("3万0500", "not_a_number"),
    ("一万五点五", "not_a_number"),  # spoken shorthand plus decimals: ambiguous
    ("一万点五万", "not_a_number"),
    ("一点", "not_a_number"),
    ("点五", "not_a_number"),
    ("万", "not_a_number"),
    ("k", "not_a_number"),
    ("¥", "not_a_number"),
    ("元", "not_a_number"),
    ("-", "not_a_number"),
    ("--5", "not_a_number"),
    ("15元5角", "not_a_number"),
    ("约1.5万", "not_a_number"),
    ("15000。", "not_a_number"),
    ("١٥٠٠٠", "not_a_number"),  # Arabic-Indic digits
    ("①⑤", "not_a_number"),
    ("5²", "not_a_number"),
    ("1.5万5千", "not_a_number"),
    ("1五000", "not_a_number"),
    ("10二万", "not_a_number"),
    ("550二", "not_a_number"),
    ("五千千一", "not_a_number"),  # cn2an alone says 5100
    ("二万两百百九", "not_a_number"),  # cn2an alone says 20290
    ("1百1十百九", "not_a_number"),  # cn2an alone says 200
    ("九两千", "not_a_number"),
    ("一点二十", "not_a_number"),
    ("十五十", "not_a_number"),
    ("1.5十", "not_a_number"),
    ("零五", "not_a_number"),
    ("50点", "not_a_number"),
    ("1点两零九", "not_a_number"),
    ("廿", "not_a_number"),
    ("一亿五千", "too_large"),
    ("两亿", "too_large"),
]


@pytest.mark.parametrize("text", FIFTEEN_THOUSAND)
def test_fifteen_thousand(text: str) -> None:
    assert parse_amount(text) == D15000


@pytest.mark.parametrize(("text", "expected"), OTHER_VALUES)
def test_values(text: str, expected: str) -> None:
    result = parse_amount(text)
    assert result == Decimal(expected)
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize(("text", "kind"), ERRORS)
def test_errors(text: str, kind: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(text)
    assert caught.value.kind == kind
    assert isinstance(caught.value, ValueError)


def test_non_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_amount(15000)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "9" * 1_000_000,
        "1" + ",000" * 200_000,
        "1" + " 000" * 200_000,
        "0." + "0" * 1_000_000 + "1",
        "一" * 1_000_000,
        "1万" * 200_000,
        " " * 1_000_000 + "x",
    ],
    ids=["digits", "comma-groups", "space-groups", "fraction", "chinese", "wan", "spaces"],
)
def test_long_input_is_quick(text: str) -> None:
    started = time.perf_counter()
    with pytest.raises(AmountError) as caught:
        parse_amount(text)
    assert caught.value.kind in {"too_large", "not_a_number", "zero"}
    assert time.perf_counter() - started < 2


amounts = st.decimals(min_value=Decimal("0.01"), max_value=MAX_AMOUNT, places=2)


@given(amounts)
@example(Decimal("0.01"))
@example(MAX_AMOUNT.quantize(Decimal("0.01")))
@example(Decimal("15000.00"))
def test_round_trip_of_written_forms(d: Decimal) -> None:
    plain = str(d)
    assert "E" not in plain
    grouped = f"{d:,}"
    for text in (plain, grouped, f"{plain}元", f"￥{plain}", f"¥{grouped}", f" {grouped} 元 "):
        assert parse_amount(text) == d, text
    assert parse_amount(f"{d / 10000:f}万") == d
    if d % 10000 == 0:
        assert parse_amount(f"{d // 10000}万") == d
    if d % 1000 == 0:
        assert parse_amount(f"{d // 1000}k") == d


@given(amounts)
def test_negative_written_forms(d: Decimal) -> None:
    for text in (f"-{d}", f"－{d:,}", f"-¥{d}", f"负{d}"):
        with pytest.raises(AmountError) as caught:
            parse_amount(text)
        assert caught.value.kind == "negative"


@given(st.integers(min_value=1, max_value=int(MAX_AMOUNT)), st.sampled_from(["low", "up"]))
@example(10005, "low")
@example(100000000, "up")
def test_chinese_numerals(n: int, mode: str) -> None:
    assert parse_amount(cn2an.an2cn(n, mode)) == n


@given(st.integers(min_value=1, max_value=9999), st.integers(min_value=1, max_value=9))
def test_spoken_wan_shorthand(wan: int, thousands: int) -> None:
    # "一万五" / "1万5": the trailing digit counts the next unit down (thousands).
    expected = wan * 10000 + thousands * 1000
    assert parse_amount(f"{wan}万{thousands}") == expected
    assert parse_amount(cn2an.an2cn(wan) + "万" + cn2an.an2cn(thousands)) == expected


def _check_total(text: str) -> None:
    try:
        result = parse_amount(text)
    except AmountError as error:
        assert error.kind in {"empty", "not_a_number", "negative", "zero", "too_large"}
    else:
        assert isinstance(result, Decimal)
        assert 0 < result <= MAX_AMOUNT
        assert result.as_tuple().exponent == -2


@given(st.text())
def test_any_text_gives_amount_or_amount_error(text: str) -> None:
    _check_total(text)


# Text from the characters that matter, so the fuzzing reaches the interesting paths.
NUMBERISH = st.text(
    alphabet="0123456789０１５.,，．点 -－负+¥￥元块万wWkK千百十亿零〇一二两五九壹伍仟萬eE%nfai",
    max_size=25,
)


@given(NUMBERISH)
def test_numberish_text_gives_amount_or_amount_error(text: str) -> None:
    _check_total(text)


@pytest.mark.parametrize(
    ("value", "lang", "expected"),
    [
        (Decimal("15000"), "zh", "15,000.00 元"),
        (Decimal("15000"), "en", "¥15,000.00"),
        (Decimal("15000"), "zh-CN", "15,000.00 元"),
        (Decimal("15000"), "fr", "¥15,000.00"),
        (Decimal("0.005"), "en", "¥0.01"),
        (Decimal("2.675"), "zh", "2.68 元"),
        (Decimal("1234567.8"), "en", "¥1,234,567.80"),
        (Decimal("100000000"), "zh", "100,000,000.00 元"),
        (Decimal("-5"), "en", "-¥5.00"),
        (Decimal("-5"), "zh", "-5.00 元"),
        (Decimal("-0.001"), "en", "¥0.00"),
        (12, "en", "¥12.00"),
    ],
)
def test_format_amount(value: Decimal, lang: str, expected: str) -> None:
    assert format_amount(value, lang) == expected


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("1E+60")])
def test_format_amount_rejects_non_finite(value: Decimal) -> None:
    with pytest.raises(ValueError):
        format_amount(value, "en")


@given(amounts, st.sampled_from(["zh", "en"]))
def test_formatted_amount_parses_back(d: Decimal, lang: str) -> None:
    assert parse_amount(format_amount(d, lang)) == d
