"""The funnel: from the numbers planned to those that converted, and the lift over a holdout."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from campaign.errors import InputError
from campaign.stats._clicks import _with_clicks
from campaign.stats._groups import (
    CONVERTED,
    DELIVERED,
    REVENUE,
    SUBMITTED,
    _campaigns,
    _dims,
    _joined,
    _open,
    _per_cell,
    _per_person,
    _per_recipient,
    _rolled_up,
)
from campaign.stats._intervals import _with_rate, two_proportion_test
from campaign.stats._tables import _by, _finish_dims, _frame, _sort
from campaign.store import DbLike

__all__ = ["funnel_stats"]

#: Dimensions a holdout has: it was never sent, so it has no batch of its own, no send time.
_NOT_FOR_HOLDOUTS = ("batch", "send_hour", "send_day")

_COUNTS = (
    "recipients", "submitted", "delivered", "converted", "revenue", "held_out",
    "held_out_converted", "held_out_revenue",
)  # fmt: skip


def funnel_stats(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """What each campaign caused: numbers planned, submitted, delivered, clicked and
    converted, and the conversion rate against its holdout.

    Conversions are those :func:`campaign.ingest_conversions` attributed to the campaign;
    clicks those on its tracking links (the receiver's ``GET /c/<code>``, or
    :func:`campaign.ingest_clicks`), bots' and link previews' left out.
    Returns one row per campaign (and ``by`` group: carrier, province, city, vendor or a
    contact-list column): ``recipients`` (numbers to send, the holdout apart),
    ``submitted``, ``delivered`` with ``delivery_rate`` (of submitted); ``clicks`` (clicks
    not by bots) and ``clicked`` (submitted numbers with such a click on their own link)
    with ``click_rate`` (clicked / delivered); ``converted``
    (submitted numbers with a conversion) with ``conversion_rate`` (of submitted), ``revenue``
    (their conversions' value); for a campaign with a holdout ``held_out``,
    ``held_out_converted``, ``held_out_rate`` and ``held_out_revenue``; ``lift`` =
    conversion_rate - held_out_rate with its 95% interval ``lift_ci_low``/``lift_ci_high``
    (Newcombe) and ``lift_p_value`` (two-proportion z-test), ``relative_lift`` (lift /
    held_out_rate), ``incremental_conversions`` (lift x submitted) and
    ``incremental_revenue`` (revenue per submitted number minus per held-out one, x
    submitted). Rates are fractions with 95% Wilson intervals (``*_ci_low``/``*_ci_high``);
    holdout figures are NaN without a holdout.

    Who clicked is known only where each number had its own link: with one link shared by
    the whole campaign, ``clicked``, ``click_rate`` and its interval are NA, and ``clicks``
    is the campaign's total, known without ``by`` (or ``by="campaign"``) and NA in a split
    by carrier, province or any other group. A campaign without links has NA for all of
    them. ``clicks`` and ``clicked`` are nullable integers (``Int64``).

    >>> cp.funnel_stats("campaign.db", campaign="double11-A")[["submitted", "converted"]]
       submitted  converted
    0       8441        218
    >>> table = cp.funnel_stats("campaign.db", campaign="double11-A")
    >>> table[["delivered", "clicks", "clicked", "click_rate"]]  # one link for all: who is NA
       delivered  clicks  clicked  click_rate
    0       7917     629     <NA>         NaN
    """
    with _open(db) as database:
        campaigns = _campaigns(database, campaign)
        dims = [d for d in _dims(database, by, campaigns) if d != "campaign"]
        bad = [d for d in dims if d in _NOT_FOR_HOLDOUTS]
        if bad:
            raise InputError(
                f"funnel_stats by {', '.join(bad)}: a holdout is never sent, so it has no batch "
                "or send time; group by carrier, province, city, vendor or a list column"
            )
        dims = ["campaign", *dims]
        if _rolled_up(dims):
            frame = _from_rollups(database, campaigns, dims)
        else:
            frame = _per_recipient_frame(database, campaigns, dims)
        frame = _with_clicks(frame, database, campaigns, dims)
        frame = _finish_dims(frame, dims)
    for name in _COUNTS:
        kind = "float64" if name.endswith("revenue") else "int64"
        frame[name] = frame[name].fillna(0).astype(kind)
    _with_rate(frame, "delivery_rate", "delivered", "submitted")
    frame["click_rate"] = frame["clicked"].to_numpy(dtype="float64", na_value=np.nan)
    _with_rate(frame, "click_rate", "click_rate", "delivered")  # NA where clicked is
    _with_rate(frame, "conversion_rate", "converted", "submitted")
    _with_rate(frame, "held_out_rate", "held_out_converted", "held_out")
    lifts = [_lift(row) for row in frame.itertuples()]
    for i, name in enumerate(("lift", "lift_ci_low", "lift_ci_high", "lift_p_value")):
        frame[name] = [lift[i] for lift in lifts]
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["relative_lift"] = np.where(
            frame["held_out_rate"] > 0, frame["lift"] / frame["held_out_rate"], np.nan
        )
        per_sent = np.where(frame["submitted"] > 0, frame["revenue"] / frame["submitted"], np.nan)
        per_held = np.where(
            frame["held_out"] > 0, frame["held_out_revenue"] / frame["held_out"], np.nan
        )
    frame["incremental_conversions"] = frame["lift"] * frame["submitted"]
    frame["incremental_revenue"] = (per_sent - per_held) * frame["submitted"]
    columns = [
        *dims, "recipients", "submitted", "delivered", "delivery_rate", "delivery_ci_low",
        "delivery_ci_high", "clicks", "clicked", "click_rate", "click_ci_low", "click_ci_high",
        "converted", "conversion_rate", "conversion_ci_low",
        "conversion_ci_high", "revenue", "held_out", "held_out_converted", "held_out_rate",
        "held_out_ci_low", "held_out_ci_high", "held_out_revenue", "lift", "lift_ci_low",
        "lift_ci_high", "lift_p_value", "relative_lift", "incremental_conversions",
        "incremental_revenue",
    ]  # fmt: skip
    frame = _sort(frame[columns], dims).reset_index(drop=True)
    return _by(frame, dims)


#: Measures of the held-out numbers, over recipients (per recipient) or people (conv c).
_HELD_OUT_CONVERTED = "COUNT(CASE WHEN b.state = 'held_out' AND c.phone IS NOT NULL THEN 1 END)"
_HELD_OUT_REVENUE = "SUM(CASE WHEN b.state = 'held_out' THEN COALESCE(c.revenue, 0) ELSE 0 END)"


def _per_recipient_frame(database, campaigns, dims: list[str]) -> pd.DataFrame:
    """The counts over every recipient: the way for any ``by``, a contact-list column too."""
    rows = _per_recipient(database, campaigns, dims, [
        "COUNT(CASE WHEN b.state <> 'held_out' THEN 1 END)", SUBMITTED, DELIVERED,
        CONVERTED, REVENUE, "COUNT(CASE WHEN b.state = 'held_out' THEN 1 END)",
        _HELD_OUT_CONVERTED, _HELD_OUT_REVENUE,
    ])  # fmt: skip
    return _frame(rows, dims, list(_COUNTS))


def _from_rollups(database, campaigns, dims: list[str]) -> pd.DataFrame:
    """The same counts as :func:`_per_recipient_frame`, for standard dimensions, without
    reading every recipient: recipients, submitted and held_out from ``recipient_counts``,
    delivered from ``delivery_counts``, the conversions from the numbers that converted.
    The groups are those with recipients, as there."""
    keys = [f"d{i}" for i in range(len(dims))]
    counts = _frame(_per_cell(database, campaigns, dims, "recipient_counts", [
        "SUM(CASE WHEN b.state <> 'held_out' THEN c.n ELSE 0 END)",
        "SUM(CASE WHEN s.batch IS NOT NULL THEN c.n ELSE 0 END)",
        "SUM(CASE WHEN b.state = 'held_out' THEN c.n ELSE 0 END)",
    ]), dims, ["recipients", "submitted", "held_out"])  # fmt: skip
    delivered = _frame(_per_cell(
        database, campaigns, dims, "delivery_counts",
        ["SUM(CASE WHEN s.batch IS NOT NULL THEN c.n ELSE 0 END)"], where="c.status = 'delivered'",
    ), dims, ["delivered"])  # fmt: skip
    converted = _frame(_per_person(
        database, campaigns, dims, "conv c",
        [CONVERTED, REVENUE, _HELD_OUT_CONVERTED, _HELD_OUT_REVENUE],
    ), dims, ["converted", "revenue", "held_out_converted", "held_out_revenue"])  # fmt: skip
    frame = _joined(counts, [delivered, converted], keys)
    for name in ("delivered", "converted", "held_out_converted"):
        frame[name] = frame[name].fillna(0).astype("int64")
    for name in ("revenue", "held_out_revenue"):  # 0 without a conversion, as a SUM of 0s
        frame[name] = frame[name].fillna(0)
    return frame[[*keys, *_COUNTS]]


def _lift(row) -> tuple[float, float, float, float]:
    if not row.held_out or not row.submitted:
        return (np.nan,) * 4
    test = two_proportion_test(row.converted, row.submitted, row.held_out_converted, row.held_out)
    return test["difference"], test["ci_low"], test["ci_high"], test["p_value"]
