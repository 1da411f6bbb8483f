"""The receiver's Prometheus metrics (``GET /metrics``, the text exposition format).

One :class:`prometheus_client.CollectorRegistry` per receiver (no global registry):

=======================================  ==================================================
campaign_receiver_pushes_total           pushes committed, by ``vendor`` and ``outcome``
                                         (stored, duplicate, rejected)
campaign_receiver_answers_total          answers sent, by HTTP ``status``
campaign_receiver_commit_seconds         seconds per group commit (histogram)
campaign_receiver_commit_pushes          pushes per group commit (histogram)
campaign_receiver_commit_failures_total  group commits given up after retries (answered 503)
campaign_receiver_queue_depth            pushes waiting for the writer
campaign_receiver_clicks_total           clicks on tracking links committed, by ``agent``
                                         (mobile, desktop, bot, other; HEAD requests and
                                         clicks seen before are not counted)
campaign_receiver_link_misses_total      ``GET /c/<code>`` answered 404, by ``reason``
                                         (unknown: no such code; malformed: not a code)
=======================================  ==================================================

With ``--workers N`` each worker counts its own pushes; a scrape is answered by one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from campaign.agents import AGENTS

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_COMMIT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_GROUP_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1024)


class Metrics:
    """The receiver's counters; the writer calls :meth:`committed`, the app :meth:`answered`."""

    content_type = CONTENT_TYPE.encode("ascii")

    def __init__(self, queue_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.pushes = Counter(
            "campaign_receiver_pushes", "Pushes committed, by vendor and outcome.",
            ["vendor", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.answers = Counter(
            "campaign_receiver_answers", "Answers sent, by HTTP status.", ["status"],
            registry=self.registry,
        )  # fmt: skip
        self.commit_seconds = Histogram(
            "campaign_receiver_commit_seconds", "Seconds per group commit.",
            buckets=_COMMIT_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.commit_pushes = Histogram(
            "campaign_receiver_commit_pushes", "Pushes per group commit.",
            buckets=_GROUP_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.commit_failures = Counter(
            "campaign_receiver_commit_failures", "Group commits given up (answered 503).",
            registry=self.registry,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "campaign_receiver_queue_depth", "Pushes waiting for the writer.",
            registry=self.registry,
        )  # fmt: skip
        self.queue_depth.set_function(queue_depth)
        self.clicks = Counter(
            "campaign_receiver_clicks", "Clicks on tracking links committed, by agent class.",
            ["agent"], registry=self.registry,
        )  # fmt: skip
        self.link_misses = Counter(
            "campaign_receiver_link_misses", "Link requests answered 404, by reason.",
            ["reason"], registry=self.registry,
        )  # fmt: skip
        for agent in AGENTS:  # every series from 0, so that a rate over them starts right
            self.clicks.labels(agent=agent)
        for reason in ("unknown", "malformed"):
            self.link_misses.labels(reason=reason)
        self._answers: dict[int, Any] = {}

    def answered(self, status: int) -> None:
        child = self._answers.get(status)
        if child is None:
            child = self._answers[status] = self.answers.labels(status=str(status))
        child.inc()

    def committed(self, seconds: float, size: int, counts: list[tuple[str, Any]]) -> None:
        """One group commit: its time, its size, and per vendor what store_records wrote."""
        self.commit_seconds.observe(seconds)
        self.commit_pushes.observe(size)
        for vendor, written in counts:
            for outcome, n in (("stored", written.inserted), ("duplicate", written.duplicates),
                               ("rejected", written.rejected)):  # fmt: skip
                if n:
                    self.pushes.labels(vendor=vendor, outcome=outcome).inc(n)

    def clicked(self, stored: dict[str, int]) -> None:
        """Clicks one group commit stored, by agent class."""
        for agent, n in stored.items():
            if n:
                self.clicks.labels(agent=agent).inc(n)

    def missed_link(self, reason: str) -> None:
        """A ``GET /c/<code>`` answered 404: ``unknown`` or ``malformed``."""
        self.link_misses.labels(reason=reason).inc()

    def failed_commit(self) -> None:
        self.commit_failures.inc()

    def text(self) -> bytes:
        """Everything, in the Prometheus text format."""
        return generate_latest(self.registry)
