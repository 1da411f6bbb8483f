"""The post-campaign report: one self-contained HTML file to send to your boss.

Everything is inside the file: the CSS inline, the charts as base64 PNG images, and the font
of its Chinese text. That font is the one the charts use (Noto Sans CJK SC from ``mplfonts``,
see :func:`campaign.plots.cjk_fonts`), cut down to the characters this page shows (a few
hundred glyphs, some 20-40 KB instead of 16 MB) and embedded as WOFF2 in a ``data:`` URL of an
``@font-face``, so 移动 and 广东 read the same on a machine without Chinese fonts (Debian, most
servers, CI) as on a Mac. No scripts, nothing fetched from anywhere: it opens offline in any
browser or mail client. It is rendered with jinja2 with autoescaping on, since reply texts
are written by strangers.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from jinja2 import Environment

from campaign import plots, stats, vendors
from campaign.errors import InputError
from campaign.reasons import OTHER
from campaign.stats.srm import SampleRatioWarning, srm_check
from campaign.store import DbLike, Store, connect, now, reads

__all__ = ["mask_phone", "report"]

log = logging.getLogger(__name__)

#: How many of the latest replies the report lists (all are counted).
REPLIES_SHOWN = 50

#: A mainland mobile number typed inside a reply: 11 digits from 13-19, optionally written
#: +86 / 86 first and with spaces or dashes as 3-4-4; not part of a longer run of digits.
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")

#: How many provinces the delivery-rate chart shows (the largest by submitted numbers).
PROVINCES_SHOWN = 20

#: How many task ids of unlinked receipts the report names.
TASKS_SHOWN = 5

#: The CSS family name of the embedded subset of the charts' CJK font (first in the page's
#: font list, so Chinese text uses it everywhere; Latin text falls through to the system's).
FONT_FAMILY = "Campaign CJK"

#: A variant's campaign name: a stem, a dash, the variant (``double11-A``, ``d11-B``). Two
#: campaigns of one stem on one channel are sibling variants, compared in the A/B section.
_VARIANT_NAME = re.compile(r"^(?P<stem>.+)-(?P<variant>[^-]+)$")

#: What the A/B section compares, per channel (metrics of :func:`campaign.stats.compare`).
AB_METRICS = {
    "voice": ("answer_rate", "delivery_rate"),
    "sms": ("delivery_rate", "reply_rate", "opt_out_rate"),
}

#: The first code point the embedded font covers (U+2E80, CJK radicals); below it every
#: system font has the glyphs.
_CJK_FROM = 0x2E80


def mask_phone(phone: str | None) -> str:
    """``13800138000`` -> ``138****8000``: the first three and last four digits kept.

    >>> mask_phone("13800138000")
    '138****8000'
    """
    if phone is None:
        return ""
    text = str(phone)
    if len(text) < 8:
        return "*" * len(text)
    return f"{text[:3]}{'*' * (len(text) - 7)}{text[-4:]}"


def mask_phones_in_text(text: str | None) -> str:
    """Mask the mainland mobile numbers written inside a text (a reply), as
    :func:`mask_phone` does.

    >>> mask_phones_in_text("call me 138 0013 8000 or +8613900139000")
    'call me 138****8000 or 139****9000'
    """
    if text is None:
        return ""
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m[1] + m[2] + m[3]), str(text))


def _delivery_kind(vendor: str) -> str | None:
    """The vendor's ``LIMITS.delivery`` (push, pull, none), None for a vendor not known here."""
    try:
        return vendors.vendor_limits(vendor).delivery
    except InputError:  # an unknown or renamed vendor key: report what the store holds
        return None


