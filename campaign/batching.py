"""Plans: which numbers go in which vendor call, within the vendor's limits and rules.

Nothing here talks HTTP or names a vendor: every rule is read from the vendor's
:class:`~campaign.vendors.VendorLimits`, and what was already sent or opted out is read
from the store.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import html
import logging
import math
import re
import secrets
import urllib.parse
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from campaign import clock
from campaign.errors import InputError
from campaign.experiments import assign_variants
from campaign.phones import OUTPUT_COLUMNS, load_phones
from campaign.store import DbLike, connect, reads
from campaign.store import links as store_links
from campaign.store.batches import chunk_groups, recorded_phones
from campaign.timing import SendControls, SendTiming, estimate
from campaign.vendors import (
    VendorClient,
    VendorLimits,
    check_message,
    check_send_at,
    check_value,
    vendor_keys,
    vendor_limits,
)

__all__ = [
    "BATCH_COLUMNS",
    "LINK_ALPHABET",
    "LINK_CODE_LENGTH",
    "LINK_COLUMNS",
    "LINK_FIELD",
    "LINK_PER",
    "LINK_PLACEHOLDER",
    "SKIP_REASONS",
    "Plan",
    "check_stored_links",
    "count_segments",
    "field_value",
    "new_link_codes",
    "plan_batches",
    "render_link",
    "sendable_at",
    "short_url",
    "store_skips",
    "template_fields",
    "template_text",
]

log = logging.getLogger(__name__)

#: Columns of :attr:`Plan.batches`.
BATCH_COLUMNS = ("batch", "size", "phones", "segments", "messages", "content", "variables")

INVALID = "invalid number"
REPEAT = "repeat of an earlier row"
OPTED_OUT = "opted out"
ALREADY_IN_CAMPAIGN = "already in this campaign"
TOO_SOON = "sent too recently for the vendor's per-number interval"
DAILY_CAP = "reached the vendor's daily cap for this number"

#: The reasons :attr:`Plan.skipped` gives (invalid numbers add load_phones' own reason).
SKIP_REASONS = (INVALID, REPEAT, OPTED_OUT, ALREADY_IN_CAMPAIGN, TOO_SOON, DAILY_CAP)

#: Where a tracking link goes in ``content=``.
LINK_PLACEHOLDER = "{link}"
#: The characters of a tracking code: letters and digits without the look-alikes 0 O 1 l I.
LINK_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
#: Characters in a tracking code.
LINK_CODE_LENGTH = 7
#: ``link_per=``: one code for the whole campaign, or one per number.
LINK_PER = ("campaign", "recipient")
#: Columns of :attr:`Plan.links`.
LINK_COLUMNS = ("code", "phone", "target", "url")


def _count(n: int, noun: str) -> str:
    """``1 call``, ``2 calls``, ``20,000 numbers``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


