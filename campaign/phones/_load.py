"""load_phones: any source into a DataFrame, the phone column chosen, every row classified."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from campaign.errors import InputError
from campaign.phones._columns import _choose_column
from campaign.phones._excel import _read_excel
from campaign.phones._normalize import normalize_phones
from campaign.phones._read import _read_text
from campaign.phones._reference import _EXCEL_SUFFIXES, _TEXT_SUFFIXES, OUTPUT_COLUMNS

log = logging.getLogger(__name__)

Source = str | os.PathLike | IO | pd.DataFrame | pd.Series | Sequence[Any]


def load_phones(
    source: Source,
    *,
    column: str | int | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Load a phone list the way people really keep it, into a tidy DataFrame.

    Parameters
    ----------
    source
        A path to a ``.csv``, ``.tsv``, ``.txt`` (one number per line, or separated by
        commas, semicolons or whitespace), ``.xlsx`` or ``.xls`` file; an open file; a list or
        Series of numbers; or a DataFrame.
    column
        The column holding the numbers (name or 0-based position). By default it is found
        from its header (phone, mobile, tel, 手机, 手机号, 手机号码, 电话, 号码, ...), else as the
        column whose values look most like mobile numbers. The choice is kept in
        ``df.attrs["phone_column"]``. A header name does not win against the values: when
        under 5% of its column are mobile numbers while another column is at least half
        mobile numbers, ColumnNotFoundError names both.
    sheet
        Excel sheet name or 0-based position (default: the first sheet).
    encoding
        Text encoding. By default UTF-8 (with or without BOM) and GBK/GB18030 are detected,
        and a UTF-8 file with some GBK lines (or the reverse) is read line by line, with a
        logged warning naming the first such line. A BOM is ignored with any encoding.

    Returns
    -------
    DataFrame
        Every input row, in order, with its original columns plus phone, valid, reason,
        carrier, province, city and duplicate (see :mod:`campaign.phones`). If the phone column
        is itself called ``phone`` it is kept as ``phone_raw``; another original column whose
        name clashes with an added one is kept with a ``_raw`` suffix.

        The header is looked for among the first 10 non-blank lines (sheet rows): the last
        row above the first mobile number that names a phone column (手机号, phone, ...), else
        the first row. Title lines above it (``客户名单2024``, the upper row of a merged
        two-row Excel header) are not rows of the list: they are kept, by 1-based line or
        sheet row number, in ``df.attrs["skipped_lines"]`` (``{1: "客户名单2024"}``; ``{}``
        when none) and logged as a warning. Blank sheet rows inside the list stay as rows
        (reason ``empty``); blank rows after the last filled row are formatting and dropped.

    Raises
    ------
    ColumnNotFoundError
        When no column can be told to hold the phone numbers; pass ``column=``.
    InputError
        When the file cannot be read: unknown type, a line in no known encoding (named, with
        the advice to re-save the file as UTF-8), a row with more fields than the header
        (named by its line number as an editor shows it).

    Examples
    --------
    >>> contacts = load_phones("data/contacts.csv")
    >>> contacts.loc[contacts.valid, ["手机号码", "phone", "carrier", "province"]].head(3)
                手机号码        phone carrier province
    0    19986180831  19986180831    中国电信      NaN
    1  139 1676 0360  13916760360    中国移动       上海
    2  138-7087-9184  13870879184    中国移动       江西
    >>> contacts.loc[~contacts.valid, ["手机号码", "reason"]].head(3)
                      手机号码                       reason
    4             010-62345678                     landline
    5  13800138000/13900139000  several numbers in one cell
    7                        无           not a phone number
    """
    frame, name = _read(source, sheet=sheet, encoding=encoding)
    skipped = dict(frame.attrs.get("skipped_lines", {}))
    frame = _drop_previous_output(frame)
    col = _choose_column(frame, column, name)
    result = normalize_phones(frame[col])
    result.index = frame.index
    valid = result["valid"].to_numpy()
    numbers = pc.cast(pa.array(result["phone"].array), pa.int64()).fill_null(-1).to_numpy()
    result["duplicate"] = pd.Series(numbers).duplicated().to_numpy() & valid

    renames = {c: f"{c}_raw" for c in frame.columns if c in OUTPUT_COLUMNS}
    out = frame.rename(columns=renames)
    for c in OUTPUT_COLUMNS:
        out[c] = result[c]
    out.attrs["phone_column"] = renames.get(col, col)
    out.attrs["skipped_lines"] = skipped
    log.info("load_phones: %s rows, phone column %r, %s valid", len(out), col, int(valid.sum()))
    return out


def _drop_previous_output(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame that load_phones already returned loads again from its original columns."""
    if set(OUTPUT_COLUMNS) <= set(frame.columns):
        frame = frame.drop(columns=list(OUTPUT_COLUMNS))
        restored = {f"{c}_raw": c for c in OUTPUT_COLUMNS}
        frame = frame.rename(columns={c: restored[c] for c in frame.columns if c in restored})
    return frame


def _read(source: Source, *, sheet, encoding) -> tuple[pd.DataFrame, str]:
    """Read any supported source into a DataFrame of strings; also a name for messages."""
    if isinstance(source, pd.DataFrame):
        return source.copy(), "the DataFrame"
    if isinstance(source, pd.Series):
        name = source.name if source.name is not None else "phone"
        return source.to_frame(name=name).reset_index(drop=True), "the Series"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path} is a folder: give the path of a .csv, .txt or .xlsx file")
        suffix = path.suffix.lower()
        if suffix in _EXCEL_SUFFIXES:
            return _read_excel(path, sheet=sheet), str(path)
        if suffix not in _TEXT_SUFFIXES:
            raise InputError(
                f"{path}: cannot read {suffix!r} files; give a .csv, .tsv, .txt, .xlsx or .xls file"
            )
        data = path.read_bytes()
        return _read_text(
            data, name=str(path), encoding=encoding, txt=suffix in {".txt", ".text"}
        ), str(path)
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "the file"))
        data = source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
            encoding = "utf-8"
        if data[:4] == b"PK\x03\x04" or data[:8] == bytes.fromhex("D0CF11E0A1B11AE1"):
            return _read_excel(io.BytesIO(data), sheet=sheet, name=name), name
        return _read_text(data, name=name, encoding=encoding, txt=name.endswith(".txt")), name
    if isinstance(source, Iterable) and not isinstance(source, (bytes, dict)):
        values = list(source)
        return pd.DataFrame({"phone": pd.Series(values, dtype=object)}), "the list"
    raise InputError(
        f"cannot load phones from {type(source).__name__}: give a file path, an open file, "
        "a list or Series of numbers, or a DataFrame"
    )