def report(
    db: DbLike,
    *,
    campaign: str,
    path: str | os.PathLike,
    mask_phones: bool = True,
    compare_with: str | Sequence[str] | None = None,
) -> Path:
    """Write the post-campaign report of one campaign as a single HTML file.

    The report holds the headline numbers (submitted, delivered, delivery rate with its 95%
    interval, failed, pending; SMS: repliers and opt-outs; voice: answered and talk time, and
    no reply figures, since nobody replies to a call), the
    tables of :mod:`campaign.stats` by carrier, province and send hour, the latency
    percentiles, the failure reasons with their raw codes, the charts of
    :mod:`campaign.plots`, and the latest replies with opt-outs marked. Phone numbers, also
    those typed inside reply texts, are masked (``138****8000``) unless
    ``mask_phones=False``.

    The A/B section puts the campaign beside each of its sibling variants (campaigns named
    alike up to the last ``-``, on the same channel: ``double11-A`` and ``double11-B``) or
    the campaigns named in ``compare_with``: each side's rate with its interval, the
    difference with its interval, the p-value and the verdict of
    :func:`campaign.stats.compare`, for the delivery, reply and opt-out rates (voice: the
    answer and delivery rates).

    For a vendor that reports no delivery data (``vendor_limits(...).delivery == "none"``,
    e.g. ihuyi-voice) the report says so instead of showing delivery and answer rates that
    would stay 0% forever. A vendor whose receipts say only that a number failed, not why
    (jzyyun-sms: status 0), gets that sentence instead of a chart of one bar, 其他 100%. A
    campaign with no number submitted says why (no batches, planned but never sent, rejected
    with the vendor's message, outcome unknown) and what to run, instead of empty cards and
    tables. Receipts that reached this vendor but no batch (their task id unknown) are
    counted in a note, with what to do about them.

    Parameters
    ----------
    db
        The store (path or ``sqlite_utils.Database``).
    campaign
        The campaign's name.
    path
        Where to write the HTML file (folders are created).
    mask_phones
        Mask phone numbers (default). Set False only for a report that stays in-house.
    compare_with
        The campaign (or list) to compare with in the A/B section. Default: the sibling
        variants found by name; ``[]`` leaves the section out.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> path = cp.report("campaign.db", campaign="double11-A", path="double11-A.html")
    >>> path.name, path.stat().st_size > 100_000  # charts and all, in one file
    ('double11-A.html', True)
    >>> path = cp.report("campaign.db", campaign="vip-jzyyun", path="vip.html",
    ...                  compare_with="double11-A")  # any campaign, named
    """
    if not isinstance(campaign, str) or not campaign:
        raise InputError("campaign must be the name of one campaign, e.g. campaign='double11'")
    opened = connect(db, existing=True)  # a missing file is an error, never a new store
    try:
        # one consistent view, whatever arrives meanwhile; each count is read once
        with opened.snapshot() as store:
            page = _page(store, campaign, mask_phones=mask_phones, compare_with=compare_with)
    finally:
        if opened is not db:
            opened.close()
    html = _TEMPLATE.render(**page, font=None, font_family=FONT_FAMILY)
    font = _embedded_font(html)  # the glyphs of exactly the characters this page shows
    if font is not None:
        html = _TEMPLATE.render(**page, font=font, font_family=FONT_FAMILY)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    log.info("%s: report written to %s (%d KB)", campaign, out, len(html) // 1024)
    return out


def _page(
    store: Store, campaign: str, *, mask_phones: bool, compare_with: str | Sequence[str] | None
) -> dict:
    """What the report's template shows, read from ``store`` (a snapshot)."""
    db = store  # the statistics read the same snapshot
    delivery = stats.delivery_stats(db, campaign=campaign)  # checks the store and the name
    info = reads.campaign_info(store, campaign)
    others, named = _compared_with(store, campaign, info["channel"], compare_with)
    summary = reads.batch_summary(store, campaign)
    voice = info["channel"] == "voice"
    no_delivery = _delivery_kind(info["vendor"]) == "none"
    vendor_accepted = summary["vendor_accepted"]
    unlinked = stats.unlinked_receipts(db, vendor=info["vendor"])
    c = {"campaign": campaign}

    by_carrier = stats.delivery_stats(db, **c, by="carrier")
    by_province = stats.delivery_stats(db, **c, by="province")
    by_hour = stats.delivery_stats(db, **c, by="send_hour")
    latency = stats.latency_stats(db, **c, by="carrier")
    latency_all = stats.latency_stats(db, **c)
    reasons = stats.failure_reasons(db, **c)
    replies = stats.reply_stats(db, **c)
    replies_carrier = stats.reply_stats(db, **c, by="carrier")
    hours = stats.replies_by_hour(db, **c)
    curve = stats.delivery_curve(db, **c, by="carrier")
    latency_hist = stats.latency_distribution(db, **c)
    voice_total = stats.voice_stats(db, **c) if voice else None
    voice_carrier = stats.voice_stats(db, **c, by="carrier") if voice else None
    talk = stats.talk_time_distribution(db, **c) if voice else None

    total = _first(delivery)
    rep = _first(replies)
    # A call gets no SMS replies: a voice report leaves repliers and opt-outs out (their 0s
    # would read as news) unless replies did arrive for it.
    show_replies = not voice or (rep is not None and rep.replies > 0)
    headline = []
    if total is not None:
        accepted_note = "numbers the vendor accepted"
        if vendor_accepted is not None and int(vendor_accepted) != total.submitted:
            accepted_note += f"; the vendor itself counted {int(vendor_accepted):,} accepted"
        headline.append(("submitted", f"{total.submitted:,}", accepted_note))
    if summary["held_out"]:
        headline.append(("held out", f"{int(summary['held_out']):,}",
                         "never sent: the group the outcomes are compared with"))  # fmt: skip
    if summary["expired"]:
        headline.append(("expired", f"{int(summary['expired_numbers']):,}", _expired_note(summary)))
    if total is not None and no_delivery:
        headline.append(("delivery", "–", "this vendor reports no delivery data"))
    elif total is not None:
        headline += [
            (
                "delivered",
                f"{total.delivered:,}",
                _rate(total.delivery_rate, total.ci_low, total.ci_high),
            ),
            ("failed", f"{total.failed:,}", f"unknown status: {total.unknown:,}"),
            ("pending", f"{total.pending:,}", "no receipt yet"),
            ("rate among reported", _pct(total.reported_rate), f"{total.reported:,} reported"),
        ]
        if len(latency_all):
            lat = _first(latency_all)
            headline.append(
                (
                    "latency p50",
                    _seconds(lat.p50),
                    f"p90 {_seconds(lat.p90)}, p99 {_seconds(lat.p99)}",
                )
            )
    if rep is not None and show_replies:
        lag = ""
        if rep.repliers_without_receipt:
            lag = (
                f"; {rep.repliers_without_receipt:,} repliers have no delivery receipt yet"
                " (receipts lag behind replies)"
            )
            if rep.repliers > rep.delivered:
                lag += ", so the rate is capped at 100%"
        headline += [
            (
                "repliers",
                f"{rep.repliers:,}",
                _rate(rep.reply_rate, rep.reply_ci_low, rep.reply_ci_high) + " of delivered" + lag,
            ),
            (
                "opt-outs",
                f"{rep.opt_outs:,}",
                _rate(rep.opt_out_rate, rep.opt_out_ci_low, rep.opt_out_ci_high) + " of delivered",
            ),
        ]
    if voice and voice_total is not None and len(voice_total) and not no_delivery:
        v = _first(voice_total)
        headline += [
            (
                "answered",
                f"{v.answered:,}",
                _rate(v.answer_rate, v.answer_ci_low, v.answer_ci_high)
                + f" of all {v.calls:,} calls (a call without a receipt counts as not"
                f" answered); {_pct(v.reported_answer_rate)} of the {v.reported:,} calls"
                " with a receipt",
            ),
            (
                "talk time p50",
                _seconds(v.talk_p50),
                f"mean {_seconds(v.talk_mean)}, p90 {_seconds(v.talk_p90)}",
            ),
        ]

    if no_delivery:  # every delivery figure would be 0 or pending forever: leave them out
        by_carrier, by_province, by_hour = (f.iloc[0:0] for f in (by_carrier, by_province, by_hour))
        curve, latency_hist, reasons = (f.iloc[0:0] for f in (curve, latency_hist, reasons))
        talk = voice_carrier = None
    no_reason = _no_reason_note(info["vendor"], reasons)
    charts = []  # (title, base64 PNG, caption); no PNG: the caption says why there is no chart
    if len(by_carrier):
        charts.append(
            ("Delivery rate by carrier", _png(plots.plot_delivery_rate, by_carrier), None)
        )
    if len(by_province):  # the chart says "20 largest of N" only when it left some out
        largest = functools.partial(plots.plot_delivery_rate, top=PROVINCES_SHOWN)
        charts.append(("Delivery rate by province", _png(largest, by_province), None))
    if len(curve):
        charts.append(
            ("Delivered over time, by carrier", _png(plots.plot_delivery_curve, curve), None)
        )
    if len(latency_hist):
        charts.append(("Receipt latency", _png(plots.plot_latency, latency_hist), None))
    if no_reason:  # one bar, 其他 100%, would say nothing: say that the vendor says nothing
        charts.append(("Why numbers failed", None, no_reason))
    elif len(reasons):
        charts.append(("Why numbers failed", _png(plots.plot_failure_reasons, reasons), None))
    if len(hours):  # stats.replies_by_hour: "replies" counts every message, opt-outs among them
        charts.append(
            (
                "Replies by hour of day, opt-outs included",
                _png(plots.plot_replies_by_hour, hours),
                "Each bar is every reply received in that hour (Asia/Shanghai), opt-outs "
                "included: the red top part of a bar is the opt-outs (退订, TD, T …), the blue "
                "part the other replies. These are messages, not numbers: a number that "
                "replied twice counts twice here, once among the repliers above.",
            )
        )
    if talk is not None and len(talk):
        charts.append(("Talk time of answered calls", _png(plots.plot_talk_time, talk), None))

    tables = (
        []
        if no_delivery
        else [
            ("Delivery by carrier", _table(by_carrier, _DELIVERY)),
            ("Delivery by province", _table(by_province, _DELIVERY)),
            ("Delivery by send hour", _table(by_hour, _DELIVERY)),
            ("Latency by carrier (seconds)", _table(latency, _LATENCY)),
            ("Failure reasons", _table(reasons, _REASONS, note=no_reason)),
        ]
    )
    if show_replies and (not no_delivery or (rep is not None and rep.replies)):
        tables.append(("Replies by carrier", _table(replies_carrier, _REPLIES)))
    if voice and voice_carrier is not None:
        tables.append(("Voice calls by carrier", _table(voice_carrier, _VOICE)))

    latest = reads.latest_replies(store, campaign, REPLIES_SHOWN)
    shown = [
        {
            "phone": mask_phone(p) if mask_phones else p,
            "content": mask_phones_in_text(text) if mask_phones else text,
            "at": _when(at),
            "opt_out": bool(o),
        }
        for p, text, at, o in latest
    ]

    info["created_at"] = _when(info["created_at"])
    empty = _empty_note(store, campaign) if total is None or not total.submitted else None
    ab = [] if empty else [_ab(db, store, campaign, info, other) for other in others]
    kinds = reads.outcome_kinds(store, campaign)
    results = None if empty or not any(kinds.values()) else _results(db, campaign, voice=voice)
    page = dict(
        campaign=campaign,
        info=info,
        sent={
            "first": _when(summary["first"]),
            "last": _when(summary["last"]),
            "batches": summary["batches"],
            "accepted": summary["accepted"] or 0,
            "rejected": summary["rejected"] or 0,
            "unknown": summary["unknown"] or 0,
        },
        empty=empty,
        headline=headline,
        ab=ab,
        ab_named=named,
        results=results,
        no_delivery=no_delivery,
        unlinked=_unlinked_note(unlinked),
        charts=charts,
        tables=tables,
        replies=shown,
        show_replies=show_replies,
        replies_total=int(rep.replies) if rep is not None else 0,
        replies_shown=REPLIES_SHOWN,
        masked=mask_phones,
        generated=now(),
    )
    return page


# --------------------------------------------------------------------------- A/B


def _compared_with(store, campaign: str, channel: str, compare_with) -> tuple[list[str], bool]:
    """The campaigns of the A/B section, and whether the user named them."""
    known = dict(store.rows("SELECT name, channel FROM campaigns ORDER BY name"))
    if compare_with is None:
        own = _VARIANT_NAME.match(campaign)
        siblings = [
            name
            for name, their_channel in known.items()
            if own is not None
            and name != campaign
            and their_channel == channel
            and (m := _VARIANT_NAME.match(name)) is not None
            and m["stem"] == own["stem"]
        ]
        return siblings, False
    names = [compare_with] if isinstance(compare_with, str) else compare_with
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
        raise InputError(
            "compare_with must be a campaign name or a list of them (e.g. "
            f"compare_with='double11-B'; [] for no A/B section), not {compare_with!r}"
        )
    for name in names:
        if name == campaign:
            raise InputError(
                f"compare_with={name!r} is the report's own campaign: name another one"
            )
        if name not in known:
            others = ", ".join(n for n in known if n != campaign) or "none"
            raise InputError(
                f"compare_with={name!r}: no campaign {name!r} in this store; the others are: "
                f"{others}"
            )
    return list(dict.fromkeys(names)), True


def _ab(db: DbLike, store, campaign: str, info: dict, other: str) -> dict:
    """One comparison of the A/B section: rows per metric, each with the verdict in words."""
    theirs = reads.campaign_info(store, other)
    section = {"a": campaign, "b": other, "rows": [], "note": None, "srm": None}
    silent = [
        name
        for name, vendor in ((campaign, info["vendor"]), (other, theirs["vendor"]))
        if _delivery_kind(vendor) == "none"
    ]
    if silent:
        section["note"] = (
            f"{' and '.join(silent)}: the vendor reports no delivery data, so delivery, reply "
            "and answer rates cannot be compared."
        )
        return section
    split = srm_check(db, [campaign, other])
    if split.attrs["mismatch"]:  # said once on the page, not as a warning per metric
        section["srm"] = split.attrs["verdict"]
    shared = AB_METRICS["voice" if info["channel"] == "voice" else "sms"]
    if (info["channel"] == "voice") != (theirs["channel"] == "voice"):
        shared = ("delivery_rate",)  # an SMS against a voice campaign: only delivery is both
    for metric in shared:
        label = metric.replace("_", " ")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SampleRatioWarning)
                row = _first(stats.compare(db, campaign, other, metric=metric))
        except InputError as exc:  # a side has nothing yet (no receipts, nothing delivered)
            section["rows"].append({"metric": label, "missing": f"not comparable yet: {exc}"})
            continue
        section["rows"].append(
            {
                "metric": label,
                "a": _side(row.rate_a, row.ci_low_a, row.ci_high_a, row.successes_a, row.trials_a),
                "b": _side(row.rate_b, row.ci_low_b, row.ci_high_b, row.successes_b, row.trials_b),
                "difference": _points(row.difference, row.diff_ci_low, row.diff_ci_high),
                "p": _p_value(row.p_value),
                "verdict": row.verdict,
                "significant": bool(row.p_value < 0.05),
            }
        )
    return section


