"""嘉之元 (jzyyun) SMS (seed 004): ``/servlet/UserServiceAPI?method=...``.

Parameters come in the query string or a form body, url-encoded in GBK (the server decodes
them as GBK, so UTF-8 content arrives garbled, as on the real server). ``password`` is
BASE64. Answers are plain text ``success;<batchId>`` / ``failure;<reason>``, the balance
string ``memberSmsNum=..;gateSmsNum=..;kaSmsNum=..``, ``updatePassword`` codes 1-4, and
XML for pulled reports (``smsreport/psreport``) and replies (``smsrerecv/psrerecv``, reply
text BASE64 of its GBK bytes). Each report and reply is pulled once, ``pull_max`` a call.

Answers are GBK by default, as the real servers send them (``jzyyun_charset``). Real
deployments also live under a context path (``jzyyun_context_path``, e.g.
``/sms/servlet/UserServiceAPI``), and resellers run a UTF-8 twin servlet,
``/servlet/UserServiceAPIUTF8`` (``jzyyun_utf8_servlet``): parameters read as UTF-8, answers
in UTF-8, the same accounts behind both. ``getRestMoney`` asked again within
``jzyyun_balance_interval`` answers ``failure;查询频繁``, as the real servers do.

The seed publishes no failure texts; ours are in ``FAILURES`` (查询频繁 is the real servers').
Other choices where the page is silent: a missing ``smstype`` uses
``jzyyun_default_smstype`` (its own HttpClient example omits it); ``updatePassword`` takes the
old password plain (as its example shows) or BASE64, and a plain new password of letters and
digits; the report's ``sendtime`` is the time the report was produced; a body that cannot be
read (a multipart body without a boundary) answers ``failure;请求格式错误`` with HTTP 400.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import re
from xml.sax.saxutils import escape

from campaign.simulator.behaviour import Behaviour
from campaign.simulator.outcomes import rng_for, sms_fate
from campaign.simulator.state import Event, State, fmt_time, has_signature, is_phone, segments
from campaign.simulator.wire import Reply, Route

VENDOR = "jzyyun-sms"
SERVLET = "/servlet/UserServiceAPI"
UTF8_SERVLET = "/servlet/UserServiceAPIUTF8"
POOLS = {"0": "kaSmsNum", "1": "gateSmsNum", "2": "memberSmsNum"}
STATUS = {"delivered": "1", "failed": "0", "unknown": "2"}

FAILURES = {
    "empty_credentials": "用户名或密码不能为空",
    "credentials": "用户名或密码错误",
    "locked": "账号已被锁定",
    "no_mobile": "手机号码不能为空",
    "no_content": "短信内容不能为空",
    "smstype": "smstype参数错误",
    "long_sms": "isLongSms参数错误",
    "extenno": "扩展号码格式错误",
    "too_many": "手机号码数量超过{max}个",
    "bad_phone": "手机号码格式错误",
    "signature": "短信内容缺少签名",
    "balance": "余额不足",
    "method": "method参数错误",
    "frequent": "查询频繁",
    "malformed": "请求格式错误",
    "unknown": "未知错误",
}

PASSWORD_CHANGED, PASSWORD_FAILED, NO_SUCH_USER, UNKNOWN_ERROR = "1", "2", "3", "4"

_OPERATIONS = {
    "sendSMS": "send",
    "getRestMoney": "balance",
    "getSmsReport": "reports",
    "getRecvSMS": "replies",
    "updatePassword": "update_password",
}


def _text(charset: str, text: str) -> Reply:
    return Reply(text.encode(charset), f"text/plain;charset={charset.upper()}")


def _failure(charset: str, reason: str, **values) -> Reply:
    return _text(charset, "failure;" + FAILURES[reason].format(**values))


def _decode_password(encoded: str) -> bytes | None:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _password_matches(given: bytes, expected: str) -> bool:
    return given in (expected.encode("gbk"), expected.encode("utf-8"))


def _login(state: State, params: dict[str, str], charset: str) -> tuple[str, Reply | None]:
    username, password = params.get("username", ""), params.get("password", "")
    if not username or not password:
        return "", _failure(charset, "empty_credentials")
    decoded = _decode_password(password)
    if not decoded:
        return "", _failure(charset, "credentials")
    if state.accounts.configured(VENDOR) is not None:
        account = state.accounts.find(VENDOR, username)
        if account is None or not _password_matches(decoded, account["password"]):
            return "", _failure(charset, "credentials")
        if account.get("locked"):
            return "", _failure(charset, "locked")
    return username, None


def _send(state: State, params: dict[str, str], charset: str) -> Reply:
    b = state.behaviour
    username, error = _login(state, params, charset)
    if error:
        return error
    mobile, content = params.get("mobile", ""), params.get("content", "")
    if not mobile:
        return _failure(charset, "no_mobile")
    if not content:
        return _failure(charset, "no_content")
    smstype = params.get("smstype") or b.jzyyun_default_smstype
    if smstype not in POOLS:
        return _failure(charset, "smstype")
    long_sms = params.get("isLongSms") or "0"
    if long_sms not in ("0", "1"):
        return _failure(charset, "long_sms")
    extenno = params.get("extenno", "")
    if extenno and not re.fullmatch(r"[0-9]{1,8}", extenno):
        return _failure(charset, "extenno")
    phones = mobile.split(",")
    limit = b.max_phones.get(VENDOR, 20_000)
    if len(phones) > limit:
        return _failure(charset, "too_many", max=limit)
    if not all(is_phone(p) for p in phones):
        return _failure(charset, "bad_phone")
    if b.require_signature.get(VENDOR, False) and not has_signature(content):
        return _failure(charset, "signature")
    cost = len(phones) * segments(content, long_sms=long_sms == "1")
    if not state.charge(VENDOR, username, cost, pool=POOLS[smstype]):
        return _failure(charset, "balance")
    batch = state.task_id(VENDOR)
    now = state.clock.now()
    state.note_send(now)
    for phone in phones:
        nth = state.nth_send(VENDOR, phone)
        fate = sms_fate(rng_for(state.seed, VENDOR, phone, nth), phone, b)
        due = now + fate.latency
        if fate.status == "delivered":
            state.note_delivered(VENDOR, phone, nth, due, content)
        report = {
            "mobile": phone,
            "username": username,
            "smslogid": batch,
            "status": STATUS[fate.status],
            "sendtime": fmt_time(due, tenths=True),
        }
        state.add_event(VENDOR, "receipt", username, due, report)
        if fate.reply is not None:
            due = now + fate.reply_delay
            reply = {
                "mobile": phone,
                "receiver": username,
                "content": base64.b64encode(fate.reply.encode("gbk")).decode("ascii"),
                "sendtime": fmt_time(due, tenths=True),
            }
            state.add_event(VENDOR, "reply", username, due, reply)
    return _text(charset, f"success;{batch}")


def _rest_money(state: State, params: dict[str, str], charset: str) -> Reply:
    username, error = _login(state, params, charset)
    if error:
        return error
    interval = state.behaviour.jzyyun_balance_interval
    if not state.query_allowed(VENDOR, username, "balance", state.clock.now(), interval):
        return _failure(charset, "frequent")
    pools = state.balance(VENDOR, username)
    text = ";".join(f"{name}={pools[name]}" for name in ("memberSmsNum", "gateSmsNum", "kaSmsNum"))
    return _text(charset, text)


def xml_document(state: State, root: str, item: str, events: list[Event], charset: str) -> Reply:
    """The seed's XML in ``charset``: declaration, root, one child element per event."""
    label = "GBK" if charset == "gbk" else "utf-8"
    lines = [f'<?xml version="1.0" encoding="{label}" ?>', f"<{root}>"]
    for event in events:
        fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in event.form.items())
        lines.append(f"<{item}>{fields}</{item}>")
    lines.append(f"</{root}>")
    body = "\n".join(lines).encode(charset)
    if state.behaviour.xml_bom and label == "utf-8":
        body = b"\xef\xbb\xbf" + body
    return Reply(body, f"text/xml;charset={label}")


