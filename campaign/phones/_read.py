"""Reading text files: encodings, the header among the first lines, the separator, the rows.

Which encoding undeclared text is in is :mod:`campaign.text`'s rule (UTF-8 where the bytes
are UTF-8, else GBK/GB18030, line by line in a mixed file); this module turns what that rule
finds into load_phones' errors and warnings. The helpers that find the header and note the
lines above it serve :mod:`campaign.phones._excel` too.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import logging
import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa

from campaign.errors import InputError
from campaign.phones._columns import _header_key
from campaign.phones._normalize import normalize_phones
from campaign.phones._reference import PHONE_HEADERS
from campaign.text import decode_lines, guess_encoding

log = logging.getLogger(__name__)

_HEADER_SEARCH = 10  # the header is looked for among this many first non-blank lines or rows
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
_ENCODING_NAMES = {"utf-8": "UTF-8", "gb18030": "GBK/GB18030"}
_RESAVE = "re-save the file as UTF-8 (in Excel: Save As > CSV UTF-8)"


def _check_encoding(encoding: str, *, name: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise InputError(f"{name}: unknown encoding {encoding!r}") from exc


def _decode(data: bytes, *, name: str, encoding: str) -> str:
    """The whole text in the encoding the caller named: an error names the first bad line."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{name}: line {line} is not valid {encoding} text; {_RESAVE}, or leave out "
            "encoding= so that load_phones reads UTF-8 and GBK lines alike"
        ) from exc


def _decode_guessed(data: bytes, *, name: str, first: str) -> str:
    """Text whose lines are each UTF-8 or GBK/GB18030: ``first`` wherever it works.

    Read by :func:`campaign.text.decode_lines`. A line that is neither is an InputError
    naming it; lines read with the other encoding are counted in a logged warning.
    """
    lines, other, bad = decode_lines(data, first=first)
    second = "gb18030" if first == "utf-8" else "utf-8"
    if bad:
        message = f"{name}: line {bad[0]} is neither UTF-8 nor GBK/GB18030 text; {_RESAVE}"
        try:  # decoded again only to chain the codec's error: which byte, where
            data.split(b"\n", bad[0])[bad[0] - 1].decode(second)
        except UnicodeDecodeError as exc:
            raise InputError(message) from exc
        raise InputError(message)
    if other:
        log.warning(
            "%s: %d line(s) are not %s but %s, read as such (first: line %d); %s to be sure",
            name,
            len(other),
            _ENCODING_NAMES[first],
            _ENCODING_NAMES[second],
            other[0],
            _RESAVE,
        )
    return "\n".join(lines)


def _sniffing_text(head: bytes) -> str:
    """The first lines of a (probably) UTF-8 file as text, to find the header and separator
    and to show the lines above the header.

    GBK lines are read as GBK; a line that is neither shows U+FFFD wherever UTF-8 fails.
    """
    lines, _, bad = decode_lines(head, first="utf-8")
    if bad:
        raw = head.split(b"\n")
        for number in bad:
            lines[number - 1] = raw[number - 1].decode("utf-8", errors="replace")
    return "\n".join(lines)


def _empty(name: str, what: str) -> InputError:
    return InputError(
        f"{name}: {what}: there are no phone numbers to load; check that this is the right "
        "file, or save the list into it (one number a line, or a table with a 手机号 column)"
    )


def _no_rows(name: str, header: list[str], *, where: str = "", hint: str = "") -> InputError:
    shown = ", ".join(str(h) for h in header[:8]) + (", ..." if len(header) > 8 else "")
    return InputError(
        f"{name}{where}: has a header ({shown}) but no rows below it: there are no phone "
        f"numbers to load; check that the export or save kept the rows{hint}"
    )


