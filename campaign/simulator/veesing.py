"""中昱维信 (veesing) group SMS (seed 001), verify-code SMS (002) and voice (000).

All three answer the same JSON (``returnStatus`` "1 " with a trailing space on success, as
the seeds' samples show, or what ``veesing_ok_status`` says; "0" with a message otherwise)
and push form-encoded receipts and replies. The seed tables give the messages below; where
a rule has no message of its own (no 【signature】, emoji, bad ``variables``, bad
``sendTime``, too many numbers) we answer the seeds' sample error "参数错误", also with HTTP
400 for a body that cannot be read (a multipart body without a boundary).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from campaign.simulator.outcomes import rng_for, sms_fate, voice_fate
from campaign.simulator.state import (
    State,
    fmt_time,
    has_emoji,
    has_signature,
    is_phone,
    parse_time,
    segments,
)
from campaign.simulator.wire import Reply, Route

OK = "1 "
FAIL = "0"
SUCCESS = "成功"
WRONG_CREDENTIALS = "账号或密码错误"
MISSING = "缺少参数"
BAD_PARAMETER = "参数错误"
NO_TEMPLATE = "模板不存在或者未通过"
BAD_TEMPLATE_ID = "模板id格式不正确"
LOCKED = "您的账户已被锁定,请联系您的专属客服"
NO_BALANCE = "余额不足"
BAD_PHONE = "手机号码格式不正确"
NUMBER_DAILY = "该号码今日发送次数已达上限"
INTERVAL = "相同手机号码一分钟之内只可发送一次"
ACCOUNT_DAILY = "当日发送量已超出最大发送限制"
UNKNOWN = "未知原因,请联系客服"

_RULE_MESSAGES = {
    "interval": INTERVAL,
    "daily_number": NUMBER_DAILY,
    "daily_account": ACCOUNT_DAILY,
}


def answer(status: str, message: str, remain: Any = None, task: Any = None, count: Any = None):
    """The seeds' JSON body, fields in the seeds' order; numbers as strings, absent as null."""
    body = {
        "returnStatus": status,
        "message": message,
        "remainPoint": remain,
        "taskId": task,
        "successCounts": count,
    }
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Reply(data, "application/json;charset=UTF-8")


def _fail(message: str) -> Reply:
    return answer(FAIL, message)


def _ok(state: State) -> str:
    """The success ``returnStatus``: the seeds' "1 " unless ``veesing_ok_status`` says else."""
    return state.behaviour.veesing_ok_status


def _malformed(state: State, op: str | None, params: dict[str, str]) -> Reply:
    return dataclasses.replace(_fail(BAD_PARAMETER), status=400)


def _principal(state: State, vendor: str, params: dict[str, str]) -> tuple[str, Reply | None]:
    app_id, app_key = params.get("appId", ""), params.get("appKey", "")
    if not app_id or not app_key:
        return "", _fail(MISSING)
    if state.accounts.configured(vendor) is not None:
        account = state.accounts.find(vendor, app_id)
        if account is None or account["app_key"] != app_key:
            return "", _fail(WRONG_CREDENTIALS)
        if account.get("locked"):
            return "", _fail(LOCKED)
    return app_id, None


def _balance(state: State, vendor: str, op: str | None, params: dict[str, str]) -> Reply:
    principal, error = _principal(state, vendor, params)
    if error:
        return error
    return answer(_ok(state), SUCCESS, str(state.balance(vendor, principal)))


def _accept(
    state: State, vendor: str, principal: str, phones: list[str], at: float, cost: int
) -> tuple[str, Reply | None]:
    """Per-number rules, then balance; on success note the send and return a task id."""
    rule = state.number_rule(vendor, principal, phones, at)
    if rule:
        return "", _fail(_RULE_MESSAGES[rule])
    if not state.charge(vendor, principal, cost):
        return "", _fail(NO_BALANCE)
    state.note_sent(vendor, principal, phones, at)
    return state.task_id(vendor), None


def _schedule_sms(
    state: State, vendor: str, principal: str, task: str, phones, at: float, content=None
):
    b = state.behaviour
    state.note_send(at)
    for phone in phones:
        nth = state.nth_send(vendor, phone)
        fate = sms_fate(rng_for(state.seed, vendor, phone, nth), phone, b)
        if fate.status == "delivered":
            state.note_delivered(vendor, phone, nth, at + fate.latency, content)
        if fate.status != "unknown":
            due = at + fate.latency
            form = {
                "mobile": phone,
                "taskid": task,
                "status": "1" if fate.status == "delivered" else "0",
                "code": fate.code,
                "receivetime": fmt_time(due),
            }
            if vendor == "veesing-code":  # seed 002's receipt has no code field
                del form["code"]
            state.add_event(vendor, "receipt", principal, due, form)
        if fate.reply is not None:
            due = at + fate.reply_delay
            form = {
                "mobile": phone,
                "taskid": task,
                "content": fate.reply,
                "receivetime": fmt_time(due),
            }
            state.add_event(vendor, "reply", principal, due, form)