def _pull(state: State, params: dict[str, str], kind: str, charset: str) -> Reply:
    username, error = _login(state, params, charset)
    if error:
        return error
    events = state.pull(username, kind, state.clock.now(), state.behaviour.pull_max)
    if kind == "receipt":
        return xml_document(state, "smsreport", "psreport", events, charset)
    return xml_document(state, "smsrerecv", "psrerecv", events, charset)


def _update_password(state: State, params: dict[str, str], charset: str) -> Reply:
    username, old = params.get("username", ""), params.get("password", "")
    new = params.get("newPassword", "")
    if not username:
        return _text(charset, NO_SUCH_USER)
    if not old or not re.fullmatch(r"[A-Za-z0-9]+", new):
        return _text(charset, PASSWORD_FAILED)
    if state.accounts.configured(VENDOR) is None:
        return _text(charset, PASSWORD_CHANGED)
    account = state.accounts.find(VENDOR, username)
    if account is None:
        return _text(charset, NO_SUCH_USER)
    decoded = _decode_password(old)
    plain_ok = old == account["password"]
    if not plain_ok and not (decoded and _password_matches(decoded, account["password"])):
        return _text(charset, PASSWORD_FAILED)
    account["password"] = new
    return _text(charset, PASSWORD_CHANGED)