def _read_text(data: bytes, *, name: str, encoding: str | None, txt: bool) -> pd.DataFrame:
    """A delimited or one-number-a-line text file; its header found among the first lines.

    UTF-8 stays bytes for Arrow's fast reader; anything else is decoded to text first. A file
    with nothing but blank space (or a BOM), or with a header and no rows, is an InputError.
    """
    size = len(data)
    utf16 = encoding is None and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if data.startswith(codecs.BOM_UTF8):  # also before an explicit encoding: Notepad adds one
        data = data[len(codecs.BOM_UTF8) :]
    if encoding is not None:
        _check_encoding(encoding, name=name)
    chosen = "utf-16" if utf16 else encoding or guess_encoding(data)
    text: str | None = None  # None: the bytes are (probably) UTF-8, read by Arrow
    if utf16 or (encoding is not None and not _is_utf8(encoding)):
        text = _decode(data, name=name, encoding=chosen)
    elif encoding is None and chosen != "utf-8":
        text = _decode_guessed(data, name=name, first=chosen)

    def whole_text() -> str:
        if text is not None:
            return text
        if encoding is not None:
            return _decode(data, name=name, encoding=encoding)
        return _decode_guessed(data, name=name, first="utf-8")

    if text is not None:
        head = text[:65536]
        if len(text) > len(head):
            head = head[: head.rfind("\n") + 1] or head
    else:
        cut = data[:65536]
        if len(data) > len(cut):
            cut = cut[: cut.rfind(b"\n") + 1] or cut
        head = _sniffing_text(cut)
    numbered = [(i, ln) for i, ln in enumerate(_LINE_BREAK.split(head)) if ln.strip()][:20]
    if not numbered:
        blank = "the file is blank (only spaces, empty lines or a byte-order mark)"
        raise _empty(name, "the file is empty (0 bytes)" if not size else blank)
    sep = _sniff_separator([ln for _, ln in numbered])
    if txt and sep is None:
        frame = _read_txt(whole_text())
        if not len(frame):  # its only line was a header word
            raise _no_rows(name, [numbered[0][1].strip()])
        return frame

    rows = [next(csv.reader([ln], delimiter=sep)) if sep else [ln] for _, ln in numbered]
    at = _find_header(rows[:_HEADER_SEARCH])
    first = at or 0
    skipped = {numbered[j][0] + 1: numbered[j][1] for j in range(first)}
    options = {
        "sep": sep or ",",
        "header": None if at is None else 0,
        "skiprows": numbered[first][0],
        "name": name,
    }
    try:
        frame = _read_csv(data if text is None else text, **options)
    except UnicodeDecodeError:  # Arrow met bytes that are not UTF-8 beyond the first 64 KiB
        frame = _read_csv(whole_text(), **options)
    if at is None:
        frame.columns = (
            ["phone"] if frame.shape[1] == 1 else [f"column_{i + 1}" for i in range(frame.shape[1])]
        )
    else:
        frame.columns = _dedupe([str(c).strip() for c in frame.columns])
    if not len(frame):
        raise _no_rows(name, list(frame.columns))
    _note_skipped(frame, skipped, name=name, what="line")
    return frame


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in {"utf-8", "utf-8-sig"}


def _note_skipped(frame: pd.DataFrame, skipped: dict[int, str], *, name: str, what: str) -> None:
    """Keep the lines above the header in ``attrs`` and say so: nothing is dropped unseen."""
    frame.attrs["skipped_lines"] = skipped
    if skipped:
        log.warning(
            "%s: the header is on %s %d; skipped the %s above it: %s",
            name,
            what,
            max(skipped) + 1,
            f"{what}s" if len(skipped) > 1 else what,
            "; ".join(f"{n}: {t!r}" for n, t in skipped.items()),
        )


def _find_header(rows: list[list[str | None]]) -> int | None:
    """Which of a file's first non-blank rows is its header; None when the first is data.

    - The first row holding a mobile number is data, and so is everything after it.
    - Above it, the last row with a phone header name (手机号, phone, ...) is the header: rows
      above that are titles or the upper row of a two-row header (Excel merged cells).
    - With no such name: leading rows of at most one filled cell (titles) are skipped when a
      wider row without numbers (the header) follows them; else the first row is the header.
    """
    cells = [[c for c in row if c is not None and c.strip()] for row in rows]
    flat = [c for row in cells for c in row]
    valid = (
        normalize_phones(flat, prefixes=False)["valid"].to_numpy()
        if flat
        else np.zeros(0, dtype=bool)
    )
    bounds = np.cumsum([0] + [len(row) for row in cells])
    has_phone = [bool(valid[a:b].any()) for a, b in itertools.pairwise(bounds)]
    first_data = has_phone.index(True) if True in has_phone else len(rows)
    if first_data == 0:
        return None
    named = [i for i in range(first_data) if any(_header_key(c) in PHONE_HEADERS for c in cells[i])]
    if named:  # with no data row in sight, the first named row is the safer header
        return named[-1] if first_data < len(rows) else named[0]
    titles = 0
    while titles < first_data and len(cells[titles]) <= 1:
        titles += 1
    return titles if titles < first_data else 0


