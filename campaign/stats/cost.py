"""Cost: what a campaign was billed, and what each delivered message, reply and order cost."""

from __future__ import annotations

from collections.abc import Sequence

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
    _open,
    _per_recipient,
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
    >>> cp.cost_stats("campaign.db", campaign="double11-A")[["billed", "cost"]].round(2)
       billed    cost
    0    8441  379.85
    """
    with _open(db) as database:
        campaigns = _campaigns(database, campaign)
        dims = ["campaign", *[d for d in _dims(database, by, campaigns) if d != "campaign"]]
        # a number is billed its batch's segments when it was submitted (billed on submit,
        # or no price set), or only when delivered (billed on delivery)
        billed = (
            "CASE WHEN s.batch IS NULL THEN 0"
            " WHEN pr.billed_on = 'delivery' AND COALESCE(d.status, '') <> 'delivered' THEN 0"
            " ELSE COALESCE(b.segments, 1) END"
        )
        replied, params = _campaign_filter("campaign", campaigns)
        rows = _per_recipient(
            database, campaigns, dims,
            [SUBMITTED, DELIVERED, f"SUM({billed})", f"SUM(({billed}) * pr.price)",
             "COUNT(CASE WHEN s.batch IS NOT NULL AND q.phone IS NOT NULL THEN 1 END)",
             CONVERTED, REVENUE, "MAX(pr.price)", "MAX(pr.billed_on)"],
            ctes=", repl AS (SELECT DISTINCT campaign, phone FROM replies WHERE campaign IS"
            f" NOT NULL{' AND ' + replied if replied else ''})",
            ctes_params=params,
            joins=" LEFT JOIN repl q ON q.campaign = r.campaign AND q.phone = r.phone"
            " LEFT JOIN prices pr ON pr.vendor = b.vendor",
            where="b.state <> 'held_out'",
        )  # fmt: skip
        frame = _frame(rows, dims, [*_COUNTS, "price", "billed_on"])
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
