"""campaign: run SMS and voice campaigns through Chinese vendors from Jupyter, and report on them.

>>> import campaign as cp
>>> contacts = cp.load_phones(["138 0013 8000", "+86 139-0013-9000", "12345"])
>>> contacts["reason"].tolist()
[nan, nan, 'wrong length']
"""

from __future__ import annotations

from campaign import simulator
from campaign.batching import Plan, count_segments, plan_batches
from campaign.errors import (
    CampaignError,
    ColumnNotFoundError,
    ConfigError,
    InputError,
    PayloadError,
    SendInProgress,
    VendorError,
    VendorRejected,
    VendorResponseUnknown,
    VendorUnreachable,
)
from campaign.phones import load_phones, normalize_phone, normalize_phones
from campaign.send import campaign_batches, send
from campaign.store import open_db
from campaign.vendors import VendorLimits, vendor, vendor_keys, vendor_limits

__version__ = "0.1.0"

__all__ = [
    "CampaignError",
    "ColumnNotFoundError",
    "ConfigError",
    "InputError",
    "PayloadError",
    "Plan",
    "SendInProgress",
    "VendorError",
    "VendorLimits",
    "VendorRejected",
    "VendorResponseUnknown",
    "VendorUnreachable",
    "__version__",
    "campaign_batches",
    "count_segments",
    "load_phones",
    "normalize_phone",
    "normalize_phones",
    "open_db",
    "plan_batches",
    "send",
    "simulator",
    "vendor",
    "vendor_keys",
    "vendor_limits",
]
