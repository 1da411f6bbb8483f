"""Receipts, replies and voice talk time into the store: exactly once, nothing dropped.

Whatever the way in (pushed forms caught by ``campaign receive``, a CSV or JSON-lines file of
captured pushes, a DataFrame, jzyyun's pulled XML), every record ends in one of three tables:

- ``receipts``: one normalised row per receipt (status delivered/failed/unknown, the gateway
  ``code`` as sent, its :mod:`~campaign.reasons` ``reason``, ``received_at`` ISO-8601 +08:00,
  ``talk_seconds`` for voice), linked at ingest to its campaign and batch through
  ``batches(vendor, task_id)`` (when two batches carry the task id: the one that sent to the
  phone, else the latest submitted). ``matched`` is 1 when the task is known *and* the phone is a
  recipient of that batch; otherwise 0 (kept and flagged, never dropped; campaign and batch
  are still filled in when the task is known).
- ``replies``: with ``opt_out`` (:func:`campaign.reasons.is_opt_out`) and ``campaign``: the
  task's campaign when the reply names a known task (chosen as for receipts), else the
  campaign that last sent to that phone through this vendor in a batch it took (state
  accepted, unknown or submitting; latest ``submitted_at`` not after the reply, else the
  latest).
  jzyyun replies carry no task id, so they are linked this way.
- ``rejected``: anything that cannot be parsed, with its raw payload and the reason.

Matched receipts also move ``deliveries`` forward: one row per (campaign, phone) holding its
latest receipt (latest ``received_at``, ties by receipt id); an older receipt arriving later
never overwrites a newer one. ``delivery_counts`` follows by the store's triggers.

Duplicates are ignored by the store's unique keys, so ingesting the same data twice changes
nothing. Every ingest is one transaction.

Speed: receipts are parsed column-wise (pandas) and written with set-based SQL; only rows the
fast path cannot vouch for go through the vendor's own ``parse_push`` one by one.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import json
import logging
import os
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from campaign.errors import InputError, PayloadError
from campaign.reasons import failure_reason, opt_out_flags
from campaign.store import SHANGHAI, DbLike, now, open_db
from campaign.vendors import Receipt, Reply, VendorClient, vendor_module
from campaign.vendors._base import parse_xml, utf8_or_gbk

__all__ = [
    "IngestResult",
    "ingest_receipts",
    "ingest_replies",
    "link_receipts",
    "pull_replies",
    "pull_reports",
    "store_records",
]

log = logging.getLogger(__name__)

Source = (
    Sequence[Mapping[str, Any]]
    | Sequence[Receipt]
    | Sequence[Reply]
    | pd.DataFrame
    | str
    | bytes
    | os.PathLike
)


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did, in records.

    ``inserted``: new rows stored; ``duplicates``: records already in the store (or repeated in
    the input); ``rejected``: records stored in ``rejected`` because they could not be parsed;
    ``skipped``: records of the other kind (replies given to :func:`ingest_receipts` and vice
    versa), left for the other function. ``total`` is their sum.

    >>> forms = [{"mobile": phone, "taskid": "3313746", "status": "1", "code": "DELIVRD",
    ...           "receivetime": "2024-11-11 20:00:05"}
    ...          for phone in ("13800138001", "13800138002", "13800138003")]
    >>> forms.append({"mobile": "13800138004", "taskid": "3313746", "status": "1"})  # no code
    >>> cp.ingest_receipts("campaign.db", forms, vendor="veesing-sms")
    IngestResult(inserted=3, duplicates=0, rejected=1, skipped=0)
    >>> cp.ingest_receipts("campaign.db", forms, vendor="veesing-sms")  # again: nothing new
    IngestResult(inserted=0, duplicates=3, rejected=1, skipped=0)
    """

    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.duplicates + self.rejected + self.skipped

    def __add__(self, other: IngestResult) -> IngestResult:
        return IngestResult(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[int, int, int, int]:
        return dataclasses.astuple(self)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, int]:
        """The counts as a plain dict."""
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- public API


def ingest_receipts(
    db: DbLike,
    source: Source,
    *,
    vendor: str,
    reasons: Mapping[str, str] | None = None,
    source_name: str | None = None,
) -> IngestResult:
    """Store delivery receipts from any source, once; unparseable ones go to ``rejected``.

    ``source`` is a list of pushed forms (dicts as the vendor posts them), a list of
    :class:`~campaign.vendors.Receipt`, a DataFrame (form fields such as ``mobile, taskid,
    status, code, receivetime``, or the normalised columns ``phone, task_id, status, code,
    received_at`` as ``client.fetch_reports()`` returns), a path to a CSV or JSON-lines file
    of captured pushes, or jzyyun report XML (text, bytes, or a ``.xml`` path). In CSV files an
    empty cell is an empty value. ``reasons`` adds gateway code -> reason mappings
    (see :mod:`campaign.reasons`). ``source_name`` labels rejected rows (default
    ``"file:<path>"`` or ``"ingest:<vendor>"``).

    Returns an :class:`IngestResult` (inserted, duplicates, rejected, skipped).

    Examples
    --------
    >>> forms = [{"mobile": "13800138000", "taskid": "3313746", "status": "1",
    ...           "code": "DELIVRD", "receivetime": "2024-11-11 20:00:05"}]
    >>> cp.ingest_receipts("campaign.db", forms, vendor="veesing-sms")
    IngestResult(inserted=1, duplicates=0, rejected=0, skipped=0)
    """
    key, label = _check(vendor, source, source_name)
    parsed = _parse(source, vendor=key, kind="receipt", label=label, reasons=reasons)
    database = open_db(db)
    with _transaction(database.conn, parsed, label):
        return store_records(
            database.conn,
            receipts=parsed.receipts,
            rejected=parsed.rejected,
            reasons=reasons,
            skipped=parsed.skipped,
        )


