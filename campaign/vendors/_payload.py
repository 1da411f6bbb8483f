"""Reading what vendors send back: timestamps, phones, required fields, XML and charsets.

Vendor modules read their answers and pushes with these; how undeclared Chinese bytes become
text is decided once, in :mod:`campaign.text`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from campaign.clock import SHANGHAI
from campaign.errors import PayloadError
from campaign.text import decode_text

if TYPE_CHECKING:
    import requests

__all__ = [
    "child_text",
    "parse_xml",
    "payload_phone",
    "require",
    "response_charset",
    "shanghai_iso",
]

_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%Y%m%d%H%M%S",
    "%Y/%m/%d %H:%M:%S",  # captured pushes re-saved by Excel on a Chinese Windows
    "%Y/%m/%d %H:%M",
)
_PHONE_RE = re.compile(r"(?:\+?86)?(1\d{10})")
#: A minute or second of one digit (``20:0``, ``20:00:0``): a time cut short.
_CUT_SHORT = re.compile(r":\d(?!\d)")


def shanghai_iso(value: str, *, vendor: str, field: str) -> str:
    """A vendor timestamp (``yyyy-MM-dd HH:mm:ss[.S]``, Beijing time) as ISO-8601 with +08:00.

    Also ``yyyy/MM/dd HH:mm[:ss]`` (what Excel shows), and ISO-8601 with an offset, moved to
    Beijing time. A date without a time is refused: the receipt's moment is the point.

    >>> shanghai_iso("2019-07-23 17:00:00", vendor="veesing-sms", field="receivetime")
    '2019-07-23T17:00:00+08:00'
    >>> shanghai_iso("2019-07-23T09:00:00Z", vendor="veesing-sms", field="receivetime")
    '2019-07-23T17:00:00+08:00'
    """
    text = value.strip()
    if _CUT_SHORT.search(text):  # strptime would read 20:0 as 20:00: a guess, not a time
        raise PayloadError(
            f"{vendor}: {field} {value!r} is cut short: minutes and seconds have two digits, "
            "as in 2019-07-23 17:00:00"
        )
    for fmt in _TIME_FORMATS:
        try:
            moment = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return moment.replace(microsecond=0, tzinfo=SHANGHAI).isoformat()
    if ":" in text:
        with contextlib.suppress(ValueError):
            moment = dt.datetime.fromisoformat(text)
            moment = moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment
            return moment.astimezone(SHANGHAI).replace(microsecond=0).isoformat()
    raise PayloadError(f"{vendor}: {field} {value!r} is not a time like 2019-07-23 17:00:00")


def payload_phone(value: str, *, vendor: str, field: str = "mobile") -> str:
    """A phone from a vendor payload, as 11 digits when it is a mainland mobile (else the
    digits as sent, with a leading ``+`` if any); anything else is a :class:`PayloadError`.

    A trailing ``.0`` (a number a spreadsheet saved as a float) is dropped; ``1.38001E+10``
    (digits a spreadsheet already lost) is refused, never guessed.
    """
    text = re.sub(r"[\s-]", "", value)
    if not text:
        raise PayloadError(f"{vendor}: {field} is empty")
    text = text.removesuffix(".0")
    match = _PHONE_RE.fullmatch(text)
    if match:
        return match.group(1)
    if re.fullmatch(r"\+?\d{3,20}", text):
        return text
    if re.fullmatch(r"\d(\.\d+)?[eE]\+?\d+", text):
        raise PayloadError(
            f"{vendor}: {field} {value!r} lost its digits to a spreadsheet's scientific notation:"
            " export the captured pushes again without opening them in Excel"
        )
    raise PayloadError(f"{vendor}: {field} {value!r} is not a phone number")


def require(form: Mapping[str, Any], name: str, *, vendor: str, where: str = "") -> str:
    """``form[name]`` as a string; a missing field is a :class:`PayloadError` naming it."""
    value = form.get(name)
    if value is None:
        raise PayloadError(f"{vendor}: missing field {name!r}{where}")
    return str(value)


_DECLARATION = re.compile(rb"^\s*<\?xml(?P<attrs>[^>]*?)\?>", re.IGNORECASE)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def response_charset(response: requests.Response) -> str | None:
    """The charset the Content-Type header declares, if any (not requests' latin-1 guess)."""
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", response.headers.get("Content-Type", ""))
    return match.group(1) if match else None


def parse_xml(body: bytes | str, *, vendor: str) -> ET.Element:
    """A vendor's XML answer as an Element, tolerant of what vendors really send.

    Handles a BOM, a GBK/GB2312 declaration (which expat cannot decode itself), a malformed
    declaration, stray whitespace or junk before the root, and namespaces (stripped from tags).
    Text (``str``) is already decoded: its declaration is not used to decode it again.
    Raises :class:`~campaign.errors.PayloadError` when there is no well-formed element.
    xml.etree does not fetch external entities and expat refuses entity-expansion bombs.
    """
    if isinstance(body, str):
        text = body.lstrip("\ufeff")
    else:
        raw = bytes(body)
        declared = None
        head = raw.lstrip(b"\xef\xbb\xbf")
        match = _DECLARATION.match(head)
        if match:
            enc = _ENCODING.search(match.group("attrs"))
            declared = enc.group(1).decode("ascii") if enc else None
        text = decode_text(raw, declared=declared).lstrip("\ufeff")
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text, flags=re.IGNORECASE)
    start = text.find("<")
    if start < 0:
        raise PayloadError(f"{vendor}: answer is not XML: {text[:80]!r}")
    try:
        root = ET.fromstring(text[start:].strip())
    except ET.ParseError as exc:
        raise PayloadError(f"{vendor}: malformed XML ({exc})") from None
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.rsplit("}", 1)[1]
    return root


def child_text(element: ET.Element, name: str, *, vendor: str, where: str = "") -> str:
    """The stripped text of a required child; missing is a :class:`PayloadError` naming it."""
    child = element.find(name)
    if child is None:
        raise PayloadError(f"{vendor}: missing field {name!r}{where}")
    return (child.text or "").strip()
