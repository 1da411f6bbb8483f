"""Every error campaign raises, as one tree under :class:`CampaignError`.

::

    CampaignError                     catch this to catch everything campaign raises
    ├── InputError (ValueError)       a bad argument or bad input data: says what to fix
    │   ├── ColumnNotFoundError       load_phones could not tell which column holds phones
    │   ├── NothingToSend             send: every number of the plan was skipped; says why and
    │                                 how long to wait, and records nothing
    │   └── PayloadError              a pushed or pulled vendor payload that cannot be parsed
    │                                 (kept in the store's `rejected` table, never dropped)
    ├── ConfigError                   a missing credential or setting: names argument and env var
    │   └── MissingCredential         a vendor credential given neither as argument nor env var
    ├── SendInProgress                another process or thread is sending this campaign now
    ├── StoreError                    the store cannot be used; names it (password masked)
    │   └── StoreUnavailable          the database server cannot be reached, refused the login,
    │                                 or has no such database: says which and what to do
    └── VendorError                   a vendor call failed; keeps the vendor's own code and message
        ├── VendorRejected            the vendor said no where no result object fits (e.g. balance)
        ├── VendorUnreachable         the request certainly never reached the vendor: safe to retry
        └── VendorResponseUnknown     it may have reached the vendor: outcome unknown, never
                                      retried automatically (the SMS may already be on its way)

Messages never contain credentials: vendor errors are built from the vendor key, the
vendor's code and the vendor's message only.
"""

from __future__ import annotations

__all__ = [
    "CampaignError",
    "ColumnNotFoundError",
    "ConfigError",
    "InputError",
    "MissingCredential",
    "NothingToSend",
    "PayloadError",
    "SendInProgress",
    "StoreError",
    "StoreUnavailable",
    "VendorError",
    "VendorRejected",
    "VendorResponseUnknown",
    "VendorUnreachable",
]


class CampaignError(Exception):
    """Base class of every error raised by campaign."""


class InputError(CampaignError, ValueError):
    """A bad argument or bad input data; the message says which row or field and what to do."""


class ColumnNotFoundError(InputError, KeyError):
    """``load_phones`` could not decide which column holds the phone numbers.

    ``candidates`` lists the columns that were considered (best first).
    """

    def __init__(self, message: str, *, candidates: list[str] | None = None):
        super().__init__(message)
        self.candidates = list(candidates or [])

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class NothingToSend(InputError):
    """Every number of a new campaign's plan was skipped, so nothing was recorded or sent.

    ``reasons`` maps each skip reason to its count of numbers; ``sendable_at`` is the
    earliest time (aware, Asia/Shanghai) at which some of them could be sent, if waiting helps
    (the vendor's per-number interval or daily cap), else None.
    """

    def __init__(self, message: str, *, reasons: dict[str, int], sendable_at=None):
        super().__init__(message)
        self.reasons = dict(reasons)
        self.sendable_at = sendable_at


class PayloadError(InputError):
    """A vendor payload (pushed form, pulled XML, reply body) that cannot be parsed.

    The message names the missing or bad field; callers store the payload in ``rejected``.
    """


class ConfigError(CampaignError):
    """A missing or invalid setting, such as a credential given neither as argument nor env var."""


class MissingCredential(ConfigError):
    """A vendor credential given neither as a keyword nor as its environment variable.

    ``vendor``, ``keyword`` (of :func:`campaign.vendor`) and ``env`` (the variable) say where
    it can be set, so that the command line can name its own option instead.
    """

    def __init__(self, message: str, *, vendor: str, keyword: str, env: str):
        super().__init__(message)
        self.vendor = vendor
        self.keyword = keyword
        self.env = env


class SendInProgress(CampaignError):
    """The campaign is being sent by another process or thread; wait for it to finish.

    Two senders on one campaign could each submit the same batch, so the second is refused.
    """


class VendorError(CampaignError):
    """A vendor call failed.

    Attributes
    ----------
    vendor : str
        The vendor key, e.g. ``"jzyyun-sms"``.
    code : str or None
        The vendor's own result code, kept as the vendor sent it.
    vendor_message : str or None
        The vendor's own message, kept as the vendor sent it.
    """

    def __init__(
        self,
        message: str,
        *,
        vendor: str,
        code: str | int | None = None,
        vendor_message: str | None = None,
    ):
        text = f"{vendor}: {message}"
        if code is not None:
            text += f" [{code}]"
        if vendor_message:
            text += f" {vendor_message}"
        super().__init__(text)
        self.vendor = vendor
        self.code = code
        self.vendor_message = vendor_message


class VendorRejected(VendorError):
    """The vendor answered and refused, where no result object fits (e.g. a balance query)."""


class VendorUnreachable(VendorError):
    """The request certainly never reached the vendor (connection refused, DNS): safe to retry."""


class VendorResponseUnknown(VendorError):
    """The request may have reached the vendor but its answer was lost or unreadable.

    Read timeouts, connections reset after sending, HTTP 5xx and unparseable replies. For a
    send the outcome is unknown: it must not be retried automatically, or people get the
    message twice.
    """


class StoreError(CampaignError):
    """The store cannot be used; the message names it (any password masked) and what to do."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached, refused the login, or has no such database."""
