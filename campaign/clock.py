"""The vendors' clock: every time campaign stores or shows is Asia/Shanghai.

China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact and
needs no time-zone database on the user's machine.

"Now" comes from :func:`current`, and every wait (a send window, pacing) goes through
:func:`sleep`, both looked up at each call, so a test fixes the clock for everything campaign
does by replacing them, and a fake clock whose ``sleep`` moves its ``current`` on makes a
six-hour wait take no time::

    monkeypatch.setattr(campaign.clock, "current", lambda: fixed_shanghai_datetime)
    monkeypatch.setattr(campaign.clock, "sleep", fake.sleep)  # advances fake.current
"""

from __future__ import annotations

import datetime as dt
import threading
import time

__all__ = ["SHANGHAI", "current", "duration", "now", "sleep", "to_shanghai"]

SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def current() -> dt.datetime:
    """The current moment as an aware datetime in Asia/Shanghai.

    >>> current().utcoffset()
    datetime.timedelta(seconds=28800)
    """
    return dt.datetime.now(SHANGHAI)


def sleep(seconds: float, stop: threading.Event | None = None) -> bool:
    """Wait ``seconds`` (real time), or less when ``stop`` is set meanwhile; True if it was.

    Every wait of :func:`campaign.send` goes through here (see the module's docstring to
    replace it in tests); a caller that waits long re-reads :func:`current` afterwards, as a
    sleeping laptop may wake late.

    >>> sleep(0.01)
    False
    """
    if seconds <= 0:
        return bool(stop is not None and stop.is_set())
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)


def now() -> str:
    """The current time as stored: ISO-8601 in Asia/Shanghai, to the second.

    >>> now()[-6:]
    '+08:00'
    """
    return current().isoformat(timespec="seconds")


def to_shanghai(moment: dt.datetime) -> dt.datetime:
    """An aware datetime in Asia/Shanghai; a naive one is this machine's local time, as
    Python's own ``moment.astimezone()`` reads it.

    >>> to_shanghai(dt.datetime(2026, 11, 11, 12, 0, tzinfo=dt.timezone.utc)).isoformat()
    '2026-11-11T20:00:00+08:00'
    """
    return moment.astimezone(SHANGHAI)


def duration(seconds: float) -> str:
    """A wait or a lead in words, rounded: ``45 s``, ``12 min``, ``2 h 5 min``, ``3 days``.

    >>> duration(45), duration(725), duration(7500), duration(3 * 86400 + 60)
    ('45 s', '12 min', '2 h 5 min', '3 days')
    """
    seconds = abs(seconds)
    if seconds < 90:
        return f"{max(round(seconds), 1)} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{round(hours / 24)} days"
