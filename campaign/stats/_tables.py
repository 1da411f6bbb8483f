"""The queries several tables share, and how their rows become typed frames.

``_counts`` (submitted, delivered, failed, unknown per group) and ``_histogram`` (counts of
one value per group, e.g. latency or talk time in whole seconds) return their dimension
columns still named ``d0``, ``d1``...; ``_finish_dims`` names and types them, ``_by`` types
the computed columns and records the groups in ``frame.attrs["by"]``, ``_sort`` orders the
groups (unknown last).
"""

from __future__ import annotations

import pandas as pd

from campaign.errors import InputError
from campaign.stats._groups import (
    _LOCATION,
    _STATUSES,
    DIMENSIONS,
    _campaign_filter,
    _needs_rows,
    _recipients_join,
    _select,
    _sent_cte,
)
from campaign.store import Store

#: The dimensions the roll-ups by latency and by failure reason carry (``latency_counts``,
#: ``failure_counts``; ``delivery_counts`` has batch and city as well).
_ROLLED = ("campaign", "vendor", "carrier", "province")


def _rolled(dims: list[str]) -> bool:
    """Whether the latency and failure roll-ups have every one of ``dims``."""
    return all(d in _ROLLED for d in dims)


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


def _counts(database: Store, campaigns, dims) -> pd.DataFrame:
    """submitted, delivered, failed, unknown per group, dimension columns still d0, d1...;
    read once per :meth:`Store.snapshot` (a report asks for the same counts several times)."""
    memo = database.memo
    key = ("counts", None if campaigns is None else tuple(campaigns), tuple(dims))
    if memo is not None and key in memo:
        return memo[key].copy()
    frame = _read_counts(database, campaigns, dims)
    if memo is not None:
        memo[key] = frame.copy()
    return frame


#: The roll-ups of recipients and of their deliveries: by location (``recipient_counts``,
#: ``delivery_counts``), and by profile (the distinct rows of a contact list's own columns,
#: ``profile_recipients``, ``profile_counts``, each joined to its ``profiles`` row ``p``).
_BY_LOCATION = ("recipient_counts", "delivery_counts", "")
_BY_PROFILE = (
    "profile_recipients",
    "profile_counts",
    " JOIN profiles p ON p.campaign = c.campaign AND p.profile = c.profile",
)
#: What the profile roll-ups carry beside the list's columns: the batch, and what the batch
#: says (vendor, send time).
_BESIDE_PROFILES = ("campaign", "batch", "vendor", "send_hour", "send_day")
#: False: statistics by a list column read every recipient (the tests compare the two ways).
_PROFILES = True


def _read_counts(database: Store, campaigns, dims) -> pd.DataFrame:
    if not _needs_rows(dims):
        frame = _rolled_counts(database, campaigns, dims, _BY_LOCATION)
    elif _profiled(database, campaigns, dims):
        frame = _rolled_counts(database, campaigns, dims, _BY_PROFILE)
    else:
        cte, params = _sent_cte(campaigns)
        select, group = _select(dims, "r", database.dialect)
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
    keys = [f"d{i}" for i in range(len(dims))]
    for name in ("submitted", *_STATUSES):
        if name not in frame:
            frame[name] = 0
        frame[name] = frame[name].fillna(0).astype("int64")
    return frame[[*keys, "submitted", *_STATUSES]]


def _profiled(database: Store, campaigns, dims) -> bool:
    """Whether the profile roll-ups can give counts by ``dims``: their other dimensions are
    the batch's, and every campaign asked about has profiles and is not past them (see
    schema.PROFILES_DDL); a campaign without any, or a store written by hand, reads every
    recipient."""
    if not _PROFILES or any(d in DIMENSIONS and d not in _BESIDE_PROFILES for d in dims):
        return False
    where, params = _campaign_filter("c.name", campaigns)
    missing = database.execute(
        "SELECT COUNT(*) FROM campaigns c WHERE"
        " (NOT EXISTS (SELECT 1 FROM profiles p WHERE p.campaign = c.name AND p.profile = 0)"
        " OR EXISTS (SELECT 1 FROM profiles p WHERE p.campaign = c.name AND p.profile = -1))"
        f"{' AND ' + where if where else ''}",
        params,
    ).fetchone()[0]
    return not missing


