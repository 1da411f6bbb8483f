"""What every vendor module shares: limits, records, timeouts, and the one transport boundary.

Vendor modules declare their :class:`VendorLimits` as data and build their requests; all HTTP
goes through :meth:`VendorClient._call`, the only place where :mod:`requests` exceptions are
turned into :class:`~campaign.errors.VendorUnreachable` (the request never left: safe to retry)
or :class:`~campaign.errors.VendorResponseUnknown` (it may have reached the vendor: the outcome
is unknown). Retrying is decided per *operation* (:class:`RetryPolicy`), never per HTTP verb:
sends are retried only when the vendor was certainly not reached.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import html
import logging
import os
import re
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from campaign.clock import SHANGHAI
from campaign.errors import (
    ConfigError,
    InputError,
    PayloadError,
    VendorRejected,
    VendorResponseUnknown,
    VendorUnreachable,
)

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_RETRIES",
    "POOL_SIZE",
    "RECEIPT_COLUMNS",
    "REPLY_COLUMNS",
    "SHANGHAI",
    "Receipt",
    "Reply",
    "RetryPolicy",
    "SendResult",
    "VendorClient",
    "VendorLimits",
]

logger = logging.getLogger(__name__)

#: Seconds to wait for a TCP connection to the vendor.
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Seconds to wait for the vendor's answer once the request is sent (20,000 numbers take a while).
DEFAULT_READ_TIMEOUT = 30.0
#: Extra attempts after the first one, for calls whose policy allows a retry.
DEFAULT_RETRIES = 2
#: Seconds before the first retry; doubled for each further one.
DEFAULT_BACKOFF = 0.5
#: Connections kept per host: enough for ``cp.send(..., concurrency=8)`` with room to spare.
POOL_SIZE = 10


Channel = Literal["sms", "code", "voice"]
DataMode = Literal["push", "pull", "none"]
Status = Literal["delivered", "failed", "unknown"]


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class VendorLimits:
    """What a vendor accepts, as data: batching reads this and never a vendor's name.

    ``None`` means the vendor publishes no number (or the rule does not apply).

    Attributes
    ----------
    max_phones_per_call : int
        Numbers in one request.
    single_phone_only : bool
        The vendor takes exactly one number per request (fan out, maybe concurrently).
    channel : {"sms", "code", "voice"}
        Marketing/notice SMS, verify-code SMS, or a voice call.
    message : {"content", "template"}
        ``"content"``: ``send(content=...)``;
        ``"template"``: ``send(template_id=..., variables=...)``.
    encoding : str
        Character set the content must be encodable in (``"gbk"`` for jzyyun).
    signature_required : bool
        Content must carry a 【signature】.
    emoji_forbidden : bool
        Content or variables must not contain emoji.
    content_pattern, content_rule : str or None
        Full-match regular expression the content must satisfy, and the rule in words.
    variables_pattern, variables_rule : str or None
        The same for template ``variables``.
    schedulable : bool
        ``send_at`` is supported.
    min_lead_seconds : int or None
        ``send_at`` must be more than this many seconds after submission.
    min_interval_seconds : int or None
        The same number may receive at most one message per this many seconds.
    daily_cap_per_number, daily_cap_per_account : int or None
        Published daily caps (``None``: the cap exists or may exist but is unpublished).
    segment_chars, multipart_segment_chars : int or None
        Characters billed as one SMS (70), and per part once longer (67). ``None`` for voice.
    long_sms : bool
        The vendor has an explicit long-SMS flag (jzyyun ``isLongSms``).
    delivery : {"push", "pull", "none"}
        How delivery receipts arrive.
    replies : {"push", "pull", "none"}
        How inbound replies arrive.

    Examples
    --------
    >>> cp.vendor_limits("jzyyun-sms").max_phones_per_call
    20000
    """

    max_phones_per_call: int
    channel: Channel
    message: Literal["content", "template"] = "content"
    single_phone_only: bool = False
    encoding: str = "utf-8"
    signature_required: bool = False
    emoji_forbidden: bool = False
    content_pattern: str | None = None
    content_rule: str | None = None
    variables_pattern: str | None = None
    variables_rule: str | None = None
    schedulable: bool = False
    min_lead_seconds: int | None = None
    min_interval_seconds: int | None = None
    daily_cap_per_number: int | None = None
    daily_cap_per_account: int | None = None
    segment_chars: int | None = 70
    multipart_segment_chars: int | None = 67
    long_sms: bool = False
    delivery: DataMode = "none"
    replies: DataMode = "none"

    def __post_init__(self) -> None:
        if not isinstance(self.max_phones_per_call, int) or self.max_phones_per_call < 1:
            raise InputError(
                f"max_phones_per_call must be a positive integer, not {self.max_phones_per_call!r}"
            )
        if self.single_phone_only and self.max_phones_per_call != 1:
            raise InputError(
                "this vendor takes one phone per call: max_phones_per_call cannot be "
                f"{self.max_phones_per_call}"
            )
        for name in ("content_pattern", "variables_pattern"):
            pattern = getattr(self, name)
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise InputError(f"{name} is not a valid regular expression: {exc}") from None

    def replace(self, overrides: Mapping[str, Any] | None = None, /, **kwargs: Any) -> VendorLimits:
        """A copy with some fields changed; unknown field names are an :class:`InputError`.

        Examples
        --------
        >>> limits = cp.vendor_limits("veesing-sms")
        >>> limits.replace(max_phones_per_call=2000).max_phones_per_call
        2000
        >>> limits.replace(max_phone_per_call=2000)
        Traceback (most recent call last):
        ...
        campaign.errors.InputError: ...
        """
        changes = {**(overrides or {}), **kwargs}
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise InputError(
                f"unknown limit(s) {', '.join(unknown)}; valid names: {', '.join(sorted(known))}"
            )
        return dataclasses.replace(self, **changes)

    def _repr_html_(self) -> str:
        """In a notebook: one row per limit, not one 600-character line."""
        rows = "".join(
            f"<tr><th style='text-align:left'>{f.name}</th>"
            f"<td style='text-align:left'>{html.escape(repr(getattr(self, f.name)))}</td></tr>"
            for f in dataclasses.fields(self)
        )
        return f"<table><caption>VendorLimits</caption>{rows}</table>"


# --------------------------------------------------------------------------- message rules

_SIGNATURE = re.compile(r"^\s*【[^【】]{1,20}】|【[^【】]{1,20}】\s*$")
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U0001f1e6-\U0001f1ff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d"
    "\U0001fb00-\U0001fbff]"
)
_OPT_OUT_PHRASE = re.compile(r"退订|拒收|回\s*[TtNnRr]\b|STOP", re.IGNORECASE)


def check_message(
    *,
    content: str | None,
    template_id: str | None,
    variables: str | None,
    limits: VendorLimits,
    vendor: str,
) -> list[str]:
    """Check a message against the vendor's rules; the planner and every client use this.

    Raises InputError saying what to fix: content or template as the vendor takes it, a
    【signature】 where required, no emoji, characters the vendor can encode, the content or
    variables pattern. Returns warnings that do not stop a send (no opt-out phrase in an SMS).
    """
    notes: list[str] = []
    if limits.message == "template":
        if content is not None:
            raise InputError(
                f"{vendor} sends a template: pass template_id=... and variables=..., not content"
            )
        if template_id is None or not str(template_id).strip():
            raise InputError(f"{vendor} sends a template: pass template_id=... (from the console)")
        _check_text("variables", variables or "", limits, vendor, limits.variables_pattern,
                    limits.variables_rule)  # fmt: skip
        return notes

    if template_id is not None or variables is not None:
        raise InputError(f"{vendor} sends text: pass content=..., not template_id/variables")
    if content is None or not content.strip():
        raise InputError(f"{vendor} needs content=...: the message text, with its 【signature】")
    if limits.signature_required and not _SIGNATURE.search(content):
        raise InputError(
            f"{vendor}: content must start or end with the sender's 【signature】, e.g. "
            f"'【云通信】{content.strip()[:12]}…'; the vendor refuses unsigned SMS"
        )
    _check_text("content", content, limits, vendor, limits.content_pattern, limits.content_rule)
    if limits.channel == "sms" and not _OPT_OUT_PHRASE.search(content):
        notes.append(
            "the content has no opt-out phrase (e.g. 回T退订 or 拒收请回复R); marketing SMS "
            "should tell people how to stop them"
        )
    return notes


def _check_text(
    what: str, text: str, limits: VendorLimits, vendor: str, pattern: str | None, rule: str | None
) -> None:
    if limits.emoji_forbidden:
        found = _EMOJI.search(text)
        if found:
            raise InputError(
                f"{vendor}: {what} has an emoji ({found.group()!r} at character "
                f"{found.start() + 1}); the vendor does not accept emoji: remove it"
            )
    try:
        text.encode(limits.encoding)
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise InputError(
            f"{vendor}: {what} character {bad!r} (at character {exc.start + 1}) cannot be sent: "
            f"the vendor takes {limits.encoding.upper()} text; replace it"
        ) from None
    if pattern is not None and not re.fullmatch(pattern, text):
        raise InputError(f"{vendor}: {what} {text!r} does not fit the vendor's rule: {rule}")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class SendResult:
    """What the vendor said to one send call.

    A refusal is ``ok=False`` with the vendor's own ``code`` and ``message``, not an exception.

    Attributes
    ----------
    ok : bool
        The vendor accepted the submission.
    task_id : str or None
        The vendor's batch/task id (links receipts to this call).
    accepted : int
        Numbers the vendor accepted (0 when refused).
    message : str or None
        The vendor's message, as sent.
    code : str or None
        The vendor's result code, as sent (``"1"``/``"0"`` veesing, ``"2"``/``"405"``... ihuyi,
        ``"success"``/``"failure"`` jzyyun).
    remaining : int or None
        Balance after the call, when the vendor reports it.
    raw : str
        The vendor's reply body (credentials removed).
    """

    ok: bool
    task_id: str | None
    accepted: int
    message: str | None
    code: str | None
    remaining: int | None = None
    raw: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for a DataFrame row or the store)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Receipt:
    """One delivery receipt, normalised across vendors.

    ``status`` is ``"delivered"``, ``"failed"`` or ``"unknown"``; ``code`` is the vendor's or
    gateway's raw code kept as-is; ``received_at`` is ISO-8601 in Asia/Shanghai, e.g.
    ``"2024-07-25T14:01:30+08:00"``; ``talk_seconds`` is the voice call's talk time (seconds).
    """

    vendor: str
    task_id: str | None
    phone: str
    status: Status
    code: str | None
    received_at: str
    talk_seconds: int | None = None
    remark: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Reply:
    """One inbound reply (an SMS the recipient sent back); ``received_at`` as in Receipt."""

    vendor: str
    task_id: str | None
    phone: str
    content: str
    received_at: str

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return dataclasses.asdict(self)


RECEIPT_COLUMNS = tuple(f.name for f in dataclasses.fields(Receipt))
REPLY_COLUMNS = tuple(f.name for f in dataclasses.fields(Reply))


def receipts_frame(records: Iterable[Receipt]) -> pd.DataFrame:
    """Receipts as a DataFrame with :data:`RECEIPT_COLUMNS` (``talk_seconds`` nullable Int64)."""
    frame = pd.DataFrame([r.to_dict() for r in records], columns=list(RECEIPT_COLUMNS))
    frame["talk_seconds"] = frame["talk_seconds"].astype("Int64")
    return frame


def replies_frame(records: Iterable[Reply]) -> pd.DataFrame:
    """Replies as a DataFrame with :data:`REPLY_COLUMNS`."""
    return pd.DataFrame([r.to_dict() for r in records], columns=list(REPLY_COLUMNS))


# --------------------------------------------------------------------------- parsing helpers

_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%Y%m%d%H%M%S",
    "%Y/%m/%d %H:%M:%S",  # captured pushes re-saved by Excel on a Chinese Windows
    "%Y/%m/%d %H:%M",
)
_PHONE_RE = re.compile(r"(?:\+?86)?(1\d{10})")


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


def as_shanghai(when: dt.datetime | str, *, vendor: str) -> dt.datetime:
    """A send time as an aware datetime in Asia/Shanghai; naive values are Shanghai time."""
    if isinstance(when, str):
        try:
            moment = dt.datetime.fromisoformat(when.strip())
        except ValueError:
            raise InputError(
                f"{vendor}: send_at {when!r} is not a time like 2024-11-11 20:00:00"
            ) from None
    elif isinstance(when, dt.datetime):
        moment = when
    else:
        raise InputError(f"{vendor}: send_at must be a datetime or a string, not {when!r}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(SHANGHAI)


def phone_list(phones: str | Iterable[str], *, vendor: str, limits: VendorLimits) -> list[str]:
    """Validate the shape of a send's phone argument (not the numbers: batching does that)."""
    items = [phones] if isinstance(phones, str) else [str(p) for p in phones]
    items = [p.strip() for p in items]
    if not items or any(not p for p in items):
        raise InputError(f"{vendor}: send needs at least one non-empty phone number")
    if any("," in p for p in items):
        raise InputError(f"{vendor}: pass phones as a list, not a comma-separated string")
    if len(items) > limits.max_phones_per_call:
        if limits.single_phone_only:
            raise InputError(f"{vendor}: takes one phone per call, got {len(items)}")
        raise InputError(
            f"{vendor}: at most {limits.max_phones_per_call} phones per call, got {len(items)}; "
            "plan the send with cp.plan_batches"
        )
    return items


