"""Phone lists into tidy DataFrames: read, find the phone column, normalise, classify.

Every input row comes back, in order, with its original columns plus:

============  =========================================================================
column        meaning
============  =========================================================================
phone         the 11-digit mainland mobile number as a string, missing when not valid
valid         True when ``phone`` is a mainland mobile number that can be sent to
reason        missing when valid, else one of :data:`REASONS`
carrier       中国移动 / 中国联通 / 中国电信 / 中国广电 by number range, when known
province      e.g. 广东; municipalities are their own province (北京)
city          e.g. 深圳, when known
duplicate     True for every repeat of an earlier valid number (the first stays False)
============  =========================================================================

Validity, carrier and region come from the ``phonenumbers`` package (libphonenumber's
metadata), so new ranges such as 19x, 192 and 1610 arrive with a package upgrade and no
table in this project needs editing. To stay fast on million-row lists, nothing here calls
``phonenumbers`` once per row: normalising is vectorised with Arrow string kernels, validity
is libphonenumber's own mobile pattern run over the whole column, and carrier and region are
looked up per number prefix in arrays built once from libphonenumber's prefix data.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import itertools
import logging
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from campaign.errors import ColumnNotFoundError, InputError

__all__ = [
    "OUTPUT_COLUMNS",
    "REASONS",
    "load_phones",
    "normalize_phone",
    "normalize_phones",
]

log = logging.getLogger(__name__)

#: Columns ``load_phones`` adds, in order.
OUTPUT_COLUMNS = ("phone", "valid", "reason", "carrier", "province", "city", "duplicate")

EMPTY = "empty"
SCIENTIFIC = "digits lost to Excel scientific notation"
NOT_A_NUMBER = "not a phone number"
SEVERAL = "several numbers in one cell"
FOREIGN = "not a mainland China number"
LANDLINE = "landline"
WRONG_LENGTH = "wrong length"
NOT_MOBILE = "not a mobile number"

#: The fixed vocabulary of ``reason``, checked in this order.
REASONS = (EMPTY, SCIENTIFIC, NOT_A_NUMBER, SEVERAL, FOREIGN, LANDLINE, WRONG_LENGTH, NOT_MOBILE)

#: Header names (compared case-, space- and underscore-insensitively) that name a phone
#: column, best first.
PHONE_HEADERS = (
    "phone",
    "mobile",
    "手机号码",
    "手机号",
    "手机",
    "mobilephone",
    "cellphone",
    "cell",
    "phonenumber",
    "mobileno",
    "msisdn",
    "移动电话",
    "联系电话",
    "电话号码",
    "电话",
    "号码",
    "联系方式",
    "tel",
    "telephone",
    "number",
)

_EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
_TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".text", ""}

# IP long-distance dial prefixes people leave in front of numbers copied from old phone
# systems (17951 中国移动, 12593 中国移动, 17911 中国联通, 10193 中国联通, 17901/17909 中国电信).
# These are dialling codes, not number ranges: they never decide validity.
_IP_DIAL = "17951|12593|17911|10193|17901|17909"
_INVISIBLE = r"[\x{200B}-\x{200F}\x{202A}-\x{202E}\x{2060}-\x{2064}\x{FEFF}]"
_SEPARATORS = r"[\s\-.()\[\]_\x{2010}-\x{2015}\x{00B7}]"
_SCIENTIFIC = r"^[0-9](?:\.[0-9]+)?[eE][+]?[0-9]+$"
_SEVERAL = r"^\+?[0-9]{7,}(?:[/,;|、]+\+?[0-9]{7,})+$"


# --------------------------------------------------------------------------- reference data


@functools.cache
def _mobile_pattern() -> str:
    """libphonenumber's national-number pattern for CN mobiles, anchored."""
    import phonenumbers

    meta = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    return f"^(?:{meta.mobile.national_number_pattern})$"


@functools.cache
def _fixed_line_pattern() -> str:
    """libphonenumber's national-number pattern for CN landlines, anchored."""
    import phonenumbers

    meta = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    return f"^(?:{meta.fixed_line.national_number_pattern})$"


_PREFIX_DIGITS = 7  # carrier and region of a mainland mobile are set by its first 7 digits
_TABLE_BASE = 10 ** (_PREFIX_DIGITS - 1)  # tables cover prefixes 1000000..1999999

_MUNICIPALITIES = ("北京", "天津", "上海", "重庆")
_REGIONS = ("内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门")


