"""Comparing: is A's rate really different from B's? Two campaigns, or two values of a column."""

from __future__ import annotations

import html
import warnings
from collections.abc import Sequence

import pandas as pd

from campaign.errors import InputError
from campaign.stats._intervals import two_proportion_test, wilson_interval
from campaign.stats.delivery import delivery_stats
from campaign.stats.replies import reply_stats
from campaign.stats.voice import voice_stats
from campaign.store import DbLike

__all__ = ["Comparison", "compare"]


class Comparison(pd.DataFrame):
    """What :func:`compare` returns: a DataFrame whose repr puts the verdict first, whole.

    It is a plain ``pandas.DataFrame`` in every other way (columns, ``.loc``, ``.iloc``,
    slicing, ``pd.concat``, ``to_csv``), subclassed as pandas documents ("Subclassing pandas
    data structures": ``_constructor``). Printed, or shown in a notebook, it starts with the
    ``verdict`` sentence of each row, which pandas' table would cut at 50 characters; the
    table follows, its ``verdict`` column saying ``(above)``. A slice without the ``verdict``
    column shows as any DataFrame.
    """

    @property
    def _constructor(self):
        return Comparison

    def _verdicts(self) -> str | None:
        if "verdict" not in self.columns or not len(self):
            return None
        verdicts = [str(v) for v in self["verdict"]]
        if len(verdicts) == 1:
            return verdicts[0]
        return "\n".join(f"{i}: {v}" for i, v in zip(self.index, verdicts, strict=True))

    def _table(self) -> pd.DataFrame:
        """The table under the verdicts: every column, the verdict pointing up to them."""
        return pd.DataFrame(self).assign(verdict="(above)")

    def __repr__(self) -> str:
        verdicts = self._verdicts()
        if verdicts is None:
            return repr(pd.DataFrame(self))
        return f"{verdicts}\n\n{self._table()!r}"

    def _repr_html_(self) -> str | None:
        verdicts = self._verdicts()
        if verdicts is None:
            return pd.DataFrame(self)._repr_html_()
        table = self._table()._repr_html_()
        if table is None:  # display.notebook_repr_html is off: the text repr is used
            return None
        lines = "<br>".join(html.escape(v) for v in verdicts.split("\n"))
        return f"<p>{lines}</p>\n{table}"


#: metric -> (function, successes column, trials column)
_METRICS = {
    "delivery_rate": (delivery_stats, "delivered", "submitted"),
    "reported_rate": (delivery_stats, "delivered", "reported"),
    "reply_rate": (reply_stats, "repliers", "delivered"),
    "opt_out_rate": (reply_stats, "opt_outs", "delivered"),
    "answer_rate": (voice_stats, "answered", "calls"),
}


