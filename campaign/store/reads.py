"""The reads that planning, sending and the report need (the statistics build their own).

Each takes a :class:`~campaign.store.Store` and returns plain Python values.
"""

from __future__ import annotations

from typing import Any

from campaign.store.connection import Store

__all__ = [
    "batch_summary",
    "campaign_info",
    "daily_count_phones",
    "last_sent_between",
    "latest_replies",
    "opted_out_phones",
    "sent_between",
]

#: Batch states in which the vendor has, or may have, the numbers.
_SENT_STATES = "('submitting', 'accepted', 'unknown')"

# a scheduled campaign reaches people at its send_at, not when it was submitted
_SENT_AT = "COALESCE(c.send_at, b.submitted_at)"
_SENT_FROM = (
    "FROM recipients r JOIN batches b USING (campaign, batch) "
    "JOIN campaigns c ON c.name = b.campaign "
    f"WHERE b.vendor = ? AND b.state IN {_SENT_STATES} "
    f"AND {_SENT_AT} > ? AND {_SENT_AT} < ?"
)
_SENT = f"SELECT r.phone {_SENT_FROM}"


def opted_out_phones(store: Store) -> Any:
    """Every number that ever replied an opt-out (rows of one phone)."""
    return store.execute("SELECT DISTINCT phone FROM replies WHERE opt_out = 1")


def sent_between(store: Store, vendor: str, start: str, end: str) -> Any:
    """Numbers ``vendor`` sent to (or may have) with a send time strictly between the two
    ISO-8601 times (rows of one phone, a number once per campaign)."""
    return store.execute(_SENT, [vendor, start, end])


def last_sent_between(store: Store, vendor: str, start: str, end: str) -> Any:
    """Rows of (phone, latest send time) for the numbers :func:`sent_between` finds."""
    return store.execute(
        f"SELECT r.phone, MAX({_SENT_AT}) {_SENT_FROM} GROUP BY r.phone", [vendor, start, end]
    )


def daily_count_phones(store: Store, vendor: str, start: str, end: str, cap: int) -> Any:
    """Numbers ``vendor`` sent to at least ``cap`` times between the two times."""
    return store.execute(
        f"SELECT phone FROM ({_SENT}) GROUP BY phone HAVING COUNT(*) >= ?",
        [vendor, start, end, cap],
    )


def campaign_info(store: Store, campaign: str) -> dict[str, Any]:
    """vendor, channel, content, template_id and created_at of a campaign."""
    names = ("vendor", "channel", "content", "template_id", "created_at")
    row = store.one(
        "SELECT vendor, channel, content, template_id, created_at FROM campaigns WHERE name = ?",
        [campaign],
    )
    return dict(zip(names, row or (None,) * len(names), strict=True))


def batch_summary(store: Store, campaign: str) -> dict[str, Any]:
    """first and last submitted_at, batches, accepted / rejected / unknown batches, the
    numbers the vendor said it accepted (``vendor_accepted``), those held out, and the
    batches and numbers that expired unsent (``expired``, ``expired_numbers``)."""
    row = store.one(
        "SELECT MIN(submitted_at), MAX(submitted_at), COUNT(*),"
        " SUM(CASE WHEN state = 'accepted' THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN state = 'rejected' THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN state = 'unknown' THEN 1 ELSE 0 END),"
        " SUM(accepted), SUM(CASE WHEN state = 'held_out' THEN size ELSE 0 END),"
        " SUM(CASE WHEN state = 'expired' THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN state = 'expired' THEN size ELSE 0 END)"
        " FROM batches WHERE campaign = ?",
        [campaign],
    )
    names = ("first", "last", "batches", "accepted", "rejected", "unknown", "vendor_accepted",
             "held_out", "expired", "expired_numbers")  # fmt: skip
    return dict(zip(names, row, strict=True))


def latest_replies(store: Store, campaign: str, limit: int) -> list[tuple]:
    """The campaign's latest replies: (phone, content, received_at, opt_out), newest first."""
    return store.rows(
        "SELECT phone, content, received_at, opt_out FROM replies WHERE campaign = ?"
        " ORDER BY received_at DESC NULLS LAST, id DESC LIMIT ?",
        [campaign, limit],
    )


def outcome_kinds(store: Store, campaign: str) -> dict[str, bool]:
    """Whether ``campaign`` has conversions attributed to it, a holdout, a price set for its
    vendor, and tracking links: four index lookups, so a report need not compute what is not
    there."""
    row = store.one(
        "SELECT EXISTS (SELECT 1 FROM conversions WHERE campaign = ?1),"
        " EXISTS (SELECT 1 FROM batches WHERE campaign = ?1 AND state = 'held_out'),"
        " EXISTS (SELECT 1 FROM prices p JOIN campaigns c ON c.vendor = p.vendor"
        " WHERE c.name = ?1),"
        # each half matches one of the two partial indexes of links
        " EXISTS (SELECT 1 FROM links WHERE campaign = ?1 AND phone IS NULL)"
        " OR EXISTS (SELECT 1 FROM links WHERE campaign = ?1 AND phone IS NOT NULL)",
        [campaign],
    )
    return dict(zip(("conversions", "holdout", "price", "links"), map(bool, row), strict=True))
