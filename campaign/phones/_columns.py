"""Which column of a list holds the phone numbers: by its header, checked against the values."""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import pandas as pd

from campaign.errors import ColumnNotFoundError
from campaign.phones._normalize import normalize_phones
from campaign.phones._reference import PHONE_HEADERS

log = logging.getLogger(__name__)

_NAMED_MIN_SHARE = 0.05  # below this, a column's phone header is checked against its values


def _header_key(name: Any) -> str:
    return re.sub(r"[\s_\-:：]+", "", str(name)).lower()


def _choose_column(frame: pd.DataFrame, column: str | int | None, name: str) -> Any:
    columns = list(frame.columns)
    if column is not None:
        if column in columns:
            return column
        if isinstance(column, int) and 0 <= column < len(columns):
            return columns[column]
        raise ColumnNotFoundError(
            f"{name} has no column {column!r}; its columns are {columns}", candidates=columns
        )
    if not columns:
        raise ColumnNotFoundError(f"{name} has no columns", candidates=[])
    if len(columns) == 1:
        return columns[0]

    ranked = sorted(
        (PHONE_HEADERS.index(_header_key(c)), i, c)
        for i, c in enumerate(columns)
        if _header_key(c) in PHONE_HEADERS
    )
    if ranked:
        return _check_named_column(frame, ranked[0][2], name)

    scores = {c: _phone_share(frame[c]) for c in columns}
    best = sorted(columns, key=lambda c: -scores[c])
    share = ", ".join(f"{c!r} {scores[c]:.0%}" for c in best[:3])
    if scores[best[0]] < 0.5:
        raise ColumnNotFoundError(
            f"{name}: cannot tell which column holds the phone numbers. No header reads like "
            f"phone/mobile/tel/手机号/电话/号码, and no column is mostly mobile numbers "
            f"(valid share: {share}). Pass column=... naming one of {columns}.",
            candidates=best,
        )
    if scores[best[1]] >= scores[best[0]] - 0.1:
        raise ColumnNotFoundError(
            f"{name}: more than one column looks like phone numbers ({share}); "
            f"pass column=... to choose",
            candidates=best,
        )
    log.info("load_phones: chose column %r (%.0f%% valid numbers)", best[0], 100 * scores[best[0]])
    return best[0]


def _check_named_column(frame: pd.DataFrame, col: Any, name: str) -> Any:
    """The column a header names, unless its values say the phones are elsewhere.

    A header such as 联系方式 over e-mail addresses, while another column is mostly mobile
    numbers, is not a choice to make silently in either direction: ColumnNotFoundError.
    """
    share = _phone_share(frame[col])
    if share >= _NAMED_MIN_SHARE:
        return col
    others = {c: _phone_share(frame[c]) for c in frame.columns if c != col}
    best = max(others, key=others.__getitem__)
    if others[best] < 0.5:
        return col
    raise ColumnNotFoundError(
        f"{name}: the header {col!r} names a phone column, but {share:.0%} of its values are "
        f"mobile numbers while {others[best]:.0%} of column {best!r} are. Pass column={best!r} "
        f"(or column={col!r} to keep the header's choice).",
        candidates=[best, col],
    )


def _phone_share(values: pd.Series, *, sample: int = 1000) -> float:
    values = values.dropna()
    if values.empty:
        return 0.0
    if len(values) > sample:
        values = values.iloc[np.linspace(0, len(values) - 1, sample).astype(int)]
    return float(normalize_phones(values.to_numpy(dtype=object), prefixes=False)["valid"].mean())
