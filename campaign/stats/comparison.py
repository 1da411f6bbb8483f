"""Comparing: is A's rate really different from B's? Two campaigns, or two values of a column."""

from __future__ import annotations

import html
import warnings
from collections.abc import Sequence

import pandas as pd

from campaign.errors import InputError
from campaign.experiments import detectable_effect
from campaign.stats._intervals import (
    CORRECTIONS,
    adjust_p_values,
    two_proportion_test,
    wilson_interval,
)
from campaign.stats.delivery import delivery_stats
from campaign.stats.replies import reply_stats
from campaign.stats.srm import srm_check, warn_if_mismatched
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
    b=None,
    *,
    metric: str = "delivery_rate",
    column: str = "campaign",
    campaign: str | Sequence[str] | None = None,
    by: str | None = None,
    correction: str | None = None,
    control=None,
) -> Comparison:
    """Is A's rate really different from B's? Two campaigns, or two values of a column; per
    group with ``by=``; several variants against a control.

    Parameters
    ----------
    a, b
        Two campaign names, or with ``column=`` two values of that column (e.g. the
        ``variant`` column of the contact list, ``"A"`` and ``"B"``). For several variants
        give a list as ``a`` (``["A", "B", "C"]``) and ``control=``: each other variant is
        compared with the control.
    metric
        ``delivery_rate`` (delivered / submitted), ``reported_rate`` (delivered / reported),
        ``reply_rate`` (repliers / delivered), ``opt_out_rate`` (opt-outs / delivered) or
        ``answer_rate`` (answered / calls, voice).
    column
        What ``a`` and ``b`` are values of: ``campaign`` (default) or any ``by=`` column.
    campaign
        With ``column=``: restrict to this campaign (or list); default every campaign,
        pooled (a ``UserWarning`` says so when the values span several campaigns).
    by
        One comparison per value of this column (carrier, province, send_hour or any column
        the statistics take).
    correction
        ``"holm"`` or ``"bh"`` (Benjamini-Hochberg): p-values adjusted for the number of
        comparisons (``p_adjusted``), which the verdicts then use. Several variants against
        a control are corrected by Holm unless this says otherwise.
    control
        With a list of variants: the one the others are compared with.

    Returns
    -------
    Comparison
        A DataFrame (see :class:`Comparison`: printed, the verdicts come first, whole), one
        row per comparison (and ``by`` group): ``metric``, ``column``, ``a``, ``b``, the
        ``by`` column when given; for each side ``successes_a``, ``trials_a``, ``rate_a``,
        ``ci_low_a``, ``ci_high_a`` (and ``_b``; fractions, 95% Wilson); ``difference`` =
        rate_a - rate_b with ``diff_ci_low``/``diff_ci_high`` (Newcombe's interval, 95%),
        ``z`` and ``p_value`` (two-sided pooled two-proportion z-test),
        ``detectable_difference`` (the smallest change these numbers detect 80% of the time
        at p < 0.05, from ``b``'s rate: see :func:`campaign.detectable_effect`), with a
        correction ``p_adjusted`` and ``correction``; and ``verdict`` in plain words.
        Successes above trials (repliers outnumbering the delivered numbers while receipts
        lag) count as trials: the rate is capped at 1. Comparing campaigns also checks their
        split (:func:`campaign.srm_check`) and warns (``SampleRatioWarning``) when it is off.

    Examples
    --------
    >>> ab = cp.compare("campaign.db", "double11-A", "double11-B", metric="reply_rate")
    >>> print(ab.loc[0, "verdict"])
    reply rate: double11-A 2.9% vs double11-B 3.2%, difference -0.3 points (95% CI -0.9 to +0.2);
    p = 0.256: no difference shown; with these numbers only a change of at least 0.8 points could
    have been detected.
    >>> print(ab)  # the verdict first, whole, then the table
    reply rate: double11-A 2.9% vs double11-B 3.2%, difference -0.3 points (95% CI -0.9 to +0.2);
    p = 0.256: no difference shown; with these numbers only a change of at least 0.8 points could
    have been detected.
    <BLANKLINE>
           metric    column           a           b  ...
    0  reply_rate  campaign  double11-A  double11-B  ...
    ...
    [1 rows x 21 columns]
    >>> per = cp.compare("campaign.db", "double11-A", "double11-B", by="carrier",
    ...                  correction="holm")
    >>> per[["carrier", "difference", "p_value", "p_adjusted"]].round(3)  # doctest: +SKIP
    """
    if metric not in _METRICS:
        raise InputError(f"metric must be one of {', '.join(_METRICS)}, not {metric!r}")
    function, k, n = _METRICS[metric]
    pairs = _pairs(a, b, control, column)
    if control is not None and correction is None and len(pairs) > 1:
        correction = "holm"
    if correction is not None and correction not in CORRECTIONS:
        adjust_p_values([], method=correction)  # raises, naming the choices
    if by is not None and by == column:
        raise InputError(f"by={by!r} is what is compared (column=): group by another column")
    names = list(dict.fromkeys(x for pair in pairs for x in pair))
    extra = [by] if by else []
    if column == "campaign":
        if campaign is not None:
            raise InputError("campaign= only narrows a comparison by another column=")
        stats = function(db, campaign=names, by=["campaign", *extra])
    elif campaign is None:  # every campaign: split by campaign too, to see if it pools
        stats = function(db, by=[column, *extra, "campaign"])
    else:
        stats = function(db, campaign=campaign, by=[column, *extra])
    labels = stats[column].map(_label)
    have = ", ".join(sorted({str(v) for v in labels.dropna()}))
    for value in names:
        if not (labels == str(value)).any():
            raise InputError(f"no {column} {value!r} with data for {metric}; there are: {have}")
    if column != "campaign" and "campaign" in stats:
        pooled = set(stats.loc[labels.isin([str(x) for x in names]), "campaign"].dropna())
        if len(pooled) > 1:
            warnings.warn(
                f"compare(column={column!r}) without campaign= pools the campaigns "
                f"{', '.join(sorted(pooled))}: pass campaign= to compare within one",
                UserWarning,
                stacklevel=2,
            )
    keys = None if by is None else stats[by].map(_label)
    groups = [None] if keys is None else list(dict.fromkeys(_label(v) for v in keys))
    rows = []
    for group in groups:
        if keys is None:
            part = stats
        else:
            part = stats[keys.isna()] if group is None else stats[keys.eq(group)]
        part_labels = labels[part.index]
        for x, y in pairs:
            sides = [
                (int(part.loc[part_labels == str(v), k].sum()),
                 int(part.loc[part_labels == str(v), n].sum()))
                for v in (x, y)
            ]  # fmt: skip
            row = _compare_counts(metric, column, x, y, sides, n)
            if by is not None:
                items = list(row.items())
                row = {**dict(items[:4]), by: part[by].iloc[0], **dict(items[4:])}
            elif row["p_value"] != row["p_value"]:  # NaN: one side has nothing yet
                raise InputError(f"{metric}: one side has no {n} yet, nothing to compare")
            rows.append(row)
    if correction is not None:
        adjusted = adjust_p_values([r["p_value"] for r in rows], method=correction)
        for row, p in zip(rows, adjusted, strict=True):
            row["p_adjusted"] = float(p)
            row["correction"] = correction
    for row in rows:
        row["verdict"] = _verdict(row, by=by, comparisons=len(rows))
    result = Comparison(rows)
    if column == "campaign":
        split = srm_check(db, names)
        result.attrs["srm"] = split.attrs
        warn_if_mismatched(split, stacklevel=3)
    return result


