"""Normalising and classifying numbers: what people type, and what libphonenumber says."""

from __future__ import annotations

import random
import re
import unicodedata

import pandas as pd
import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import carrier, geocoder

import campaign as cp
from campaign import phones
from campaign.phones import REASONS, normalize_phone, normalize_phones

FULL_WIDTH = str.maketrans("0123456789+-() ", "０１２３４５６７８９＋－（）\u3000")


def is_mainland_mobile(digits: str) -> bool:
    """libphonenumber's own answer, one number at a time (the slow, obvious way)."""
    if not (digits.isascii() and digits.isdigit()):
        return False
    number = phonenumbers.PhoneNumber(country_code=86, national_number=int(digits))
    return (
        len(digits) == 11
        and phonenumbers.is_valid_number(number)
        and phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
    )


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True).filter(is_mainland_mobile)


@st.composite
def written(draw, number: str | None = None) -> tuple[str, str]:
    """A valid number and one way a person might have written it."""
    n = number or draw(mobiles)
    sep = draw(st.sampled_from(["", " ", "-", ".", " - ", "\t"]))
    groups = draw(
        st.sampled_from([[n], [n[:3], n[3:7], n[7:]], [n[:3], n[3:]], [n[:3], n[3:6], n[6:]]])
    )
    body = sep.join(groups)
    if draw(st.booleans()) and sep in {"", " ", "-"}:
        body = f"({groups[0]}){sep}{sep.join(groups[1:])}" if len(groups) > 1 else body
    prefix = draw(st.sampled_from(["", "", "+86", "+86 ", "86", "0086", "0086 ", "(+86)", "+86-"]))
    text = prefix + body
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    if prefix == "" and sep == "" and draw(st.booleans()):
        text += ".0"  # an Excel float written out
    pad = draw(st.sampled_from(["", " ", "  ", "\t", "\u3000", "\u202d"]))
    return n, pad + text + pad.replace("\u202d", "\u202c")


@given(written())
@example(("13800138000", "+86 138 0013 8000"))
@example(("13800138000", "１３８００１３８０００"))
@example(("13800138000", "13800138000.0"))
@example(("13800138000", "0086-138-0013-8000"))
@example(("19212345678", "(+86)192-1234-5678"))
@example(("16101234567", "8616101234567"))
def test_any_formatting_of_a_valid_number_normalises_back_to_it(case):
    number, text = case
    assert normalize_phone(text) == number


@given(st.text(max_size=24))
@example("1.38001E+10")
@example("12345678901")
@example("1795113800138000")
@example("+852 6123 4567")
@example("010-62345678")
@settings(max_examples=400)
def test_nothing_that_is_not_a_mainland_mobile_comes_out_valid(text):
    result = normalize_phones([text]).iloc[0]
    if not result["valid"]:
        assert pd.isna(result["phone"])
        assert result["reason"] in REASONS
        return
    phone = result["phone"]
    assert is_mainland_mobile(phone)
    # and it is the number that was typed: the input's digits end with it, after a known prefix
    typed = re.sub(r"\.0+$", "", unicodedata.normalize("NFKC", text).strip())
    digits = "".join(ch for ch in typed if ch in "0123456789")
    assert digits.endswith(phone)
    assert digits[: -len(phone)] in {"", "86", "0086", "0", *phones._IP_DIAL.split("|")}


@given(st.from_regex(r"[0-9]{1,16}", fullmatch=True))
def test_digit_strings_are_valid_exactly_when_libphonenumber_says_so(digits):
    result = normalize_phones([digits]).iloc[0]
    if result["valid"]:
        assert is_mainland_mobile(result["phone"])
    elif len(digits) == 11:
        assert not is_mainland_mobile(digits)


