"""Every source ingest reads, parsed into receipts, replies and rejected rows.

Pushed forms (dicts, a DataFrame, CSV or JSON-lines files of captured pushes), normalised
tables and records, and pulled answers. Each vendor's formats are its own module's business:
this module goes through its declared ``PROTOCOL`` and never names a vendor's fields or tags.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from campaign.errors import InputError, PayloadError
from campaign.ingest._rows import _receipt_rows, _Rows, _with_reasons
from campaign.store import SHANGHAI, now
from campaign.text import decode_lines
from campaign.vendors import PushTable, Receipt, Reply, vendor_module, vendor_protocol

log = logging.getLogger("campaign.ingest")


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
        # dicts, as pushes are, pass at C speed (an ABC check of each of a million forms: 0.2 s)
        forms = [i for i in items if type(i) is dict or isinstance(i, Mapping)]
        parsed = _parse_forms(forms, vendor=vendor, kind=kind, label=label, reasons=reasons)
        if len(forms) < len(items):
            for item in items:
                if not isinstance(item, Mapping):
                    parsed.rejected.append(
                        (now(), label, repr(item)[:2000],
                         f"not a form (dict): {type(item).__name__}")
                    )  # fmt: skip
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
