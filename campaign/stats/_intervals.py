"""Estimates and tests on counts: plain functions over numbers, no SQL, no store.

- :func:`wilson_interval`: the Wilson score interval of a proportion (Wilson 1927,
  "Probable inference, the law of succession, and statistical inference").
- :func:`two_proportion_test`: Newcombe's hybrid score interval of a difference of two
  proportions (Newcombe 1998, "Interval estimation for the difference between independent
  proportions", method 10) and the pooled two-proportion z-test.
- :func:`adjust_p_values`: p-values of several tests adjusted for asking several questions:
  Holm's step-down (Holm 1979, family-wise error) or Benjamini-Hochberg's step-up (1995,
  false discovery rate), as statsmodels' ``multipletests`` ``holm`` and ``fdr_bh``.
- ``_with_rate`` adds a rate and its interval to a frame of counts; ``_percentiles`` reads
  weighted percentiles off a histogram (numpy's ``inverted_cdf``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from campaign.errors import InputError

__all__ = ["CORRECTIONS", "Z95", "adjust_p_values", "two_proportion_test", "wilson_interval"]

#: The ``correction=`` methods :func:`adjust_p_values` knows, and what each controls.
CORRECTIONS = {
    "holm": "Holm: the chance of any false win stays below alpha",
    "bh": "Benjamini-Hochberg: the expected share of false wins stays below alpha",
}

#: The normal quantile of a two-sided 95% interval.
Z95 = 1.959963984540054


def wilson_interval(successes, trials, *, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of a proportion (95% by default), element-wise.

    ``successes`` above ``trials`` are capped at ``trials``; ``trials`` of 0 give NaN.

    >>> [round(float(v), 4) for v in wilson_interval(90, 100)]
    [0.8256, 0.9448]
    """
    k = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.minimum(k, n)
        p = k / n
        z2 = z * z
        denom = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
        # exactly 0 (1) when nothing (everything) succeeded, not 6.9e-18 from rounding
        low = np.where(n > 0, np.where(k <= 0, 0.0, np.clip(centre - half, 0, 1)), np.nan)
        high = np.where(n > 0, np.where(k >= n, 1.0, np.clip(centre + half, 0, 1)), np.nan)
    return low, high


def two_proportion_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, *, z: float = Z95
) -> dict[str, float]:
    """Difference of two proportions: Newcombe's interval and the pooled z-test.

    Returns ``difference`` (rate a - rate b, fraction), ``ci_low``/``ci_high`` (Newcombe's
    hybrid score interval from the two Wilson intervals, 95%), ``z`` and ``p_value``
    (two-sided, pooled standard error: the classic two-proportion z-test).
    ``successes`` above ``trials`` are capped at ``trials`` (as in :func:`wilson_interval`):
    repliers can outnumber the delivered numbers while receipts lag.

    >>> round(two_proportion_test(90, 100, 80, 100)["p_value"], 4)
    0.0477
    """
    if min(trials_a, trials_b) <= 0:
        raise InputError("both groups need at least one trial to compare")
    successes_a, successes_b = min(successes_a, trials_a), min(successes_b, trials_b)
    p1, p2 = successes_a / trials_a, successes_b / trials_b
    (l1, u1), (l2, u2) = (
        (float(v) for v in wilson_interval(successes_a, trials_a, z=z)),
        (float(v) for v in wilson_interval(successes_b, trials_b, z=z)),
    )
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    if se == 0:
        stat, p_value = 0.0, 1.0
    else:
        stat = d / se
        p_value = math.erfc(abs(stat) / math.sqrt(2))
    return {"difference": d, "ci_low": low, "ci_high": high, "z": stat, "p_value": p_value}


def adjust_p_values(p_values, *, method: str) -> np.ndarray:
    """The p-values of several tests, adjusted by ``method`` (``"holm"`` or ``"bh"``, see
    :data:`CORRECTIONS`); NaN stays NaN and is not counted as a test.

    >>> adjust_p_values([0.01, 0.04, 0.03], method="holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> adjust_p_values([0.01, 0.04, 0.03], method="bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    if method not in CORRECTIONS:
        raise InputError(
            f"correction={method!r}: one of {', '.join(map(repr, CORRECTIONS))}, or None"
        )
    p = np.asarray(p_values, dtype="float64")
    out = np.full(p.shape, np.nan)
    known = np.flatnonzero(~np.isnan(p))
    m = len(known)
    if not m:
        return out
    order = known[np.argsort(p[known], kind="stable")]
    ranked = p[order]
    if method == "holm":  # step-down: (m - i) p_(i), made non-decreasing
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:  # step-up: m p_(i) / i, made non-increasing from the largest
        adjusted = np.minimum.accumulate((m * ranked / np.arange(1, m + 1))[::-1])[::-1]
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _with_rate(frame: pd.DataFrame, name: str, k: str, n: str, ci: str | None = None) -> None:
    """Add ``name`` = k / n (capped at 1) and its Wilson interval as ``{ci}_low``/``{ci}_high``."""
    ci = ci or name.removesuffix("_rate") + "_ci"
    kk = frame[k].to_numpy(dtype="float64")
    nn = frame[n].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        frame[name] = np.where(nn > 0, np.minimum(kk, nn) / nn, np.nan)
    frame[f"{ci}_low"], frame[f"{ci}_high"] = wilson_interval(kk, nn)


def _percentiles(hist: pd.DataFrame, keys: list[str], value: str, n: str, qs) -> pd.DataFrame:
    """Weighted 'inverted_cdf' percentiles, mean and count of a histogram, per group."""
    out = []
    groups = hist.groupby(keys, sort=False, dropna=False) if keys else [((), hist)]
    for key, part in groups:
        part = part.sort_values(value)
        values = part[value].to_numpy(dtype="float64")
        weights = part[n].to_numpy(dtype="float64")
        cum = np.cumsum(weights)
        total = cum[-1] if len(cum) else 0.0
        if not total:  # nothing to measure: no row, as when grouped
            continue
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        row["count"] = int(total)
        row["mean"] = float((values * weights).sum() / total)
        for q in qs:
            i = int(np.searchsorted(cum, q * total - 1e-9 * total, side="left"))
            row[f"p{round(q * 100)}"] = float(values[min(i, len(values) - 1)])
        out.append(row)
    columns = [*keys, "count", "mean", *[f"p{round(q * 100)}" for q in qs]]
    frame = pd.DataFrame(out, columns=columns)
    for k in keys:  # groupby turned None into NaN: give the groups back their types
        if pd.api.types.is_numeric_dtype(hist[k].dtype):
            frame[k] = frame[k].astype(hist[k].dtype)
        else:
            frame[k] = frame[k].astype(object).where(frame[k].notna(), None)
    return frame
