"""Vendor clients: one module per vendor key, an explicit registry, and :func:`vendor`.

>>> import campaign as cp
>>> client = cp.vendor("jzyyun-sms")            # credentials from JZYYUN_USERNAME/PASSWORD
>>> client.limits.max_phones_per_call
20000
>>> client.send(["13800138000"], content="【云通信】您好,回T退订")  # doctest: +SKIP
SendResult(ok=True, task_id='66', accepted=1, ...)

(Examples marked ``+SKIP`` call the real vendor; ``tests/`` runs the same calls against
:mod:`campaign.simulator`.)

Keys: ``veesing-sms``, ``veesing-code``, ``veesing-voice``, ``ihuyi-voice``, ``jzyyun-sms``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from campaign.errors import InputError
from campaign.vendors import ihuyi_voice, jzyyun_sms, veesing_code, veesing_sms, veesing_voice
from campaign.vendors._client import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, VendorClient
from campaign.vendors._limits import VendorLimits, check_message, check_send_at, check_value
from campaign.vendors._protocol import Pulled, PushFormat, PushTable, VendorProtocol
from campaign.vendors._records import RECEIPT_COLUMNS, REPLY_COLUMNS, Receipt, Reply, SendResult
from campaign.vendors._window import SendWindow

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "RECEIPT_COLUMNS",
    "REPLY_COLUMNS",
    "VENDORS",
    "Pulled",
    "PushFormat",
    "PushTable",
    "Receipt",
    "Reply",
    "SendResult",
    "SendWindow",
    "VendorClient",
    "VendorLimits",
    "VendorProtocol",
    "check_message",
    "check_send_at",
    "check_value",
    "parse_push",
    "vendor",
    "vendor_keys",
    "vendor_limits",
    "vendor_module",
    "vendor_protocol",
]

#: The registry: vendor key -> the module that owns its wire protocol.
VENDORS: Mapping[str, ModuleType] = {
    "veesing-sms": veesing_sms,
    "veesing-code": veesing_code,
    "veesing-voice": veesing_voice,
    "ihuyi-voice": ihuyi_voice,
    "jzyyun-sms": jzyyun_sms,
}


def vendor_keys() -> list[str]:
    """The vendor keys, in registry order.

    >>> cp.vendor_keys()
    ['veesing-sms', 'veesing-code', 'veesing-voice', 'ihuyi-voice', 'jzyyun-sms']
    """
    return list(VENDORS)


def vendor_module(key: str) -> ModuleType:
    """The module owning ``key``'s protocol (``LIMITS``, ``build_send``, ``parse_push``...).

    >>> cp.vendors.vendor_module("jzyyun-sms").LIMITS.max_phones_per_call
    20000
    """
    if isinstance(key, str):
        module = VENDORS.get(key.strip().lower().replace("_", "-"))
        if module is not None:
            return module
    raise InputError(f"unknown vendor {key!r}; valid keys: {', '.join(VENDORS)}")


def vendor_protocol(key: str) -> VendorProtocol:
    """What ``key``'s module declares for reading its pushes and pulled answers.

    >>> cp.vendors.vendor_protocol("jzyyun-sms").parse_pulled is not None
    True
    >>> cp.vendors.vendor_protocol("veesing-sms").push_format.reply_marker
    'content'
    """
    return vendor_module(key).PROTOCOL


def vendor_limits(
    key: str, limits: Mapping[str, Any] | None = None, /, **overrides: Any
) -> VendorLimits:
    """A vendor's limits without credentials (for planning), with optional overrides.

    >>> cp.vendor_limits("veesing-sms", max_phones_per_call=2000).max_phones_per_call
    2000
    """
    return vendor_module(key).LIMITS.replace(limits or {}, **overrides)


def parse_push(key: str, form: Mapping[str, Any]) -> Receipt | Reply:
    """One pushed form for vendor ``key`` as a :class:`Receipt` or :class:`Reply`.

    >>> cp.vendors.parse_push("veesing-sms", {"mobile": "15080920000", "taskid": "123",
    ...     "content": "收到", "receivetime": "2019-07-23 17:00:00"}).content
    '收到'
    """
    return vendor_protocol(key).parse_push(form)


def vendor(
    key: str,
    *,
    base_url: str | None = None,
    timeout: float | tuple[float, float] | None = None,
    limits: Mapping[str, Any] | VendorLimits | None = None,
    retries: int | None = None,
    **credentials: Any,
) -> VendorClient:
    """A client for vendor ``key``; credentials as keywords or environment variables.

    - ``veesing-sms``, ``veesing-code``, ``veesing-voice``: ``app_id``, ``app_key``
      (``VEESING_APP_ID``, ``VEESING_APP_KEY``).
    - ``ihuyi-voice``: ``account``, ``api_key`` (``IHUYI_ACCOUNT``, ``IHUYI_API_KEY``);
      ``dynamic_password=True`` sends md5(account+key+mobile+content+time) with ``time``.
    - ``jzyyun-sms``: ``username``, ``password`` (``JZYYUN_USERNAME``, ``JZYYUN_PASSWORD``);
      ``smstype`` 0/1/2, ``extenno``, ``long_sms``; ``utf8_servlet=True``
      (``JZYYUN_UTF8_SERVLET=1``) for a reseller's UTF-8 twin servlet.

    ``base_url`` replaces scheme, host and port of the documented address (the paths are
    kept), e.g. the simulator's ``sim.url``; for jzyyun-sms it may also carry the context path
    a deployment lives under (``http://host:9002/sms``), or the whole servlet address.
    ``timeout`` is seconds or ``(connect, read)`` (default ``(5, 30)``). ``limits`` overrides
    fields of the vendor's :class:`VendorLimits`. ``retries``: extra attempts where the
    operation allows one (default 2).

    Examples
    --------
    >>> client = cp.vendor("veesing-sms", app_id="2RYN7CQHL1M", app_key="...",
    ...                    limits={"max_phones_per_call": 2000})
    >>> client  # the app_id shortened, the key never shown
    <VeesingSmsClient 'veesing-sms' base_url='https://cloud.10658.com.cn' app_id='2RYN***'>
    >>> client.balance()  # doctest: +SKIP
    241
    """
    module = vendor_module(key)
    client_class = module.Client
    return client_class(
        base_url=base_url, timeout=timeout, limits=limits, retries=retries, **credentials
    )
