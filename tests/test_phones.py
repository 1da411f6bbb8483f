"""Normalising and classifying numbers: what people type, and what libphonenumber says."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import random
import re
import struct
import tarfile
import unicodedata
from pathlib import Path

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
ROOT = Path(__file__).resolve().parent.parent
#: A prefix file of the developer's own (data/make_prefixes.py), for the tests that need a
#: real 号段 table; read before the fixture below hides it from every other test.
USER_PREFIXES = os.environ.get(phones.PREFIXES_ENV) or None


@pytest.fixture(autouse=True)
def _no_prefix_file_from_the_environment(monkeypatch):
    """These tests check libphonenumber's own answers, whatever $CAMPAIGN_PREFIXES says."""
    monkeypatch.delenv(phones.PREFIXES_ENV, raising=False)


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
        # libphonenumber's carrier, and where it names none the ranges it leaves out (162,
        # 165: allocated to 中国电信's and 中国移动's resellers), issue 14
        expected_carrier = carrier.name_for_valid_number(
            number, "zh"
        ) or phones._reference._CARRIER_GAPS.get(digits[:3])
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


# --------------------------------------------------------------------------- ranges and 号段 files

#: The allocated mainland mobile ranges (issue 14), each holding 10**8 numbers.
ALLOCATED = [
    *range(130, 140), 145, 147, *range(150, 160), 162, *range(165, 168), *range(170, 179),
    *range(180, 190), *range(190, 200),
]  # fmt: skip


def uniform_sample(n: int, seed: int = 14) -> list[str]:
    """``n`` numbers drawn uniformly from the allocated ranges (as benchmarks/bench_regions.py)."""
    rng = random.Random(seed)
    return [f"{rng.choice(ALLOCATED)}{rng.randrange(10**8):08d}" for _ in range(n)]


def unknown_shares(result: pd.DataFrame) -> dict[str, float]:
    valid = result[result["valid"]]
    return {c: float(valid[c].isna().mean()) for c in ("carrier", "province", "city")}


def test_carrier_is_known_for_nearly_every_allocated_number():
    """Target (issue 14): under 1% unknown carrier on a uniform sample of the ranges."""
    result = normalize_phones(uniform_sample(5000))
    assert result["valid"].mean() > 0.9
    assert unknown_shares(result)["carrier"] < 0.01


@pytest.mark.parametrize(("prefix", "carrier"), [("162", "中国电信"), ("165", "中国移动")])
def test_ranges_libphonenumber_leaves_without_a_carrier_get_theirs(prefix, carrier):
    result = normalize_phones([f"{prefix}{i:08d}" for i in (0, 12345678, 99999999)])
    assert result["valid"].all()
    assert set(result["carrier"]) == {carrier}


@pytest.fixture(scope="session")
def real_prefixes(tmp_path_factory):
    """A prefix file built as a user builds one: from $CAMPAIGN_PREFIXES if set, else from
    the phone.dat of the ``phone`` package, which the test extras install (its GPL-3.0 data
    is used here, never shipped: see data/make_prefixes.py)."""
    if USER_PREFIXES:
        return USER_PREFIXES
    spec = importlib.util.find_spec("phone")
    assert spec is not None, "the test extras install the phone package"
    assert spec.origin
    out = tmp_path_factory.mktemp("prefixes") / "prefixes.npz"
    load_make_prefixes().build(Path(spec.origin).parent / "phone.dat", out)
    return out


def test_a_prefix_file_meets_the_targets_on_a_uniform_sample(real_prefixes):
    """Targets (issue 14): under 10% unknown province, under 1% unknown carrier."""
    shares = unknown_shares(normalize_phones(uniform_sample(5000), prefixes=real_prefixes))
    assert shares["province"] < 0.10
    assert shares["carrier"] < 0.01


def test_a_prefix_file_is_spelled_as_libphonenumber_spells(real_prefixes):
    from campaign.phones._prefix_file import read_prefix_file
    from campaign.phones._prefixes import _prefix_tables

    table = read_prefix_file(real_prefixes)
    _, _, _, carriers, provinces, cities = _prefix_tables()
    assert set(table.carriers) <= set(carriers.to_pylist())
    assert set(table.provinces) <= set(provinces.to_pylist())
    unmatched = {c.split("|")[1] for c in table.meta["unmatched_cities"]}
    assert set(table.cities) - set(cities.to_pylist()) <= unmatched
    for key in ("source", "source_version", "source_sha256", "license", "built"):
        assert table.meta[key]


