"""Voice: calls answered and how long they were listened to (voice campaigns only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from campaign.errors import InputError
from campaign.stats._groups import _campaigns, _dims, _open
from campaign.stats._intervals import _percentiles, _with_rate
from campaign.stats._tables import _by, _counts, _finish_dims, _histogram, _sort
from campaign.store import DbLike, Store

__all__ = ["talk_time_distribution", "voice_stats"]


def _voice_campaigns(database: Store, campaigns: list[str] | None) -> list[str]:
    channel = dict(database.execute("SELECT name, channel FROM campaigns").fetchall())
    if campaigns is None:
        return sorted(n for n, c in channel.items() if c == "voice")
    other = [n for n in campaigns if channel.get(n) != "voice"]
    if other:
        raise InputError(
            f"{', '.join(map(repr, other))} is not a voice campaign "
            f"({', '.join(channel[n] for n in other)}): voice statistics need talk time"
        )
    return campaigns


def talk_time_distribution(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """How long answered voice calls were listened to: a histogram per group.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``talk_seconds`` (whole seconds, > 0) and ``calls`` (count).

    Examples
    --------
    >>> cp.talk_time_distribution("campaign.db", campaign="voice-notice").head(3)
       talk_seconds  calls
    0             3      1
    1             4      3
    2             5      3
    """
    database = _open(db)
    campaigns = _voice_campaigns(database, _campaigns(database, campaign))
    dims = _dims(database, by, campaigns)
    frame = _histogram(database, campaigns, dims, "d.talk_seconds", "d.talk_seconds > 0")
    frame = _finish_dims(frame.rename(columns={"value": "talk_seconds", "n": "calls"}), dims)
    return _by(_sort(frame, [*dims, "talk_seconds"]), dims)


def voice_stats(
    db: DbLike, *, campaign: str | Sequence[str] | None = None, by: str | list[str] | None = None
) -> pd.DataFrame:
    """Voice calls answered and talk time per group (voice campaigns only).

    ``campaign=None`` takes every voice campaign; naming an SMS campaign is an error.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``calls`` (numbers submitted), ``reported`` (with a receipt),
        ``answered`` (latest receipt has talk_seconds > 0), ``answer_rate`` = answered /
        calls with ``answer_ci_low``/``answer_ci_high`` (a call still without a receipt
        counts as not answered), ``reported_answer_rate`` = answered / reported with
        ``reported_answer_ci_low``/``reported_answer_ci_high`` (only calls with a receipt:
        pending calls do not count as unanswered; fractions, 95% Wilson), and
        ``talk_mean``, ``talk_p50``, ``talk_p90`` (seconds, over answered calls).

    Examples
    --------
    >>> voice = cp.voice_stats("campaign.db", by="province")
    >>> voice[["province", "calls", "answered", "answer_rate", "talk_p50"]].head(3)
      province  calls  answered  answer_rate  talk_p50
    0       上海      5         3          0.6      13.0
    1       云南      1         1          1.0      14.0
    2      内蒙古      4         2          0.5       3.0
    """
    database = _open(db)
    campaigns = _voice_campaigns(database, _campaigns(database, campaign))
    dims = _dims(database, by, campaigns)
    keys = [f"d{i}" for i in range(len(dims))]
    columns = [
        *dims,
        "calls",
        "reported",
        "answered",
        "answer_rate",
        "answer_ci_low",
        "answer_ci_high",
        "reported_answer_rate",
        "reported_answer_ci_low",
        "reported_answer_ci_high",
        "talk_mean",
        "talk_p50",
        "talk_p90",
    ]
    if not campaigns:
        return _by(pd.DataFrame(columns=columns), dims)
    counts = _counts(database, campaigns, dims)
    counts["reported"] = counts["delivered"] + counts["failed"] + counts["unknown"]
    hist = _histogram(database, campaigns, dims, "d.talk_seconds", "d.talk_seconds > 0")
    talk = _percentiles(hist, keys, "value", "n", (0.5, 0.9)).rename(
        columns={"count": "answered", "mean": "talk_mean", "p50": "talk_p50", "p90": "talk_p90"}
    )
    frame = (
        counts.merge(talk, on=keys, how="left")
        if keys
        else pd.concat([counts, talk], axis=1)
        if len(talk)
        else counts.assign(answered=0)
    )
    frame = frame.rename(columns={"submitted": "calls"})
    frame["answered"] = frame["answered"].fillna(0).astype("int64")
    for name in ("talk_mean", "talk_p50", "talk_p90"):
        if name not in frame:
            frame[name] = np.nan
    _with_rate(frame, "answer_rate", "answered", "calls")
    _with_rate(frame, "reported_answer_rate", "answered", "reported")
    frame = _finish_dims(frame, dims)
    return _by(_sort(frame[columns], dims), dims)
