"""Normalising with Arrow string kernels: :func:`normalize_phones` and :func:`normalize_phone`.

Nothing here calls ``phonenumbers`` once per row. Each step runs over the whole column, and
the costlier ones (separators, prefixes, reasons) only over the rows that need them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from campaign.phones._prefix_file import PrefixesLike, _tables
from campaign.phones._prefixes import (
    _PREFIX_DIGITS,
    _TABLE_BASE,
    _fixed_line_pattern,
    _mobile_pattern,
)
from campaign.phones._reference import (
    _INVISIBLE,
    _IP_DIAL,
    _SCIENTIFIC,
    _SEPARATORS,
    _SEVERAL,
    EMPTY,
    REASONS,
)


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


def normalize_phones(
    values: Iterable[Any] | pd.Series, *, prefixes: PrefixesLike | bool = None
) -> pd.DataFrame:
    """Normalise and classify phone numbers, one output row per input value.

    Accepts what people really type: spaces, dashes, dots, brackets, full-width digits,
    ``+86`` / ``86`` / ``0086`` prefixes, ``13800138000.0`` from Excel floats and Excel
    numeric cells. ``1.38001E+10`` is invalid: its digits are gone and are never guessed.

    Returns columns phone, valid, reason, carrier, province, city (see
    :mod:`campaign.phones`), on a default RangeIndex. ``prefixes`` is a 号段 prefix file
    that fills in the carrier, province and city libphonenumber does not know (see
    :func:`~campaign.load_phones`); by default ``$CAMPAIGN_PREFIXES``, False for none.

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
    carrier, province, city = _lookup(phone, valid, n, _tables(prefixes))

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


def _lookup(phone: pa.Array, valid: np.ndarray, n: int, tables: tuple) -> tuple[pa.Array, ...]:
    carrier_codes, province_codes, city_codes, carriers, provinces, cities = tables
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
    phone = normalize_phones([value], prefixes=False)["phone"].iloc[0]
    return None if pd.isna(phone) else phone
