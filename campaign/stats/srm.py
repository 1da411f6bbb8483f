"""Sample-ratio mismatch: did the split come out as planned?

When variants planned 45/45 are submitted 47/43, something other than chance is usually at
work (a batch the vendor refused, opt-outs dropped from one side only, a list sorted before it
was cut), and every comparison of those variants is suspect. :func:`srm_check` is the
chi-square goodness-of-fit test of the numbers submitted per variant against the planned
shares; below :data:`SRM_ALPHA` (0.001, the threshold the experimentation tools use, so that a
check run on every test rarely cries wolf) it says the split is off.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from campaign.errors import InputError
from campaign.stats._groups import _campaigns, _open
from campaign.store import DbLike

__all__ = ["SRM_ALPHA", "SampleRatioWarning", "chi2_sf", "srm_check"]

#: Below this p-value the split is called a sample-ratio mismatch.
SRM_ALPHA = 0.001


class SampleRatioWarning(UserWarning):
    """The numbers submitted per variant do not match the planned split (p < 0.001)."""


def srm_check(
    source: DbLike | pd.DataFrame | Mapping[str, int],
    campaigns: Sequence[str] | None = None,
    *,
    expected: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """The chi-square test that the numbers submitted per variant match the planned split.

    ``source`` is a store with ``campaigns`` (two or more campaign names: one per variant), a
    frame of counts (``campaign`` or ``variant``, and ``submitted``: the output of
    ``delivery_stats(db, by="campaign")`` will do; a ``planned`` column gives the shares), or
    a dict of counts. ``expected`` gives the planned shares (any weights: they are scaled to
    the variants checked, so ``{"A": 0.45, "B": 0.45, "holdout": 0.1}`` checks A and B at
    50/50); without it a store's planned recipients per campaign are the shares, and a frame
    or dict is checked for an equal split.

    Returns one row per variant: ``variant``, ``submitted``, ``expected_share``,
    ``expected`` (numbers), ``share`` (observed); ``attrs`` holds ``statistic``, ``df``,
    ``p_value``, ``mismatch`` (p < 0.001) and ``verdict``, a sentence.

    >>> check = cp.srm_check({"A": 5_120, "B": 4_880})
    >>> check.attrs["verdict"]
    'the split is as planned (chi-square p = 0.016, not below 0.001)'
    """
    counts, planned = _observed(source, campaigns)
    names = list(counts)
    if len(names) < 2:
        raise InputError("srm_check needs two or more variants to compare their sizes")
    if expected is not None:
        missing = [n for n in names if n not in expected]
        if missing:
            raise InputError(
                f"expected has no share for {', '.join(map(repr, missing))}: give one per "
                "variant, e.g. {'A': 0.5, 'B': 0.5}"
            )
        weights = {n: expected[n] for n in names}
    elif planned is not None:
        weights = planned
    else:
        weights = dict.fromkeys(names, 1.0)
    for name, weight in weights.items():
        if not isinstance(weight, int | float | np.integer | np.floating) or not weight > 0:
            raise InputError(f"the planned share of {name!r} is {weight!r}: give a number above 0")
    total_weight = float(sum(weights.values()))
    n = int(sum(counts.values()))
    frame = pd.DataFrame(
        {
            "variant": names,
            "submitted": [int(counts[v]) for v in names],
            "expected_share": [weights[v] / total_weight for v in names],
        }
    )
    frame["expected"] = frame["expected_share"] * n
    frame["share"] = frame["submitted"] / n if n else np.nan
    if n == 0:
        statistic, p_value = math.nan, math.nan
    else:
        statistic = float(
            (((frame["submitted"] - frame["expected"]) ** 2) / frame["expected"]).sum()
        )
        p_value = chi2_sf(statistic, len(names) - 1)
    mismatch = bool(p_value < SRM_ALPHA)
    frame.attrs = {
        "statistic": statistic,
        "df": len(names) - 1,
        "p_value": p_value,
        "mismatch": mismatch,
        "verdict": _verdict(frame, p_value, mismatch),
    }
    return frame


def warn_if_mismatched(check: pd.DataFrame, *, stacklevel: int = 3) -> None:
    """Warn (:class:`SampleRatioWarning`) when ``check`` (from :func:`srm_check`) found one."""
    if check.attrs.get("mismatch"):
        warnings.warn(check.attrs["verdict"], SampleRatioWarning, stacklevel=stacklevel)


def _observed(source, campaigns) -> tuple[dict[str, int], dict[str, float] | None]:
    """(submitted per variant, planned per variant or None)."""
    if isinstance(source, Mapping):
        return {str(k): _count(k, v) for k, v in source.items()}, None
    if isinstance(source, pd.DataFrame):
        name = next((c for c in ("variant", "campaign") if c in source.columns), None)
        if name is None or "submitted" not in source.columns:
            raise InputError(
                "srm_check takes a frame with a 'variant' (or 'campaign') and a 'submitted' "
                f"column; this one has: {', '.join(map(str, source.columns))}"
            )
        if source[name].duplicated().any():
            raise InputError(f"srm_check: the frame repeats a {name}: give one row per variant")
        counts = {
            str(k): _count(k, v) for k, v in zip(source[name], source["submitted"], strict=True)
        }
        planned = None
        if "planned" in source.columns:
            planned = {
                str(k): float(v) for k, v in zip(source[name], source["planned"], strict=True)
            }
        return counts, planned
    if campaigns is None or isinstance(campaigns, str):
        raise InputError(
            "srm_check(db, campaigns): name the campaigns of the variants, e.g. ['d11-A', 'd11-B']"
        )
    from campaign.stats.delivery import delivery_stats

    with _open(source) as store:
        names = _campaigns(store, list(campaigns))
        rows = store.rows(
            "SELECT campaign, COUNT(*) FROM recipients WHERE campaign IN ("
            + ", ".join("?" * len(names))
            + ") GROUP BY campaign",
            names,
        )
        planned = {name: 0.0 for name in names} | {c: float(n) for c, n in rows}
        submitted = delivery_stats(store, campaign=names, by="campaign")
    counts = dict.fromkeys(names, 0) | {
        c: int(n) for c, n in zip(submitted["campaign"], submitted["submitted"], strict=True)
    }
    empty = [n for n, p in planned.items() if not p]
    if empty:
        raise InputError(f"campaign {', '.join(map(repr, empty))} planned no numbers")
    return counts, planned


def _count(name, value) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or value < 0
        or value != int(value)
    ):
        raise InputError(f"the count of {name!r} is {value!r}: give a whole number, 0 or more")
    return int(value)


def _verdict(frame: pd.DataFrame, p_value: float, mismatch: bool) -> str:
    if math.isnan(p_value):
        return "nothing submitted yet: no split to check"
    if not mismatch:
        return f"the split is as planned (chi-square p = {p_value:.2g}, not below {SRM_ALPHA:g})"
    parts = ", ".join(
        f"{row.variant} {row.share:.1%} (planned {row.expected_share:.1%})"
        for row in frame.itertuples()
    )
    return (
        f"sample ratio mismatch: {parts}; chi-square p = {p_value:.2g} < {SRM_ALPHA:g}. The "
        "split did not come out as planned (a refused batch, opt-outs dropped from one side, "
        "a sorted list cut in two?): find why before trusting a comparison"
    )


def chi2_sf(statistic: float, df: int) -> float:
    """P(X >= statistic) for X chi-square with ``df`` degrees of freedom: the regularised
    upper incomplete gamma Q(df/2, statistic/2) (series below a+1, else Lentz's continued
    fraction, as in Numerical Recipes 6.2).

    >>> round(chi2_sf(3.841458820694124, 1), 6)
    0.05
    """
    if df < 1:
        raise InputError(f"df={df!r}: a chi-square has 1 or more degrees of freedom")
    a, x = df / 2, statistic / 2
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1 / a
        k = a
        for _ in range(10_000):
            k += 1
            term *= x / k
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1 - total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        step = d * c
        h *= step
        if abs(step - 1) < 1e-16:
            break
    return min(1.0, math.exp(log_front) * h)
