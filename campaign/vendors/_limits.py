"""What a vendor accepts, as data, and the checks every client and the planner run on a send.

:class:`VendorLimits` is declared by each vendor module (``LIMITS``); :func:`check_message`
applies its content rules, :func:`check_send_at` its scheduling rule and :func:`phone_list` its
numbers-per-call rule. Batching reads these and never a vendor's name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from campaign import clock
from campaign.clock import SHANGHAI
from campaign.errors import InputError
from campaign.vendors._window import SendWindow

__all__ = [
    "Channel",
    "DataMode",
    "VendorLimits",
    "as_shanghai",
    "check_message",
    "check_send_at",
    "check_value",
    "phone_list",
]

Channel = Literal["sms", "code", "voice"]
DataMode = Literal["push", "pull", "none"]


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
    send_window : (str, str) or None
        The hours of the day (Asia/Shanghai) a send submits in unless ``send(window=...)``
        says otherwise, e.g. ``("08:00", "21:00")`` for marketing SMS; ``None``: any hour
        (verify codes, notices). Given as ``"08:00-21:00"`` too; kept as a pair of texts.

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
    send_window: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.send_window is not None:
            window = SendWindow.parse(self.send_window, name="send_window")
            object.__setattr__(self, "send_window", window.as_tuple())
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


def check_value(text: str, *, what: str, limits: VendorLimits, vendor: str) -> None:
    """Check a piece of a message (a personalised field's value) against the rules each of
    its characters must meet: no emoji where the vendor forbids them, and characters the vendor
    can encode (GBK for jzyyun). Raises InputError naming ``what`` and the character.

    >>> check_value("张三", what="姓名", limits=cp.vendor_limits("jzyyun-sms"), vendor="jzyyun-sms")
    >>> check_value("€5", what="券", limits=cp.vendor_limits("jzyyun-sms"), vendor="jzyyun-sms")
    Traceback (most recent call last):
    ...
    campaign.errors.InputError: jzyyun-sms: 券 character '€' (at character 1) cannot be sent: ...
    """
    _check_text(what, text, limits, vendor, None, None)


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


# --------------------------------------------------------------------------- send arguments


def check_send_at(
    send_at: dt.datetime | str | None, *, limits: VendorLimits, vendor: str
) -> dt.datetime | None:
    """``send_at`` as an aware Shanghai time, if the vendor can schedule it that far ahead.

    None stays None (send now). A ``datetime`` without a time zone is this machine's local
    time (as Python's ``.astimezone()`` reads it); a string without one is Asia/Shanghai time,
    the vendors' clock. Raises InputError when the vendor cannot schedule, or when the time is
    not more than ``limits.min_lead_seconds`` ahead, saying how it was read, the current time
    in Shanghai and the earliest time.
    """
    if send_at is None:
        return None
    if not limits.schedulable:
        raise InputError(f"{vendor} cannot schedule sends: leave send_at empty to send now")
    moment = as_shanghai(send_at, vendor=vendor)
    lead = limits.min_lead_seconds or 0
    now = clock.current()
    ahead = (moment - now).total_seconds()
    if ahead <= lead:
        earliest = now + dt.timedelta(seconds=lead + 60)
        when = f"in {clock.duration(ahead)}" if ahead > 0 else f"{clock.duration(ahead)} ago"
        raise InputError(
            f"{vendor}: send_at {moment:%Y-%m-%d %H:%M:%S} Asia/Shanghai ({when}{_read_as(send_at)}"
            f") must be more than {lead // 60} minutes from now; the earliest is about "
            f"{earliest:%Y-%m-%d %H:%M} (Asia/Shanghai). It is {now:%Y-%m-%d %H:%M:%S} in "
            "Shanghai now"
        )
    return moment


def _read_as(send_at: dt.datetime | str) -> str:
    """How a send time without a time zone was read, for an error message."""
    if isinstance(send_at, dt.datetime):
        if send_at.tzinfo is not None:
            return ""
        local = send_at.astimezone()
        offset = local.strftime("%z")
        return (
            "; a datetime without a time zone is this computer's local time, "
            f"{local.tzname()} (UTC{offset[:3]}:{offset[3:]}); for Shanghai time give a string "
            "or tzinfo"
        )
    if dt.datetime.fromisoformat(send_at.strip()).tzinfo is None:
        return "; text without a time zone is read as Shanghai time"
    return ""


def as_shanghai(when: dt.datetime | str, *, vendor: str) -> dt.datetime:
    """A send time as an aware datetime in Asia/Shanghai.

    A naive ``datetime`` is this machine's local time (``datetime.now() + timedelta(hours=1)``
    is an hour from now wherever the notebook runs); a naive string such as
    ``"2026-11-11 20:00"`` is Shanghai time, the clock vendors and marketers schedule by.
    """
    if isinstance(when, str):
        try:
            moment = dt.datetime.fromisoformat(when.strip())
        except ValueError:
            raise InputError(
                f"{vendor}: send_at {when!r} is not a time like 2024-11-11 20:00:00"
            ) from None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=SHANGHAI)
        return moment.astimezone(SHANGHAI)
    if isinstance(when, dt.datetime):
        return clock.to_shanghai(when)
    raise InputError(f"{vendor}: send_at must be a datetime or a string, not {when!r}")


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
