"""Build a 号段 prefix file for load_phones from a phone.dat you obtained yourself.

    python data/make_prefixes.py SOURCE [-o prefixes.npz] [--license TEXT]

SOURCE is a ``phone.dat`` (the binary 号段库 format of github.com/xluohome/phonedata, also
shipped by the ``phone`` package on PyPI), or that package's sdist or wheel, which holds one:

    pip download --no-deps -d . phone            # phone-0.4.5.tar.gz, data version 2312
    python data/make_prefixes.py phone-0.4.5.tar.gz -o ~/campaign/prefixes.npz

then ``cp.load_phones(path, prefixes="~/campaign/prefixes.npz")``, or
``export CAMPAIGN_PREFIXES=~/campaign/prefixes.npz`` for every load_phones, plan_batches and
``campaign load``.

Why you build it and campaign does not ship it: the ``phone`` package's README says MIT (its
setup.py says BSD; it has no LICENSE file), but its phone.dat comes from xluohome/phonedata,
which is GPL-3.0: ls0f/phone's phone.dat updates of 2017-04, 2018-10, 2020-04 and 2023-02 are
that project's files byte for byte (the same git blob ids), and the 2312 file of phone 0.4.5
builds on the last. Its author says the data was collected from public web pages. A GPL-3.0
table inside campaign's MIT wheel would bind everyone who redistributes it; a file you build
for your own use does not, but do not hand the built file on as if it were MIT.

What the build does (the file's format: :mod:`campaign.phones._prefix_file`):

- card type to carrier: 1 and 6 (移动, 移动虚拟运营商) 中国移动, 2 and 5 中国联通, 3 and 4 中国电信,
  7 and 8 中国广电; the range's original carrier, like libphonenumber's;
- names to libphonenumber's spelling, so statistics do not split one place in two: provinces
  as :func:`campaign.phones._split_region` gives them, municipalities as province and city
  (重庆|万州 becomes 重庆/重庆), a city to the one libphonenumber city of its province whose
  name starts with it (凉山 -> 凉山彝族自治州), else to the libphonenumber city that at least
  80% of the prefixes both know put it in (襄阳 -> 襄樊, 巴州 -> 巴音郭楞蒙古自治州); anything
  else keeps the table's name, and every renaming is logged and kept in the file's meta;
- provenance in the file's meta: source file, its sha256 and data version, licence, date.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
import logging
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from campaign.phones._prefix_file import PrefixFile, write_prefix_file
from campaign.phones._prefixes import _TABLE_BASE, _city, _prefix_tables, _split_region
from campaign.phones._reference import _MUNICIPALITIES

log = logging.getLogger("make_prefixes")

CARD_TYPES = {
    1: "中国移动", 6: "中国移动", 2: "中国联通", 5: "中国联通",
    3: "中国电信", 4: "中国电信", 7: "中国广电", 8: "中国广电",
}  # fmt: skip
LICENSE = (
    "GPL-3.0 (xluohome/phonedata, whose phone.dat this format and data are; the phone package "
    "on PyPI, ls0f/phone, ships a copy and says MIT). Collected by its author from public web "
    "pages. For your own use: not to be redistributed with campaign (MIT)."
)
_MIN_SHARED = 20  # prefixes both sources know, before one city is renamed to the other's
_MIN_SHARE = 0.8


def read_source(path: Path) -> tuple[bytes, str]:
    """The bytes of phone.dat, from the file itself or from the package archive holding it."""
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith("/phone.dat")), None)
            if member is None:
                raise SystemExit(f"{path}: no phone.dat in this archive")
            return tar.extractfile(member).read(), f"{path.name}:{member.name}"
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(path) as z:
            found = next((n for n in z.namelist() if n.endswith("phone.dat")), None)
            if found is None:
                raise SystemExit(f"{path}: no phone.dat in this archive")
            return z.read(found), f"{path.name}:{found}"
    return path.read_bytes(), path.name


def parse_phone_dat(data: bytes) -> tuple[str, np.ndarray, np.ndarray, list[str]]:
    """Data version, prefixes, card types and ``province|city|zip|area code`` per prefix.

    The format: a header ``<4si`` (version, offset of the index); NUL-terminated records
    from byte 8 to the index; then 9-byte index entries ``<iiB`` (7-digit prefix, offset of
    its record, card type), sorted by prefix.
    """
    version, first = struct.unpack_from("<4si", data)
    records: dict[int, str] = {}
    offset = 8
    while offset < first:
        end = data.index(b"\0", offset)
        records[offset] = data[offset:end].decode("utf-8")
        offset = end + 1
    entry = np.dtype([("prefix", "<i4"), ("record", "<i4"), ("card", "u1")])
    index = np.frombuffer(data, dtype=entry, offset=first)
    places = [records[int(o)] for o in index["record"]]
    return version.decode("ascii"), index["prefix"].copy(), index["card"].copy(), places


def spell_like_libphonenumber(
    prefix: np.ndarray, places: list[str]
) -> tuple[list[str], list[str | None], dict[str, str], list[str]]:
    """Province and city per prefix in libphonenumber's spelling; the renames; the unmatched."""
    _, lib_province, lib_city, _, lib_provinces, lib_cities = _prefix_tables()
    lib_provinces, lib_cities = lib_provinces.to_pylist(), lib_cities.to_pylist()
    raw = [tuple(p.split("|")[:2]) for p in places]
    provinces = [_split_region(p)[0] if p else None for p, _ in raw]

    lib_of = lib_province[prefix - _TABLE_BASE]
    lib_city_of = lib_city[prefix - _TABLE_BASE]
    known: dict[str, set[str]] = collections.defaultdict(set)
    for p, c in zip(lib_province, lib_city, strict=True):
        if p >= 0 and c >= 0:
            known[lib_provinces[p]].add(lib_cities[c])
    shared: dict[tuple[str, str], collections.Counter] = collections.defaultdict(
        collections.Counter
    )
    for province, (_, city), p, c in zip(provinces, raw, lib_of, lib_city_of, strict=True):
        if province and p >= 0 and c >= 0 and lib_provinces[p] == province:
            shared[province, city][lib_cities[c]] += 1

    def spelled(province: str, city: str) -> str | None:
        if province in _MUNICIPALITIES:
            return province
        city = _city(city) if city else None
        if not city or city in known[province]:
            return city
        starting = [k for k in known[province] if k.startswith(city)]
        if len(starting) == 1:
            return starting[0]
        counts = shared[province, city]
        if counts:
            (best, n), total = counts.most_common(1)[0], sum(counts.values())
            if n >= _MIN_SHARED and n >= _MIN_SHARE * total:
                return best
        return city

    names = {
        (p, c): spelled(p, c) for p, c in set(zip(provinces, (c for _, c in raw), strict=True)) if p
    }
    cities = [names[p, c] if p else None for p, (_, c) in zip(provinces, raw, strict=True)]
    renamed = {f"{p}|{c}": n for (p, c), n in sorted(names.items()) if n != c and n is not None}
    unmatched = sorted(
        f"{p}|{n}" for (p, _), n in names.items() if n and n not in known[p] and p in known
    )
    strange = sorted({p for p in provinces if p and p not in lib_provinces})
    if strange:
        log.warning("provinces libphonenumber does not name: %s", ", ".join(strange))
    return provinces, cities, renamed, unmatched


