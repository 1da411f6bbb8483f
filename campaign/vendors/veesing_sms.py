"""veesing-sms: 中昱维信 group SMS (seed 001).

``POST https://cloud.10658.com.cn/smsApi/group`` with ``appId, appKey, phone`` (comma separated),
``content`` (must carry the 【signature】, no emoji) and optional ``sendTime``
(``yyyy-MM-dd HH:mm:ss``, more than 30 minutes after submission). Balance at
``/smsApi/group/getBalance``. Receipts (``mobile, taskid, status, code, receivetime``) and replies
(``mobile, taskid, content, receivetime``) are pushed as forms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from campaign.vendors import _veesing
from campaign.vendors._limits import VendorLimits
from campaign.vendors._records import Receipt, Reply

KEY = "veesing-sms"
BASE_URL = "https://cloud.10658.com.cn"
SEND_PATH = "/smsApi/group"
BALANCE_PATH = "/smsApi/group/getBalance"
RECEIPT_FIELDS = ("mobile", "taskid", "status", "code", "receivetime")

#: The page publishes no group size. 1,000 numbers a call is a conservative default (about
#: 12 KB of form body); raise it with ``cp.vendor("veesing-sms", limits={"max_phones_per_call":
#: 2000})`` once the vendor confirms your account's limit.
DEFAULT_MAX_PHONES = 1000

LIMITS = VendorLimits(
    max_phones_per_call=DEFAULT_MAX_PHONES,
    channel="sms",
    message="content",
    encoding="utf-8",
    signature_required=True,
    emoji_forbidden=True,
    schedulable=True,
    min_lead_seconds=30 * 60,
    min_interval_seconds=60,
    daily_cap_per_number=None,
    daily_cap_per_account=None,
    segment_chars=70,
    multipart_segment_chars=67,
    delivery="push",
    replies="push",
    send_window=("08:00", "21:00"),
)
"""Group SMS limits. ``max_phones_per_call`` (1,000) is our conservative default, not a
published number; the per-number interval (60 s) is the seed's
相同手机号码一分钟之内只可发送一次; the daily caps exist (该号码今日发送次数已达上限,
当日发送量已超出最大发送限制) but are unpublished (None). Marketing SMS go out 08:00-21:00
Shanghai time by default (``send_window``); ``send(window=...)`` changes it."""


def build_send(
    phones: Sequence[str],
    content: str,
    *,
    app_id: str,
    app_key: str,
    send_at: dt.datetime | None = None,
) -> dict[str, str]:
    """The form fields of one group send, in the seed's order.

    >>> build_send(["15080929435", "15080929436"], "【云通信】您好", app_id="i", app_key="k")
    {'appId': 'i', 'appKey': 'k', 'phone': '15080929435,15080929436', 'content': '【云通信】您好'}
    """
    params = {"appId": app_id, "appKey": app_key, "phone": ",".join(phones)}
    if send_at is not None:
        params["sendTime"] = _veesing.send_time(send_at)
    params["content"] = content
    return params


def parse_push(form: Mapping[str, Any]) -> Receipt | Reply:
    """One pushed form: receipt (has ``status``) or reply (has ``content``).

    >>> parse_push({"mobile": "15080920000", "taskid": "123", "status": "1", "code": "MA:0001",
    ...             "receivetime": "2019-07-23 17:00:00"}).status
    'delivered'
    """
    return _veesing.parse_push(form, vendor=KEY, receipt_fields=RECEIPT_FIELDS)


class VeesingSmsClient(_veesing.VeesingClient):
    """veesing group SMS client; build with ``cp.vendor("veesing-sms")``."""

    KEY = KEY
    DEFAULT_BASE_URL = BASE_URL
    LIMITS = LIMITS
    SEND_PATH = SEND_PATH
    BALANCE_PATH = BALANCE_PATH
    RECEIPT_FIELDS = RECEIPT_FIELDS

    def _params(self, phones, *, content, template_id, variables, send_at):  # type: ignore[override]
        creds = self._credentials()
        return build_send(
            phones, content, app_id=creds["appId"], app_key=creds["appKey"], send_at=send_at
        )


Client = VeesingSmsClient


PROTOCOL = _veesing.protocol(
    key=KEY, limits=LIMITS, receipt_fields=RECEIPT_FIELDS, parse=parse_push
)