@dataclass
class Plan:
    """The vendor calls that will deliver a message to a contact list.

    Attributes
    ----------
    vendor : str
        The vendor key.
    limits : VendorLimits
        The limits the plan was made within.
    batches : DataFrame
        One row per vendor call: ``batch`` (1, 2, ...), ``size`` (numbers), ``phones`` (list of
        11-digit strings), ``segments`` (billed SMS per number of this call; 1 for voice),
        ``messages`` (size x segments), and the call's text as sent: ``content`` (content
        vendors) or ``variables`` (template vendors), the other None. A call carries one
        text: personalised numbers with the same text share calls, different texts never do.
    recipients : DataFrame
        One row per planned number: ``phone``, ``batch``, ``carrier``, ``province``, ``city``
        and the contact list's own columns.
    skipped : DataFrame
        The contact rows left out, with their columns and ``skip_reason`` (and load_phones'
        ``reason`` for invalid numbers).
    held_out : DataFrame
        The holdout (``holdout=``): numbers recorded in the campaign but never sent, never
        counted as submitted, kept to compare outcomes with; ``phone``, ``carrier``,
        ``province``, ``city`` and the contact list's own columns.
    warnings : list of str
        Things worth a look that do not stop the send (e.g. no opt-out phrase).
    link, link_per : str or None
        Where the tracking link leads (``link=``) and ``"campaign"`` (one code for all) or
        ``"recipient"`` (one per number); None without a link.
    links : DataFrame
        The tracking links: ``code``, ``phone`` (None for the campaign's one code),
        ``target`` (where it leads) and ``url`` (the short link the message carries). Held-out
        numbers get none.
    content, variables : str or None
        The message as given, a template when it has ``{column}`` fields (with the campaign's
        link in place of ``{link}``); each call's own text is in ``batches``.
    templates : list of (content, variables), or None
        For a personalised plan, each batch's text in template form, as the store keeps it
        (fields filled in, ``{link}`` left for each number's own link, braces doubled); None
        when every call sends ``content`` / ``variables`` themselves.
    """

    vendor: str
    limits: VendorLimits
    content: str | None
    template_id: str | None
    variables: str | None
    send_at: dt.datetime | None
    campaign: str | None
    batches: pd.DataFrame
    recipients: pd.DataFrame
    skipped: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    held_out: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["phone"]))
    link: str | None = None
    link_per: str | None = None
    links: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(LINK_COLUMNS)))
    templates: list[tuple[str | None, str | None]] | None = field(default=None, repr=False)

    @property
    def numbers(self) -> int:
        """Numbers the plan sends to."""
        return len(self.recipients)

    @property
    def messages(self) -> int:
        """Billed messages in total (numbers x segments)."""
        return int(self.batches["messages"].sum()) if len(self.batches) else 0

    @property
    def segments(self) -> int:
        """Billed SMS per number: the most any number is billed when personalised texts
        differ in length (each call's own is in ``batches["segments"]``); 1 for voice and
        template sends, 0 for a plan of nobody."""
        return int(self.batches["segments"].max()) if len(self.batches) else 0

    @property
    def texts(self) -> int:
        """Distinct texts the plan sends: 1 for one message to everyone, more when
        personalised (``{column}`` fields) or with a link per number."""
        if not len(self.batches):
            return 0
        column = "variables" if self.limits.message == "template" else "content"
        if self.templates is None and self.link_per != "recipient":
            return 1
        return int(self.batches[column].nunique())

    def _segments_note(self) -> str:
        """``1 segment``, or ``1-2 segments`` when the texts differ in length."""
        low = int(self.batches["segments"].min()) if len(self.batches) else 0
        if low == self.segments:
            return _count(low, "segment")
        return f"{low}-{self.segments} segments"

    def __len__(self) -> int:
        return self.numbers

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a dict."""
        return {
            "vendor": self.vendor,
            "campaign": self.campaign,
            "numbers": self.numbers,
            "calls": len(self.batches),
            "texts": self.texts,
            "segments": self.segments,
            "messages": self.messages,
            "skipped": len(self.skipped),
            "held_out": len(self.held_out),
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "link": self.link,
            "link_per": self.link_per,
            "link_codes": len(self.links),
            "link_note": self._link_note(),
        }

    def _link_note(self) -> str | None:
        """The tracking link in one line; for one link per number, what that costs in calls."""
        if self.link_per == "campaign":
            url = self.links["url"].iloc[0] if len(self.links) else "?"
            return f"link: {url} -> {self.link}, one for the campaign"
        if self.link_per == "recipient":
            shared = math.ceil(self.numbers / self.limits.max_phones_per_call)
            return (
                f"link per number: {_count(len(self.batches), 'call')} instead of {shared:,} "
                f"(each number its own code, to {self.link})"
            )
        return None

    def skip_counts(self) -> pd.Series:
        """Skipped rows per reason."""
        return self.skipped["skip_reason"].value_counts()

    def timing(
        self,
        *,
        window: Any = None,
        rate: float | None = None,
        calls_per_second: float | None = None,
        expires_at: dt.datetime | str | None = None,
        expires_in: str | dt.timedelta | None = None,
        wait: bool = True,
        start: dt.datetime | str | None = None,
    ) -> SendTiming:
        """How :func:`~campaign.send` would send this plan with these options (the same
        keywords), before anything is sent: the window, how long the send takes at the
        rate, when it would finish if started now (or at ``start``) given the window, and
        the expiry, with a warning when the expiry comes before the send could finish.

        ``window=None`` is the vendor's default (marketing SMS 08:00-21:00 Asia/Shanghai),
        ``False`` any hour; ``rate`` numbers a minute, ``calls_per_second`` calls a second.
        Returns a :class:`~campaign.timing.SendTiming` (its repr lists it all; ``warnings``).

        Examples
        --------
        >>> plan = cp.plan_batches("data/contacts.csv", vendor="jzyyun-sms",
        ...                        content="【云通信】双11会员专享,回T退订", batch_size=10)
        >>> timing = plan.timing(window=False, rate=20, expires_in="6h")
        >>> timing.duration, timing.finishes_at - timing.start, timing.warnings
        (datetime.timedelta(seconds=120), datetime.timedelta(seconds=120), [])
        >>> slow = plan.timing(window=False, rate=5, expires_in="5min")
        >>> slow.unsent_at_expiry  # calls 2 min apart: the fourth comes after the expiry
        10
        >>> slow.warnings[1].split(";")[1]
        ' plan with batch_size=5 to spread the numbers'
        """
        controls = SendControls.read(self.limits, window=window, wait=wait, rate=rate,
                                     calls_per_second=calls_per_second, expires_at=expires_at,
                                     expires_in=expires_in)  # fmt: skip
        return estimate(self.batches["size"].to_numpy(), vendor=self.vendor,
                        messages=self.messages, controls=controls, send_at=self.send_at,
                        start=start)  # fmt: skip

    def __repr__(self) -> str:
        s = self.summary()
        calls = _count(s["calls"], "call")
        if s["texts"] > 1:
            calls = f"{_count(s['texts'], 'text')} in {calls}"
        lines = [
            f"<Plan {s['vendor']}: {_count(s['numbers'], 'number')}"
            f"{', ' if s['texts'] > 1 else ' in '}{calls}, {self._segments_note()} each, "
            f"{_count(s['messages'], 'message')}; {s['skipped']:,} skipped>"
        ]
        if self.send_at is not None:
            lines.append(f"  scheduled for {_scheduled(self.send_at)}")
        if len(self.held_out):
            lines.append(f"  held out {len(self.held_out):,}: never sent, kept to compare with")
        if s["link_note"]:
            lines.append(f"  {s['link_note']}")
        lines += [f"  skipped {n:,}: {reason}" for reason, n in self.skip_counts().items()]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        s = self.summary()
        rows = [
            ("vendor", s["vendor"]),
            ("campaign", s["campaign"] or "—"),
            ("numbers", f"{s['numbers']:,}"),
            ("vendor calls", f"{s['calls']:,}"),
            ("distinct texts", f"{_count(s['texts'], 'text')} in {_count(s['calls'], 'call')}"),
            ("segments per number", self._segments_note().split(" ")[0]),
            ("messages billed", f"{s['messages']:,}"),
            ("send at", _scheduled(self.send_at)),
        ]
        if s["held_out"]:
            rows.append(("held out (never sent)", f"{s['held_out']:,}"))
        if s["link_note"]:
            rows.append(("tracking link", s["link_note"]))
        rows += [(f"skipped: {r}", f"{n:,}") for r, n in self.skip_counts().items()]
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
            f"<td style='text-align:right'>{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        notes = "".join(f"<p>⚠ {html.escape(w)}</p>" for w in self.warnings)
        return f"<div><strong>Plan</strong><table>{body}</table>{notes}</div>"


def _scheduled(moment: dt.datetime | None) -> str:
    """A plan's send time for people: ``2026-11-11 20:00:00 Asia/Shanghai``, or ``now``."""
    return f"{moment:%Y-%m-%d %H:%M:%S} Asia/Shanghai" if moment is not None else "now"


def count_segments(content: str | None, limits: VendorLimits) -> int:
    """Billed SMS for one message: 70 characters fit one; longer messages are 67 per part.

    Voice and template sends count 1. Characters are counted as the gateways do: each Chinese
    character, letter, digit or punctuation mark (and the 【signature】) is one.

    >>> count_segments("【云通信】" + "好" * 65, cp.vendor_limits("jzyyun-sms"))
    1
    >>> count_segments("【云通信】" + "好" * 66, cp.vendor_limits("jzyyun-sms"))
    2
    """
    if content is None or limits.segment_chars is None:
        return 1
    length = len(content)
    if length <= limits.segment_chars:
        return 1
    return math.ceil(length / (limits.multipart_segment_chars or limits.segment_chars))


