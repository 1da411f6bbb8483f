"""Experiments before sending: split a list into variants, and size the test.

- :func:`assign_variants`: a reproducible split of a contact list into named variants (a
  holdout is just a variant that is never sent), stratified by any column.
- :func:`sample_size` and :func:`detectable_effect`: how many numbers a variant needs to show
  a change of a rate, and the smallest change a split of given sizes can show. Both are the
  normal approximation on Cohen's arcsine effect size h = 2·asin√p₁ − 2·asin√p₀, the figures
  of statsmodels' ``NormalIndPower`` with ``proportion_effectsize`` (the tests use it as the
  oracle); only the standard library is needed here.

How a split is made: every number gets a 64-bit key mixed from the seed and the number (the
splitmix64 finaliser), so the split depends on the numbers and the seed only, not on the order
of the rows. Within each stratum the eligible numbers are ranked by their key and cut in the
weights' proportions (largest remainders, so the counts are exact to one number), which keeps
every stratum split alike and the whole split close to the weights.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

from campaign.errors import InputError

__all__ = ["assign_variants", "detectable_effect", "sample_size"]

_ALTERNATIVES = ("two-sided", "larger", "smaller")
_NORMAL = NormalDist()
#: What the stratum of a row with no value in the ``stratify`` column is called.
UNKNOWN_STRATUM = "未知"


# --------------------------------------------------------------------------- assignment


def assign_variants(
    contacts: pd.DataFrame,
    weights: Mapping[str, float] | Sequence[str],
    *,
    seed: int | None = None,
    stratify: str | None = None,
    column: str = "variant",
) -> pd.DataFrame:
    """Split a contact list into variants: a copy of ``contacts`` with a ``column`` naming
    each number's variant.

    ``weights`` maps variant names to shares adding up to 1 (``{"A": 0.45, "B": 0.45,
    "holdout": 0.1}``), or lists names to split equally. Only valid numbers that are not a
    repeat get a variant; the others keep their ``reason`` (or ``duplicate``) from
    :func:`~campaign.load_phones` and get none. The same ``seed`` gives the same split of the
    same numbers, in any row order; without one a seed is drawn and kept in
    ``frame.attrs["seed"]`` so the split can be made again. ``stratify="carrier"`` (any
    column) splits every group of that column in the same proportions; rows with no value form
    one group, 未知.

    >>> contacts = pd.DataFrame({"phone": [f"1380013{i:04d}" for i in range(1000)]})
    >>> split = assign_variants(contacts, {"A": 0.45, "B": 0.45, "holdout": 0.1}, seed=1)
    >>> split["variant"].value_counts().sort_index().to_dict()
    {'A': 450, 'B': 450, 'holdout': 100}
    """
    shares = _shares(weights)
    if not isinstance(contacts, pd.DataFrame):
        raise InputError("assign_variants takes a DataFrame of contacts (see cp.load_phones)")
    if "phone" not in contacts.columns:
        raise InputError(
            "the contacts have no 'phone' column: load them with cp.load_phones, or name "
            "the column of numbers 'phone'"
        )
    if column in contacts.columns:
        raise InputError(
            f"the contacts already have a {column!r} column: pass column= to name the new one"
        )
    if stratify is not None and stratify not in contacts.columns:
        raise InputError(
            f"stratify={stratify!r}: no such column; the contacts have: "
            + ", ".join(map(str, contacts.columns))
        )
    if seed is None:
        seed = secrets.randbits(63)
    elif not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise InputError(f"seed must be an integer, not {seed!r}")

    frame = contacts.copy()
    phones = frame["phone"]
    eligible = phones.notna() & (phones.astype("string").str.len() > 0)
    if "valid" in frame.columns:
        eligible &= frame["valid"].fillna(False).astype(bool)
    if "duplicate" in frame.columns:
        eligible &= ~frame["duplicate"].fillna(False).astype(bool)
    else:
        eligible &= ~phones.where(eligible).duplicated() | ~eligible

    keys = _keys(phones[eligible].astype(str), int(seed))
    if stratify is None:
        strata = pd.Series(0, index=keys.index)
    else:
        strata = (
            frame.loc[eligible, stratify]
            .astype("object")
            .where(frame.loc[eligible, stratify].notna(), UNKNOWN_STRATUM)
        )
    assigned = pd.Series(pd.NA, index=frame.index, dtype="string")
    names = list(shares)
    for _, members in keys.groupby(strata, sort=False):
        ranked = members.sort_values(kind="stable").index
        counts = _cut(len(ranked), list(shares.values()))
        start = 0
        for name, count in zip(names, counts, strict=True):
            assigned.loc[ranked[start : start + count]] = name
            start += count
    frame[column] = assigned
    frame.attrs = {**contacts.attrs, "seed": int(seed), "weights": dict(shares)}
    return frame


def _shares(weights: Mapping[str, float] | Sequence[str]) -> dict[str, float]:
    if isinstance(weights, str):
        raise InputError(f"weights={weights!r}: give a dict of shares or a list of names")
    if not isinstance(weights, Mapping):
        names = list(weights)
        weights = {name: 1 / len(names) for name in names} if names else {}
    if len(weights) < 2:
        raise InputError("weights: give at least two variants, e.g. {'A': 0.5, 'B': 0.5}")
    shares = {}
    for name, share in weights.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"weights: variant names are non-empty strings, not {name!r}")
        if not isinstance(share, int | float) or isinstance(share, bool) or not share > 0:
            raise InputError(f"weights[{name!r}] = {share!r}: a share is a number above 0")
        shares[name] = float(share)
    total = sum(shares.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise InputError(
            f"weights add up to {total:g}, not 1: e.g. {{'A': 0.45, 'B': 0.45, 'holdout': 0.1}}"
        )
    return shares


def _keys(phones: pd.Series, seed: int) -> pd.Series:
    """A 64-bit key per number, from the number and the seed (splitmix64's finaliser)."""
    digits = phones.str.replace(r"\D", "", regex=True).str[-18:]
    values = pd.to_numeric(digits, errors="coerce").fillna(0).astype("uint64").to_numpy()
    with np.errstate(over="ignore"):
        x = values ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return pd.Series(x, index=phones.index)


def _cut(n: int, shares: list[float]) -> list[int]:
    """``n`` numbers in ``shares``: floors, then the largest remainders get one more."""
    exact = [n * s for s in shares]
    counts = [math.floor(e) for e in exact]
    order = sorted(range(len(shares)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


# --------------------------------------------------------------------------- sizing


def sample_size(
    baseline: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: str = "two-sided",
) -> int:
    """Numbers the first variant needs to detect a change of ``mde`` (absolute: 0.005 is half
    a point) from the rate ``baseline``; the second needs ``ratio`` times as many.

    >>> sample_size(baseline=0.02, mde=0.005)
    13768
    """
    _rate("baseline", baseline)
    _rate("baseline + mde", baseline + mde, hint="mde is an absolute change: 0.005 is 0.5 points")
    if mde == 0:
        raise InputError("mde must not be 0: no test can detect a change of nothing")
    _check(alpha=alpha, power=power, ratio=ratio, alternative=alternative)
    h = _effect(baseline + mde, baseline)
    if (alternative == "larger" and h < 0) or (alternative == "smaller" and h > 0):
        raise InputError(
            f"alternative={alternative!r} cannot detect a change of {mde:+g}: use "
            f"{'smaller' if h < 0 else 'larger'!r} or 'two-sided'"
        )
    z = _NORMAL.inv_cdf(1 - (alpha / 2 if alternative == "two-sided" else alpha))
    z_power = _NORMAL.inv_cdf(power)
    # one-tail guess, then the exact root of the power (both tails) by bisection
    high = max(2.0, 2 * ((z + z_power) / abs(h)) ** 2 * (1 + 1 / ratio))
    low = 1e-9
    for _ in range(200):
        middle = (low + high) / 2
        if _power(h, middle, alpha, ratio, alternative) >= power:
            high = middle
        else:
            low = middle
    return math.ceil(high - 1e-9)


def detectable_effect(
    n_a: int,
    n_b: int,
    baseline: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """The smallest rise of the rate ``baseline`` (absolute) that variants of ``n_a`` and
    ``n_b`` numbers detect with this ``power`` in a two-sided test at ``alpha``.

    >>> round(detectable_effect(13768, 13768, 0.02), 4)
    0.005
    """
    _rate("baseline", baseline)
    for name, n in (("n_a", n_a), ("n_b", n_b)):
        if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
            raise InputError(f"{name}={n!r}: give the numbers in the variant, at least 1")
    _check(alpha=alpha, power=power, ratio=1.0, alternative="two-sided")
    ratio = n_b / n_a
    top = _effect(1.0, baseline)  # the largest h a rise from baseline can have
    if _power(top, n_a, alpha, ratio, "two-sided") < power:
        return math.nan  # not even a rise to 100% would be detected
    low, high = 0.0, top
    for _ in range(200):
        middle = (low + high) / 2
        if _power(middle, n_a, alpha, ratio, "two-sided") >= power:
            high = middle
        else:
            low = middle
    start = math.asin(math.sqrt(baseline))
    return min(1.0, math.sin(start + high / 2) ** 2) - baseline


def _effect(p1: float, p0: float) -> float:
    """Cohen's h, as statsmodels' ``proportion_effectsize(p1, p0)``."""
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p0))


def _power(h: float, n1: float, alpha: float, ratio: float, alternative: str) -> float:
    """The power of the normal test of effect ``h`` with ``n1`` and ``ratio·n1`` numbers,
    as statsmodels' ``NormalIndPower().power``."""
    shift = h * math.sqrt(1 / (1 / n1 + 1 / (n1 * ratio)))
    if alternative == "two-sided":
        crit = _NORMAL.inv_cdf(1 - alpha / 2)
        return _NORMAL.cdf(shift - crit) + _NORMAL.cdf(-crit - shift)
    crit = _NORMAL.inv_cdf(1 - alpha)
    return _NORMAL.cdf(shift - crit) if alternative == "larger" else _NORMAL.cdf(-crit - shift)


def _rate(name: str, value: float, *, hint: str = "") -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        more = f" ({hint})" if hint else ""
        raise InputError(f"{name} = {value!r}: a rate is between 0 and 1{more}")


def _check(*, alpha: float, power: float, ratio: float, alternative: str) -> None:
    if not 0 < alpha < 1:
        raise InputError(f"alpha={alpha!r}: the significance level is between 0 and 1 (0.05)")
    if not 0 < power < 1:
        raise InputError(f"power={power!r}: the power is between 0 and 1 (0.8)")
    if not ratio > 0:
        raise InputError(f"ratio={ratio!r}: the second variant's size over the first's, above 0")
    if alternative not in _ALTERNATIVES:
        raise InputError(f"alternative={alternative!r}: one of {', '.join(_ALTERNATIVES)}")