def _split_region(description: str) -> tuple[str, str | None]:
    """Province and city of a geocoder description.

    '广东省深圳市' -> ('广东', '深圳'); '北京市' -> ('北京', '北京');
    '广西南宁市' -> ('广西', '南宁').
    """
    text = description.strip()
    for name in _MUNICIPALITIES:
        if text.startswith(name):
            return name, name
    for name in _REGIONS:
        if text.startswith(name):
            rest = re.sub(r"^(?:壮族|回族|维吾尔|)自治区|^特别行政区", "", text[len(name) :])
            return name, _city(rest)
    if "省" in text:
        province, rest = text.split("省", 1)
        return province, _city(rest)
    return text, None


def _city(rest: str) -> str | None:
    rest = rest.strip()
    if not rest:
        return None
    return rest[:-1] if rest.endswith("市") and len(rest) > 2 else rest


@functools.cache
def _prefix_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array, pa.Array, pa.Array]:
    """Arrays indexed by ``first 7 digits - 1000000``: carrier, province and city codes.

    Built once per process from libphonenumber's carrier and geocoder prefix data, longest
    prefix winning, exactly as ``phonenumbers.carrier`` and ``phonenumbers.geocoder`` resolve
    a single number. Codes index the returned Arrow name arrays; -1 means unknown.
    """
    from phonenumbers.carrierdata import CARRIER_DATA
    from phonenumbers.geodata import GEOCODE_DATA

    def fill(data: dict[str, dict[str, str]], name_of) -> tuple[np.ndarray, list]:
        table = np.full(_TABLE_BASE, -1, dtype=np.int32)  # prefixes 1000000..1999999
        names: dict[Any, int] = {}
        by_length: dict[int, tuple[list[int], list[int]]] = {}
        for key, value in data.items():
            national = key[2:]
            if not key.startswith("861") or not 1 < len(national) <= _PREFIX_DIGITS:
                continue
            name = name_of(value)
            if name is None:
                continue
            starts, codes = by_length.setdefault(len(national), ([], []))
            starts.append(int(national))
            codes.append(names.setdefault(name, len(names)))
        for length in sorted(by_length):  # shorter prefixes first: longer ones overwrite
            starts, codes = (np.asarray(x, dtype=np.int64) for x in by_length[length])
            width = 10 ** (_PREFIX_DIGITS - length)
            cells = (starts * width - _TABLE_BASE)[:, None] + np.arange(width)
            table[cells] = np.asarray(codes, dtype=np.int32)[:, None]
        return table, list(names)

    split = functools.cache(_split_region)
    carrier_codes, carriers = fill(CARRIER_DATA, lambda d: d.get("zh") or d.get("en"))
    region_codes, regions = fill(GEOCODE_DATA, lambda d: d.get("zh") and split(d["zh"]))
    provinces = sorted({p for p, _ in regions})
    cities = sorted({c for _, c in regions if c})
    province_of = np.array([provinces.index(p) for p, _ in regions] + [-1], dtype=np.int32)
    city_of = np.array([cities.index(c) if c else -1 for _, c in regions] + [-1], dtype=np.int32)
    # region_codes == -1 indexes the trailing -1 of province_of / city_of
    province_codes = province_of[region_codes]
    city_codes = city_of[region_codes]
    return (
        carrier_codes,
        province_codes,
        city_codes,
        pa.array(carriers, pa.string()),
        pa.array(provinces, pa.string()),
        pa.array(cities, pa.string()),
    )


# --------------------------------------------------------------------------- normalising


def _where(arr: pa.Array, mask: pa.Array, fn) -> pa.Array:
    """Apply ``fn`` to the rows of ``arr`` where ``mask`` is true, leave the rest."""
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return arr
    return pc.replace_with_mask(arr, mask, fn(arr.filter(mask)))