def ingest_replies(
    db: DbLike,
    source: Source,
    *,
    vendor: str,
    source_name: str | None = None,
) -> IngestResult:
    """Store inbound replies from any source, once, flagging opt-outs (退订, TD, T, N, R...).

    ``source`` as for :func:`ingest_receipts` (reply forms ``mobile, taskid, content,
    receivetime``; normalised ``phone, task_id, content, received_at``; jzyyun reply XML).
    Opted-out numbers are skipped by :func:`~campaign.plan_batches` from then on.

    Examples
    --------
    >>> cp.ingest_replies("campaign.db", [{"mobile": "13800138000", "taskid": "3313746",
    ...     "content": "退订", "receivetime": "2024-11-11 20:05:00"}], vendor="veesing-sms")
    IngestResult(inserted=1, duplicates=0, rejected=0, skipped=0)
    """
    key, label = _check(vendor, source, source_name)
    parsed = _parse(source, vendor=key, kind="reply", label=label)
    database = open_db(db)
    with _transaction(database.conn, parsed, label):
        return store_records(
            database.conn, replies=parsed.replies, rejected=parsed.rejected, skipped=parsed.skipped
        )


def pull_reports(client: VendorClient, db: DbLike, *, max_calls: int = 100) -> IngestResult:
    """Pull the vendor's waiting delivery reports into the store until its queue is empty.

    jzyyun hands each report out once, so every answer is stored (or, unreadable, kept whole
    in ``rejected``) before the next pull. Stops after ``max_calls`` pulls.

    Examples
    --------
    >>> client = cp.vendor("jzyyun-sms")  # credentials from JZYYUN_USERNAME/PASSWORD
    >>> cp.pull_reports(client, "campaign.db")  # doctest: +SKIP
    IngestResult(inserted=19874, duplicates=0, rejected=0, skipped=0)
    """
    return _pull(client, db, "reports", max_calls)


def pull_replies(client: VendorClient, db: DbLike, *, max_calls: int = 100) -> IngestResult:
    """Pull the vendor's waiting replies into the store until its queue is empty.

    >>> cp.pull_replies(cp.vendor("jzyyun-sms"), "campaign.db")  # doctest: +SKIP
    IngestResult(inserted=412, duplicates=0, rejected=0, skipped=0)
    """
    return _pull(client, db, "replies", max_calls)


def link_receipts(db: DbLike, *, since_id: int = 0) -> int:
    """Link receipts stored before their task id was known, and move deliveries forward.

    A receipt can arrive before ``send`` has recorded the vendor's task id (a fast vendor, a
    crash between the call and the commit); it is stored unmatched. Once the batch is known,
    this links it (campaign, batch, ``matched``) and updates ``deliveries``. The receiver does
    this on its own every second for what it stored; call it after a ``send`` that was
    interrupted. ``since_id`` limits the work to receipts with ``id >= since_id``. Returns the
    number of receipts linked to a batch.

    >>> cp.link_receipts("campaign.db")  # the demo's receiver linked everything already
    0
    """
    database = open_db(db)
    conn = database.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        linked = relink(conn, since_id=since_id)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return linked


def relink(
    conn: sqlite3.Connection,
    *,
    since_id: int = 0,
    tasks: Iterable[tuple[str, str]] | None = None,
) -> int:
    """:func:`link_receipts` inside the caller's transaction; ``tasks`` limits it to those
    (vendor, task_id) pairs (an index lookup each, for the receiver)."""
    if tasks is None:
        ids = [i for (i,) in conn.execute(_RELINK.format(where="receipts.id >= ?"), [since_id])]
    else:
        statement = _RELINK.format(where="receipts.vendor = ? AND receipts.task_id = ?")
        ids = [i for task in tasks for (i,) in conn.execute(statement, list(task)).fetchall()]
    if ids:
        conn.execute(
            _UPSERT_DELIVERIES_WHERE.format(where="x.id IN (SELECT value FROM json_each(?))"),
            [json.dumps(ids)],
        )
    return len(ids)


# --------------------------------------------------------------------------- pulling


def _pull(client: VendorClient, db: DbLike, what: str, max_calls: int) -> IngestResult:
    if not isinstance(client, VendorClient):
        raise InputError(f"pull_{what} needs a client from cp.vendor(), not {type(client)}")
    if not isinstance(max_calls, int) or max_calls < 1:
        raise InputError(f"max_calls must be a whole number >= 1, not {max_calls!r}")
    key = client.vendor
    kind = "receipt" if what == "reports" else "reply"
    label = f"pull:{key} {what}"
    raw_fetch = getattr(client, f"fetch_{what}_xml", None)
    database = open_db(db)
    total = IngestResult()
    for _ in range(max_calls):
        if raw_fetch is not None:
            body: Any = raw_fetch()
        else:  # a pulled vendor without raw access: its DataFrame (raises for pushed vendors)
            body = client.fetch_reports() if what == "reports" else client.fetch_replies()
        parsed = _parse_pulled(body, vendor=key, kind=kind, label=label)
        with _transaction(database.conn, parsed, label):
            result = store_records(
                database.conn,
                receipts=parsed.receipts,
                replies=parsed.replies,
                rejected=parsed.rejected,
            )
        total = total + result
        log.info("%s: %s", label, result)
        # Empty: the queue is drained. Only rejected (an HTML error page, a broken answer):
        # asking again would only fetch the same kind of answer up to max_calls times.
        if result.inserted + result.duplicates == 0:
            break
    return total