def _parser_message(exc: Exception, *, header: bool) -> str:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    if found:
        expected, line, saw = found.groups()
        return _too_many(int(line), int(saw), int(expected), header=header)
    return str(exc).strip()


def _too_many(line: int, saw: int, expected: int, *, header: bool) -> str:
    where = "the header has" if header else "the first row has"
    message = f"line {line} has {saw} fields where {where} {expected}"
    if expected == 1:  # a one-field header over wider rows is usually a title line
        message += " (if that first line is a title, put the real header row under it)"
    return message


def _read_csv(
    source: bytes | str, *, sep: str, header: int | None, skiprows: int, name: str
) -> pd.DataFrame:
    """Arrow's multi-threaded CSV reader for UTF-8 bytes; pandas' C reader for text and for
    what Arrow refuses. Raises UnicodeDecodeError when the bytes are not UTF-8.

    ``skiprows`` physical lines (titles above the header) are left out. The C reader is the
    fallback because its errors name the offending line; ``index_col=False`` stops it from
    taking an extra first field for the index, which would shift every column.
    """
    options = {"sep": sep, "header": header, "dtype": str}
    if isinstance(source, bytes):
        body = source
        if skiprows:
            breaks = _LINE_BREAK_BYTES.finditer(source)
            body = source[next(itertools.islice(breaks, skiprows - 1, None)).end() :]
        try:
            return pd.read_csv(io.BytesIO(body), engine="pyarrow", **options)
        except (pa.ArrowInvalid, ValueError) as exc:
            if "UTF8" in str(exc) or "utf-8" in str(exc).lower():
                raise UnicodeDecodeError("utf-8", b"", 0, 1, str(exc)) from exc
            log.debug("Arrow CSV reader refused the file (%s); using pandas' C reader", exc)
        del body
        source = source.decode("utf-8")
    with warnings.catch_warnings():
        # a first data row longer than the header: pandas warns and drops the extra fields
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(
                io.StringIO(source), engine="c", index_col=False, skiprows=skiprows, **options
            )
        except pd.errors.ParserWarning as exc:
            problem = _longer_row(source, sep=sep, skiprows=skiprows, header=header is not None)
            problem = problem or str(exc)
        except pd.errors.ParserError as exc:
            problem = _parser_message(exc, header=header is not None)
    raise InputError(f"{name}: {problem}; fix that row or quote the field")


def _longer_row(text: str, *, sep: str, skiprows: int, header: bool) -> str | None:
    """The first row with more fields than the header, as a message naming its line."""
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    expected = None
    for row in reader:
        if reader.line_num <= skiprows or not row:
            continue
        if expected is None:
            expected = len(row)
        elif len(row) > expected:
            return _too_many(reader.line_num, len(row), expected, header=header)
    return None


def _sniff_separator(lines: list[str]) -> str | None:
    """The field separator of a delimited text, or None when each line is one value.

    Up to two title lines above the header may have no separator at all.
    """
    for start in range(min(3, len(lines))):
        part = lines[start:]
        if start and len(part) < 2:
            break
        try:
            dialect = csv.Sniffer().sniff("\n".join(part), delimiters=",\t;|")
            return dialect.delimiter
        except csv.Error:
            pass
        for sep in (",", "\t", ";", "|"):
            if all(sep in ln for ln in part):
                return sep
    return None


_TXT_SPLIT = re.compile(r"[,;，；、|\t]+")


def _read_txt(text: str) -> pd.DataFrame:
    """One number per line, or several per line separated by commas, semicolons or spaces."""
    values: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        parts = [p.strip() for p in _TXT_SPLIT.split(line) if p.strip()]
        for part in parts:
            words = part.split()
            # "138 0013 8000" is one number written in groups; "13800138000 13900139000" is two
            if len(words) > 1 and all(sum(ch.isdigit() for ch in w) >= 7 for w in words):
                values.extend(words)
            else:
                values.append(part)
    if (
        values
        and not normalize_phones(values[:1], prefixes=False)["valid"].iloc[0]
        and _is_header_word(values[0])
    ):
        values = values[1:]
    return pd.DataFrame({"phone": pd.Series(values, dtype="str")})


def _is_header_word(value: str) -> bool:
    return _header_key(value) in {_header_key(h) for h in PHONE_HEADERS}


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}.{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out
