"""Receipts, replies and rejected input into the store: once, linked, rolled up.

Everything that moves delivery data forward sits here, side by side:

- :func:`write_records`: parsed receipts are linked to their campaign and batch through
  ``batches(vendor, task_id)`` (when two batches carry the task id: the one that sent to the
  phone, else the latest submitted) and stored once (``receipts_once``); ``matched`` is 1 when
  the phone is a recipient of that batch. Matched receipts move ``deliveries`` forward: one
  row per (campaign, phone) holding its latest receipt (latest ``received_at``, ties by id),
  so an older receipt arriving later never overwrites a newer one; ``delivery_counts``
  follows by the schema's triggers. Replies are linked to the task's campaign, else to the
  campaign that last sent to the phone through the vendor. Unparseable input goes to
  ``rejected``.
- :func:`relink`: receipts stored before their task id was known are linked once it is.

Rows come already normalised (see :data:`RECEIPT_ROW` and :data:`REPLY_ROW`); every function
runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from campaign.clock import now
from campaign.store.connection import Store
from campaign.store.engine import Engine
from campaign.store.schema import RECEIPT_ROW, REPLY_ROW

__all__ = [
    "RECEIPT_ROW",
    "REPLY_ROW",
    "Written",
    "keep_rejected",
    "known_tasks",
    "last_receipt_id",
    "relink",
    "unlinked_since",
    "write_records",
]


class Written(NamedTuple):
    """What :func:`write_records` stored: new rows, rows already there (or repeated in the
    input), rejected rows kept."""

    inserted: int
    duplicates: int
    rejected: int


# Two batches can carry the same (vendor, task id): a vendor that restarts its counter, two
# simulator sessions writing into one store. A receipt or reply goes to the batch that sent to
# its phone, else the latest submitted (the row number of that batch). Most tasks are carried
# by one batch: counting them is one seek in batches_by_task, and only a task several batches
# carry is ranked (ranking every receipt, a sort each, cost 0.7 s of a million's 3 s insert).
_BATCH_OF = """(
    SELECT CASE WHEN COUNT(*) > 1 THEN (
        SELECT c.{rowid} FROM batches AS c
        LEFT JOIN recipients AS q
            ON q.campaign = c.campaign AND q.phone = {phone} AND q.batch = c.batch
        WHERE c.vendor = {vendor} AND c.task_id = {task}
        ORDER BY q.phone IS NULL, c.submitted_at DESC NULLS LAST, c.{rowid} DESC
        LIMIT 1) ELSE MIN(one.{rowid}) END
    FROM batches AS one WHERE one.vendor = {vendor} AND one.task_id = {task})"""

# Set-based: the parsed rows go to a temporary table (no indexes: cheap), then one statement
# links them to batches and recipients and inserts them; duplicates fall on receipts_once.
_INSERT_RECEIPTS = """
INSERT INTO receipts ({columns}, campaign, batch, matched, ingested_at)
SELECT {staged}, b.campaign, b.batch, CASE WHEN r.phone IS NULL THEN 0 ELSE 1 END, ?
FROM {incoming} AS v
LEFT JOIN batches AS b ON b.{rowid} = {batch_of}
LEFT JOIN recipients AS r ON r.campaign = b.campaign AND r.phone = v.phone AND r.batch = b.batch
WHERE true
ORDER BY v.seq
ON CONFLICT DO NOTHING
"""

# The latest receipt per (campaign, phone) wins: a row only replaces one that is older
# (received_at, then id), so out-of-order arrival is harmless. {latest} picks, among the new
# rows, the latest per recipient (SQLite applies them in id order and needs no picking).
_UPSERT_DELIVERIES = """
INSERT INTO deliveries (campaign, phone, batch, vendor, task_id, status, code, reason,
                        received_at, talk_seconds, carrier, province, city, profile,
                        receipt_id)
SELECT {latest} x.campaign, x.phone, x.batch, x.vendor, x.task_id, x.status, x.code, x.reason,
       x.received_at, x.talk_seconds, r.carrier, r.province, r.city, r.profile, x.id
