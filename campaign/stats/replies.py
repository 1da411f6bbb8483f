"""Replies: who replied or opted out, against the numbers delivered, and when replies came."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from campaign.stats._groups import _campaign_filter, _campaigns, _dims, _open, _select
from campaign.stats._intervals import _with_rate
from campaign.stats._tables import _by, _counts, _finish_dims, _frame, _sort
from campaign.store import DbLike

__all__ = ["replies_by_hour", "reply_stats"]


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
    0       上海        193         5         1       0.026
    1       云南        143         2         0       0.014
    2      内蒙古        123         7         3       0.057
    """
    database = _open(db)
    campaigns = _campaigns(database, campaign)
    dims = _dims(database, by, campaigns)
    keys = [f"d{i}" for i in range(len(dims))]
    delivered = _counts(database, campaigns, dims)[[*keys, "delivered"]]
    select, group = _select(dims, "r", database.dialect)
    where, params = _campaign_filter("p.campaign", campaigns)
    rows = database.execute(
        f"SELECT {select}COUNT(DISTINCT p.campaign || ' ' || p.phone), COUNT(*),"
        " COUNT(DISTINCT CASE WHEN p.opt_out = 1 THEN p.campaign || ' ' || p.phone END),"
        " COUNT(DISTINCT CASE WHEN d.status IS NULL OR d.status <> 'delivered'"
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
    (['hour', 'replies', 'opt_outs'], 230, 87)
    """
    database = _open(db)
    campaigns = _campaigns(database, campaign)
    dims = _dims(database, by, campaigns)
    select, group = _select(dims, "r", database.dialect)
    where, params = _campaign_filter("p.campaign", campaigns)
    rows = database.execute(
        f"SELECT {select}{database.dialect.hour_of('p.received_at')}, COUNT(*),"
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