def _rolled_counts(database: Store, campaigns, dims, rollups) -> pd.DataFrame:
    """submitted and the latest statuses per group from a pair of roll-ups (``rollups``: the
    recipients', the deliveries', and the join that gives their list columns)."""
    recipients, deliveries, join = rollups
    cte, params = _sent_cte(campaigns)
    select, group = _select(dims, "c", database.dialect, attrs="p.attrs")
    keys = [f"d{i}" for i in range(len(dims))]
    gb = f" GROUP BY {group}" if group else ""
    sub = database.execute(
        f"{cte}SELECT {select}SUM(c.n) FROM {recipients} c JOIN sent b"
        f" ON b.campaign = c.campaign AND b.batch = c.batch{join}{gb}",
        params,
    ).fetchall()
    submitted = _frame(sub, dims, ["submitted"])
    status_rows = database.execute(
        *_status_counts(dims, select, group, campaigns, cte, params, deliveries, join)
    ).fetchall()
    status = _frame(status_rows, dims, ["status", "n"])
    wide = (  # a list column's groups may be NULL: kept (pivot_table would drop them)
        status.groupby([*keys, "status"], dropna=False, sort=False)["n"]
        .sum()
        .unstack("status")
        .reset_index()
        if keys and len(status)
        else pd.DataFrame([{s: status.loc[status["status"] == s, "n"].sum() for s in _STATUSES}])
    )
    if keys:
        if not len(status):
            return submitted
        # the same values on both sides, whatever pandas made of them (a list column's
        # numbers with gaps come back float from the grouping), then typed as rows would be
        cast = {k: object for k in keys if submitted[k].dtype != wide[k].dtype}
        frame = submitted.astype(cast).merge(wide.astype(cast), on=keys, how="outer")
        for k in cast:
            frame[k] = pd.Series(frame[k].tolist(), index=frame.index)
        return frame
    frame = pd.concat([submitted, wide], axis=1)
    if frame["submitted"].isna().all() and not len(status):
        frame = frame.iloc[0:0]
    return frame


def _status_counts(
    dims, select, group, campaigns, cte, params, table="delivery_counts", join=""
) -> tuple[str, list]:
    """The SQL of deliveries counted per group and status, from ``table``.

    A batch with a delivery counted is a sent one (see ``_sent_cte``), and the other
    batches' rows count 0, so where no dimension comes from the batch itself (vendor, send
    time) the rows are summed without joining the sent batches (a lookup for each of a
    million rows on a store of ten million receipts); groups that sum to 0 are left out
    (their submitted numbers come from the recipients' roll-up, their counts fill in as 0).
    """
    by = f" GROUP BY {group + ', ' if group else ''}{len(dims) + 1}"
    if any(d in ("vendor", "send_hour", "send_day") for d in dims):
        return (
            f"{cte}SELECT {select}c.status, SUM(c.n) FROM {table} c JOIN sent b"
            f" ON b.campaign = c.campaign AND b.batch = c.batch{join}{by}",
            params,
        )
    where, mine = _campaign_filter("c.campaign", campaigns)
    return (
        f"SELECT {select}c.status, SUM(c.n) FROM {table} c{join}"
        f"{' WHERE ' + where if where else ''}{by} HAVING SUM(c.n) > 0",
        mine,
    )


def _histogram(database: Store, campaigns, dims, value: str, where: str) -> pd.DataFrame:
    """Counts of ``value`` (an SQL expression over deliveries d / batches b) per group."""
    select, group = _select(dims, "d", database.dialect)
    cwhere, params = _campaign_filter("d.campaign", campaigns)
    join_r = _recipients_join(dims)
    rows = database.execute(
        f"SELECT {select}{value}, COUNT(*) FROM deliveries d"
        " JOIN batches b ON b.campaign = d.campaign AND b.batch = d.batch"
        f"{join_r} WHERE {where}{' AND ' + cwhere if cwhere else ''}"
        f" GROUP BY {group + ', ' if group else ''}{len(dims) + 1}",
        params,
    ).fetchall()
    return _value_counts(rows, dims)


def _value_counts(rows, dims: list[str]) -> pd.DataFrame:
    """Rows of (dimensions, value, count) as a frame: ``d0``..., ``value``, ``n``."""
    frame = _frame(rows, dims, ["value", "n"])
    frame["value"] = frame["value"].astype("int64")
    frame["n"] = frame["n"].astype("int64")
    return frame