def test_scientific_notation_is_never_guessed():
    result = normalize_phones(["1.38001E+10", "1.38001e10", "1.3800138E+10"])
    assert not result["valid"].any()
    assert set(result["reason"]) == {"digits lost to Excel scientific notation"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        ("1.38001E+10", "digits lost to Excel scientific notation"),
        ("无", "not a phone number"),
        ("abc13800138000", "not a phone number"),
        ("13800138000/13900139000", "several numbers in one cell"),
        ("13800138000、13900139000", "several numbers in one cell"),
        ("+1 415 555 0100", "not a mainland China number"),
        ("00852 6123 4567", "not a mainland China number"),
        ("010-62345678", "landline"),
        ("0755-8888 1234", "landline"),
        ("+86 10 6234 5678", "landline"),
        ("1380013800", "wrong length"),
        ("138001380001", "wrong length"),
        ("12012345678", "not a mobile number"),
        ("4008001234", "not a mobile number"),
    ],
)
def test_every_invalid_row_says_why(text, reason):
    result = normalize_phones([text]).iloc[0]
    assert not result["valid"]
    assert pd.isna(result["phone"])
    assert result["reason"] == reason


@pytest.mark.parametrize(
    "value",
    [13800138000, 13800138000.0, "13800138000", "\u202d13800138000\u202c", "1795113800138000"],
)
def test_excel_cells_and_copied_text(value):
    assert normalize_phone(value) == "13800138000"


def test_new_ranges_come_from_libphonenumber():
    result = normalize_phones(["19212345678", "16101234567", "19912345678"])
    assert result["valid"].all()
    assert list(result["carrier"]) == ["中国广电", "中国广电", "中国电信"]


def test_carrier_and_region_match_libphonenumber_number_by_number():
    rng = random.Random(7)
    numbers = [str(rng.randint(13_000_000_000, 19_999_999_999)) for _ in range(3000)]
    result = normalize_phones(numbers)
    checked = 0
    for digits, row in zip(numbers, result.itertuples(), strict=True):
        assert row.valid == is_mainland_mobile(digits), digits
        if not row.valid:
            continue
        number = phonenumbers.PhoneNumber(country_code=86, national_number=int(digits))
        expected_carrier = carrier.name_for_valid_number(number, "zh") or None
        assert (row.carrier if isinstance(row.carrier, str) else None) == expected_carrier
        place = geocoder.description_for_valid_number(number, "zh")
        if place and place != "中国":
            assert place.startswith(row.province), (digits, place, row.province)
            if isinstance(row.city, str):
                assert row.city in place
            checked += 1
        else:
            assert pd.isna(row.province)
    assert checked > 500


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("广东省深圳市", ("广东", "深圳")),
        ("北京市", ("北京", "北京")),
        ("天津", ("天津", "天津")),
        ("广西南宁市", ("广西", "南宁")),
        ("新疆乌鲁木齐市", ("新疆", "乌鲁木齐")),
        ("四川省凉山彝族自治州", ("四川", "凉山彝族自治州")),
        ("内蒙古自治区包头市", ("内蒙古", "包头")),
    ],
)
def test_province_and_city_split(description, expected):
    assert phones._split_region(description) == expected


def test_output_columns_and_dtypes():
    result = normalize_phones(["13800138000", "x"])
    assert list(result.columns) == list(cp.phones.OUTPUT_COLUMNS[:-1])
    assert result["valid"].dtype == bool
    assert result.loc[0, "province"] == "北京"
    assert result.loc[0, "city"] == "北京"


def test_empty_input_gives_empty_columns():
    result = normalize_phones([])
    assert list(result.columns) == list(cp.phones.OUTPUT_COLUMNS[:-1])
    assert len(result) == 0


def test_the_mobile_pattern_leaves_the_last_four_digits_free():
    """Carrier and region are looked up per 7-digit prefix: that needs 10,000-number blocks."""
    import re

    pattern = re.compile(phones._mobile_pattern())
    for prefix in range(1_300_000, 2_000_000, 997):
        low, high = f"{prefix}0000", f"{prefix}9999"
        assert bool(pattern.match(low)) == bool(pattern.match(high)), prefix
