"""Simulator state: clock, accounts, balances, per-number rules and the receipt/reply queues.

All mutation happens under ``State.lock``; the protocol handlers hold it while they validate
and accept a call, so a call is all-or-nothing.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from campaign.simulator.behaviour import VENDORS, Behaviour, jzyyun_pools
from campaign.simulator.clicks import Click, Reach, click_delay, find_link

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991
SECONDS_FMT = "%Y-%m-%d %H:%M:%S"

PHONE_RE = re.compile(r"1[3-9][0-9]{9}")
SIGNATURE_RE = re.compile(r"【[^【】]+】")

FAMILY = {
    "veesing-sms": "veesing",
    "veesing-code": "veesing",
    "veesing-voice": "veesing",
    "ihuyi-voice": "ihuyi",
    "jzyyun-sms": "jzyyun",
}
CREDENTIAL_FIELDS = {
    "veesing": ("app_id", "app_key"),
    "ihuyi": ("account", "api_key"),
    "jzyyun": ("username", "password"),
}
#: The documented examples' task ids; each simulator session starts past them at its own base
#: (:func:`task_id_base`).
TASK_ID_START = {
    "veesing-sms": 3313746,
    "veesing-code": 5313746,
    "veesing-voice": 7313746,
    "ihuyi-voice": 60495654,
    "jzyyun-sms": 66,
}


def task_id_base() -> int:
    """Where this session's task ids start, past :data:`TASK_ID_START`: a random multiple of
    1000 below 10**12, so two simulator sessions writing into one store (one after the other
    or at once) practically never hand out the same ids. Outcomes depend on the seed alone,
    never on task ids, so a seed still replays the same campaign."""
    return random.SystemRandom().randrange(1, 10**9) * 1000


# ---------------------------------------------------------------- content rules


def is_phone(text: str) -> bool:
    """An 11-digit mainland mobile number, nothing else (no +86, no spaces)."""
    return PHONE_RE.fullmatch(text) is not None


def has_signature(text: str) -> bool:
    return SIGNATURE_RE.search(text) is not None


def has_emoji(text: str) -> bool:
    """Emoji and pictographs (not CJK punctuation or full-width forms)."""
    for ch in text:
        o = ord(ch)
        if o >= 0x1F000 or 0x2600 <= o <= 0x27BF or o in (0xFE0F, 0x200D, 0x20E3):
            return True
        if 0x2B00 <= o <= 0x2BFF or 0x2300 <= o <= 0x23FF:
            return True
    return False


def segments(text: str, *, long_sms: bool = True) -> int:
    """Billable parts: 70 characters fit one SMS; long SMS parts hold 67 each."""
    if len(text) <= 70:
        return 1
    return math.ceil(len(text) / (67 if long_sms else 70))


# ---------------------------------------------------------------- clock


def _to_epoch(start: Any) -> float:
    if start is None:
        return time.time()
    if isinstance(start, int | float):
        return float(start)
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    if isinstance(start, datetime):
        if start.tzinfo is None:
            start = start.replace(tzinfo=SHANGHAI)
        return start.timestamp()
    raise TypeError(f"start must be None, epoch seconds, ISO string or datetime, not {start!r}")


class Clock:
    """Simulated time: ``time_scale`` simulated seconds pass per real second, plus advances."""

    def __init__(self, *, start: Any = None, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = float(time_scale)
        self._start = _to_epoch(start)
        self._real0 = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Simulated epoch seconds."""
        with self._lock:
            return self._start + (time.monotonic() - self._real0) * self.time_scale + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += max(0.0, float(seconds))

    def real_seconds(self, sim_seconds: float) -> float:
        return max(0.0, sim_seconds) / self.time_scale


def fmt_time(epoch: float, *, tenths: bool = False) -> str:
    """Asia/Shanghai wall time ``yyyy-MM-dd HH:mm:ss`` (jzyyun appends ``.0``)."""
    text = datetime.fromtimestamp(epoch, SHANGHAI).strftime(SECONDS_FMT)
    return text + ".0" if tenths else text