def _results(db: DbLike, campaign: str, *, voice: bool) -> dict | None:
    """The Results section: conversions, the lift over the holdout and the cost (None when
    there is nothing to say; the caller skips it for a campaign with none of them)."""
    funnel = stats.funnel_stats(db, campaign=campaign)
    row = _first(funnel)
    bill = _first(stats.cost_stats(db, campaign=campaign))
    priced = bill is not None and not pd.isna(bill.cost)
    clicked = not pd.isna(row.clicks) and row.clicks > 0 if row is not None else False
    if row is None or (not row.converted and not row.held_out and not priced and not clicked):
        return None
    out = {
        "funnel": _png(plots.plot_funnel, funnel),
        "clicks": _clicks_line(row),
        "converted": f"{row.converted:,} of {row.submitted:,} submitted",
        "rate": _rate(row.conversion_rate, row.conversion_ci_low, row.conversion_ci_high),
        "revenue": f"{row.revenue:,.2f}",
        "held_out": None,
        "cost": None,
    }
    if priced:
        per = f"{bill.billed:,} {'calls' if voice else 'messages'}"
        out["cost"] = {
            "total": f"{bill.cost:,.2f} ({per} at {bill.price:g}, billed on {bill.billed_on})",
            "per": ", ".join(
                f"{label} {value:,.4f}"
                for label, value in (
                    ("per delivered", bill.cost_per_delivered),
                    ("per reply", bill.cost_per_reply),
                    ("per click", bill.cost_per_click),
                    ("per conversion", bill.cost_per_conversion),
                )
                if not pd.isna(value)
            )
            or "–",
            "return": "–" if pd.isna(bill.return_on_spend) else f"{bill.return_on_spend:,.2f}x",
        }
    if row.held_out:
        out["held_out"] = {
            "n": f"{row.held_out_converted:,} of {row.held_out:,} held out",
            "rate": _rate(row.held_out_rate, row.held_out_ci_low, row.held_out_ci_high),
            "lift": _points(row.lift, row.lift_ci_low, row.lift_ci_high),
            "p": _p_value(row.lift_p_value),
            "incremental": f"{row.incremental_conversions:+,.1f} conversions, "
            f"{row.incremental_revenue:+,.2f} revenue",
            "verdict": (
                "The campaign raised conversions: the sent numbers converted more than the "
                "held-out ones, unlikely to be chance."
                if row.lift_p_value < 0.05 and row.lift > 0
                else "No lift shown: the sent numbers did not convert clearly more than the "
                "held-out ones; it could be chance."
            ),
        }
    return out