def plan_batches(
    contacts: Any,
    *,
    vendor: str | VendorClient,
    content: str | None = None,
    template_id: str | None = None,
    variables: str | None = None,
    send_at: dt.datetime | str | None = None,
    db: DbLike | None = None,
    campaign: str | None = None,
    batch_size: int | None = None,
    holdout: float | None = None,
    seed: int | None = None,
    link: str | None = None,
    link_base: str | None = None,
    link_per: str = "campaign",
) -> Plan:
    """Plan the vendor calls that send one message to a contact list.

    The message is checked first, against the vendor's rules, with errors that say what to
    fix: a 【signature】 for SMS, no emoji, characters the vendor can encode (GBK for jzyyun),
    template variables in the vendor's format, and ``send_at`` allowed and far enough ahead.
    Marketing SMS without an opt-out phrase (回T退订, 拒收请回复R...) gets a warning.

    Numbers are skipped, each with a reason: invalid, repeats, opted out (a reply such as 退订
    in the store), already in this campaign, and those the vendor would refuse now under its
    per-number interval or daily cap given what the store says was sent.

    Parameters
    ----------
    contacts
        What :func:`~campaign.load_phones` returns, or anything it accepts.
    vendor
        A vendor key (``"jzyyun-sms"``) or a client from :func:`campaign.vendor`.
    content, template_id, variables
        The message: ``content`` for SMS vendors and ihuyi-voice (its code), ``template_id``
        and ``variables`` for template vendors (veesing-code, veesing-voice).
        ``content`` (or ``variables``) may take fields from the contact list's columns:
        ``"【云通信】{姓名}您好,您的{券}已到账,回T退订"``, any column by its name (Chinese or
        English, also phone, carrier, province, city); ``{link}`` is the tracking link and
        combines with fields; write ``{{`` and ``}}`` for a brace in the text. Values are
        stripped of surrounding blanks, whole numbers lose the ``.0`` Excel gives them
        (``100.0`` -> ``100``) and dates read ``2026-11-11``. Each distinct text is checked
        against the vendor's rules and billed by its own segments; numbers with the same text
        share calls (up to ``batch_size``), different texts never do, and
        ``batches["content"]`` (or ``"variables"``) shows each call's text. A field naming no
        column, a row to send to without a value for a field (missing, empty or blank), or a
        value the vendor cannot carry (an emoji, a character outside GBK for jzyyun) is an
        InputError naming the row (the contact list's index, as :attr:`Plan.skipped` shows
        it) and the column. Skipped and held-out rows need no values.
    send_at
        When the vendor should send (vendors that schedule): text such as
        ``"2026-11-11 20:00"`` is Asia/Shanghai time; a ``datetime`` without a time zone is
        this machine's local time (``datetime.now() + timedelta(hours=1)``: in an hour).
    db, campaign
        The store to read opt-outs and earlier sends from, and the campaign name.
    batch_size
        Numbers per call, at most the vendor's ``max_phones_per_call`` (the default).
    holdout, seed
        The share of the numbers to hold out (``0.1``): chosen by
        :func:`~campaign.assign_variants` (stratified by carrier, reproducible with ``seed``)
        from the numbers that would be sent, recorded in the campaign but never sent, so that
        outcomes can be compared with them. Rows of a contact list with a true ``held_out``
        column are held out as they are marked.
    link
        Where a tracking link leads (``"https://shop.example.com/d11"``): the message carries
        a short link in place of ``{link}`` in ``content``, and the receiver
        (``campaign receive``) counts each click before redirecting there. SMS vendors that
        take content only; one campaign per variant (plan each variant on its own).
    link_base
        The receiver's address (``"https://t.example.com"``); a short link is
        ``link_base/c/<code>``, the code 7 random letters and digits (no 0 O 1 l I).
    link_per
        ``"campaign"`` (the default): one code for the whole campaign, so group sends stay
        grouped, and ``content`` becomes the text with the short link in it (checked and
        counted in segments as it is sent). ``"recipient"``: one code per number, to see who
        clicked; a vendor call carries one text, so every call has one number (the plan's
        repr says how many calls that costs) and ``content`` stays the template with
        ``{link}``. With ``db=`` and ``campaign=``, codes the campaign already has are kept.

    Examples
    --------
    >>> contacts = cp.load_phones("data/contacts.csv")
    >>> plan = cp.plan_batches(contacts, vendor="jzyyun-sms",
    ...                        content="【云通信】双11会员专享,回T退订")
    >>> plan.batches[["batch", "size", "segments", "messages"]]
       batch  size  segments  messages
    0      1    40         1        40
    >>> plan.skipped[["手机号码", "skip_reason"]].tail(3)
                   手机号码                   skip_reason
    42       1380013800  invalid number: wrong length
    48  +86 19986180831      repeat of an earlier row
    49      19827865531      repeat of an earlier row

    A tracking link, one for the campaign (its code is random):

    >>> plan = cp.plan_batches(contacts, vendor="jzyyun-sms",
    ...                        content="【云通信】双11五折 {link} 回T退订",
    ...                        link="https://shop.example.com/d11",
    ...                        link_base="https://t.example.com")
    >>> plan.content.startswith("【云通信】双11五折 https://t.example.com/c/")
    True
    >>> plan.links[["phone", "target"]]
      phone                        target
    0  None  https://shop.example.com/d11

    Personalised, from the list's columns: numbers with the same text share a call.

    >>> plan = cp.plan_batches(contacts, vendor="jzyyun-sms",
    ...                        content="【云通信】{会员等级}会员专享双11五折,回T退订")
    >>> plan
    <Plan jzyyun-sms: 40 numbers, 4 texts in 4 calls, 1 segment each, 40 messages; 10 skipped>
    ...
    >>> plan.batches[["size", "content"]]
       size                content
    0    15  【云通信】银卡会员专享双11五折,回T退订
    1     9  【云通信】普通会员专享双11五折,回T退订
    2     9  【云通信】钻石会员专享双11五折,回T退订
    3     7  【云通信】金卡会员专享双11五折,回T退订
    """
    key, limits = _vendor(vendor)
    link_per = _check_link(content, link=link, link_base=link_base, link_per=link_per,
                           limits=limits, vendor=key)  # fmt: skip
    size = _batch_size(batch_size, limits, key)
    if link_per == "recipient":
        size = _one_number_per_call(batch_size)
    base = link_base.rstrip("/") if link_per else None
    sample_url = short_url(base, new_link_codes(1)[0]) if link_per else None
    # the part of the message that may take fields: content, or a template's variables
    what = "variables" if limits.message == "template" else "content"
    template = variables if what == "variables" else content
    fields = _fields_of(template, what)
    plan_warnings: list[str] = []
    if not fields:  # one text for everyone: checked once, before the list is read
        plan_warnings = _check_text(content, variables, template_id, limits, key, sample_url)
    moment = check_send_at(send_at, limits=limits, vendor=key)

    frame = contacts
    if not (isinstance(frame, pd.DataFrame) and set(OUTPUT_COLUMNS) <= set(frame.columns)):
        frame = load_phones(contacts)
    if link_per:
        _check_one_variant(frame)
    columns = _field_columns(frame, fields, what)

    valid = frame["valid"].to_numpy(dtype=bool)
    duplicate = frame["duplicate"].to_numpy(dtype=bool)
    reasons = np.full(len(frame), None, dtype=object)
    if (~valid).any():
        why = frame["reason"].to_numpy(dtype=object)[~valid]
        reasons[~valid] = [f"{INVALID}: {r}" for r in why]
    reasons[valid & duplicate] = REPEAT
    candidates = valid & ~duplicate

    if db is not None and candidates.any():
        phones = frame["phone"].to_numpy(dtype=object)
        skips = store_skips(
            phones[candidates], db=db, vendor=key, limits=limits, campaign=campaign, when=moment
        )
        if skips:
            hit = candidates & np.isin(phones, list(skips))
            reasons[hit] = [skips[p] for p in phones[hit]]

    keep = reasons == None  # noqa: E711 - elementwise on an object array
    held = _held_out(frame, keep, holdout=holdout, seed=seed)
    planned = frame.loc[keep & ~held]
    phones = planned["phone"].tolist()
    links = pd.DataFrame(columns=list(LINK_COLUMNS))
    if link_per:
        existing = []
        if db is not None and campaign is not None:
            existing = store_links.campaign_links(connect(db), campaign)
        links = _plan_links(phones, existing, link=link, base=base, link_per=link_per,
                            campaign=campaign)  # fmt: skip
        if link_per == "campaign":
            content = render_link(content, links["url"].iloc[0])
            if what == "content":
                template = content

    templates: list[tuple[str | None, str | None]] | None = None
    if fields:  # a text per recipient: rendered, checked and billed text by text
        groups, texts = _render(planned, template, columns, what=what, limits=limits, vendor=key)
        plan_warnings = _check_texts(planned, groups, texts, content=content,
                                     variables=variables, template_id=template_id,
                                     limits=limits, vendor=key, url=sample_url)  # fmt: skip
        segments = [count_segments(_as_sent(t, sample_url), limits) if what == "content" else 1
                    for t in texts]  # fmt: skip
        batches, batch_group, row_batch = _split_groups(phones, groups, size, segments)
        templates = [(texts[g], None) if what == "content" else (content, texts[g])
                     for g in batch_group.tolist()]  # fmt: skip
        chosen = [t[0] if what == "content" else t[1] for t in templates]
    else:
        batches = _split(phones, size, count_segments(_as_sent(content, sample_url), limits))
        chosen = [template] * len(batches)
        row_batch = np.repeat(np.arange(1, len(batches) + 1), batches["size"].to_numpy())
    sent = _sent_texts(chosen, batches["phones"], links if link_per == "recipient" else None)
    batches["content"] = sent if what == "content" else None
    batches["variables"] = sent if what == "variables" else None

    recipients = planned.copy()
    recipients["batch"] = row_batch
    ordered = ["phone", "batch", "carrier", "province", "city"]
    user_columns = [c for c in frame.columns if c not in OUTPUT_COLUMNS]
    recipients = recipients[ordered + user_columns].reset_index(drop=True)

    skipped = frame.loc[~keep].copy()
    skipped["skip_reason"] = reasons[~keep]
    held_out = frame.loc[held, ["phone", "carrier", "province", "city", *user_columns]]
    held_out = held_out.drop(columns=["held_out"], errors="ignore").reset_index(drop=True)

    for w in plan_warnings:
        warnings.warn(w, UserWarning, stacklevel=2)
    plan = Plan(
        vendor=key,
        limits=limits,
        content=content,
        template_id=template_id,
        variables=variables,
        send_at=moment,
        campaign=campaign,
        batches=batches,
        recipients=recipients,
        skipped=skipped,
        warnings=plan_warnings,
        held_out=held_out,
        link=link if link_per else None,
        link_per=link_per,
        links=links,
        templates=templates,
    )
    log.info("%r", plan)
    return plan


