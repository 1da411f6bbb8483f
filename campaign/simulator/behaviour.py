"""How the simulated vendors behave: limits, balances and outcome distributions.

Every knob is a keyword of :func:`campaign.simulator.serve` (``**behaviour``); an unknown
keyword is a ``TypeError``. ``balances``, ``max_phones`` and ``require_signature`` are
merged over the defaults (``balances={"veesing-sms": 3}`` leaves the other vendors alone);
``delivery`` and ``failure_codes`` replace them (``delivery={"default": 1.0}`` delivers
everything; a carrier not named uses "default", itself 0.9 when not given).

Times are *simulated* seconds (see ``time_scale``), probabilities are fractions 0-1.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

VENDORS = ("veesing-sms", "veesing-code", "veesing-voice", "ihuyi-voice", "jzyyun-sms")
JZYYUN_POOLS = ("memberSmsNum", "gateSmsNum", "kaSmsNum")

IHUYI_LAYOUTS = ("lines", "inline")

_MERGED = ("balances", "max_phones", "require_signature")


def _default_balances() -> dict[str, Any]:
    return {
        "veesing-sms": 100_000,
        "veesing-code": 100_000,
        "veesing-voice": 100_000,
        "ihuyi-voice": 100_000,
        "jzyyun-sms": dict.fromkeys(JZYYUN_POOLS, 100_000),
    }


def _charset(name: str) -> str:
    """The spellings of UTF-8 and GBK as "utf-8" and "gbk"; any other name as given."""
    lowered = name.strip().lower().replace("_", "-")
    if lowered in ("utf-8", "utf8"):
        return "utf-8"
    return "gbk" if lowered in ("gbk", "cp936") else lowered


def context_path(value: str | None) -> str:
    """A deployment's context path as "/a/b" ("" for the root); "sms/" becomes "/sms".

    >>> context_path("sms/"), context_path("/"), context_path(None)
    ('/sms', '', '')
    """
    text = (value or "").strip().strip("/")
    if not text:
        return ""
    segments = text.split("/")
    if any(s in ("", ".", "..") or not re.fullmatch(r"[A-Za-z0-9._~-]+", s) for s in segments):
        raise ValueError(f"jzyyun_context_path must look like /sms, not {value!r}")
    return "/" + "/".join(segments)


def jzyyun_pools(value: Any, defaults: Mapping[str, int]) -> dict[str, int]:
    """jzyyun's three pools from an int (every pool) or a partial dict (over ``defaults``)."""
    if isinstance(value, Mapping):
        unknown = set(value) - set(JZYYUN_POOLS)
        if unknown:
            raise ValueError(f"jzyyun pools are {JZYYUN_POOLS}, not {sorted(unknown)}")
        return {**defaults, **value}
    return dict.fromkeys(JZYYUN_POOLS, int(value))


