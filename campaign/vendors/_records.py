"""The records vendor modules return: what a send got back, receipts and replies, as frames."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

__all__ = [
    "RECEIPT_COLUMNS",
    "REPLY_COLUMNS",
    "Receipt",
    "Reply",
    "SendResult",
    "Status",
    "receipts_frame",
    "replies_frame",
]

Status = Literal["delivered", "failed", "unknown"]


@dataclass(frozen=True)
class SendResult:
    """What the vendor said to one send call.

    A refusal is ``ok=False`` with the vendor's own ``code`` and ``message``, not an exception.

    Attributes
    ----------
    ok : bool
        The vendor accepted the submission.
    task_id : str or None
        The vendor's batch/task id (links receipts to this call).
    accepted : int
        Numbers the vendor accepted (0 when refused).
    message : str or None
        The vendor's message, as sent.
    code : str or None
        The vendor's result code, as sent (``"1"``/``"0"`` veesing, ``"2"``/``"405"``... ihuyi,
        ``"success"``/``"failure"`` jzyyun).
    remaining : int or None
        Balance after the call, when the vendor reports it.
    raw : str
        The vendor's reply body (credentials removed).
    """

    ok: bool
    task_id: str | None
    accepted: int
    message: str | None
    code: str | None
    remaining: int | None = None
    raw: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for a DataFrame row or the store)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Receipt:
    """One delivery receipt, normalised across vendors.

    ``status`` is ``"delivered"``, ``"failed"`` or ``"unknown"``; ``code`` is the vendor's or
    gateway's raw code kept as-is; ``received_at`` is ISO-8601 in Asia/Shanghai, e.g.
    ``"2024-07-25T14:01:30+08:00"``; ``talk_seconds`` is the voice call's talk time (seconds).
    """

    vendor: str
    task_id: str | None
    phone: str
    status: Status
    code: str | None
    received_at: str
    talk_seconds: int | None = None
    remark: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Reply:
    """One inbound reply (an SMS the recipient sent back); ``received_at`` as in Receipt."""

    vendor: str
    task_id: str | None
    phone: str
    content: str
    received_at: str

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return dataclasses.asdict(self)


RECEIPT_COLUMNS = tuple(f.name for f in dataclasses.fields(Receipt))
REPLY_COLUMNS = tuple(f.name for f in dataclasses.fields(Reply))


def receipts_frame(records: Iterable[Receipt]) -> pd.DataFrame:
    """Receipts as a DataFrame with :data:`RECEIPT_COLUMNS` (``talk_seconds`` nullable Int64)."""
    frame = pd.DataFrame([r.to_dict() for r in records], columns=list(RECEIPT_COLUMNS))
    frame["talk_seconds"] = frame["talk_seconds"].astype("Int64")
    return frame


def replies_frame(records: Iterable[Reply]) -> pd.DataFrame:
    """Replies as a DataFrame with :data:`REPLY_COLUMNS`."""
    return pd.DataFrame([r.to_dict() for r in records], columns=list(REPLY_COLUMNS))
