"""Cost: what a campaign was billed, and what each delivered message, reply and order cost."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pandas as pd

from campaign.stats._clicks import _with_clicks
from campaign.stats._groups import (
    CONVERTED,
    DELIVERED,
    REVENUE,
    SUBMITTED,
    _campaign_filter,
    _campaigns,
    _dims,
    _joined,
    _open,
    _per_cell,
    _per_person,
    _per_recipient,
    _repl_cte,
    _rolled_up,
)
from campaign.stats._tables import _by, _finish_dims, _frame, _sort
from campaign.store import DbLike

__all__ = ["cost_stats"]

_COUNTS = ("submitted", "delivered", "billed", "cost", "repliers", "converted", "revenue")


def cost_stats(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """What each campaign cost, from the prices set with :func:`campaign.set_prices`.

    One row per campaign (a campaign has one vendor, so one price) and ``by`` group (any the
    statistics take): ``submitted`` and
    ``delivered`` numbers, ``billed`` (SMS segments, or calls for voice: every submitted
    number's, or only the delivered ones' where the vendor bills on delivery), ``price`` and
    ``billed_on`` as set, ``cost`` (billed x price; NaN without a price), ``repliers``,
    ``converted`` (submitted numbers with an attributed conversion) and ``revenue``;
    ``cost_per_delivered``, ``cost_per_reply``, ``cost_per_conversion`` and
    ``return_on_spend`` (revenue / cost), NaN where there is nothing to divide by;
    ``clicks`` (not by bots, as :func:`~campaign.funnel_stats` counts them: NA where they
    cannot be known) and ``cost_per_click`` (cost / clicks, NaN without clicks).

    Reconciliation, from the balances :func:`campaign.send` records around each run:
    ``vendor_count`` (units the vendor drew from the account: the sum over the campaign's
    runs of balance before - balance after, counting only runs where the vendor gave both),
    ``expected_count`` (the messages, or calls for voice, those same runs got accepted:
    numbers x SMS segments), ``count_gap`` (vendor_count - expected_count: more than 0, the
    vendor drew more than was submitted) and ``balance_gap`` (True when count_gap is not 0).
    All four are NA for a campaign with no such run (sent with ``balance=False``, before
    this was recorded, or the vendor never said), and for ``by=`` other than ``"campaign"``
    and ``"vendor"``: a balance belongs to the whole account over a whole run, so it cannot
    be split by carrier, province, batch or a contact-list column.

    >>> cp.cost_stats("campaign.db", campaign="double11-A")[
    ...     ["vendor_count", "expected_count", "count_gap", "balance_gap"]]
       vendor_count  expected_count  count_gap  balance_gap
    0          8441            8441          0        False

    >>> cp.set_prices("campaign.db", {"veesing-sms": 0.045})
    >>> cp.cost_stats("campaign.db", campaign="double11-A")[["billed", "cost"]]  # 8441 x 0.045
       billed     cost
    0    8441  379.845
    """
    with _open(db) as database:
        campaigns = _campaigns(database, campaign)
        dims = ["campaign", *[d for d in _dims(database, by, campaigns) if d != "campaign"]]
        if _rolled_up(dims):
            frame = _from_rollups(database, campaigns, dims)
        else:
            frame = _per_recipient_frame(database, campaigns, dims)
        frame = _with_clicks(frame, database, campaigns, dims)
        frame = _finish_dims(frame, dims)
        runs = _balance_runs(database, campaigns)
    for name in ("submitted", "delivered", "billed", "repliers", "converted"):
        frame[name] = frame[name].fillna(0).astype("int64")
    for name in ("cost", "revenue", "price"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, by_what in (("cost_per_delivered", "delivered"), ("cost_per_reply", "repliers"),
                              ("cost_per_conversion", "converted")):  # fmt: skip
            frame[name] = np.where(frame[by_what] > 0, frame["cost"] / frame[by_what], np.nan)
        clicks = frame["clicks"].to_numpy(dtype="float64", na_value=np.nan)
        frame["cost_per_click"] = np.where(clicks > 0, frame["cost"] / clicks, np.nan)
        frame["return_on_spend"] = np.where(
            frame["cost"] > 0, frame["revenue"] / frame["cost"], np.nan
        )
    frame["billed_on"] = frame["billed_on"].astype(object).where(frame["billed_on"].notna(), None)
    columns = [
        *dims, "submitted", "delivered", "billed", "price", "billed_on", "cost", "repliers",
        "clicks", "converted", "revenue", "cost_per_delivered", "cost_per_reply",
        "cost_per_click", "cost_per_conversion", "return_on_spend",
    ]  # fmt: skip
    frame = _sort(frame[columns], dims).reset_index(drop=True)
    return _reconcile(_by(frame, dims), runs, dims)


# a number is billed its batch's segments when it was submitted (billed on submit, or no
# price set), or only when delivered (billed on delivery); a held-out number costs nothing
_SEGMENTS = "COALESCE(b.segments, 1)"
_ON_DELIVERY = "pr.billed_on = 'delivery'"
_REPLIERS = "COUNT(CASE WHEN s.batch IS NOT NULL AND q.phone IS NOT NULL THEN 1 END)"
_PRICES = " LEFT JOIN prices pr ON pr.vendor = b.vendor"
_NOT_HELD_OUT = "b.state <> 'held_out'"


def _per_recipient_frame(database, campaigns, dims: list[str]) -> pd.DataFrame:
    """The counts over every recipient: the way for any ``by``, a contact-list column too.
    Read per group and vendor (one price each), then added up per group."""
    billed = (
        "CASE WHEN s.batch IS NULL THEN 0"
        f" WHEN {_ON_DELIVERY} AND COALESCE(d.status, '') <> 'delivered' THEN 0"
        f" ELSE {_SEGMENTS} END"
    )
    replied, params = _repl_cte(campaigns)
    rows = _per_recipient(
        database, campaigns, dims,
        [SUBMITTED, DELIVERED, f"SUM({billed})", _REPLIERS, CONVERTED, REVENUE,
         "MAX(pr.price)", "MAX(pr.billed_on)"],
        ctes=replied,
        ctes_params=params,
        joins=" LEFT JOIN repl q ON q.campaign = r.campaign AND q.phone = r.phone" + _PRICES,
        where=_NOT_HELD_OUT,
        and_by="b.vendor",
    )  # fmt: skip
    keys = [f"d{i}" for i in range(len(dims))]
    counts = ["submitted", "delivered", "billed", "repliers", "converted", "revenue"]
    parts = _frame(rows, [*dims, "vendor"], [*counts, "price", "billed_on"])
    costs = _costs(parts.rename(columns={"billed": "units"}), keys)
    frame = parts.groupby(keys, sort=False, dropna=False).agg(
        {**dict.fromkeys(counts, "sum"), "price": "max", "billed_on": "max"}
    )
    frame = frame.reset_index().merge(costs, on=keys, how="left")
    return frame[[*keys, *_COUNTS, "price", "billed_on"]]


def _from_rollups(database, campaigns, dims: list[str]) -> pd.DataFrame:
    """The same counts as :func:`_per_recipient_frame`, for standard dimensions, without
    reading every recipient: submitted, and billed on submit, from ``recipient_counts``;
    delivered, and billed on delivery, from ``delivery_counts``; repliers and conversions
    from the numbers that replied or converted. The groups are those with recipients not
    held out, as there."""
    keys = [f"d{i}" for i in range(len(dims))]
    on_submit = f"CASE WHEN s.batch IS NULL OR {_ON_DELIVERY} THEN 0 ELSE c.n END"
    on_delivery = f"CASE WHEN s.batch IS NOT NULL AND {_ON_DELIVERY} THEN c.n ELSE 0 END"
    submitted = _frame(_per_cell(
        database, campaigns, dims, "recipient_counts",
        ["SUM(CASE WHEN s.batch IS NOT NULL THEN c.n ELSE 0 END)",
         f"SUM(({on_submit}) * {_SEGMENTS})", "MAX(pr.price)", "MAX(pr.billed_on)"],
        joins=_PRICES, where=_NOT_HELD_OUT,
    ), dims, ["submitted", "billed", "price", "billed_on"])  # fmt: skip
    delivered = _frame(_per_cell(
        database, campaigns, dims, "delivery_counts",
        ["SUM(CASE WHEN s.batch IS NOT NULL THEN c.n ELSE 0 END)",
         f"SUM(({on_delivery}) * {_SEGMENTS})"],
        joins=_PRICES, where=f"{_NOT_HELD_OUT} AND c.status = 'delivered'",
    ), dims, ["delivered", "billed_delivered"])  # fmt: skip
    # the messages billed at each price (a vendor's), for the cost
    bills = []
    for table, count, where in (
        ("recipient_counts", on_submit, ""),
        ("delivery_counts", on_delivery, " AND c.status = 'delivered'"),
    ):
        rows = _per_cell(
            database, campaigns, dims, table, [f"SUM(({count}) * {_SEGMENTS})"],
            joins=_PRICES, where=f"{_NOT_HELD_OUT} AND pr.price IS NOT NULL{where}",
            and_by="pr.price",
        )  # fmt: skip
        bills.append(_frame(rows, [*dims, "price"], ["units"]).rename(
            columns={f"d{len(dims)}": "price"}))  # fmt: skip
    repliers = _frame(
        _per_person(database, campaigns, dims, "repl q", [_REPLIERS], where=_NOT_HELD_OUT),
        dims, ["repliers"],
    )  # fmt: skip
    converted = _frame(
        _per_person(database, campaigns, dims, "conv c", [CONVERTED, REVENUE],
                    where=_NOT_HELD_OUT),
        dims, ["converted", "revenue"],
    )  # fmt: skip
    frame = _joined(submitted, [delivered, _costs(bills, keys), repliers, converted], keys)
    for name in ("delivered", "billed_delivered", "repliers", "converted", "revenue"):
        frame[name] = frame[name].fillna(0)
    frame["billed"] = frame["billed"] + frame["billed_delivered"]
    return frame[[*keys, *_COUNTS, "price", "billed_on"]]


def _costs(bills: pd.DataFrame | list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """``cost`` per group from rows of (group, ``price``, ``units`` billed at it): the exact
    sum of price x units (prices as the decimals they were set as), as a float; NaN for a
    group where no number has a price.

    Exact rather than summed in floating point one number at a time, which made the last
    digits depend on how many numbers there were and in which order they were added (8,441
    numbers at 0.045 summed to 379.8450000000125, not 379.845)."""
    rows = pd.concat(bills, ignore_index=True) if isinstance(bills, list) else bills
    rows = rows[rows["price"].notna()]
    found = [
        (*(group if isinstance(group, tuple) else (group,)),
         float(sum(Decimal(repr(float(p))) * int(u)
                   for p, u in zip(part["price"], part["units"], strict=True))))
        for group, part in rows.groupby(keys, sort=False, dropna=False)
    ]  # fmt: skip
    return pd.DataFrame(found, columns=[*keys, "cost"]).astype({"cost": "float64"})


#: The reconciliation columns :func:`cost_stats` adds, and the ``by`` it can give them for.
RECONCILE_COLUMNS = ("vendor_count", "expected_count", "count_gap", "balance_gap")
_RECONCILABLE = {"campaign", "vendor"}


def _balance_runs(database, campaigns) -> pd.DataFrame:
    """Per campaign, over its send runs with a balance both before and after: units drawn
    (before - after) and messages expected."""
    where, params = _campaign_filter("campaign", campaigns)
    rows = database.execute(
        "SELECT campaign, SUM(balance_before - balance_after), SUM(expected) FROM balances"
        " WHERE balance_before IS NOT NULL AND balance_after IS NOT NULL"
        f"{' AND ' + where if where else ''} GROUP BY campaign",
        params,
    ).fetchall()
    return pd.DataFrame(rows, columns=["campaign", "vendor_count", "expected_count"])


def _reconcile(frame: pd.DataFrame, runs: pd.DataFrame, dims: list[str]) -> pd.DataFrame:
    """``frame`` with :data:`RECONCILE_COLUMNS`: NA where the groups split an account's run."""
    drawn = pd.Series(pd.NA, index=frame.index, dtype="Float64")
    expected = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    if set(dims) <= _RECONCILABLE and len(runs):
        known = runs.set_index("campaign")
        drawn = frame["campaign"].map(known["vendor_count"]).astype("Float64")
        expected = frame["campaign"].map(known["expected_count"]).astype("Int64")
    whole = drawn.dropna()
    if (whole == whole.round()).all():  # counts of 条, as the vendors give them
        drawn = drawn.round().astype("Int64")
    gap = drawn - expected
    frame["vendor_count"] = drawn
    frame["expected_count"] = expected
    frame["count_gap"] = gap
    frame["balance_gap"] = (gap != 0).astype("boolean")
    return frame
