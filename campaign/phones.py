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
import logging
import os
import re
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
        ``df.attrs["phone_column"]``.
    sheet
        Excel sheet name or 0-based position (default: the first sheet).
    encoding
        Text encoding. By default UTF-8 (with or without BOM) and GBK/GB18030 are detected.

    Returns
    -------
    DataFrame
        Every input row, in order, with its original columns plus phone, valid, reason,
        carrier, province, city and duplicate (see :mod:`campaign.phones`). If the phone column
        is itself called ``phone`` it is kept as ``phone_raw``; another original column whose
        name clashes with an added one is kept with a ``_raw`` suffix.

    Raises
    ------
    ColumnNotFoundError
        When no column can be told to hold the phone numbers; pass ``column=``.
    InputError
        When the file cannot be read (unknown type, undecodable text, a malformed row).

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


def _guess_encoding(data: bytes) -> str:
    """UTF-8 (BOM or not), UTF-16 with a BOM, else GB18030 (a superset of GBK and GB2312).

    Decided on the first 64 KiB; a later byte that is not UTF-8 makes the reader retry.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = data[:65536]
    if len(data) > len(head):
        head = head[: head.rfind(b"\n") + 1] or head
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(head) - exc.start > 3 or len(data) == len(head):  # not a character cut in half
            return "gb18030"
    return "utf-8"


def _decode(data: bytes, *, name: str, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except LookupError as exc:
        raise InputError(f"{name}: unknown encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{name}: line {line} is not valid {encoding} text; "
            "save the file as UTF-8 or pass encoding=... (e.g. 'gbk')"
        ) from exc


def _read_text(data: bytes, *, name: str, encoding: str | None, txt: bool) -> pd.DataFrame:
    chosen = encoding or _guess_encoding(data)
    head = _decode(data[:65536], name=name, encoding=chosen) if len(data) <= 65536 else None
    if head is None:
        cut = data[: data.rfind(b"\n", 0, 65536) + 1] or data[:65536]
        head = cut.decode(chosen, errors="replace")
    head = head.lstrip("\ufeff")
    first_lines = [ln for ln in head.splitlines()[:20] if ln.strip()]
    if not first_lines:
        return pd.DataFrame({"phone": pd.Series([], dtype="str")})
    sep = _sniff_separator(first_lines)
    if txt and sep is None:
        return _read_txt(_decode(data, name=name, encoding=chosen).lstrip("\ufeff"))
    header = 0 if _looks_like_header(first_lines[0], sep or ",") else None
    try:
        frame = _read_csv(data, sep=sep or ",", header=header, encoding=chosen)
    except UnicodeDecodeError:
        if encoding is not None:
            raise
        chosen = "gb18030"  # UTF-8 at the start, something else later on
        frame = _read_csv(data, sep=sep or ",", header=header, encoding=chosen)
    except pd.errors.ParserError as exc:
        problem = _parser_message(exc)
        raise InputError(f"{name}: {problem}; fix that row or quote the field") from exc
    if header is None:
        frame.columns = (
            ["phone"] if frame.shape[1] == 1 else [f"column_{i + 1}" for i in range(frame.shape[1])]
        )
    else:
        frame.columns = _dedupe([str(c).strip() for c in frame.columns])
    return frame


def _parser_message(exc: Exception) -> str:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    if found:
        expected, line, saw = found.groups()
        return f"line {line} has {saw} fields where the header has {expected}"
    return str(exc).strip()


def _read_csv(data: bytes, *, sep: str, header: int | None, encoding: str) -> pd.DataFrame:
    """Arrow's multi-threaded CSV reader; pandas' C reader for what Arrow refuses.

    The C reader is the fallback because its errors name the offending line.
    """
    options = {"sep": sep, "header": header, "dtype": str}
    if encoding.replace("-", "").lower() in {"utf8", "utf8sig"}:
        try:
            return pd.read_csv(io.BytesIO(data), engine="pyarrow", **options)
        except (pa.ArrowInvalid, ValueError) as exc:
            if "UTF8" in str(exc) or "utf-8" in str(exc).lower():
                raise UnicodeDecodeError("utf-8", b"", 0, 1, str(exc)) from exc
            log.debug("Arrow CSV reader refused the file (%s); using pandas' C reader", exc)
    text = data.decode(encoding)
    return pd.read_csv(io.StringIO(text.lstrip("\ufeff")), engine="c", **options)


def _sniff_separator(lines: list[str]) -> str | None:
    """The field separator of a delimited text, or None when each line is one value."""
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",\t;|")
        return dialect.delimiter
    except csv.Error:
        pass
    for sep in (",", "\t", ";", "|"):
        if all(sep in ln for ln in lines):
            return sep
    return None


def _looks_like_header(line: str, sep: str) -> bool:
    """A first line is a header unless one of its fields is itself a phone number."""
    fields = next(csv.reader([line], delimiter=sep))
    result = normalize_phones(fields)
    return not result["valid"].any()


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
    raw = raw.dropna(how="all").reset_index(drop=True)
    if raw.empty:
        return pd.DataFrame({"phone": pd.Series([], dtype="str")})
    first = [_cell_text(v) for v in raw.iloc[0]]
    if normalize_phones(first)["valid"].any():
        raw.columns = (
            ["phone"] if raw.shape[1] == 1 else [f"column_{i + 1}" for i in range(raw.shape[1])]
        )
        return raw
    columns = [str(v).strip() if v is not None else f"column_{i + 1}" for i, v in enumerate(first)]
    frame = raw.iloc[1:].reset_index(drop=True)
    frame.columns = _dedupe(columns)
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
        return ranked[0][2]

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


def _phone_share(values: pd.Series, *, sample: int = 1000) -> float:
    values = values.dropna()
    if values.empty:
        return 0.0
    if len(values) > sample:
        values = values.iloc[np.linspace(0, len(values) - 1, sample).astype(int)]
    return float(normalize_phones(values.to_numpy(dtype=object))["valid"].mean())
