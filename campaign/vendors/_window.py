"""Send windows: the hours of the day, in Asia/Shanghai, that a send may submit calls in.

Vendors declare a default in their limits (``VendorLimits.send_window``: marketing SMS
08:00-21:00); :func:`campaign.send` takes ``window=`` to change it. A window whose end comes
before its start runs overnight: ``("21:00", "08:00")`` is open from 21:00 until 08:00 the
next morning; ``"24:00"`` as an end is midnight.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from campaign.clock import SHANGHAI, to_shanghai
from campaign.errors import InputError

__all__ = ["SendWindow"]

_TIME = re.compile(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*")
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class SendWindow:
    """The hours of the day (Asia/Shanghai) a send may submit in: ``[start, end)``.

    Examples
    --------
    >>> window = SendWindow.parse(("08:00", "21:00"))
    >>> str(window), window.overnight
    ('08:00-21:00', False)
    >>> late = dt.datetime(2026, 11, 11, 21, 30, tzinfo=SHANGHAI)
    >>> window.is_open(late), window.opens_at(late).isoformat()
    (False, '2026-11-12T08:00:00+08:00')
    >>> str(SendWindow.parse("21:00-08:00")), SendWindow.parse("21:00-08:00").is_open(late)
    ('21:00-08:00', True)
    """

    start: dt.time
    end: dt.time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise InputError(
                f"window starts and ends at {_clock(self.start)}: give two different times, "
                "e.g. window=('08:00', '21:00'), or window=False to send at any hour"
            )

    @classmethod
    def parse(cls, value: Any, *, name: str = "window") -> SendWindow:
        """A window from ``("08:00", "21:00")``, ``"08:00-21:00"``, two ``datetime.time`` or a
        SendWindow; anything else is an :class:`InputError` naming ``name`` and the forms."""
        if isinstance(value, SendWindow):
            return value
        parts: Any = value
        if isinstance(value, str):
            parts = value.split("-")
        if isinstance(parts, list | tuple) and len(parts) == 2:
            start, end = (_time(p, name=name, whole=value, is_end=i == 1)
                          for i, p in enumerate(parts))  # fmt: skip
            return cls(start, end)
        raise InputError(
            f"{name} must be two times of day in Asia/Shanghai, e.g. {name}=('08:00', '21:00') "
            f"or '08:00-21:00' (None: the vendor's default; False: any hour), not {value!r}"
        )

    @property
    def overnight(self) -> bool:
        """The window runs past midnight (its end is before its start, or is midnight)."""
        return self.end < self.start

    def __str__(self) -> str:
        end = "24:00" if self.end == dt.time(0) else _clock(self.end)
        return f"{_clock(self.start)}-{end}"

    def as_tuple(self) -> tuple[str, str]:
        """``("08:00", "21:00")``: the form limits declare it in."""
        start, end = str(self).split("-")
        return start, end

    def _spans(self, moment: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """The open spans starting the day before ``moment`` to two days after, in order."""
        day = moment.date()
        for offset in (-1, 0, 1, 2):
            first = day + dt.timedelta(days=offset)
            opens = dt.datetime.combine(first, self.start, SHANGHAI)
            closes = dt.datetime.combine(first, self.end, SHANGHAI)
            yield opens, closes + _DAY if closes <= opens else closes

    def is_open(self, moment: dt.datetime) -> bool:
        """Whether a call may be submitted at ``moment`` (open at ``start``, shut at ``end``)."""
        moment = to_shanghai(moment)
        return any(opens <= moment < closes for opens, closes in self._spans(moment))

    def opens_at(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` itself when the window is open then, else when it next opens."""
        moment = to_shanghai(moment)
        for opens, closes in self._spans(moment):
            if moment < closes:
                return max(opens, moment)
        raise AssertionError("a window opens every day")  # pragma: no cover

    def closes_at(self, moment: dt.datetime) -> dt.datetime:
        """When the window open at ``moment`` (or the next one to open) closes."""
        moment = to_shanghai(moment)
        for _opens, closes in self._spans(moment):
            if moment < closes:
                return closes
        raise AssertionError("a window closes every day")  # pragma: no cover


def _clock(moment: dt.time) -> str:
    return moment.strftime("%H:%M:%S" if moment.second else "%H:%M")


def _time(part: Any, *, name: str, whole: Any, is_end: bool) -> dt.time:
    if isinstance(part, dt.time):
        return part.replace(tzinfo=None)
    found = _TIME.fullmatch(part) if isinstance(part, str) else None
    if found:
        hour, minute, second = (int(g or 0) for g in found.groups())
        if is_end and (hour, minute, second) == (24, 0, 0):
            return dt.time(0)
        if hour < 24 and minute < 60 and second < 60:
            return dt.time(hour, minute, second)
    raise InputError(
        f"{name} {whole!r}: {part!r} is not a time of day like '08:00' or '21:30' (Asia/Shanghai);"
        f" pass e.g. {name}=('08:00', '21:00'), or {name}=False to send at any hour"
    )
