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

Matched receipts also move ``deliveries`` forward: one row per (campaign, phone) holding its
latest receipt (latest ``received_at``, ties by receipt id); an older receipt arriving later
never overwrites a newer one. ``delivery_counts`` follows by the store's triggers.

Duplicates are ignored by the store's unique keys, so ingesting the same data twice changes
nothing. Every ingest is one transaction.

Speed: receipts are parsed column-wise (pandas) and written with set-based SQL; only rows the
fast path cannot vouch for go through the vendor's own ``parse_push`` one by one.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from campaign.errors import InputError, PayloadError
from campaign.reasons import failure_reason, opt_out_flags
from campaign.store import SHANGHAI, DbLike, Store, connect, now, records
from campaign.text import decode_lines
from campaign.vendors import PushTable, Receipt, Reply, VendorClient, vendor_module, vendor_protocol

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
            for name in records.RECEIPT_ROW
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
        items = list(
            zip(*(_none(replies[c].tolist()) for c in records.REPLY_ROW[:-1]), strict=True)
        )
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
        "a CSV or JSON-lines path, or a pulled vendor's XML"
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
    GBK where not (:func:`campaign.text.decode_lines`): Excel on a Chinese Windows saves GBK,
    and a file several tools appended to mixes the two.
    """
    lines, other, bad = decode_lines(raw.removeprefix(b"\xef\xbb\xbf"))
    if not other and not bad:
        return "\n".join(lines).splitlines(), set()
    return [line.removesuffix("\r") for line in lines], set(bad)


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
        form = vendor_protocol(vendor).push_format
        hint = ",".join(form.receipt_fields) if form else "phone,task_id,status,received_at"
        raise InputError(f"{path}: empty file: expected a header row such as {hint}")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    parsed = _parse_frame(_exclusive(frame, vendor), vendor=vendor, kind=kind, label=label,
                          reasons=reasons)  # fmt: skip
    parsed.rejected.extend(bad)
    return parsed


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


def _exclusive(frame: pd.DataFrame, vendor: str) -> pd.DataFrame:
    """A table of mixed captures: an empty receipt- or reply-marker cell (the vendor's
    :class:`~campaign.vendors.PushFormat`) means the field is absent from that form."""
    form = vendor_protocol(vendor).push_format
    if form is not None and form.receipt_marker in frame and form.reply_marker in frame:
        mark, other = form.receipt_marker, form.reply_marker
        receipt, reply = frame[mark], frame[other]
        frame = frame.astype(object)
        frame[other] = reply.where(~((reply == "") & receipt.notna() & (receipt != "")))
        frame[mark] = receipt.where(~((receipt == "") & reply.notna() & (reply != "")))
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
    form = vendor_protocol(vendor).push_format
    normalised = {"phone", "received_at"} <= columns and (form is None or form.phone not in columns)
    if normalised:
        return _parse_normalised(frame, vendor=vendor, kind=kind, label=label)
    forms = frame.astype(object).where(frame.notna(), None)
    forms.columns = [str(c) for c in forms.columns]
    return _parse_forms(forms, vendor=vendor, kind=kind, label=label, reasons=reasons)


# -- pushed forms, column-wise -----------------------------------------------------------------


def _parse_forms(
    forms: list[Mapping[str, Any]] | pd.DataFrame,
    *,
    vendor: str,
    kind: str,
    label: str,
    reasons: Mapping[str, str] | None = None,
) -> _Parsed:
    """Pushed forms -> receipts or replies. The vendor's column-wise parser takes the rows it
    can vouch for, producing exactly what its ``parse_push`` would; every other row goes
    through ``parse_push`` itself. Forms of the other kind are skipped."""
    parsed = _Parsed()
    table = PushTable(forms)
    n = table.n
    if n == 0:
        return parsed
    protocol = vendor_protocol(vendor)
    form = protocol.push_format
    none = np.zeros(n, bool)
    receipt = table.present(form.receipt_marker) if form else none
    reply = table.present(form.reply_marker) if form else none
    fast, rows = none, []
    if kind == "receipt" and protocol.parse_receipt_columns is not None and receipt.any():
        fast, rows = protocol.parse_receipt_columns(table, receipt & ~reply)
    found: list[Any] = []
    for i in np.flatnonzero(~fast).tolist():
        if form is not None and form.kind(receipt[i], reply[i]) not in (None, kind):
            parsed.skipped += 1
            continue
        item = table.row(i)
        try:
            found.append(protocol.parse_push(item))
        except PayloadError as exc:
            parsed.rejected.append((now(), label, _body(item), str(exc)))
        except Exception as exc:  # a parser bug must not lose the row
            log.exception("%s: parse_push failed on a row", vendor)
            parsed.rejected.append((now(), label, _body(item), f"{type(exc).__name__}: {exc}"))
    if kind == "receipt":
        slow = [r for r in found if isinstance(r, Receipt)]
        parsed.receipts = _Rows(_with_reasons(rows, reasons) + _receipt_rows(slow, reasons))
    else:
        parsed.replies = [r for r in found if isinstance(r, Reply)]
    return parsed


def _with_reasons(rows: list[tuple], reasons: Mapping[str, str] | None) -> list[tuple]:
    """Receipt tuples (the fields of :class:`Receipt`, in order) as store rows: the failure
    reason put in after ``code``, each distinct (status, code, remark) looked up once."""
    cache: dict[tuple, str | None] = {}
    out = []
    append = out.append
    for row in rows:
        status, code, remark = row[3], row[4], row[7]
        if status == "delivered":
            append((*row[:5], None, *row[5:]))
            continue
        key = (status, code, remark)
        if key not in cache:
            cache[key] = failure_reason(code, remark=remark, status=status, reasons=reasons)
        append((*row[:5], cache[key], *row[5:]))
    return out


class _Rows(list):
    """Receipt rows ready for the store (reason included), in ``RECEIPT_ROW`` order."""


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


# -- pulled answers ---------------------------------------------------------------------------


def _parse_xml(raw: bytes, *, vendor: str, kind: str, label: str) -> _Parsed:
    """A pulled answer, read by its vendor: item by item where an item is bad, so one bad
    report does not hold back the others. An unreadable answer is kept whole in ``rejected``."""
    parsed = _Parsed(raw=raw)
    reader = vendor_protocol(vendor).parse_pulled
    if reader is None:
        parsed.rejected.append((now(), label, raw, f"{vendor}: this vendor sends no XML"))
        return parsed
    try:
        pulled = reader(raw, kind)  # type: ignore[arg-type]
    except PayloadError as exc:
        parsed.rejected.append((now(), label, raw, str(exc)))
        return parsed
    parsed.rejected.extend((now(), label, piece, error) for piece, error in pulled.bad_items)
    if kind == "receipt":
        parsed.receipts = pulled.records
    else:
        parsed.replies = pulled.records
    return parsed
