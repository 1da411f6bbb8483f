"""The 中昱维信 (veesing) protocol shared by veesing-sms, veesing-code and veesing-voice.

Seeds 000, 001 and 002: a form-encoded POST with ``appId``/``appKey``; a JSON answer

    {"returnStatus": "1 ", "message": "成功", "remainPoint": "241", "taskId": "3313746",
     "successCounts": "1"}

where success is ``"1 "`` *with a trailing space* in the seed (``"1"`` is accepted too) and every
refusal is ``"0"`` with a Chinese message; receipts and replies are pushed as form posts.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from campaign.errors import PayloadError
from campaign.text import utf8_or_gbk
from campaign.vendors._client import READ, SEND, VendorClient
from campaign.vendors._limits import VendorLimits, check_message, phone_list
from campaign.vendors._payload import payload_phone, shanghai_iso
from campaign.vendors._protocol import PushFormat, PushTable, VendorProtocol
from campaign.vendors._records import Receipt, Reply, SendResult
from campaign.vendors._secrets import credential

#: The Content-Type the veesing pages give (seeds 000-002): without the charset a Java servlet
#: decodes the form as ISO-8859-1 and the 【signature】 arrives garbled.
FORM_UTF8 = "application/x-www-form-urlencoded;charset=utf-8"

__all__ = [
    "ERROR_MESSAGES",
    "VeesingClient",
    "parse_balance",
    "parse_push",
    "parse_receipt_columns",
    "parse_send",
    "protocol",
]

#: The messages the seeds list for ``returnStatus`` 0 (sends); all share the code "0".
ERROR_MESSAGES = (
    "账号或密码错误",
    "缺少参数",
    "模板不存在或者未通过",
    "模板id格式不正确",
    "您的账户已被锁定,请联系您的专属客服",
    "余额不足",
    "手机号码格式不正确",
    "该号码今日发送次数已达上限",
    "相同手机号码一分钟之内只可发送一次",
    "当日发送量已超出最大发送限制",
    "未知原因,请联系客服",
)
#: The extra message the balance endpoints list.
BALANCE_ERROR_MESSAGES = (
    "账号或密码错误",
    "缺少参数",
    "您的账户已被锁定,请联系您的专属客服",
    "未知原因,请联系客服",
    "IP受限",
)

SEND_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_STATUS = {"1": "delivered", "0": "failed"}


def _answer(body: str) -> dict[str, Any] | None:
    """The JSON object of an answer, or None when it is not one."""
    try:
        data = json.loads(body.strip().lstrip("\ufeff"))
    except ValueError:
        return None
    if not isinstance(data, dict) or "returnStatus" not in data:
        return None
    return data


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return int(float(text))
    except ValueError:
        return None


def parse_send(body: str, *, phones: int) -> SendResult | None:
    """A send answer as a :class:`SendResult`; ``None`` when the answer cannot be read.

    ``returnStatus`` "1 " (the seeds' samples, trailing space) or "1" (what published clients,
    the vendor's own samples included, compare with) is a success, "0" a refusal; any other
    status is not one the seeds define, so it is unreadable (``None``): the caller reports an
    unknown outcome, never a success.

    >>> parse_send('{"returnStatus": "1 ", "message": "成功", "remainPoint": "241", '
    ...            '"taskId": "3313746", "successCounts": "1"}', phones=1).task_id
    '3313746'
    """
    data = _answer(body)
    if data is None:
        return None
    status = _text(data.get("returnStatus"))
    if status not in ("0", "1"):
        return None
    ok = status == "1"
    accepted = _int(data.get("successCounts"))
    if accepted is None:
        accepted = phones if ok else 0
    return SendResult(
        ok=ok,
        task_id=_text(data.get("taskId")),
        accepted=accepted if ok else 0,
        message=_text(data.get("message")),
        code=status,
        remaining=_int(data.get("remainPoint")),
        raw=body,
    )


def parse_balance(body: str) -> tuple[bool, int | None, str | None]:
    """A balance answer as ``(ok, remainPoint, message)``; raises ValueError when unreadable."""
    data = _answer(body)
    status = None if data is None else _text(data.get("returnStatus"))
    if data is None or status not in ("0", "1"):
        raise ValueError("not a veesing answer")
    remain = _int(data.get("remainPoint"))
    if status == "1" and remain is None:
        raise ValueError("remainPoint missing")
    return status == "1", remain, _text(data.get("message"))


def _value(form: Mapping[str, Any], name: str, *, vendor: str) -> str | None:
    value = form.get(name)
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise PayloadError(f"{vendor}: field {name!r} given {len(value)} times")
        value = value[0]
    if isinstance(value, bytes):
        try:
            value = utf8_or_gbk(value)
        except UnicodeDecodeError:
            raise PayloadError(f"{vendor}: field {name!r} is neither UTF-8 nor GBK") from None
    return None if value is None else str(value)


def parse_push(
    form: Mapping[str, Any],
    *,
    vendor: str,
    receipt_fields: Sequence[str],
    replies: bool = True,
) -> Receipt | Reply:
    """One pushed form: a receipt when it has ``status``, a reply when it has ``content``.

    ``receipt_fields`` are the fields the vendor's page marks required for receipts; a missing
    one (or an empty ``mobile``/``taskid``/``status``/``receivetime``) is a
    :class:`~campaign.errors.PayloadError` naming it.
    """
    if not isinstance(form, Mapping):
        raise PayloadError(f"{vendor}: a push must be a form (mapping), not {type(form).__name__}")

    def get(name: str, *, required: bool = True, nonempty: bool = True) -> str | None:
        value = _value(form, name, vendor=vendor)
        if value is None:
            if required:
                raise PayloadError(f"{vendor}: missing field {name!r} in pushed form")
            return None
        if nonempty and not value.strip():
            raise PayloadError(f"{vendor}: field {name!r} is empty in pushed form")
        return value

    has_status = "status" in form
    has_content = "content" in form
    if has_status and has_content:
        raise PayloadError(f"{vendor}: pushed form has both 'status' and 'content'")
    if has_content:
        if not replies:
            raise PayloadError(f"{vendor}: this vendor documents no reply push (form has content)")
        task = get("taskid", required=False, nonempty=False)  # the page marks none required
        return Reply(
            vendor=vendor,
            task_id=task.strip() or None if task is not None else None,
            phone=payload_phone(get("mobile") or "", vendor=vendor),
            content=get("content", nonempty=False) or "",
            received_at=shanghai_iso(get("receivetime") or "", vendor=vendor, field="receivetime"),
        )
    if not has_status:
        raise PayloadError(
            f"{vendor}: missing field 'status' (receipt) or 'content' (reply) in pushed form"
        )
    for name in receipt_fields:  # name the first missing documented field
        get(name, nonempty=False)
    status = (get("status") or "").strip()
    code = get("code", required=False, nonempty=False)
    talk = get("talktime", required="talktime" in receipt_fields, nonempty=False)
    talk_seconds = None
    if talk is not None and talk.strip():
        if not re.fullmatch(r"\d+", talk.strip()):
            raise PayloadError(f"{vendor}: talktime {talk!r} is not a whole number of seconds")
        talk_seconds = int(talk.strip())
    remark = get("remark", required="remark" in receipt_fields, nonempty=False)
    return Receipt(
        vendor=vendor,
        task_id=(get("taskid") or "").strip(),
        phone=payload_phone(get("mobile") or "", vendor=vendor),
        status=_STATUS.get(status, "unknown"),  # type: ignore[arg-type]
        code=code.strip() if code and code.strip() else None,
        received_at=shanghai_iso(get("receivetime") or "", vendor=vendor, field="receivetime"),
        talk_seconds=talk_seconds,
        remark=remark if remark else None,
    )


class VeesingClient(VendorClient):
    """A veesing client; the three vendor modules subclass it with their paths and limits."""

    SECRET_PARAMS = ("appId", "appKey")
    SEND_PATH: ClassVar[str] = ""
    BALANCE_PATH: ClassVar[str] = ""
    RECEIPT_FIELDS: ClassVar[tuple[str, ...]] = ()
    PUSHES_REPLIES: ClassVar[bool] = True

    def __init__(self, *, app_id: str | None = None, app_key: str | None = None, **options: Any):
        super().__init__(**options)
        ident = credential(app_id, keyword="app_id", env="VEESING_APP_ID", vendor=self.KEY)
        key = credential(app_key, keyword="app_key", env="VEESING_APP_KEY", vendor=self.KEY)
        assert ident is not None
        assert key is not None
        self._app_id = self._secret(ident)
        self._app_key = self._secret(key)

    def _identity(self) -> str:
        return f"app_id='{self._app_id.reveal()[:4]}***'"

    def _credentials(self) -> dict[str, str]:
        return {"appId": self._app_id.reveal(), "appKey": self._app_key.reveal()}

    def _params(
        self,
        phones: list[str],
        *,
        content: str | None,
        template_id: str | None,
        variables: str | None,
        send_at: dt.datetime | None,
    ) -> dict[str, str]:
        raise NotImplementedError

    def send(
        self,
        phones: str | Sequence[str],
        *,
        content: str | None = None,
        template_id: str | None = None,
        variables: str | None = None,
        send_at: dt.datetime | str | None = None,
    ) -> SendResult:
        """Submit one call; a refusal is ``ok=False`` with the vendor's message (code ``"0"``).

        Raises :class:`~campaign.errors.VendorUnreachable` (nothing sent; already retried) or
        :class:`~campaign.errors.VendorResponseUnknown` (outcome unknown; never retried).
        """
        numbers = phone_list(phones, vendor=self.vendor, limits=self.limits)
        moment = self._check_send_at(send_at)
        check_message(content=content, template_id=template_id, variables=variables,
                      limits=self.limits, vendor=self.vendor)  # fmt: skip
        params = self._params(
            numbers, content=content, template_id=template_id, variables=variables, send_at=moment
        )
        response = self._call(SEND, self.SEND_PATH, data=params, content_type=FORM_UTF8)
        body = response.content.decode("utf-8", errors="replace")
        result = parse_send(body, phones=len(numbers))
        if result is None:
            raise self._unknown("not a veesing JSON answer with returnStatus 0/1", body)
        return self._answered(result, body)

    def balance(self, *, wait: bool = True) -> int:
        """Messages (条) left on the account (``remainPoint``); ``wait=False`` asks once, with
        no retry (the seeds publish no limit on how often it may be asked).

        >>> client = cp.vendor("veesing-sms")  # credentials from VEESING_APP_ID/APP_KEY
        >>> client.balance()  # doctest: +SKIP
        241
        """
        response = self._call(
            READ, self.BALANCE_PATH, data=self._credentials(), content_type=FORM_UTF8, retry=wait
        )
        body = response.content.decode("utf-8", errors="replace")
        try:
            ok, remain, message = parse_balance(body)
        except ValueError:
            raise self._unknown("not a veesing balance answer", body) from None
        if not ok:
            raise self._refused("balance", "0", message)
        assert remain is not None
        return remain

    def parse_push(self, form: Mapping[str, Any]) -> Receipt | Reply:
        """One pushed receipt or reply form (see :func:`parse_push`)."""
        return parse_push(
            form,
            vendor=self.vendor,
            receipt_fields=self.RECEIPT_FIELDS,
            replies=self.PUSHES_REPLIES,
        )


def send_time(moment: dt.datetime) -> str:
    """``sendTime`` as the seed writes it: ``yyyy-MM-dd HH:mm:ss`` (Beijing time)."""
    return moment.strftime(SEND_TIME_FORMAT)


class TemplateClient(VeesingClient):
    """A veesing client that sends one phone a template (verify code, voice).

    Subclasses set ``BUILD_SEND``, their module's ``build_send(phone, template_id, variables,
    *, app_id, app_key)``; the form's field order is the module's business.
    """

    BUILD_SEND: ClassVar[Callable[..., dict[str, str]]]

    def _params(self, phones, *, content, template_id, variables, send_at):  # type: ignore[override]
        creds = self._credentials()
        return type(self).BUILD_SEND(
            phones[0], template_id, variables, app_id=creds["appId"], app_key=creds["appKey"]
        )


# --------------------------------------------------------------------------- many pushes at once

_ASCII_TOKEN = r"^[!-~](?:[ -~]*[!-~])?$"  # printable ASCII, nothing to strip at either end


def _arrow(values: list[Any], usable: np.ndarray) -> pa.Array:
    """Python values as an Arrow string array: null where not ``usable`` (or not a str)."""
    if usable.all():  # every value a str: nothing to blank out
        return pa.array(values, type=pa.string())
    return pa.array(
        [v if ok else None for v, ok in zip(values, usable.tolist(), strict=True)],
        type=pa.string(),
    )


def _matches(array: pa.Array, pattern: str) -> np.ndarray:
    hit = pc.match_substring_regex(array, "^(?:" + pattern + ")$")
    return hit.fill_null(False).to_numpy(zero_copy_only=False)


def _of_type(values: list[Any], kind: type) -> np.ndarray:
    """True where a value's type is exactly ``kind``; a column of one type (the usual case:
    all str, or a field no form carries) is answered in one C pass."""
    types = set(map(type, values))
    if len(types) == 1:
        return np.full(len(values), kind in types)
    return np.fromiter((type(v) is kind for v in values), bool, len(values))


def _is_str(values: list[Any]) -> np.ndarray:
    return _of_type(values, str)


def _is_none(values: list[Any]) -> np.ndarray:
    return _of_type(values, type(None))


def _empty(values: list[Any]) -> np.ndarray:
    if "" not in values:  # a C scan; then only None is empty
        return _is_none(values)
    return np.fromiter((v is None or v == "" for v in values), bool, len(values))


def parse_receipt_columns(
    table: PushTable,
    candidates: np.ndarray,
    *,
    vendor: str,
    receipt_fields: Sequence[str],
) -> tuple[np.ndarray, list[tuple]]:
    """Pushed receipts, column-wise: which rows among ``candidates`` have fields that are all
    plainly well formed, and those rows as tuples of :class:`Receipt`'s fields, in order.

    A row qualifies when every documented field is a str and: mobile is 11 ASCII digits
    (optionally after 86/+86), taskid and code are printable ASCII with nothing to strip,
    status is exactly 0 or 1, receivetime is ``yyyy-MM-dd HH:mm:ss`` and a real time, and
    talktime is ASCII digits. For those rows :func:`parse_push` would give exactly these
    values (tests/test_ingest.py checks this property); every other row is left to it.
    """
    ok = candidates.copy()
    columns = {}
    for name in ("mobile", "taskid", "status", "receivetime", "code", "talktime", "remark"):
        values = table.column(name)
        strings = _is_str(values)
        if name in receipt_fields:
            ok &= strings  # documented: present, as a plain string
        elif name in ("code", "talktime", "remark"):
            ok &= strings | _is_none(values)
        columns[name] = values
    if not ok.any():
        return ok, []
    mobile, task, status = columns["mobile"], columns["taskid"], columns["status"]
    when, code, talk, remark = (
        columns["receivetime"], columns["code"], columns["talktime"], columns["remark"]
    )  # fmt: skip
    ok &= _matches(_arrow(mobile, ok), r"(?:\+?86)?1[0-9]{10}")
    ok &= _matches(_arrow(task, ok), _ASCII_TOKEN)
    ok &= np.fromiter((v == "0" or v == "1" for v in status), bool, len(status))
    code_empty = _empty(code)
    ok &= code_empty | _matches(_arrow(code, ok), _ASCII_TOKEN)
    talk_empty = _empty(talk)
    if not talk_empty.all():  # SMS receipts carry no talk time: nothing to check
        ok &= talk_empty | _matches(_arrow(talk, ok), r"[0-9]{1,9}")
    when_arrow = _arrow(when, ok)
    ok &= _matches(when_arrow, r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
    stamps = pc.strptime(
        pc.if_else(pa.array(ok), when_arrow, pa.scalar(None, pa.string())),
        format="%Y-%m-%d %H:%M:%S",
        unit="s",
        error_is_null=True,
    )
    ok &= stamps.is_valid().to_numpy(zero_copy_only=False)
    if not ok.any():
        return ok, []
    # Column by column (a comprehension each), then zipped: 0.4 s a million rows, against
    # 0.7 s building each tuple field by field in one loop.
    if not ok.all():
        keep = ok.tolist()
        mobile, task, status, when, code, talk, remark = (
            list(itertools.compress(column, keep))
            for column in (mobile, task, status, when, code, talk, remark)
        )  # fmt: skip
    phones = mobile if all(len(m) == 11 for m in mobile) else [m[-11:] for m in mobile]
    seconds = [None] * len(talk) if talk_empty.all() else [int(k) if k else None for k in talk]
    rows = list(
        zip(
            [vendor] * len(task), task, phones, map(_STATUS.__getitem__, status),
            [c or None for c in code], [f"{w[:10]}T{w[11:]}+08:00" for w in when],
            seconds, [r or None for r in remark], strict=True,
        )
    )  # fmt: skip
    return ok, rows


def protocol(
    *,
    key: str,
    limits: VendorLimits,
    receipt_fields: Sequence[str],
    parse: Callable[[Mapping[str, Any]], Receipt | Reply],
) -> VendorProtocol:
    """A veesing module's :class:`~campaign.vendors.VendorProtocol`: pushed forms with
    ``mobile``, receipts marked by ``status`` and replies by ``content``."""

    def columns(table: PushTable, candidates: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
        return parse_receipt_columns(table, candidates, vendor=key, receipt_fields=receipt_fields)

    return VendorProtocol(
        key=key,
        limits=limits,
        parse_push=parse,
        push_format=PushFormat(
            phone="mobile",
            receipt_marker="status",
            reply_marker="content",
            receipt_fields=tuple(receipt_fields),
        ),
        parse_receipt_columns=columns,
    )
