"""ihuyi-voice: 互亿无线 voice verify code (seed 003).

``POST http://api.voice.ihuyi.com/webservice/voice.php?method=Submit`` with ``account`` (APIID),
``password`` (the APIKEY, or a dynamic password with ``time``), one ``mobile`` and ``content``
(4-6 digits). The answer is XML by default (``<SubmitResult><code>2</code><msg>提交成功</msg>
<smsid>60495654</smsid></SubmitResult>``; the real servers put it in a default namespace, one
element per line, name the id ``voiceid`` in newer answers and sometimes declare GBK:
:func:`parse_answer` reads every one of these) or JSON with ``format=json``; ``code`` 2 means
submitted. No receipts or replies are documented: the submit result is all the data there is.

Dynamic password: the seed points to "the end of the document" for how to build it, but the
captured page stops before that section. ihuyi's published rule, used here, is
``md5(account + APIKEY + mobile + content + time)`` as 32 lowercase hex digits, with ``time``
the 10-digit Unix timestamp sent alongside (balance: ``md5(account + APIKEY + time)``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time as _time
from collections.abc import Mapping, Sequence
from typing import Any

from campaign.errors import PayloadError
from campaign.text import decode_text
from campaign.vendors._client import READ, SEND, VendorClient
from campaign.vendors._limits import VendorLimits, check_message, phone_list
from campaign.vendors._payload import parse_xml
from campaign.vendors._protocol import VendorProtocol
from campaign.vendors._records import Receipt, Reply, SendResult
from campaign.vendors._secrets import credential

KEY = "ihuyi-voice"
BASE_URL = "http://api.voice.ihuyi.com"
PATH = "/webservice/voice.php"

#: The seed's code table for sends (code 2 = submitted).
SEND_CODES = {
    "0": "提交失败",
    "2": "提交成功",
    "400": "非法ip访问",
    "401": "帐号不能为空",
    "402": "密码不能为空",
    "403": "手机号码不能为空",
    "4030": "手机号码已被列入黑名单",
    "404": "语音内容不能为空",
    "405": "用户名或密码不正确",
    "4050": "账号被冻结",
    "4051": "剩余条数不足",
    "4052": "访问ip与备案ip不符",
    "406": "手机格式不正确",
    "407": "短信内容含有敏感字符",
    "4070": "语音验证码内容必须为4-6位数字",
    "408": "您的帐户疑被恶意利用,已被自动冻结,如有疑问请与客服联系。",
}
#: The seed's code table for balance queries.
BALANCE_CODES = {
    "2": "查询成功",
    "400": "非法ip访问",
    "401": "帐号不能为空",
    "402": "密码不能为空",
    "405": "用户名或密码不正确",
    "4050": "账号被冻结",
}

LIMITS = VendorLimits(
    max_phones_per_call=1,
    single_phone_only=True,
    channel="voice",
    message="content",
    encoding="utf-8",
    signature_required=False,
    emoji_forbidden=True,
    content_pattern=r"\d{4,6}",
    content_rule="4-6 digits (验证码,4-6位数字)",
    schedulable=False,
    min_interval_seconds=None,
    segment_chars=None,
    multipart_segment_chars=None,
    delivery="none",
    replies="none",
)
"""Voice verify-code limits: one phone per call, ``content`` is the 4-6 digit code, billed per
call; no per-number interval or daily cap is published (None); no receipts or replies."""


def dynamic_password(account: str, api_key: str, *parts: str) -> str:
    """ihuyi's dynamic password: md5 of account + APIKEY + the parts, lowercase hex.

    >>> dynamic_password("C1", "key", "13800138000", "1125", "1700000000")
    '168b3356df806b791e2c95567348b418'
    """
    return hashlib.md5("".join((account, api_key, *parts)).encode("utf-8")).hexdigest()


def build_send(
    phone: str,
    content: str,
    *,
    account: str,
    api_key: str,
    dynamic: bool = False,
    time: int | None = None,
    format: str | None = None,
) -> dict[str, str]:
    """The form fields of one submit (``method=Submit`` goes in the URL).

    >>> build_send("13800138000", "1125", account="C1", api_key="key")
    {'account': 'C1', 'password': 'key', 'mobile': '13800138000', 'content': '1125'}
    """
    params = {"account": account, "password": api_key, "mobile": phone, "content": content}
    if dynamic:
        stamp = str(int(_time.time()) if time is None else int(time))
        params["password"] = dynamic_password(account, api_key, phone, content, stamp)
        params["time"] = stamp
    if format:
        params["format"] = format
    return params


def parse_answer(body: bytes | str) -> dict[str, str | None]:
    """``code``, ``msg`` and the id (``smsid``, or ``voiceid`` as newer answers and the seed's
    Java example name it) from an XML or JSON answer; raises :class:`PayloadError` when there
    is no ``code``.

    Every layout ihuyi's servers answer is read: XML in a default namespace (as seen,
    ``http://106.ihuyi.com/`` and ``http://106.ihuyi.cn/``), one element per line or all on
    one, GBK bytes under ``encoding="GBK"`` (or UTF-8 under that declaration, which the bytes
    tell apart: GBK text is practically never valid UTF-8); compact or spaced JSON.

    >>> parse_answer(b"<SubmitResult><code>2</code><msg>ok</msg><smsid>6</smsid></SubmitResult>")
    {'code': '2', 'msg': 'ok', 'id': '6', 'num': None}
    >>> parse_answer('{"code":2,"msg":"提交成功","voiceid":"60495654"}')["id"]
    '60495654'
    """
    text = decode_text(body) if isinstance(body, bytes) else body
    stripped = text.strip().lstrip("\ufeff").strip()
    values: dict[str, Any]
    if stripped.startswith("{"):
        try:
            values = json.loads(stripped)
        except ValueError:
            raise PayloadError(f"{KEY}: malformed JSON answer") from None
        if not isinstance(values, dict):
            raise PayloadError(f"{KEY}: JSON answer is not an object")
    else:
        root = parse_xml(stripped, vendor=KEY)  # text: the declaration no longer decides
        values = {child.tag: (child.text or "").strip() for child in root}
    if values.get("code") in (None, ""):
        raise PayloadError(f"{KEY}: missing field 'code' in answer")

    def text_of(name: str) -> str | None:
        value = values.get(name)
        return None if value is None or str(value).strip() == "" else str(value).strip()

    ids = [text_of(name) for name in ("voiceid", "smsid")]
    ident = next((i for i in ids if i not in (None, "0")), None)
    return {
        "code": text_of("code"),
        "msg": text_of("msg"),
        "id": ident,
        "num": text_of("num"),
    }


def parse_push(form: Mapping[str, Any]) -> Receipt | Reply:
    """ihuyi documents no push in this seed: every form is a PayloadError (kept in ``rejected``)."""
    raise PayloadError(f"{KEY}: the seed documents no receipt or reply push")


class IhuyiVoiceClient(VendorClient):
    """ihuyi voice verify-code client; build with ``cp.vendor("ihuyi-voice")``.

    ``dynamic_password=True`` (or env ``IHUYI_DYNAMIC_PASSWORD=1``) sends an md5 dynamic
    password with ``time`` instead of the APIKEY itself: the documented address is plain http.
    """

    KEY = KEY
    DEFAULT_BASE_URL = BASE_URL
    LIMITS = LIMITS
    SECRET_PARAMS = ("account", "password")

    def __init__(
        self,
        *,
        account: str | None = None,
        api_key: str | None = None,
        dynamic_password: bool | None = None,
        **options: Any,
    ):
        super().__init__(**options)
        ident = credential(account, keyword="account", env="IHUYI_ACCOUNT", vendor=KEY)
        key = credential(api_key, keyword="api_key", env="IHUYI_API_KEY", vendor=KEY)
        assert ident is not None
        assert key is not None
        self._account = self._secret(ident)
        self._api_key = self._secret(key)
        if dynamic_password is None:
            flag = credential(
                None,
                keyword="dynamic_password",
                env="IHUYI_DYNAMIC_PASSWORD",
                vendor=KEY,
                required=False,
            )
            dynamic_password = (flag or "0").lower() in ("1", "true", "yes", "on")
        self.dynamic_password = bool(dynamic_password)

    def _identity(self) -> str:
        mode = "dynamic" if self.dynamic_password else "apikey"
        return f"account='{self._account.reveal()[:3]}***' password={mode}"

    def send(
        self,
        phones: str | Sequence[str],
        *,
        content: str | None = None,
        template_id: str | None = None,
        variables: str | None = None,
        send_at: dt.datetime | str | None = None,
    ) -> SendResult:
        """Submit one voice code; a refusal is ``ok=False`` with ihuyi's code and ``msg``.

        >>> client = cp.vendor("ihuyi-voice")  # credentials from IHUYI_ACCOUNT/API_KEY
        >>> client.send(["13800138000"], content="1125")  # doctest: +SKIP
        SendResult(ok=True, task_id='60495654', accepted=1, message='提交成功', code='2', ...)
        """
        numbers = phone_list(phones, vendor=KEY, limits=self.limits)
        self._check_send_at(send_at)
        check_message(content=content, template_id=template_id, variables=variables,
                      limits=self.limits, vendor=KEY)  # fmt: skip
        params = build_send(
            numbers[0],
            str(content).strip(),
            account=self._account.reveal(),
            api_key=self._api_key.reveal(),
            dynamic=self.dynamic_password,
        )
        response = self._call(SEND, PATH, query={"method": "Submit"}, data=params)
        try:
            answer = parse_answer(response.content)
        except PayloadError:
            raise self._unknown("no SubmitResult code", decode_text(response.content)) from None
        code = answer["code"]
        ok = code == "2"
        result = SendResult(
            ok=ok,
            task_id=answer["id"] if ok else None,
            accepted=1 if ok else 0,
            message=answer["msg"] or SEND_CODES.get(code or ""),
            code=code,
            remaining=None,
        )
        return self._answered(result, decode_text(response.content))

    def balance(self, *, wait: bool = True) -> int:
        """Voice codes left (``method=GetNum``); ``wait=False`` asks once, with no retry (the
        seed publishes no limit on how often it may be asked).

        The seed lists only the balance error codes, not the address or answer; this follows
        ihuyi's published ``GetNum`` (``<GetNumResult><code>2</code>...<num>N</num>``).
        """
        account, key = self._account.reveal(), self._api_key.reveal()
        params = {"account": account, "password": key}
        if self.dynamic_password:
            stamp = str(int(_time.time()))
            params = {
                "account": account,
                "password": dynamic_password(account, key, stamp),
                "time": stamp,
            }
        response = self._call(READ, PATH, query={"method": "GetNum"}, data=params, retry=wait)
        body = decode_text(response.content)
        try:
            answer = parse_answer(response.content)
        except PayloadError:
            raise self._unknown("no GetNumResult code", body) from None
        code = answer["code"]
        if code != "2":
            raise self._refused("balance", code, answer["msg"] or BALANCE_CODES.get(code or ""))
        try:
            return int(float(answer["num"] or ""))
        except ValueError:
            raise self._unknown("GetNumResult without num", body) from None


Client = IhuyiVoiceClient


#: Voice results come back in the submit answer (code 2); nothing is pushed or pulled.
PROTOCOL = VendorProtocol(key=KEY, limits=LIMITS, parse_push=parse_push)