def _label(value):
    """A group's value as text; None (not NaN) for a missing one."""
    return None if value is None or pd.isna(value) else str(value)


def _pairs(a, b, control, column: str) -> list[tuple]:
    """The (a, b) pairs compared: one, or each variant against the control."""
    if isinstance(a, list | tuple):
        variants = list(dict.fromkeys(a))
        if b is not None:
            raise InputError(
                "give several variants as one list and the control as control=, e.g. "
                "compare(db, ['A', 'B', 'C'], control='A')"
            )
        if len(variants) < 2:
            raise InputError(f"compare needs two or more different variants, not {a!r}")
        if control is None:
            control = variants[0]
        if control not in variants:
            raise InputError(f"control={control!r} is not one of the variants {variants!r}")
        return [(v, control) for v in variants if v != control]
    if control is not None:
        raise InputError("control= goes with a list of variants: compare(db, ['A', 'B'], ...)")
    if b is None:
        raise InputError("compare needs what to compare: compare(db, 'A', 'B')")
    if str(a) == str(b):
        raise InputError(f"compare needs two different {column} values, not {a!r} twice")
    return [(a, b)]


def _compare_counts(metric, column, a, b, sides, n) -> dict:
    (ka, na), (kb, nb) = sides
    ka, kb = min(ka, na), min(kb, nb)  # repliers beyond the delivered: receipts lag
    row = {"metric": metric, "column": column, "a": a, "b": b}
    nan = float("nan")
    (la, ua), (lb, ub) = (
        tuple(float(v) for v in wilson_interval(x, y)) for x, y in ((ka, na), (kb, nb))
    )
    if na and nb:
        test = two_proportion_test(ka, na, kb, nb)
        detectable = detectable_effect(na, nb, kb / nb)
    else:
        test = dict.fromkeys(("difference", "ci_low", "ci_high", "z", "p_value"), nan)
        detectable = nan
    row.update({
        "successes_a": ka, "trials_a": na, "rate_a": ka / na if na else nan,
        "ci_low_a": la, "ci_high_a": ua,
        "successes_b": kb, "trials_b": nb, "rate_b": kb / nb if nb else nan,
        "ci_low_b": lb, "ci_high_b": ub,
        "difference": test["difference"], "diff_ci_low": test["ci_low"],
        "diff_ci_high": test["ci_high"], "z": test["z"], "p_value": test["p_value"],
        "detectable_difference": detectable,
    })  # fmt: skip
    row["_missing"] = n if not (na and nb) else None
    return row