def _clicks_line(row) -> str | None:
    """The clicks on the campaign's tracking links, in words (None: it has no clicks)."""
    if pd.isna(row.clicks):
        return None
    if pd.isna(row.clicked):  # one shared link: people cannot be told apart
        return (
            f"{row.clicks:,} clicks on the campaign's link (one link for every number: who "
            "clicked, and how many people, cannot be told apart)"
        )
    return (
        f"{row.clicked:,} of {row.delivered:,} delivered clicked: "
        f"{_rate(row.click_rate, row.click_ci_low, row.click_ci_high)}; {row.clicks:,} clicks"
    )


def _side(rate, low, high, successes, trials) -> dict:
    return {
        "rate": _pct(rate),
        "ci": f"95% CI {low:.1%}–{high:.1%}",
        "of": f"{successes:,} / {trials:,}",
    }


def _points(difference, low, high) -> str:
    if difference is None or pd.isna(difference):
        return "–"
    return f"{difference * 100:+.1f} points (95% CI {low * 100:+.1f} to {high * 100:+.1f})"


def _p_value(p) -> str:
    if p is None or pd.isna(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


# --------------------------------------------------------------------------- the font


def _cjk_font_file() -> tuple[Path, int] | None:
    """The file (and its index, for a .ttc collection) of the charts' CJK font, or None."""
    from matplotlib import font_manager

    family = plots.cjk_fonts()  # registers mplfonts' Noto Sans CJK SC; warns when none
    if len(family) < 2:
        return None
    name = family[-1]
    try:
        found = font_manager.findfont(
            font_manager.FontProperties(family=name), fallback_to_default=False
        )
    except ValueError:
        return None
    path = Path(found)
    if path.suffix.lower() != ".ttc":
        return path, 0
    from fontTools.ttLib import TTCollection

    with TTCollection(str(path), lazy=True) as collection:
        for number, face in enumerate(collection.fonts):
            if face["name"].getBestFamilyName() == name:
                return path, number
    return path, 0


def _embedded_font(html: str) -> str | None:
    """The base64 WOFF2 of the CJK font cut down to the CJK characters of ``html``.

    CJK means from U+2E80 on (radicals, punctuation such as 。and ：, ideographs, kana,
    full-width forms): what a system without Chinese fonts draws as boxes. Latin letters,
    digits and punctuation such as – and · stay with the system's font. None when the page
    has no such character, or no CJK font is found (the page then names the system's fonts
    only: a warning of :func:`campaign.plots.cjk_fonts` says so).
    """
    text = "".join(sorted({c for c in html if ord(c) >= _CJK_FROM}))
    return _subset(text) if text else None


@functools.lru_cache(maxsize=16)
def _subset(text: str) -> str | None:
    """:func:`_embedded_font` of these characters (about 0.4 s: kept for the next report)."""
    found = _cjk_font_file()
    if found is None:
        return None
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.flavor = "woff2"  # needs brotli: fonttools[woff], a dependency
    options.desubroutinize = True  # CFF without subroutines compresses better (20.7 -> 19.4 KB)
    options.layout_features = []  # no alternates: the glyphs as typed
    options.name_IDs = [1, 2]  # family and style names only
    options.hinting = False
    path, number = found
    with TTFont(str(path), fontNumber=number, lazy=True) as font:
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=text)
        subsetter.subset(font)
        buffer = io.BytesIO()
        subset.save_font(font, buffer, options)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# --------------------------------------------------------------------------- formatting