def _parse_pulled(body: Any, *, vendor: str, kind: str, label: str) -> _Parsed:
    """:func:`_parse` for a pulled answer: the vendor hands it out once, so whatever goes
    wrong while reading it (a parser bug included), the raw answer is kept in ``rejected``."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if not isinstance(raw, bytes | bytearray | memoryview):
        return _parse(body, vendor=vendor, kind=kind, label=label)
    raw = bytes(raw)
    try:
        return _parse(raw, vendor=vendor, kind=kind, label=label)
    except Exception as exc:
        log.exception("%s: could not read a pulled answer; kept whole in rejected", label)
        error = f"could not parse: {type(exc).__name__}: {exc}"
        return _Parsed(rejected=[(now(), label, raw, error)], raw=raw)


# --------------------------------------------------------------------------- storing

_RECEIPT_COLUMNS = (
    "vendor", "task_id", "phone", "status", "code", "reason", "received_at", "talk_seconds",
    "remark",
)  # fmt: skip
_REPLY_COLUMNS = ("vendor", "task_id", "phone", "content", "received_at", "opt_out")

# Set-based: the parsed rows go to a temporary table (no indexes: cheap), then one statement
# links them to batches and recipients and inserts them; duplicates fall on receipts_once.
_INCOMING = "incoming_receipts"
_CREATE_INCOMING = f"""
CREATE TEMP TABLE IF NOT EXISTS {_INCOMING} (
    vendor, task_id, phone, status, code, reason, received_at, talk_seconds, remark
)
"""
# Two batches can carry the same (vendor, task id): a vendor that restarts its counter, two
# simulator sessions writing into one store. A receipt or reply goes to the batch that sent to
# its phone, else the latest submitted (the rowid of that batch; an index lookup each).
_BATCH_OF = """(
    SELECT c.rowid FROM batches AS c
    LEFT JOIN recipients AS q
        ON q.campaign = c.campaign AND q.phone = {phone} AND q.batch = c.batch
    WHERE c.vendor = {vendor} AND c.task_id = {task}
    ORDER BY q.phone IS NULL, c.submitted_at DESC, c.rowid DESC
    LIMIT 1)"""

_BATCH_OF_INCOMING = _BATCH_OF.format(vendor="v.vendor", task="v.task_id", phone="v.phone")
_BATCH_OF_RECEIPT = _BATCH_OF.format(
    vendor="receipts.vendor", task="receipts.task_id", phone="receipts.phone"
)

_INSERT_RECEIPTS = f"""
INSERT INTO receipts ({", ".join(_RECEIPT_COLUMNS)}, campaign, batch, matched, ingested_at)
SELECT v.*, b.campaign, b.batch, r.phone IS NOT NULL, ?
FROM temp.{_INCOMING} AS v
LEFT JOIN batches AS b ON b.rowid = {_BATCH_OF_INCOMING}
LEFT JOIN recipients AS r ON r.campaign = b.campaign AND r.phone = v.phone AND r.batch = b.batch
WHERE true
ORDER BY v.rowid
ON CONFLICT DO NOTHING
"""

# The latest receipt per (campaign, phone) wins: rows are applied in id order and a row only
# replaces one that is older (received_at, then id), so out-of-order arrival is harmless.
_UPSERT_DELIVERIES_WHERE = """
INSERT INTO deliveries (campaign, phone, batch, vendor, task_id, status, code, reason,
                        received_at, talk_seconds, carrier, province, city, receipt_id)
SELECT x.campaign, x.phone, x.batch, x.vendor, x.task_id, x.status, x.code, x.reason,
       x.received_at, x.talk_seconds, r.carrier, r.province, r.city, x.id
FROM receipts AS x
JOIN recipients AS r ON r.campaign = x.campaign AND r.phone = x.phone
WHERE {where} AND x.matched = 1
ORDER BY x.id
ON CONFLICT (campaign, phone) DO UPDATE SET
    batch = excluded.batch, vendor = excluded.vendor, task_id = excluded.task_id,
    status = excluded.status, code = excluded.code, reason = excluded.reason,
    received_at = excluded.received_at, talk_seconds = excluded.talk_seconds,
    receipt_id = excluded.receipt_id
WHERE COALESCE(excluded.received_at, '') > COALESCE(deliveries.received_at, '')
   OR (COALESCE(excluded.received_at, '') = COALESCE(deliveries.received_at, '')
       AND excluded.receipt_id > deliveries.receipt_id)
"""
_UPSERT_DELIVERIES = _UPSERT_DELIVERIES_WHERE.format(where="x.id > ?")

# Receipts that arrived before their task id was recorded (a fast receipt racing the send's
# own bookkeeping): link them now that the batch is known.
_RELINK = f"""
UPDATE receipts SET campaign = b.campaign, batch = b.batch, matched = EXISTS (
    SELECT 1 FROM recipients AS r
    WHERE r.campaign = b.campaign AND r.phone = receipts.phone AND r.batch = b.batch)
FROM batches AS b
WHERE {{where}} AND receipts.campaign IS NULL AND receipts.task_id IS NOT NULL
  AND b.rowid = {_BATCH_OF_RECEIPT}
