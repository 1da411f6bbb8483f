"""Why a message failed, in words people use, and whether a reply is an opt-out.

Failure reasons
---------------
:func:`failure_reason` maps a failed receipt's gateway ``code`` (and, for voice, its ``remark``)
to one of :data:`REASONS`. The raw code is always kept in ``receipts.code``; the reason is a
reading of it, stored in ``receipts.reason``. Delivered and unknown receipts have no reason.

Where each mapping comes from (:data:`CODE_SOURCES` names the source of every code):

- ``seed``: the vendor pages in ``shared/seeds``. They say little: seed 003 (ihuyi) lists
  ``4030 手机号码已被列入黑名单`` (a send answer, kept for completeness); seed 000's voice
  receipt carries a ``remark`` in words (``接收成功``), read by :data:`REMARK_WORDS`. The
  veesing pages show ``MA:0001`` only as an example value, without a meaning; jzyyun's
  reports carry only the status 0/1/2 (seed 004), so every failed jzyyun receipt is 其他 and
  :func:`carries_reason` says it carries none (:data:`STATUS_ONLY_VENDORS`).
- ``cmpp``: the ``stat`` values of China Mobile's CMPP report and the carrier's widely copied
  "移动错误代码说明" table: ``EXPIRED`` (用户长时间关机或者不在服务区 ... 超时: the message
  expired undelivered), ``UNDELIV`` (用户因为状态不正确如处于停机、挂起等状态), ``REJECTD``
  (消息因为某些原因被拒绝: filtered), ``DB:0101`` (手机号码错误, 号码无效或者空号),
  ``DB:0102`` (用户停机).
- ``tencent``: Tencent Cloud SMS's public error-code page (product 382, doc 3771,
  intl.cloud.tencent.com/document/product/382/3771), whose receipt-status table names, code
  by code, the carrier (CMCC, UNICOM, TELECOM) and the meaning: China Mobile's CMPP codes
  (``MK:``, ``MN:``, ``MI:``, ``MB:``, ``DB:``...), China Unicom's SGIP (``SGIP:n``, ``LT:``)
  and China Telecom's SMGP (``SMGPnnn``). Its words are read as: "does not exist" 空号;
  "out of service" or "suspended" 停机; "powered off", "out of area", "temporarily
  unreachable", "poor reception" 关机/不在服务区; a blocklist, a keyword block or a fraud
  rejection 黑名单/拦截. Where it names two or three of 空号, 停机 and 关机 for one code
  ("does not exist or is out of service, or the phone is powered off": ``MN:0001``,
  ``MN:0054``, ``MK:0005``...), the reason is :data:`EMPTY_SUSPENDED_OR_OFF` (空号/停机/关机):
  the number is the problem, the carrier does not say which, and we do not guess.
- ``huawei``: Huawei Cloud IoT 云通信's status-report code table ("API错误码3",
  support.huaweicloud.com/devg-iotcom/iotcom_04_0303.html), in Chinese: ``MI:0073 空号``,
  ``MI:0082 关机``, ``MI:0059 空号、停机或关机``...
- ``aggregator``: SMS resellers' published code lists (e.g. ``MA:0001 全局黑名单号码``,
  ``HD:0001 移动黑名单``, ``HIGRISK``/``MBBLACK``). Conventions, not standards: a gateway may
  use a code differently.

Only codes whose sources agree are mapped (where one says 空号 and another a gateway error,
the code stays 其他); codes that mean a carrier-internal or gateway error, a phone fault or a
frequency limit are 其他 too, as they fit no reason above. Gateways differ by carrier and
province; anything not listed is 其他. Pass ``reasons={"MY:CODE": "空号"}`` to
:func:`campaign.ingest.ingest_receipts` to add or override.

Opt-outs
--------
:func:`is_opt_out` is True when a reply, as a whole, is an opt-out keyword: 退订, TD, T, N, R,
拒收, 取消, in any width or case, surrounded by spaces or followed by punctuation
(``" ｔｄ！"``, ``"退订。"``). A sentence that merely contains one (``"不要退订"``, ``"T恤多少钱"``)
is not an opt-out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

__all__ = [
    "CODE_REASONS",
    "CODE_SOURCES",
    "EMPTY_SUSPENDED_OR_OFF",
    "OPT_OUT_WORDS",
    "OTHER",
    "REASONS",
    "REMARK_WORDS",
    "STATUS_ONLY_VENDORS",
    "carries_reason",
    "failure_reason",
    "is_opt_out",
    "normalise_reply",
    "opt_out_flags",
]

EMPTY_NUMBER = "空号"
SUSPENDED = "停机"
OFF_OR_OUT_OF_AREA = "关机/不在服务区"
#: The carrier says the number is 空号, 停机 or 关机 (two or three of them) and not which.
EMPTY_SUSPENDED_OR_OFF = "空号/停机/关机"
BLOCKED = "黑名单/拦截"
EXPIRED = "过期未送达"
NOT_ANSWERED = "未接听"
OTHER = "其他"

#: The taxonomy, in the order reports show it. 未接听 is for voice calls (not answered / busy).
REASONS = (
    EMPTY_NUMBER,
    SUSPENDED,
    OFF_OR_OUT_OF_AREA,
    EMPTY_SUSPENDED_OR_OFF,
    BLOCKED,
    EXPIRED,
    NOT_ANSWERED,
    OTHER,
)

_TABLE: dict[str, tuple[str, str]] = {
    # CMPP stat values (China Mobile's report field and its error-code explanation table)
    "EXPIRED": (EXPIRED, "cmpp"),
    "UNDELIV": (SUSPENDED, "cmpp"),
    "REJECTD": (BLOCKED, "cmpp"),
    "REJECT": (BLOCKED, "cmpp"),
    "DELETED": (OTHER, "cmpp"),
    "UNKNOWN": (OTHER, "cmpp"),
    "DB:0101": (EMPTY_NUMBER, "cmpp"),  # 手机号码错误: 号码无效或者空号
    "DB:0102": (SUSPENDED, "cmpp"),  # 用户停机
    # Tencent Cloud SMS status-code table, China Mobile (CMCC) rows
    "MK:0000": (EMPTY_NUMBER, "tencent"),
    "MK:0001": (EMPTY_NUMBER, "tencent"),
    "MK:0012": (EMPTY_NUMBER, "tencent"),
    "MK:0013": (EMPTY_NUMBER, "tencent"),
    "MN:0051": (EMPTY_NUMBER, "tencent"),  # does not exist
    "MO:0013": (EMPTY_NUMBER, "tencent"),  # does not exist
    "MB:1038": (SUSPENDED, "tencent"),  # suspended
    "MB:1040": (SUSPENDED, "tencent"),  # out of service
    "MC:0062": (SUSPENDED, "tencent"),  # out of service
    "MK:0004": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MK:0011": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MK:0024": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MI:0013": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MI:0024": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MI:0029": (OFF_OR_OUT_OF_AREA, "tencent"),
    "IC:0001": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MN:0059": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MK:0043": (OFF_OR_OUT_OF_AREA, "tencent"),  # powered off
    "MK:0098": (OFF_OR_OUT_OF_AREA, "tencent"),  # powered off
    "MN:0044": (OFF_OR_OUT_OF_AREA, "tencent"),  # powered off
    "MN:0084": (OFF_OR_OUT_OF_AREA, "tencent"),  # powered off
    "MN:0090": (OFF_OR_OUT_OF_AREA, "tencent"),  # powered off
    "IB:0064": (OFF_OR_OUT_OF_AREA, "tencent"),  # powered off
    "IB:0194": (OFF_OR_OUT_OF_AREA, "tencent"),  # powered off
    "MN:0036": (OFF_OR_OUT_OF_AREA, "tencent"),  # out of area
    "MK:0009": (OFF_OR_OUT_OF_AREA, "tencent"),  # out of area
    "MK:0008": (OFF_OR_OUT_OF_AREA, "tencent"),  # poor reception where the phone is
    "MK:0010": (OFF_OR_OUT_OF_AREA, "tencent"),  # temporarily unreachable
    "MK:0029": (OFF_OR_OUT_OF_AREA, "tencent"),  # temporarily unreachable
    "MI:0010": (EXPIRED, "tencent"),
    # ... does not exist or is out of service, or the phone is powered off (or two of those)
    "MN:0001": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "MN:0054": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "MK:0005": (EMPTY_SUSPENDED_OR_OFF, "tencent"),  # does not exist, out of service, suspended
    "MN:0011": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "MN:0012": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "MN:0013": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "MN:0022": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "MN:0050": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "MN:0056": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "MK:0044": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "MK:0075": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "MI:0055": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "MC:0151": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "IC:0151": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "UNDELIVRD": (EMPTY_SUSPENDED_OR_OFF, "tencent"),  # all three carriers
    "DB:0141": (BLOCKED, "tencent"),
    "DB:0144": (BLOCKED, "tencent"),
    "DB:0164": (BLOCKED, "tencent"),
    "DB:0145": (BLOCKED, "tencent"),  # blocklist (huawei: EC黑名单)
    "DB:0146": (BLOCKED, "tencent"),  # blocklist (huawei: SI黑名单)
    "MB:1076": (BLOCKED, "tencent"),  # blocklist
    "MB:1077": (BLOCKED, "tencent"),
    "MB:1079": (BLOCKED, "tencent"),  # rejected due to fraud
    "MB:1083": (BLOCKED, "tencent"),  # rejected due to fraud
    "MK:100C": (BLOCKED, "tencent"),  # the carrier's blocklist
    "MK:100D": (BLOCKED, "tencent"),
    "MK:1010": (BLOCKED, "tencent"),
    "MK:0118": (BLOCKED, "tencent"),  # blocked as it hits a keyword
    "MN:0000": (BLOCKED, "tencent"),  # blocked as it hits a keyword
    "MN:0174": (BLOCKED, "tencent"),  # blocked as it hits a keyword
    "MX:0011": (BLOCKED, "tencent"),  # blocked by the gateway (one-year complaint blocklist)
    "MX:0012": (BLOCKED, "tencent"),
    "TD:0001": (BLOCKED, "tencent"),
    "TD:19": (BLOCKED, "tencent"),
    "HD:19": (BLOCKED, "tencent"),
    "BWLIST": (BLOCKED, "tencent"),
    "DBBLACK": (BLOCKED, "tencent"),  # the carrier's blocklist
    "MN:0017": (BLOCKED, "tencent"),
    # Tencent's table, China Unicom (UNICOM, SGIP gateway) rows
    "SGIP:1": (EMPTY_NUMBER, "tencent"),
    "SGIP:8": (EMPTY_NUMBER, "tencent"),
    "SGIP:12": (EMPTY_NUMBER, "tencent"),
    "SGIP:29": (EMPTY_NUMBER, "tencent"),
    "LT:0001": (EMPTY_NUMBER, "tencent"),
    "LT:0010": (EMPTY_NUMBER, "tencent"),
    "LT:0012": (EMPTY_NUMBER, "tencent"),
    "SGIP:5": (SUSPENDED, "tencent"),
    "SGIP:11": (SUSPENDED, "tencent"),
    "SGIP:13": (SUSPENDED, "tencent"),
    "SGIP:-74": (SUSPENDED, "tencent"),
    "SGIP:98": (SUSPENDED, "tencent"),
    "LT:0000": (SUSPENDED, "tencent"),
    "LT:0004": (SUSPENDED, "tencent"),
    "LT:0013": (SUSPENDED, "tencent"),
    "SGIP:-37": (OFF_OR_OUT_OF_AREA, "tencent"),
    "LT:0011": (OFF_OR_OUT_OF_AREA, "tencent"),
    "LT:0024": (OFF_OR_OUT_OF_AREA, "tencent"),
    "LT:0054": (OFF_OR_OUT_OF_AREA, "tencent"),
    "LT:0050": (OFF_OR_OUT_OF_AREA, "tencent"),  # temporarily unreachable
    "LT:0051": (OFF_OR_OUT_OF_AREA, "tencent"),
    "LT:0053": (OFF_OR_OUT_OF_AREA, "tencent"),
    "SGIP:4": (EMPTY_SUSPENDED_OR_OFF, "tencent"),  # out of service, or powered off
    "SGIP:15": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "SGIP:24": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "SGIP:75": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "SGIP:100": (EMPTY_SUSPENDED_OR_OFF, "tencent"),  # does not exist or is out of service
    "SGIP:90": (BLOCKED, "tencent"),  # blocked by the carrier
    "LT:0005": (BLOCKED, "tencent"),  # blocked by the gateway
    "LT:0006": (BLOCKED, "tencent"),
    # Tencent's table, China Telecom (TELECOM, SMGP gateway) rows
    "SMGP640": (EMPTY_NUMBER, "tencent"),
    "SMGP701": (EMPTY_NUMBER, "tencent"),
    "SMGP840": (EMPTY_NUMBER, "tencent"),
    "SMGP628": (SUSPENDED, "tencent"),  # suspended
    "SMGP634": (SUSPENDED, "tencent"),
    "SMGP705": (SUSPENDED, "tencent"),  # out of service
    "SMGP815": (SUSPENDED, "tencent"),
    "SMGP602": (OFF_OR_OUT_OF_AREA, "tencent"),  # powered off
    "SMGP603": (OFF_OR_OUT_OF_AREA, "tencent"),
    "SMGP702": (OFF_OR_OUT_OF_AREA, "tencent"),
    "SMGP703": (OFF_OR_OUT_OF_AREA, "tencent"),
    "SMGP802": (OFF_OR_OUT_OF_AREA, "tencent"),
    "SMGP601": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    "SMGP801": (EMPTY_SUSPENDED_OR_OFF, "tencent"),
    # Huawei Cloud IoT 云通信 status-report codes (API错误码3), China Mobile
    "MI:0073": (EMPTY_NUMBER, "huawei"),  # 空号
    "MI:0210": (EMPTY_NUMBER, "huawei"),  # 空号
    "MI:0042": (OFF_OR_OUT_OF_AREA, "huawei"),  # 关机
    "MI:0076": (OFF_OR_OUT_OF_AREA, "huawei"),  # 关机
    "MI:0082": (OFF_OR_OUT_OF_AREA, "huawei"),  # 关机
    "MI:0054": (EMPTY_SUSPENDED_OR_OFF, "huawei"),  # 空号、停机或关机 (tencent agrees)
    "MI:0059": (EMPTY_SUSPENDED_OR_OFF, "huawei"),  # 空号、停机或关机 (tencent agrees)
    # resellers' published lists
    "MA:0001": (BLOCKED, "aggregator"),
    "HD:0001": (BLOCKED, "aggregator"),
    "HIGRISK": (BLOCKED, "aggregator"),
    "MBBLACK": (BLOCKED, "aggregator"),
    "BLACK": (BLOCKED, "aggregator"),
    # seed 003 (ihuyi): 4030 手机号码已被列入黑名单
    "4030": (BLOCKED, "seed"),
}

#: Gateway code (upper case, as sent) -> reason.
CODE_REASONS: Mapping[str, str] = {code: reason for code, (reason, _) in _TABLE.items()}
#: Gateway code -> where its meaning comes from: seed, cmpp, tencent, huawei or aggregator.
CODE_SOURCES: Mapping[str, str] = {code: source for code, (_, source) in _TABLE.items()}

#: Words in a voice receipt's ``remark`` (seed 000: a free-text 备注) -> reason, first match wins.
REMARK_WORDS: tuple[tuple[str, str], ...] = (
    ("空号", EMPTY_NUMBER),
    ("停机", SUSPENDED),
    ("关机", OFF_OR_OUT_OF_AREA),
    ("不在服务区", OFF_OR_OUT_OF_AREA),
    ("无法接通", OFF_OR_OUT_OF_AREA),
    ("黑名单", BLOCKED),
    ("拦截", BLOCKED),
    ("未接", NOT_ANSWERED),
    ("无人接听", NOT_ANSWERED),
    ("拒接", NOT_ANSWERED),
    ("用户忙", NOT_ANSWERED),
    ("占线", NOT_ANSWERED),
)


def failure_reason(
    code: str | None,
    *,
    remark: str | None = None,
    status: str = "failed",
    reasons: Mapping[str, str] | None = None,
) -> str | None:
    """The taxonomy reason of a receipt: one of :data:`REASONS`, or None unless failed.

    ``reasons`` adds or overrides code mappings (keys compared case-insensitively).

    Examples
    --------
    >>> failure_reason("EXPIRED")
    '过期未送达'
    >>> failure_reason("NOANSWER", remark="用户未接听")
    '未接听'
    >>> failure_reason("DELIVRD", status="delivered") is None
    True
    """
    if status != "failed":
        return None
    key = (code or "").strip().upper()
    if reasons:
        extra = {str(k).strip().upper(): v for k, v in reasons.items()}
        if key in extra:
            return extra[key]
    if key in CODE_REASONS:
        return CODE_REASONS[key]
    if remark:
        for word, reason in REMARK_WORDS:
            if word in remark:
                return reason
    return OTHER


#: Vendors whose receipts carry a delivery status and nothing else: jzyyun's pulled reports
#: (seed 004) say 1 成功, 0 失败 or 2 不明, so its ``code`` is that status and a failure never
#: says why.
STATUS_ONLY_VENDORS: frozenset[str] = frozenset({"jzyyun-sms"})


def carries_reason(code: str | None, *, vendor: str, remark: str | None = None) -> bool:
    """Whether a failed receipt says anything about why it failed.

    False for a vendor of :data:`STATUS_ONLY_VENDORS` (jzyyun: its code is the status "0"),
    and for a receipt with neither a code nor a remark. A code this module cannot read
    (其他) still carries a reason: the vendor's own, kept in ``receipts.code``. A report can
    say "jzyyun-sms gives no failure reasons" instead of showing them all as 其他.

    Examples
    --------
    >>> carries_reason("0", vendor="jzyyun-sms"), carries_reason("MN:0001", vendor="veesing-sms")
    (False, True)
    >>> carries_reason(None, vendor="veesing-voice", remark="用户关机")
    True
    """
    if vendor in STATUS_ONLY_VENDORS:
        return False
    return bool((code or "").strip() or (remark or "").strip())


#: Whole replies that mean "stop sending me messages", compared after :func:`normalise_reply`.
OPT_OUT_WORDS = frozenset({"退订", "td", "t", "n", "r", "拒收", "取消"})

# Trailing punctuation a person may add ("退订。", "TD!"); NFKC has already folded full-width.
_TRAILING = re.compile(r"[\s.,;:!?~。，、；：！？～…\-—_'\"“”‘’）)\]】」』]+$")
_LEADING = re.compile(r"^[\s\"'“‘（(\[【「『]+")
# Zero-width spaces, direction marks and BOMs that phones and copy-paste slip in; NFKC keeps
# them, and "退订\u200b" must still be an opt-out.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def normalise_reply(content: str) -> str:
    """A reply folded for comparison: NFKC (full-width to half-width), invisible characters
    removed, trimmed, trailing punctuation dropped, case-folded.

    >>> normalise_reply(" ＴＤ！ ")
    'td'
    """
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", content or ""))
    text = _TRAILING.sub("", text.strip())
    text = _LEADING.sub("", text)
    return text.strip().casefold()


def is_opt_out(content: str | None) -> bool:
    """True when the whole reply is an opt-out keyword (退订, TD, T, N, R, 拒收, 取消).

    >>> is_opt_out("退订。"), is_opt_out("ｔｄ"), is_opt_out("我不想退订")
    (True, True, False)
    """
    if not content:
        return False
    return normalise_reply(content) in OPT_OUT_WORDS


def opt_out_flags(contents: Iterable[str | None]) -> list[int]:
    """1/0 per reply, computing each distinct text once (replies repeat a lot)."""
    seen: dict[str | None, int] = {}
    out = []
    for content in contents:
        flag = seen.get(content)
        if flag is None:
            flag = seen[content] = int(is_opt_out(content))
        out.append(flag)
    return out
