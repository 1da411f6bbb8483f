"""Clicks per group, for funnel_stats and cost_stats: what can be counted, and what cannot.

A campaign's links are either one shared code for every number, or one code per number
(``links.phone``). Clicks by bots (:mod:`campaign.agents`: crawlers, link previews) are left
out everywhere. Then, per campaign:

- per-number codes: ``clicks`` (clicks on the codes of its submitted numbers) and
  ``clicked`` (submitted numbers with a click on their own code), for any grouping;
- one shared code: nobody's click can be told from another's, so ``clicked`` is NA, and
  ``clicks`` (every click on the campaign's codes) is known only for the whole campaign:
  NA in a split by carrier, province or any other group;
- no link at all: both NA (nothing was there to click).
"""

from __future__ import annotations

import pandas as pd

from campaign.stats._groups import _campaign_filter, _per_person, _per_recipient, _rolled_up
from campaign.store import Store

#: Clicks that count: not a bot's.
_PERSON = "k.agent <> 'bot'"


def _clicks(database: Store, campaigns: list[str] | None, dims: list[str]) -> pd.DataFrame:
    """``d0``... (the raw dimension values, ``dims[0]`` being campaign), ``clicks`` and
    ``clicked`` (Int64, NA where they cannot be known; see the module docstring). Of the
    campaigns with a code per number (``attrs["own"]``) only the groups with a click have a
    row: the others have 0."""
    keys = [f"d{i}" for i in range(len(dims))]
    where, params = _campaign_filter("l.campaign", campaigns)
    kinds = {
        name: (bool(shared), int(total))
        for name, shared, total in database.execute(
            "SELECT l.campaign, MAX(CASE WHEN l.phone IS NULL THEN 1 ELSE 0 END), COUNT(k.id)"
            f" FROM links l LEFT JOIN clicks k ON k.code = l.code AND {_PERSON}"
            f"{' WHERE ' + where if where else ''} GROUP BY l.campaign",
            params,
        ).fetchall()
    }
    own = [name for name, (shared, _) in kinds.items() if not shared]
    if own:
        cte_where, cte_params = _campaign_filter("l.campaign", own)
        clickers = (
            ", own AS (SELECT l.campaign, l.phone, COUNT(*) AS clicks FROM links l"
            f" JOIN clicks k ON k.code = l.code WHERE l.phone IS NOT NULL AND {_PERSON}"
            f" AND {cte_where} GROUP BY l.campaign, l.phone)"
        )
        measures = [
            "SUM(CASE WHEN s.batch IS NOT NULL THEN COALESCE(o.clicks, 0) ELSE 0 END)",
            "COUNT(CASE WHEN s.batch IS NOT NULL AND o.clicks > 0 THEN 1 END)",
        ]
        if _rolled_up(dims):  # the numbers that clicked, each joined to its recipient
            rows = _per_person(database, own, dims, "own o", measures,
                               people_cte=(clickers, cte_params))  # fmt: skip
        else:  # every recipient of those campaigns, for its contact-list columns
            rows = _per_recipient(
                database, own, dims, measures, ctes=clickers, ctes_params=cte_params,
                joins=" LEFT JOIN own o ON o.campaign = r.campaign AND o.phone = r.phone",
            )  # fmt: skip
        frame = pd.DataFrame(rows, columns=[*keys, "clicks", "clicked"])
    else:
        frame = pd.DataFrame(columns=[*keys, "clicks", "clicked"])
    shared = [(name, total) for name, (is_shared, total) in kinds.items() if is_shared]
    if shared and len(dims) == 1:  # the whole campaign: its clicks are known, not by whom
        whole = pd.DataFrame(
            [(name, total, None) for name, total in shared], columns=[*keys, "clicks", "clicked"]
        )
        frame = pd.concat([frame, whole], ignore_index=True) if len(frame) else whole
    for name in ("clicks", "clicked"):
        frame[name] = pd.array(
            [None if pd.isna(v) else int(v) for v in frame[name].tolist()], dtype="Int64"
        )
    frame.attrs["own"] = own  # their groups without a click have 0, not NA
    return frame


def _with_clicks(
    frame: pd.DataFrame, database: Store, campaigns: list[str] | None, dims: list[str]
) -> pd.DataFrame:
    """``frame`` (dimension columns still ``d0``...) with ``clicks`` and ``clicked``."""
    keys = [f"d{i}" for i in range(len(dims))]
    found = _clicks(database, campaigns, dims)
    if not len(found) and not found.attrs["own"]:
        return frame.assign(
            clicks=pd.array([pd.NA] * len(frame), dtype="Int64"),
            clicked=pd.array([pd.NA] * len(frame), dtype="Int64"),
        )
    for key in keys:  # the same values on both sides, whatever pandas made of them
        found[key] = found[key].astype(object)
    merged = frame.astype({k: object for k in keys}).merge(found, on=keys, how="left")
    merged.index = frame.index
    for key in keys:
        merged[key] = frame[key]
    nobody = merged[keys[0]].isin(found.attrs["own"])  # numbers with links, no click
    for name in ("clicks", "clicked"):
        merged[name] = merged[name].mask(nobody & merged[name].isna(), 0)
    return merged
