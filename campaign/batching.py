"""Plans: which numbers go in which vendor call, within the vendor's limits and rules.

Nothing here talks HTTP or names a vendor: every rule is read from the vendor's
:class:`~campaign.vendors.VendorLimits`, and what was already sent or opted out is read
from the store.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import math
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
from campaign.store.batches import recorded_phones
from campaign.timing import SendControls, SendTiming, estimate
from campaign.vendors import (
    VendorClient,
    VendorLimits,
    check_message,
    check_send_at,
    vendor_keys,
    vendor_limits,
)

__all__ = [
    "BATCH_COLUMNS",
    "LINK_ALPHABET",
    "LINK_CODE_LENGTH",
    "LINK_COLUMNS",
    "LINK_PER",
    "LINK_PLACEHOLDER",
    "SKIP_REASONS",
    "Plan",
    "check_stored_links",
    "count_segments",
    "new_link_codes",
    "plan_batches",
    "render_link",
    "sendable_at",
    "short_url",
    "store_skips",
]

log = logging.getLogger(__name__)

#: Columns of :attr:`Plan.batches`.
BATCH_COLUMNS = ("batch", "size", "phones", "segments", "messages")

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
        11-digit strings), ``segments`` (billed SMS per number; 1 for voice) and ``messages``
        (size x segments).
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
        """Billed SMS per number (1 for voice and template sends)."""
        return int(self.batches["segments"].iloc[0]) if len(self.batches) else 0

    def __len__(self) -> int:
        return self.numbers

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a dict."""
        return {
            "vendor": self.vendor,
            "campaign": self.campaign,
            "numbers": self.numbers,
            "calls": len(self.batches),
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
        lines = [
            f"<Plan {s['vendor']}: {_count(s['numbers'], 'number')} in "
            f"{_count(s['calls'], 'call')}, {_count(s['segments'], 'segment')} each, "
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
            ("segments per number", s["segments"]),
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
    """
    key, limits = _vendor(vendor)
    link_per = _check_link(content, link=link, link_base=link_base, link_per=link_per,
                           limits=limits, vendor=key)  # fmt: skip
    size = _batch_size(batch_size, limits, key)
    if link_per == "recipient":
        size = _one_number_per_call(batch_size)
    base = link_base.rstrip("/") if link_per else None
    sample = content  # the text as sent: any code gives the same length and characters
    if link_per:
        sample = render_link(content, short_url(base, new_link_codes(1)[0]))
    plan_warnings = check_message(
        content=sample, template_id=template_id, variables=variables, limits=limits, vendor=key
    )
    moment = check_send_at(send_at, limits=limits, vendor=key)

    frame = contacts
    if not (isinstance(frame, pd.DataFrame) and set(OUTPUT_COLUMNS) <= set(frame.columns)):
        frame = load_phones(contacts)
    if link_per:
        _check_one_variant(frame)

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
    segments = count_segments(sample, limits)
    batches = _split(phones, size, segments)
    links = pd.DataFrame(columns=list(LINK_COLUMNS))
    if link_per:
        existing = []
        if db is not None and campaign is not None:
            existing = store_links.campaign_links(connect(db), campaign)
        links = _plan_links(phones, existing, link=link, base=base, link_per=link_per,
                            campaign=campaign)  # fmt: skip
        if link_per == "campaign":
            content = render_link(content, links["url"].iloc[0])

    recipients = planned.copy()
    recipients["batch"] = np.repeat(np.arange(1, len(batches) + 1), batches["size"].to_numpy())
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
    )
    log.info("%r", plan)
    return plan


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
    """``content`` with ``url`` in place of ``{link}``.

    >>> render_link("【云通信】双11五折 {link} 回T退订", "https://t.example.com/c/Ab3dEfG")
    '【云通信】双11五折 https://t.example.com/c/Ab3dEfG 回T退订'
    """
    return content.replace(LINK_PLACEHOLDER, url)


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
    has_placeholder = isinstance(content, str) and LINK_PLACEHOLDER in content
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
        columns=list(BATCH_COLUMNS),
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