def build(source: Path, out: Path, *, license_text: str = LICENSE) -> dict:
    """Convert ``source`` into the prefix file ``out``; return its meta."""
    import phonenumbers

    data, member = read_source(source)
    version, prefix, card, places = parse_phone_dat(data)
    order = np.argsort(prefix, kind="stable")
    keep = order[np.r_[True, np.diff(prefix[order]) > 0]]  # one entry per prefix
    prefix, card, places = prefix[keep], card[keep], [places[i] for i in keep]
    in_range = (prefix >= _TABLE_BASE) & (prefix < 2 * _TABLE_BASE)
    prefix, card = prefix[in_range], card[in_range]
    places = [p for p, ok in zip(places, in_range, strict=True) if ok]

    carriers = sorted(set(CARD_TYPES.values()))
    carrier = np.array([carriers.index(CARD_TYPES[t]) if t in CARD_TYPES else -1 for t in card])
    unknown_cards = collections.Counter(int(t) for t in card if t not in CARD_TYPES)
    if unknown_cards:
        log.warning("card types with no carrier, left unknown: %s", dict(unknown_cards))
    provinces, cities, renamed, unmatched = spell_like_libphonenumber(prefix, places)
    province_names = sorted({p for p in provinces if p})
    city_names = sorted({c for c in cities if c})
    province_code = {p: i for i, p in enumerate(province_names)}
    city_code = {c: i for i, c in enumerate(city_names)}
    meta = {
        "source": member,
        "source_format": "phone.dat (xluohome/phonedata, ls0f/phone)",
        "source_version": version,
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "source_records": len(keep),
        "license": license_text,
        "built": dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat(),
        "built_by": "data/make_prefixes.py",
        "spelling": f"libphonenumber {phonenumbers.__version__}",
        "renamed": renamed,
        "unmatched_cities": unmatched,
    }
    table = PrefixFile(
        prefix=prefix,
        carrier=carrier,
        province=np.array([province_code[p] if p else -1 for p in provinces]),
        city=np.array([city_code[c] if c else -1 for c in cities]),
        carriers=carriers,
        provinces=province_names,
        cities=city_names,
        meta=meta,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_prefix_file(out, table)
    return meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="phone.dat, or the phone package's .tar.gz/.whl")
    parser.add_argument("-o", "--out", type=Path, default=Path("prefixes.npz"))
    parser.add_argument("--license", default=LICENSE, help="the source's licence, as recorded")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    meta = build(args.source, args.out.expanduser(), license_text=args.license)
    log.info(
        "%s: data version %s, %d prefixes, sha256 %s",
        meta["source"], meta["source_version"], meta["source_records"], meta["source_sha256"][:12],
    )  # fmt: skip
    log.info("renamed %d cities to libphonenumber's spelling:", len(meta["renamed"]))
    for old, new in meta["renamed"].items():
        log.info("  %s -> %s", old, new)
    if meta["unmatched_cities"]:
        log.info(
            "kept %d city names libphonenumber does not have: %s",
            len(meta["unmatched_cities"]),
            ", ".join(meta["unmatched_cities"]),
        )
    size = args.out.expanduser().stat().st_size
    log.info(
        "wrote %s (%.0f KB); use it with load_phones(..., prefixes=%r)",
        args.out,
        size / 1e3,
        str(args.out),
    )


if __name__ == "__main__":
    main()
