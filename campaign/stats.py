"""Post-campaign statistics as tidy DataFrames, computed in SQL where the data lives.

Definitions (DESIGN.md, "Statistics"; every function here uses exactly these):

submitted
    Numbers the vendor accepted: the recipients of every batch whose state is ``accepted``,
    plus those of any other batch for which receipts arrived (a receipt proves the vendor
    took the batch, e.g. one whose answer was lost and is marked ``unknown``). Counted from
    the recipients (a batch's ``size``), not from the vendor's ``accepted`` figure, because
    only the recipients can be split by carrier, province, city or a contact-list column.
delivered / failed / unknown
    The status of each recipient's *latest* receipt (``deliveries``: the latest
    ``received_at`` wins, so receipts arriving out of order or twice count once).
pending
    submitted - delivered - failed - unknown: numbers with no receipt yet.
reported
    delivered + failed + unknown: numbers with a receipt.
delivery_rate
    delivered / submitted, with a 95% Wilson score interval ``ci_low``/``ci_high``;
    ``reported_rate`` = delivered / reported, likewise.
reply_rate, opt_out_rate
    distinct repliers / delivered and distinct numbers that opted out (a reply such as
    退订, TD, T, R, 拒收, flagged ``opt_out`` at ingest) / delivered. A reply proves
    delivery, but replies often arrive before the receipts: repliers can outnumber the
    delivered numbers. The rates are then capped at 1 (like their intervals), and
    ``repliers_without_receipt`` counts the repliers whose latest receipt does not (yet) say
    delivered, so the lag is visible rather than a rate of 500%.
latency
    ``received_at`` of the latest receipt - ``submitted_at`` of its batch, in whole seconds
    (negative clock skew counts as 0). Percentiles are "the smallest latency by which at
    least p% of the receipts had arrived" (numpy's ``inverted_cdf``).
voice
    calls = submitted; answered = latest receipt has ``talk_seconds > 0``;
    ``answer_rate`` = answered / calls (a call with no receipt yet counts as not answered)
    and ``reported_answer_rate`` = answered / reported (only calls with a receipt);
    talk-time mean/p50/p90 in seconds over answered calls.
unlinked receipts
    Receipts stored without a batch (``receipts.matched`` = 0: their task id was unknown
    when they arrived); counted by :func:`unlinked_receipts`, in no campaign's figures
    until ``cp.link_receipts`` links them.

Every frame returned with groups names its group columns in ``frame.attrs["by"]`` (the
charts of :mod:`campaign.plots` read it to tell groups from numbers).

``by=`` takes a column name or a list of them: ``campaign``, ``batch``, ``vendor``,
``carrier``, ``province``, ``city`` (None where unknown), ``send_hour`` (0-23) and
``send_day`` (``YYYY-MM-DD``) of the batch's ``submitted_at`` in Asia/Shanghai, or any
column of the contact list (stored in ``recipients.attrs``; a standard name wins over a
contact-list column of the same name). Batch numbers restart in each campaign, so ``batch``
over several campaigns groups by ``campaign`` and ``batch``.

Speed: the standard dimensions are read from the roll-ups ``recipient_counts`` and
``delivery_counts`` that the store keeps as data arrives (thousands of rows, not millions);
contact-list columns need a join of every recipient (``json_extract``), which is slower.
Distributions (latency, talk time, the delivery curve) are grouped into one row per whole
second in SQL, and only those histograms reach pandas.

This module never draws (see :mod:`campaign.plots`) and never talks to vendors.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import sqlite_utils

from campaign.errors import InputError
from campaign.store import DbLike, open_db
from campaign.vendors import vendor_keys

__all__ = [
    "DIMENSIONS",
    "compare",
    "delivery_curve",
    "delivery_stats",
    "failure_reasons",
    "latency_distribution",
    "latency_stats",
    "replies_by_hour",
    "reply_stats",
    "talk_time_distribution",
    "two_proportion_test",
    "unlinked_receipts",
    "voice_stats",
    "wilson_interval",
]

log = logging.getLogger(__name__)

#: The dimensions every store has; any other ``by=`` name is looked up in the contact list.
DIMENSIONS = ("campaign", "batch", "vendor", "carrier", "province", "city", "send_hour", "send_day")

#: The normal quantile of a two-sided 95% interval.
Z95 = 1.959963984540054

_STATUSES = ("delivered", "failed", "unknown")
_LOCATION = ("carrier", "province", "city")


# --------------------------------------------------------------------------- intervals, tests


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


def _with_rate(frame: pd.DataFrame, name: str, k: str, n: str, ci: str | None = None) -> None:
    """Add ``name`` = k / n (capped at 1) and its Wilson interval as ``{ci}_low``/``{ci}_high``."""
    ci = ci or name.removesuffix("_rate") + "_ci"
    kk = frame[k].to_numpy(dtype="float64")
    nn = frame[n].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        frame[name] = np.where(nn > 0, np.minimum(kk, nn) / nn, np.nan)
    frame[f"{ci}_low"], frame[f"{ci}_high"] = wilson_interval(kk, nn)


# --------------------------------------------------------------------------- arguments


def _open(db: DbLike) -> sqlite_utils.Database:
    if isinstance(db, (str, os.PathLike)) and not Path(db).exists():
        raise InputError(f"no store at {db}: give the path of the campaign.db your send wrote")
    return open_db(db)


def _campaigns(database: sqlite_utils.Database, campaign) -> list[str] | None:
    """The campaign filter: None for all, else a checked list of names."""
    if campaign is None:
        return None
    names = [campaign] if isinstance(campaign, str) else campaign
    if (
        not isinstance(names, (list, tuple, pd.Series, pd.Index))
        or not len(names)
        or not all(isinstance(n, str) and n for n in names)
    ):
        raise InputError(
            f"campaign must be a campaign name or a list of them (None for all), not {campaign!r}"
        )
    names = list(dict.fromkeys(names))
    known = {n for (n,) in database.execute("SELECT name FROM campaigns")}
    missing = [n for n in names if n not in known]
    if missing:
        raise InputError(
            f"no campaign {', '.join(map(repr, missing))} in this store; it has: "
            f"{', '.join(sorted(known)) or 'none yet'}"
        )
    return names


def _dims(database: sqlite_utils.Database, by, campaigns: list[str] | None) -> list[str]:
    """The checked ``by`` names, in order, without repeats."""
    if by is None:
        return []
    names = [by] if isinstance(by, str) else list(by) if isinstance(by, (list, tuple)) else [by]
    if not all(isinstance(n, str) and n for n in names):
        raise InputError(f"by must be a column name or a list of them, not {by!r}")
    names = list(dict.fromkeys(names))
    if "batch" in names and "campaign" not in names:
        in_scope = (
            len(campaigns)
            if campaigns is not None
            else database.execute("SELECT COUNT(*) FROM campaigns").fetchone()[0]
        )
        if in_scope > 1:  # batch numbers restart in each campaign: batch 1 of which?
            names.insert(names.index("batch"), "campaign")
    for name in names:
        if name in DIMENSIONS:
            continue
        path = _json_path(name)
        where, params = _campaign_filter("campaign", campaigns)
        hit = database.execute(
            f"SELECT 1 FROM recipients WHERE json_type(attrs, {path}) IS NOT NULL"
            f"{' AND ' + where if where else ''} LIMIT 1",
            params,
        ).fetchone()
        if hit is None:
            keys = {
                k
                for (k,) in database.execute(
                    "SELECT DISTINCT j.key FROM (SELECT attrs FROM recipients WHERE attrs IS NOT"
                    f" NULL{' AND ' + where if where else ''} LIMIT 1000) AS s, json_each(s.attrs)"
                    " AS j",
                    params,
                )
            }
            raise InputError(
                f"unknown by= column {name!r}: use one of {', '.join(DIMENSIONS)}"
                + (
                    f", or a column of the contact list: {', '.join(sorted(keys))}"
                    if keys
                    else " (the contact lists of these campaigns had no other columns)"
                )
            )
    return names


def _json_path(key: str) -> str:
    """A SQL string literal for the JSON path of a contact-list column."""
    path = '$."' + key.replace('"', '\\"') + '"'
    return "'" + path.replace("'", "''") + "'"


def _campaign_filter(column: str, campaigns: list[str] | None) -> tuple[str, list[str]]:
    if campaigns is None:
        return "", []
    return f"{column} IN ({', '.join('?' * len(campaigns))})", list(campaigns)


def _expr(name: str, rows: str) -> str:
    """The SQL of one dimension; ``rows`` is the alias of the table holding campaign, batch,
    carrier, province and city; ``b`` is batches and ``r`` recipients (contact-list columns)."""
    if name in ("campaign", "batch"):
        return f"{rows}.{name}"
    if name in _LOCATION:
        return f"COALESCE({rows}.{name}, '')"
    if name == "vendor":
        return "b.vendor"
    if name == "send_hour":
        return "CAST(substr(b.submitted_at, 12, 2) AS INTEGER)"
    if name == "send_day":
        return "substr(b.submitted_at, 1, 10)"
    return f"json_extract(r.attrs, {_json_path(name)})"


def _select(dims: list[str], rows: str) -> tuple[str, str]:
    """SELECT list and GROUP BY clause (by position) of the dimensions."""
    if not dims:
        return "", ""
    select = ", ".join(f"{_expr(d, rows)} AS d{i}" for i, d in enumerate(dims)) + ", "
    return select, ", ".join(str(i + 1) for i in range(len(dims)))


def _needs_rows(dims: list[str]) -> bool:
    return any(d not in DIMENSIONS for d in dims)


def _sent_cte(campaigns: list[str] | None) -> tuple[str, list[str]]:
    """``sent``: the batches counted as submitted (see the module docstring)."""
    where, params = _campaign_filter("b.campaign", campaigns)
    return (
        "WITH sent AS (SELECT b.campaign, b.batch, b.vendor, b.submitted_at FROM batches b"
        " WHERE (b.state = 'accepted' OR EXISTS (SELECT 1 FROM delivery_counts x WHERE"
        " x.campaign = b.campaign AND x.batch = b.batch AND x.n > 0))"
        f"{' AND ' + where if where else ''}) ",
        params,
    )


def _frame(rows, dims: list[str], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[f"d{i}" for i in range(len(dims))] + columns)
    return frame


def _finish_dims(frame: pd.DataFrame, dims: list[str]) -> pd.DataFrame:
    """Name the dimension columns and give them their types ('' -> None where unknown)."""
    taken = [d for d in dims if d in frame.columns]
    if taken:
        raise InputError(
            f"by= column {taken[0]!r} has the name of a column this table computes: rename it"
            " in the contact list (or pick another by=)"
        )
    frame = frame.rename(columns={f"d{i}": d for i, d in enumerate(dims)})
    for d in dims:
        if d in _LOCATION:
            frame[d] = frame[d].astype(object).where(frame[d] != "", None)
        elif d in ("batch", "send_hour"):
            frame[d] = frame[d].astype("Int64")
        elif d not in DIMENSIONS:
            frame[d] = _attrs_column(frame[d])
    return frame


def _attrs_column(column: pd.Series) -> pd.Series:
    """A contact-list column as the list had it: whole numbers stay whole (Int64, even with
    gaps, which SQLite's NULLs turn into float NaN), anything else is object with None."""
    values = column.dropna()
    if pd.api.types.is_bool_dtype(column):
        return column
    if pd.api.types.is_numeric_dtype(column):
        if len(values) and (values == values.round()).all():
            return column.astype("Int64")
        return column
    return column.astype(object).where(column.notna(), None)


#: The computed columns of every table and their types, so that a table without rows has
#: the same dtypes as one with (pandas makes an empty column ``object``).
_INTS = {
    "submitted", "delivered", "failed", "unknown", "pending", "reported", "repliers", "replies",
    "opt_outs", "repliers_without_receipt", "calls", "answered", "receipts", "count", "seconds",
    "talk_seconds", "hour",
}  # fmt: skip
_FLOATS = {"mean", "p50", "p90", "p99", "share", "talk_mean", "talk_p50", "talk_p90"}


def _by(frame: pd.DataFrame, dims: list[str]) -> pd.DataFrame:
    """Give the computed columns their types, and name the group columns in
    ``frame.attrs["by"]``: the charts read it to tell the groups from the numbers (a
    contact-list column may be called ``hour`` or ``count``)."""
    for name in frame.columns:
        if name in dims:
            continue
        if name in _INTS:
            frame[name] = frame[name].astype("int64")
        elif name in _FLOATS or name.endswith(("_rate", "_low", "_high")):
            frame[name] = frame[name].astype("float64")
        elif frame[name].dtype != object and not len(frame):
            frame[name] = frame[name].astype(object)
    frame.attrs["by"] = list(dims)
    return frame


def _sort(frame: pd.DataFrame, dims: list[str]) -> pd.DataFrame:
    if dims and len(frame):
        frame = frame.sort_values(dims, na_position="last", kind="stable", key=_sort_key)
    return frame.reset_index(drop=True)


def _sort_key(column: pd.Series) -> pd.Series:
    if column.dtype == object:
        return column.map(lambda v: (v is None, str(v) if v is not None else ""))
    return column


# --------------------------------------------------------------------------- counts


def _counts(database, campaigns, dims) -> pd.DataFrame:
    """submitted, delivered, failed, unknown per group, dimension columns still d0, d1..."""
    cte, params = _sent_cte(campaigns)
    select, group = _select(dims, "c" if not _needs_rows(dims) else "r")
    keys = [f"d{i}" for i in range(len(dims))]
    if not _needs_rows(dims):
        gb = f" GROUP BY {group}" if group else ""
        sub = database.execute(
            f"{cte}SELECT {select}SUM(c.n) FROM recipient_counts c JOIN sent b"
            f" ON b.campaign = c.campaign AND b.batch = c.batch{gb}",
            params,
        ).fetchall()
        submitted = _frame(sub, dims, ["submitted"])
        status_rows = database.execute(
            f"{cte}SELECT {select}c.status, SUM(c.n) FROM delivery_counts c JOIN sent b"
            f" ON b.campaign = c.campaign AND b.batch = c.batch"
            f" GROUP BY {group + ', ' if group else ''}{len(dims) + 1}",
            params,
        ).fetchall()
        status = _frame(status_rows, dims, ["status", "n"])
        wide = (
            status.pivot_table(
                index=keys, columns="status", values="n", aggfunc="sum"
            ).reset_index()
            if keys and len(status)
            else pd.DataFrame(
                [{s: status.loc[status["status"] == s, "n"].sum() for s in _STATUSES}]
            )
        )
        if keys:
            frame = submitted.merge(wide, on=keys, how="outer") if len(status) else submitted
        else:
            frame = pd.concat([submitted, wide], axis=1)
            if frame["submitted"].isna().all() and not len(status):
                frame = frame.iloc[0:0]
    else:
        rows = database.execute(
            f"{cte}SELECT {select}COUNT(*),"
            " COUNT(CASE WHEN d.status = 'delivered' THEN 1 END),"
            " COUNT(CASE WHEN d.status = 'failed' THEN 1 END),"
            " COUNT(CASE WHEN d.status = 'unknown' THEN 1 END)"
            " FROM recipients r JOIN sent b ON b.campaign = r.campaign AND b.batch = r.batch"
            " LEFT JOIN deliveries d ON d.campaign = r.campaign AND d.phone = r.phone"
            f" GROUP BY {group}",
            params,
        ).fetchall()
        frame = _frame(rows, dims, ["submitted", *_STATUSES])
    for name in ("submitted", *_STATUSES):
        if name not in frame:
            frame[name] = 0
        frame[name] = frame[name].fillna(0).astype("int64")
    return frame[[*keys, "submitted", *_STATUSES]]


def delivery_stats(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """Delivery counts and rates per group.

    Parameters
    ----------
    db
        The store: a path or a ``sqlite_utils.Database`` from :func:`campaign.open_db`.
    campaign
        A campaign name (or a list of names); None for every campaign in the store.
    by
        A column name or a list of them (see the module docstring); None for one total row.

    Returns
    -------
    DataFrame
        One row per group: the ``by`` columns, then counts of numbers ``submitted``,
        ``delivered``, ``failed``, ``unknown`` (latest receipt status), ``pending`` (no
        receipt yet) and ``reported`` (with a receipt); ``delivery_rate`` = delivered /
        submitted with its 95% Wilson interval ``ci_low``/``ci_high``, and
        ``reported_rate`` = delivered / reported with ``reported_ci_low``/
        ``reported_ci_high`` (all fractions 0-1; NaN where the denominator is 0).

    Examples
    --------
    >>> stats = cp.delivery_stats("campaign.db", campaign="double11-A", by="carrier")
    >>> stats[["carrier", "submitted", "delivered", "delivery_rate", "ci_low", "ci_high"]].round(3)
      carrier  submitted  delivered  delivery_rate  ci_low  ci_high
    0    中国广电        218        197          0.904   0.857    0.936
    1    中国电信       1689       1548          0.917   0.902    0.929
    2    中国移动       5071       4806          0.948   0.941    0.954
    3    中国联通       2376       2234          0.940   0.930    0.949
    4    None         25         20          0.800   0.609    0.911
    """
    database = _open(db)
    campaigns = _campaigns(database, campaign)
    dims = _dims(database, by, campaigns)
    frame = _counts(database, campaigns, dims)
    frame["reported"] = frame["delivered"] + frame["failed"] + frame["unknown"]
    frame["pending"] = (frame["submitted"] - frame["reported"]).clip(lower=0)
    _with_rate(frame, "delivery_rate", "delivered", "submitted", ci="ci")
    _with_rate(frame, "reported_rate", "delivered", "reported")
    frame = _finish_dims(frame, dims)
    columns = [
        *dims,
        "submitted",
        "delivered",
        "failed",
        "unknown",
        "pending",
        "reported",
        "delivery_rate",
        "ci_low",
        "ci_high",
        "reported_rate",
        "reported_ci_low",
        "reported_ci_high",
    ]
    return _by(_sort(frame[columns], dims), dims)


# --------------------------------------------------------------------------- replies


def reply_stats(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """Replies and opt-outs per group, against the numbers delivered.

    Only replies matched to a campaign's recipient count (``replies.campaign`` set at ingest).

    Returns
    -------
    DataFrame
        The ``by`` columns, ``delivered`` (numbers whose latest receipt says delivered),
        ``repliers`` (distinct numbers that replied), ``replies`` (reply messages),
        ``opt_outs`` (distinct numbers that sent an opt-out reply such as 退订 or TD),
        ``repliers_without_receipt`` (repliers whose latest receipt does not say delivered,
        or who have none yet: receipts lag behind replies), ``reply_rate`` = repliers /
        delivered with ``reply_ci_low``/``reply_ci_high`` and ``opt_out_rate`` = opt_outs /
        delivered with ``opt_out_ci_low``/``opt_out_ci_high`` (fractions 0-1, 95% Wilson;
        a rate is capped at 1 when repliers outnumber the delivered numbers).

    Examples
    --------
    >>> replies = cp.reply_stats("campaign.db", campaign="double11-A", by="province")
    >>> replies[["province", "delivered", "repliers", "opt_outs", "reply_rate"]].head(3).round(3)
      province  delivered  repliers  opt_outs  reply_rate
    0       上海        212         5         1       0.024
    1       云南        154         2         0       0.013
    2      内蒙古        137         8         3       0.058
    """
    database = _open(db)
    campaigns = _campaigns(database, campaign)
    dims = _dims(database, by, campaigns)
    keys = [f"d{i}" for i in range(len(dims))]
    delivered = _counts(database, campaigns, dims)[[*keys, "delivered"]]
    select, group = _select(dims, "r")
    where, params = _campaign_filter("p.campaign", campaigns)
    rows = database.execute(
        f"SELECT {select}COUNT(DISTINCT p.campaign || ' ' || p.phone), COUNT(*),"
        " COUNT(DISTINCT CASE WHEN p.opt_out = 1 THEN p.campaign || ' ' || p.phone END),"
        " COUNT(DISTINCT CASE WHEN d.status IS NOT 'delivered'"
        " THEN p.campaign || ' ' || p.phone END)"
        " FROM replies p JOIN recipients r ON r.campaign = p.campaign AND r.phone = p.phone"
        " JOIN batches b ON b.campaign = r.campaign AND b.batch = r.batch"
        " LEFT JOIN deliveries d ON d.campaign = p.campaign AND d.phone = p.phone"
        f"{' WHERE ' + where if where else ''}{' GROUP BY ' + group if group else ''}",
        params,
    ).fetchall()
    replies = _frame(rows, dims, ["repliers", "replies", "opt_outs", "repliers_without_receipt"])
    if not keys:
        replies = replies[replies["replies"] > 0]
    frame = (
        delivered.merge(replies, on=keys, how="outer")
        if keys
        else pd.concat([delivered.reset_index(drop=True), replies.reset_index(drop=True)], axis=1)
    )
    if not keys and not len(delivered) and not len(replies):
        frame = frame.iloc[0:0]
    for name in ("delivered", "repliers", "replies", "opt_outs", "repliers_without_receipt"):
        frame[name] = frame[name].fillna(0).astype("int64")
    _with_rate(frame, "reply_rate", "repliers", "delivered")
    _with_rate(frame, "opt_out_rate", "opt_outs", "delivered")
    frame = _finish_dims(frame, dims)
    columns = [
        *dims,
        "delivered",
        "repliers",
        "replies",
        "opt_outs",
        "repliers_without_receipt",
        "reply_rate",
        "reply_ci_low",
        "reply_ci_high",
        "opt_out_rate",
        "opt_out_ci_low",
        "opt_out_ci_high",
    ]
    return _by(_sort(frame[columns], dims), dims)


def replies_by_hour(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """Replies per hour of the day they arrived (Asia/Shanghai), per group.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``hour`` (0-23 of ``received_at``), ``replies`` (messages) and
        ``opt_outs`` (opt-out messages); hours without replies are left out.

    Examples
    --------
    >>> by_hour = cp.replies_by_hour("campaign.db", campaign="double11-A")
    >>> list(by_hour.columns), int(by_hour["replies"].sum()), int(by_hour["opt_outs"].sum())
    (['hour', 'replies', 'opt_outs'], 256, 95)
    """
    database = _open(db)
    campaigns = _campaigns(database, campaign)
    dims = _dims(database, by, campaigns)
    select, group = _select(dims, "r")
    where, params = _campaign_filter("p.campaign", campaigns)
    rows = database.execute(
        f"SELECT {select}CAST(substr(p.received_at, 12, 2) AS INTEGER), COUNT(*),"
        " COUNT(CASE WHEN p.opt_out = 1 THEN 1 END)"
        " FROM replies p JOIN recipients r ON r.campaign = p.campaign AND r.phone = p.phone"
        " JOIN batches b ON b.campaign = r.campaign AND b.batch = r.batch"
        f" WHERE p.received_at IS NOT NULL{' AND ' + where if where else ''}"
        f" GROUP BY {group + ', ' if group else ''}{len(dims) + 1}",
        params,
    ).fetchall()
    frame = _finish_dims(_frame(rows, dims, ["hour", "replies", "opt_outs"]), dims)
    for name in ("hour", "replies", "opt_outs"):
        frame[name] = frame[name].astype("int64")
    return _by(_sort(frame, [*dims, "hour"]), dims)


# --------------------------------------------------------------------------- distributions

_LATENCY = (
    "MAX(0, CAST(ROUND((julianday(d.received_at) - julianday(b.submitted_at)) * 86400) AS INTEGER))"
)


def _histogram(database, campaigns, dims, value: str, where: str) -> pd.DataFrame:
    """Counts of ``value`` (an SQL expression over deliveries d / batches b) per group."""
    select, group = _select(dims, "d")
    cwhere, params = _campaign_filter("d.campaign", campaigns)
    join_r = (
        " JOIN recipients r ON r.campaign = d.campaign AND r.phone = d.phone"
        if _needs_rows(dims)
        else ""
    )
    rows = database.execute(
        f"SELECT {select}{value}, COUNT(*) FROM deliveries d"
        " JOIN batches b ON b.campaign = d.campaign AND b.batch = d.batch"
        f"{join_r} WHERE {where}{' AND ' + cwhere if cwhere else ''}"
        f" GROUP BY {group + ', ' if group else ''}{len(dims) + 1}",
        params,
    ).fetchall()
    frame = _frame(rows, dims, ["value", "n"])
    frame["value"] = frame["value"].astype("int64")
    frame["n"] = frame["n"].astype("int64")
    return frame


def _status_filter(status: str | None) -> str:
    if status is None:
        return ""
    if status not in _STATUSES:
        raise InputError(f"status must be one of {', '.join(_STATUSES)} or None, not {status!r}")
    return f" AND d.status = '{status}'"


def latency_distribution(
    db: DbLike,
    *,
    campaign: str | Sequence[str] | None = None,
    by: str | list[str] | None = None,
    status: str | None = "delivered",
) -> pd.DataFrame:
    """How many receipts arrived how long after the send, per group: a histogram.

    Latency is the latest receipt's ``received_at`` - its batch's ``submitted_at``.

    Parameters
    ----------
    status
        Only receipts with this latest status (default ``"delivered"``: time to the
        handset); None for every receipt.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``seconds`` (latency, whole seconds) and ``receipts`` (count).

    Examples
    --------
    >>> hist = cp.latency_distribution("campaign.db", campaign="double11-A", by="carrier")
    >>> list(hist.columns), int(hist["receipts"].sum())
    (['carrier', 'seconds', 'receipts'], 8805)
    """
    database = _open(db)
    campaigns = _campaigns(database, campaign)
    dims = _dims(database, by, campaigns)
    where = "d.received_at IS NOT NULL AND b.submitted_at IS NOT NULL" + _status_filter(status)
    frame = _histogram(database, campaigns, dims, _LATENCY, where)
    frame = _finish_dims(frame.rename(columns={"value": "seconds", "n": "receipts"}), dims)
    return _by(_sort(frame, [*dims, "seconds"]), dims)


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


def latency_stats(
    db: DbLike,
    *,
    campaign: str | Sequence[str] | None = None,
    by: str | list[str] | None = None,
    status: str | None = "delivered",
) -> pd.DataFrame:
    """Receipt latency percentiles per group, in seconds.

    Latency is the latest receipt's ``received_at`` - its batch's ``submitted_at``; ``status``
    picks the receipts (default ``"delivered"``; None for all).

    Returns
    -------
    DataFrame
        The ``by`` columns, ``receipts`` (count), ``mean``, ``p50``, ``p90`` and ``p99``
        (seconds; p50 is the smallest latency by which at least half had arrived).

    Examples
    --------
    >>> latency = cp.latency_stats("campaign.db", campaign="double11-A", by="carrier")
    >>> latency  # doctest: +SKIP
      carrier  receipts      mean  p50   p90   p99
    0    中国广电       197  8.690355  5.0  22.0  54.0
    1    中国电信      1548  8.861111  5.0  20.0  53.0
    2    中国移动      4806  8.341864  5.0  18.0  50.0
    3    中国联通      2234  8.328111  5.0  18.0  57.0
    4    None        20  8.400000  7.0  17.0  24.0

    (Not checked: latencies depend on the clock of the run. The columns are.)

    >>> list(latency.columns)
    ['carrier', 'receipts', 'mean', 'p50', 'p90', 'p99']
    """
    hist = latency_distribution(db, campaign=campaign, by=by, status=status)
    dims = hist.attrs["by"]
    frame = _percentiles(hist, dims, "seconds", "receipts", (0.5, 0.9, 0.99))
    frame = frame.rename(columns={"count": "receipts"})
    return _by(_sort(frame, dims), dims)


def delivery_curve(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """Cumulative share of the submitted numbers delivered against time since the send.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``seconds`` since the batch's ``submitted_at`` (one row per second
        at which a delivery arrived), ``delivered`` (cumulative count by then),
        ``submitted`` and ``share`` = delivered / submitted (fraction 0-1).

    Examples
    --------
    >>> curve = cp.delivery_curve("campaign.db", campaign="double11-A", by="carrier")
    >>> list(curve.columns)
    ['carrier', 'seconds', 'delivered', 'submitted', 'share']
    >>> curve.groupby("carrier", dropna=False).last()[["delivered", "submitted"]]  # the end
             delivered  submitted
    carrier
    中国广电           197        218
    中国电信          1548       1689
    中国移动          4806       5071
    中国联通          2234       2376
    NaN             20         25
    """
    database = _open(db)
    campaigns = _campaigns(database, campaign)
    dims = _dims(database, by, campaigns)
    keys = [f"d{i}" for i in range(len(dims))]
    where = "d.received_at IS NOT NULL AND b.submitted_at IS NOT NULL AND d.status = 'delivered'"
    hist = _histogram(database, campaigns, dims, _LATENCY, where)
    hist = hist.sort_values([*keys, "value"], kind="stable")
    hist["delivered"] = (
        hist.groupby(keys, dropna=False)["n"].cumsum() if keys else hist["n"].cumsum()
    )
    submitted = _counts(database, campaigns, dims)[[*keys, "submitted"]]
    frame = (
        hist.merge(submitted, on=keys, how="left")
        if keys
        else hist.assign(submitted=int(submitted["submitted"].sum()))
    )
    frame["submitted"] = frame["submitted"].fillna(0).astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["share"] = frame["delivered"] / frame["submitted"].where(frame["submitted"] > 0)
    frame = frame.rename(columns={"value": "seconds"})
    frame = _finish_dims(frame, dims)
    frame = _sort(frame[[*dims, "seconds", "delivered", "submitted", "share"]], [*dims, "seconds"])
    return _by(frame, dims)


# --------------------------------------------------------------------------- voice


def _voice_campaigns(database, campaigns: list[str] | None) -> list[str]:
    channel = dict(database.execute("SELECT name, channel FROM campaigns").fetchall())
    if campaigns is None:
        return sorted(n for n, c in channel.items() if c == "voice")
    other = [n for n in campaigns if channel.get(n) != "voice"]
    if other:
        raise InputError(
            f"{', '.join(map(repr, other))} is not a voice campaign "
            f"({', '.join(channel[n] for n in other)}): voice statistics need talk time"
        )
    return campaigns


def talk_time_distribution(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """How long answered voice calls were listened to: a histogram per group.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``talk_seconds`` (whole seconds, > 0) and ``calls`` (count).

    Examples
    --------
    >>> cp.talk_time_distribution("campaign.db", campaign="voice-notice").head(3)
       talk_seconds  calls
    0             3      1
    1             4      3
    2             5      3
    """
    database = _open(db)
    campaigns = _voice_campaigns(database, _campaigns(database, campaign))
    dims = _dims(database, by, campaigns)
    frame = _histogram(database, campaigns, dims, "d.talk_seconds", "d.talk_seconds > 0")
    frame = _finish_dims(frame.rename(columns={"value": "talk_seconds", "n": "calls"}), dims)
    return _by(_sort(frame, [*dims, "talk_seconds"]), dims)


def voice_stats(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """Voice calls answered and talk time per group (voice campaigns only).

    ``campaign=None`` takes every voice campaign; naming an SMS campaign is an error.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``calls`` (numbers submitted), ``reported`` (with a receipt),
        ``answered`` (latest receipt has talk_seconds > 0), ``answer_rate`` = answered /
        calls with ``answer_ci_low``/``answer_ci_high`` (a call still without a receipt
        counts as not answered), ``reported_answer_rate`` = answered / reported with
        ``reported_answer_ci_low``/``reported_answer_ci_high`` (only calls with a receipt:
        pending calls do not count as unanswered; fractions, 95% Wilson), and
        ``talk_mean``, ``talk_p50``, ``talk_p90`` (seconds, over answered calls).

    Examples
    --------
    >>> voice = cp.voice_stats("campaign.db", by="province")
    >>> voice[["province", "calls", "answered", "answer_rate", "talk_p50"]].head(3)
      province  calls  answered  answer_rate  talk_p50
    0       上海      5         3          0.6      13.0
    1       云南      1         1          1.0      14.0
    2      内蒙古      4         2          0.5       3.0
    """
    database = _open(db)
    campaigns = _voice_campaigns(database, _campaigns(database, campaign))
    dims = _dims(database, by, campaigns)
    keys = [f"d{i}" for i in range(len(dims))]
    columns = [
        *dims,
        "calls",
        "reported",
        "answered",
        "answer_rate",
        "answer_ci_low",
        "answer_ci_high",
        "reported_answer_rate",
        "reported_answer_ci_low",
        "reported_answer_ci_high",
        "talk_mean",
        "talk_p50",
        "talk_p90",
    ]
    if not campaigns:
        return _by(pd.DataFrame(columns=columns), dims)
    counts = _counts(database, campaigns, dims)
    counts["reported"] = counts["delivered"] + counts["failed"] + counts["unknown"]
    hist = _histogram(database, campaigns, dims, "d.talk_seconds", "d.talk_seconds > 0")
    talk = _percentiles(hist, keys, "value", "n", (0.5, 0.9)).rename(
        columns={"count": "answered", "mean": "talk_mean", "p50": "talk_p50", "p90": "talk_p90"}
    )
    frame = (
        counts.merge(talk, on=keys, how="left")
        if keys
        else pd.concat([counts, talk], axis=1)
        if len(talk)
        else counts.assign(answered=0)
    )
    frame = frame.rename(columns={"submitted": "calls"})
    frame["answered"] = frame["answered"].fillna(0).astype("int64")
    for name in ("talk_mean", "talk_p50", "talk_p90"):
        if name not in frame:
            frame[name] = np.nan
    _with_rate(frame, "answer_rate", "answered", "calls")
    _with_rate(frame, "reported_answer_rate", "answered", "reported")
    frame = _finish_dims(frame, dims)
    return _by(_sort(frame[columns], dims), dims)


# --------------------------------------------------------------------------- failures


def failure_reasons(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """Why numbers failed: the reason taxonomy with the raw gateway codes behind it.

    Counts recipients whose latest receipt says ``failed``, by the ``reason`` ingest mapped
    from the vendor's code, one of :data:`campaign.reasons.REASONS` (空号, 停机,
    关机/不在服务区, 黑名单/拦截, 过期未送达, 未接听, 其他; a missing reason counts as 其他).

    Returns
    -------
    DataFrame
        The ``by`` columns, ``reason``, ``count`` (numbers), ``share`` (fraction 0-1 of the
        group's failures) and ``codes`` (the raw codes, most frequent first, with counts,
        e.g. ``"MK:0001 (120), UNDELIV (3)"``); most frequent reason first in each group.

    Examples
    --------
    >>> cp.failure_reasons("campaign.db", campaign="double11-A").round(3)
       reason  count  share                                     codes
    0      停机    156  0.331                             UNDELIV (156)
    1      其他    116  0.246  MN:0001 (43), MN:0054 (37), MK:0005 (36)
    2  黑名单/拦截     82  0.174                MA:0001 (44), REJECTD (38)
    3   过期未送达     81  0.172                              EXPIRED (81)
    4      空号     36  0.076                              MK:0001 (36)
    """
    database = _open(db)
    campaigns = _campaigns(database, campaign)
    dims = _dims(database, by, campaigns)
    keys = [f"d{i}" for i in range(len(dims))]
    select, group = _select(dims, "d")
    cwhere, params = _campaign_filter("d.campaign", campaigns)
    join_r = (
        " JOIN recipients r ON r.campaign = d.campaign AND r.phone = d.phone"
        if _needs_rows(dims)
        else ""
    )
    rows = database.execute(
        f"SELECT {select}COALESCE(NULLIF(d.reason, ''), '其他'), COALESCE(d.code, ''), COUNT(*)"
        " FROM deliveries d JOIN batches b ON b.campaign = d.campaign AND b.batch = d.batch"
        f"{join_r} WHERE d.status = 'failed'{' AND ' + cwhere if cwhere else ''}"
        f" GROUP BY {group + ', ' if group else ''}{len(dims) + 1}, {len(dims) + 2}",
        params,
    ).fetchall()
    raw = _frame(rows, dims, ["reason", "code", "n"])
    out = []
    for key, part in raw.groupby([*keys, "reason"], sort=False, dropna=False):
        part = part.sort_values(["n", "code"], ascending=[False, True])
        codes = ", ".join(
            f"{c or '(none)'} ({n})" for c, n in zip(part["code"], part["n"], strict=True)
        )
        out.append((*key, int(part["n"].sum()), codes))
    frame = pd.DataFrame(out, columns=[*keys, "reason", "count", "codes"])
    totals = (
        frame.groupby(keys, dropna=False)["count"].transform("sum")
        if keys
        else (frame["count"].sum())
    )
    frame["share"] = frame["count"] / totals
    frame = _finish_dims(frame, dims)
    frame = frame.sort_values(
        [*dims, "count", "reason"], ascending=[True] * len(dims) + [False, True], kind="stable"
    )
    frame = _sort(frame, dims)
    frame["count"] = frame["count"].astype("int64")
    return _by(frame[[*dims, "reason", "count", "share", "codes"]], dims)


# --------------------------------------------------------------------------- unlinked


def unlinked_receipts(db: DbLike, *, vendor: str | None = None) -> pd.DataFrame:
    """Receipts that no batch claims yet, per vendor and task id: in no campaign's figures.

    A receipt whose task id was unknown when it arrived (a fast vendor, a send interrupted
    before it recorded the task id) is stored with ``matched`` = 0 and no campaign. If it
    belongs to a batch whose outcome is unknown, record that batch's task id and run
    ``cp.link_receipts``; the receipts then count.

    Returns
    -------
    DataFrame
        ``vendor``, ``task_id`` (None if the receipt had none) and ``receipts`` (count),
        most receipts first; empty when every receipt is linked.

    Examples
    --------
    >>> cp.stats.unlinked_receipts("campaign.db", vendor="veesing-sms")  # all linked
    Empty DataFrame
    Columns: [vendor, task_id, receipts]
    Index: []
    """
    if vendor is not None and vendor not in vendor_keys():
        raise InputError(f"unknown vendor {vendor!r}: use one of {', '.join(vendor_keys())}")
    database = _open(db)
    where, params = ("AND vendor = ?", [vendor]) if vendor is not None else ("", [])
    rows = database.execute(
        "SELECT vendor, task_id, COUNT(*) FROM receipts"
        f" WHERE (matched = 0 OR campaign IS NULL) {where}"
        " GROUP BY vendor, task_id ORDER BY 3 DESC, 1, 2",
        params,
    ).fetchall()
    frame = pd.DataFrame(rows, columns=["vendor", "task_id", "receipts"])
    frame["receipts"] = frame["receipts"].astype("int64")
    return _by(frame, ["vendor", "task_id"])


# --------------------------------------------------------------------------- comparing

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
) -> pd.DataFrame:
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
    DataFrame
        One row: ``metric``, ``column``, ``a``, ``b``; for each side ``successes_a``,
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
    return pd.DataFrame([row])


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
