"""veesing-voice: 中昱维信 voice notice / voice code (seed 000).

``POST https://cloud.10658.com.cn/voiceApi`` with ``appId, appKey, templateId, phone`` (one
number) and ``variables`` (2-8 digits for a voice code, at most 50 characters for a notice).
Balance at ``/voiceApi/getBalance`` (the address the page's table gives; its OkHttp example
says ``/voiceApi/group/getBalance``). Receipts are pushed with ``talktime`` (seconds) and
``remark``; the page documents no reply push.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from campaign.vendors import _veesing
from campaign.vendors._limits import VendorLimits
from campaign.vendors._records import Receipt, Reply

KEY = "veesing-voice"
BASE_URL = "https://cloud.10658.com.cn"
SEND_PATH = "/voiceApi"
BALANCE_PATH = "/voiceApi/getBalance"
RECEIPT_FIELDS = ("mobile", "taskid", "status", "code", "receivetime", "talktime", "remark")

LIMITS = VendorLimits(
    max_phones_per_call=1,
    single_phone_only=True,
    channel="voice",
    message="template",
    encoding="utf-8",
    signature_required=False,
    emoji_forbidden=True,
    variables_pattern=r"(?s).{1,50}",
    variables_rule=(
        "voice code: 2-8 digits; voice notice: at most 50 characters (the template decides "
        "which; set limits={'variables_pattern': r'\\d{2,8}'} for a code template)"
    ),
    schedulable=False,
    min_interval_seconds=60,
    segment_chars=None,
    multipart_segment_chars=None,
    delivery="push",
    replies="none",
)
"""Voice limits: one phone per call, a template with ``variables`` (at most 50 characters, or
2-8 digits for a code template), the same number at most once a minute, billed per call
(no SMS segments); daily caps unpublished (None)."""


def build_send(
    phone: str, template_id: str, variables: str, *, app_id: str, app_key: str
) -> dict[str, str]:
    """The form fields of one voice call, in the seed's order.

    >>> list(build_send("15080929435", "724", "1234", app_id="id", app_key="key"))
    ['appId', 'appKey', 'templateId', 'phone', 'variables']
    """
    return {
        "appId": app_id,
        "appKey": app_key,
        "templateId": str(template_id).strip(),
        "phone": phone,
        "variables": str(variables),
    }


def parse_push(form: Mapping[str, Any]) -> Receipt | Reply:
    """One pushed voice receipt (``talktime`` seconds and ``remark`` required)."""
    return _veesing.parse_push(form, vendor=KEY, receipt_fields=RECEIPT_FIELDS, replies=False)


class VeesingVoiceClient(_veesing.TemplateClient):
    """veesing voice client; build with ``cp.vendor("veesing-voice")``."""

    KEY = KEY
    DEFAULT_BASE_URL = BASE_URL
    LIMITS = LIMITS
    SEND_PATH = SEND_PATH
    BALANCE_PATH = BALANCE_PATH
    RECEIPT_FIELDS = RECEIPT_FIELDS
    BUILD_SEND = staticmethod(build_send)
    PUSHES_REPLIES = False


Client = VeesingVoiceClient


PROTOCOL = _veesing.protocol(
    key=KEY, limits=LIMITS, receipt_fields=RECEIPT_FIELDS, parse=parse_push
)
