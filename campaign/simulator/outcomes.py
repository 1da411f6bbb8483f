"""Seeded fates of simulated messages: delivery, failure code, latency, replies, talk time.

Each number gets its own random stream derived from (seed, vendor, phone, nth send), so a
number's fate does not depend on how the campaign was batched or on thread scheduling.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import carrier as pn_carrier

from campaign.simulator.behaviour import Behaviour

OPT_OUT_REPLIES = ("退订", "TD", "T", "R", "td", "退订。", "拒收")
ORDINARY_REPLIES = ("收到", "好的", "谢谢", "多少钱?", "怎么参加", "你谁啊?", "已读", "不需要")
VOICE_FAILURES = (
    ("NOANSWER", "用户未接听", 6),
    ("BUSY", "用户忙", 2),
    ("POWEROFF", "关机", 1),
    ("UNDELIV", "空号", 1),
)


@lru_cache(maxsize=4096)
def _carrier_for_prefix(prefix7: str) -> str:
    try:
        number = phonenumbers.parse("+86" + prefix7 + "0000")
    except phonenumbers.NumberParseException:
        return ""
    return pn_carrier.name_for_number(number, "en")


def carrier_of(phone: str) -> str:
    """English carrier name of an 11-digit mainland mobile number ('' if unknown)."""
    return _carrier_for_prefix(phone[:7])


def rng_for(seed: int, vendor: str, phone: str, nth: int) -> random.Random:
    """The random stream of one send of one number."""
    digest = hashlib.blake2b(f"{seed}|{vendor}|{phone}|{nth}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


@dataclass(frozen=True)
class Fate:
    """What happens to one message: ``status`` delivered/failed/unknown, seconds after send."""

    status: str
    code: str
    latency: float
    reply: str | None = None
    reply_delay: float = 0.0
    talk: int = 0
    remark: str = ""


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def _weighted(rng: random.Random, weights: dict[str, float] | list[tuple[str, float]]) -> str:
    items = list(weights.items()) if isinstance(weights, dict) else list(weights)
    total = sum(w for _, w in items)
    pick = rng.random() * total
    for name, weight in items:
        pick -= weight
        if pick < 0:
            return name
    return items[-1][0]


def _reply(rng: random.Random, b: Behaviour) -> tuple[str | None, float]:
    if rng.random() >= b.reply_rate:
        return None, 0.0
    pool = OPT_OUT_REPLIES if rng.random() < b.opt_out_share else ORDINARY_REPLIES
    return rng.choice(pool), _lognormal(rng, b.reply_delay_median, 1.0)


def sms_fate(rng: random.Random, phone: str, b: Behaviour) -> Fate:
    """Fate of one SMS: delivered by carrier probability, else a weighted failure code."""
    p = b.delivery.get(carrier_of(phone), b.delivery.get("default", 0.9))
    latency = _lognormal(rng, b.latency_median, b.latency_sigma)
    if rng.random() < b.unknown_rate:
        return Fate("unknown", "UNKNOWN", latency)
    if rng.random() < p:
        reply, delay = _reply(rng, b)
        return Fate("delivered", "DELIVRD", latency, reply, latency + delay)
    code = _weighted(rng, dict(b.failure_codes))
    if code == "EXPIRED":
        low, high = b.expired_latency
        latency = rng.uniform(low, high)
    return Fate("failed", code, latency)


def voice_fate(rng: random.Random, phone: str, b: Behaviour) -> Fate:
    """Fate of one voice call: answered with talk time >= 1 s, or unanswered with 0 s."""
    ring = rng.uniform(5.0, 30.0)
    if rng.random() < b.answer_rate:
        talk = max(1, min(b.talk_max, round(_lognormal(rng, b.talk_median, 0.6))))
        return Fate("delivered", "DELIVRD", ring + talk, talk=talk, remark="接收成功")
    code = _weighted(rng, [(c, w) for c, _, w in VOICE_FAILURES])
    remark = next(r for c, r, _ in VOICE_FAILURES if c == code)
    return Fate("failed", code, ring, talk=0, remark=remark)
