"""The vendors' clock: every time campaign stores or shows is Asia/Shanghai.

China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact and
needs no time-zone database on the user's machine.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["SHANGHAI", "now"]

SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def now() -> str:
    """The current time as stored: ISO-8601 in Asia/Shanghai, to the second.

    >>> now()[-6:]
    '+08:00'
    """
    return dt.datetime.now(SHANGHAI).isoformat(timespec="seconds")