# --------------------------------------------------------------------------- personalised content

#: A template's tokens: a brace written twice (a literal brace), a field, or a stray brace.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
#: The field that is the tracking link (``link=``), never a column of the list.
LINK_FIELD = "link"
#: Rows named in an error about a field before "and N more".
SHOWN_ROWS = 5


class _Template:
    """A parsed template: the text around its fields, in template form (``raw``: braces
    still doubled) and as sent (``text``), and the fields' names."""

    __slots__ = ("names", "raw", "text")

    def __init__(self, template: str, what: str):
        raw, text, names = [""], [""], []
        at = 0
        for m in _TOKEN.finditer(template):
            between = template[at : m.start()]
            raw[-1] += between
            text[-1] += between
            token, name = m.group(0), m.group(1)
            if token in ("{{", "}}"):
                raw[-1] += token
                text[-1] += token[0]
            elif name is None or not name.strip():
                raise _brace_error(template, m.start(), token, what)
            else:
                names.append(name)
                raw.append("")
                text.append("")
            at = m.end()
        raw[-1] += template[at:]
        text[-1] += template[at:]
        self.raw, self.text, self.names = raw, text, names

    def fill(self, values: dict[str, str]) -> str:
        """Still a template: the fields in ``values`` filled in (their braces doubled), the
        others left as ``{name}``."""
        out = [self.raw[0]]
        for name, after in zip(self.names, self.raw[1:], strict=True):
            value = values.get(name)
            out.append("{" + name + "}" if value is None else _escape(value))
            out.append(after)
        return "".join(out)

    def render(self, values: dict[str, str]) -> str:
        """The text as sent: every field filled in, braces single."""
        out = [self.text[0]]
        for name, after in zip(self.names, self.text[1:], strict=True):
            out.append(values[name])
            out.append(after)
        return "".join(out)