def _verdict(row: dict, *, by: str | None, comparisons: int) -> str:
    missing = row.pop("_missing", None)
    name = row["metric"].replace("_", " ")
    a, b = row["a"], row["b"]
    where = f" ({by} {row[by] if row[by] is not None else '未知'})" if by else ""
    if missing:
        return f"{name}{where}: {a} or {b} has no {missing} here, nothing to compare."
    diff = row["difference"] * 100
    low, high = row["diff_ci_low"] * 100, row["diff_ci_high"] * 100
    p = row["p_value"]
    head = (
        f"{name}{where}: {a} {row['rate_a']:.1%} vs {b} {row['rate_b']:.1%}, "
        f"difference {diff:+.1f} points (95% CI {low:+.1f} to {high:+.1f})"
    )
    decide = p
    if "p_adjusted" in row:
        label = "Holm" if row["correction"] == "holm" else "Benjamini-Hochberg"
        decide = row["p_adjusted"]
        head += f"; p = {p:.3g}, {decide:.3g} adjusted ({label}, {comparisons} comparisons)"
    else:
        head += f"; p = {p:.3g}"
    if decide < 0.05:
        better = a if diff > 0 else b
        return f"{head}: {better} is really higher, unlikely to be chance."
    detectable = row["detectable_difference"]
    if detectable != detectable:  # NaN
        return f"{head}: no difference shown; these numbers are too few to detect any change."
    return (
        f"{head}: no difference shown; with these numbers only a change of at least "
        f"{detectable * 100:.1f} points could have been detected."
    )