def _schedule_voice(state: State, principal: str, task: str, phone: str, at: float) -> None:
    vendor = "veesing-voice"
    state.note_send(at)
    rng = rng_for(state.seed, vendor, phone, state.nth_send(vendor, phone))
    fate = voice_fate(rng, phone, state.behaviour)
    due = at + fate.latency
    form = {
        "mobile": phone,
        "taskid": task,
        "status": "1" if fate.status == "delivered" else "0",
        "code": fate.code,
        "receivetime": fmt_time(due),
        "talktime": str(fate.talk),
        "remark": fate.remark,
    }
    state.add_event(vendor, "receipt", principal, due, form)


def _send_group(state: State, vendor: str, op: str | None, params: dict[str, str]) -> Reply:
    b = state.behaviour
    principal, error = _principal(state, vendor, params)
    if error:
        return error
    phone, content = params.get("phone", ""), params.get("content", "")
    if not phone or not content:
        return _fail(MISSING)
    phones = phone.split(",")
    if len(phones) > b.max_phones.get(vendor, 100_000):
        return _fail(BAD_PARAMETER)
    if not all(is_phone(p) for p in phones):
        return _fail(BAD_PHONE)
    if b.require_signature.get(vendor, True) and not has_signature(content):
        return _fail(BAD_PARAMETER)
    if has_emoji(content):
        return _fail(BAD_PARAMETER)
    now = state.clock.now()
    at = now
    send_time = params.get("sendTime", "")
    if send_time:
        scheduled = parse_time(send_time)
        if scheduled is None or scheduled <= now + b.schedule_lead:
            return _fail(BAD_PARAMETER)
        at = scheduled
    task, error = _accept(state, vendor, principal, phones, at, len(phones) * segments(content))
    if error:
        return error
    _schedule_sms(state, vendor, principal, task, phones, at, content)
    remain = state.balance(vendor, principal)
    return answer(_ok(state), SUCCESS, str(remain), task, str(len(phones)))


def _variables_ok(kind: str | None, variables: str) -> bool:
    code_ok = variables.isascii() and variables.isdigit() and 2 <= len(variables) <= 8
    if kind == "code":
        return code_ok
    if kind == "notice":
        return len(variables) <= 50
    return code_ok or len(variables) <= 50


def _send_template(state: State, vendor: str, op: str | None, params: dict[str, str]) -> Reply:
    principal, error = _principal(state, vendor, params)
    if error:
        return error
    template_id = params.get("templateId", "")
    phone, variables = params.get("phone", ""), params.get("variables", "")
    if not template_id or not phone or not variables:
        return _fail(MISSING)
    if not (template_id.isascii() and template_id.isdigit()):
        return _fail(BAD_TEMPLATE_ID)
    kind = "code" if vendor == "veesing-code" else None
    templates = (state.behaviour.templates or {}).get(vendor)
    if templates is not None:
        if template_id not in templates:
            return _fail(NO_TEMPLATE)
        kind = kind or templates[template_id]
    if not is_phone(phone):
        return _fail(BAD_PHONE)
    if has_emoji(variables) or not _variables_ok(kind, variables):
        return _fail(BAD_PARAMETER)
    at = state.clock.now()
    task, error = _accept(state, vendor, principal, [phone], at, 1)
    if error:
        return error
    if vendor == "veesing-voice":
        _schedule_voice(state, principal, task, phone, at)
    else:
        _schedule_sms(state, vendor, principal, task, [phone], at)
    return answer(_ok(state), SUCCESS, str(state.balance(vendor, principal)), task, "1")


def _route(vendor: str, operation: str, handler) -> Route:
    return Route(
        vendor=vendor,
        charset="utf-8",
        methods=frozenset({"POST"}),
        operation=lambda params: (operation, None),
        handle=lambda state, op, params: handler(state, vendor, op, params),
        vendor_error=lambda state, op, params: _fail(UNKNOWN),
        malformed=_malformed,
    )


ROUTES = {
    "/smsApi/group": _route("veesing-sms", "send", _send_group),
    "/smsApi/group/getBalance": _route("veesing-sms", "balance", _balance),
    "/smsApi/verifyCode": _route("veesing-code", "send", _send_template),
    "/smsApi/verifyCode/getBalance": _route("veesing-code", "balance", _balance),
    "/voiceApi": _route("veesing-voice", "send", _send_template),
    "/voiceApi/getBalance": _route("veesing-voice", "balance", _balance),
    # seed 000's table says /voiceApi/getBalance, its own example calls this one: serve both.
    "/voiceApi/group/getBalance": _route("veesing-voice", "balance", _balance),
}
