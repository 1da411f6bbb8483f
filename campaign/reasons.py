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
  reports carry only the status 0/1/2, so every failed jzyyun receipt is 其他.
- ``cmpp``: the ``stat`` values of China Mobile's CMPP report and the carrier's widely copied
  "移动错误代码说明" table: ``EXPIRED`` (用户长时间关机或者不在服务区 ... 超时: the message
  expired undelivered), ``UNDELIV`` (用户因为状态不正确如处于停机、挂起等状态), ``REJECTD``
  (消息因为某些原因被拒绝: filtered).
- ``tencent``: Tencent Cloud SMS's public status-code table (cloud.tencent.com, product 382,
  "Error Codes for Status"), which explains China Mobile's ``MK:``/``MI:``/``MN:``/``DB:``
  codes. Where it says only "invalid number, out-of-service or powered-off" (``MN:0001``,
  ``MN:0054``, ``MI:0011``...) it does not tell 空号, 停机 and 关机 apart, so we map to 其他
  rather than guess.
- ``aggregator``: SMS resellers' published code lists (e.g. ``MA:0001 全局黑名单号码``,
  ``HD:0001 移动黑名单``, ``HIGRISK``/``MBBLACK``). Conventions, not standards: a gateway may
  use a code differently.

Gateways differ by carrier and province; anything not listed is 其他. Pass
``reasons={"MY:CODE": "空号"}`` to :func:`campaign.ingest.ingest_receipts` to add or override.

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
    "OPT_OUT_WORDS",
    "OTHER",
    "REASONS",
    "REMARK_WORDS",
    "failure_reason",
    "is_opt_out",
    "normalise_reply",
    "opt_out_flags",
]

EMPTY_NUMBER = "空号"
SUSPENDED = "停机"
OFF_OR_OUT_OF_AREA = "关机/不在服务区"
BLOCKED = "黑名单/拦截"
EXPIRED = "过期未送达"
NOT_ANSWERED = "未接听"
OTHER = "其他"

#: The taxonomy, in the order reports show it. 未接听 is for voice calls (not answered / busy).
REASONS = (EMPTY_NUMBER, SUSPENDED, OFF_OR_OUT_OF_AREA, BLOCKED, EXPIRED, NOT_ANSWERED, OTHER)

_TABLE: dict[str, tuple[str, str]] = {
    # CMPP stat values (China Mobile's report field and its error-code explanation table)
    "EXPIRED": (EXPIRED, "cmpp"),
    "UNDELIV": (SUSPENDED, "cmpp"),
    "REJECTD": (BLOCKED, "cmpp"),
    "REJECT": (BLOCKED, "cmpp"),
    "DELETED": (OTHER, "cmpp"),
    "UNKNOWN": (OTHER, "cmpp"),
    # Tencent Cloud SMS status-code table (China Mobile codes)
    "MK:0000": (EMPTY_NUMBER, "tencent"),
    "MK:0001": (EMPTY_NUMBER, "tencent"),
    "MK:0012": (EMPTY_NUMBER, "tencent"),
    "MK:0013": (EMPTY_NUMBER, "tencent"),
    "MK:0004": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MK:0011": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MK:0024": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MI:0013": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MI:0024": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MI:0029": (OFF_OR_OUT_OF_AREA, "tencent"),
    "IC:0001": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MN:0059": (OFF_OR_OUT_OF_AREA, "tencent"),
    "MI:0010": (EXPIRED, "tencent"),
    "DB:0141": (BLOCKED, "tencent"),
    "DB:0144": (BLOCKED, "tencent"),
    "DB:0164": (BLOCKED, "tencent"),
    "MB:1077": (BLOCKED, "tencent"),
    "MX:0012": (BLOCKED, "tencent"),
    "TD:0001": (BLOCKED, "tencent"),
    "TD:19": (BLOCKED, "tencent"),
    "HD:19": (BLOCKED, "tencent"),
    "BWLIST": (BLOCKED, "tencent"),
    "MN:0017": (BLOCKED, "tencent"),
    # ambiguous in the source (空号、停机或关机): deliberately 其他
    "MN:0001": (OTHER, "tencent"),
    "MN:0054": (OTHER, "tencent"),
    "MK:0005": (OTHER, "tencent"),
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
#: Gateway code -> where its meaning comes from: seed, cmpp, tencent or aggregator.
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