def load_make_prefixes():
    spec = importlib.util.spec_from_file_location(
        "make_prefixes", ROOT / "data" / "make_prefixes.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def phone_dat(entries: list[tuple[int, str, int]], version: bytes = b"2401") -> bytes:
    """A phone.dat in its documented format from (7-digit prefix, record, card type)."""
    records = sorted({record for _, record, _ in entries})
    body, offsets = b"", {}
    for record in records:
        offsets[record] = 8 + len(body)
        body += record.encode("utf-8") + b"\0"
    index = b"".join(struct.pack("<iiB", p, offsets[r], t) for p, r, t in sorted(entries))
    return struct.pack("<4si", version, 8 + len(body)) + body + index


ENTRIES = [
    (1900000, "四川|凉山|615000|0834", 3),  # libphonenumber: 190 only as 中国
    (1900001, "重庆|万州|404000|023", 3),  # a municipality: province and city 重庆
    (1900002, "广西壮族自治区|南宁市|530000|0771", 3),  # names with their suffixes
    (1730000, "江苏|南京|210000|025", 3),  # libphonenumber: all of 173 as 北京, a 3-digit default
    (1380013, "上海|上海|200000|021", 1),  # libphonenumber's own 7-digit entry says 北京: it stays
    (1620000, "广东|深圳|518000|0755", 4),  # 162's carrier is libphonenumber's gap, filled
    (1349000, "北京|北京|100000|010", 6),  # libphonenumber names no carrier for 1349
]


@pytest.fixture
def prefix_file(tmp_path):
    source = tmp_path / "phone.dat"
    source.write_bytes(phone_dat(ENTRIES))
    out = tmp_path / "prefixes.npz"
    load_make_prefixes().build(source, out)
    return out


def test_a_prefix_file_records_where_its_data_came_from(prefix_file, tmp_path):
    from campaign.phones._prefix_file import read_prefix_file

    meta = read_prefix_file(prefix_file).meta
    assert meta["source"] == "phone.dat"
    assert meta["source_version"] == "2401"
    assert (
        meta["source_sha256"] == hashlib.sha256((tmp_path / "phone.dat").read_bytes()).hexdigest()
    )
    assert "GPL-3.0" in meta["license"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", meta["built"])
    assert meta["spelling"].startswith("libphonenumber ")
    assert meta["renamed"]["四川|凉山"] == "凉山彝族自治州"
    assert meta["renamed"]["重庆|万州"] == "重庆"
    assert prefix_file.stat().st_size < 100_000


def test_the_phone_package_archive_is_read_as_its_phone_dat(tmp_path):
    archive = tmp_path / "phone-9.9.9.tar.gz"
    data = phone_dat(ENTRIES)
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("phone-9.9.9/phone/phone.dat")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    meta = load_make_prefixes().build(archive, tmp_path / "p.npz")
    assert meta["source"] == "phone-9.9.9.tar.gz:phone-9.9.9/phone/phone.dat"
    assert meta["source_sha256"] == hashlib.sha256(data).hexdigest()


def test_a_prefix_file_fills_what_libphonenumber_does_not_know(prefix_file):
    numbers = ["19000001234", "19000011234", "19000021234", "17300001234", "13800131234",
               "16200001234", "13490001234"]  # fmt: skip
    alone = normalize_phones(numbers)
    assert alone["province"].isna().tolist()[:3] == [True, True, True]  # the file's reason to be
    assert alone["province"].iloc[3] == "北京"  # libphonenumber's 173 default
    assert pd.isna(alone["carrier"].iloc[6])

    result = normalize_phones(numbers, prefixes=prefix_file)
    assert list(zip(result["province"], result["city"], strict=True)) == [
        ("四川", "凉山彝族自治州"),  # libphonenumber's spelling of 凉山
        ("重庆", "重庆"),
        ("广西", "南宁"),
        ("江苏", "南京"),  # the file wins over a 3-digit default
        ("北京", "北京"),  # libphonenumber's 7-digit entry wins over the file
        ("广东", "深圳"),
        ("北京", "北京"),
    ]
    assert result["carrier"].tolist() == ["中国电信"] * 4 + ["中国移动", "中国电信", "中国移动"]
    assert result["valid"].tolist() == alone["valid"].tolist()  # validity stays libphonenumber's


def test_where_libphonenumber_knows_a_region_a_prefix_file_changes_nothing(prefix_file):
    from campaign.phones._prefixes import _region_digits

    numbers = uniform_sample(3000, seed=3)
    alone = normalize_phones(numbers)
    filled = normalize_phones(numbers, prefixes=prefix_file)
    prefixes = pd.Series(numbers).str[:7].astype(int).to_numpy() - 1_000_000
    known = alone["valid"].to_numpy() & (_region_digits()[prefixes] >= 5)
    for column in ("carrier", "province", "city"):
        pd.testing.assert_series_equal(alone.loc[known, column], filled.loc[known, column])


def test_the_prefix_file_comes_from_the_environment_unless_turned_off(prefix_file, monkeypatch):
    monkeypatch.setenv(phones.PREFIXES_ENV, str(prefix_file))
    assert normalize_phones(["19000001234"])["province"].iloc[0] == "四川"
    assert pd.isna(normalize_phones(["19000001234"], prefixes=False)["province"].iloc[0])
    assert cp.load_phones(["19000001234"])["city"].iloc[0] == "凉山彝族自治州"


def test_a_missing_or_broken_prefix_file_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(cp.InputError, match=r"no such prefix file.*make_prefixes"):
        normalize_phones(["13800138000"], prefixes=tmp_path / "none.npz")
    monkeypatch.setenv(phones.PREFIXES_ENV, str(tmp_path / "none.npz"))
    with pytest.raises(cp.InputError, match=r"CAMPAIGN_PREFIXES"):
        cp.load_phones(["13800138000"])
    broken = tmp_path / "broken.npz"
    broken.write_text("13800138000\n")
    with pytest.raises(cp.InputError, match="not a prefix file"):
        normalize_phones(["13800138000"], prefixes=broken)
