"""Receipts, replies and voice talk time into the store: exactly once, nothing dropped.

Whatever the way in (pushed forms caught by ``campaign receive``, a CSV or JSON-lines file of
captured pushes, a DataFrame, a pulled vendor's XML answer), every record ends in one of three
tables. The vendor's own module reads its formats (its ``PROTOCOL``, see
:mod:`campaign.vendors._protocol`); this module only moves the records into the store:

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
  Replies without a task id (a pulled vendor's carry none) are linked this way.
- ``rejected``: anything that cannot be parsed, with its raw payload and the reason.

Conversions (:func:`ingest_conversions`) and clicks exported from another link shortener
(:func:`ingest_clicks`) come in the same way: stored once, bad rows kept in ``rejected``.

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
import dataclasses
import gc
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from campaign.errors import InputError
from campaign.ingest._clicks import ClicksResult, ingest_clicks
from campaign.ingest._conversions import ConversionsResult, ingest_conversions
from campaign.ingest._prices import set_prices
from campaign.ingest._rows import _receipt_rows, _reply_rows
from campaign.ingest._sources import _check, _parse, _Parsed
from campaign.ingest._sources import _parse_forms as _parse_forms  # for tests
from campaign.store import DbLike, Store, connect, now, records
from campaign.vendors import Receipt, Reply, VendorClient

__all__ = [
    "ClicksResult",
    "ConversionsResult",
    "IngestResult",
    "ingest_clicks",
    "ingest_conversions",
    "ingest_receipts",
    "ingest_replies",
    "link_receipts",
    "pull_replies",
    "pull_reports",
    "set_prices",
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

    >>> receipts = pd.DataFrame({
    ...     "phone": ["13800138001", "13800138002", "13800138003", "13800138004"],
    ...     "task_id": "3313746", "status": "delivered", "code": "DELIVRD",
    ...     "received_at": ["2024-11-11 20:00:05"] * 3 + ["soon"]})  # the last: no time
    >>> cp.ingest_receipts("campaign.db", receipts, vendor="veesing-sms")
    IngestResult(inserted=3, duplicates=0, rejected=1, skipped=0)
    >>> cp.ingest_receipts("campaign.db", receipts, vendor="veesing-sms")  # nothing new
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

    ``source`` is a list of pushed forms (dicts with the fields the vendor posts, which
    ``cp.vendors.vendor_protocol(vendor).push_format`` names), a list of
    :class:`~campaign.vendors.Receipt`, a DataFrame (of such forms, or with the normalised
    columns ``phone, task_id, status, code, received_at`` as ``client.fetch_reports()``
    returns), a path to a CSV or JSON-lines file of captured pushes, or a pulled vendor's
    report XML (text, bytes, or a ``.xml`` path). In CSV files an
    empty cell is an empty value. ``reasons`` adds gateway code -> reason mappings
    (see :mod:`campaign.reasons`). ``source_name`` labels rejected rows (default
    ``"file:<path>"`` or ``"ingest:<vendor>"``).

    Returns an :class:`IngestResult` (inserted, duplicates, rejected, skipped).

    Examples
    --------
    >>> receipt = cp.vendors.Receipt("veesing-sms", "3313746", "13800138000", "delivered",
    ...                              "DELIVRD", "2024-11-11T20:00:05+08:00")
    >>> cp.ingest_receipts("campaign.db", [receipt], vendor="veesing-sms")
    IngestResult(inserted=1, duplicates=0, rejected=0, skipped=0)
    """
    key, label = _check(vendor, source, source_name)
    with _collector_paused():
        parsed = _parse(source, vendor=key, kind="receipt", label=label, reasons=reasons)
        store = connect(db)
        with _transaction(store, parsed, label):
            return store_records(
                store,
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

    ``source`` as for :func:`ingest_receipts` (pushed reply forms; the normalised columns
    ``phone, task_id, content, received_at``; a pulled vendor's reply XML).
    Opted-out numbers are skipped by :func:`~campaign.plan_batches` from then on.

    Examples
    --------
    >>> cp.ingest_replies("campaign.db", pd.DataFrame({"phone": ["13800138000"],
    ...     "task_id": "3313746", "content": "退订", "received_at": "2024-11-11 20:05:00"}),
    ...     vendor="veesing-sms")
    IngestResult(inserted=1, duplicates=0, rejected=0, skipped=0)
    """
    key, label = _check(vendor, source, source_name)
    with _collector_paused():
        parsed = _parse(source, vendor=key, kind="reply", label=label)
        store = connect(db)
        with _transaction(store, parsed, label):
            return store_records(
                store, replies=parsed.replies, rejected=parsed.rejected, skipped=parsed.skipped
            )


def pull_reports(client: VendorClient, db: DbLike, *, max_calls: int = 100) -> IngestResult:
    """Pull the vendor's waiting delivery reports into the store until its queue is empty.

    A pulled vendor hands each report out once, so every answer is stored (or, unreadable,
    kept whole in ``rejected``) before the next pull. Stops after ``max_calls`` pulls.

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
    store = connect(db)
    with store.transaction():
        return records.relink(store, since_id=since_id)


# --------------------------------------------------------------------------- pulling


def _pull(client: VendorClient, db: DbLike, what: str, max_calls: int) -> IngestResult:
    if not isinstance(client, VendorClient):
        raise InputError(f"pull_{what} needs a client from cp.vendor(), not {type(client)}")
    if not isinstance(max_calls, int) or max_calls < 1:
        raise InputError(f"max_calls must be a whole number >= 1, not {max_calls!r}")
    key = client.vendor
    kind = "receipt" if what == "reports" else "reply"
    label = f"pull:{key} {what}"
    store = connect(db)
    total = IngestResult()
    for _ in range(max_calls):
        body = client.fetch_raw(kind)  # a pushed vendor's client says to use the receiver
        parsed = _parse_pulled(body, vendor=key, kind=kind, label=label)
        with _transaction(store, parsed, label):
            result = store_records(
                store,
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


def store_records(
    store: Store,
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
    is computed when absent); ``replies``: :class:`Reply` objects or a DataFrame (``opt_out``
    is computed); ``rejected``: ``(received_at, source, body, error)`` tuples, each stored
    once per (source, body, error) unless ``rejected_once=False`` (the receiver keeps every
    bad push). For the receiver's group commit and the ``ingest_*`` functions; most users want
    those.
    """
    written = records.write_records(
        store,
        receipts=_receipt_rows(receipts, reasons),
        replies=_reply_rows(replies),
        rejected=rejected,
        rejected_once=rejected_once,
    )
    return IngestResult(written.inserted, written.duplicates, written.rejected, skipped)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while an input is parsed and stored, then back as it was.

    Parsing a million receipts makes millions of tuples and strings (none in a cycle), and
    each collection they trigger walks every object the process holds: the forms, and in a
    notebook whatever else it keeps. A third of a second of a million receipts in a bare
    process (issue 18), more in a full one.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _transaction:
    """``store.transaction()`` that, if storing fails, still tries to keep the raw input in
    rejected."""

    def __init__(self, store: Store, parsed: _Parsed, label: str):
        self.store, self.parsed, self.label = store, parsed, label
        self._block: Any = None

    def __enter__(self) -> None:
        self._block = self.store.transaction()
        try:
            self._block.__enter__()
        except BaseException as exc:
            self._keep_raw(exc)
            raise

    def __exit__(self, kind, exc, tb) -> None:
        self._block.__exit__(kind, exc, tb)  # commits, or rolls back and lets exc propagate
        if kind is not None:
            self._keep_raw(exc)  # whatever the error (a bug too): the exception propagates

    def _keep_raw(self, exc: BaseException) -> None:
        """Keep a whole payload (a pulled answer, handed out once) in ``rejected``; if even
        that fails, put it in the log rather than lose it."""
        raw = self.parsed.raw
        if raw is None:
            return
        error = f"could not store: {type(exc).__name__}: {exc}"
        try:
            with self.store.transaction():
                records.keep_rejected(self.store, self.label, raw, error)
        except Exception:  # the store itself is unusable (locked, full, read-only)
            log.exception(
                "%s: %s; could not keep the raw input in rejected either, here it is: %s",
                self.label, error, raw.decode("utf-8", errors="replace"),
            )  # fmt: skip
