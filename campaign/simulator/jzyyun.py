"""嘉之元 (jzyyun) SMS (seed 004): ``/servlet/UserServiceAPI?method=...``.

Parameters come in the query string or a form body, url-encoded in GBK (the server decodes
them as GBK, so UTF-8 content arrives garbled, as on the real server). ``password`` is
BASE64. Answers are plain text ``success;<batchId>`` / ``failure;<reason>``, the balance
string ``memberSmsNum=..;gateSmsNum=..;kaSmsNum=..``, ``updatePassword`` codes 1-4, and
XML for pulled reports (``smsreport/psreport``) and replies (``smsrerecv/psrerecv``, reply
text BASE64 of its GBK bytes). Each report and reply is pulled once, ``pull_max`` a call.

The seed publishes no failure texts; ours are in ``FAILURES``. Other choices where the page
is silent: a missing ``smstype`` uses ``jzyyun_default_smstype`` (its own HttpClient example
omits it); ``updatePassword`` takes the old password plain (as its example shows) or BASE64,
and a plain new password of letters and digits; the report's ``sendtime`` is the time the
report was produced.
"""

from __future__ import annotations

import base64
import binascii
import re
from xml.sax.saxutils import escape

from campaign.simulator.outcomes import rng_for, sms_fate
from campaign.simulator.state import Event, State, fmt_time, has_signature, is_phone, segments
from campaign.simulator.wire import Reply, Route

VENDOR = "jzyyun-sms"
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


def _text(state: State, text: str) -> Reply:
    charset = state.behaviour.jzyyun_charset
    return Reply(text.encode(charset), f"text/plain;charset={charset.upper()}")


def _failure(state: State, reason: str, **values) -> Reply:
    return _text(state, "failure;" + FAILURES[reason].format(**values))


def _decode_password(encoded: str) -> bytes | None:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _password_matches(given: bytes, expected: str) -> bool:
    return given in (expected.encode("gbk"), expected.encode("utf-8"))


def _login(state: State, params: dict[str, str]) -> tuple[str, Reply | None]:
    username, password = params.get("username", ""), params.get("password", "")
    if not username or not password:
        return "", _failure(state, "empty_credentials")
    decoded = _decode_password(password)
    if not decoded:
        return "", _failure(state, "credentials")
    if state.accounts.configured(VENDOR) is not None:
        account = state.accounts.find(VENDOR, username)
        if account is None or not _password_matches(decoded, account["password"]):
            return "", _failure(state, "credentials")
        if account.get("locked"):
            return "", _failure(state, "locked")
    return username, None


def _send(state: State, params: dict[str, str]) -> Reply:
    b = state.behaviour
    username, error = _login(state, params)
    if error:
        return error
    mobile, content = params.get("mobile", ""), params.get("content", "")
    if not mobile:
        return _failure(state, "no_mobile")
    if not content:
        return _failure(state, "no_content")
    smstype = params.get("smstype") or b.jzyyun_default_smstype
    if smstype not in POOLS:
        return _failure(state, "smstype")
    long_sms = params.get("isLongSms") or "0"
    if long_sms not in ("0", "1"):
        return _failure(state, "long_sms")
    extenno = params.get("extenno", "")
    if extenno and not re.fullmatch(r"[0-9]{1,8}", extenno):
        return _failure(state, "extenno")
    phones = mobile.split(",")
    limit = b.max_phones.get(VENDOR, 20_000)
    if len(phones) > limit:
        return _failure(state, "too_many", max=limit)
    if not all(is_phone(p) for p in phones):
        return _failure(state, "bad_phone")
    if b.require_signature.get(VENDOR, False) and not has_signature(content):
        return _failure(state, "signature")
    cost = len(phones) * segments(content, long_sms=long_sms == "1")
    if not state.charge(VENDOR, username, cost, pool=POOLS[smstype]):
        return _failure(state, "balance")
    batch = state.task_id(VENDOR)
    now = state.clock.now()
    for phone in phones:
        fate = sms_fate(rng_for(state.seed, VENDOR, phone, state.nth_send(VENDOR, phone)), phone, b)
        due = now + fate.latency
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
    return _text(state, f"success;{batch}")


def _rest_money(state: State, params: dict[str, str]) -> Reply:
    username, error = _login(state, params)
    if error:
        return error
    pools = state.balance(VENDOR, username)
    text = ";".join(f"{name}={pools[name]}" for name in ("memberSmsNum", "gateSmsNum", "kaSmsNum"))
    return _text(state, text)


def xml_document(state: State, root: str, item: str, events: list[Event]) -> Reply:
    """The seed's XML: declaration, root, one child element per event."""
    charset = state.behaviour.jzyyun_charset
    label = "GBK" if charset.lower() in ("gbk", "gb2312", "gb18030") else "utf-8"
    lines = [f'<?xml version="1.0" encoding="{label}" ?>', f"<{root}>"]
    for event in events:
        fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in event.form.items())
        lines.append(f"<{item}>{fields}</{item}>")
    lines.append(f"</{root}>")
    body = "\n".join(lines).encode(charset)
    if state.behaviour.xml_bom and label == "utf-8":
        body = b"\xef\xbb\xbf" + body
    return Reply(body, f"text/xml;charset={label}")


def _pull(state: State, params: dict[str, str], kind: str) -> Reply:
    username, error = _login(state, params)
    if error:
        return error
    events = state.pull(username, kind, state.clock.now(), state.behaviour.pull_max)
    if kind == "receipt":
        return xml_document(state, "smsreport", "psreport", events)
    return xml_document(state, "smsrerecv", "psrerecv", events)


def _update_password(state: State, params: dict[str, str]) -> Reply:
    username, old = params.get("username", ""), params.get("password", "")
    new = params.get("newPassword", "")
    if not username:
        return _text(state, NO_SUCH_USER)
    if not old or not re.fullmatch(r"[A-Za-z0-9]+", new):
        return _text(state, PASSWORD_FAILED)
    if state.accounts.configured(VENDOR) is None:
        return _text(state, PASSWORD_CHANGED)
    account = state.accounts.find(VENDOR, username)
    if account is None:
        return _text(state, NO_SUCH_USER)
    decoded = _decode_password(old)
    plain_ok = old == account["password"]
    if not plain_ok and not (decoded and _password_matches(decoded, account["password"])):
        return _text(state, PASSWORD_FAILED)
    account["password"] = new
    return _text(state, PASSWORD_CHANGED)


def _handle(state: State, operation: str | None, params: dict[str, str]) -> Reply:
    if operation == "send":
        return _send(state, params)
    if operation == "balance":
        return _rest_money(state, params)
    if operation == "reports":
        return _pull(state, params, "receipt")
    if operation == "replies":
        return _pull(state, params, "reply")
    if operation == "update_password":
        return _update_password(state, params)
    return _failure(state, "method")


def _unknown_error(state: State, operation: str | None, params: dict[str, str]) -> Reply:
    if operation == "update_password":
        return _text(state, UNKNOWN_ERROR)
    return _failure(state, "unknown")


def _operation(params: dict[str, str]) -> tuple[str | None, str | None]:
    method = params.get("method", "")
    return _OPERATIONS.get(method), method or None


ROUTES = {
    "/servlet/UserServiceAPI": Route(
        vendor=VENDOR,
        charset="gbk",
        methods=frozenset({"GET", "POST"}),
        operation=_operation,
        handle=_handle,
        vendor_error=_unknown_error,
    )
}