def _when(iso: str | None) -> str | None:
    """``2026-11-23T22:23:20+08:00`` -> ``2026-11-23 22:23`` (the store keeps Shanghai time)."""
    if not iso:
        return iso
    return iso[:16].replace("T", " ") if len(iso) >= 16 and iso[10] == "T" else iso


def _unlinked_note(unlinked: pd.DataFrame) -> str | None:
    """The sentence about the vendor's receipts that no batch claims, None if there are none."""
    if not len(unlinked):
        return None
    total = int(unlinked["receipts"].sum())
    tasks = [t if t is not None else "(none)" for t in unlinked["task_id"]]
    named = ", ".join(tasks[:TASKS_SHOWN]) + (
        f" and {len(tasks) - TASKS_SHOWN} more" if len(tasks) > TASKS_SHOWN else ""
    )
    return (
        f"{total:,} receipts of this vendor are not linked to any batch (task ids {named}); "
        "they count in no campaign. If they belong to a batch whose outcome is unknown, "
        "record its task id and run cp.link_receipts."
    )


def _empty_note(store, campaign: str) -> list[str]:
    """Why a campaign with no number submitted is empty, and what to do: paragraphs."""
    states = {
        state: (int(batches), int(numbers))
        for state, batches, numbers in store.rows(
            "SELECT state, COUNT(*), COALESCE(SUM(size), 0) FROM batches WHERE campaign = ?"
            " GROUP BY state",
            [campaign],
        )
    }
    send = f'cp.send(plan, client, db=..., campaign="{campaign}")'
    command = f"campaign send ... --campaign {campaign}"
    if not states:
        return [
            f"Nothing was sent: {campaign} has no batches yet. Plan it with cp.plan_batches "
            f"and send it with {send}, or on the command line with {command}; then pull or "
            "receive the receipts and run the report again."
        ]
    notes = [
        f"Nothing was sent yet: no number of {campaign} was submitted to the vendor, so there "
        "are no delivery, reply or failure figures to show."
    ]
    planned = [states.get(s, (0, 0)) for s in ("planned", "submitting")]
    batches, numbers = sum(b for b, _ in planned), sum(n for _, n in planned)
    if batches:
        notes.append(
            f"{_count(batches, 'batch')} ({_count(numbers, 'number')}) "
            f"{'is' if batches == 1 else 'are'} planned but never submitted: the send stopped "
            f"or has not run. Run {send} again, or {command}: it resumes where it stopped."
        )
    if "rejected" in states:
        batches, numbers = states["rejected"]
        said = "; ".join(
            f"{' '.join(p for p in (code, message) if p) or '(no message)'} "
            f"({_count(int(n), 'batch')})"
            for code, message, n in store.rows(
                "SELECT code, message, COUNT(*) FROM batches WHERE campaign = ?"
                " AND state = 'rejected' GROUP BY code, message ORDER BY 3 DESC, 1, 2 LIMIT 3",
                [campaign],
            )
        )
        notes.append(
            f"The vendor rejected {_count(batches, 'batch')} ({_count(numbers, 'number')}); "
            f"it said: {said}. Fix what it names (balance, signature, template, content), then "
            f"send again with resend_rejected=True ({command} --resend-rejected)."
        )
    if "expired" in states:
        batches, numbers = states["expired"]
        notes.append(
            f"{_count(numbers, 'number')} in {_count(batches, 'batch')} expired: the campaign's "
            "expiry passed before they were submitted, and they are never sent (a send of the "
            "same message later is a new campaign)."
        )
    if "unknown" in states:
        batches, numbers = states["unknown"]
        notes.append(
            f"The outcome of {_count(batches, 'batch')} ({_count(numbers, 'number')}) is "
            "unknown: the vendor's answer was lost and no receipt has shown it sent them. "
            "First check the vendor's console: if it sent them, their receipts count once "
            "linked (cp.link_receipts); if not, send again with resend_unknown=True "
            f"({command} --resend-unknown)."
        )
    return notes