def parse_time(text: str) -> float | None:
    """Epoch seconds of an Asia/Shanghai ``yyyy-MM-dd HH:mm:ss``; None if malformed."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", text):
            return None
        return datetime.strptime(text, SECONDS_FMT).replace(tzinfo=SHANGHAI).timestamp()
    except ValueError:
        return None


def shanghai_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, SHANGHAI).strftime("%Y-%m-%d")


# ---------------------------------------------------------------- accounts


class Accounts:
    """Known credentials per vendor key; a vendor with none configured accepts any.

    Input shape (a family key applies to all its products; a vendor key overrides it; a
    value may be one dict or a list of dicts; ``locked`` and ``balance`` are optional)::

        {"veesing": {"app_id": "A", "app_key": "K"},
         "ihuyi": {"account": "C123", "api_key": "secret"},
         "jzyyun": [{"username": "u1", "password": "p1", "balance": {"gateSmsNum": 10}}]}
    """

    def __init__(self, accounts: Mapping[str, Any] | None) -> None:
        self._by_vendor: dict[str, list[dict[str, Any]] | None] = dict.fromkeys(VENDORS)
        if not accounts:
            return
        known = set(VENDORS) | set(CREDENTIAL_FIELDS)
        for key in accounts:
            if key not in known:
                raise ValueError(f"unknown accounts key {key!r}; use one of {sorted(known)}")
        for vendor, family in FAMILY.items():
            value = accounts.get(vendor, accounts.get(family))
            if value is None:
                continue
            items = [value] if isinstance(value, Mapping) else list(value)
            checked = []
            for item in items:
                missing = [f for f in CREDENTIAL_FIELDS[family] if not item.get(f)]
                if missing:
                    raise ValueError(f"{vendor} account lacks {', '.join(missing)}")
                checked.append(dict(item))
            self._by_vendor[vendor] = checked

    def configured(self, vendor: str) -> list[dict[str, Any]] | None:
        """The accounts of a vendor, or None when it accepts any non-empty credentials."""
        return self._by_vendor[vendor]

    def find(self, vendor: str, principal: str) -> dict[str, Any] | None:
        field_name = CREDENTIAL_FIELDS[FAMILY[vendor]][0]
        for item in self._by_vendor[vendor] or ():
            if item[field_name] == principal:
                return item
        return None


# ---------------------------------------------------------------- events


@dataclass(order=True)
class Event:
    """A receipt or reply that becomes visible (pushed or pullable) at simulated ``due``."""

    due: float
    seq: int
    vendor: str = field(compare=False)
    kind: str = field(compare=False)  # "receipt" | "reply"
    principal: str = field(compare=False)
    form: dict[str, str] = field(compare=False)


class State:
    """Balances, per-number history, task ids and queues of one simulator."""

    def __init__(self, behaviour: Behaviour, accounts: Accounts, seed: int, clock: Clock) -> None:
        self.behaviour = behaviour
        self.accounts = accounts
        self.seed = seed
        self.clock = clock
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._balances: dict[tuple[str, str], Any] = {}
        self._last_sent: dict[tuple[str, str, str], float] = {}
        self._daily: Counter[tuple[str, str, str, str]] = Counter()
        self._nth: Counter[tuple[str, str]] = Counter()
        self._last_query: dict[tuple[str, str, str], float] = {}
        self._billed: Counter[tuple[str, str]] = Counter()
        base = task_id_base()
        self._task = {v: itertools.count(TASK_ID_START[v] + base) for v in VENDORS}
        self._seq = itertools.count()
        self._push: dict[str, list[Event]] = {v: [] for v in VENDORS if v != "jzyyun-sms"}
        self._pull: dict[tuple[str, str], list[Event]] = {}
        self.reached: list[Reach] = []  # delivered SMS, in order (for orders)
        self._clicks: list[tuple[float, int, Click]] = []  # clicks due, soonest first
        self.first_send: float | None = None

    # balances ------------------------------------------------------------
    def balance(self, vendor: str, principal: str) -> Any:
        """Remaining units (jzyyun: dict of its three pools); initialised on first use."""
        with self.lock:
            key = (vendor, principal)
            if key not in self._balances:
                account = self.accounts.find(vendor, principal) or {}
                start = account.get("balance", self.behaviour.balances.get(vendor, 0))
                if vendor == "jzyyun-sms":
                    start = jzyyun_pools(start, self.behaviour.balances[vendor])
                self._balances[key] = start
            return self._balances[key]

    def set_balance(self, vendor: str, principal: str, value: Any) -> None:
        with self.lock:
            self.balance(vendor, principal)
            if vendor == "jzyyun-sms":
                value = jzyyun_pools(value, self._balances[(vendor, principal)])
            self._balances[(vendor, principal)] = value

    def charge(self, vendor: str, principal: str, units: int, *, pool: str | None = None) -> bool:
        """Take ``units`` if there are enough, plus the ``overbill`` share (as far as the
        balance goes); False (and nothing taken) otherwise."""
        with self.lock:
            current = self.balance(vendor, principal)
            left = current[pool] if pool is not None else current
            if left < units:
                return False
            drawn = min(units + self._overbilled(vendor, principal, units), left)
            if pool is not None:
                current[pool] -= drawn
            else:
                self._balances[(vendor, principal)] = current - drawn
            return True

    def _overbilled(self, vendor: str, principal: str, units: int) -> int:
        """Extra units for this call: the ``overbill`` share of all the account has been
        billed, less what earlier calls drew extra (whole units, none lost to rounding)."""
        share = self.behaviour.overbill
        key = (vendor, principal)
        before = self._billed[key]
        self._billed[key] += units
        if not share:
            return 0
        return math.floor(self._billed[key] * share + 1e-9) - math.floor(before * share + 1e-9)

    # per-number rules ----------------------------------------------------
    def number_rule(self, vendor: str, principal: str, phones: Iterable[str], at: float) -> str:
        """'' if all numbers may be sent at ``at``, else interval/daily_number/daily_account."""
        b = self.behaviour
        phones = list(phones)
        day = shanghai_date(at)
        with self.lock:
            if b.interval > 0:
                if len(set(phones)) != len(phones):
                    return "interval"
                for phone in phones:
                    last = self._last_sent.get((vendor, principal, phone))
                    if last is not None and abs(at - last) < b.interval:
                        return "interval"
            if b.daily_limit_per_number is not None:
                for phone in phones:
                    if self._daily[(vendor, principal, phone, day)] >= b.daily_limit_per_number:
                        return "daily_number"
            if b.daily_limit_per_account is not None:
                used = self._daily[(vendor, principal, "", day)]
                if used + len(phones) > b.daily_limit_per_account:
                    return "daily_account"
        return ""

    def note_sent(self, vendor: str, principal: str, phones: Iterable[str], at: float) -> None:
        day = shanghai_date(at)
        with self.lock:
            for phone in phones:
                self._last_sent[(vendor, principal, phone)] = at
                self._daily[(vendor, principal, phone, day)] += 1
                self._daily[(vendor, principal, "", day)] += 1

    def query_allowed(
        self, vendor: str, principal: str, what: str, at: float, interval: float
    ) -> bool:
        """True (and ``at`` noted) when ``interval`` seconds have passed since the last
        allowed ``what`` query of this account; False, nothing noted, when asked sooner."""
        key = (vendor, principal, what)
        with self.lock:
            last = self._last_query.get(key)
            if interval > 0 and last is not None and at - last < interval:
                return False
            self._last_query[key] = at
            return True

    def nth_send(self, vendor: str, phone: str) -> int:
        with self.lock:
            self._nth[(vendor, phone)] += 1
            return self._nth[(vendor, phone)]

    def task_id(self, vendor: str) -> str:
        with self.lock:
            return str(next(self._task[vendor]))

    # what messages cause ------------------------------------------------
    def note_delivered(
        self, vendor: str, phone: str, nth: int, delivered_at: float, content: str | None
    ) -> None:
        """A delivered SMS: remember it for orders, and schedule the click on its link."""
        link = find_link(content)
        delay = None if link is None else click_delay(self.seed, vendor, phone, nth, self.behaviour)
        clicked_at = None if delay is None else delivered_at + delay
        with self.lock:
            self.reached.append(Reach(vendor, phone, delivered_at, clicked_at))
            if clicked_at is not None:
                assert link is not None
                heapq.heappush(self._clicks, (clicked_at, next(self._seq), Click(link, clicked_at)))
                self.changed.notify_all()

    def note_send(self, at: float) -> None:
        with self.lock:
            if self.first_send is None or at < self.first_send:
                self.first_send = at

    def pop_due_click(self, now: float) -> Click | None:
        with self.lock:
            if self._clicks and self._clicks[0][0] <= now:
                return heapq.heappop(self._clicks)[2]
            return None

    def next_click(self) -> float | None:
        with self.lock:
            return self._clicks[0][0] if self._clicks else None

    def clicks_pending(self) -> int:
        with self.lock:
            return len(self._clicks)

    # queues -------------------------------------------------------------
    def add_event(self, vendor: str, kind: str, principal: str, due: float, form: dict) -> None:
        event = Event(due, next(self._seq), vendor, kind, principal, form)
        with self.lock:
            if vendor in self._push:
                heapq.heappush(self._push[vendor], event)
            else:
                heapq.heappush(self._pull.setdefault((principal, kind), []), event)
            self.changed.notify_all()

    def pop_due_push(self, vendors: Iterable[str], now: float, limit: int | None = None) -> list:
        """Remove and return due push events of ``vendors``, earliest first."""
        out: list[Event] = []
        with self.lock:
            heaps = [self._push[v] for v in vendors]
            while limit is None or len(out) < limit:
                best = min(
                    (h for h in heaps if h and h[0].due <= now), default=None, key=lambda h: h[0]
                )
                if best is None:
                    break
                out.append(heapq.heappop(best))
        return out

    def pull(self, principal: str, kind: str, now: float, limit: int) -> list[Event]:
        """Remove and return up to ``limit`` due jzyyun reports or replies: each once."""
        out: list[Event] = []
        with self.lock:
            heap = self._pull.get((principal, kind), [])
            while heap and heap[0].due <= now and len(out) < limit:
                out.append(heapq.heappop(heap))
        return out

    def _all_heaps(self) -> list[list[Event]]:
        return [*self._push.values(), *self._pull.values()]

    def next_due(self, vendors: Iterable[str]) -> float | None:
        with self.lock:
            dues = [self._push[v][0].due for v in vendors if self._push[v]]
        return min(dues, default=None)

    def last_due(self) -> float | None:
        """The latest receipt, reply or click scheduled."""
        with self.lock:
            dues = [max(e.due for e in h) for h in self._all_heaps() if h]
            dues += [max(due for due, _, _ in self._clicks)] if self._clicks else []
            return max(dues, default=None)

    def pending(self, vendor: str | None = None) -> int:
        """Receipts and replies not yet pushed or pulled (due or not)."""
        with self.lock:
            if vendor is None:
                return sum(len(h) for h in self._all_heaps())
            if vendor in self._push:
                return len(self._push[vendor])
            return sum(len(h) for h in self._pull.values())
