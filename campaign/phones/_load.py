"""load_phones: any source into a DataFrame, the phone column chosen, every row classified."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from campaign.errors import InputError
from campaign.phones._columns import _choose_column, _header_key
from campaign.phones._excel import _read_excel
from campaign.phones._filetype import sniff
from campaign.phones._normalize import normalize_phones
from campaign.phones._prefix_file import PrefixesLike
from campaign.phones._read import _read_text
from campaign.phones._reference import (
    _CARRIER_ALIASES,
    _EXCEL_SUFFIXES,
    _TEXT_SUFFIXES,
    CARRIER_HEADERS,
    OUTPUT_COLUMNS,
)

log = logging.getLogger(__name__)

Source = str | os.PathLike | IO | pd.DataFrame | pd.Series | Sequence[Any]


def load_phones(
    source: Source,
    *,
    column: str | int | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    prefixes: PrefixesLike | bool = None,
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
    prefixes
        A 号段 prefix file (``.npz``, built by ``data/make_prefixes.py`` from a table you
        obtained) to fill in the province, city and carrier libphonenumber does not know: its
        geocoding data knows many 16x, 17x and 19x ranges only as 中国. By default the file
        named by ``$CAMPAIGN_PREFIXES`` (so that plan_batches and ``campaign load`` use it
        too), else none; False for libphonenumber alone. libphonenumber's carrier stays
        first, and so does its province and city wherever its data has an entry of at least
        5 digits for the number; elsewhere the file's (see ``benchmarks/bench_regions.py``).

    Returns
    -------
    DataFrame
        Every input row, in order, with its original columns plus phone, valid, reason,
        carrier, province, city and duplicate (see :mod:`campaign.phones`). If the phone column
        is itself called ``phone`` it is kept as ``phone_raw``; another original column whose
        name clashes with an added one is kept with a ``_raw`` suffix.

        ``carrier`` is the carrier the number's range was allocated to. A number moved to
        another carrier (携号转网, nationwide since 2019) keeps its range, so its carrier here
        is the original one: no offline data can see the move. When the list brings its own
        carrier column (``carrier``, ``运营商`` or ``当前运营商``, e.g. from a vendor's
        number-lookup export), its values are kept in ``carrier`` wherever given (移动, CMCC,
        China Mobile read as 中国移动, and so on for 联通, 电信, 广电; other values as
        written), and the range's carrier is used only where the list has none. The
        statistics group by that ``carrier``. The column used is in
        ``df.attrs["carrier_column"]`` (None when none); a column named ``carrier`` is also
        kept, as written, as ``carrier_raw``.

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
        (named by its line number as an editor shows it). Also when a file holds no numbers
        at all: empty (0 bytes, or only blank space or a BOM), a header with no rows below
        it, an empty sheet. A file that is neither text nor a workbook whatever its name (a
        PDF, an image, a ZIP archive renamed ``.csv``) is named for what it starts like; a
        workbook renamed ``.csv`` is read as the workbook, with a logged warning.

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
    result = normalize_phones(frame[col], prefixes=prefixes)
    result.index = frame.index
    own = _carrier_column(frame, phone_column=col)
    if own is not None:
        given = _carrier_names(frame[own])
        by_range = result["carrier"].to_numpy(dtype=object, na_value=None)
        result["carrier"] = pd.array(np.where(given.notna(), given, by_range), dtype="str")
        log.info(
            "load_phones: carrier from the list's column %r for %d rows, by number range for "
            "the rest",
            own,
            int(given.notna().sum()),
        )
    valid = result["valid"].to_numpy()
    numbers = pc.cast(pa.array(result["phone"].array), pa.int64()).fill_null(-1).to_numpy()
    result["duplicate"] = pd.Series(numbers).duplicated().to_numpy() & valid

    renames = {c: f"{c}_raw" for c in frame.columns if c in OUTPUT_COLUMNS}
    out = frame.rename(columns=renames)
    for c in OUTPUT_COLUMNS:
        out[c] = result[c]
    out.attrs["phone_column"] = renames.get(col, col)
    out.attrs["carrier_column"] = renames.get(own, own)
    out.attrs["skipped_lines"] = skipped
    log.info("load_phones: %s rows, phone column %r, %s valid", len(out), col, int(valid.sum()))
    return out


def _carrier_column(frame: pd.DataFrame, *, phone_column: Any) -> Any:
    """The list's own carrier column (see :data:`CARRIER_HEADERS`), or None."""
    wanted = [_header_key(h) for h in CARRIER_HEADERS]
    found = sorted(
        (wanted.index(_header_key(c)), i, c)
        for i, c in enumerate(frame.columns)
        if c != phone_column and _header_key(c) in wanted
    )
    return found[0][2] if found else None