def _brace_error(template: str, at: int, token: str, what: str) -> InputError:
    near = template[max(at - 6, 0) : at + 7]
    if token in ("{", "}"):
        why = f"has a lone {token!r} at character {at + 1} (near {near!r})"
    else:
        why = f"has an empty field {token} at character {at + 1} (near {near!r})"
    return InputError(
        f"{what} {why}: a field is a column's name in braces, e.g. {{姓名}}; for a brace in "
        "the text itself write it twice, {{ or }}"
    )


@functools.lru_cache(maxsize=256)
def _parsed(template: str, what: str = "content") -> _Template:
    return _Template(template, what)


def _escape(value: str) -> str:
    return value.replace("{", "{{").replace("}", "}}")


def template_fields(template: str, *, what: str = "content") -> list[str]:
    """The fields of a ``content=`` or ``variables=`` template, once each in order of first
    appearance, ``link`` (the tracking link) included.

    A field is a column's name in braces, ``{姓名}``; ``{{`` and ``}}`` are a literal ``{``
    and ``}``, as in :meth:`str.format`. A lone brace or an empty ``{}`` is an InputError
    that says how to write it.

    >>> template_fields("【云通信】{姓名}您好,您的{券}已到账 {link} 回T退订")
    ['姓名', '券', 'link']
    >>> template_fields("【云通信】{{VIP}}专享,回T退订")
    []
    >>> template_fields("【云通信】满100{减20")
    Traceback (most recent call last):
    ...
    campaign.errors.InputError: content has a lone '{' at character 10 (near '信】满100{减20'): ...
    """
    return list(dict.fromkeys(_parsed(template, what).names))


def template_text(template: str, values: dict[str, str] | None = None) -> str:
    """A template as the text that is sent: its fields filled in from ``values`` and each
    ``{{``/``}}`` a single brace. A field without a value is an InputError naming it.

    >>> template_text("【云通信】{姓名}您好,{{VIP}}专享", {"姓名": "张三"})
    '【云通信】张三您好,{VIP}专享'
    """
    parsed = _parsed(template)
    missing = [n for n in parsed.names if n not in (values or {})]
    if missing:
        raise InputError(f"no value for the field {{{missing[0]}}} of {template!r}")
    return parsed.render(values or {})


