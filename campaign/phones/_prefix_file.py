"""号段 prefix files: carrier, province and city per 7-digit prefix, from outside libphonenumber.

libphonenumber's geocoding data knows many 16x, 17x and 19x ranges only as 中国, so a list
drawn from today's ranges leaves about a third of its provinces unknown. A prefix file (a
号段库 converted by ``data/make_prefixes.py``) fills them in. None ships with the package:
the public tables' licences do not allow it (see ``data/make_prefixes.py``), so the user
builds one from a table they obtained and points :func:`~campaign.load_phones` at it with
``prefixes=`` or the ``CAMPAIGN_PREFIXES`` environment variable.

The file is a NumPy ``.npz`` (read with ``allow_pickle=False``: no code, only arrays):

==========  ======  ================================================================
array       dtype   meaning
==========  ======  ================================================================
prefix      int32   sorted, unique 7-digit prefixes (1000000..1999999)
carrier     int8    index into ``carriers`` per prefix, -1 when unknown
province    int16   index into ``provinces`` per prefix, -1 when unknown
city        int16   index into ``cities`` per prefix, -1 when unknown
carriers    str     中国移动 / 中国联通 / 中国电信 / 中国广电, libphonenumber's spelling
provinces   str     libphonenumber's spelling (广东, 北京, 内蒙古)
cities      str     libphonenumber's spelling (深圳, 北京, 凉山彝族自治州)
meta        str     JSON: ``format``, ``source``, ``source_version``, ``source_sha256``,
                    ``license``, ``built`` (ISO date) and what the build renamed
==========  ======  ================================================================

Which source wins where both know a prefix was decided by ``benchmarks/bench_regions.py``
(see :func:`_combined_tables`).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from campaign.errors import InputError
from campaign.phones._prefixes import _TABLE_BASE, _prefix_tables, _region_digits

#: The environment variable naming the default prefix file (like ``CAMPAIGN_DB``).
PREFIXES_ENV = "CAMPAIGN_PREFIXES"
_FORMAT = 1
# libphonenumber's region of a prefix counts as known when its geocoder entry has at least
# this many digits; its 3- and 4-digit entries (all of 173 as 北京) are defaults that a
# prefix file agrees with for 3% and 81% of their prefixes (benchmarks/bench_regions.py).
_LIB_REGION_DIGITS = 5
_ARRAYS = ("prefix", "carrier", "province", "city", "carriers", "provinces", "cities", "meta")

PrefixesLike = str | os.PathLike | None


@dataclass(frozen=True)
class PrefixFile:
    """The arrays of one prefix file (see the module docstring) and its provenance."""

    prefix: np.ndarray
    carrier: np.ndarray
    province: np.ndarray
    city: np.ndarray
    carriers: list[str]
    provinces: list[str]
    cities: list[str]
    meta: dict[str, Any]


def write_prefix_file(path: str | os.PathLike, table: PrefixFile) -> None:
    """Write ``table`` as a compressed ``.npz`` prefix file, checked as it will be read."""
    meta = {"format": _FORMAT, **table.meta}
    arrays = {
        "prefix": np.asarray(table.prefix, dtype=np.int32),
        "carrier": np.asarray(table.carrier, dtype=np.int8),
        "province": np.asarray(table.province, dtype=np.int16),
        "city": np.asarray(table.city, dtype=np.int16),
        "carriers": np.asarray(table.carriers, dtype=str),
        "provinces": np.asarray(table.provinces, dtype=str),
        "cities": np.asarray(table.cities, dtype=str),
        "meta": np.asarray(json.dumps(meta, ensure_ascii=False, sort_keys=True)),
    }
    _check(arrays, name=str(path))
    with open(path, "wb") as f:  # a file object: np.savez would add ".npz" to another suffix
        np.savez_compressed(f, **arrays)


def read_prefix_file(path: str | os.PathLike) -> PrefixFile:
    """A prefix file's arrays and provenance; InputError when it is not one."""
    name = str(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError as exc:
        raise InputError(
            f"{name}: no such prefix file (build one with data/make_prefixes.py)"
        ) from exc
    except (OSError, ValueError) as exc:  # not a zip, or an object array
        raise InputError(
            f"{name}: not a prefix file built by data/make_prefixes.py ({exc})"
        ) from exc
    _check(arrays, name=name)
    return PrefixFile(
        prefix=arrays["prefix"],
        carrier=arrays["carrier"],
        province=arrays["province"],
        city=arrays["city"],
        carriers=arrays["carriers"].tolist(),
        provinces=arrays["provinces"].tolist(),
        cities=arrays["cities"].tolist(),
        meta=json.loads(str(arrays["meta"])),
    )


def _check(arrays: dict[str, np.ndarray], *, name: str) -> None:
    missing = [k for k in _ARRAYS if k not in arrays]
    if missing:
        raise InputError(f"{name}: not a prefix file (no {', '.join(missing)})")
    try:
        meta = json.loads(str(arrays["meta"]))
    except ValueError as exc:
        raise InputError(f"{name}: a prefix file's meta is not JSON") from exc
    if meta.get("format") != _FORMAT:
        raise InputError(
            f"{name}: prefix file format {meta.get('format')!r}, this version reads {_FORMAT}; "
            "rebuild it with data/make_prefixes.py"
        )
    prefix = arrays["prefix"]
    n = len(prefix)
    problems = []
    if any(len(arrays[k]) != n for k in ("carrier", "province", "city")):
        problems.append("columns of different lengths")
    if n and (prefix.min() < _TABLE_BASE or prefix.max() >= 2 * _TABLE_BASE):
        problems.append(f"prefixes outside {_TABLE_BASE}..{2 * _TABLE_BASE - 1}")
    if n > 1 and not (np.diff(prefix.astype(np.int64)) > 0).all():
        problems.append("prefixes not sorted and unique")
    for codes, names in (("carrier", "carriers"), ("province", "provinces"), ("city", "cities")):
        c = arrays[codes]
        if n and (c.min() < -1 or c.max() >= len(arrays[names])):
            problems.append(f"{codes} codes outside its {names}")
    if problems:
        raise InputError(f"{name}: broken prefix file: {'; '.join(problems)}")


def _resolve(prefixes: PrefixesLike | bool) -> Path | None:
    """The prefix file to use: ``prefixes``, else ``$CAMPAIGN_PREFIXES``; False for none."""
    if prefixes is False:
        return None
    if prefixes is None:
        prefixes = os.environ.get(PREFIXES_ENV) or None
        if prefixes is None:
            return None
    if not isinstance(prefixes, (str, os.PathLike)):
        raise InputError(
            f"prefixes must be the path of a prefix file, or False for none, not {prefixes!r}"
        )
    return Path(prefixes).expanduser()


def _tables(prefixes: PrefixesLike | bool) -> tuple:
    """libphonenumber's tables (see :func:`_prefix_tables`), with a prefix file's when given."""
    path = _resolve(prefixes)
    if path is None:
        return _prefix_tables()
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        source = "prefixes=" if prefixes is not None else f"${PREFIXES_ENV}"
        raise InputError(
            f"{path}: no such prefix file ({source}); build one with data/make_prefixes.py"
        ) from exc
    return _combined_tables(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _combined_tables(path: str, mtime_ns: int, size: int) -> tuple:
    """libphonenumber's tables filled from a prefix file (cached per file version).

    Decided by measuring (``benchmarks/bench_regions.py``: 20,000 numbers drawn uniformly
    from the allocated ranges, phone.dat 2312 against libphonenumber 9.0.43):

    - carrier: libphonenumber first (with its two gaps filled, see ``_CARRIER_GAPS``), the
      file where it has none. Where both know, they agree on 99.9%.
    - province and city, as one pair from one source: libphonenumber where its geocoder
      entry for the number has at least 5 digits, else the file, else libphonenumber's
      shorter entry. Where both know, they agree on the province for 100% of the numbers
      under a 7-digit entry, 99.8% under a 6-digit one and 96.1% under a 5-digit one, but
      for 29% under a 3- or 4-digit one (``86173``: all of 173 as 北京): those are a
      default, not knowledge of the range.
    """
    del mtime_ns, size  # in the cache key only: a rebuilt file is read again
    table = read_prefix_file(path)
    lib_carrier, lib_province, lib_city, carriers, provinces, cities = _prefix_tables()
    lib_knows = (lib_province >= 0) & (_region_digits() >= _LIB_REGION_DIGITS)
    idx = table.prefix.astype(np.int64) - _TABLE_BASE

    def dense(codes: np.ndarray, names: list[str], known: list[str]) -> tuple[np.ndarray, list]:
        """The file's codes over all prefixes, recoded into ``known`` (extended as needed)."""
        position = {n: i for i, n in enumerate(known)}
        recode = np.array([position.setdefault(n, len(position)) for n in names] + [-1], np.int32)
        names_out = list(position)  # ``known`` first, in order, then the file's new names
        out = np.full(_TABLE_BASE, -1, dtype=np.int32)
        out[idx] = recode[codes]  # code -1 picks the trailing -1
        return out, names_out

    file_carrier, carrier_names = dense(table.carrier, table.carriers, carriers.to_pylist())
    file_province, province_names = dense(table.province, table.provinces, provinces.to_pylist())
    file_city, city_names = dense(table.city, table.cities, cities.to_pylist())

    carrier = np.where(lib_carrier >= 0, lib_carrier, file_carrier)
    use_file = (file_province >= 0) & ~lib_knows
    province = np.where(use_file, file_province, lib_province)
    city = np.where(use_file, file_city, lib_city)
    return (
        carrier,
        province,
        city,
        pa.array(carrier_names, pa.string()),
        pa.array(province_names, pa.string()),
        pa.array(city_names, pa.string()),
    )