def _as_text(values: Any) -> pa.Array:
    """Any 1-D input as one Arrow string array; Excel numeric cells become their digits."""
    arr = _to_arrow(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    return arr


def _to_arrow(values: Any) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.api.extensions.ExtensionArray) and isinstance(
        values.dtype, pd.StringDtype
    ):
        return pa.array(values, type=pa.string(), from_pandas=True)
    if not isinstance(values, np.ndarray):
        values = np.asarray(list(values) if not isinstance(values, Sequence) else values, object)
    if values.dtype.kind in "iu":
        return pc.cast(pa.array(values), pa.string())
    if values.dtype.kind == "f":
        return _floats_as_text(values)
    if values.dtype.kind in "OSU":
        values = np.asarray(values, dtype=object)
        try:
            return pa.array(values, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([_cell_text(v) for v in values], type=pa.string())
    return pa.array([_cell_text(v) for v in values], type=pa.string())


def _floats_as_text(values: np.ndarray) -> pa.Array:
    whole = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < 1e16)
    out = np.empty(len(values), dtype=object)
    out[whole] = values[whole].astype(np.int64).astype(str)
    rest = ~whole & ~np.isnan(values)
    out[rest] = [repr(float(v)) for v in values[rest]]
    out[np.isnan(values)] = None
    return pa.array(out, type=pa.string())