def field_value(value: Any) -> str | None:
    """A cell of the contact list as it goes into a message, or None when it has no value
    (None, NaN, NaT, empty or blank text).

    Text is stripped of surrounding blanks; whole numbers lose the ``.0`` a spreadsheet adds
    (``100.0`` -> ``100``), other numbers are written in full (``12.5``); a date (a time of
    midnight) is ``2026-11-11``, another time ``2026-11-11 20:00``.

    >>> [field_value(v) for v in ["  张三 ", 100.0, 12.5, 7, pd.Timestamp("2026-11-11"), " ", None]]
    ['张三', '100', '12.5', '7', '2026-11-11', None, None]
    """
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float | decimal.Decimal):
        if value != value:  # NaN
            return None
        finite = value.is_finite() if isinstance(value, decimal.Decimal) else math.isfinite(value)
        return str(int(value)) if finite and value == int(value) else str(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M" if value.second == 0 else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip() or None


def _fields_of(template: Any, what: str) -> list[str]:
    """The columns a message template names (its fields but ``{link}``); none for a message
    that is not text (the vendor's check says what it should be)."""
    if not isinstance(template, str):
        return []
    return [f for f in template_fields(template, what=what) if f != LINK_FIELD]


def _as_sent(template: Any, url: str | None) -> Any:
    """A template with no fields but ``{link}`` as the text sent: ``url`` in place of
    ``{link}`` and braces single. What is not text is given back as it is."""
    if not isinstance(template, str):
        return template
    return template_text(template, {LINK_FIELD: url} if url is not None else None)


def _check_text(content, variables, template_id, limits, vendor, url) -> list[str]:
    """The vendor's rules on a message with one text for everyone."""
    if limits.message == "template":
        variables = _as_sent(variables, None)
    else:
        content = _as_sent(content, url)
    return check_message(content=content, template_id=template_id, variables=variables,
                         limits=limits, vendor=vendor)  # fmt: skip


def _field_columns(frame: pd.DataFrame, fields: list[str], what: str) -> dict[str, Any]:
    """The contact list's column for each field; a field naming none is an InputError that
    lists the columns there are."""
    by_name: dict[str, Any] = {}
    for column in frame.columns:
        by_name.setdefault(str(column), column)
    unknown = [f for f in fields if f not in by_name]
    if unknown:
        own = [str(c) for c in frame.columns if c not in OUTPUT_COLUMNS]
        listed = ", ".join([*own, "phone", "carrier", "province", "city"])
        raise InputError(
            f"{what} has the field {{{unknown[0]}}} but the contact list has no column "
            f"{unknown[0]!r}; its columns are: {listed}. Put a column's name in braces (e.g. "
            f"{{{own[0] if own else 'city'}}}), or write {{{{ and }}}} for a brace in the text"
        )
    return {f: by_name[f] for f in fields}


def _row(planned: pd.DataFrame, at: int) -> str:
    """A row of the contact list for an error: its index label (as load_phones numbers the
    rows, and as :attr:`Plan.skipped` shows them) and its number."""
    label = planned.index[at]
    label = label if isinstance(label, int | np.integer) else repr(label)
    return f"row {label} ({planned['phone'].iat[at]})"


def _rows(planned: pd.DataFrame, where: np.ndarray) -> tuple[str, str]:
    """The first few rows of ``where`` for an error, and their labels as a pandas list."""
    first = where[:SHOWN_ROWS]
    named = ", ".join(_row(planned, int(r)) for r in first)
    if len(where) > SHOWN_ROWS:
        named += f" and {len(where) - SHOWN_ROWS:,} more"
    labels = ", ".join(repr(planned.index[int(r)]) for r in first)
    return named, labels + (", ..." if len(where) > SHOWN_ROWS else "")


def _field_codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each row's value as a code into the distinct texts of the column (-1: no value)."""
    try:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        formatted = [field_value(u) for u in uniques]
    except TypeError:  # cells pandas cannot hash (lists): formatted one by one
        codes = np.arange(len(column))
        formatted = [field_value(v) for v in column]
    text_codes, texts = pd.factorize(pd.Series(formatted, dtype=object), use_na_sentinel=True)
    text_codes = np.append(text_codes, -1)  # code -1 (no value) stays -1
    return text_codes[codes], [str(t) for t in texts]


def _render(
    planned: pd.DataFrame, template: str, columns: dict[str, Any], *, what: str,
    limits: VendorLimits, vendor: str,
) -> tuple[np.ndarray, list[str]]:  # fmt: skip
    """Each planned row's text: the group (0, 1, ... in order of first appearance) of rows
    whose texts are the same, and each group's text in template form (``{link}`` left).

    A row without a value for a field, or a value the vendor cannot carry (an emoji, a
    character outside GBK for jzyyun), is an InputError naming the row and the column."""
    parsed = _parsed(template, what)
    key = np.zeros(len(planned), dtype=np.int64)
    values: dict[str, tuple[np.ndarray, list[str]]] = {}
    for name, column in columns.items():
        codes, texts = _field_codes(planned[column])
        missing = np.flatnonzero(codes < 0)
        if len(missing):
            named, labels = _rows(planned, missing)
            many = len(missing) > 1
            raise InputError(
                f"{what} field {{{name}}}: {_count(len(missing), 'row')} to send to "
                f"{'have' if many else 'has'} no {name}: {named}. Fill in the {name!r} column "
                f"for {'them' if many else 'it'}, or drop {'those rows' if many else 'that row'} "
                f"(e.g. contacts.drop(index=[{labels}]))"
            )
        _check_values(planned, codes, texts, name, limits=limits, vendor=vendor)
        key = pd.factorize(key * len(texts) + codes)[0]
        values[name] = (codes, texts)
    groups = key.astype(np.int64, copy=False)
    first = np.zeros(int(groups.max()) + 1 if len(groups) else 0, dtype=np.int64)
    first[groups[::-1]] = np.arange(len(groups) - 1, -1, -1)
    rendered = [
        parsed.fill({name: texts[codes[row]] for name, (codes, texts) in values.items()})
        for row in first.tolist()
    ]
    return groups, rendered


def _check_values(planned, codes, texts, name, *, limits, vendor) -> None:
    """Every distinct value of a field, checked once for what the vendor cannot carry."""
    try:  # the characters are checked one by one: all values at once, unless one fails
        check_value("".join(texts), what=name, limits=limits, vendor=vendor)
        return
    except InputError:
        pass
    for at, text in enumerate(texts):
        try:
            check_value(text, what=f"{name} {text!r}", limits=limits, vendor=vendor)
        except InputError as exc:
            row = int(np.flatnonzero(codes == at)[0])
            raise InputError(
                f"{_row(planned, row)}, column {name!r}: {exc}; fix it in the contact list, "
                "or drop that row"
            ) from None


def _check_texts(planned, groups, texts, *, content, variables, template_id, limits, vendor,
                 url) -> list[str]:  # fmt: skip
    """Each distinct text against the vendor's rules (signature, pattern...); an error
    names the first row that has the text. Returns the warnings, once each."""
    notes: dict[str, None] = {}
    for at, text in enumerate(texts):
        if limits.message == "template":
            message = {"content": content, "variables": _as_sent(text, None)}
        else:
            message = {"content": _as_sent(text, url), "variables": variables}
        try:
            found = check_message(**message, template_id=template_id, limits=limits,
                                  vendor=vendor)  # fmt: skip
        except InputError as exc:
            row = int(np.flatnonzero(groups == at)[0])
            shown = message["variables" if limits.message == "template" else "content"]
            raise InputError(f"{exc} (the text of {_row(planned, row)}: {shown!r})") from None
        notes.update(dict.fromkeys(found))
    return list(notes)


def _split_groups(
    phones: list[str], groups: np.ndarray, size: int, segments: list[int]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Calls that never mix texts: the batches (as :func:`_split` makes them), each batch's
    text (group) and each row's batch (1, 2, ...)."""
    batch_of, group_of = chunk_groups(groups, size)
    order = np.argsort(batch_of, kind="stable")
    sizes = np.bincount(batch_of, minlength=len(group_of))
    ordered = np.asarray(phones, dtype=object)[order].tolist()
    ends = np.cumsum(sizes)
    chunks = [ordered[a:b] for a, b in zip((ends - sizes).tolist(), ends.tolist(), strict=True)]
    per_batch = np.asarray(segments, dtype=np.int64)[group_of]
    batches = pd.DataFrame(
        {
            "batch": np.arange(1, len(chunks) + 1, dtype=np.int64),
            "size": sizes.astype(np.int64),
            "phones": pd.Series(chunks, dtype=object),
            "segments": per_batch,
            "messages": sizes * per_batch,
        },
        columns=list(BATCH_COLUMNS[:5]),
    )
    return batches, group_of, batch_of + 1


def _sent_texts(templates: list[Any], phones: pd.Series, links: pd.DataFrame | None) -> list:
    """Each call's text as sent, from its template: with the number's own link when
    ``links`` are per number (each such call has one number)."""
    if links is None:
        done: dict[Any, Any] = {}
        return [done[t] if t in done else done.setdefault(t, _as_sent(t, None))
                for t in templates]  # fmt: skip
    urls = dict(zip(links["phone"], links["url"], strict=True))
    return [_as_sent(t, urls.get(ps[0])) for t, ps in zip(templates, phones, strict=True)]


# --------------------------------------------------------------------------- tracking links


def new_link_codes(n: int, *, avoid: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """``n`` distinct tracking codes, none of them in ``avoid``: :data:`LINK_CODE_LENGTH`
    characters of :data:`LINK_ALPHABET`, drawn with :mod:`secrets` (never from the phone).

    >>> codes = new_link_codes(3)
    >>> len(set(codes)), {len(c) for c in codes}, set("".join(codes)) <= set(LINK_ALPHABET)
    (3, {7}, True)
    """
    alphabet = np.frombuffer(LINK_ALPHABET.encode("ascii"), dtype=np.uint8)
    below = 256 - 256 % len(alphabet)  # bytes at or above it would favour some characters
    found: dict[str, None] = {}
    while len(found) < n:
        wanted = (n - len(found)) * LINK_CODE_LENGTH
        drawn = np.frombuffer(secrets.token_bytes(wanted * 2 + 16), dtype=np.uint8)
        drawn = drawn[drawn < below][:wanted]
        drawn = drawn[: len(drawn) - len(drawn) % LINK_CODE_LENGTH]
        chars = alphabet[drawn % len(alphabet)].reshape(-1, LINK_CODE_LENGTH)
        for code in chars.view(f"S{LINK_CODE_LENGTH}").ravel().astype(str).tolist():
            if code not in avoid:
                found[code] = None
    return list(found)[:n]


def short_url(base: str, code: str) -> str:
    """The short link a message carries: ``link_base`` (no trailing slash) + ``/c/`` + code.

    >>> short_url("https://t.example.com/", "Ab3dEfG")
    'https://t.example.com/c/Ab3dEfG'
    """
    return f"{base.rstrip('/')}/c/{code}"


def render_link(content: str, url: str) -> str:
    """``content`` with ``url`` in place of ``{link}``; still a template: its other fields
    and its doubled braces stay as they are.

    >>> render_link("【云通信】{姓名},双11五折 {link} 回T退订", "https://t.example.com/c/Ab3dEfG")
    '【云通信】{姓名},双11五折 https://t.example.com/c/Ab3dEfG 回T退订'
    """
    return _parsed(content).fill({LINK_FIELD: url})


def _takes_links(limits: VendorLimits) -> bool:
    """Whether a vendor's messages are free text a link can go in: SMS content."""
    return limits.channel == "sms" and limits.message == "content"


def _check_link(content, *, link, link_base, link_per, limits: VendorLimits, vendor: str):
    """The link arguments checked together; ``link_per`` when there is a link, else None."""
    if link_per not in LINK_PER:
        raise InputError(
            "link_per must be 'campaign' (one link for the whole campaign, the default) or "
            f"'recipient' (one link per number), not {link_per!r}"
        )
    has_placeholder = isinstance(content, str) and LINK_FIELD in template_fields(content)
    if link is None:
        if has_placeholder:
            raise InputError(
                "content has {link} but no link= says where it leads: pass "
                "link='https://...' (the page) and link_base='https://...' (your short-link "
                "receiver), or take {link} out of the content"
            )
        if link_base is not None:
            raise InputError("link_base= goes with link=: pass link='https://...' (where the "
                             "link leads) too, or leave out link_base")  # fmt: skip
        if link_per != "campaign":
            raise InputError("link_per= goes with link=: pass link='https://...' and "
                             "link_base='https://...' too, or leave out link_per")  # fmt: skip
        return None
    if not _takes_links(limits):
        texts = [k for k in vendor_keys() if _takes_links(vendor_limits(k))]
        raise InputError(
            f"link=: {vendor} sends a {limits.channel} {limits.message}, not free text, so a "
            f"link cannot go in it; send the link by SMS ({', '.join(texts)}), or leave out link"
        )
    _check_url("link", link, "https://shop.example.com/d11")
    if link_base is None:
        raise InputError(
            "link= needs link_base=: the address of your click receiver (campaign receive), "
            "e.g. link_base='https://t.example.com'; messages carry link_base/c/<code>"
        )
    _check_url("link_base", link_base, "https://t.example.com")
    parts = urllib.parse.urlsplit(link_base)
    if parts.query or parts.fragment or link_base.endswith(("?", "#")):
        raise InputError(
            f"link_base must be an address without ?query or #fragment, not {link_base!r}: "
            "messages carry link_base/c/<code>"
        )
    if not has_placeholder:
        raise InputError(
            "link= needs {link} in content, where the short link goes: e.g. "
            "content='【云通信】双11五折 {link} 回T退订'"
        )
    return link_per


def _check_url(name: str, value: Any, example: str) -> None:
    """An http(s) address with a host, nothing a message could not carry."""
    problem = not isinstance(value, str) or any(c.isspace() or c in '{}<>"\\' for c in value)
    if not problem:
        try:
            parts = urllib.parse.urlsplit(value)
            problem = parts.scheme.lower() not in ("http", "https") or not parts.hostname
        except ValueError:  # e.g. an unclosed [ipv6 bracket
            problem = True
    if problem:
        raise InputError(
            f"{name} must be an http:// or https:// address with a host, e.g. {example!r}, "
            f"not {value!r}"
        )


def _one_number_per_call(batch_size: int | None) -> int:
    if batch_size not in (None, 1):
        raise InputError(
            f"link_per='recipient' gives every number its own text and a vendor call carries "
            f"one text, so every call has one number: leave out batch_size={batch_size!r}, or "
            "use link_per='campaign'"
        )
    return 1


def _check_one_variant(frame: pd.DataFrame) -> None:
    """A tracking link belongs to one campaign, and a campaign is one variant."""
    if "variant" not in frame.columns:
        return
    variants = sorted(frame["variant"].dropna().unique(), key=str)
    if len(variants) > 1:
        first = variants[0]
        raise InputError(
            f"the contacts hold {len(variants)} variants ({', '.join(map(str, variants[:5]))}) "
            "and link= makes one campaign's link: plan each variant as its own campaign, e.g. "
            f"plan_batches(split[split.variant == {first!r}], ..., campaign='d11-{first}')"
        )


def check_stored_links(
    existing: list, *, campaign: str | None, link: str, base: str | None, link_per: str
) -> None:
    """That a plan's links fit the ones ``campaign`` has in the store (``existing``, as
    :func:`campaign.store.links.campaign_links` reads them): the same kind (one code for all,
    or one per number), the same target and the same ``link_base`` (not checked when None)."""
    shared = any(row[1] is None for row in existing)
    if link_per == "campaign" and existing and not shared:
        raise InputError(f"campaign {campaign!r} gives each number its own link: plan it with "
                         "link_per='recipient', or name a new campaign")  # fmt: skip
    if link_per == "recipient" and shared:
        raise InputError(f"campaign {campaign!r} has one link for all its numbers: plan it with "
                         "link_per='campaign', or name a new campaign")  # fmt: skip
    for code, _phone, target, url in existing[:1]:  # a campaign's links agree: each was checked
        if target != link:
            raise InputError(
                f"campaign {campaign!r} links to {target}, not {link}: plan it with "
                f"link={target!r}, or name a new campaign (campaign=...) for the new target"
            )
        if base is not None and url != short_url(base, code):
            raise InputError(
                f"campaign {campaign!r}'s links are {url.rsplit('/c/', 1)[0]}/c/..., not "
                f"{base}/c/...: plan it with link_base={url.rsplit('/c/', 1)[0]!r}"
            )


def _plan_links(
    phones: list[str], existing: list, *, link: str, base: str, link_per: str, campaign
) -> pd.DataFrame:
    """The plan's links: the campaign's one code, or one per number; the codes ``existing``
    (the campaign's in the store) kept, so planning again gives the same messages."""
    check_stored_links(existing, campaign=campaign, link=link, base=base, link_per=link_per)
    shared = [row for row in existing if row[1] is None]
    own = {row[1]: row for row in existing if row[1] is not None}
    if link_per == "campaign":
        code = shared[0][0] if shared else new_link_codes(1)[0]
        return pd.DataFrame(
            {"code": [code], "phone": pd.Series([None], dtype=object), "target": [link],
             "url": [short_url(base, code)]},
            columns=list(LINK_COLUMNS),
        )  # fmt: skip
    fresh = iter(new_link_codes(sum(p not in own for p in phones),
                                avoid={row[0] for row in existing}))  # fmt: skip
    codes = [own[p][0] if p in own else next(fresh) for p in phones]
    return pd.DataFrame(
        {"code": codes, "phone": pd.Series(phones, dtype=object), "target": link,
         "url": [short_url(base, c) for c in codes]},
        columns=list(LINK_COLUMNS),
    )  # fmt: skip


def _held_out(frame: pd.DataFrame, sendable: np.ndarray, *, holdout, seed) -> np.ndarray:
    """Which rows are held out: marked in a ``held_out`` column, or ``holdout`` of the
    sendable ones drawn by :func:`~campaign.assign_variants`."""
    marked = np.zeros(len(frame), dtype=bool)
    if "held_out" in frame.columns:
        marked = frame["held_out"].fillna(False).astype(bool).to_numpy() & sendable
    if holdout is None:
        if seed is not None:
            raise InputError("seed= goes with holdout=: e.g. holdout=0.1, seed=1")
        return marked
    if marked.any():
        raise InputError(
            "the contacts mark rows held_out already: leave out holdout=, or drop that column"
        )
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 < holdout < 1:
        raise InputError(f"holdout must be a share between 0 and 1 (0.1 for 10%), not {holdout!r}")
    candidates = frame.loc[sendable, ["phone", "carrier"]]
    if not len(candidates):
        return marked
    split = assign_variants(
        candidates, {"send": 1 - holdout, "holdout": holdout}, seed=seed, stratify="carrier"
    )
    marked[np.flatnonzero(sendable)] = (split["variant"] == "holdout").to_numpy()
    return marked


def _vendor(vendor: str | VendorClient) -> tuple[str, VendorLimits]:
    if isinstance(vendor, VendorClient):
        return vendor.vendor, vendor.limits
    if isinstance(vendor, str):
        limits = vendor_limits(vendor)
        return vendor.strip().lower().replace("_", "-"), limits
    raise InputError(
        f"vendor must be a vendor key such as 'jzyyun-sms' or a client from cp.vendor(), "
        f"not {type(vendor).__name__}"
    )


def _batch_size(batch_size: int | None, limits: VendorLimits, key: str) -> int:
    if batch_size is None:
        return limits.max_phones_per_call
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InputError(f"batch_size must be a positive whole number, not {batch_size!r}")
    if batch_size > limits.max_phones_per_call:
        raise InputError(
            f"batch_size {batch_size:,} is more than {key} takes in one call "
            f"({limits.max_phones_per_call:,}); use at most that"
        )
    return batch_size


def _split(phones: list[str], size: int, segments: int) -> pd.DataFrame:
    chunks = [phones[i : i + size] for i in range(0, len(phones), size)]
    sizes = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
    return pd.DataFrame(
        {
            "batch": np.arange(1, len(chunks) + 1, dtype=np.int64),
            "size": sizes,
            "phones": pd.Series(chunks, dtype=object),
            "segments": np.full(len(chunks), segments, dtype=np.int64),
            "messages": sizes * segments,
        },
        columns=list(BATCH_COLUMNS[:5]),
    )


# --------------------------------------------------------------------------- the store


def store_skips(
    phones: list[str] | np.ndarray,
    *,
    db: DbLike,
    vendor: str,
    limits: VendorLimits,
    campaign: str | None = None,
    when: dt.datetime | None = None,
) -> dict[str, str]:
    """Numbers the store says must not be sent to now, each with its reason.

    Opted out (a reply matching 退订, TD, T, R... in any campaign), already in ``campaign``,
    or inside the vendor's per-number interval or daily cap given what was sent (batches
    submitting, accepted or unknown).
    """
    store = connect(db)
    wanted = set(phones)
    found: dict[str, str] = {}

    def mark(rows, reason: str) -> None:
        for (phone,) in rows:
            if phone in wanted and phone not in found:
                found[phone] = reason

    mark(reads.opted_out_phones(store), OPTED_OUT)
    if campaign is not None:
        mark(((p,) for p in recorded_phones(store, campaign)), ALREADY_IN_CAMPAIGN)
    when = when or clock.current()
    if limits.min_interval_seconds:
        window = dt.timedelta(seconds=limits.min_interval_seconds)
        start, end = (when - window).isoformat(), (when + window).isoformat()
        mark(reads.sent_between(store, vendor, start, end), TOO_SOON)
    if limits.daily_cap_per_number:
        day = when.replace(hour=0, minute=0, second=0, microsecond=0)
        start, end = day.isoformat(), (day + dt.timedelta(days=1)).isoformat()
        mark(reads.daily_count_phones(store, vendor, start, end, limits.daily_cap_per_number),
             DAILY_CAP)  # fmt: skip
    return found


def sendable_at(
    skips: dict[str, str],
    *,
    db: DbLike,
    vendor: str,
    limits: VendorLimits,
    when: dt.datetime | None = None,
) -> dict[str, dt.datetime]:
    """When each number held back by the vendor's per-number interval or daily cap (reasons
    from :func:`store_skips`) may be sent again, in Asia/Shanghai; the others have no such time.

    ``when`` is the time the send was meant for (default: now).
    """
    when = when or clock.current()
    found: dict[str, dt.datetime] = {}
    soon = {p for p, reason in skips.items() if reason == TOO_SOON}
    if soon and limits.min_interval_seconds:
        window = dt.timedelta(seconds=limits.min_interval_seconds)
        start, end = (when - window).isoformat(), (when + window).isoformat()
        for phone, last in reads.last_sent_between(connect(db), vendor, start, end):
            if phone in soon:
                found[phone] = clock.to_shanghai(dt.datetime.fromisoformat(last)) + window
    if limits.daily_cap_per_number:
        day = when.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
        found.update((p, day) for p, reason in skips.items() if reason == DAILY_CAP)
    return found
