"""Cost: what a campaign was billed, and what each delivered message, reply and order cost."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from campaign.stats._groups import _campaign_filter, _campaigns, _dims, _open, _select, _sent_cte
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
    ``return_on_spend`` (revenue / cost), NaN where there is nothing to divide by.

    >>> cp.set_prices("campaign.db", {"veesing-sms": 0.045})
    >>> cp.cost_stats("campaign.db", campaign="double11-A")[["billed", "cost"]].round(2)
       billed    cost
    0    9379  422.06
    """
    with _open(db) as database:
        campaigns = _campaigns(database, campaign)
        dims = ["campaign", *[d for d in _dims(database, by, campaigns) if d != "campaign"]]
        cte, params = _sent_cte(campaigns)
        where, more = _campaign_filter("r.campaign", campaigns)
        cwhere, cmore = _campaign_filter("campaign", campaigns)
        select, group = _select(dims, "r", database.dialect)
        # a number is billed its batch's segments when it was submitted (billed on submit,
        # or no price set), or only when delivered (billed on delivery)
        billed = (
            "CASE WHEN s.batch IS NULL THEN 0"
            " WHEN pr.billed_on = 'delivery' AND COALESCE(d.status, '') <> 'delivered' THEN 0"
            " ELSE COALESCE(b.segments, 1) END"
        )
        rows = database.execute(
            f"{cte}, conv AS (SELECT campaign, phone, SUM(COALESCE(value, 0)) AS revenue"
            " FROM conversions WHERE campaign IS NOT NULL"
            f"{' AND ' + cwhere if cwhere else ''} GROUP BY campaign, phone),"
            " repl AS (SELECT DISTINCT campaign, phone FROM replies WHERE campaign IS NOT NULL"
            f"{' AND ' + cwhere if cwhere else ''}) "
            f"SELECT {select}"
            " COUNT(s.batch),"
            " COUNT(CASE WHEN s.batch IS NOT NULL AND d.status = 'delivered' THEN 1 END),"
            f" SUM({billed}), SUM(({billed}) * pr.price),"
            " COUNT(CASE WHEN s.batch IS NOT NULL AND q.phone IS NOT NULL THEN 1 END),"
            " COUNT(CASE WHEN s.batch IS NOT NULL AND c.phone IS NOT NULL THEN 1 END),"
            " SUM(CASE WHEN s.batch IS NOT NULL THEN COALESCE(c.revenue, 0) ELSE 0 END),"
            " MAX(pr.price), MAX(pr.billed_on)"
            " FROM recipients r JOIN batches b ON b.campaign = r.campaign AND b.batch = r.batch"
            " LEFT JOIN sent s ON s.campaign = r.campaign AND s.batch = r.batch"
            " LEFT JOIN deliveries d ON d.campaign = r.campaign AND d.phone = r.phone"
            " LEFT JOIN conv c ON c.campaign = r.campaign AND c.phone = r.phone"
            " LEFT JOIN repl q ON q.campaign = r.campaign AND q.phone = r.phone"
            " LEFT JOIN prices pr ON pr.vendor = b.vendor"
            f" WHERE b.state <> 'held_out'{' AND ' + where if where else ''} GROUP BY {group}",
            [*params, *cmore, *cmore, *more],
        ).fetchall()
        frame = _frame(rows, dims, [*_COUNTS, "price", "billed_on"])
        frame = _finish_dims(frame, dims)
    for name in ("submitted", "delivered", "billed", "repliers", "converted"):
        frame[name] = frame[name].fillna(0).astype("int64")
    for name in ("cost", "revenue", "price"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, by_what in (("cost_per_delivered", "delivered"), ("cost_per_reply", "repliers"),
                              ("cost_per_conversion", "converted")):  # fmt: skip
            frame[name] = np.where(frame[by_what] > 0, frame["cost"] / frame[by_what], np.nan)
        frame["return_on_spend"] = np.where(
            frame["cost"] > 0, frame["revenue"] / frame["cost"], np.nan
        )
    frame["billed_on"] = frame["billed_on"].astype(object).where(frame["billed_on"].notna(), None)
    columns = [
        *dims, "submitted", "delivered", "billed", "price", "billed_on", "cost", "repliers",
        "converted", "revenue", "cost_per_delivered", "cost_per_reply", "cost_per_conversion",
        "return_on_spend",
    ]  # fmt: skip
    frame = _sort(frame[columns], dims).reset_index(drop=True)
    return _by(frame, dims)
