"""What vendors charge: the unit prices cost statistics multiply by, as the user gives them."""

from __future__ import annotations

from collections.abc import Mapping

from campaign.clock import now
from campaign.errors import InputError
from campaign.store import DbLike, connect, outcomes
from campaign.vendors import vendor_limits

__all__ = ["BILLED_ON", "set_prices"]

#: When a vendor bills a message or call: once it accepts it, or only once it is delivered.
BILLED_ON = ("submit", "delivery")


def set_prices(
    db: DbLike, prices: Mapping[str, float | Mapping[str, object]], *, billed_on: str = "submit"
) -> None:
    """Set what vendors charge, per billed message (an SMS segment) or per call for voice.

    ``prices`` maps vendor keys to a price (in yuan), or to ``{"price": 0.03, "billed_on":
    "delivery"}`` for a vendor that bills only what is delivered; ``billed_on`` is the default.
    A price set again replaces the old one.

    >>> cp.set_prices("campaign.db", {"veesing-sms": 0.045, "jzyyun-sms": {"price": 0.04,
    ...               "billed_on": "delivery"}, "veesing-voice": 0.12})
    """
    if not isinstance(prices, Mapping) or not prices:
        raise InputError("prices: give a dict of vendor key -> price, e.g. {'veesing-sms': 0.045}")
    rows = []
    for vendor, given in prices.items():
        vendor_limits(vendor)  # an unknown key is an error naming the known ones
        spec = dict(given) if isinstance(given, Mapping) else {"price": given}
        unknown = set(spec) - {"price", "billed_on"}
        if unknown:
            raise InputError(
                f"prices[{vendor!r}]: give only 'price' and 'billed_on', not {sorted(unknown)}"
            )
        price, when = spec.get("price"), spec.get("billed_on", billed_on)
        if isinstance(price, bool) or not isinstance(price, int | float) or not price >= 0:
            raise InputError(
                f"prices[{vendor!r}] = {price!r}: a price is a number of yuan, 0 or more"
            )
        if when not in BILLED_ON:
            raise InputError(f"billed_on={when!r} for {vendor}: one of {', '.join(BILLED_ON)}")
        rows.append((vendor, float(price), when))
    stamp = now()
    with connect(db) as store, store.transaction():
        for vendor, price, when in rows:
            outcomes.set_price(store, vendor, price, when, stamp)
