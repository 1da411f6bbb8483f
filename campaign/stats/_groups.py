"""The groups a table is computed over: checking ``campaign=`` and ``by=``, and the SQL of them.

``_campaigns`` and ``_dims`` check the arguments against the store; ``_expr`` and ``_select``
spell the dimensions (``d0``, ``d1``... in the SELECT list, grouped by position),
``_campaign_filter`` the campaign filter and ``_sent_cte`` the batches counted as submitted.
What the engines spell differently (JSON fields, the hour and day of a time) comes from the
store's dialect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from campaign.errors import InputError
from campaign.store import DbLike, Store, connect

if TYPE_CHECKING:
    from campaign.store.engine import Engine

__all__ = ["DIMENSIONS"]

#: The dimensions every store has; any other ``by=`` name is looked up in the contact list.
DIMENSIONS = ("campaign", "batch", "vendor", "carrier", "province", "city", "send_hour", "send_day")

_STATUSES = ("delivered", "failed", "unknown")
_LOCATION = ("carrier", "province", "city")


def _open(db: DbLike) -> Store:
    return connect(db, existing=True)


def _campaigns(database: Store, campaign) -> list[str] | None:
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


def _dims(database: Store, by, campaigns: list[str] | None) -> list[str]:
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
    dialect = database.dialect
    for name in names:
        if name in DIMENSIONS:
            continue
        where, params = _campaign_filter("campaign", campaigns)
        hit = database.execute(
            f"SELECT 1 FROM recipients WHERE {dialect.json_has('attrs', name)}"
            f"{' AND ' + where if where else ''} LIMIT 1",
            params,
        ).fetchone()
        if hit is None:
            keys = {
                k
                for (k,) in database.execute(
                    "SELECT DISTINCT j.key FROM (SELECT attrs FROM recipients WHERE attrs IS NOT"
                    f" NULL{' AND ' + where if where else ''} LIMIT 1000) AS s,"
                    f" {dialect.json_keys('s.attrs', 'j')}",
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


def _campaign_filter(column: str, campaigns: list[str] | None) -> tuple[str, list[str]]:
    if campaigns is None:
        return "", []
    if not campaigns:  # none (no voice campaign, say): PostgreSQL refuses IN ()
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' * len(campaigns))})", list(campaigns)


def _status_filter(status: str | None) -> str:
    if status is None:
        return ""
    if status not in _STATUSES:
        raise InputError(f"status must be one of {', '.join(_STATUSES)} or None, not {status!r}")
    return f" AND d.status = '{status}'"


def _expr(
    name: str, rows: str, dialect: Engine, attrs: str = "r.attrs", vendor: str = "b.vendor"
) -> str:
    """The SQL of one dimension; ``rows`` is the alias of the table holding campaign, batch,
    carrier, province and city; ``b`` is batches, ``vendor`` the column of the vendor (the
    batch's, or a roll-up's own) and ``attrs`` the contact-list columns (of the recipient
    ``r``, or of a profile)."""
    if name in ("campaign", "batch"):
        return f"{rows}.{name}"
    if name in _LOCATION:
        return f"COALESCE({rows}.{name}, '')"
    if name == "vendor":
        return vendor
    if name == "send_hour":
        return dialect.hour_of("b.submitted_at")
    if name == "send_day":
        return dialect.day_of("b.submitted_at")
    return dialect.json_text(attrs, name)


def _select(
    dims: list[str],
    rows: str,
    dialect: Engine,
    *,
    attrs: str = "r.attrs",
    vendor: str = "b.vendor",
    and_by: str = "",
) -> tuple[str, str]:
    """SELECT list and GROUP BY clause (by position) of the dimensions (see :func:`_expr`);
    ``and_by``, an SQL expression, splits the groups further, as one more (``d<n>``)."""
    parts = [_expr(d, rows, dialect, attrs, vendor) for d in dims] + ([and_by] if and_by else [])
    if not parts:
        return "", ""
    select = "".join(f"{sql} AS d{i}, " for i, sql in enumerate(parts))
    return select, ", ".join(str(i + 1) for i in range(len(parts)))


def _recipients_join(dims: list[str]) -> str:
    """The join of each delivery ``d`` to its recipient ``r``, where a contact-list column
    is grouped by (it lives in ``r.attrs``); else nothing."""
    if not _needs_rows(dims):
        return ""
    return " JOIN recipients r ON r.campaign = d.campaign AND r.phone = d.phone"


def _needs_rows(dims: list[str]) -> bool:
    return any(d not in DIMENSIONS for d in dims)


def _sent_cte(campaigns: list[str] | None) -> tuple[str, list[str]]:
    """``sent``: the batches counted as submitted (see the package docstring)."""
    where, params = _campaign_filter("b.campaign", campaigns)
    return (
        "WITH sent AS (SELECT b.campaign, b.batch, b.vendor, b.submitted_at FROM batches b"
        " WHERE (b.state = 'accepted' OR EXISTS (SELECT 1 FROM delivery_counts x WHERE"
        " x.campaign = b.campaign AND x.batch = b.batch AND x.n > 0))"
        f"{' AND ' + where if where else ''}) ",
        params,
    )


# The per-recipient measures funnel_stats and cost_stats share: a recipient was submitted
# when its batch is a sent one (s), converted when it has a conversion attributed to its
# campaign (c, from the conv CTE), and its revenue is theirs.
SUBMITTED = "COUNT(s.batch)"
DELIVERED = "COUNT(CASE WHEN s.batch IS NOT NULL AND d.status = 'delivered' THEN 1 END)"
CONVERTED = "COUNT(CASE WHEN s.batch IS NOT NULL AND c.phone IS NOT NULL THEN 1 END)"
REVENUE = "SUM(CASE WHEN s.batch IS NOT NULL THEN COALESCE(c.revenue, 0) ELSE 0 END)"


#: Off, :func:`_rolled_up` says no to every grouping and the tables take the per-recipient
#: path: the tests set it so to check that both paths give the same numbers.
_ROLLUPS = True


def _rolled_up(dims: list[str]) -> bool:
    """Whether a table over ``dims`` can be read from the roll-ups and the small tables
    (:func:`_per_cell`, :func:`_per_person`) instead of every recipient
    (:func:`_per_recipient`): every dimension is a standard one, which a roll-up row (its
    campaign, batch and location) and its batch (vendor, send time) carry."""
    return _ROLLUPS and not _needs_rows(dims)


def _conv_cte(campaigns: list[str] | None) -> tuple[str, list[str]]:
    """``conv``: per (campaign, phone), the conversions attributed to the campaign and their
    value (``revenue``)."""
    where, params = _campaign_filter("campaign", campaigns)
    return (
        ", conv AS (SELECT campaign, phone, SUM(COALESCE(value, 0)) AS revenue"
        " FROM conversions WHERE campaign IS NOT NULL"
        f"{' AND ' + where if where else ''} GROUP BY campaign, phone)",
        params,
    )


def _repl_cte(campaigns: list[str] | None) -> tuple[str, list[str]]:
    """``repl``: each (campaign, phone) with a reply attributed to the campaign, once."""
    where, params = _campaign_filter("campaign", campaigns)
    return (
        ", repl AS (SELECT DISTINCT campaign, phone FROM replies WHERE campaign IS NOT NULL"
        f"{' AND ' + where if where else ''})",
        params,
    )


def _per_recipient(
    database: Store,
    campaigns: list[str] | None,
    dims: list[str],
    measures: list[str],
    *,
    ctes: str = "",
    ctes_params: list | None = None,
    joins: str = "",
    where: str = "",
    and_by: str = "",
) -> list:
    """Rows of ``dims`` and ``measures`` (SQL aggregates) over every recipient ``r`` with its
    batch ``b``, sent batch ``s`` (NULL when not submitted), delivery ``d`` and attributed
    conversions ``c`` (``revenue``); ``ctes`` (", name AS (...)") and ``joins`` add more;
    ``and_by``, an SQL expression, splits the groups further (as :func:`_per_cell`'s)."""
    cte, params = _sent_cte(campaigns)
    conv, cmore = _conv_cte(campaigns)
    recipients, more = _campaign_filter("r.campaign", campaigns)
    select, group = _select(dims, "r", database.dialect, and_by=and_by)
    conditions = " AND ".join(c for c in (where, recipients) if c)
    return database.execute(
        f"{cte}{conv}{ctes} SELECT {select}{', '.join(measures)}"
        " FROM recipients r JOIN batches b ON b.campaign = r.campaign AND b.batch = r.batch"
        " LEFT JOIN sent s ON s.campaign = r.campaign AND s.batch = r.batch"
        " LEFT JOIN deliveries d ON d.campaign = r.campaign AND d.phone = r.phone"
        f" LEFT JOIN conv c ON c.campaign = r.campaign AND c.phone = r.phone{joins}"
        f"{' WHERE ' + conditions if conditions else ''} GROUP BY {group}",
        [*params, *cmore, *(ctes_params or []), *more],
    ).fetchall()


def _per_cell(
    database: Store,
    campaigns: list[str] | None,
    dims: list[str],
    table: str,
    measures: list[str],
    *,
    joins: str = "",
    where: str = "",
    and_by: str = "",
) -> list:
    """Rows of ``dims`` and ``measures`` over the roll-up ``table`` ``c``
    (``recipient_counts`` or ``delivery_counts``: ``c.n`` recipients or deliveries in each
    campaign, batch, location and status) with its batch ``b`` and sent batch ``s`` (NULL
    when not submitted): a measure of :func:`_per_recipient` is the same here with ``c.n``
    for the count of its rows. Thousands of rows, never one per recipient; a row with n = 0
    (its recipients dropped, its deliveries moved on) makes no group. ``and_by``, an SQL
    expression, splits the groups further (after the dimensions, as one more)."""
    cte, params = _sent_cte(campaigns)
    cells, more = _campaign_filter("c.campaign", campaigns)
    select, group = _select(dims, "c", database.dialect, and_by=and_by)
    conditions = " AND ".join(c for c in ("c.n > 0", where, cells) if c)
    return database.execute(
        f"{cte}SELECT {select}{', '.join(measures)} FROM {table} c"
        " JOIN batches b ON b.campaign = c.campaign AND b.batch = c.batch"
        f" LEFT JOIN sent s ON s.campaign = c.campaign AND s.batch = c.batch{joins}"
        f" WHERE {conditions} GROUP BY {group}",
        [*params, *more],
    ).fetchall()


def _per_person(
    database: Store,
    campaigns: list[str] | None,
    dims: list[str],
    people: str,
    measures: list[str],
    *,
    where: str = "",
    people_cte: tuple[str, list] | None = None,
) -> list:
    """Rows of ``dims`` and ``measures`` over the recipients who did something: those in
    ``people``, ``"conv c"`` (:func:`_conv_cte`) or ``"repl q"`` (:func:`_repl_cte`), or
    another table that ``people_cte`` (", name AS (...)", its parameters) makes, at
    most one row per (campaign, phone), each joined by its key to its recipient ``r``, batch
    ``b`` and sent batch ``s``. The measures of :func:`_per_recipient` that count or sum
    ``c`` (or ``q``) read the same here: a recipient without such a row adds nothing to
    them."""
    cte, params = _sent_cte(campaigns)
    table, alias = people.split()
    conv, cmore = people_cte or {"conv": _conv_cte, "repl": _repl_cte}[table](campaigns)
    recipients, more = _campaign_filter("r.campaign", campaigns)
    select, group = _select(dims, "r", database.dialect)
    conditions = " AND ".join(c for c in (where, recipients) if c)
    return database.execute(
        f"{cte}{conv} SELECT {select}{', '.join(measures)} FROM {people}"
        f" JOIN recipients r ON r.campaign = {alias}.campaign AND r.phone = {alias}.phone"
        " JOIN batches b ON b.campaign = r.campaign AND b.batch = r.batch"
        " LEFT JOIN sent s ON s.campaign = r.campaign AND s.batch = r.batch"
        f"{' WHERE ' + conditions if conditions else ''} GROUP BY {group}",
        [*params, *cmore, *more],
    ).fetchall()


def _joined(first: pd.DataFrame, others: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """``first`` (one row per group: the groups of the table) with the columns of ``others``
    (the same groups or fewer) beside it, NaN where a group has no row in one of them."""
    frame = first
    for other in others:
        found = other.astype({k: object for k in keys})
        merged = frame.astype({k: object for k in keys}).merge(found, on=keys, how="left")
        merged.index = frame.index
        for key in keys:
            merged[key] = frame[key]
        frame = merged
    return frame
