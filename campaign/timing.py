"""When a send happens: its window, its pace and its expiry, read the same way by
:func:`campaign.send` and :meth:`campaign.Plan.timing`.

- ``window=``: the hours (Asia/Shanghai) calls are submitted in; ``None`` takes the vendor's
  default (``VendorLimits.send_window``: 08:00-21:00 for marketing SMS, none for verify codes,
  notices and voice), ``False`` means any hour.
- ``rate=``: at most this many numbers a minute (a group call of N numbers counts N);
  ``calls_per_second=``: at most this many calls a second. After a call of N numbers the next
  starts no sooner than N / rate minutes and 1 / calls_per_second seconds later.
- ``expires_at=`` / ``expires_in=``: a batch not submitted by then is ``expired``, never sent.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from campaign import clock
from campaign.errors import InputError
from campaign.vendors import SendWindow, VendorLimits
from campaign.vendors._limits import as_shanghai

__all__ = [
    "SendControls",
    "SendTiming",
    "check_expiry",
    "estimate",
    "finish_time",
    "parse_duration",
    "schedule",
]

_UNITS = {
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
}  # fmt: skip
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")


@dataclass(frozen=True)
class SendControls:
    """A send's window, pace and expiry, checked: what :func:`campaign.send` runs by.

    ``window`` None: any hour; ``window_source`` says where it came from ("the vendor's
    default", "window=") or None; ``rate`` numbers a minute and ``calls_per_second``, None
    when not paced; ``expires_at`` an aware Shanghai time, or None."""

    window: SendWindow | None
    window_source: str | None
    wait: bool
    rate: float | None
    calls_per_second: float | None
    expires_at: dt.datetime | None

    @classmethod
    def read(
        cls,
        limits: VendorLimits,
        *,
        window: Any = None,
        wait: bool = True,
        rate: Any = None,
        calls_per_second: Any = None,
        expires_at: Any = None,
        expires_in: Any = None,
    ) -> SendControls:
        """The send options as :func:`campaign.send` takes them; each wrong one is an
        :class:`InputError` naming it and what to pass. An expiry in the past is not checked
        here (a resumed campaign may have expired): see :meth:`check_expiry`."""
        if not isinstance(wait, bool):
            raise InputError(f"wait must be True (wait for the window) or False, not {wait!r}")
        chosen, source = _window(window, limits)
        return cls(
            window=chosen,
            window_source=source,
            wait=wait,
            rate=_positive("rate", rate, "numbers per minute", "rate=6000"),
            calls_per_second=_positive(
                "calls_per_second", calls_per_second, "calls per second", "calls_per_second=10"
            ),
            expires_at=_expiry(expires_at, expires_in),
        )

    @property
    def paced(self) -> bool:
        return bool(self.rate or self.calls_per_second)

    def spacing(self, sizes: np.ndarray) -> np.ndarray:
        """Seconds from the start of each call (of ``sizes`` numbers) to the next."""
        sizes = np.asarray(sizes, dtype=float)
        gap = np.zeros(len(sizes))
        if self.rate:
            gap = np.maximum(gap, sizes * 60.0 / self.rate)
        if self.calls_per_second:
            gap = np.maximum(gap, 1.0 / self.calls_per_second)
        return gap

    def check_expiry(self, now: dt.datetime | None = None) -> None:
        """An :class:`InputError` when the expiry has passed already."""
        check_expiry(self.expires_at, now)


def check_expiry(expires_at: dt.datetime | None, now: dt.datetime | None = None) -> None:
    """An :class:`InputError` when ``expires_at`` has passed already (at ``now``)."""
    now = now or clock.current()
    if expires_at is not None and expires_at <= now:
        raise InputError(
            f"expires_at {_at(expires_at)} has passed: it is {_at(now)} now; pass a later "
            "time (text is Shanghai time) or a span such as expires_in='6h'"
        )


def parse_duration(value: Any, *, name: str = "expires_in") -> dt.timedelta:
    """A span of time from ``"6h"``, ``"30min"``, ``"1h30min"``, ``"2 days"`` or a timedelta.

    >>> parse_duration("1h30min"), parse_duration("45s")
    (datetime.timedelta(seconds=5400), datetime.timedelta(seconds=45))
    """
    if isinstance(value, dt.timedelta):
        span = value
    elif isinstance(value, str) and value.strip():
        text, seconds, at = value.strip().lower(), 0.0, 0
        while at < len(text):
            found = _PART.match(text, at)
            if not found or found.group(2) not in _UNITS:
                raise InputError(
                    f"{name} {value!r} is not a span of time: write e.g. {name}='6h', '30min', "
                    "'1h30min' or '2d', or pass a datetime.timedelta"
                )
            seconds += float(found.group(1)) * _UNITS[found.group(2)]
            at = found.end()
        span = dt.timedelta(seconds=seconds)
    else:
        raise InputError(
            f"{name} must be a span of time such as {name}='6h' or '30min' (a number needs its "
            f"unit), or a datetime.timedelta, not {value!r}"
        )
    if span <= dt.timedelta(0):
        raise InputError(f"{name} must be more than nothing, e.g. {name}='6h', not {value!r}")
    return span


def _window(window: Any, limits: VendorLimits) -> tuple[SendWindow | None, str | None]:
    if window is None:
        if limits.send_window is None:
            return None, None
        return SendWindow.parse(limits.send_window), "the vendor's default"
    if window is False or (isinstance(window, str) and window.strip().lower() == "none"):
        return None, None
    if window is True:
        raise InputError(
            "window=True is not a window: pass window=('08:00', '21:00') (Asia/Shanghai), "
            "None for the vendor's default, or False to send at any hour"
        )
    return SendWindow.parse(window), "window="


def _positive(name: str, value: Any, unit: str, example: str) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be {unit}, more than 0 (e.g. {example}), not {value!r}")
    return float(value)


def _expiry(expires_at: Any, expires_in: Any) -> dt.datetime | None:
    if expires_at is not None and expires_in is not None:
        raise InputError("give expires_at= (a time) or expires_in= (a span such as '6h'), not both")
    if expires_in is not None:
        moment = clock.current() + parse_duration(expires_in)
    elif expires_at is not None:
        if not isinstance(expires_at, str | dt.datetime):
            raise InputError(
                "expires_at must be a time: text such as '2026-11-11 23:00' (Shanghai time) or "
                f"a datetime, not {expires_at!r}"
            )
        try:
            moment = as_shanghai(expires_at, vendor="expires_at")
        except InputError:
            raise InputError(
                f"expires_at {expires_at!r} is not a time like '2026-11-11 23:00' (Shanghai "
                "time); or pass expires_in='6h'"
            ) from None
    else:
        return None
    return moment.replace(microsecond=0)


# --------------------------------------------------------------------------- the schedule


def schedule(
    sizes: Any, *, start: dt.datetime, controls: SendControls, scheduled: bool = False
) -> tuple[np.ndarray, float, float | None]:
    """When each call would start (POSIX seconds), when the last one's share of the pace
    ends (the finish), and when the window first holds the send up (``start`` itself when it
    is shut then; None: never), for calls of ``sizes`` numbers started at ``start``. A
    scheduled send (``send_at``) is not held by the window at submission (its ``send_at``
    is checked instead)."""
    gaps = controls.spacing(sizes)
    starts = np.empty(len(gaps))
    window = None if scheduled else controls.window
    moment, done, first_close = start.timestamp(), 0, None
    while done < len(gaps):
        closes = math.inf
        if window is not None:
            opened = window.opens_at(_moment(moment))
            if first_close is None and opened.timestamp() > start.timestamp():
                first_close = start.timestamp()
            moment = opened.timestamp()
            closes = window.closes_at(opened).timestamp()
        offsets = np.concatenate(([0.0], np.cumsum(gaps[done:-1])))
        fit = max(int(np.searchsorted(moment + offsets, closes, side="left")), 1)
        starts[done : done + fit] = moment + offsets[:fit]
        moment = float(starts[done + fit - 1] + gaps[done + fit - 1])
        done += fit
        if done < len(gaps) and first_close is None:
            first_close = closes
    return starts, moment, first_close


def finish_time(sizes: Any, *, start: dt.datetime, controls: SendControls) -> dt.datetime | None:
    """When calls of ``sizes`` numbers would be done at the pace (window pauses included),
    None when the send is not paced (then it goes as fast as the vendor answers)."""
    if not controls.paced or not len(sizes):
        return None
    return _moment(schedule(sizes, start=start, controls=controls)[1])


def _moment(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, clock.SHANGHAI)


def _at(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} Asia/Shanghai"


def _short(moment: dt.datetime, today: dt.date) -> str:
    """``21:00`` today, ``2026-11-12 08:00`` another day (Asia/Shanghai)."""
    return f"{moment:%H:%M}" if moment.date() == today else f"{moment:%Y-%m-%d %H:%M}"


@dataclass(frozen=True)
class SendTiming:
    """How a plan would be sent with a window, a pace and an expiry, before anything is.

    From :meth:`campaign.Plan.timing`. Times are aware datetimes in Asia/Shanghai.

    Attributes
    ----------
    vendor : str
    numbers, calls, messages : int
        Numbers sent to, vendor calls, billed messages (SMS segments x numbers, or calls).
    window : SendWindow or None
        The hours calls are submitted in; None: any hour. ``window_source`` says whether it
        is the vendor's default or ``window=``.
    rate, calls_per_second : float or None
        The pace: numbers a minute, calls a second (None: as fast as the vendor answers).
    send_at : datetime or None
        The vendor-side schedule of the plan (checked against the window).
    start : datetime
        When the send is started: now, or ``start=``.
    starts_at : datetime
        When the first call would go: now (or ``start=``), or when the window opens.
    duration : timedelta or None
        Sending time at the pace, window pauses left out; None when not paced.
    finishes_at : datetime or None
        When the last call's share of the pace ends, window pauses included; None when not
        paced, or when ``wait=False`` stops the send at the window's end first.
    window_closes_at : datetime or None
        When the window shuts on an unfinished paced send (None: it finishes inside it).
    left_for_next_run : int
        With ``wait=False``: numbers still planned when the window shuts (run send again).
    expires_at : datetime or None
        When unsent batches expire.
    unsent_at_expiry : int
        Numbers whose calls would come at or after the expiry: they would expire unsent.
    warnings : list of str
        What to fix before sending: an expiry before the finish, calls bigger than the
        rate, a ``send_at`` outside the window.
    """

    vendor: str
    numbers: int
    calls: int
    messages: int
    window: SendWindow | None
    window_source: str | None
    wait: bool
    rate: float | None
    calls_per_second: float | None
    send_at: dt.datetime | None
    start: dt.datetime
    start_given: bool
    starts_at: dt.datetime
    duration: dt.timedelta | None
    finishes_at: dt.datetime | None
    window_closes_at: dt.datetime | None
    left_for_next_run: int
    expires_at: dt.datetime | None
    unsent_at_expiry: int
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The timing in plain lines (what ``campaign plan`` prints), warnings last."""
        today = self.start.date()
        since = "if started now" if not self.start_given else f"if started at {_at(self.start)}"
        out = []
        if self.window is None:
            out.append("  window:   none (calls go out at any hour)")
        else:
            night = ", overnight" if self.window.overnight else ""
            out.append(f"  window:   {self.window} Asia/Shanghai ({self.window_source}{night})")
        if not self.paced:
            out.append("  pace:     as fast as the vendor answers (no rate)")
        else:
            pace = []
            if self.rate:
                pace.append(f"{self.rate:,.0f} numbers a minute")
            if self.calls_per_second:
                pace.append(f"{self.calls_per_second:g} calls a second")
            took = clock.duration(self.duration.total_seconds()) if self.duration else "0 s"
            out.append(f"  pace:     {' and '.join(pace)}: {took} of sending")
        if self.starts_at > self.start:
            opens = _short(self.starts_at, today)
            wait = clock.duration((self.starts_at - self.start).total_seconds())
            if self.wait:
                out.append(f"  starts:   {opens} Asia/Shanghai (the window opens in {wait})")
            else:
                out.append(f"  starts:   not now: the window is shut until {opens}; wait=False "
                           f"stops at once, {self.left_for_next_run:,} numbers left planned "
                           "for the next run")  # fmt: skip
        if self.window_closes_at is not None:
            closes = _short(self.window_closes_at, today)
            if self.wait:
                out.append(f"  pauses:   the window shuts at {closes} before the end; the send "
                           "waits for it to open again")  # fmt: skip
            else:
                out.append(f"  stops:    at {closes} (wait=False), {self.left_for_next_run:,} "
                           "numbers left planned for the next run")  # fmt: skip
        if self.finishes_at is not None:
            ahead = clock.duration((self.finishes_at - self.start).total_seconds())
            out.append(f"  finishes: about {_short(self.finishes_at, today)} Asia/Shanghai "
                       f"(in {ahead}, {since})")  # fmt: skip
        if self.expires_at is None:
            out.append("  expires:  never (no expires_at / expires_in)")
        else:
            ahead = clock.duration((self.expires_at - self.start).total_seconds())
            if self.expires_at <= self.start:
                ahead = "before the send starts"
                since = "everything expires"
            out.append(f"  expires:  {_short(self.expires_at, today)} Asia/Shanghai (in {ahead}, "
                       f"{since}): batches not submitted by then are never sent")  # fmt: skip
        out += [f"  warning: {w}" for w in self.warnings]
        return out

    @property
    def paced(self) -> bool:
        return bool(self.rate or self.calls_per_second)

    def __repr__(self) -> str:
        head = (f"<SendTiming {self.vendor}: {self.numbers:,} numbers in {self.calls:,} calls, "
                f"{self.messages:,} messages billed>")  # fmt: skip
        return "\n".join([head, *self.lines()])

    def _repr_html_(self) -> str:
        rows = [("numbers", f"{self.numbers:,}"), ("vendor calls", f"{self.calls:,}"),
                ("messages billed", f"{self.messages:,}")]  # fmt: skip
        notes = []
        for line in self.lines():
            key, _, value = line.strip().partition(":")
            if key == "warning":
                notes.append(value.strip())
            else:
                rows.append((key, value.strip()))
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        warned = "".join(f"<p>⚠ {html.escape(w)}</p>" for w in notes)
        return f"<div><strong>Send timing</strong><table>{body}</table>{warned}</div>"


def estimate(
    sizes: Any,
    *,
    vendor: str,
    messages: int,
    controls: SendControls,
    send_at: dt.datetime | None = None,
    start: dt.datetime | str | None = None,
) -> SendTiming:
    """The :class:`SendTiming` of calls of ``sizes`` numbers sent under ``controls``,
    started at ``start`` (default: now)."""
    now = clock.current()
    begin = now if start is None else as_shanghai(start, vendor="start")
    controls.check_expiry(now)
    sizes = np.asarray(sizes, dtype=np.int64)
    starts, finish, first_close = schedule(sizes, start=begin, controls=controls,
                                           scheduled=send_at is not None)  # fmt: skip
    window = controls.window
    notes = []
    starts_at = _moment(starts[0]) if len(starts) else begin
    duration = None
    if controls.paced:
        duration = dt.timedelta(seconds=float(controls.spacing(sizes).sum()))
    # first_close: when the window first holds the send up: its start (shut then), or later
    left = 0
    if first_close is not None and not controls.wait:
        left = int(sizes[starts >= first_close].sum())
    finishes_at = _moment(finish) if controls.paced and len(sizes) and not left else None
    closes_mid = first_close is not None and first_close > begin.timestamp()
    unsent = 0
    expiry = controls.expires_at
    if expiry is not None and len(sizes):
        unsent = int(sizes[starts >= expiry.timestamp()].sum())
        if unsent:
            last = _moment(float(starts[-1]))
            notes.append(
                f"the last calls would go at {_at(last)}, after the campaign expires at "
                f"{_at(expiry)}: {unsent:,} numbers would expire unsent; raise rate=, widen "
                "the window, or expire later"
            )
    largest = int(sizes.max()) if len(sizes) else 0
    if controls.rate and largest > controls.rate:
        gap = clock.duration(largest * 60 / controls.rate)
        notes.append(
            f"calls of up to {largest:,} numbers are more than rate={controls.rate:,.0f} a "
            f"minute: each goes out at once and the next waits {gap}; plan with "
            f"batch_size={int(controls.rate)} to spread the numbers"
        )
    if send_at is not None and window is not None and not window.is_open(send_at):
        notes.append(
            f"send_at {_at(send_at)} is outside the window {window} (Asia/Shanghai): send "
            "refuses it; schedule inside the window, or pass window=False"
        )
    if send_at is not None and expiry is not None and send_at >= expiry:
        notes.append(f"send_at {_at(send_at)} is after the expiry {_at(expiry)}: the messages "
                     "would go out after the campaign expires")  # fmt: skip
    return SendTiming(
        vendor=vendor,
        numbers=int(sizes.sum()),
        calls=len(sizes),
        messages=int(messages),
        window=window,
        window_source=controls.window_source,
        wait=controls.wait,
        rate=controls.rate,
        calls_per_second=controls.calls_per_second,
        send_at=send_at,
        start=begin,
        start_given=start is not None,
        starts_at=starts_at,
        duration=duration,
        finishes_at=finishes_at,
        window_closes_at=_moment(first_close) if closes_mid else None,
        left_for_next_run=left,
        expires_at=expiry,
        unsent_at_expiry=unsent,
        warnings=notes,
    )