def _cell_text(value: Any) -> str | None:
    """One cell as text: an Excel number 13800138000.0 becomes '13800138000'."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if value != value:  # NaN
            return None
        if float(value).is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(float(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def normalize_phones(values: Iterable[Any] | pd.Series) -> pd.DataFrame:
    """Normalise and classify phone numbers, one output row per input value.

    Accepts what people really type: spaces, dashes, dots, brackets, full-width digits,
    ``+86`` / ``86`` / ``0086`` prefixes, ``13800138000.0`` from Excel floats and Excel
    numeric cells. ``1.38001E+10`` is invalid: its digits are gone and are never guessed.

    Returns columns phone, valid, reason, carrier, province, city (see the module doc),
    on a default RangeIndex.

    Examples
    --------
    >>> typed = ["+86 138-0013-8000", "１３８００１３８０００", "1.38001E+10"]
    >>> normalize_phones(typed)["phone"].tolist()
    ['13800138000', '13800138000', nan]
    """
    raw = _as_text(values)
    n = len(raw)
    if n == 0:
        return _empty_result()

    # 1. text clean-up: full-width forms and invisible marks (only on non-ASCII rows), trim
    text = _where(raw, pc.invert(pc.string_is_ascii(raw)), _unicode_cleanup)
    text = pc.utf8_trim_whitespace(text)
    clean = _numpy(pc.utf8_is_digit(text))  # already bare digits: the common case

    # 2. drop Excel's float tail and the separators people type between digit groups
    s = _where(
        text, pc.ends_with(text, ".0"), lambda x: pc.replace_substring_regex(x, r"\.0+$", "")
    )
    s = _where(s, pa.array(~clean), lambda x: pc.replace_substring_regex(x, _SEPARATORS, ""))

    # 3. prefixes: +86 / 0086 country code, a bare 86, a trunk 0 or an IP-dial code
    s = _where(
        s,
        pc.or_(pc.greater(pc.utf8_length(s), 11), pc.invert(pc.starts_with(s, "1"))),
        _strip_prefixes,
    )

    # 4. valid = libphonenumber's CN mobile pattern over the whole column (RE2, vectorised)
    valid = _numpy(pc.match_substring_regex(s, _mobile_pattern()))
    phone = pc.if_else(pa.array(valid), s, pa.scalar(None, pa.string()))

    # 5. a reason for every row that is not valid (usually a few per cent: computed on those)
    reason = np.full(n, -1, dtype=np.int64)
    empty = _numpy(pc.equal(s, ""), null=True)
    reason[empty] = REASONS.index(EMPTY)
    invalid = ~valid & ~empty
    if invalid.any():
        keep = pa.array(invalid)
        reason[invalid] = _reason_codes(text.filter(keep), s.filter(keep))
    names = pa.array(REASONS, pa.string())
    reasons = names.take(pa.array(reason, mask=reason < 0))

    # 6. carrier, province, city per 7-digit prefix
    carrier, province, city = _lookup(phone, valid, n)

    return pd.DataFrame(
        {
            "phone": _str_series(phone),
            "valid": valid,
            "reason": _str_series(reasons),
            "carrier": _str_series(carrier),
            "province": _str_series(province),
            "city": _str_series(city),
        }
    )


def _numpy(arr: pa.Array, *, null: bool = False) -> np.ndarray:
    """A boolean Arrow array as a numpy bool array, nulls as ``null``."""
    return pc.fill_null(arr, null).to_numpy(zero_copy_only=False)


def _unicode_cleanup(x: pa.Array) -> pa.Array:
    x = pc.utf8_normalize(x, "NFKC")  # full-width digits, ＋, －, （）, ideographic space
    return pc.replace_substring_regex(x, _INVISIBLE, "")


def _strip_prefixes(x: pa.Array) -> pa.Array:
    x = pc.replace_substring_regex(x, r"^(?:\+|00)86", "")
    return pc.replace_substring_regex(x, rf"^(?:86|0|{_IP_DIAL})(1[0-9]{{10}})$", r"\1")


def _reason_codes(text: pa.Array, s: pa.Array) -> np.ndarray:
    """Reason codes (indexes into REASONS) for rows known to be neither valid nor empty.

    ``text`` is the trimmed input, ``s`` the same after separators and prefixes were removed.
    """
    digits = _numpy(pc.utf8_is_digit(s))
    starts_1 = _numpy(pc.starts_with(s, "1"))
    length = pc.utf8_length(s).to_numpy(zero_copy_only=False)
    scientific = _numpy(pc.match_substring_regex(text, _SCIENTIFIC))
    several = _numpy(pc.match_substring_regex(s, _SEVERAL))
    foreign = _numpy(pc.match_substring_regex(s, r"^(?:\+|00)[1-9][0-9]{5,}$"))
    # a landline: libphonenumber's CN fixed-line pattern on the number without its trunk 0
    nsn = pc.replace_substring_regex(s, r"^0", "")
    landline = digits & _numpy(pc.match_substring_regex(nsn, _fixed_line_pattern()))
    conditions = [
        np.zeros(len(s), dtype=bool),  # EMPTY is decided before
        scientific,
        ~digits & ~several & ~foreign,
        several,
        foreign,
        landline,
        starts_1 & (length != 11),
        np.ones(len(s), dtype=bool),
    ]
    return np.select(conditions, np.arange(len(REASONS)))


def _lookup(phone: pa.Array, valid: np.ndarray, n: int) -> tuple[pa.Array, ...]:
    carrier_codes, province_codes, city_codes, carriers, provinces, cities = _prefix_tables()
    idx = np.zeros(n, dtype=np.int64)
    if valid.any():
        numbers = pc.cast(phone.filter(pa.array(valid)), pa.int64()).to_numpy()
        idx[valid] = numbers // 10 ** (11 - _PREFIX_DIGITS) - _TABLE_BASE
    out = []
    for table, names in (
        (carrier_codes, carriers),
        (province_codes, provinces),
        (city_codes, cities),
    ):
        codes = np.where(valid, table[idx], -1)
        out.append(names.take(pa.array(codes, mask=codes < 0)))
    return tuple(out)


def _str_series(arr: pa.Array) -> pd.Series:
    return pd.Series(pd.array(arr, dtype="str"))


def _empty_result() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "phone": pd.Series([], dtype="str"),
            "valid": pd.Series([], dtype=bool),
            "reason": pd.Series([], dtype="str"),
            "carrier": pd.Series([], dtype="str"),
            "province": pd.Series([], dtype="str"),
            "city": pd.Series([], dtype="str"),
        }
    )


def normalize_phone(value: Any) -> str | None:
    """One number normalised to its 11 digits, or None when it is not a valid mainland mobile.

    >>> normalize_phone("+86 (138) 0013-8000")
    '13800138000'
    """
    phone = normalize_phones([value])["phone"].iloc[0]
    return None if pd.isna(phone) else phone


# --------------------------------------------------------------------------- reading

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


_NAMED_MIN_SHARE = 0.05  # below this, a column's phone header is checked against its values
_HEADER_SEARCH = 10  # the header is looked for among this many first non-blank lines or rows
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
_ENCODING_NAMES = {"utf-8": "UTF-8", "gb18030": "GBK/GB18030"}
_RESAVE = "re-save the file as UTF-8 (in Excel: Save As > CSV UTF-8)"


def _guess_encoding(data: bytes) -> str:
    """'utf-8' or 'gb18030' (a superset of GBK and GB2312) for text without a BOM.

    Decided on the first 64 KiB. A file whose first non-ASCII lines are UTF-8 is UTF-8 even
    when a GBK line follows: :func:`_decode_lines` reads such odd lines one by one.
    """
    head = data[:65536]
    if len(data) > len(head):
        head = head[: head.rfind(b"\n") + 1] or head
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut_in_half = len(head) - exc.start <= 3 and len(data) > len(head)
        proven_utf8 = not head[: head.rfind(b"\n", 0, exc.start) + 1].isascii()
        if not cut_in_half and not proven_utf8:
            return "gb18030"
    return "utf-8"


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


def _decode_lines(data: bytes, *, name: str, first: str, strict: bool = True) -> str:
    """Text whose lines are each UTF-8 or GBK/GB18030: ``first`` wherever it works.

    The whole text is decoded at once when it can be; from the first line that is not
    ``first`` on, line by line with the other encoding as the fallback. A line that is
    neither is an InputError naming it (``strict``) or decoded with replacement characters.
    """
    second = "gb18030" if first == "utf-8" else "utf-8"
    try:
        return data.decode(first)
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
    parts = [data[:start].decode(first)]
    fallback: list[int] = []
    for number, line in enumerate(data[start:].split(b"\n"), data.count(b"\n", 0, start) + 1):
        try:
            parts.append(line.decode(first))
            continue
        except UnicodeDecodeError:
            pass
        try:
            parts.append(line.decode(second))
        except UnicodeDecodeError as exc:
            if not strict:
                parts.append(line.decode(first, errors="replace"))
                continue
            raise InputError(
                f"{name}: line {number} is neither UTF-8 nor GBK/GB18030 text; {_RESAVE}"
            ) from exc
        fallback.append(number)
    if strict and fallback:
        log.warning(
            "%s: %d line(s) are not %s but %s, read as such (first: line %d); %s to be sure",
            name,
            len(fallback),
            _ENCODING_NAMES[first],
            _ENCODING_NAMES[second],
            fallback[0],
            _RESAVE,
        )
    return parts[0] + "\n".join(parts[1:])


def _read_text(data: bytes, *, name: str, encoding: str | None, txt: bool) -> pd.DataFrame:
    """A delimited or one-number-a-line text file; its header found among the first lines.

    UTF-8 stays bytes for Arrow's fast reader; anything else is decoded to text first.
    """
    utf16 = encoding is None and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if data.startswith(codecs.BOM_UTF8):  # also before an explicit encoding: Notepad adds one
        data = data[len(codecs.BOM_UTF8) :]
    if encoding is not None:
        _check_encoding(encoding, name=name)
    chosen = "utf-16" if utf16 else encoding or _guess_encoding(data)
    text: str | None = None  # None: the bytes are (probably) UTF-8, read by Arrow
    if utf16 or (encoding is not None and not _is_utf8(encoding)):
        text = _decode(data, name=name, encoding=chosen)
    elif encoding is None and chosen != "utf-8":
        text = _decode_lines(data, name=name, first=chosen)

    def whole_text() -> str:
        if text is not None:
            return text
        if encoding is not None:
            return _decode(data, name=name, encoding=encoding)
        return _decode_lines(data, name=name, first="utf-8")

    if text is not None:
        head = text[:65536]
        if len(text) > len(head):
            head = head[: head.rfind("\n") + 1] or head
    else:
        cut = data[:65536]
        if len(data) > len(cut):
            cut = cut[: cut.rfind(b"\n") + 1] or cut
        head = _decode_lines(cut, name=name, first="utf-8", strict=False)
    numbered = [(i, ln) for i, ln in enumerate(_LINE_BREAK.split(head)) if ln.strip()][:20]
    if not numbered:
        return pd.DataFrame({"phone": pd.Series([], dtype="str")})
    sep = _sniff_separator([ln for _, ln in numbered])
    if txt and sep is None:
        return _read_txt(whole_text())

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
    valid = normalize_phones(flat)["valid"].to_numpy() if flat else np.zeros(0, dtype=bool)
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
    if values and not normalize_phones(values[:1])["valid"].iloc[0] and _is_header_word(values[0]):
        values = values[1:]
    return pd.DataFrame({"phone": pd.Series(values, dtype="str")})


def _is_header_word(value: str) -> bool:
    return _header_key(value) in {_header_key(h) for h in PHONE_HEADERS}


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
    if not filled:
        return pd.DataFrame({"phone": pd.Series([], dtype="str")})
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
        # calamine starts every sheet at row 1, so position + 1 is the row Excel shows
        skipped = {filled[j] + 1: ",".join(c or "" for c in rows[j]) for j in range(at)}
    _note_skipped(frame, skipped, name=name, what="row")
    return frame


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


# --------------------------------------------------------------------------- finding the column


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
    return float(normalize_phones(values.to_numpy(dtype=object))["valid"].mean())
