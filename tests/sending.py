"""What the tests of planning and sending share: numbers, clients on the simulator, reads.

The ``sim`` and ``db`` fixtures that go with them are in ``tests/conftest.py``.
"""

from __future__ import annotations

import signal

import campaign as cp
from campaign.store import connect


def numbers(n: int, start: int = 13800000000) -> list[str]:
    """``n`` consecutive mainland mobile numbers from ``start``."""
    return [str(start + i) for i in range(n)]


def rows(db, sql, params=()):
    """The rows of a query on the store (reads only)."""
    with connect(db) as store:
        return store.rows(sql, params)


def veesing(sim, **kw):
    """A veesing-sms client on the simulator."""
    return cp.vendor("veesing-sms", app_id="a", app_key="k", base_url=sim.url, **kw)


def jzyyun(sim, **kw):
    """A jzyyun-sms client on the simulator."""
    return cp.vendor("jzyyun-sms", username="u", password="p", base_url=sim.url, **kw)


def stop_after_first_call(client):
    """The user presses Ctrl-C during the client's first call: send stops after it."""
    real, calls = client.send, []

    def send_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    client.send = send_then_interrupt
    return real
