"""What simulated messages cause: clicks on their tracking links, and the orders that follow.

A delivered SMS whose content carries a tracking link (``http(s)://host/c/<code>``) is
opened by its recipient with probability ``click_rate``, a log-normal delay after delivery
(median ``click_delay_median`` seconds). The simulator then requests the link as a phone's
browser would: a GET with a mobile (WeChat) user agent, the redirect not followed. It does so
only when the link's host is this machine (127.0.0.1, ::1, localhost): a link anywhere else
is noted as not followed and never requested, so nothing reaches the internet.

:func:`orders` turns what happened into orders (``Simulator.orders`` writes them as a
shop's export: 订单号, 手机号, 支付时间, 实付金额): a reached number buys with probability
``conversion_rate``, a number that clicked with ``click_conversion_rate``, and a number
never messaged (a holdout, passed as ``others``) with ``baseline_conversion_rate``, so that
the lift over a holdout is what the rates say. Every draw comes from the number's own seeded stream.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from campaign.simulator.behaviour import Behaviour
from campaign.simulator.outcomes import rng_for

__all__ = ["MOBILE_AGENT", "Click", "Reach", "click_delay", "find_link", "orders"]

#: A tracking link as planning renders one: ``<link_base>/c/<code>``.
LINK = re.compile(r"https?://[^\s/]+(?:/[^\s]*?)?/c/[A-Za-z0-9]{4,16}(?![A-Za-z0-9])")
#: The user agent of a simulated click: WeChat's browser on an iPhone.
MOBILE_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/WIFI"
)


@dataclass(frozen=True)
class Reach:
    """One delivered SMS: the number, when it arrived and when its link was clicked (None:
    not clicked, or no link), in simulated epoch seconds."""

    vendor: str
    phone: str
    delivered_at: float
    clicked_at: float | None


@dataclass
class Click:
    """One simulated click: the link, when it was due, the HTTP status the link answered
    (None: not requested, see ``error``)."""

    url: str
    due: float
    status: int | None = None
    error: str | None = None


def find_link(content: str | None) -> str | None:
    """The first tracking link in a message, or None.

    >>> find_link("【云通信】双11五折 http://127.0.0.1:8001/c/Ab3dE5f 回T退订")
    'http://127.0.0.1:8001/c/Ab3dE5f'
    """
    if not content:
        return None
    found = LINK.search(content)
    return found.group(0) if found else None


def click_delay(seed: int, vendor: str, phone: str, nth: int, b: Behaviour) -> float | None:
    """Seconds after delivery that this send's link is clicked, or None (not clicked)."""
    rng = rng_for(seed, f"{vendor}|click", phone, nth)
    if rng.random() >= b.click_rate:
        return None
    return b.click_delay_median * math.exp(rng.gauss(0.0, 1.0))


def orders(
    reached: Iterable[Reach],
    *,
    others: Iterable[str],
    seed: int,
    b: Behaviour,
    start: float,
    window: float,
) -> list[tuple[float, str, float]]:
    """The orders ``reached`` numbers place, and those of the numbers ``others`` never
    messaged (from ``start``, over ``window`` seconds): (paid at, phone, value), by time."""
    rows: list[tuple[float, str, float]] = []
    for nth, reach in enumerate(reached):
        rng = rng_for(seed, "order", reach.phone, nth)
        clicked = reach.clicked_at is not None
        rate = b.click_conversion_rate if clicked else b.conversion_rate
        if rng.random() >= rate:
            continue
        after = reach.clicked_at if clicked else reach.delivered_at
        delay = min(b.order_delay_median * math.exp(rng.gauss(0.0, 1.0)), 0.9 * window)
        rows.append((after + delay, reach.phone, _value(rng, b)))
    for phone in dict.fromkeys(others):
        rng = rng_for(seed, "order-baseline", phone, 0)
        if rng.random() >= b.baseline_conversion_rate:
            continue
        rows.append((start + rng.uniform(60.0, 0.9 * window), phone, _value(rng, b)))
    rows.sort()
    return rows


def _value(rng, b: Behaviour) -> float:
    return round(b.order_value_median * math.exp(rng.gauss(0.0, 0.5)), 2)