_DECLARATION = re.compile(rb"^\s*<\?xml(?P<attrs>[^>]*?)\?>", re.IGNORECASE)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def utf8_or_gbk(raw: bytes) -> str:
    """Undeclared Chinese text: UTF-8 when the bytes are UTF-8, else GB18030 (a superset of
    GBK and GB2312). The order matters: GBK text is almost never valid UTF-8, while GB18030
    takes most UTF-8 bytes (取消 in UTF-8 read as GB18030 is 鍙栨秷). Raises
    ``UnicodeDecodeError`` when the bytes are neither.

    >>> utf8_or_gbk("退订".encode("gbk")), utf8_or_gbk("退订".encode("utf-8"))
    ('退订', '退订')
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def decode_text(body: bytes, *, declared: str | None = None) -> str:
    """Vendor bytes as text: BOM first, else the declared charset, else UTF-8, else GBK."""
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", errors="replace")
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return body.decode("utf-16", errors="replace")
    candidates = [declared] if declared else []
    candidates += ["utf-8", "gb18030"]
    for name in candidates:
        try:
            return body.decode(_codec(name))
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("gb18030", errors="replace")


def response_charset(response: requests.Response) -> str | None:
    """The charset the Content-Type header declares, if any (not requests' latin-1 guess)."""
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", response.headers.get("Content-Type", ""))
    return match.group(1) if match else None


def _codec(name: str) -> str:
    """GBK and GB2312 as their superset GB18030 (vendors say one and send the other)."""
    lowered = name.lower().replace("_", "-")
    return "gb18030" if lowered in ("gbk", "gb2312", "gb-2312", "cp936", "x-gbk") else lowered


def parse_xml(body: bytes | str, *, vendor: str) -> ET.Element:
    """A vendor's XML answer as an Element, tolerant of what vendors really send.

    Handles a BOM, a GBK/GB2312 declaration (which expat cannot decode itself), a malformed
    declaration, stray whitespace or junk before the root, and namespaces (stripped from tags).
    Raises :class:`~campaign.errors.PayloadError` when there is no well-formed element.
    xml.etree does not fetch external entities and expat refuses entity-expansion bombs.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
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


# --------------------------------------------------------------------------- secrets


class Secret:
    """A credential that prints as ``***`` everywhere (repr, str, f-strings, vars())."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        """The real value, for building a request."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("credentials are not picklable")


class _SecretForms:
    """Every textual form of a client's secrets, longest first; prints as ``<redacted>``."""

    __slots__ = ("forms",)

    def __init__(self) -> None:
        self.forms: tuple[str, ...] = ()

    def add(self, value: str) -> None:
        merged = set(self.forms) | secret_forms(value)
        self.forms = tuple(sorted(merged, key=len, reverse=True))

    def __repr__(self) -> str:
        return "<redacted>"

    def __reduce__(self) -> Any:
        raise TypeError("credentials are not picklable")


def credential(
    given: str | None, *, keyword: str, env: str, vendor: str, required: bool = True
) -> str | None:
    """A credential from the keyword argument, else the environment variable.

    A missing required one is a :class:`ConfigError` naming both places to set it.
    """
    value = given if given not in (None, "") else os.environ.get(env, "")
    value = "" if value is None else str(value).strip()
    if not value:
        if required:
            raise ConfigError(
                f"{vendor}: missing credential: pass {keyword}=... to cp.vendor(...) "
                f"or set the environment variable {env}"
            )
        return None
    return value


def secret_forms(value: str) -> set[str]:
    """The ways a secret can show up in text: as-is, URL-encoded, BASE64."""
    if not value:
        return set()
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value, safe=""),
        base64.b64encode(value.encode()).decode(),
    }
    forms |= {urllib.parse.quote(f, safe="") for f in list(forms)}
    return {f for f in forms if len(f) >= 3}


