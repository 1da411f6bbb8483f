"""What every vendor module shares, gathered under one name.

The code lives in one private module per concern; this module re-exports all of it, so
``from campaign.vendors._base import ...`` keeps working:

- :mod:`campaign.vendors._limits`: :class:`VendorLimits`, the content rules
  (:func:`check_message`), :func:`check_send_at`, :func:`phone_list`.
- :mod:`campaign.vendors._records`: :class:`SendResult`, :class:`Receipt`, :class:`Reply` and
  their columns and frames.
- :mod:`campaign.vendors._payload`: reading answers and pushes (times, phones, fields, XML).
- :mod:`campaign.vendors._secrets`: :class:`Secret`, :func:`credential`, :func:`secret_forms`.
- :mod:`campaign.vendors._client`: timeouts, :class:`RetryPolicy`, :class:`VendorClient` and
  the one transport boundary where :mod:`requests` errors become campaign errors.
- :mod:`campaign.text`: :func:`utf8_or_gbk` and :func:`decode_text`, the one rule for
  undeclared Chinese text.
"""

from __future__ import annotations

from campaign.clock import SHANGHAI
from campaign.text import decode_text, utf8_or_gbk
from campaign.vendors._client import (
    CHANGE,
    DEFAULT_BACKOFF,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_RETRIES,
    DEQUEUE,
    POOL_SIZE,
    READ,
    SEND,
    RetryPolicy,
    VendorClient,
    rejected,
)
from campaign.vendors._client import _base_url as _base_url
from campaign.vendors._client import _never_connected as _never_connected
from campaign.vendors._client import _timeout as _timeout
from campaign.vendors._limits import _EMOJI as _EMOJI
from campaign.vendors._limits import _OPT_OUT_PHRASE as _OPT_OUT_PHRASE
from campaign.vendors._limits import _SIGNATURE as _SIGNATURE
from campaign.vendors._limits import (
    Channel,
    DataMode,
    VendorLimits,
    as_shanghai,
    check_message,
    check_send_at,
    phone_list,
)
from campaign.vendors._limits import _check_text as _check_text
from campaign.vendors._payload import _DECLARATION as _DECLARATION
from campaign.vendors._payload import _ENCODING as _ENCODING
from campaign.vendors._payload import _PHONE_RE as _PHONE_RE
from campaign.vendors._payload import _TIME_FORMATS as _TIME_FORMATS
from campaign.vendors._payload import (
    child_text,
    parse_xml,
    payload_phone,
    require,
    response_charset,
    shanghai_iso,
)
from campaign.vendors._records import (
    RECEIPT_COLUMNS,
    REPLY_COLUMNS,
    Receipt,
    Reply,
    SendResult,
    Status,
    receipts_frame,
    replies_frame,
)
from campaign.vendors._secrets import Secret, credential, secret_forms
from campaign.vendors._secrets import _SecretForms as _SecretForms

__all__ = [
    "CHANGE",
    "DEFAULT_BACKOFF",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_RETRIES",
    "DEQUEUE",
    "POOL_SIZE",
    "READ",
    "RECEIPT_COLUMNS",
    "REPLY_COLUMNS",
    "SEND",
    "SHANGHAI",
    "Channel",
    "DataMode",
    "Receipt",
    "Reply",
    "RetryPolicy",
    "Secret",
    "SendResult",
    "Status",
    "VendorClient",
    "VendorLimits",
    "as_shanghai",
    "check_message",
    "check_send_at",
    "child_text",
    "credential",
    "decode_text",
    "parse_xml",
    "payload_phone",
    "phone_list",
    "receipts_frame",
    "rejected",
    "replies_frame",
    "require",
    "response_charset",
    "secret_forms",
    "shanghai_iso",
    "utf8_or_gbk",
]