FROM receipts AS x
JOIN recipients AS r ON r.campaign = x.campaign AND r.phone = x.phone
WHERE {{where}} AND x.matched = 1
ORDER BY {order}
ON CONFLICT (campaign, phone) DO UPDATE SET
    batch = excluded.batch, vendor = excluded.vendor, task_id = excluded.task_id,
    status = excluded.status, code = excluded.code, reason = excluded.reason,
    received_at = excluded.received_at, talk_seconds = excluded.talk_seconds,
    receipt_id = excluded.receipt_id
WHERE COALESCE(excluded.received_at, '') > COALESCE(deliveries.received_at, '')
   OR (COALESCE(excluded.received_at, '') = COALESCE(deliveries.received_at, '')
       AND excluded.receipt_id > deliveries.receipt_id)
"""

# Receipts that arrived before their task id was recorded (a fast receipt racing the send's
# own bookkeeping): link them now that the batch is known.
_RELINK = """
UPDATE receipts SET campaign = b.campaign, batch = b.batch, matched = CASE WHEN EXISTS (
    SELECT 1 FROM recipients AS r
    WHERE r.campaign = b.campaign AND r.phone = receipts.phone AND r.batch = b.batch)
    THEN 1 ELSE 0 END
FROM batches AS b
WHERE {{where}} AND receipts.campaign IS NULL AND receipts.task_id IS NOT NULL
  AND b.{rowid} = {batch_of}
RETURNING receipts.id
"""

# The reply's task names its batch (as for receipts); without a known task, the campaign that
# last sent to the phone through this vendor, in a batch the vendor took (not a rejected one).
_INSERT_REPLY = """
INSERT INTO replies (vendor, task_id, phone, content, received_at, opt_out, campaign,
                     ingested_at)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, COALESCE(
    (SELECT b.campaign FROM batches AS b WHERE b.{rowid} = {batch_of}),
    (SELECT b.campaign FROM recipients AS r
     JOIN batches AS b ON b.campaign = r.campaign AND b.batch = r.batch
     WHERE r.phone = ?3 AND b.vendor = ?1 AND b.submitted_at IS NOT NULL
       AND b.state IN ('accepted', 'unknown', 'submitting')
     ORDER BY b.submitted_at <= COALESCE(?5, b.submitted_at) DESC, b.submitted_at DESC
     LIMIT 1)), ?7