_CARRIER_OF = {_header_key(a): name for name, aliases in _CARRIER_ALIASES.items() for a in aliases}


def _carrier_names(values: pd.Series) -> pd.Series:
    """A list's carrier cells, on a RangeIndex: the four carriers in libphonenumber's
    spelling, other values as written (stripped), blanks missing. Once per distinct value."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = []
    for value in uniques:
        text = str(value).strip()
        names.append(_CARRIER_OF.get(_header_key(text), text) if text else None)
    lookup = np.asarray([*names, None], dtype=object)
    out = pd.Series(pd.array(lookup[np.where(codes >= 0, codes, len(names))], dtype="str"))
    unusual = sorted({n for n in names if n and n not in _CARRIER_ALIASES})
    if unusual:
        log.info("load_phones: carrier values kept as written: %s", ", ".join(unusual[:10]))
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
        name = str(path)
        txt = suffix in {".txt", ".text"}
        data = path.read_bytes()
        return _read_bytes(data, name=name, sheet=sheet, encoding=encoding, txt=txt), name
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "the file"))
        data = source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
            encoding = "utf-8"
        txt = name.endswith(".txt")
        return _read_bytes(data, name=name, sheet=sheet, encoding=encoding, txt=txt), name
    if isinstance(source, Iterable) and not isinstance(source, (bytes, dict)):
        values = list(source)
        return pd.DataFrame({"phone": pd.Series(values, dtype=object)}), "the list"
    raise InputError(
        f"cannot load phones from {type(source).__name__}: give a file path, an open file, "
        "a list or Series of numbers, or a DataFrame"
    )


def _read_bytes(data: bytes, *, name: str, sheet, encoding, txt: bool) -> pd.DataFrame:
    """A file's bytes as text, or as a workbook when they are one whatever the file's name
    (a renamed .xlsx); any other kind of file (a PDF named .csv) is an InputError naming it.
    """
    found = sniff(data, encoding=encoding)
    if found.kind == "text":
        return _read_text(data, name=name, encoding=encoding, txt=txt)
    if found.kind == "excel":
        try:
            frame = _read_excel(io.BytesIO(data), sheet=sheet, name=name)
        except InputError as exc:
            if "cannot open as an Excel workbook" not in str(exc):
                raise  # the workbook opened: a missing sheet, an empty one
            raise InputError(
                f"{name}: not a text file: it is {found.what}, and it does not open as an "
                f"Excel workbook ({exc.__cause__}); if it is password-protected, remove the "
                "password, else save the list as CSV (UTF-8) or Excel (.xlsx) and load that"
            ) from exc
        if Path(name).suffix.lower() in _TEXT_SUFFIXES - {""}:  # a name that says text
            log.warning(
                "%s is %s although its name says text: read it as a workbook", name, found.what
            )
        return frame
    advice = found.advice or (
        "open it in the program that made it and export the list as CSV (UTF-8) or Excel "
        "(.xlsx), then load that file"
    )
    raise InputError(f"{name}: not a text or Excel file: it starts like {found.what}; {advice}")
