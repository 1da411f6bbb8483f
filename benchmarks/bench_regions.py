"""How often carrier and province stay unknown, on numbers drawn uniformly from the ranges.

    python benchmarks/bench_regions.py [--prefixes prefixes.npz] [--n 20000] [--seed 14]

Draws ``--n`` numbers uniformly from the allocated mainland mobile ranges (130-139, 145, 147,
150-159, 162, 165-167, 170-178, 180-189, 190-199: a range, then its 8 other digits), keeps
the ones libphonenumber calls valid mobiles, and prints for each source of carrier and
region the share of those numbers whose carrier, province and city stay unknown:

- libphonenumber alone (its prefix data as the package reads it);
- the shipped default: ``normalize_phones(numbers, prefixes=False)``;
- with a prefix file (``--prefixes``, default ``$CAMPAIGN_PREFIXES``; built by
  ``data/make_prefixes.py``): the file alone, libphonenumber first then the file, the file
  first then libphonenumber, and what ``normalize_phones(numbers, prefixes=...)`` does;

then, where libphonenumber and the file both know a number, how often they agree (carrier,
province, province and city), split by whether libphonenumber has a 7-digit entry for it or
falls back on a shorter prefix. Targets (issue 14): under 10% unknown province, under 1%
unknown carrier.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import phonenumbers
from phonenumbers import carrier as pn_carrier
from phonenumbers import geocoder

from campaign.phones import normalize_phones
from campaign.phones._prefix_file import PREFIXES_ENV, read_prefix_file
from campaign.phones._prefixes import _TABLE_BASE, _region_digits, _split_region

RANGES = [
    *range(130, 140), 145, 147, *range(150, 160), 162, *range(165, 168), *range(170, 179),
    *range(180, 190), *range(190, 200),
]  # fmt: skip
TARGETS = {"province": 0.10, "carrier": 0.01}


def uniform_sample(n: int, seed: int) -> list[str]:
    """``n`` numbers drawn uniformly from :data:`RANGES` (each range holds 10**8 numbers)."""
    rng = np.random.default_rng(seed)
    ranges = rng.choice(np.asarray(RANGES), n)
    rest = rng.integers(0, 10**8, n)
    return [f"{r}{d:08d}" for r, d in zip(ranges.tolist(), rest.tolist(), strict=True)]


def names(codes: np.ndarray, vocabulary: list[str]) -> np.ndarray:
    """Codes into an object array of names, None where -1."""
    lookup = np.asarray([*vocabulary, None], dtype=object)
    return lookup[np.where(codes >= 0, codes, len(vocabulary))]


def libphonenumber_alone(phones: list[int]) -> list[np.ndarray]:
    """Carrier, province and city as ``phonenumbers`` gives them, one number at a time."""
    out = []
    for national in phones:
        number = phonenumbers.PhoneNumber(country_code=86, national_number=national)
        place = geocoder.description_for_valid_number(number, "zh")
        province, city = _split_region(place) if place and place != "中国" else (None, None)
        out.append((pn_carrier.name_for_valid_number(number, "zh") or None, province, city))
    return [np.asarray(col, dtype=object) for col in zip(*out, strict=True)]


def row(label: str, carrier, province, city) -> str:
    shares = [np.mean([v is None for v in col]) for col in (carrier, province, city)]
    marks = [
        " " if shares[0] < TARGETS["carrier"] else "!",
        " " if shares[1] < TARGETS["province"] else "!",
    ]
    return f"{label:46}{shares[0]:>8.1%}{marks[0]}{shares[1]:>9.1%}{marks[1]}{shares[2]:>8.1%}"


def agreement(a, b, mask) -> str:
    both = mask & np.array([x is not None and y is not None for x, y in zip(a, b, strict=True)])
    if not both.any():
        return "-"
    same = np.array([x == y for x, y in zip(a, b, strict=True)])
    return f"{same[both].mean():.1%} of {int(both.sum()):,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", default=os.environ.get(PREFIXES_ENV))
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()

    numbers = uniform_sample(args.n, args.seed)
    t = time.perf_counter()
    default = normalize_phones(numbers, prefixes=False)
    seconds = time.perf_counter() - t
    valid = default["valid"].to_numpy()
    phones = np.asarray(numbers, dtype=np.int64)[valid]
    idx = phones // 10**4 - _TABLE_BASE
    print(
        f"{args.n:,} numbers drawn uniformly from {len(RANGES)} ranges (seed {args.seed}): "
        f"{valid.sum():,} valid ({valid.mean():.1%}); shares of the valid ones"
    )
    print(f"{'source':46}{'carrier':>9}{'province':>10}{'city':>9}   unknown")

    lib = libphonenumber_alone(phones.tolist())
    print(row("libphonenumber alone (number by number)", *lib))
    shipped = [default.loc[valid, c].to_numpy(dtype=object, na_value=None) for c in
               ("carrier", "province", "city")]  # fmt: skip
    print(row("normalize_phones(prefixes=False) [default]", *shipped))
    print(f"  ({seconds * 1e3:.0f} ms for normalize_phones on {args.n:,} numbers)")

    if not args.prefixes:
        print(
            f"\nno prefix file: pass --prefixes or set ${PREFIXES_ENV} "
            "(build one with data/make_prefixes.py)"
        )
        return
    table = read_prefix_file(args.prefixes)
    at = np.searchsorted(table.prefix, idx + _TABLE_BASE)
    at = np.minimum(at, len(table.prefix) - 1)
    hit = table.prefix[at] == idx + _TABLE_BASE
    file_ = [
        names(np.where(hit, table.carrier[at], -1), table.carriers),
        names(np.where(hit, table.province[at], -1), table.provinces),
        names(np.where(hit, table.city[at], -1), table.cities),
    ]
    meta = table.meta
    print(
        row(f"prefix file alone ({meta['source_version']})", *file_)
        + f"   {Path(args.prefixes).name}: {meta['source']}"
    )

    def first(a, b):
        """Carrier from ``a`` else ``b``; province and city as one pair, likewise."""
        carrier = [x if x is not None else y for x, y in zip(a[0], b[0], strict=True)]
        use_a = np.array([p is not None for p in a[1]])
        return carrier, *(np.where(use_a, a[i], b[i]) for i in (1, 2))

    print(row("libphonenumber, then the file", *first(lib, file_)))
    print(row("the file, then libphonenumber", *first(file_, lib)))
    combined = normalize_phones(numbers, prefixes=args.prefixes)
    used = [combined.loc[valid, c].to_numpy(dtype=object, na_value=None) for c in
            ("carrier", "province", "city")]  # fmt: skip
    print(row("normalize_phones(prefixes=file) [load_phones]", *used))

    digits = _region_digits()[idx]
    pair = [
        [None if p is None else f"{p}/{c}" for p, c in zip(src[1], src[2], strict=True)]
        for src in (lib, file_)
    ]
    groups = {
        "all": np.ones(len(idx), dtype=bool),
        "7 digits": digits == 7,
        "6 digits": digits == 6,
        "5 digits": digits == 5,
        "3-4 digits": (digits > 0) & (digits < 5),
    }
    print("\nwhere both know it, libphonenumber and the file agree on (by the length of")
    print("the libphonenumber geocoder entry that names the number's region)")
    print(f"{'':18}" + "".join(f"{g:>17}" for g in groups))
    for label, a, b in [
        ("carrier", lib[0], file_[0]),
        ("province", lib[1], file_[1]),
        ("province and city", pair[0], pair[1]),
    ]:
        print(f"{label:18}" + "".join(f"{agreement(a, b, m):>17}" for m in groups.values()))


if __name__ == "__main__":
    main()
