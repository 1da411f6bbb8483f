"""Parsed records as the store's rows: failure reasons and opt-out flags put in, once each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from campaign.reasons import failure_reason, opt_out_flags
from campaign.store import records

__all__: list[str] = []


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


def _with_reasons(rows: list[tuple], reasons: Mapping[str, str] | None) -> list[tuple]:
    """Receipt tuples (:class:`~campaign.vendors.Receipt`'s fields, in order) as store rows,
    the failure reason put in after ``code``; each distinct (status, code, remark) looked up
    once."""
    cache: dict[tuple, str | None] = {}

    def reason(status: str, code: str | None, remark: str | None) -> str | None:
        key = (status, code, remark)
        if key not in cache:
            cache[key] = failure_reason(code, remark=remark, status=status, reasons=reasons)
        return cache[key]

    return [
        (v, t, p, s, c, None if s == "delivered" else reason(s, c, r), w, k, r)
        for v, t, p, s, c, w, k, r in rows
    ]


class _Rows(list):
    """Receipt rows ready for the store (reason included), in ``RECEIPT_ROW`` order."""