WHERE true
ON CONFLICT DO NOTHING
"""

_INSERT_REJECTED = "INSERT INTO rejected (received_at, source, body, error) VALUES (?, ?, ?, ?)"
# Files and pulls are ingested again and again: keep each unparseable record once.
_INSERT_REJECTED_ONCE = """
INSERT INTO rejected (received_at, source, body, error) SELECT ?1, ?2, ?3, ?4
WHERE NOT EXISTS (SELECT 1 FROM rejected WHERE source = ?2 AND {same_body} AND error = ?4)
"""

# On the id range (the receipts just written): COALESCE keeps the campaign index out, and the
# pairs are made distinct in Python, since a DISTINCT sends SQLite scanning receipts_by_task.
# Either would walk every receipt in the store at each commit.
_UNLINKED_SINCE = (
    "SELECT vendor, task_id FROM receipts WHERE id > ? "
    "AND COALESCE(campaign, '') = '' AND task_id IS NOT NULL"
)


class _Statements:
    """The statements above as one engine spells them (built once per engine)."""

    def __init__(self, engine: Engine) -> None:
        rowid = engine.rowid
        self.incoming, self.create_incoming = engine.temp_receipts()
        self.insert_receipts = _INSERT_RECEIPTS.format(
            columns=", ".join(RECEIPT_ROW),
            staged=", ".join(f"v.{c}" for c in RECEIPT_ROW),
            incoming=self.incoming,
            rowid=rowid,
            batch_of=_BATCH_OF.format(rowid=rowid, vendor="v.vendor", task="v.task_id",
                                      phone="v.phone"),
        )  # fmt: skip
        latest, order = engine.latest_per_recipient()
        self.upsert_deliveries = _UPSERT_DELIVERIES.format(latest=latest, order=order)
        self.relink = _RELINK.format(
            rowid=rowid,
            batch_of=_BATCH_OF.format(rowid=rowid, vendor="receipts.vendor",
                                      task="receipts.task_id", phone="receipts.phone"),
        )  # fmt: skip
        self.insert_reply = _INSERT_REPLY.format(
            rowid=rowid,
            batch_of=_BATCH_OF.format(rowid=rowid, vendor="?1", task="?2", phone="?3"),
        )
        self.insert_rejected_once = _INSERT_REJECTED_ONCE.format(
            same_body=engine.same("body", "?3")
        )
        self.in_ids = engine.in_ids("x.id")


_BUILT: dict[type, _Statements] = {}


def _sql(store: Store) -> _Statements:
    kind = type(store.engine)
    if kind not in _BUILT:
        _BUILT[kind] = _Statements(store.engine)
    return _BUILT[kind]


def write_records(
    store: Store,
    *,
    receipts: Sequence[tuple] = (),
    replies: Sequence[tuple] = (),
    rejected: Iterable[tuple[str, str, bytes | str | None, str]] = (),
    rejected_once: bool = True,
) -> Written:
    """Store receipt rows (:data:`RECEIPT_ROW`), reply rows (:data:`REPLY_ROW`) and rejected
    ``(received_at, source, body, error)`` rows, inside the caller's transaction.

    Each rejected row is stored once per (source, body, error) unless ``rejected_once=False``
    (the receiver keeps every bad push).
    """
    sql = _sql(store)
    stamp = now()
    inserted = duplicates = 0
    if receipts:
        before = last_receipt_id(store)
        store.execute(sql.create_incoming)
        store.execute(f"DELETE FROM {sql.incoming}")
        store.bulk_insert(sql.incoming, RECEIPT_ROW, receipts)
        added = store.engine.insert_staged(store, sql.incoming, sql.insert_receipts, [stamp])
        store.execute(f"DELETE FROM {sql.incoming}")
        if added:
            store.execute(sql.upsert_deliveries.format(where="x.id > ?"), [before])
        inserted += added
        duplicates += len(receipts) - added
    if replies:
        cursor = store.executemany(sql.insert_reply, ((*row, stamp) for row in replies))
        added = max(cursor.rowcount, 0)
        inserted += added
        duplicates += len(replies) - added
    bad = [(at, source, store.engine.blob(body), error) for at, source, body, error in rejected]
    if bad:
        store.executemany(sql.insert_rejected_once if rejected_once else _INSERT_REJECTED, bad)
    return Written(inserted, duplicates, len(bad))


def last_receipt_id(store: Store) -> int:
    """The id of the newest receipt (0 in an empty store)."""
    return store.scalar("SELECT COALESCE(MAX(id), 0) FROM receipts")


def unlinked_since(store: Store, receipt_id: int) -> list[tuple[str, str]]:
    """(vendor, task_id) of the receipts after ``receipt_id`` whose task no batch carries."""
    return list(dict.fromkeys(tuple(task) for task in store.rows(_UNLINKED_SINCE, [receipt_id])))


def keep_rejected(store: Store, source: str, body: bytes | str | None, error: str) -> None:
    """Keep one unparseable (or unstorable) input in ``rejected``."""
    store.execute(_INSERT_REJECTED, [now(), source, store.engine.blob(body), error])


def relink(
    store: Store,
    *,
    since_id: int = 0,
    tasks: Iterable[tuple[str, str]] | None = None,
) -> int:
    """Link receipts stored before their task id was known, and move deliveries forward,
    inside the caller's transaction. ``since_id`` limits the work to receipts with
    ``id >= since_id``; ``tasks`` to those (vendor, task_id) pairs (an index lookup each).
    Returns the number of receipts linked to a batch."""
    sql = _sql(store)
    if tasks is None:
        ids = [i for (i,) in store.rows(sql.relink.format(where="receipts.id >= ?"), [since_id])]
    else:
        statement = sql.relink.format(where="receipts.vendor = ? AND receipts.task_id = ?")
        ids = [i for task in tasks for (i,) in store.rows(statement, list(task))]
    if ids:
        store.execute(sql.upsert_deliveries.format(where=sql.in_ids), [store.engine.ids(ids)])
    return len(ids)


def known_tasks(store: Store, tasks: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (vendor, task_id) pairs among ``tasks`` that a batch carries by now."""
    return [
        task for task in tasks
        if store.one("SELECT 1 FROM batches WHERE vendor = ? AND task_id = ? LIMIT 1",
                     list(task)) is not None
    ]  # fmt: skip