def compare(
    db: DbLike,
    a,
    b,
    *,
    metric: str = "delivery_rate",
    column: str = "campaign",
    campaign: str | Sequence[str] | None = None,
) -> Comparison:
    """Is A's rate really different from B's? Two campaigns, or two values of a column.

    Parameters
    ----------
    a, b
        Two campaign names, or with ``column=`` two values of that column (e.g. the
        ``variant`` column of the contact list, ``"A"`` and ``"B"``).
    metric
        ``delivery_rate`` (delivered / submitted), ``reported_rate`` (delivered / reported),
        ``reply_rate`` (repliers / delivered), ``opt_out_rate`` (opt-outs / delivered) or
        ``answer_rate`` (answered / calls, voice).
    column
        What ``a`` and ``b`` are values of: ``campaign`` (default) or any ``by=`` column.
    campaign
        With ``column=``: restrict to this campaign (or list); default every campaign,
        pooled (a ``UserWarning`` says so when the values span several campaigns).

    Returns
    -------
    Comparison
        A DataFrame (see :class:`Comparison`: printed, the verdict comes first, whole) of
        one row: ``metric``, ``column``, ``a``, ``b``; for each side ``successes_a``,
        ``trials_a``, ``rate_a``, ``ci_low_a``, ``ci_high_a`` (and ``_b``; fractions, 95%
        Wilson); ``difference`` = rate_a - rate_b with ``diff_ci_low``/``diff_ci_high``
        (Newcombe's interval, 95%), ``z`` and ``p_value`` (two-sided pooled two-proportion
        z-test) and ``verdict`` in plain words. Successes above trials (repliers
        outnumbering the delivered numbers while receipts lag) count as trials: the rate
        is capped at 1.

    Examples
    --------
    >>> ab = cp.compare("campaign.db", "double11-A", "double11-B", metric="reply_rate")
    >>> print(ab.loc[0, "verdict"])
    reply rate: double11-A 2.9% vs double11-B 3.2%, difference -0.3 points (95% CI -0.8 to +0.3);
    p = 0.333: no real difference shown, it could be chance (more numbers would tell).
    >>> print(ab)  # the verdict first, whole, then the table
    reply rate: double11-A 2.9% vs double11-B 3.2%, difference -0.3 points (95% CI -0.8 to +0.3);
    p = 0.333: no real difference shown, it could be chance (more numbers would tell).
    <BLANKLINE>
           metric    column           a  ...    z  p_value  verdict
    0  reply_rate  campaign  double11-A  ...  ...      ...  (above)
    <BLANKLINE>
    [1 rows x 20 columns]
    """
    if metric not in _METRICS:
        raise InputError(f"metric must be one of {', '.join(_METRICS)}, not {metric!r}")
    function, k, n = _METRICS[metric]
    if str(a) == str(b):
        raise InputError(f"compare needs two different {column} values, not {a!r} twice")
    if column == "campaign":
        if campaign is not None:
            raise InputError("campaign= only narrows a comparison by another column=")
        stats = function(db, campaign=[a, b], by="campaign")
    elif campaign is None:  # every campaign: split by campaign too, to see if it pools
        stats = function(db, by=[column, "campaign"])
    else:
        stats = function(db, campaign=campaign, by=column)
    labels = stats[column].map(lambda v: None if v is None or v is pd.NA else str(v))
    sides, pooled = [], set()
    for value in (a, b):
        hit = stats[labels == str(value)]
        if not len(hit):
            have = ", ".join(sorted({str(v) for v in labels.dropna()}))
            raise InputError(f"no {column} {value!r} with data for {metric}; there are: {have}")
        sides.append((int(hit[k].sum()), int(hit[n].sum())))
        if "campaign" in hit and column != "campaign":
            pooled.update(hit["campaign"])
    if len(pooled) > 1:
        warnings.warn(
            f"compare(column={column!r}) without campaign= pools the campaigns "
            f"{', '.join(sorted(pooled))}: pass campaign= to compare within one",
            UserWarning,
            stacklevel=2,
        )
    (ka, na), (kb, nb) = sides
    if not na or not nb:
        raise InputError(f"{metric}: one side has no {n} yet, nothing to compare")
    ka, kb = min(ka, na), min(kb, nb)  # repliers beyond the delivered: receipts lag
    test = two_proportion_test(ka, na, kb, nb)
    (la, ua), (lb, ub) = (
        tuple(float(v) for v in wilson_interval(x, y)) for x, y in ((ka, na), (kb, nb))
    )
    row = {
        "metric": metric,
        "column": column,
        "a": a,
        "b": b,
        "successes_a": ka,
        "trials_a": na,
        "rate_a": ka / na,
        "ci_low_a": la,
        "ci_high_a": ua,
        "successes_b": kb,
        "trials_b": nb,
        "rate_b": kb / nb,
        "ci_low_b": lb,
        "ci_high_b": ub,
        "difference": test["difference"],
        "diff_ci_low": test["ci_low"],
        "diff_ci_high": test["ci_high"],
        "z": test["z"],
        "p_value": test["p_value"],
    }
    row["verdict"] = _verdict(row)
    return Comparison([row])


def _verdict(row: dict) -> str:
    name = row["metric"].replace("_", " ")
    a, b = row["a"], row["b"]
    diff = row["difference"] * 100
    low, high = row["diff_ci_low"] * 100, row["diff_ci_high"] * 100
    p = row["p_value"]
    head = (
        f"{name}: {a} {row['rate_a']:.1%} vs {b} {row['rate_b']:.1%}, "
        f"difference {diff:+.1f} points (95% CI {low:+.1f} to {high:+.1f})"
    )
    if p < 0.05:
        better = a if diff > 0 else b
        return f"{head}; p = {p:.3g}: {better} is really higher, unlikely to be chance."
    return (
        f"{head}; p = {p:.3g}: no real difference shown, it could be chance "
        "(more numbers would tell)."
    )