def _answer_charset(state: State, utf8: bool) -> str:
    return "utf-8" if utf8 else state.behaviour.jzyyun_charset


def _handle(state: State, operation: str | None, params: dict[str, str], *, utf8: bool) -> Reply:
    charset = _answer_charset(state, utf8)
    if operation == "send":
        return _send(state, params, charset)
    if operation == "balance":
        return _rest_money(state, params, charset)
    if operation == "reports":
        return _pull(state, params, "receipt", charset)
    if operation == "replies":
        return _pull(state, params, "reply", charset)
    if operation == "update_password":
        return _update_password(state, params, charset)
    return _failure(charset, "method")


def _unknown_error(
    state: State, operation: str | None, params: dict[str, str], *, utf8: bool
) -> Reply:
    charset = _answer_charset(state, utf8)
    if operation == "update_password":
        return _text(charset, UNKNOWN_ERROR)
    return _failure(charset, "unknown")


def _malformed(state: State, operation: str | None, params: dict[str, str], *, utf8: bool) -> Reply:
    charset = _answer_charset(state, utf8)
    reply = _text(charset, UNKNOWN_ERROR) if operation == "update_password" else None
    reply = reply or _failure(charset, "malformed")
    return dataclasses.replace(reply, status=400)


def _operation(params: dict[str, str]) -> tuple[str | None, str | None]:
    method = params.get("method", "")
    return _OPERATIONS.get(method), method or None


def _route(*, utf8: bool) -> Route:
    return Route(
        vendor=VENDOR,
        charset="utf-8" if utf8 else "gbk",
        methods=frozenset({"GET", "POST"}),
        operation=_operation,
        handle=functools.partial(_handle, utf8=utf8),
        vendor_error=functools.partial(_unknown_error, utf8=utf8),
        malformed=functools.partial(_malformed, utf8=utf8),
    )


def routes(behaviour: Behaviour) -> dict[str, Route]:
    """The servlet paths this deployment serves: ``{context}/servlet/UserServiceAPI``, and its
    UTF-8 twin ``{context}/servlet/UserServiceAPIUTF8`` when ``jzyyun_utf8_servlet``."""
    context = behaviour.jzyyun_context_path
    served = {context + SERVLET: _route(utf8=False)}
    if behaviour.jzyyun_utf8_servlet:
        served[context + UTF8_SERVLET] = _route(utf8=True)
    return served
