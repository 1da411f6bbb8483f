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

    >>> cp.set_prices("campaign.db", {"veesing-sms": 0.045})
    >>> cp.cost_stats("campaign.db", campaign="double11-A")[["billed", "cost"]].round(2)
       billed    cost
    0    9379  422.06
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
    return _by(frame, dims)
