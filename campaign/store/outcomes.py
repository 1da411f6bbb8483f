"""What campaigns caused: conversions (orders, sign-ups) and who each could be attributed to.

- :func:`exposures`: for some phones, every campaign that sent to them or held them out, and
  when: a sent number's batch ``submitted_at``; a held-out number's campaign's first send.
- :func:`write_conversions`: conversion rows, each stored once (by order id, else by phone,
  time and value): ingesting an export again changes nothing.
- :func:`set_price`: what a vendor charges, replacing what was set before.

Every function runs inside the caller's transaction where it writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from campaign.store.connection import Store

__all__ = ["CONVERSION_ROW", "exposures", "set_price", "write_conversions"]

#: The fields of a conversion row as the store writes one, in order.
CONVERSION_ROW = (
    "order_id", "phone", "converted_at", "value", "campaign", "held_out", "source",
    "ingested_at",
)  # fmt: skip

_INSERT = (
    f"INSERT INTO conversions ({', '.join(CONVERSION_ROW)})"
    f" VALUES ({', '.join('?' * len(CONVERSION_ROW))}) ON CONFLICT DO NOTHING"
)

# Sent: the batch went to the vendor (accepted, or its outcome unknown: the people in it may
# have the message). Held out: the campaign's first send is when its holdout began.
_EXPOSURES = """
SELECT r.phone, r.campaign, CASE WHEN b.state = 'held_out' THEN 1 ELSE 0 END,
       CASE WHEN b.state = 'held_out' THEN (
           SELECT MIN(s.submitted_at) FROM batches AS s
           WHERE s.campaign = r.campaign AND s.state IN ('accepted', 'unknown'))
       ELSE b.submitted_at END
FROM recipients AS r
JOIN batches AS b ON b.campaign = r.campaign AND b.batch = r.batch
WHERE r.phone IN ({phones}) AND b.state IN ('accepted', 'unknown', 'held_out'){only}
"""

#: Phones asked about per statement.
_CHUNK = 500


def exposures(
    store: Store, phones: Sequence[str], *, campaign: str | None = None
) -> list[tuple[str, str, int, str | None]]:
    """(phone, campaign, held_out, exposed_at) for every campaign that sent to one of
    ``phones`` or held it out (only ``campaign`` when given); ``exposed_at`` is None for the
    holdout of a campaign that has sent nothing yet."""
    found: list[tuple[str, str, int, str | None]] = []
    unique = list(dict.fromkeys(phones))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        sql = _EXPOSURES.format(
            phones=", ".join("?" * len(chunk)), only=" AND r.campaign = ?" if campaign else ""
        )
        found += [
            tuple(row) for row in store.rows(sql, [*chunk, *([campaign] if campaign else [])])
        ]
    return found


def write_conversions(store: Store, rows: Iterable[tuple]) -> tuple[int, int]:
    """Store conversion rows (:data:`CONVERSION_ROW`) not stored yet, inside the caller's
    transaction; returns (new rows, of them attributed to a campaign)."""
    rows = list(rows)
    if not rows:
        return 0, 0
    before = store.scalar("SELECT COALESCE(MAX(id), 0) FROM conversions")
    store.executemany(_INSERT, rows)
    new, attributed = store.one(
        "SELECT COUNT(*), COUNT(campaign) FROM conversions WHERE id > ?", [before]
    )
    return int(new), int(attributed)


def set_price(store: Store, vendor: str, price: float, billed_on: str, stamp: str) -> None:
    """Set ``vendor``'s price (per billed message or call) and when it bills, inside the
    caller's transaction."""
    store.execute(
        "INSERT INTO prices (vendor, price, billed_on, set_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (vendor) DO UPDATE SET price = excluded.price,"
        " billed_on = excluded.billed_on, set_at = excluded.set_at",
        [vendor, price, billed_on, stamp],
    )
