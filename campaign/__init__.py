"""campaign: run SMS and voice campaigns through Chinese vendors from Jupyter, and report on them.

>>> import campaign as cp
>>> contacts = cp.load_phones(["138 0013 8000", "+86 139-0013-9000", "12345"])
>>> contacts["reason"].tolist()
[nan, nan, 'wrong length']
"""

from __future__ import annotations

from campaign.errors import (
    CampaignError,
    ColumnNotFoundError,
    ConfigError,
    InputError,
    PayloadError,
    VendorError,
    VendorRejected,
    VendorResponseUnknown,
    VendorUnreachable,
)
from campaign.phones import load_phones, normalize_phone, normalize_phones

__version__ = "0.1.0"

__all__ = [
    "CampaignError",
    "ColumnNotFoundError",
    "ConfigError",
    "InputError",
    "PayloadError",
    "VendorError",
    "VendorRejected",
    "VendorResponseUnknown",
    "VendorUnreachable",
    "__version__",
    "load_phones",
    "normalize_phone",
    "normalize_phones",
]
