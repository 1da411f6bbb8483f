"""campaign: run SMS and voice campaigns through Chinese vendors from Jupyter, and report on them.

>>> import campaign as cp
>>> contacts = cp.load_phones(["138 0013 8000", "+86 139-0013-9000", "12345"])
>>> contacts["reason"].tolist()
[nan, nan, 'wrong length']
"""

from __future__ import annotations

from campaign import reasons, receiver, simulator
from campaign.batching import Plan, count_segments, plan_batches
from campaign.errors import (
    CampaignError,
    ColumnNotFoundError,
    ConfigError,
    InputError,
    MissingCredential,
    NothingToSend,
    PayloadError,
    SendInProgress,
    StoreError,
    StoreUnavailable,
    VendorError,
    VendorRejected,
    VendorResponseUnknown,
    VendorUnreachable,
)
from campaign.experiments import assign_variants, detectable_effect, sample_size
from campaign.ingest import (
    ClicksResult,
    ConversionsResult,
    IngestResult,
    ingest_clicks,
    ingest_conversions,
    ingest_receipts,
    ingest_replies,
    link_receipts,
    pull_replies,
    pull_reports,
    set_prices,
)
from campaign.phones import load_phones, normalize_phone, normalize_phones
from campaign.plots import (
    plot_delivery_curve,
    plot_delivery_rate,
    plot_failure_reasons,
    plot_funnel,
    plot_latency,
    plot_replies_by_hour,
    plot_talk_time,
)
from campaign.report import report
from campaign.send import campaign_batches, send
from campaign.stats import (
    compare,
    cost_stats,
    delivery_curve,
    delivery_stats,
    failure_reasons,
    funnel_stats,
    latency_distribution,
    latency_stats,
    replies_by_hour,
    reply_stats,
    talk_time_distribution,
    unlinked_receipts,
    voice_stats,
)
from campaign.stats.srm import SampleRatioWarning, srm_check
from campaign.store import copy_store, open_db
from campaign.timing import SendTiming
from campaign.vendors import SendWindow, VendorLimits, vendor, vendor_keys, vendor_limits

__version__ = "0.1.0"

__all__ = [
    "CampaignError",
    "ClicksResult",
    "ColumnNotFoundError",
    "ConfigError",
    "ConversionsResult",
    "IngestResult",
    "InputError",
    "MissingCredential",
    "NothingToSend",
    "PayloadError",
    "Plan",
    "SampleRatioWarning",
    "SendInProgress",
    "SendTiming",
    "SendWindow",
    "StoreError",
    "StoreUnavailable",
    "VendorError",
    "VendorLimits",
    "VendorRejected",
    "VendorResponseUnknown",
    "VendorUnreachable",
    "__version__",
    "assign_variants",
    "campaign_batches",
    "compare",
    "copy_store",
    "cost_stats",
    "count_segments",
    "delivery_curve",
    "delivery_stats",
    "detectable_effect",
    "failure_reasons",
    "funnel_stats",
    "ingest_clicks",
    "ingest_conversions",
    "ingest_receipts",
    "ingest_replies",
    "latency_distribution",
    "latency_stats",
    "link_receipts",
    "load_phones",
    "normalize_phone",
    "normalize_phones",
    "open_db",
    "plan_batches",
    "plot_delivery_curve",
    "plot_delivery_rate",
    "plot_failure_reasons",
    "plot_funnel",
    "plot_latency",
    "plot_replies_by_hour",
    "plot_talk_time",
    "pull_replies",
    "pull_reports",
    "reasons",
    "receiver",
    "replies_by_hour",
    "reply_stats",
    "report",
    "sample_size",
    "send",
    "set_prices",
    "simulator",
    "srm_check",
    "talk_time_distribution",
    "unlinked_receipts",
    "vendor",
    "vendor_keys",
    "vendor_limits",
    "voice_stats",
]
