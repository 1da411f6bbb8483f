"""Latency: how long after the send the receipts arrived, and the delivery curve over time.

Latency is the latest receipt's ``received_at`` - its batch's ``submitted_at`` in whole
seconds, never below 0 (the engine spells it: ``seconds_between``). Grouped by campaign,
vendor, carrier and province (or not at all) they read the store's roll-up of it
(``latency_counts``); by anything else, every delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from campaign.stats._groups import (
    _campaign_filter,
    _campaigns,
    _dims,
    _open,
    _select,
    _status_filter,
)
from campaign.stats._intervals import _percentiles
from campaign.stats._tables import (
    _by,
    _counts,
    _finish_dims,
    _histogram,
    _rolled,
    _sort,
    _value_counts,
)
from campaign.store import DbLike, Store

if TYPE_CHECKING:
    from campaign.store.engine import Engine

__all__ = ["delivery_curve", "latency_distribution", "latency_stats"]


def _latency(dialect: Engine) -> str:
    """SQL for the latency of a delivery ``d`` of a batch ``b``, in whole seconds (>= 0)."""
    return dialect.seconds_between("d.received_at", "b.submitted_at")


def _latencies(database: Store, campaigns, dims, status: str | None) -> pd.DataFrame:
    """Deliveries counted per group and latency (``value``, ``n``; dimension columns ``d0``,
    ``d1``...), of the given latest ``status`` (None: any). From the roll-up where it has the
    dimensions, else from every delivery (the same numbers: the roll-up's triggers store the
    latency the same expression computes)."""
    if not _rolled(dims):
        where = "d.received_at IS NOT NULL AND b.submitted_at IS NOT NULL"
        where += _status_filter(status)
        return _histogram(database, campaigns, dims, _latency(database.dialect), where)
    select, group = _select(dims, "l", database.dialect, vendor="l.vendor")
    conditions, params = _campaign_filter("l.campaign", campaigns)
    if status is not None:
        _status_filter(status)  # checks it
        conditions = " AND ".join(c for c in (conditions, "l.status = ?") if c)
        params = [*params, status]
    rows = database.execute(
        f"SELECT {select}l.seconds, SUM(l.n) FROM latency_counts l"
        f"{' WHERE ' + conditions if conditions else ''}"
        f" GROUP BY {group + ', ' if group else ''}{len(dims) + 1} HAVING SUM(l.n) > 0",
        params,
    ).fetchall()
    return _value_counts(rows, dims)


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
    (['carrier', 'seconds', 'receipts'], 7917)
    """
    database = _open(db)
    campaigns = _campaigns(database, campaign)
    dims = _dims(database, by, campaigns)
    frame = _latencies(database, campaigns, dims, status)
    frame = _finish_dims(frame.rename(columns={"value": "seconds", "n": "receipts"}), dims)
    return _by(_sort(frame, [*dims, "seconds"]), dims)


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
    中国广电           178        196
    中国电信          1389       1520
    中国移动          4325       4564
    中国联通          2007       2138
    NaN             18         23
    """
    database = _open(db)
    campaigns = _campaigns(database, campaign)
    dims = _dims(database, by, campaigns)
    keys = [f"d{i}" for i in range(len(dims))]
    hist = _latencies(database, campaigns, dims, "delivered")
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
