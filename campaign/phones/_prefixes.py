"""What libphonenumber knows about CN numbers, built once per process into the shapes the
vectorised code needs: the mobile and landline patterns, and 7-digit prefix tables for
carrier, province and city.

This is the only module of :mod:`campaign.phones` that imports ``phonenumbers``, and it does
so lazily, on the first number normalised.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np
import pyarrow as pa

from campaign.phones._reference import _CARRIER_GAPS, _MUNICIPALITIES, _REGIONS


@functools.cache
def _mobile_pattern() -> str:
    """libphonenumber's national-number pattern for CN mobiles, anchored."""
    import phonenumbers

    meta = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    return f"^(?:{meta.mobile.national_number_pattern})$"


@functools.cache
def _fixed_line_pattern() -> str:
    """libphonenumber's national-number pattern for CN landlines, anchored."""
    import phonenumbers

    meta = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    return f"^(?:{meta.fixed_line.national_number_pattern})$"


_PREFIX_DIGITS = 7  # carrier and region of a mainland mobile are set by its first 7 digits
_TABLE_BASE = 10 ** (_PREFIX_DIGITS - 1)  # tables cover prefixes 1000000..1999999


def _split_region(description: str) -> tuple[str, str | None]:
    """Province and city of a geocoder description.

    '广东省深圳市' -> ('广东', '深圳'); '北京市' -> ('北京', '北京');
    '广西南宁市' -> ('广西', '南宁').
    """
    text = description.strip()
    for name in _MUNICIPALITIES:
        if text.startswith(name):
            return name, name
    for name in _REGIONS:
        if text.startswith(name):
            rest = re.sub(r"^(?:壮族|回族|维吾尔|)自治区|^特别行政区", "", text[len(name) :])
            return name, _city(rest)
    if "省" in text:
        province, rest = text.split("省", 1)
        return province, _city(rest)
    return text, None


def _city(rest: str) -> str | None:
    rest = rest.strip()
    if not rest:
        return None
    return rest[:-1] if rest.endswith("市") and len(rest) > 2 else rest


def _prefix_cells(prefix: str) -> np.ndarray:
    """The table cells (``7-digit prefix - 1000000``) a shorter prefix covers."""
    width = 10 ** (_PREFIX_DIGITS - len(prefix))
    return int(prefix) * width - _TABLE_BASE + np.arange(width)


@functools.cache
def _prefix_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array, pa.Array, pa.Array]:
    """Arrays indexed by ``first 7 digits - 1000000``: carrier, province and city codes.

    Built once per process from libphonenumber's carrier and geocoder prefix data, longest
    prefix winning, exactly as ``phonenumbers.carrier`` and ``phonenumbers.geocoder`` resolve
    a single number; the carrier of the ranges it leaves out (``_CARRIER_GAPS``: 162, 165)
    is added where it names none. Codes index the returned Arrow name arrays; -1 means
    unknown.
    """
    from phonenumbers.carrierdata import CARRIER_DATA
    from phonenumbers.geodata import GEOCODE_DATA

    def fill(data: dict[str, dict[str, str]], name_of) -> tuple[np.ndarray, list]:
        table = np.full(_TABLE_BASE, -1, dtype=np.int32)  # prefixes 1000000..1999999
        names: dict[Any, int] = {}
        by_length: dict[int, tuple[list[int], list[int]]] = {}
        for key, value in data.items():
            national = key[2:]
            if not key.startswith("861") or not 1 < len(national) <= _PREFIX_DIGITS:
                continue
            name = name_of(value)
            if name is None:
                continue
            starts, codes = by_length.setdefault(len(national), ([], []))
            starts.append(int(national))
            codes.append(names.setdefault(name, len(names)))
        for length in sorted(by_length):  # shorter prefixes first: longer ones overwrite
            starts, codes = (np.asarray(x, dtype=np.int64) for x in by_length[length])
            width = 10 ** (_PREFIX_DIGITS - length)
            cells = (starts * width - _TABLE_BASE)[:, None] + np.arange(width)
            table[cells] = np.asarray(codes, dtype=np.int32)[:, None]
        return table, list(names)

    split = functools.cache(_split_region)
    carrier_codes, carriers = fill(CARRIER_DATA, lambda d: d.get("zh") or d.get("en"))
    for prefix, name in _CARRIER_GAPS.items():
        cells = _prefix_cells(prefix)
        if name not in carriers:
            carriers.append(name)
        missing = carrier_codes[cells] < 0
        carrier_codes[cells[missing]] = carriers.index(name)
    region_codes, regions = fill(GEOCODE_DATA, lambda d: d.get("zh") and split(d["zh"]))
    provinces = sorted({p for p, _ in regions})
    cities = sorted({c for _, c in regions if c})
    province_of = np.array([provinces.index(p) for p, _ in regions] + [-1], dtype=np.int32)
    city_of = np.array([cities.index(c) if c else -1 for _, c in regions] + [-1], dtype=np.int32)
    # region_codes == -1 indexes the trailing -1 of province_of / city_of
    province_codes = province_of[region_codes]
    city_codes = city_of[region_codes]
    return (
        carrier_codes,
        province_codes,
        city_codes,
        pa.array(carriers, pa.string()),
        pa.array(provinces, pa.string()),
        pa.array(cities, pa.string()),
    )


@functools.cache
def _region_digits() -> np.ndarray:
    """Per 7-digit prefix, the length of the geocoder entry that names its region (0: none).

    libphonenumber resolves a number by its longest listed prefix: 7 digits for most, but a
    3- to 6-digit entry covers what has none (``86173``, 北京, covers all of 173).
    """
    from phonenumbers.geodata import GEOCODE_DATA

    digits = np.zeros(_TABLE_BASE, dtype=np.int8)
    by_length: dict[int, list[int]] = {}
    for key, value in GEOCODE_DATA.items():
        national = key[2:]
        if key.startswith("861") and 1 < len(national) <= _PREFIX_DIGITS and value.get("zh"):
            by_length.setdefault(len(national), []).append(int(national))
    for length in sorted(by_length):  # shorter first: longer ones overwrite
        width = 10 ** (_PREFIX_DIGITS - length)
        starts = np.asarray(by_length[length], dtype=np.int64) * width - _TABLE_BASE
        digits[starts[:, None] + np.arange(width)] = length
    return digits