def _expired_note(summary: dict) -> str:
    """The headline's words for numbers that expired unsent."""
    batches = int(summary["expired"])
    return (
        f"numbers in {_count(batches, 'batch')}, never sent: the campaign expired before "
        "they were submitted"
    )


def _count(n: int, noun: str) -> str:
    """``1 batch``, ``2 batches``, ``3 numbers``."""
    plural = noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")
    return f"{n:,} {noun if n == 1 else plural}"


def _no_reason_note(vendor: str, reasons: pd.DataFrame) -> str | None:
    """The sentence for a vendor whose receipts say only *that* numbers failed, None otherwise.

    That is: every failure is 其他 (no code maps to a reason) and all carry one same code that
    is no gateway code but a bare status (empty, or one or two digits: jzyyun-sms reports
    status 0 for failed, and nothing else). A mix of unmapped gateway codes (MN:0001,
    MN:0054) keeps its chart and table: the codes are there to read.
    """
    if len(reasons) != 1 or reasons["reason"].iloc[0] != OTHER:
        return None
    codes = str(reasons["codes"].iloc[0]).split(", ")
    code = codes[0].rsplit(" (", 1)[0]
    if len(codes) != 1 or not (code == "(none)" or re.fullmatch(r"\d{1,2}", code)):
        return None
    failed = int(reasons["count"].iloc[0])
    carried = "no code at all" if code == "(none)" else f"the status code {code} and nothing else"
    return (
        f"{vendor} gives no failure reason: its receipts say only that a number failed (all "
        f"{failed:,} failed numbers carry {carried}), not why. Ask the vendor for the "
        "carriers' status codes if you need the reasons."
    )


def _first(frame: pd.DataFrame) -> SimpleNamespace | None:
    """The first row with each column's own type (``iloc`` would make counts floats)."""
    return SimpleNamespace(**frame.to_dict("records")[0]) if len(frame) else None


def _pct(value) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.1%}"


def _rate(rate, low, high) -> str:
    if rate is None or pd.isna(rate):
        return "–"
    return f"{rate:.1%} (95% CI {low:.1%}–{high:.1%})"


def _seconds(value) -> str:
    if value is None or pd.isna(value):
        return "–"
    if value >= 3600:
        return f"{value / 3600:.1f} h"
    if value >= 120:
        return f"{value / 60:.1f} min"
    return f"{value:.0f} s"


_COUNT, _PCT, _SEC, _TEXT = "count", "pct", "sec", "text"
_DELIVERY = {
    "submitted": _COUNT,
    "delivered": _COUNT,
    "failed": _COUNT,
    "unknown": _COUNT,
    "pending": _COUNT,
    "delivery_rate": _PCT,
    "ci_low": _PCT,
    "ci_high": _PCT,
    "reported_rate": _PCT,
}
_LATENCY = {"receipts": _COUNT, "mean": _SEC, "p50": _SEC, "p90": _SEC, "p99": _SEC}
_REASONS = {"reason": _TEXT, "count": _COUNT, "share": _PCT, "codes": _TEXT}
_REPLIES = {
    "delivered": _COUNT,
    "repliers": _COUNT,
    "replies": _COUNT,
    "opt_outs": _COUNT,
    "repliers_without_receipt": _COUNT,
    "reply_rate": _PCT,
    "opt_out_rate": _PCT,
}
_VOICE = {
    "calls": _COUNT,
    "reported": _COUNT,
    "answered": _COUNT,
    "answer_rate": _PCT,
    "answer_ci_low": _PCT,
    "answer_ci_high": _PCT,
    "reported_answer_rate": _PCT,
    "talk_mean": _SEC,
    "talk_p50": _SEC,
    "talk_p90": _SEC,
}


def _cell(value, kind: str) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–" if kind != _TEXT else "未知"
    if kind == _COUNT:
        return f"{int(value):,}"
    if kind == _PCT:
        return f"{value:.1%}"
    if kind == _SEC:
        return f"{value:,.0f}"
    return str(value)


