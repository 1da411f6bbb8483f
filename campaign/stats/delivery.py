"""Delivery: counts and rates per group, why numbers failed, and receipts no batch claims."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from campaign.errors import InputError
from campaign.stats._groups import (
    _campaign_filter,
    _campaigns,
    _dims,
    _open,
    _recipients_join,
    _select,
)
from campaign.stats._intervals import _with_rate
from campaign.stats._tables import (
    _by,
    _counts,
    _finish_dims,
    _frame,
    _rolled,
    _sort,
)
from campaign.store import DbLike
from campaign.vendors import vendor_keys

__all__ = ["delivery_stats", "failure_reasons", "unlinked_receipts"]


def delivery_stats(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """Delivery counts and rates per group.

    Parameters
    ----------
    db
        The store: a path, a ``sqlite_utils.Database`` from :func:`campaign.open_db`, or a
        :class:`campaign.store.Store`.
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
    0    中国广电        196        178          0.908   0.860    0.941
    1    中国电信       1520       1389          0.914   0.899    0.927
    2    中国移动       4564       4325          0.948   0.941    0.954
    3    中国联通       2138       2007          0.939   0.928    0.948
    4    None         23         18          0.783   0.581    0.903
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


def failure_reasons(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """Why numbers failed: the reason taxonomy with the raw gateway codes behind it.

    Counts recipients whose latest receipt says ``failed``, by the ``reason`` ingest mapped
    from the vendor's code, one of :data:`campaign.reasons.REASONS` (空号, 停机,
    关机/不在服务区, 空号/停机/关机, 黑名单/拦截, 过期未送达, 未接听, 其他; a missing reason
    counts as 其他).

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
    0        停机    143  0.334                             UNDELIV (143)
    1  空号/停机/关机    107  0.250  MN:0001 (38), MN:0054 (37), MK:0005 (32)
    2     过期未送达     73  0.171                              EXPIRED (73)
    3    黑名单/拦截     71  0.166                MA:0001 (38), REJECTD (33)
    4        空号     34  0.079                              MK:0001 (34)
    """
    database = _open(db)
    campaigns = _campaigns(database, campaign)
    dims = _dims(database, by, campaigns)
    keys = [f"d{i}" for i in range(len(dims))]
    if _rolled(dims):  # the store's roll-up of failed deliveries
        select, group = _select(dims, "f", database.dialect, vendor="f.vendor")
        cwhere, params = _campaign_filter("f.campaign", campaigns)
        rows = database.execute(
            f"SELECT {select}COALESCE(NULLIF(f.reason, ''), '其他'), f.code, SUM(f.n)"
            f" FROM failure_counts f{' WHERE ' + cwhere if cwhere else ''}"
            f" GROUP BY {group + ', ' if group else ''}{len(dims) + 1}, {len(dims) + 2}"
            " HAVING SUM(f.n) > 0",
            params,
        ).fetchall()
    else:  # every failed delivery
        select, group = _select(dims, "d", database.dialect)
        cwhere, params = _campaign_filter("d.campaign", campaigns)
        rows = database.execute(
            f"SELECT {select}COALESCE(NULLIF(d.reason, ''), '其他'), COALESCE(d.code, ''),"
            " COUNT(*) FROM deliveries d"
            " JOIN batches b ON b.campaign = d.campaign AND b.batch = d.batch"
            f"{_recipients_join(dims)} WHERE d.status = 'failed'"
            f"{' AND ' + cwhere if cwhere else ''}"
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
        " GROUP BY vendor, task_id"
        " ORDER BY 3 DESC, 1, CASE WHEN task_id IS NULL THEN 0 ELSE 1 END, 2",
        params,
    ).fetchall()
    frame = pd.DataFrame(rows, columns=["vendor", "task_id", "receipts"])
    frame["receipts"] = frame["receipts"].astype("int64")
    return _by(frame, ["vendor", "task_id"])
