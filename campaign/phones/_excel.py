"""Reading Excel workbooks (.xlsx, .xlsm, .xls) with calamine: a sheet, its header row found."""

from __future__ import annotations

import pandas as pd

from campaign.errors import InputError
from campaign.phones._normalize import _cell_text
from campaign.phones._read import (
    _HEADER_SEARCH,
    _dedupe,
    _empty,
    _find_header,
    _no_rows,
    _note_skipped,
)


def _read_excel(source, *, sheet, name: str | None = None) -> pd.DataFrame:
    """A sheet whose header is found among its first rows (see :func:`_find_header`).

    Blank rows between header and last data row stay (they are rows of the sheet, and keep
    row numbers aligned: sheet row ``n`` below the header is ``frame.iloc[n - header - 1]``);
    blank rows after the last data row are formatting and are dropped.
    """
    name = name or str(source)
    try:
        book = pd.ExcelFile(source, engine="calamine")  # one fast reader for .xlsx and .xls
    except Exception as exc:  # a broken workbook raises many unrelated types
        raise InputError(f"{name}: cannot open as an Excel workbook ({exc})") from exc
    with book:
        sheets = book.sheet_names
        if sheet is None:
            sheet = 0
        if isinstance(sheet, int) and not 0 <= sheet < len(sheets):
            raise InputError(f"{name}: there is no sheet {sheet}; its sheets are {sheets}")
        if isinstance(sheet, str) and sheet not in sheets:
            raise InputError(f"{name}: there is no sheet {sheet!r}; its sheets are {sheets}")
        raw = pd.read_excel(book, sheet_name=sheet, header=None, dtype=object)

    def cells(i: int) -> list[str | None]:
        return [_cell_text(v) for v in raw.iloc[i]]

    def blank(i: int) -> bool:
        return not any(c and c.strip() for c in cells(i))

    end = len(raw)
    while end and blank(end - 1):
        end -= 1
    filled: list[int] = []  # positions of the first non-blank rows
    for i in range(end):
        if len(filled) == _HEADER_SEARCH:
            break
        if not blank(i):
            filled.append(i)
    label = f"sheet {(sheets[sheet] if isinstance(sheet, int) else sheet)!r}"
    others = f" (its sheets are {sheets}: pass sheet= for another)" if len(sheets) > 1 else ""
    if not filled:
        raise _empty(name, f"{label} is empty{others}")
    rows = [cells(i) for i in filled]
    at = _find_header(rows)
    if at is None:
        frame = raw.iloc[filled[0] : end].reset_index(drop=True)
        frame.columns = (
            ["phone"] if raw.shape[1] == 1 else [f"column_{i + 1}" for i in range(raw.shape[1])]
        )
        skipped = {}
    else:
        frame = raw.iloc[filled[at] + 1 : end].reset_index(drop=True)
        frame.columns = _dedupe(
            [c.strip() if c and c.strip() else f"column_{i + 1}" for i, c in enumerate(rows[at])]
        )
        if not len(frame):
            where = f", {label}" if len(sheets) > 1 else ""
            raise _no_rows(name, list(frame.columns), where=where, hint=others)
        # calamine starts every sheet at row 1, so position + 1 is the row Excel shows
        skipped = {filled[j] + 1: ",".join(c or "" for c in rows[j]) for j in range(at)}
    _note_skipped(frame, skipped, name=name, what="row")
    return frame
