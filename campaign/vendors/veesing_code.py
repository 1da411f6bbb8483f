"""veesing-code: 中昱维信 verify-code SMS (seed 002).

``POST https://vip.veesing.com/smsApi/verifyCode`` with ``appId, appKey, phone`` (one number),
``templateId`` and ``variables`` (2-8 digits). Balance at ``/smsApi/verifyCode/getBalance``.
Receipts (``mobile, taskid, status, receivetime``: this page lists no ``code``) and replies are
pushed as forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from campaign.vendors import _veesing
from campaign.vendors._limits import VendorLimits
from campaign.vendors._records import Receipt, Reply

KEY = "veesing-code"
BASE_URL = "https://vip.veesing.com"
SEND_PATH = "/smsApi/verifyCode"
BALANCE_PATH = "/smsApi/verifyCode/getBalance"
RECEIPT_FIELDS = ("mobile", "taskid", "status", "receivetime")

LIMITS = VendorLimits(
    max_phones_per_call=1,
    single_phone_only=True,
    channel="code",
    message="template",
    encoding="utf-8",
    signature_required=False,
    emoji_forbidden=True,
    variables_pattern=r"\d{2,8}",
    variables_rule="2-8 digits (验证码值,支持2-8位纯数字)",
    schedulable=False,
    min_interval_seconds=60,
    segment_chars=70,
    multipart_segment_chars=67,
    delivery="push",
    replies="push",
)
"""Verify-code limits: one phone per call, an approved template whose variable is 2-8 digits,
the same number at most once a minute; daily caps unpublished (None)."""


def build_send(
    phone: str, template_id: str, variables: str, *, app_id: str, app_key: str
) -> dict[str, str]:
    """The form fields of one verify-code send, in the seed's order.

    >>> list(build_send("15600001090", "540", "1234", app_id="id", app_key="key"))
    ['appId', 'appKey', 'phone', 'templateId', 'variables']
    """
    return {
        "appId": app_id,
        "appKey": app_key,
        "phone": phone,
        "templateId": str(template_id).strip(),
        "variables": str(variables),
    }


def parse_push(form: Mapping[str, Any]) -> Receipt | Reply:
    """One pushed form: receipt (has ``status``) or reply (has ``content``)."""
    return _veesing.parse_push(form, vendor=KEY, receipt_fields=RECEIPT_FIELDS)


class VeesingCodeClient(_veesing.TemplateClient):
    """veesing verify-code client; build with ``cp.vendor("veesing-code")``."""

    KEY = KEY
    DEFAULT_BASE_URL = BASE_URL
    LIMITS = LIMITS
    SEND_PATH = SEND_PATH
    BALANCE_PATH = BALANCE_PATH
    RECEIPT_FIELDS = RECEIPT_FIELDS
    BUILD_SEND = staticmethod(build_send)


Client = VeesingCodeClient


PROTOCOL = _veesing.protocol(
    key=KEY, limits=LIMITS, receipt_fields=RECEIPT_FIELDS, parse=parse_push
)