@dataclass
class Behaviour:
    """Configurable behaviour of the simulated vendors (all keyword arguments of ``serve``).

    Limits and rules
        interval: minimum simulated seconds between two sends to one number (veesing rule,
            "相同手机号码一分钟之内只可发送一次"); 0 disables.
        daily_limit_per_number / daily_limit_per_account: veesing daily caps (unpublished:
            None = unlimited), counted per Asia/Shanghai simulated day.
        balances: starting balance per vendor key for every account (jzyyun: a dict with
            memberSmsNum, gateSmsNum, kaSmsNum). An account dict may carry its own ``balance``.
            An accepted call draws what the vendor bills: numbers x SMS segments (70
            characters fit one, long SMS parts hold 67; jzyyun ``isLongSms=0`` parts 70), one
            per verify-code SMS or voice call.
        overbill: share of extra units an accepted call draws beyond what it bills (0.02: 2
            more per 100 billed, counted over each account's calls, so 60 voice calls draw
            61), as a vendor that overbills would; 0 (default) draws exactly the bill. The
            answers' ``remainPoint`` and the balance queries show the overbilled balance.
        max_phones: numbers per call; veesing-sms publishes none (generous default),
            jzyyun-sms publishes 20,000.
        schedule_lead: veesing group ``sendTime`` must be more than this many seconds ahead.
        templates: {vendor_key: {template_id: "code" | "notice"}}; None accepts any numeric id
            and lets the variables decide (2-8 digits for code, <=50 chars for notice).
        require_signature: {vendor_key: bool}; content must contain 【signature】.
        blacklist: numbers ihuyi answers 4030 for.
    Outcomes (seeded per number)
        delivery: {carrier (phonenumbers' English name, e.g. "China Mobile") | "default":
            probability delivered}; replaces the default table.
        failure_codes: {code: weight} for failed SMS receipts.
        unknown_rate: share with no final status (jzyyun status 2; veesing: never pushed).
        latency_median / latency_sigma: log-normal receipt latency, seconds.
        expired_latency: (low, high) seconds for EXPIRED receipts, which arrive late.
        reply_rate / opt_out_share / reply_delay_median: replies among delivered numbers.
        answer_rate / talk_median / talk_max: voice calls answered and talk time, seconds.
        click_rate / click_delay_median: share of delivered SMS with a tracking link
            (``.../c/<code>``) whose link is opened, and the log-normal delay after delivery,
            seconds; the simulator requests links on this machine only (see ``clicks``).
        conversion_rate / click_conversion_rate / baseline_conversion_rate: the share of
            numbers reached, of those that clicked, and of numbers never messaged (a
            holdout) that place an order (``Simulator.orders``); order_delay_median /
            order_value_median: log-normal delay after delivery or click (seconds) and
            order value (yuan).
    Wire details
        veesing_ok_status: ``returnStatus`` of a veesing success: "1 " with the trailing
            space, as seed 000's samples show (default), or "1", which published clients
            (the vendor's own samples included) compare with. Any other text shows how a
            client treats a status the seeds do not define.
        pull_max: jzyyun reports/replies returned per pull (seed silent).
        jzyyun_default_smstype: pool used when ``smstype`` is absent (the seed's own
            HttpClient example omits it).
        jzyyun_charset: charset of the answers of jzyyun's ``/servlet/UserServiceAPI``, text
            and XML: "gbk" (default, as the real servers answer) or "utf-8".
        jzyyun_context_path: where the platform is deployed, e.g. "/sms" serves
            ``/sms/servlet/UserServiceAPI`` (and nothing at ``/servlet/...``); "" = the root.
        jzyyun_utf8_servlet: also serve the UTF-8 twin servlet resellers run,
            ``/servlet/UserServiceAPIUTF8`` (under the context path): parameters read as
            UTF-8, every answer in UTF-8; same accounts, balances and queues.
        jzyyun_balance_interval: minimum simulated seconds between two answered
            ``getRestMoney`` of one username; a query sooner answers ``failure;查询频繁``
            (as the real servers do, interval unpublished) and does not restart the wait.
            0 disables.
        xml_bom: prefix UTF-8 XML answers with a byte-order mark (as some servers do).
        ihuyi_id_field: name of the id element in ihuyi answers: "voiceid" (default, what
            newer answers and the seed's Java sample use) or "smsid" (the seed's table).
        ihuyi_layout: "lines" (default, the real servers): XML with one element per line,
            compact JSON (``{"code":2,...}``); "inline": XML on one line, JSON with spaces.
        ihuyi_namespace: default namespace of ihuyi's XML root (``xmlns``), as seen
            "http://106.ihuyi.com/" (default) and "http://106.ihuyi.cn/"; None: none.
        ihuyi_xml_encoding: "utf-8" (default) or "gbk": the XML then declares
            ``encoding="GBK"`` and its bytes are GBK (JSON stays UTF-8).
        ihuyi_time_window: dynamic-password ``time`` must be within this many real seconds
            of now (None: not checked).
    Pushing
        push_retries / push_timeout / push_workers: attempts per push, seconds per attempt,
            sender threads.
        start: simulated start time (ISO string in Asia/Shanghai, datetime or epoch
            seconds); None = now.
    """

    interval: float = 60.0
    daily_limit_per_number: int | None = None
    daily_limit_per_account: int | None = None
    balances: Mapping[str, Any] = field(default_factory=_default_balances)
    max_phones: Mapping[str, int] = field(
        default_factory=lambda: {"veesing-sms": 100_000, "jzyyun-sms": 20_000}
    )
    schedule_lead: float = 1800.0
    templates: Mapping[str, Mapping[str, str]] | None = None
    require_signature: Mapping[str, bool] = field(
        default_factory=lambda: {"veesing-sms": True, "jzyyun-sms": False}
    )
    blacklist: frozenset[str] = frozenset()
    overbill: float = 0.0

    delivery: Mapping[str, float] = field(
        default_factory=lambda: {
            "China Mobile": 0.96,
            "China Unicom": 0.94,
            "China Telecom": 0.93,
            "China Broadnet": 0.9,
            "default": 0.9,
        }
    )
    failure_codes: Mapping[str, float] = field(
        default_factory=lambda: {
            "UNDELIV": 4,
            "EXPIRED": 2,
            "REJECTD": 1,
            "MK:0001": 1,
            "MK:0005": 1,
            "MN:0001": 1,
            "MN:0054": 1,
            "MA:0001": 1,
        }
    )
    unknown_rate: float = 0.01
    latency_median: float = 5.0
    latency_sigma: float = 1.0
    expired_latency: tuple[float, float] = (3600.0, 6 * 3600.0)
    reply_rate: float = 0.03
    opt_out_share: float = 0.4
    reply_delay_median: float = 300.0
    answer_rate: float = 0.75
    talk_median: float = 15.0
    talk_max: int = 60
    click_rate: float = 0.08
    click_delay_median: float = 900.0
    conversion_rate: float = 0.02
    click_conversion_rate: float = 0.15
    baseline_conversion_rate: float = 0.01
    order_delay_median: float = 3 * 3600.0
    order_value_median: float = 128.0

    veesing_ok_status: str = "1 "
    pull_max: int = 500
    jzyyun_default_smstype: str = "1"
    jzyyun_charset: str = "gbk"
    jzyyun_context_path: str = ""
    jzyyun_utf8_servlet: bool = False
    jzyyun_balance_interval: float = 1.0
    xml_bom: bool = False
    ihuyi_id_field: str = "voiceid"
    ihuyi_layout: str = "lines"
    ihuyi_namespace: str | None = "http://106.ihuyi.com/"
    ihuyi_xml_encoding: str = "utf-8"
    ihuyi_time_window: float | None = 600.0

    push_retries: int = 3
    push_timeout: float = 2.0
    push_workers: int = 4
    start: Any = None

    def __post_init__(self) -> None:
        for name in ("jzyyun_charset", "ihuyi_xml_encoding"):
            value = getattr(self, name)
            if not isinstance(value, str) or _charset(value) not in ("utf-8", "gbk"):
                raise ValueError(f"{name} must be 'utf-8' or 'gbk', not {value!r}")
            setattr(self, name, _charset(value))
        if self.ihuyi_layout not in IHUYI_LAYOUTS:
            raise ValueError(
                f"ihuyi_layout must be one of {IHUYI_LAYOUTS}, not {self.ihuyi_layout!r}"
            )
        if not isinstance(self.veesing_ok_status, str):
            raise ValueError(f"veesing_ok_status must be text, not {self.veesing_ok_status!r}")
        for name in ("click_rate", "conversion_rate", "click_conversion_rate",
                     "baseline_conversion_rate"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a share between 0 and 1, not {value!r}")
        for name in ("click_delay_median", "order_delay_median", "order_value_median"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        if (
            isinstance(self.overbill, bool)
            or not isinstance(self.overbill, int | float)
            or not 0 <= self.overbill <= 1
        ):
            raise ValueError(
                f"overbill must be a share of extra units 0-1 (e.g. 0.02), not {self.overbill!r}"
            )
        if self.jzyyun_balance_interval < 0:
            raise ValueError("jzyyun_balance_interval must be >= 0 seconds")
        self.jzyyun_context_path = context_path(self.jzyyun_context_path)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Behaviour:
        """Build from keyword options, merging dict-valued knobs over the defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise TypeError(f"unknown simulator option(s): {', '.join(unknown)}")
        base = cls()
        values = dict(options)
        for name in _MERGED:
            if name in values and values[name] is not None:
                values[name] = {**getattr(base, name), **values[name]}
        pools = values.get("balances", {}).get("jzyyun-sms")
        if pools is not None:
            values["balances"]["jzyyun-sms"] = jzyyun_pools(pools, base.balances["jzyyun-sms"])
        if "blacklist" in values:
            values["blacklist"] = frozenset(values["blacklist"] or ())
        return dataclasses.replace(base, **values)