def _table(frame: pd.DataFrame, columns: dict[str, str], *, note: str | None = None) -> dict:
    """The group columns (``attrs["by"]``), then the numbers of ``columns`` in the frame;
    with a ``note``, the note instead of the rows."""
    if note:
        return {"header": [], "rows": [], "numeric": [], "note": note}
    keys = [c for c in frame.attrs.get("by", []) if c in frame.columns]
    shown = [*keys, *[c for c in columns if c in frame.columns]]
    kinds = {**dict.fromkeys(keys, _TEXT), **columns}
    rows = [
        [_cell(v, kinds[c]) for c, v in zip(shown, row, strict=True)]
        for row in frame[shown].itertuples(index=False)
    ]
    numeric = [kinds[c] != _TEXT for c in shown]
    return {
        "header": [c.replace("_", " ") for c in shown],
        "rows": rows,
        "numeric": numeric,
        "note": None,
    }


def _png(plot, frame: pd.DataFrame) -> str:
    """Draw on a Figure of its own (no pyplot, no global state) and return base64 PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.2), layout="constrained")
    plot(frame, ax=fig.subplots())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_TEMPLATE = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
    """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ campaign }}: campaign report</title>
<style>
{% if font %}
  @font-face { font-family: "{{ font_family }}"; font-display: block;
               src: url("data:font/woff2;base64,{{ font }}") format("woff2"); }
{% endif %}
  body { font-family: "{{ font_family }}", -apple-system, "PingFang SC", "Microsoft YaHei",
         "Noto Sans CJK SC", "Helvetica Neue", Arial, sans-serif; margin: 2em auto;
         max-width: 1000px; color: #222; padding: 0 1em; }
  h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 2px solid #3b7dd8; }
  .meta { color: #666; font-size: 0.9em; }
  .cards { display: flex; flex-wrap: wrap; gap: 0.8em; margin-top: 1em; }
  .card { border: 1px solid #ddd; border-radius: 6px; padding: 0.7em 1em; min-width: 140px; }
  .card .label { color: #666; font-size: 0.85em; }
  .card .value { font-size: 1.6em; font-weight: 600; }
  .card .note { color: #444; font-size: 0.8em; }
  table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
  th, td { border-bottom: 1px solid #e4e4e4; padding: 0.3em 0.7em; text-align: left; }
  th { background: #f3f6fb; } td.num, th.num { text-align: right;
       font-variant-numeric: tabular-nums; }
  tr:nth-child(even) td { background: #fafafa; }
  figure { margin: 1em 0; } figure img { max-width: 100%; }
  figcaption { font-weight: 600; margin-bottom: 0.3em; }
  .optout { color: #b3261e; font-weight: 600; }
  blockquote { margin: 0.5em 0; padding: 0.5em 1em; background: #f6f6f6; }
  p.note { background: #fff8e1; border-left: 4px solid #e0a800; padding: 0.5em 1em; }
  table.ab small { color: #555; } .verdicts li { margin: 0.3em 0; }
  .verdicts li.significant { font-weight: 600; }
</style>
</head>
<body>
<h1>{{ campaign }}</h1>
<p class="meta">{{ info.vendor }} · {{ info.channel }} · created {{ info.created_at }}
{% if sent.first %} · sent {{ sent.first }} – {{ sent.last }}{% endif %}
 · {{ sent.batches }} batches ({{ sent.accepted }} accepted, {{ sent.rejected }} rejected,
 {{ sent.unknown }} unknown) · report generated {{ generated }}</p>
{% if info.content %}<blockquote>{{ info.content }}</blockquote>{% endif %}
{% if info.template_id %}<p class="meta">template {{ info.template_id }}</p>{% endif %}
{% if empty %}

<h2>Nothing sent</h2>
<div id="empty">
{% for paragraph in empty %}
<p{% if loop.first %} class="note"{% endif %}>{{ paragraph }}</p>
{% endfor %}
</div>
{% if unlinked %}<p class="meta" id="unlinked">{{ unlinked }}</p>{% endif %}
{% else %}

<h2>Headline</h2>
<div class="cards" id="headline">
{% for label, value, note in headline %}
  <div class="card"><div class="label">{{ label }}</div><div class="value">{{ value }}</div>
  <div class="note">{{ note }}</div></div>
{% endfor %}
</div>
{% if no_delivery %}
<p class="meta" id="no-delivery">{{ info.vendor }}: this vendor reports no delivery data, so
there are no delivered, failed or pending counts, delivery rates or answer rates to show.</p>
{% else %}
<p class="meta">Submitted: numbers in batches the vendor accepted (or that have receipts).
Delivered, failed, unknown: each number's latest receipt. Pending: no receipt yet.
Rates with 95% Wilson intervals.</p>
{% endif %}
<p class="meta" id="carrier-note">Carrier is the number range's original carrier: numbers moved
to another carrier (携号转网) cannot be seen offline, except where the contact list brought its
own carrier column, which is used instead.
运营商按号段判断：携号转网的号码仍显示原运营商；名单自带运营商列时以名单为准。</p>
{% if unlinked %}<p class="meta" id="unlinked">{{ unlinked }}</p>{% endif %}

{% if results %}
<section id="results">
<h2>Results</h2>
<figure><figcaption>Funnel</figcaption>
<img alt="Funnel" src="data:image/png;base64,{{ results.funnel }}"></figure>
<table class="results">
{% if results.clicks %}<tr><th>clicks</th><td class="num">{{ results.clicks }}</td></tr>{% endif %}
<tr><th>converted</th><td class="num">{{ results.converted }}</td></tr>
<tr><th>conversion rate</th><td class="num">{{ results.rate }}</td></tr>
<tr><th>revenue</th><td class="num">{{ results.revenue }}</td></tr>
{% if results.held_out %}
<tr><th>holdout</th><td class="num">{{ results.held_out.n }}: {{ results.held_out.rate }}</td></tr>
<tr><th>lift over the holdout</th>
<td class="num">{{ results.held_out.lift }}, p = {{ results.held_out.p }}</td></tr>
<tr><th>incremental</th><td class="num">{{ results.held_out.incremental }}</td></tr>
{% endif %}
{% if results.cost %}
<tr><th>cost</th><td class="num">{{ results.cost.total }}</td></tr>
<tr><th>cost per result</th><td class="num">{{ results.cost.per }}</td></tr>
<tr><th>return on spend</th><td class="num">{{ results.cost.return }}</td></tr>
{% endif %}
</table>
{% if results.held_out %}<p>{{ results.held_out.verdict }}</p>{% endif %}
<p class="meta">Conversions are the orders cp.ingest_conversions attributed to this campaign:
each to the latest campaign that sent to its number, or held it out, within the window.
The conversion rate is of the numbers submitted; the holdout's, of the numbers held out.
{% if results.clicks %}Clicks are those on the campaign's tracking links, by people (bots
and link previews left out); the click rate is of the numbers delivered. {% endif %}
{% if results.cost %}Cost is the billed messages (SMS segments) or calls times the price set
with cp.set_prices.{% endif %}</p>
</section>
{% endif %}

{% if ab %}
<section id="ab">
<h2>A/B comparison</h2>
{% for c in ab %}
<h3>{{ c.a }} vs {{ c.b }}</h3>
{% if c.note %}<p class="meta">{{ c.note }}</p>{% endif %}
{% if c.srm %}<p class="note srm">⚠ {{ c.srm }}</p>{% endif %}
{% if c.rows %}
<table class="ab" data-b="{{ c.b }}">
<thead><tr><th>metric</th><th class="num">{{ c.a }} (this report)</th><th class="num">{{ c.b }}</th>
<th class="num">difference {{ c.a }} − {{ c.b }}</th><th class="num">p-value</th></tr></thead>
<tbody>
{% for r in c.rows %}
{% if r.missing %}
<tr><td>{{ r.metric }}</td><td colspan="4">{{ r.missing }}</td></tr>
{% else %}
<tr><td>{{ r.metric }}</td>
<td class="num"><b>{{ r.a.rate }}</b><br><small>{{ r.a.ci }}<br>{{ r.a.of }}</small></td>
<td class="num"><b>{{ r.b.rate }}</b><br><small>{{ r.b.ci }}<br>{{ r.b.of }}</small></td>
<td class="num">{{ r.difference }}</td><td class="num">{{ r.p }}</td></tr>
{% endif %}
{% endfor %}
</tbody>
</table>
<ul class="verdicts">
{% for r in c.rows if r.verdict %}
<li{% if r.significant %} class="significant"{% endif %}>{{ r.verdict }}</li>
{% endfor %}
</ul>
{% endif %}
{% endfor %}
<p class="meta">{% if ab_named %}Compared with the campaigns named in compare_with.{% else %}
Sibling variants: campaigns named like this one up to the last “-”, on the same channel; pass
compare_with= to choose others.{% endif %} Rates with 95% Wilson intervals; the difference
with Newcombe's 95% interval and a two-sided two-proportion z-test. p &lt; 0.05 reads as a
real difference; a larger p means the test could not tell, not that the variants are equal.</p>
</section>
{% endif %}

<h2>Charts</h2>
{% for title, png, note in charts %}
<figure><figcaption>{{ title }}</figcaption>
{% if note %}<p class="{{ 'meta' if png else 'note' }}">{{ note }}</p>{% endif %}
{% if png %}<img alt="{{ title }}" src="data:image/png;base64,{{ png }}">{% endif %}
</figure>
{% else %}
<p>{{ "No delivery data from this vendor." if no_delivery else "No receipts yet." }}</p>
{% endfor %}

<h2>Tables</h2>
{% for title, t in tables %}
<h3>{{ title }}</h3>
{% if t.rows %}
<table>
<thead><tr>
{% for h in t.header %}
<th class="{{ 'num' if t.numeric[loop.index0] }}">{{ h }}</th>
{% endfor %}
</tr></thead>
<tbody>
{% for row in t.rows %}
<tr>
{% for v in row %}
<td class="{{ 'num' if t.numeric[loop.index0] }}">{{ v }}</td>
{% endfor %}
</tr>
{% endfor %}
</tbody>
</table>
{% elif t.note %}<p class="note">{{ t.note }}</p>
{% else %}<p>None yet.</p>{% endif %}
{% endfor %}

{% if show_replies %}
<h2>Replies and opt-outs</h2>
<p>{{ replies_total }} replies{% if replies_total > replies_shown %}; the latest {{ replies_shown }}
below{% endif %}.{% if masked %} Phone numbers are masked.{% endif %}</p>
{% if replies %}
<table id="replies">
<thead><tr><th>received</th><th>phone</th><th>reply</th><th>opt-out</th></tr></thead>
<tbody>
{% for r in replies %}
<tr><td>{{ r.at }}</td><td>{{ r.phone }}</td><td>{{ r.content }}</td>
<td>{% if r.opt_out %}<span class="optout">opt-out</span>{% endif %}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}
{% endif %}
{% endif %}
</body>
</html>
"""
)