# --------------------------------------------------------------------------- transport


@dataclass(frozen=True)
class RetryPolicy:
    """How one kind of operation is retried.

    ``retry_unknown`` is False for anything with an effect at the vendor (a send: the message
    may already be on its way; a destructive pull: the items may already be dequeued).
    """

    name: str
    retry_unknown: bool


SEND = RetryPolicy("send", retry_unknown=False)
READ = RetryPolicy("read", retry_unknown=True)
#: A pull from a queue that the vendor empties as it answers (jzyyun reports and replies):
#: retrying after a lost answer would hide the loss, so only unreached calls are retried.
DEQUEUE = RetryPolicy("dequeue", retry_unknown=False)
#: Changing state (e.g. a password): replaying it after an unknown outcome can mislead.
CHANGE = RetryPolicy("change", retry_unknown=False)


def _never_connected(exc: BaseException) -> bool:
    """True only when requests/urllib3 say the TCP connection itself failed."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ProxyError | requests.exceptions.SSLError):
        return False  # could be either side of sending: stay conservative
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, NewConnectionError | ConnectTimeoutError):
            return True
        reason = getattr(item, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        stack.extend(a for a in getattr(item, "args", ()) if isinstance(a, BaseException))
        stack.append(item.__cause__)
        stack.append(item.__context__)
    return False


class VendorClient:
    """Base of every vendor client: credentials, session, timeouts, retries, redaction.

    Subclasses set ``KEY``, ``DEFAULT_BASE_URL``, ``LIMITS`` and ``SECRET_PARAMS`` (the request
    parameters whose values are secrets: redaction declared per vendor).
    """

    KEY: ClassVar[str] = ""
    DEFAULT_BASE_URL: ClassVar[str] = ""
    LIMITS: ClassVar[VendorLimits]
    SECRET_PARAMS: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout: float | tuple[float, float] | None = None,
        limits: Mapping[str, Any] | VendorLimits | None = None,
        retries: int | None = None,
    ):
        self.vendor = self.KEY
        self.base_url = _base_url(base_url or self.DEFAULT_BASE_URL, vendor=self.KEY)
        self.timeout = _timeout(timeout, vendor=self.KEY)
        if isinstance(limits, VendorLimits):
            self.limits = limits
        else:
            self.limits = self.LIMITS.replace(limits or {})
        self.retries = DEFAULT_RETRIES if retries is None else int(retries)
        if self.retries < 0:
            raise InputError(f"{self.KEY}: retries must be >= 0, not {retries}")
        self.backoff = DEFAULT_BACKOFF
        self._secrets: list[Secret] = []
        self._secret_forms = _SecretForms()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=POOL_SIZE, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["User-Agent"] = "campaign (python-requests)"

    # -- identity -----------------------------------------------------------------------------

    def _identity(self) -> str:
        """Non-secret words for repr (e.g. a masked account id)."""
        return ""

    def __repr__(self) -> str:
        extra = self._identity()
        return (
            f"<{type(self).__name__} {self.vendor!r} base_url={self.base_url!r}"
            f"{' ' + extra if extra else ''}>"
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def __enter__(self) -> VendorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- secrets ------------------------------------------------------------------------------

    def _secret(self, value: str) -> Secret:
        secret = Secret(value)
        self._secrets.append(secret)
        self._secret_forms.add(value)
        return secret

    def redact(self, text: str) -> str:
        """``text`` with every form of every credential of this client replaced by ``***``."""
        for form in self._secret_forms.forms:
            if form in text:
                text = text.replace(form, "***")
        return text

    def _safe_params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Parameters fit for a log line: secrets masked, long values (20,000 phones) cut."""
        safe: dict[str, Any] = {}
        for name, value in dict(params or {}).items():
            if name in self.SECRET_PARAMS:
                safe[name] = "***"
            elif isinstance(value, str) and len(value) > 120:
                safe[name] = f"{value[:100]}...({len(value)} chars)"
            else:
                safe[name] = value
        return safe

    # -- the transport boundary ---------------------------------------------------------------

    def _call(
        self,
        policy: RetryPolicy,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        log_params: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        """POST to ``base_url + path``; map transport failures; retry as ``policy`` allows.

        Credentials go in the form body only (never in the URL), so no URL in a log or an
        exception can carry them.
        """
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Content-Type": content_type} if content_type else None
        attempts = 1 + self.retries
        for attempt in range(1, attempts + 1):
            logger.debug(
                "%s %s: POST %s params=%s (attempt %d/%d)",
                self.vendor,
                policy.name,
                url,
                self._safe_params(log_params if log_params is not None else data),
                attempt,
                attempts,
            )
            try:
                return self._post_once(url, data=data, body=body, headers=headers)
            except VendorUnreachable as exc:
                if attempt == attempts:
                    raise
                logger.warning("%s %s: %s; retrying", self.vendor, policy.name, exc)
            except VendorResponseUnknown as exc:
                if not policy.retry_unknown or attempt == attempts:
                    raise
                logger.warning("%s %s: %s; retrying", self.vendor, policy.name, exc)
            time.sleep(self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _post_once(
        self,
        url: str,
        *,
        data: Mapping[str, Any] | None,
        body: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> requests.Response:
        try:
            response = self._session.post(
                url,
                data=body if body is not None else data,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,  # a redirected POST becomes a GET elsewhere: don't guess
            )
            response.content  # noqa: B018  read the whole body inside the boundary
        except requests.exceptions.RequestException as exc:
            self._scrub(exc)
            detail = self.redact(f"{type(exc).__name__}: {exc}")
            if _never_connected(exc):
                raise VendorUnreachable(
                    f"could not connect to {self._where()} (nothing was sent): {detail}",
                    vendor=self.vendor,
                ) from exc
            raise VendorResponseUnknown(
                f"no usable answer from {self._where()} (the request may have been "
                f"processed): {detail}",
                vendor=self.vendor,
            ) from exc
        if response.status_code >= 300:
            raise VendorResponseUnknown(
                f"HTTP {response.status_code} from {self._where()} (the request may have been "
                "processed)",
                vendor=self.vendor,
                code=str(response.status_code),
                vendor_message=self.redact(response.text)[:200] or None,
            )
        return response

    def _where(self) -> str:
        return urllib.parse.urlsplit(self.base_url).netloc or self.base_url

    def _scrub(self, exc: BaseException) -> None:
        """Drop what a chained requests exception could leak (the prepared request body)."""
        seen: set[int] = set()
        item: BaseException | None = exc
        while item is not None and id(item) not in seen:
            seen.add(id(item))
            if hasattr(item, "request"):
                with contextlib.suppress(AttributeError):
                    item.request = None  # type: ignore[attr-defined]
            if item.args:
                item.args = tuple(self.redact(a) if isinstance(a, str) else a for a in item.args)
            item = item.__cause__ or item.__context__

    def _unknown(self, what: str, body: str) -> VendorResponseUnknown:
        """An answer we cannot read: for a send, the outcome is unknown."""
        return VendorResponseUnknown(
            f"unreadable answer ({what})",
            vendor=self.vendor,
            vendor_message=self.redact(body)[:200],  # redact first: a cut key would slip by
        )

    def _answered(self, result: SendResult, body: str) -> SendResult:
        """A send's result as callers see it: the vendor's words with our secrets removed.

        Vendors echo parameters back in messages; ``message`` is stored in the batches table.
        """
        message = self.redact(result.message) if result.message else result.message
        return dataclasses.replace(result, message=message, raw=self.redact(body))

    def _refused(self, what: str, code: str | None, message: str | None) -> VendorRejected:
        """The vendor said no to a non-send call, in its words with our secrets removed."""
        return rejected(self.vendor, what, code, self.redact(message) if message else message)

    # -- the public API, overridden per vendor -------------------------------------------------

    def send(
        self,
        phones: str | Sequence[str],
        *,
        content: str | None = None,
        template_id: str | None = None,
        variables: str | None = None,
        send_at: dt.datetime | str | None = None,
    ) -> SendResult:
        """Submit one call to the vendor (see the vendor module)."""
        raise NotImplementedError

    def balance(self) -> int:
        """Units left that this client's sends draw on."""
        raise NotImplementedError

    def parse_push(self, form: Mapping[str, str]) -> Receipt | Reply:
        """One pushed form as a :class:`Receipt` or :class:`Reply`."""
        raise PayloadError(f"{self.vendor}: this vendor pushes nothing (delivery: none)")

    def fetch_reports(self) -> pd.DataFrame:
        """Pull delivery reports (pulled vendors only)."""
        raise InputError(
            f"{self.vendor} does not offer reports to pull (delivery: {self.limits.delivery}); "
            "pushed receipts arrive through `campaign receive`"
        )

    def fetch_replies(self) -> pd.DataFrame:
        """Pull inbound replies (pulled vendors only)."""
        raise InputError(
            f"{self.vendor} does not offer replies to pull (replies: {self.limits.replies}); "
            "pushed replies arrive through `campaign receive`"
        )

    def _check_send_at(self, send_at: dt.datetime | str | None) -> dt.datetime | None:
        return check_send_at(send_at, limits=self.limits, vendor=self.vendor)


def check_send_at(
    send_at: dt.datetime | str | None, *, limits: VendorLimits, vendor: str
) -> dt.datetime | None:
    """``send_at`` as an aware Shanghai time, if the vendor can schedule it that far ahead.

    None stays None (send now). Raises InputError when the vendor cannot schedule, or when
    the time is not more than ``limits.min_lead_seconds`` ahead, saying the earliest time.
    """
    if send_at is None:
        return None
    if not limits.schedulable:
        raise InputError(f"{vendor} cannot schedule sends: leave send_at empty to send now")
    moment = as_shanghai(send_at, vendor=vendor)
    lead = limits.min_lead_seconds or 0
    now = dt.datetime.now(SHANGHAI)
    if (moment - now).total_seconds() <= lead:
        earliest = now + dt.timedelta(seconds=lead + 60)
        raise InputError(
            f"{vendor}: send_at {moment:%Y-%m-%d %H:%M:%S} must be more than {lead // 60} "
            f"minutes from now; the earliest is about {earliest:%Y-%m-%d %H:%M} (Asia/Shanghai)"
        )
    return moment


def _base_url(value: str, *, vendor: str) -> str:
    parts = urllib.parse.urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{vendor}: base_url must look like http://host:port, not {value!r}")
    if parts.username or parts.password:
        raise ConfigError(f"{vendor}: base_url must not carry credentials")
    if parts.path.strip("/") or parts.query:
        raise ConfigError(
            f"{vendor}: base_url replaces only scheme, host and port (the documented paths are "
            f"kept): use {parts.scheme}://{parts.netloc}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _timeout(value: float | tuple[float, float] | None, *, vendor: str) -> tuple[float, float]:
    if value is None:
        return (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)
    if isinstance(value, int | float):
        pair = (float(value), float(value))
    else:
        try:
            connect, read = value
            pair = (float(connect), float(read))
        except (TypeError, ValueError):
            raise ConfigError(
                f"{vendor}: timeout must be seconds or (connect, read), not {value!r}"
            ) from None
    if min(pair) <= 0:
        raise ConfigError(f"{vendor}: timeouts must be positive, not {value!r}")
    return pair


def rejected(vendor: str, what: str, code: str | None, message: str | None) -> VendorRejected:
    """The vendor answered and said no, where no result object fits (a balance query)."""
    return VendorRejected(f"{what} refused", vendor=vendor, code=code, vendor_message=message)
