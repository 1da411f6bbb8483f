"""A pushed body as a form: its charset, its fields, and times cut short.

Charset rule (issue 12): a charset the Content-Type declares is believed when the body's bytes
decode under it; only an undeclared or undecodable body falls back to the rule of
:mod:`campaign.text` (UTF-8, then GB18030). Names of GBK and its subsets are read as GB18030
(:func:`campaign.text.codec`).
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from typing import Any

from campaign.errors import PayloadError
from campaign.text import form_charset

__all__ = ["check_times", "decode_form", "form_codec"]

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)

# A date and time whose parts may have lost digits ("2024-11-11 20:0"); a full one has
# two-digit month, day, hour, minute and second.
_LOOSE_TIME = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})[ T](\d{1,2}):(\d{1,2})(?::(\d{0,2}))?(?:\.\d*)?"
)
_FULL_TIME = re.compile(r"\d{4}[-/]\d{2}[-/]\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?")


def declared_charset(content_type: str) -> str | None:
    """The charset a Content-Type header names, or None."""
    match = _CHARSET.search(content_type or "")
    return match.group(1) if match else None


def form_codec(raw: bytes, declared: str | None) -> str:
    """The codec to read a form's (unquoted) bytes with (:func:`campaign.text.form_charset`:
    the declared charset when the bytes decode under it, else UTF-8, else GB18030). Raises
    PayloadError when none reads them.

    >>> form_codec("退订".encode("gbk"), "GBK"), form_codec("退订".encode("utf-8"), None)
    ('gb18030', 'utf-8')
    """
    try:
        return form_charset(raw, declared)
    except UnicodeDecodeError:
        raise PayloadError(
            f"body is neither {declared or 'UTF-8'}"
            + (" nor UTF-8" if declared else "")
            + " nor GB18030"
        ) from None


def decode_form(body: bytes, content_type: str = "") -> dict[str, str | list[str]]:
    """A form-encoded body as ``{name: value}`` (a repeated name keeps every value as a list).

    The declared charset is believed when the bytes decode under it; otherwise (or when none
    is declared) UTF-8, then GB18030.

    >>> decode_form(b"to=138&text=%CD%CB%B6%A9", "charset=GBK")
    {'to': '138', 'text': '退订'}
    """
    lowered = (content_type or "").lower()
    if "json" in lowered or "multipart" in lowered:
        raise PayloadError(f"expected a form-encoded body, got {content_type.split(';')[0]}")
    pairs = [
        (urllib.parse.unquote_to_bytes(k.replace(b"+", b" ")),
         urllib.parse.unquote_to_bytes(v.replace(b"+", b" ")))
        for k, _, v in (chunk.partition(b"=") for chunk in body.split(b"&") if chunk)
    ]  # fmt: skip
    charset = form_codec(b"".join(k + v for k, v in pairs), declared_charset(content_type))
    form: dict[str, str | list[str]] = {}
    for key, value in pairs:
        name, text = key.decode(charset), value.decode(charset)
        if name in form:
            before = form[name]
            form[name] = [*before, text] if isinstance(before, list) else [before, text]
        else:
            form[name] = text
    if not form:
        raise PayloadError("empty push: no form fields")
    return form


def check_times(form: dict[str, Any], received_at: str | None) -> None:
    """Refuse a record whose time was read from a form value cut short.

    Vendor-blind: a value shaped like a date and time with missing digits
    (``2024-11-11 20:0``, ``2024-11-11 20:00:0``, ``2024-11-11 20:00``) that names the same
    moment the parser gave the record (``received_at``) is where that moment came from, and
    a guessed moment is not stored. Raises PayloadError.
    """
    if not received_at:
        return
    try:
        moment = dt.datetime.fromisoformat(received_at).replace(tzinfo=None)
    except ValueError:
        return
    for name, value in form.items():
        if not isinstance(value, str):
            continue
        text = value.strip()
        match = _LOOSE_TIME.fullmatch(text)
        if match is None or _FULL_TIME.fullmatch(text):
            continue
        year, month, day, hour, minute, second = match.groups()
        try:
            named = dt.datetime(int(year), int(month), int(day), int(hour), int(minute),
                                int(second or 0))  # fmt: skip
        except ValueError:
            continue
        if named == moment:
            raise PayloadError(
                f"field {name!r} {value!r} is a time cut short (expected like "
                "2024-11-11 20:00:05): not stored as a guess"
            )
