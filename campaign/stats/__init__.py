"""Post-campaign statistics as tidy DataFrames, computed in SQL where the data lives.

Definitions (DESIGN.md, "Statistics"; every function here uses exactly these):

submitted
    Numbers the vendor accepted: the recipients of every batch whose state is ``accepted``,
    plus those of any other batch for which receipts arrived (a receipt proves the vendor
    took the batch, e.g. one whose answer was lost and is marked ``unknown``). Counted from
    the recipients (a batch's ``size``), not from the vendor's ``accepted`` figure, because
    only the recipients can be split by carrier, province, city or a contact-list column.
delivered / failed / unknown
    The status of each recipient's *latest* receipt (``deliveries``: the latest
    ``received_at`` wins, so receipts arriving out of order or twice count once).
pending
    submitted - delivered - failed - unknown: numbers with no receipt yet.
reported
    delivered + failed + unknown: numbers with a receipt.
delivery_rate
    delivered / submitted, with a 95% Wilson score interval ``ci_low``/``ci_high``;
    ``reported_rate`` = delivered / reported, likewise.
reply_rate, opt_out_rate
    distinct repliers / delivered and distinct numbers that opted out (a reply such as
    退订, TD, T, R, 拒收, flagged ``opt_out`` at ingest) / delivered. A reply proves
    delivery, but replies often arrive before the receipts: repliers can outnumber the
    delivered numbers. The rates are then capped at 1 (like their intervals), and
    ``repliers_without_receipt`` counts the repliers whose latest receipt does not (yet) say
    delivered, so the lag is visible rather than a rate of 500%.
latency
    ``received_at`` of the latest receipt - ``submitted_at`` of its batch, in whole seconds
    (negative clock skew counts as 0). Percentiles are "the smallest latency by which at
    least p% of the receipts had arrived" (numpy's ``inverted_cdf``).
voice
    calls = submitted; answered = latest receipt has ``talk_seconds > 0``;
    ``answer_rate`` = answered / calls (a call with no receipt yet counts as not answered)
    and ``reported_answer_rate`` = answered / reported (only calls with a receipt);
    talk-time mean/p50/p90 in seconds over answered calls.
unlinked receipts
    Receipts stored without a batch (``receipts.matched`` = 0: their task id was unknown
    when they arrived); counted by :func:`unlinked_receipts`, in no campaign's figures
    until ``cp.link_receipts`` links them.

Every frame returned with groups names its group columns in ``frame.attrs["by"]`` (the
charts of :mod:`campaign.plots` read it to tell groups from numbers).

``by=`` takes a column name or a list of them: ``campaign``, ``batch``, ``vendor``,
``carrier``, ``province``, ``city`` (None where unknown), ``send_hour`` (0-23) and
``send_day`` (``YYYY-MM-DD``) of the batch's ``submitted_at`` in Asia/Shanghai, or any
column of the contact list (stored in ``recipients.attrs``; a standard name wins over a
contact-list column of the same name). Batch numbers restart in each campaign, so ``batch``
over several campaigns groups by ``campaign`` and ``batch``.

Speed: the standard dimensions are read from the roll-ups ``recipient_counts`` and
``delivery_counts`` that the store keeps as data arrives (thousands of rows, not millions);
contact-list columns need a join of every recipient (and a lookup in its ``attrs`` JSON),
which is slower. Distributions (latency, talk time, the delivery curve) are grouped into one
row per whole second in SQL, and only those histograms reach pandas.

This package never draws (see :mod:`campaign.plots`) and never talks to vendors. It writes
its SQL once, in what the store's engines share, and asks ``store.dialect`` for the few
expressions they spell differently (JSON fields, hours and days of a time, seconds between
two). The modules:

==========================  ==================================================================
module                      what it owns
==========================  ==================================================================
:mod:`.delivery`            :func:`delivery_stats`, :func:`failure_reasons`,
                            :func:`unlinked_receipts`
:mod:`.latency`             :func:`latency_distribution`, :func:`latency_stats`,
                            :func:`delivery_curve`
:mod:`.replies`             :func:`reply_stats`, :func:`replies_by_hour`
:mod:`.voice`               :func:`voice_stats`, :func:`talk_time_distribution`
:mod:`.comparison`          :func:`compare`: A against B, with the verdict in words
:mod:`.funnel`              :func:`funnel_stats`: planned to converted, lift over a holdout
:mod:`.cost`                :func:`cost_stats`: billed, cost, cost per result
:mod:`.srm`                 :func:`srm_check`: did a split come out as planned
:mod:`._intervals`          :func:`wilson_interval`, :func:`two_proportion_test`, percentiles
                            of a histogram: math on counts, no SQL
:mod:`._groups`             checking ``campaign=`` and ``by=``; the SQL of dimensions,
                            filters and the ``sent`` batches
:mod:`._tables`             the queries several tables share (counts per group, histograms)
                            and how their rows become typed frames
==========================  ==================================================================
"""

from __future__ import annotations

from campaign.stats._groups import DIMENSIONS
from campaign.stats._intervals import Z95, two_proportion_test, wilson_interval
from campaign.stats.comparison import compare
from campaign.stats.cost import cost_stats
from campaign.stats.delivery import delivery_stats, failure_reasons, unlinked_receipts
from campaign.stats.funnel import funnel_stats
from campaign.stats.latency import delivery_curve, latency_distribution, latency_stats
from campaign.stats.replies import replies_by_hour, reply_stats
from campaign.stats.voice import talk_time_distribution, voice_stats

__all__ = [
    "DIMENSIONS",
    "Z95",
    "compare",
    "cost_stats",
    "delivery_curve",
    "delivery_stats",
    "failure_reasons",
    "funnel_stats",
    "latency_distribution",
    "latency_stats",
    "replies_by_hour",
    "reply_stats",
    "talk_time_distribution",
    "two_proportion_test",
    "unlinked_receipts",
    "voice_stats",
    "wilson_interval",
]