RETURNING receipts.id
"""


# The reply's task names its batch (as for receipts); without a known task, the campaign that
# last sent to the phone through this vendor, in a batch the vendor took (not a rejected one).
_BATCH_OF_REPLY = _BATCH_OF.format(vendor="?1", task="?2", phone="?3")
_INSERT_REPLY = f"""
INSERT INTO replies (vendor, task_id, phone, content, received_at, opt_out, campaign,
                     ingested_at)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, COALESCE(
    (SELECT b.campaign FROM batches AS b
     WHERE b.rowid = {_BATCH_OF_REPLY}),
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
WHERE NOT EXISTS (SELECT 1 FROM rejected WHERE source = ?2 AND body IS ?3 AND error = ?4)
"""


def store_records(
    conn: sqlite3.Connection,
    *,
    receipts: Any = None,
    replies: Any = None,
    rejected: Iterable[tuple[str, str, bytes | str | None, str]] = (),
    reasons: Mapping[str, str] | None = None,
    skipped: int = 0,
    rejected_once: bool = True,
) -> IngestResult:
    """Write parsed records inside the caller's transaction (the caller commits).

    ``receipts``: :class:`Receipt` objects or a DataFrame with the receipt columns (``reason``
    is computed when absent); ``replies``: :class:`Reply` objects or a DataFrame;
    ``rejected``: ``(received_at, source, body, error)`` tuples, each stored once per (source,
    body, error) unless ``rejected_once=False`` (the receiver keeps every bad push). For the
    receiver's group commit and the ``ingest_*`` functions; most users want those.
    """
    stamp = now()
    inserted = duplicates = 0
    rows = _receipt_rows(receipts, reasons)
    if rows:
        before = conn.execute("SELECT COALESCE(MAX(id), 0) FROM receipts").fetchone()[0]
        conn.execute(_CREATE_INCOMING)
        conn.execute(f"DELETE FROM temp.{_INCOMING}")
        conn.executemany(f"INSERT INTO temp.{_INCOMING} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        added = max(conn.execute(_INSERT_RECEIPTS, [stamp]).rowcount, 0)
        conn.execute(f"DELETE FROM temp.{_INCOMING}")
        if added:
            conn.execute(_UPSERT_DELIVERIES, [before])
        inserted += added
        duplicates += len(rows) - added
    reply_rows = _reply_rows(replies)
    if reply_rows:
        cursor = conn.executemany(_INSERT_REPLY, ((*row, stamp) for row in reply_rows))
        added = max(cursor.rowcount, 0)
        inserted += added
        duplicates += len(reply_rows) - added
    bad = list(rejected)
    if bad:
        conn.executemany(_INSERT_REJECTED_ONCE if rejected_once else _INSERT_REJECTED, bad)
    return IngestResult(inserted, duplicates, len(bad), skipped)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _none(values: Iterable[Any]) -> list[Any]:
    return [None if (v is None or v is pd.NA or (isinstance(v, float) and v != v)) else v
            for v in values]  # fmt: skip


def _receipt_rows(receipts: Any, reasons: Mapping[str, str] | None) -> list[tuple]:
    if receipts is None:
        return []
    if isinstance(receipts, _Rows):
        return receipts
    if isinstance(receipts, pd.DataFrame):
        if receipts.empty:
            return []
        frame = receipts
        if "reason" not in frame.columns:
            frame = frame.assign(reason=_reasons(frame, reasons))
        talk = (
            frame["talk_seconds"]
            .astype("Int64")
            .astype(object)
            .where(frame["talk_seconds"].notna(), None)
        )
        clean = frame.attrs.get("clean", False)
        columns = [
            talk.tolist()
            if name == "talk_seconds"
            else (frame[name].tolist() if clean else _none(frame[name].tolist()))
            for name in _RECEIPT_COLUMNS
        ]
        return list(zip(*columns, strict=True))
    out = []
    for r in receipts:
        reason = failure_reason(r.code, remark=r.remark, status=r.status, reasons=reasons)
        out.append(
            (r.vendor, r.task_id, r.phone, r.status, r.code, reason, r.received_at,
             r.talk_seconds, r.remark)
        )  # fmt: skip
    return out


def _reply_rows(replies: Any) -> list[tuple]:
    if replies is None:
        return []
    if isinstance(replies, pd.DataFrame):
        if replies.empty:
            return []
        items = list(zip(*(_none(replies[c].tolist()) for c in _REPLY_COLUMNS[:-1]), strict=True))
    else:
        items = [(r.vendor, r.task_id, r.phone, r.content, r.received_at) for r in replies]
    flags = opt_out_flags(item[3] for item in items)
    return [(*item, flag) for item, flag in zip(items, flags, strict=True)]


def _reasons(frame: pd.DataFrame, reasons: Mapping[str, str] | None) -> list[str | None]:
    """The taxonomy reason per row, each distinct (status, code, remark) computed once."""
    n = len(frame)
    blank = pd.Series([None] * n, index=frame.index, dtype=object)
    keys = pd.MultiIndex.from_arrays([frame["status"], frame["code"], frame.get("remark", blank)])
    codes, uniques = pd.factorize(keys)
    table = [
        failure_reason(
            None if _missing(code) else code,
            remark=None if _missing(remark) else remark,
            status=status,
            reasons=reasons,
        )
        for status, code, remark in uniques
    ]
    return np.asarray([*table, None], dtype=object)[codes].tolist()


class _transaction:
    """``with conn:`` that, if storing fails, still tries to keep the raw input in rejected."""

    def __init__(self, conn: sqlite3.Connection, parsed: _Parsed, label: str):
        self.conn, self.parsed, self.label = conn, parsed, label

    def __enter__(self) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            self._keep_raw(exc)
            raise

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.conn.commit()
            return
        with contextlib.suppress(sqlite3.Error):
            self.conn.rollback()
        self._keep_raw(exc)  # whatever the error (a bug too): the exception still propagates

    def _keep_raw(self, exc: BaseException) -> None:
        """Keep a whole payload (a pulled answer, handed out once) in ``rejected``; if even
        that fails, put it in the log rather than lose it."""
        raw = self.parsed.raw
        if raw is None:
            return
        error = f"could not store: {type(exc).__name__}: {exc}"
        try:
            with self.conn:
                self.conn.execute(
                    "INSERT INTO rejected (received_at, source, body, error) VALUES (?, ?, ?, ?)",
                    [now(), self.label, raw, error],
                )
        except sqlite3.Error:  # the store itself is unusable (locked, full, read-only)
            log.exception(
                "%s: %s; could not keep the raw input in rejected either, here it is: %s",
                self.label, error, raw.decode("utf-8", errors="replace"),
            )  # fmt: skip


# --------------------------------------------------------------------------- parsing


@dataclass
class _Parsed:
    receipts: Any = None  # DataFrame or list of Receipt
    replies: Any = None
    rejected: list[tuple] = dataclasses.field(default_factory=list)
    skipped: int = 0
    raw: bytes | None = None  # the whole input, when it came as one payload (pulled XML)


def _check(vendor: str, source: Any, source_name: str | None) -> tuple[str, str]:
    key = vendor_module(vendor).KEY
    if source_name:
        return key, str(source_name)
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and not source.lstrip("\ufeff \t\r\n").startswith("<")
    ):
        return key, f"file:{source}"
    return key, f"ingest:{key}"


def _parse(
    source: Any, *, vendor: str, kind: str, label: str, reasons: Mapping[str, str] | None = None
) -> _Parsed:
    """Any supported source -> records of ``kind`` + rejected rows."""
    if isinstance(source, bytes | bytearray | memoryview):
        return _parse_xml(bytes(source), vendor=vendor, kind=kind, label=label)
    if isinstance(source, str) and source.lstrip("\ufeff \t\r\n").startswith("<"):
        return _parse_xml(source.encode("utf-8"), vendor=vendor, kind=kind, label=label)
    if isinstance(source, str | os.PathLike):
        return _parse_file(Path(source), vendor=vendor, kind=kind, label=label, reasons=reasons)
    if isinstance(source, pd.DataFrame):
        return _parse_frame(source, vendor=vendor, kind=kind, label=label, reasons=reasons)
    if isinstance(source, Mapping):
        source = [source]
    if isinstance(source, Iterable):
        items = list(source)
        if all(isinstance(i, Receipt | Reply) for i in items):
            return _parse_records(items, vendor=vendor, kind=kind, label=label)
        forms = [i for i in items if isinstance(i, Mapping)]
        parsed = _parse_forms(forms, vendor=vendor, kind=kind, label=label, reasons=reasons)
        for item in items:
            if not isinstance(item, Mapping):
                parsed.rejected.append(
                    (now(), label, repr(item)[:2000], f"not a form (dict): {type(item).__name__}")
                )
        return parsed
    raise InputError(
        f"cannot ingest a {type(source).__name__}: give a list of pushed forms, a DataFrame, "
        "a CSV or JSON-lines path, or jzyyun XML"
    )


def _parse_file(
    path: Path, *, vendor: str, kind: str, label: str, reasons: Mapping[str, str] | None = None
) -> _Parsed:
    if not path.is_file():
        raise InputError(f"{path}: no such file (give captured pushes as .csv or .jsonl)")
    raw = path.read_bytes()
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    suffix = path.suffix.lower()
    if suffix == ".xml" or head == b"<":
        return _parse_xml(raw, vendor=vendor, kind=kind, label=label)
    if suffix in (".jsonl", ".ndjson", ".json") or head == b"{":
        return _parse_jsonl(raw, vendor=vendor, kind=kind, label=label, reasons=reasons)
    return _parse_csv(raw, path, vendor=vendor, kind=kind, label=label, reasons=reasons)


#: Why a line of a captured-push file could not be decoded.
_UNDECODABLE = "neither UTF-8 nor GBK: save the file as UTF-8 and ingest it again"


def _file_lines(raw: bytes) -> tuple[list[str], set[int]]:
    """A captured-push file as lines, and the (1-based) numbers of those it could not decode.

    UTF-8 (with or without a BOM) as a whole; else line by line, UTF-8 where a line is and
    GB18030 (a superset of GBK) where not: Excel on a Chinese Windows saves GBK, and a file
    several tools appended to mixes the two. GBK text is almost never valid UTF-8, and
    GB18030 would take most UTF-8 bytes, so UTF-8 is tried first, as the receiver does.
    """
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    with contextlib.suppress(UnicodeDecodeError):
        return raw.decode("utf-8").splitlines(), set()
    lines, bad = [], set()
    for number, line in enumerate(raw.split(b"\n"), start=1):
        line = line.removesuffix(b"\r")
        try:
            lines.append(utf8_or_gbk(line))
        except UnicodeDecodeError:
            lines.append(line.decode("gb18030", errors="replace"))
            bad.add(number)
    return lines, bad


def _parse_csv(
    raw: bytes,
    path: Path,
    *,
    vendor: str,
    kind: str,
    label: str,
    reasons: Mapping[str, str] | None = None,
) -> _Parsed:
    """Captured pushes as CSV with a header row. A row that does not fit (a field too many or
    too few, an undecodable line) goes to ``rejected`` with its line number; the rest go in."""
    lines, undecodable = _file_lines(raw)
    reader = csv.reader(lines)
    header: list[str] | None = None
    rows: list[list[str]] = []
    bad: list[tuple] = []
    first = 1  # the line the current row starts on (a quoted field may span lines)
    for row in reader:
        span = range(first, reader.line_num + 1)
        text = "\n".join(lines[first - 1 : reader.line_num])
        first = reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip().lstrip("\ufeff") for cell in row]
            repeated = sorted({h for h in header if header.count(h) > 1})
            if repeated:
                raise InputError(
                    f"{path}: the header names {', '.join(map(repr, repeated))} more than once;"
                    " give every column its own name"
                )
            continue
        where = f"line {span.start}" if len(span) == 1 else f"lines {span.start}-{span.stop - 1}"
        if undecodable.intersection(span):
            bad.append((now(), label, text, f"{where}: {_UNDECODABLE}"))
        elif len(row) != len(header):
            bad.append((now(), label, text, f"{where}: {len(row)} fields where the header has "
                        f"{len(header)} ({', '.join(header)})"))  # fmt: skip
        else:
            rows.append(row)
    if header is None:
        raise InputError(f"{path}: empty file: expected a header row such as {_HEADER_HINT}")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    parsed = _parse_frame(_exclusive(frame), vendor=vendor, kind=kind, label=label,
                          reasons=reasons)  # fmt: skip
    parsed.rejected.extend(bad)
    return parsed


_HEADER_HINT = "mobile,taskid,status,code,receivetime"


def _parse_jsonl(
    raw: bytes, *, vendor: str, kind: str, label: str, reasons: Mapping[str, str] | None = None
) -> _Parsed:
    forms, bad = [], []
    lines, undecodable = _file_lines(raw)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if number in undecodable:
            bad.append((now(), label, line, f"line {number}: {_UNDECODABLE}"))
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            bad.append((now(), label, line, f"line {number}: not JSON: {exc}"))
            continue
        if not isinstance(item, dict):
            why = f"line {number}: a JSON line must be an object of form fields"
            bad.append((now(), label, line, why))
            continue
        forms.append(item)
    parsed = _parse_forms(forms, vendor=vendor, kind=kind, label=label, reasons=reasons)
    parsed.rejected.extend(bad)
    return parsed


def _exclusive(frame: pd.DataFrame) -> pd.DataFrame:
    """A table of mixed captures: an empty status/content cell means the field is absent."""
    if "status" in frame and "content" in frame:
        status, content = frame["status"], frame["content"]
        frame = frame.astype(object)
        frame["content"] = content.where(~((content == "") & status.notna() & (status != "")))
        frame["status"] = status.where(~((status == "") & content.notna() & (content != "")))
        frame = frame.where(frame.notna(), None)
    return frame


def _parse_frame(
    frame: pd.DataFrame,
    *,
    vendor: str,
    kind: str,
    label: str,
    reasons: Mapping[str, str] | None = None,
) -> _Parsed:
    columns = set(map(str, frame.columns))
    normalised = {"phone", "received_at"} <= columns and ("mobile" not in columns)
    if normalised:
        return _parse_normalised(frame, vendor=vendor, kind=kind, label=label)
    forms = frame.astype(object).where(frame.notna(), None)
    forms.columns = [str(c) for c in forms.columns]
    return _parse_forms(forms, vendor=vendor, kind=kind, label=label, reasons=reasons)


# -- pushed forms, column-wise -----------------------------------------------------------------

_ASCII_TOKEN = r"^[!-~](?:[ -~]*[!-~])?$"  # printable ASCII, nothing to strip at either end


class _Forms:
    """Pushed forms as columns of Python values; a list of dicts or a DataFrame."""

    def __init__(self, forms: list[Mapping[str, Any]] | pd.DataFrame):
        self.forms = forms
        self.n = len(forms)
        self.is_frame = isinstance(forms, pd.DataFrame)
        self._cache: dict[str, list[Any]] = {}

    def column(self, name: str) -> list[Any]:
        """Values (None where absent or missing)."""
        if name not in self._cache:
            if self.is_frame:
                if name in self.forms.columns:
                    values = self.forms[name].astype(object).tolist()
                    values = [None if _missing(v) else v for v in values]
                else:
                    values = [None] * self.n
            else:
                values = [f.get(name) for f in self.forms]
            self._cache[name] = values
        return self._cache[name]

    def present(self, name: str) -> np.ndarray:
        """True where the form has the field (a key in a dict; a non-missing cell in a frame)."""
        if self.is_frame:
            return np.fromiter((v is not None for v in self.column(name)), bool, self.n)
        return np.fromiter((name in f for f in self.forms), bool, self.n)

    def row(self, i: int) -> Mapping[str, Any]:
        if self.is_frame:
            return {str(k): v for k, v in self.forms.iloc[i].items() if not _missing(v)}
        return self.forms[i]


def _parse_forms(
    forms: list[Mapping[str, Any]] | pd.DataFrame,
    *,
    vendor: str,
    kind: str,
    label: str,
    reasons: Mapping[str, str] | None = None,
) -> _Parsed:
    """Pushed forms -> receipts or replies. The fast path takes only rows whose every field is
    plainly well formed (ASCII digits, the documented time format...), producing exactly what
    the vendor's ``parse_push`` would; every other row goes through ``parse_push`` itself."""
    parsed = _Parsed()
    table = _Forms(forms)
    n = table.n
    if n == 0:
        return parsed
    module = vendor_module(vendor)
    fields = tuple(getattr(module, "RECEIPT_FIELDS", ()))
    has_status, has_content = table.present("status"), table.present("content")
    fast = np.zeros(n, bool)
    result = _Rows()
    if kind == "receipt" and fields and has_status.any():
        fast, result = _fast_receipts(table, vendor, fields, has_status & ~has_content, reasons)
    records: list[Any] = []
    for i in np.flatnonzero(~fast).tolist():
        form = table.row(i)
        if kind == "receipt" and has_content[i] and not has_status[i]:
            parsed.skipped += 1
            continue
        if kind == "reply" and has_status[i] and not has_content[i]:
            parsed.skipped += 1
            continue
        try:
            record = module.parse_push(form)
        except PayloadError as exc:
            parsed.rejected.append((now(), label, _body(form), str(exc)))
            continue
        except Exception as exc:  # a parser bug must not lose the row
            log.exception("%s: parse_push failed on a row", vendor)
            parsed.rejected.append((now(), label, _body(form), f"{type(exc).__name__}: {exc}"))
            continue
        records.append(record)
    if kind == "receipt":
        slow_rows = _receipt_rows([r for r in records if isinstance(r, Receipt)], reasons)
        parsed.receipts = _Rows(result + slow_rows)
    else:
        parsed.replies = [r for r in records if isinstance(r, Reply)]
    return parsed


def _arrow(values: list[Any], usable: np.ndarray) -> pa.Array:
    """Python values as an Arrow string array: null where not ``usable`` (or not a str)."""
    return pa.array(
        [v if ok else None for v, ok in zip(values, usable.tolist(), strict=True)],
        type=pa.string(),
    )


def _matches(array: pa.Array, pattern: str) -> np.ndarray:
    hit = pc.match_substring_regex(array, "^(?:" + pattern + ")$")
    return hit.fill_null(False).to_numpy(zero_copy_only=False)


def _is_str(values: list[Any]) -> np.ndarray:
    return np.fromiter((type(v) is str for v in values), bool, len(values))


def _empty(values: list[Any]) -> np.ndarray:
    return np.fromiter((v is None or v == "" for v in values), bool, len(values))


def _fast_receipts(
    table: _Forms,
    vendor: str,
    fields: tuple[str, ...],
    candidates: np.ndarray,
    reasons: Mapping[str, str] | None,
) -> tuple[np.ndarray, _Rows]:
    """Receipts from the rows whose fields are all plainly well formed, as final row tuples.

    A row qualifies when every documented field is a str and: mobile is 11 ASCII digits
    (optionally after 86/+86), taskid and code are printable ASCII with nothing to strip,
    status is exactly 0 or 1, receivetime is ``yyyy-MM-dd HH:mm:ss`` and a real time, and
    talktime is ASCII digits. For those rows ``parse_push`` would give exactly these values
    (tests/test_ingest.py checks this property); every other row is left to ``parse_push``.
    """
    ok = candidates.copy()
    columns = {}
    for name in ("mobile", "taskid", "status", "receivetime", "code", "talktime", "remark"):
        values = table.column(name)
        strings = _is_str(values)
        if name in fields:
            ok &= strings  # documented: present, as a plain string
        elif name in ("code", "talktime", "remark"):
            ok &= strings | np.fromiter((v is None for v in values), bool, len(values))
        columns[name] = values
    if not ok.any():
        return ok, _Rows()
    mobile, task, status = columns["mobile"], columns["taskid"], columns["status"]
    when, code, talk, remark = (
        columns["receivetime"], columns["code"], columns["talktime"], columns["remark"]
    )  # fmt: skip
    ok &= _matches(_arrow(mobile, ok), r"(?:\+?86)?1[0-9]{10}")
    ok &= _matches(_arrow(task, ok), _ASCII_TOKEN)
    ok &= np.fromiter((v == "0" or v == "1" for v in status), bool, len(status))
    code_empty = _empty(code)
    ok &= code_empty | _matches(_arrow(code, ok), _ASCII_TOKEN)
    talk_empty = _empty(talk)
    ok &= talk_empty | _matches(_arrow(talk, ok), r"[0-9]{1,9}")
    when_arrow = _arrow(when, ok)
    ok &= _matches(when_arrow, r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
    stamps = pc.strptime(
        pc.if_else(pa.array(ok), when_arrow, pa.scalar(None, pa.string())),
        format="%Y-%m-%d %H:%M:%S",
        unit="s",
        error_is_null=True,
    )
    ok &= stamps.is_valid().to_numpy(zero_copy_only=False)
    if not ok.any():
        return ok, _Rows()

    keep = ok.tolist()
    states = {"1": "delivered", "0": "failed"}
    cache: dict[tuple, str | None] = {}

    def reason(code_value: str | None, remark_value: str | None) -> str | None:
        key = (code_value, remark_value)
        if key not in cache:
            cache[key] = failure_reason(code_value, remark=remark_value, reasons=reasons)
        return cache[key]

    rows = _Rows()
    append = rows.append
    for use, m, t, s, w, c, ce, k, ke, r in zip(
        keep, mobile, task, status, when, code, code_empty.tolist(), talk, talk_empty.tolist(),
        remark, strict=True,
    ):  # fmt: skip
        if not use:
            continue
        c = None if ce else c
        r = r or None
        append(
            (
                vendor, t, m if len(m) == 11 else m[-11:], states[s], c,
                None if s == "1" else reason(c, r),
                f"{w[:10]}T{w[11:]}+08:00", None if ke else int(k), r,
            )
        )  # fmt: skip
    return ok, rows


class _Rows(list):
    """Receipt rows ready for the store (reason included), in :data:`_RECEIPT_COLUMNS` order."""


def _body(form: Mapping[str, Any]) -> str:
    try:
        return json.dumps(dict(form), ensure_ascii=False, default=repr)
    except (TypeError, ValueError):  # pragma: no cover - default=repr handles the rest
        return repr(form)


# -- already-normalised tables (fetch_reports / fetch_replies, a user's DataFrame) -------------


def _iso(value: Any) -> str | None:
    """A time as stored: ISO-8601 in Asia/Shanghai; naive times are Shanghai time."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    elif isinstance(value, dt.datetime):
        moment = value
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(SHANGHAI).replace(microsecond=0).isoformat()


def _parse_normalised(frame: pd.DataFrame, *, vendor: str, kind: str, label: str) -> _Parsed:
    parsed = _Parsed()
    if frame.empty:
        return parsed
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    records: list[Any] = []
    for row in rows:
        try:
            records.append(_normalised_record(row, vendor=vendor, kind=kind))
        except _Skip:
            parsed.skipped += 1
        except PayloadError as exc:
            parsed.rejected.append((now(), label, _body(row), str(exc)))
    if kind == "receipt":
        parsed.receipts = records
    else:
        parsed.replies = records
    return parsed


class _Skip(Exception):
    pass


def _normalised_record(row: Mapping[str, Any], *, vendor: str, kind: str) -> Receipt | Reply:
    given = row.get("vendor")
    if given is not None and str(given).strip() and str(given).strip() != vendor:
        raise PayloadError(f"{vendor}: row is for vendor {given!r}")
    phone = str(row.get("phone") or "").strip()
    if not phone:
        raise PayloadError(f"{vendor}: missing phone")
    received = _iso(row.get("received_at"))
    if received is None:
        raise PayloadError(f"{vendor}: received_at {row.get('received_at')!r} is not a time")
    task = row.get("task_id")
    task = None if task is None or not str(task).strip() else str(task).strip()
    if kind == "reply":
        if row.get("content") is None:
            if row.get("status") is not None:
                raise _Skip
            raise PayloadError(f"{vendor}: missing content")
        return Reply(vendor, task, phone, str(row["content"]), received)
    status = row.get("status")
    if status is None and row.get("content") is not None:
        raise _Skip
    if status not in ("delivered", "failed", "unknown"):
        raise PayloadError(f"{vendor}: status {status!r} is not delivered/failed/unknown")
    talk = row.get("talk_seconds")
    try:
        talk = None if talk is None else int(talk)
    except (TypeError, ValueError):
        raise PayloadError(f"{vendor}: talk_seconds {talk!r} is not whole seconds") from None
    code = row.get("code")
    remark = row.get("remark")
    return Receipt(
        vendor, task, phone, status,
        None if code is None or str(code) == "" else str(code),
        received, talk, None if remark in (None, "") else str(remark),
    )  # fmt: skip


def _parse_records(items: list[Any], *, vendor: str, kind: str, label: str) -> _Parsed:
    parsed = _Parsed()
    wanted = Receipt if kind == "receipt" else Reply
    mine = [i for i in items if isinstance(i, wanted)]
    parsed.skipped = len(items) - len(mine)
    for item in mine:
        if item.vendor != vendor:
            raise InputError(f"a {item.vendor} record given to ingest with vendor={vendor!r}")
    if kind == "receipt":
        parsed.receipts = mine
    else:
        parsed.replies = mine
    return parsed


# -- pulled XML (jzyyun) ----------------------------------------------------------------------

_XML_TAGS = {"receipt": ("smsreport", "psreport"), "reply": ("smsrerecv", "psrerecv")}


def _parse_xml(raw: bytes, *, vendor: str, kind: str, label: str) -> _Parsed:
    """Pulled XML: parsed whole when it is clean; else item by item, so one bad report does not
    hold back the others. An unreadable document is kept whole in ``rejected``."""
    module = vendor_module(vendor)
    parser: Callable[[bytes], list[Any]] | None = getattr(
        module, "parse_reports" if kind == "receipt" else "parse_replies", None
    )
    parsed = _Parsed(raw=raw)
    if parser is None:
        parsed.rejected.append((now(), label, raw, f"{vendor}: this vendor sends no XML"))
        return parsed
    try:
        records = parser(raw)
    except PayloadError as whole:
        root_tag, item_tag = _XML_TAGS[kind]
        try:
            root = parse_xml(raw, vendor=vendor)
        except PayloadError:
            parsed.rejected.append((now(), label, raw, str(whole)))
            return parsed
        if root.tag != root_tag:
            parsed.rejected.append((now(), label, raw, str(whole)))
            return parsed
        records = []
        for number, item in enumerate(root.iter(item_tag), start=1):
            piece = ET.tostring(item, encoding="utf-8")
            wrapped = b"<" + root_tag.encode() + b">" + piece + b"</" + root_tag.encode() + b">"
            try:
                records.extend(parser(wrapped))
            except PayloadError as exc:  # parsed alone, it is always #1: say where it was
                error, alone = str(exc), f" in {item_tag} #1"
                where = f" in {item_tag} #{number}"
                error = error.replace(alone, where) if alone in error else f"{error} ({where[1:]})"
                parsed.rejected.append((now(), label, piece, error))
    if kind == "receipt":
        parsed.receipts = records
    else:
        parsed.replies = records
    return parsed
