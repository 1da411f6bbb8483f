"""Tracking links, the clicks on them, and the vendor balances seen around each send run.

- :func:`write_links`: a campaign's codes (its one code, or one per number), each stored once.
- :func:`campaign_links`: the codes a campaign has, to plan again with the same ones.
- :func:`link_urls`: the short link each number's message carries, to render it at send time.
- :func:`link_target`: where a code redirects to (the receiver's ``GET /c/<code>``).
- :func:`write_clicks`: clicks, each stored once (by code, time and agent class).
- :func:`known_codes`: which of some codes exist (to keep the rest as rejected input).
- :func:`write_balance`: one send run's balance before and after, and what it submitted.
- :func:`accepted_messages`: what some batches got accepted, as the vendor bills it.

No phone ever leaves through :func:`link_target`: a code answers with its target only.
Every function that writes runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from campaign.store.connection import Store

__all__ = [
    "CLICK_ROW",
    "LINK_ROW",
    "accepted_messages",
    "campaign_links",
    "known_codes",
    "link_target",
    "link_urls",
    "write_balance",
    "write_clicks",
    "write_links",
]

#: The fields of a link row as the store writes one, in order.
LINK_ROW = ("code", "campaign", "phone", "target", "url", "created_at")
#: The fields of a click row as the store writes one, in order.
CLICK_ROW = ("code", "clicked_at", "agent", "source", "ingested_at")

#: Codes asked about per statement.
_CHUNK = 500


def write_links(store: Store, rows: Iterable[Sequence]) -> int:
    """Store link rows (:data:`LINK_ROW`) not stored yet; returns how many were new.

    A campaign has one code for all its numbers (``phone`` None) or one per number; a code
    or (campaign, phone) stored before is left as it was.
    """
    rows = list(rows)
    if not rows:
        return 0
    before = store.scalar("SELECT COUNT(*) FROM links")
    store.executemany(
        f"INSERT INTO links ({', '.join(LINK_ROW)}) VALUES ({', '.join('?' * len(LINK_ROW))})"
        " ON CONFLICT DO NOTHING",
        rows,
    )
    return int(store.scalar("SELECT COUNT(*) FROM links")) - int(before)


def campaign_links(store: Store, campaign: str) -> list[tuple[str, str | None, str, str]]:
    """(code, phone, target, url) of every link of ``campaign``."""
    return [
        tuple(row)
        for row in store.rows(
            "SELECT code, phone, target, url FROM links WHERE campaign = ? ORDER BY code",
            [campaign],
        )
    ]


def link_urls(store: Store, campaign: str) -> tuple[str | None, dict[str, str]]:
    """The campaign's shared short link (None when it has none) and each number's own."""
    shared, own = None, {}
    for _code, phone, _target, url in campaign_links(store, campaign):
        if phone is None:
            shared = url
        else:
            own[phone] = url
    return shared, own


def link_target(store: Store, code: str) -> str | None:
    """Where ``code`` redirects to, or None for a code the store does not know."""
    return store.scalar("SELECT target FROM links WHERE code = ?", [code])


def known_codes(store: Store, codes: Sequence[str]) -> set[str]:
    """The ones of ``codes`` that are links in the store."""
    found: set[str] = set()
    unique = list(dict.fromkeys(codes))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        found.update(
            code
            for (code,) in store.rows(
                f"SELECT code FROM links WHERE code IN ({', '.join('?' * len(chunk))})", chunk
            )
        )
    return found


def write_clicks(store: Store, rows: Iterable[Sequence]) -> int:
    """Store click rows (:data:`CLICK_ROW`) of known codes not stored yet; returns how many
    were new. A click seen before (same code, time and agent class) is left as it was."""
    rows = list(rows)
    if not rows:
        return 0
    before = store.scalar("SELECT COALESCE(MAX(id), 0) FROM clicks")
    store.executemany(
        f"INSERT INTO clicks ({', '.join(CLICK_ROW)}) VALUES ({', '.join('?' * len(CLICK_ROW))})"
        " ON CONFLICT DO NOTHING",
        rows,
    )
    return int(store.scalar("SELECT COUNT(*) FROM clicks WHERE id > ?", [before]))


def write_balance(
    store: Store,
    campaign: str,
    vendor: str,
    *,
    before: float | None,
    after: float | None,
    expected: int,
    started_at: str,
    finished_at: str,
) -> None:
    """Record one send run: the vendor's balance before and after (None where it gave none)
    and the messages (or calls) the run submitted."""
    store.execute(
        "INSERT INTO balances (campaign, vendor, balance_before, balance_after, expected,"
        " started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [campaign, vendor, before, after, expected, started_at, finished_at],
    )


def accepted_messages(store: Store, campaign: str, batches: Sequence[int]) -> int:
    """The messages the accepted ones of ``batches`` were billed on submission: numbers the
    vendor accepted x the batch's SMS segments (1 for voice and template sends), as the
    vendors draw on the balance (seeds 000-004: 条 per number and segment, a call for voice)."""
    total = 0
    wanted = sorted(set(int(b) for b in batches))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        total += int(
            store.scalar(
                "SELECT COALESCE(SUM(COALESCE(accepted, size) * COALESCE(segments, 1)), 0)"
                " FROM batches WHERE campaign = ? AND state = 'accepted'"
                f" AND batch IN ({', '.join('?' * len(chunk))})",
                [campaign, *chunk],
            )
        )
    return total
