"""jzyyun-sms: 嘉之元 SMS (seed 004).

Everything is ``POST http://smsapi.jzyyun.com:9003/servlet/UserServiceAPI?method=<name>`` with a
form body: ``username`` in clear, ``password`` BASE64-encoded, content GBK url-encoded; the
answers are GBK. Deployments of the platform may live under a context path
(``http://host:9002/sms/servlet/UserServiceAPI``: ``base_url="http://host:9002/sms"``), and
resellers run a UTF-8 twin servlet, ``/servlet/UserServiceAPIUTF8`` (``utf8_servlet=True``:
content UTF-8 url-encoded, answers UTF-8).

- ``sendSMS``: ``isLongSms`` (0/1), ``smstype`` (0 卡发, 1 网关, 2 会员), ``extenno`` (optional),
  ``mobile`` (up to 20,000, comma separated), ``content``. Answer ``success;<batch id>`` or
  ``failure;<reason>``.
- ``getRestMoney``: ``memberSmsNum=684;gateSmsNum=49919;kaSmsNum=49964``; asked too often, the
  real servers answer ``failure;查询频繁`` (the client waits and asks again, see ``balances``).
- ``getSmsReport`` / ``getRecvSMS``: XML (``smsreport/psreport``, ``smsrerecv/psrerecv``) that
  the vendor hands out once (a destructive queue); reply text is BASE64 of GBK bytes.
- ``updatePassword``: answers 1 (changed), 2 (failed), 3 (no such user), 4 (unknown error).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from campaign.errors import ConfigError, InputError, PayloadError, VendorRejected
from campaign.text import decode_text, utf8_or_gbk
from campaign.vendors._client import CHANGE, DEQUEUE, READ, SEND, VendorClient
from campaign.vendors._limits import VendorLimits, check_message, phone_list
from campaign.vendors._payload import (
    child_text,
    parse_xml,
    payload_phone,
    response_charset,
    shanghai_iso,
)
from campaign.vendors._protocol import Kind, Pulled, VendorProtocol
from campaign.vendors._records import Receipt, Reply, SendResult, receipts_frame, replies_frame
from campaign.vendors._secrets import credential

logger = logging.getLogger(__name__)

KEY = "jzyyun-sms"
BASE_URL = "http://smsapi.jzyyun.com:9003"
PATH = "/servlet/UserServiceAPI"
#: The UTF-8 twin servlet resellers run beside :data:`PATH`.
PATH_UTF8 = "/servlet/UserServiceAPIUTF8"
CONTENT_TYPE = "application/x-www-form-urlencoded; charset=GBK"
CONTENT_TYPE_UTF8 = "application/x-www-form-urlencoded; charset=UTF-8"

#: smstype values and the balance pool each draws on (getRestMoney names in brackets).
SMSTYPES = {0: "card", 1: "gateway", 2: "member"}  # 0 卡发 (kaSmsNum), 1 网关, 2 会员
POOLS = {"memberSmsNum": "member", "gateSmsNum": "gateway", "kaSmsNum": "card"}
#: updatePassword answers.
PASSWORD_RESULTS = {"1": "修改密码成功", "2": "修改密码失败", "3": "用户不存在", "4": "未知错误"}
_STATUS = {"1": "delivered", "0": "failed", "2": "unknown"}

LIMITS = VendorLimits(
    max_phones_per_call=20_000,
    channel="sms",
    message="content",
    encoding="gbk",
    signature_required=True,
    emoji_forbidden=True,
    schedulable=False,
    min_interval_seconds=None,
    segment_chars=70,
    multipart_segment_chars=67,
    long_sms=True,
    delivery="pull",
    replies="pull",
    send_window=("08:00", "21:00"),
)
"""jzyyun limits: up to 20,000 numbers a call (最大2万个号码), content must encode in GBK (so no
emoji), a 【signature】 as for every mainland marketing SMS (the page itself does not say), no
scheduling, no published per-number interval or daily caps (None); reports and replies pulled.
Marketing SMS go out 08:00-21:00 Shanghai time by default (``send_window``), the hours
mainland gateways and carriers expect for them; ``send(window=...)`` changes it."""


def encode_password(password: str) -> str:
    """BASE64 of the password, as the page requires (``123456`` -> ``MTIzNDU2``).

    >>> encode_password("123456")
    'MTIzNDU2'
    """
    return base64.b64encode(password.encode("utf-8")).decode("ascii")


def build_send(
    phones: Sequence[str],
    content: str,
    *,
    username: str,
    password: str,
    smstype: int = 1,
    extenno: str | None = None,
    long_sms: bool | None = None,
) -> dict[str, str]:
    """The form fields of one ``sendSMS`` (``method`` goes in the URL), password encoded.

    ``long_sms=None`` sets ``isLongSms=1`` when the content is longer than one SMS (70).

    >>> build_send(["13866194295", "15375427702"], "短信测试", username="test", password="123")
    {'isLongSms': '0', 'username': 'test', 'password': 'MTIz', 'smstype': '1', \
'mobile': '13866194295,15375427702', 'content': '短信测试'}
    """
    if long_sms is None:
        long_sms = len(content) > LIMITS.segment_chars  # type: ignore[operator]
    params = {
        "isLongSms": "1" if long_sms else "0",
        "username": username,
        "password": encode_password(password),
        "smstype": str(int(smstype)),
    }
    if extenno:
        params["extenno"] = str(extenno)
    params["mobile"] = ",".join(phones)
    params["content"] = content
    return params


def encode_form(params: Mapping[str, str], *, charset: str = "gbk") -> bytes:
    """The form body with every value url-encoded in ``charset`` (GBK, or UTF-8 for the
    ``UserServiceAPIUTF8`` servlet); a value ``charset`` cannot carry is an InputError.

    >>> encode_form({"content": "短信测试"})
    b'content=%B6%CC%D0%C5%B2%E2%CA%D4'
    >>> encode_form({"content": "短信"}, charset="utf-8")
    b'content=%E7%9F%AD%E4%BF%A1'
    """
    for name, value in params.items():
        try:
            value.encode(charset)
        except UnicodeEncodeError as exc:
            bad = value[exc.start : exc.end]
            raise InputError(
                f"{KEY}: {name} cannot be sent in {charset.upper()}: {bad!r} at position "
                f"{exc.start} (remove emoji and rare characters)"
            ) from None
    return urllib.parse.urlencode(params, encoding=charset).encode("ascii")


def _rate_limited(reason: str) -> bool:
    """A ``failure;`` reason saying the query came too soon: the real servers answer
    ``failure;查询频繁`` to a balance asked too often (查询过于频繁 reads the same)."""
    return "频繁" in reason


def split_servlet(base_url: str) -> tuple[str, bool | None]:
    """A base URL without a trailing servlet path, and whether that path named the UTF-8
    servlet (None when there was none): users copy the whole address from a reseller's page.

    >>> split_servlet("http://host:9002/sms/servlet/UserServiceAPIUTF8")
    ('http://host:9002/sms', True)
    >>> split_servlet("http://host:9002/sms/")
    ('http://host:9002/sms/', None)
    """
    parts = urllib.parse.urlsplit(base_url.strip())
    path = parts.path.rstrip("/")
    for suffix, utf8 in ((PATH_UTF8, True), (PATH, False)):
        if path.endswith(suffix):
            return urllib.parse.urlunsplit(parts._replace(path=path[: -len(suffix)])), utf8
    return base_url, None


def _flag(value: str | None, *, name: str) -> bool | None:
    if value is None or not value.strip():
        return None
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{KEY}: {name} must be 1/0 (true/false, yes/no, on/off), not {value!r}")


def parse_send(text: str, *, phones: int) -> SendResult | None:
    """``success;<id>`` / ``failure;<reason>`` as a :class:`SendResult`; None if neither.

    >>> parse_send("success;66", phones=2)
    SendResult(ok=True, task_id='66', accepted=2, message=None, code='success', remaining=None, \
raw='success;66')
    """
    body = text.strip().lstrip("\ufeff").strip()
    word, _sep, rest = body.partition(";")
    word = word.strip().lower()
    if word == "success":
        task = rest.strip() or None
        return SendResult(True, task, phones, None, "success", None, body)
    if word == "failure":
        return SendResult(False, None, 0, rest.strip() or None, "failure", None, body)
    return None


def parse_balances(text: str) -> dict[str, int]:
    """``memberSmsNum=684;gateSmsNum=49919;kaSmsNum=49964`` as ``{"member", "gateway", "card"}``.

    Raises ValueError when the text is not that.

    >>> parse_balances("memberSmsNum=684;gateSmsNum=49919;kaSmsNum=49964")
    {'member': 684, 'gateway': 49919, 'card': 49964}
    """
    pools: dict[str, int] = {}
    for item in text.strip().lstrip("\ufeff").split(";"):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in POOLS:
            continue
        pools[POOLS[name.strip()]] = int(value.strip())
    if set(pools) != set(POOLS.values()):
        raise ValueError("missing pools")
    return {name: pools[name] for name in ("member", "gateway", "card")}


def _failure(text: str) -> str | None:
    """The reason of a ``failure;...`` answer, else None."""
    body = text.strip().lstrip("\ufeff").strip()
    word, _, rest = body.partition(";")
    return rest.strip() if word.strip().lower() == "failure" else None


def _items(body: bytes | str, *, root_tag: str, item_tag: str) -> list[Any]:
    text = body if isinstance(body, str) else decode_text(body)
    if not text.strip().lstrip("\ufeff").strip():
        return []  # an empty queue may come back as an empty body
    reason = _failure(text)
    if reason is not None:
        raise PayloadError(f"{KEY}: the vendor answered failure: {reason}")
    root = parse_xml(body, vendor=KEY)
    if root.tag != root_tag:
        raise PayloadError(f"{KEY}: expected <{root_tag}>, got <{root.tag}>")
    return list(root.iter(item_tag))


def parse_reports(body: bytes | str) -> list[Receipt]:
    """Pulled ``getSmsReport`` XML as receipts (status 1 delivered, 0 failed, 2 unknown).

    ``code`` keeps the raw status; ``received_at`` is the report's ``sendtime`` (the only time
    given) in ISO-8601 +08:00. A missing ``mobile``, ``smslogid``, ``status`` or ``sendtime`` is a
    :class:`~campaign.errors.PayloadError` naming it.

    >>> parse_reports(b"<smsreport><psreport><mobile>15275427712</mobile><username>a</username>"
    ...   b"<smslogid>66</smslogid><status>1</status><sendtime>2012-08-16 01:05:39.0</sendtime>"
    ...   b"</psreport></smsreport>")[0].received_at
    '2012-08-16T01:05:39+08:00'
    """
    receipts = []
    for n, item in enumerate(_items(body, root_tag="smsreport", item_tag="psreport"), start=1):
        where = f" in psreport #{n}"
        phone = child_text(item, "mobile", vendor=KEY, where=where)
        task = child_text(item, "smslogid", vendor=KEY, where=where)
        status = child_text(item, "status", vendor=KEY, where=where)
        sent = child_text(item, "sendtime", vendor=KEY, where=where)
        if not task:
            raise PayloadError(f"{KEY}: empty field 'smslogid'{where}")
        receipts.append(
            Receipt(
                vendor=KEY,
                task_id=task,
                phone=payload_phone(phone, vendor=KEY),
                status=_STATUS.get(status, "unknown"),  # type: ignore[arg-type]
                code=status or None,
                received_at=shanghai_iso(sent, vendor=KEY, field=f"sendtime{where}"),
            )
        )
    return receipts


def decode_reply_content(value: str) -> str:
    """Reply text: BASE64 of GBK bytes (``xOPLrbChPw==`` -> ``你谁啊?``).

    Bytes that are valid UTF-8 are read as UTF-8 (some gateways send that): GB18030 would
    accept most UTF-8 bytes too and turn 取消 into 鍙栨秷, while GBK text is almost never valid
    UTF-8. The push receiver decides the same way.

    >>> decode_reply_content("xOPLrbChPw==")
    '你谁啊?'
    """
    compact = re.sub(r"\s+", "", value)
    try:
        raw = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError(f"{KEY}: reply content {value[:40]!r} is not BASE64") from None
    try:
        return utf8_or_gbk(raw)
    except UnicodeDecodeError:
        raise PayloadError(f"{KEY}: reply content is neither GBK nor UTF-8 once decoded") from None


def parse_replies(body: bytes | str) -> list[Reply]:
    """Pulled ``getRecvSMS`` XML as replies (content decoded from BASE64 of GBK bytes).

    The format carries no batch id, so ``task_id`` is None; ``received_at`` is ``sendtime``.
    """
    replies = []
    for n, item in enumerate(_items(body, root_tag="smsrerecv", item_tag="psrerecv"), start=1):
        where = f" in psrerecv #{n}"
        phone = child_text(item, "mobile", vendor=KEY, where=where)
        content = child_text(item, "content", vendor=KEY, where=where)
        sent = child_text(item, "sendtime", vendor=KEY, where=where)
        replies.append(
            Reply(
                vendor=KEY,
                task_id=None,
                phone=payload_phone(phone, vendor=KEY),
                content=decode_reply_content(content),
                received_at=shanghai_iso(sent, vendor=KEY, field=f"sendtime{where}"),
            )
        )
    return replies


#: The pulled answers' root and item tags, by what they carry.
_TAGS = {"receipt": ("smsreport", "psreport"), "reply": ("smsrerecv", "psrerecv")}


def parse_pulled(body: bytes, kind: Kind) -> Pulled:
    """A whole pulled answer (``getSmsReport`` for receipts, ``getRecvSMS`` for replies),
    read whole when it is clean, else item by item, so that one bad report does not hold
    back the others: each bad item is kept with its error (naming its place, e.g.
    ``psreport #2``). An answer that is not such a document at all is a
    :class:`~campaign.errors.PayloadError`.

    >>> good = b"<psreport><mobile>15275427712</mobile><smslogid>66</smslogid>"
    >>> good += b"<status>1</status><sendtime>2012-08-16 01:05:39.0</sendtime></psreport>"
    >>> pulled = parse_pulled(b"<smsreport>" + good + b"<psreport/></smsreport>", "receipt")
    >>> len(pulled.records), pulled.bad_items[0][1]
    (1, "jzyyun-sms: missing field 'mobile' in psreport #2")
    """
    parser: Callable[[bytes], list[Any]] = parse_reports if kind == "receipt" else parse_replies
    try:
        return Pulled(records=parser(body))
    except PayloadError as whole:
        root_tag, item_tag = _TAGS[kind]
        try:
            root = parse_xml(body, vendor=KEY)
        except PayloadError:
            raise whole from None
        if root.tag != root_tag:
            raise whole from None
    pulled = Pulled()
    for number, item in enumerate(root.iter(item_tag), start=1):
        piece = ET.tostring(item, encoding="utf-8")
        wrapped = b"<" + root_tag.encode() + b">" + piece + b"</" + root_tag.encode() + b">"
        try:
            pulled.records.extend(parser(wrapped))
        except PayloadError as exc:  # parsed alone, it is always #1: say where it was
            error, alone = str(exc), f" in {item_tag} #1"
            where = f" in {item_tag} #{number}"
            error = error.replace(alone, where) if alone in error else f"{error} ({where[1:]})"
            pulled.bad_items.append((piece, error))
    return pulled


def parse_push(form: Mapping[str, Any]) -> Receipt | Reply:
    """jzyyun pushes nothing: its reports and replies are pulled (see :func:`parse_reports`)."""
    raise PayloadError(f"{KEY}: reports and replies are pulled as XML, not pushed")


class JzyyunSmsClient(VendorClient):
    """jzyyun SMS client; build with ``cp.vendor("jzyyun-sms")``.

    ``smstype`` (kw or env ``JZYYUN_SMSTYPE``; 0 卡发, 1 网关 (default, as the page's examples),
    2 会员) picks the channel and so the balance pool; ``extenno`` (kw or env
    ``JZYYUN_EXTENNO``) the extension sub-number; ``long_sms`` forces ``isLongSms`` (default:
    1 when the content is longer than 70 characters).

    ``base_url`` may carry the deployment's context path (``http://host:9002/sms``), or the
    whole servlet address. ``utf8_servlet`` (kw or env ``JZYYUN_UTF8_SERVLET=1``) calls the
    UTF-8 twin servlet resellers run, ``/servlet/UserServiceAPIUTF8``: content is then sent
    UTF-8 url-encoded (so ``limits.encoding`` becomes UTF-8) and answers are read as UTF-8;
    a base_url ending in ``/servlet/UserServiceAPIUTF8`` implies it.

    >>> client = cp.vendor("jzyyun-sms", base_url="http://127.0.0.1:9002/sms", utf8_servlet=True)
    >>> client.base_url, client.path
    ('http://127.0.0.1:9002/sms', '/servlet/UserServiceAPIUTF8')
    """

    KEY = KEY
    DEFAULT_BASE_URL = BASE_URL
    LIMITS = LIMITS
    SECRET_PARAMS = ("password", "newPassword")
    BASE_URL_PATH = True

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        smstype: int | str | None = None,
        extenno: str | None = None,
        long_sms: bool | None = None,
        utf8_servlet: bool | None = None,
        **options: Any,
    ):
        named = None
        if options.get("base_url"):
            options["base_url"], named = split_servlet(options["base_url"])
        super().__init__(**options)
        user = credential(username, keyword="username", env="JZYYUN_USERNAME", vendor=KEY)
        secret = credential(password, keyword="password", env="JZYYUN_PASSWORD", vendor=KEY)
        assert user is not None
        assert secret is not None
        self._username = user
        self._password = self._secret(secret)
        kind = credential(
            None if smstype is None else str(smstype),
            keyword="smstype",
            env="JZYYUN_SMSTYPE",
            vendor=KEY,
            required=False,
        )
        try:
            self.smstype = 1 if kind is None else int(kind)
        except ValueError:
            self.smstype = -1
        if self.smstype not in SMSTYPES:
            raise ConfigError(
                f"{KEY}: smstype must be 0 (卡发), 1 (网关) or 2 (会员), not {kind!r}"
            )
        self.extenno = credential(
            extenno, keyword="extenno", env="JZYYUN_EXTENNO", vendor=KEY, required=False
        )
        if self.extenno is not None and not re.fullmatch(r"\d{1,20}", self.extenno):
            raise ConfigError(f"{KEY}: extenno must be digits, not {self.extenno!r}")
        self.long_sms = long_sms
        if utf8_servlet is None:
            env = credential(
                None,
                keyword="utf8_servlet",
                env="JZYYUN_UTF8_SERVLET",
                vendor=KEY,
                required=False,
            )
            utf8_servlet = _flag(env, name="JZYYUN_UTF8_SERVLET")
        if named is not None and utf8_servlet is not None and bool(utf8_servlet) != named:
            raise ConfigError(
                f"{KEY}: base_url names the {'UTF-8' if named else 'GBK'} servlet but "
                f"utf8_servlet={bool(utf8_servlet)}; give one of them"
            )
        self.utf8_servlet = bool(named if utf8_servlet is None else utf8_servlet)
        self.path = PATH_UTF8 if self.utf8_servlet else PATH
        self.charset = "utf-8" if self.utf8_servlet else "gbk"
        if self.utf8_servlet and self.limits.encoding == LIMITS.encoding:
            self.limits = self.limits.replace(encoding="utf-8")

    def _identity(self) -> str:
        servlet = " servlet=UTF8" if self.utf8_servlet else ""
        return f"username='{self._username[:2]}***' smstype={self.smstype}{servlet}"

    def _auth(self) -> dict[str, str]:
        return {"username": self._username, "password": encode_password(self._password.reveal())}

    def _text(self, response: Any) -> str:
        return decode_text(response.content, declared=response_charset(response))

    def send(
        self,
        phones: str | Sequence[str],
        *,
        content: str | None = None,
        template_id: str | None = None,
        variables: str | None = None,
        send_at: dt.datetime | str | None = None,
    ) -> SendResult:
        """Submit up to 20,000 numbers; ``failure;<reason>`` is ``ok=False``, code ``"failure"``.

        The answer has no count: ``accepted`` is the number of phones submitted when it says
        success. Raises :class:`~campaign.errors.VendorUnreachable` (nothing sent; already
        retried) or :class:`~campaign.errors.VendorResponseUnknown` (never retried).

        >>> client = cp.vendor("jzyyun-sms")  # credentials from JZYYUN_USERNAME/PASSWORD
        >>> phones = ["13866194295", "15375427702"]
        >>> client.send(phones, content="【云通信】短信测试")  # doctest: +SKIP
        SendResult(ok=True, task_id='66', accepted=2, ...)
        """
        numbers = phone_list(phones, vendor=KEY, limits=self.limits)
        self._check_send_at(send_at)
        check_message(content=content, template_id=template_id, variables=variables,
                      limits=self.limits, vendor=KEY)  # fmt: skip
        params = build_send(
            numbers,
            content,
            username=self._username,
            password=self._password.reveal(),
            smstype=self.smstype,
            extenno=self.extenno,
            long_sms=self.long_sms
            if self.long_sms is not None
            else len(content) > (self.limits.segment_chars or 70),
        )
        body = encode_form(params, charset=self.charset)
        response = self._call(
            SEND,
            self.path,
            query={"method": "sendSMS"},
            body=body,
            content_type=CONTENT_TYPE_UTF8 if self.utf8_servlet else CONTENT_TYPE,
            log_params=params,
        )
        text = self._text(response)
        result = parse_send(text, phones=len(numbers))
        if result is None:
            raise self._unknown("neither success; nor failure;", text)
        if result.ok and result.task_id is None:  # the web-service form answers bare success
            logger.warning("%s: success without a batch id; receipts cannot be linked", KEY)
        return self._answered(result, text)

    def balances(self, *, wait: bool = True) -> dict[str, int]:
        """Messages left in each pool: ``{"member": ..., "gateway": ..., "card": ...}``.

        (``memberSmsNum`` 会员, ``gateSmsNum`` 网关, ``kaSmsNum`` 卡发.)

        Asked too often, the servers answer ``failure;查询频繁``: the client waits (``backoff``
        seconds, doubled each time) and asks again, ``retries`` times, then raises
        :class:`~campaign.errors.VendorRejected` with code ``"failure"`` and that message.
        ``wait=False`` asks once and raises at once, with no retry (``cp.send`` reads the
        balance so, to never hold a send up). The error of a query asked too often has
        ``rate_limited`` True.

        >>> client = cp.vendor("jzyyun-sms")
        >>> client.balances()  # doctest: +SKIP
        {'member': 684, 'gateway': 49919, 'card': 49964}
        """
        attempts = self.retries + 1 if wait else 1
        for attempt in range(attempts):
            response = self._call(
                READ, self.path, query={"method": "getRestMoney"}, data=self._auth(), retry=wait
            )
            text = self._text(response)
            reason = _failure(text)
            if reason is None or not _rate_limited(reason) or attempt == attempts - 1:
                break
            wait = self.backoff * 2**attempt
            logger.info("%s balance: %s; asking again in %.1f s", KEY, reason, wait)
            time.sleep(wait)
        if reason is not None:
            what = "balance (queried too often: ask again later)" if _rate_limited(reason) else None
            error = self._refused(what or "balance", "failure", reason)
            error.rate_limited = _rate_limited(reason)  # type: ignore[attr-defined]
            raise error
        try:
            return parse_balances(text)
        except ValueError:
            raise self._unknown("not memberSmsNum=..;gateSmsNum=..;kaSmsNum=..", text) from None

    def balance(self, *, wait: bool = True) -> int:
        """Messages left in the pool this client's ``smstype`` draws on (``wait``: see
        :meth:`balances`)."""
        return self.balances(wait=wait)[SMSTYPES[self.smstype]]

    def _pull(self, method: str) -> bytes:
        response = self._call(DEQUEUE, self.path, query={"method": method}, data=self._auth())
        reason = _failure(self._text(response))
        if reason is not None:
            raise self._refused(method, "failure", reason)
        return response.content

    def fetch_reports_xml(self) -> bytes:
        """The raw ``getSmsReport`` answer (the vendor hands each report out once: keep it).

        A lost answer raises :class:`~campaign.errors.VendorResponseUnknown` and is not retried:
        the reports in it may be gone for good, and a silent retry would hide that.
        """
        return self._pull("getSmsReport")

    def fetch_replies_xml(self) -> bytes:
        """The raw ``getRecvSMS`` answer (handed out once, like reports)."""
        return self._pull("getRecvSMS")

    def fetch_raw(self, kind: Kind) -> bytes:
        """The raw answer of a pull: reports for ``"receipt"``, replies for ``"reply"``."""
        return self.fetch_reports_xml() if kind == "receipt" else self.fetch_replies_xml()

    def fetch_reports(self) -> pd.DataFrame:
        """Pull the waiting delivery reports.

        Returns columns vendor, task_id, phone, status (delivered/failed/unknown), code (raw
        status), received_at (ISO-8601 +08:00), talk_seconds, remark. An unparseable answer is a
        :class:`~campaign.errors.PayloadError` whose ``payload`` attribute keeps the bytes.

        >>> client = cp.vendor("jzyyun-sms")
        >>> client.fetch_reports()[["task_id", "phone", "status"]]  # doctest: +SKIP
          task_id        phone     status
        0      66  13866194295  delivered
        1      66  15375427702     failed
        """
        body = self.fetch_reports_xml()
        try:
            return receipts_frame(parse_reports(body))
        except PayloadError as exc:
            exc.payload = body  # type: ignore[attr-defined]
            raise

    def fetch_replies(self) -> pd.DataFrame:
        """Pull the waiting replies: columns vendor, task_id (None), phone, content, received_at."""
        body = self.fetch_replies_xml()
        try:
            return replies_frame(parse_replies(body))
        except PayloadError as exc:
            exc.payload = body  # type: ignore[attr-defined]
            raise

    def update_password(self, new_password: str) -> None:
        """Change the account password; the client uses the new one from then on.

        ``password`` is sent BASE64 like every other call (the page's example shows it in clear,
        but the server checks it the same way everywhere); ``newPassword`` is sent as typed.
        Answers 2 (修改密码失败), 3 (用户不存在), 4 (未知错误) raise
        :class:`~campaign.errors.VendorRejected` with that code.

        >>> client = cp.vendor("jzyyun-sms")
        >>> client.update_password("abc123")  # doctest: +SKIP
        >>> client.update_password("abc-123")
        Traceback (most recent call last):
        ...
        campaign.errors.InputError: jzyyun-sms: the new password must be letters and digits only
        """
        if not re.fullmatch(r"[A-Za-z0-9]+", new_password or ""):
            raise InputError(f"{KEY}: the new password must be letters and digits only")
        self._secret(new_password)  # redact it from now on
        params = {**self._auth(), "newPassword": new_password}
        response = self._call(CHANGE, self.path, query={"method": "updatePassword"}, data=params)
        text = self._text(response).strip().lstrip("\ufeff").strip()
        if text not in PASSWORD_RESULTS:
            raise self._unknown("not an updatePassword result 1-4", text)
        if text != "1":
            raise VendorRejected(
                "password change refused",
                vendor=KEY,
                code=text,
                vendor_message=PASSWORD_RESULTS[text],
            )
        self._password = self._secret(new_password)


Client = JzyyunSmsClient


PROTOCOL = VendorProtocol(key=KEY, limits=LIMITS, parse_push=parse_push, parse_pulled=parse_pulled)
