"""互亿无线 (ihuyi) voice verify code (seed 003): ``/webservice/voice.php?method=Submit``.

GET or POST, UTF-8; the parameters may come in the query string, a url-encoded body or a
``multipart/form-data`` body (what PHP clients that hand curl an array send: ``voice.php``
reads it like a form). Answers XML ``<SubmitResult>`` (code, msg, id) unless ``format=json``.
Codes and messages are the seed's table.

The layout is the real servers' by default (knobs of :class:`~.behaviour.Behaviour`)::

    <?xml version="1.0" encoding="utf-8"?>
    <SubmitResult xmlns="http://106.ihuyi.com/">
    <code>2</code>
    <msg>提交成功</msg>
    <voiceid>60495654</voiceid>
    </SubmitResult>

and compact JSON, ``{"code":2,"msg":"提交成功","voiceid":"60495654"}``. ``ihuyi_namespace``
sets or drops the namespace (``http://106.ihuyi.cn/`` is seen too), ``ihuyi_xml_encoding``
gives GBK bytes under ``encoding="GBK"``, ``ihuyi_id_field="smsid"`` the seed table's name,
``ihuyi_layout="inline"`` one line and spaced JSON.

Not in the seed, chosen here (and documented in the package docstring):

- Dynamic password: the seed points to "the end of the document" for the rule, which the
  captured page lacks. We use ihuyi's published rule
  ``password = md5(account + APIKEY + mobile + content + time)`` (32 hex digits), with
  ``time`` a 10-digit Unix timestamp; the plain APIKEY is accepted too.
- Balance: the seed lists balance error codes but no address; we serve ``method=GetNum``
  (ihuyi's name for it) answering ``<GetNumResult>`` code 2 查询成功 and ``num``; its dynamic
  password is the same rule with empty mobile and content, i.e. ``md5(account+APIKEY+time)``.
- A body that cannot be read (multipart without a boundary): code 0 提交失败, HTTP 400.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from xml.sax.saxutils import escape, quoteattr

from campaign.simulator.state import State, is_phone
from campaign.simulator.wire import Reply, Route

VENDOR = "ihuyi-voice"

MESSAGES = {
    0: "提交失败",
    2: "提交成功",
    400: "非法ip访问",
    401: "帐号不能为空",
    402: "密码不能为空",
    403: "手机号码不能为空",
    4030: "手机号码已被列入黑名单",
    404: "语音内容不能为空",
    405: "用户名或密码不正确",
    4050: "账号被冻结",
    4051: "剩余条数不足",
    4052: "访问ip与备案ip不符",
    406: "手机格式不正确",
    407: "短信内容含有敏感字符",
    4070: "语音验证码内容必须为4-6位数字",
    408: "您的帐户疑被恶意利用,已被自动冻结,如有疑问请与客服联系。",
}
BALANCE_OK = "查询成功"

_OPERATIONS = {"Submit": "send", "GetNum": "balance"}


def dynamic_password(account: str, api_key: str, mobile: str, content: str, time_: str) -> str:
    """md5(account + APIKEY + mobile + content + time), lowercase hex."""
    return hashlib.md5((account + api_key + mobile + content + time_).encode()).hexdigest()


def _answer(
    state: State, params: dict[str, str], root: str, fields: list[tuple[str, object]]
) -> Reply:
    b = state.behaviour
    lines = b.ihuyi_layout == "lines"
    if params.get("format", "").lower() == "json":
        separators = (",", ":") if lines else (", ", ": ")
        body = json.dumps(dict(fields), ensure_ascii=False, separators=separators)
        return Reply(body.encode("utf-8"), "application/json;charset=utf-8")
    charset = b.ihuyi_xml_encoding
    label = "GBK" if charset == "gbk" else "utf-8"
    xmlns = f" xmlns={quoteattr(b.ihuyi_namespace)}" if b.ihuyi_namespace else ""
    items = [f"<{k}>{escape(str(v))}</{k}>" for k, v in fields]
    inner = "\n" + "\n".join(items) + "\n" if lines else "".join(items)
    text = f'<?xml version="1.0" encoding="{label}"?>\n<{root}{xmlns}>{inner}</{root}>\n'
    return Reply(text.encode(charset, "xmlcharrefreplace"), f"text/xml;charset={label}")


def _credentials(state: State, params: dict[str, str], mobile: str, content: str) -> int:
    """0 if the account may call, else 405 or 4050."""
    account, password, stamp = params["account"], params["password"], params.get("time", "")
    window = state.behaviour.ihuyi_time_window
    if stamp:
        if not re.fullmatch(r"[0-9]{10}", stamp):
            return 405
        if window is not None and abs(int(stamp) - time.time()) > window:
            return 405
    if state.accounts.configured(VENDOR) is None:
        if stamp and not re.fullmatch(r"[0-9a-fA-F]{32}", password):
            return 405
        return 0
    found = state.accounts.find(VENDOR, account)
    if found is None:
        return 405
    key = found["api_key"]
    dynamic = stamp and password.lower() == dynamic_password(account, key, mobile, content, stamp)
    if password != key and not dynamic:
        return 405
    return 4050 if found.get("locked") else 0


def _submit(state: State, params: dict[str, str]) -> Reply:
    id_field = state.behaviour.ihuyi_id_field

    def result(code: int, ident: str = "0") -> Reply:
        fields = [("code", code), ("msg", MESSAGES[code]), (id_field, ident)]
        return _answer(state, params, "SubmitResult", fields)

    mobile, content = params.get("mobile", ""), params.get("content", "")
    for code, name in ((401, "account"), (402, "password"), (403, "mobile"), (404, "content")):
        if not params.get(name):
            return result(code)
    code = _credentials(state, params, mobile, content)
    if code:
        return result(code)
    if not is_phone(mobile):
        return result(406)
    if not re.fullmatch(r"[0-9]{4,6}", content):
        return result(4070)
    if mobile in state.behaviour.blacklist:
        return result(4030)
    if not state.charge(VENDOR, params["account"], 1):
        return result(4051)
    return result(2, state.task_id(VENDOR))


def _get_num(state: State, params: dict[str, str]) -> Reply:
    def result(code: int, num: int = 0) -> Reply:
        msg = BALANCE_OK if code == 2 else MESSAGES[code]
        fields = [("code", code), ("msg", msg), ("num", num)]
        return _answer(state, params, "GetNumResult", fields)

    for code, name in ((401, "account"), (402, "password")):
        if not params.get(name):
            return result(code)
    code = _credentials(state, params, "", "")
    if code:
        return result(code)
    return result(2, state.balance(VENDOR, params["account"]))


def _failed(state: State, operation: str | None, params: dict[str, str]) -> Reply:
    """Code 0 提交失败: the table's generic failure."""
    if operation == "balance":
        fields: list[tuple[str, object]] = [("code", 0), ("msg", MESSAGES[0]), ("num", 0)]
        return _answer(state, params, "GetNumResult", fields)
    id_field = state.behaviour.ihuyi_id_field
    fields = [("code", 0), ("msg", MESSAGES[0]), (id_field, "0")]
    return _answer(state, params, "SubmitResult", fields)


def _malformed(state: State, operation: str | None, params: dict[str, str]) -> Reply:
    """A body it cannot read: code 0 提交失败 (in the format the query string asks for), 400."""
    return dataclasses.replace(_failed(state, operation, params), status=400)


def _handle(state: State, operation: str | None, params: dict[str, str]) -> Reply:
    if operation == "send":
        return _submit(state, params)
    if operation == "balance":
        return _get_num(state, params)
    return _failed(state, operation, params)


def _operation(params: dict[str, str]) -> tuple[str | None, str | None]:
    method = params.get("method", "")
    return _OPERATIONS.get(method), method or None


ROUTES = {
    "/webservice/voice.php": Route(
        vendor=VENDOR,
        charset="utf-8",
        methods=frozenset({"GET", "POST"}),
        operation=_operation,
        handle=_handle,
        vendor_error=_failed,
        malformed=_malformed,
    )
}
