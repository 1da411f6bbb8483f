"""Sending a plan: batch by batch, every state committed, resumable, nothing sent twice.

A batch moves ``planned -> submitting -> accepted | rejected | unknown``, each step committed
to the store before the next happens:

- ``accepted`` / ``rejected``: the vendor answered (a refusal keeps its code and message).
- ``unknown``: the request may have reached the vendor but the answer was lost (read timeout,
  connection reset, HTTP 5xx, a crash mid-call). It is never re-sent automatically, because
  the people in it may already have the message; ``resend_unknown=True`` says you checked.
- a batch whose request certainly never left (connection refused) goes back to ``planned``.

Calling :func:`send` again for the same campaign resumes: it sends only the batches never
submitted, plus numbers of the plan not yet in the campaign.

When calls go out is :mod:`campaign.timing`'s: a send window (Asia/Shanghai; the vendor's
default, marketing SMS 08:00-21:00) that ``send`` waits for or, with ``wait=False``, stops at;
a pace (``rate=`` numbers a minute, ``calls_per_second=``); and an expiry after which the
batches still ``planned`` become ``expired`` and are never sent, by this run or any later one.
Every wait goes through :func:`campaign.clock.sleep`.

Around each run that submits a batch, the vendor account's balance before and after and the
messages (or calls) the run got accepted are recorded in the store's ``balances`` table, so
that :func:`~campaign.cost_stats` can set the vendor's own count beside the expected one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from campaign import clock
from campaign.batching import (
    DAILY_CAP,
    INVALID,
    LINK_FIELD,
    TOO_SOON,
    Plan,
    check_stored_links,
    new_link_codes,
    sendable_at,
    short_url,
    store_skips,
    template_fields,
    template_text,
)
from campaign.errors import (
    InputError,
    NothingToSend,
    PayloadError,
    VendorResponseUnknown,
    VendorUnreachable,
)
from campaign.store import DbLike, Store, batches, connect
from campaign.store import links as store_links
from campaign.timing import SendControls, check_expiry, finish_time
from campaign.vendors import SendResult, VendorClient

__all__ = ["SEND_COLUMNS", "campaign_batches", "send"]

log = logging.getLogger(__name__)

#: Columns of the DataFrame :func:`send` returns, one row per batch of the campaign.
SEND_COLUMNS = batches.BATCH_COLUMNS


def send(
    plan: Plan,
    client: VendorClient,
    *,
    db: DbLike,
    campaign: str,
    concurrency: int = 4,
    rate: float | None = None,
    calls_per_second: float | None = None,
    window: tuple[str, str] | str | bool | None = None,
    wait: bool = True,
    expires_at: dt.datetime | str | None = None,
    expires_in: str | dt.timedelta | None = None,
    dry_run: bool = False,
    resend_unknown: bool = False,
    resend_rejected: bool = False,
    progress: bool = True,
    balance: bool = True,
) -> pd.DataFrame:
    """Send a plan through a vendor client, recording every step in the store.

    The campaign, its recipients and batches are recorded before the first call. Calling
    ``send`` again for the same campaign resumes where it stopped. Ctrl-C stops cleanly
    after the calls in flight (press it twice to stop at once; those calls become
    ``unknown``).

    Parameters
    ----------
    plan
        From :func:`~campaign.plan_batches`, for the client's vendor.
    client
        From :func:`campaign.vendor`.
    db, campaign
        The store (path or Database) and the campaign's name.
    concurrency
        Calls in flight at once for single-phone vendors (voice, verify code); group sends
        go one call at a time.
    rate
        At most this many numbers a minute (``rate=6000``): after a call of N numbers (a
        group call counts every number in it) the next starts N / rate minutes later at the
        soonest. The progress bar shows the expected finish. Default: as fast as the vendor
        answers. (It used to mean calls per second: that is ``calls_per_second`` now.)
    calls_per_second
        At most this many calls a second; with ``rate`` both hold.
    window
        The hours of the day, Asia/Shanghai, calls are submitted in: ``("08:00", "21:00")``
        or ``"08:00-21:00"``; an end before the start runs overnight (``("21:00",
        "08:00")``). ``None`` (the default): the plan's ``limits.send_window`` (marketing SMS,
        veesing-sms and jzyyun-sms: 08:00-21:00; verify codes, notices and voice: none).
        ``False``: any hour. A scheduled plan (``send_at``) is checked against the window at
        its ``send_at`` instead, and refused when outside it.
    wait
        Outside the window, wait until it opens (the progress bar says until when, in
        Shanghai time), and at its end wait for the next day's. ``False``: stop there
        instead, leaving the rest planned for the next run (a warning says so, and
        ``result.attrs["stopped"]`` and ``["resume_at"]``).
    expires_at, expires_in
        When the campaign's unsent batches expire: a time (text is Shanghai time, e.g.
        ``"2026-11-11 23:00"``; a naive datetime is this machine's local time) or a span from
        now (``"6h"``, ``"30min"``, a timedelta). Batches not submitted by then become
        ``expired`` and are never sent by any later run (resume included); ``expired`` rows
        of the result count them. Recorded with the campaign on its first run: a later run
        can bring the expiry forward, never push it back.
    dry_run
        Return the batches that would be sent; record and send nothing.
    resend_unknown, resend_rejected
        Also send batches whose outcome is unknown (check the vendor's console first: the
        people in them may already have the message) or that the vendor refused.
    progress
        Show a progress bar in numbers sent (hidden when not on a terminal or notebook).
    balance
        Record the vendor account's balance before and after each run that submits a batch,
        and the messages (SMS segments x numbers, or calls for voice) the run got accepted,
        for :func:`~campaign.cost_stats` to reconcile (the ``balances`` table). Before: one
        balance query. After: the last balance the vendor's answers reported (veesing's
        ``remainPoint``: no extra query), else one more query. Each query is asked once: one
        that fails is logged as a warning and recorded as unknown (None), and one the vendor
        refuses as asked too soon (jzyyun's 查询频繁, after a run shorter than its interval:
        never waited for) is recorded as unknown too; neither stops the send. ``False``
        asks and records nothing.

    Returns
    -------
    DataFrame
        Every batch of the campaign (not only this call's): campaign, batch, size, state,
        task_id, accepted (numbers the vendor took), code and message (the vendor's own),
        submitted_at, finished_at (ISO-8601, Asia/Shanghai) and attempts. ``attrs``:
        ``stopped`` says why this run stopped with batches still planned (outside the window
        with ``wait=False``, or the rest due after the expiry; None when it went through),
        ``resume_at`` when a run could send the rest (a datetime, or None) and
        ``expires_at`` the campaign's expiry (a datetime, or None).

    Raises
    ------
    NothingToSend
        A new campaign whose every number was skipped (already sent to within the vendor's
        per-number interval, opted out, invalid...): says why and when they can be sent, and
        records nothing.
    VendorUnreachable
        The vendor could not be reached; the batches not sent stay planned.
    InputError
        A wrong argument, named with what to pass: a window that is not two times of day,
        a rate or calls_per_second not above 0, an expiry already past (unless the campaign
        already expired at it: then its batches are marked expired and nothing is sent), a
        scheduled ``send_at`` outside the window.

    Examples
    --------
    >>> client = cp.vendor("jzyyun-sms")  # credentials from JZYYUN_USERNAME/PASSWORD
    >>> plan = cp.plan_batches("data/contacts.csv", vendor=client,
    ...                        content="【云通信】双11会员专享,回T退订")
    >>> sent = cp.send(plan, client, db="campaign.db", campaign="double11")  # doctest: +SKIP
    >>> sent.groupby("state")["size"].sum()  # doctest: +SKIP
    state
    accepted    40
    Name: size, dtype: int64
    >>> cp.send(plan, client, db="campaign.db", campaign="d11", window=("08:00", "21:00"),
    ...         rate=6000, expires_in="6h")  # doctest: +SKIP
    """
    _check_arguments(plan, client, campaign, concurrency)
    controls = SendControls.read(plan.limits, window=window, wait=wait, rate=rate,
                                 calls_per_second=calls_per_second, expires_at=expires_at,
                                 expires_in=expires_in)  # fmt: skip
    _check_scheduled(plan, controls)
    if dry_run:
        controls.check_expiry()
        frame = plan.batches.drop(columns=["phones"]).assign(
            campaign=campaign, state="planned", attempts=0
        )
        return frame.reindex(columns=list(SEND_COLUMNS))

    store = connect(db)
    states = ["planned"] + ["unknown"] * resend_unknown + ["rejected"] * resend_rejected
    stopped: tuple[str | None, dt.datetime | None] = (None, None)
    with store.send_lock(campaign):
        with store.transaction():  # the reads in _record belong to the same transaction
            recorded = _record(store, plan, campaign)
            expiry = _campaign_expiry(store, campaign, controls.expires_at)
        controls = dataclasses.replace(controls, expires_at=expiry)
        _mark_interrupted(store, campaign)
        expired = _expire_if_due(store, campaign, expiry)
        if expired:
            stopped = (expired, None)
        _drop_opted_out(store, campaign, states, recorded)
        todo = [] if expired else batches.pending(store, campaign, states, known=recorded)
        if todo:
            stopped = _run_with_balance(
                store, plan, client, campaign, todo, states, concurrency, controls, progress,
                balance=balance,
            )  # fmt: skip
    result = batches.batches_frame(store, campaign)
    result.attrs.update(stopped=stopped[0], resume_at=stopped[1], expires_at=expiry)
    unknown = result[result["state"] == "unknown"]
    if len(unknown) and not resend_unknown:
        log.warning(
            "%s: %d batch(es), %d numbers, have an unknown outcome (the vendor may have sent "
            "them); check the vendor's console, then send(..., resend_unknown=True) if not",
            campaign, len(unknown), int(unknown["size"].sum()),
        )  # fmt: skip
    return result


def campaign_batches(db: DbLike, campaign: str) -> pd.DataFrame:
    """Every batch of a campaign with its state, as :func:`send` returns it.

    >>> batches = cp.campaign_batches("campaign.db", "double11-A")
    >>> batches[["batch", "size", "state", "accepted", "message"]].head(3)
       batch  size     state  accepted message
    0      1  1000  accepted      1000      成功
    1      2  1000  accepted      1000      成功
    2      3  1000  accepted      1000      成功
    >>> cp.campaign_batches("campaign.db", "double11-a")
    Traceback (most recent call last):
    ...
    campaign.errors.InputError: no campaign 'double11-a' in this store; it has: double11-A, ...
    """
    store = connect(db, existing=True)
    known = batches.campaign_names(store)
    if campaign not in known:
        raise InputError(
            f"no campaign {campaign!r} in this store; it has: {', '.join(known) or 'none yet'}"
        )
    return batches.batches_frame(store, campaign)


# --------------------------------------------------------------------------- recording


def _check_arguments(plan, client, campaign, concurrency) -> None:
    if not isinstance(plan, Plan):
        raise InputError(f"send needs a Plan from cp.plan_batches, not {type(plan).__name__}")
    if not isinstance(client, VendorClient):
        raise InputError(f"send needs a client from cp.vendor(), not {type(client).__name__}")
    if client.vendor != plan.vendor:
        raise InputError(
            f"the plan is for {plan.vendor} but the client is {client.vendor}: plan again "
            f"with vendor={client.vendor!r} (limits differ)"
        )
    largest = int(plan.batches["size"].max()) if len(plan.batches) else 0
    if largest > client.limits.max_phones_per_call:
        raise InputError(
            f"the plan has calls of {largest:,} numbers but this {client.vendor} client takes "
            f"at most {client.limits.max_phones_per_call:,} a call: plan again with "
            "vendor=client so that the plan uses the client's limits"
        )
    if not isinstance(campaign, str) or not campaign.strip():
        raise InputError("campaign must be a non-empty name, e.g. campaign='double11'")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(f"concurrency must be a whole number >= 1, not {concurrency!r}")


def _check_scheduled(plan: Plan, controls: SendControls) -> None:
    """A scheduled plan goes out at its ``send_at``: that is what the window must allow."""
    window = controls.window
    if plan.send_at is not None and window is not None and not window.is_open(plan.send_at):
        raise InputError(
            f"the plan is scheduled for {plan.send_at:%Y-%m-%d %H:%M:%S} Asia/Shanghai, outside "
            f"the send window {window} ({controls.window_source}): plan with a send_at inside "
            "it, or pass window=False to send outside it"
        )


# --------------------------------------------------------------------------- expiry


def _campaign_expiry(store: Store, campaign: str, given: dt.datetime | None) -> dt.datetime | None:
    """The campaign's expiry (inside the caller's transaction): the one recorded, or
    ``given`` when there is none or ``given`` is earlier (an expiry is brought forward,
    never pushed back: re-running ``expires_in="6h"`` the next morning must not revive a
    campaign). An expiry given in the past is an InputError, unless the campaign already
    expired then."""
    text = batches.campaign_expiry(store, campaign)
    recorded = clock.to_shanghai(dt.datetime.fromisoformat(text)) if text else None
    if given is None:
        return recorded
    if recorded is not None and given >= recorded:
        if given > recorded:
            log.warning(
                "%s: expires at %s, as recorded; the later expiry %s is ignored (an expiry "
                "can be brought forward, never pushed back: send as a new campaign instead)",
                campaign, _at(recorded), _at(given),
            )  # fmt: skip
        return recorded
    check_expiry(given)
    batches.set_expiry(store, campaign, given.isoformat(timespec="seconds"))
    if recorded is not None:
        log.info("%s: expiry brought forward from %s to %s", campaign, _at(recorded), _at(given))
    return given


def _expire_if_due(store: Store, campaign: str, expiry: dt.datetime | None) -> str | None:
    """When the expiry has passed: the batches still planned become expired (said in a
    warning) and nothing is sent, re-sends included. Returns what happened, or None."""
    if expiry is None or clock.current() < expiry:
        return None
    note = _expire_rest(store, campaign, expiry)
    log.warning("%s: %s", campaign, note)
    return note


def _expire_rest(store: Store, campaign: str, expiry: dt.datetime) -> str:
    """The expiry has passed: the batches still planned become expired. Returns it in
    words."""
    with store.transaction():
        gone = batches.expire(store, campaign, expires_at=expiry.isoformat(timespec="seconds"))
    return (
        f"expired at {_at(expiry)}: {len(gone):,} batch(es), {sum(n for _, n in gone):,} numbers "
        "not submitted before it are never sent"
    )


def _record(store: Store, plan: Plan, campaign: str) -> dict[int, list[str]]:
    """Record the campaign and the plan's numbers not yet in it (inside the caller's
    transaction). Returns the new batches' numbers, so that sending them need not read them
    back."""
    row = batches.campaign_row(store, campaign)
    send_at = plan.send_at.isoformat() if plan.send_at else None
    message = (plan.content, plan.template_id, plan.variables)
    if row is not None:  # a new campaign is recorded below, once it has someone to send to
        if row[0] != plan.vendor or tuple(row[1:4]) != message:
            raise InputError(
                f"campaign {campaign!r} was started with {row[0]} and another message; "
                "send this plan as a new campaign (a different campaign= name)"
            )
        if row[4] != send_at:
            raise InputError(
                f"campaign {campaign!r} was scheduled for {row[4] or 'now'}, this plan for "
                f"{send_at or 'now'}: plan with the same send_at, or use a new campaign name"
            )

    recipients = plan.recipients
    known = batches.recorded_phones(store, campaign)
    phones = recipients["phone"].to_numpy(dtype=object)
    fresh = ~np.isin(phones, list(known)) if known else np.ones(len(phones), dtype=bool)
    late: dict[str, str] = {}
    if fresh.any():
        # the store may have changed since planning (another campaign sent, an opt-out)
        late = store_skips(phones[fresh], db=store, vendor=plan.vendor,
                           limits=plan.limits, when=plan.send_at)  # fmt: skip
        if late:
            log.warning(
                "%s: %d number(s) left out since planning: %s", campaign, len(late),
                pd.Series(list(late.values())).value_counts().to_dict(),
            )  # fmt: skip
            fresh &= ~np.isin(phones, list(late))
    if not fresh.any() and not known:  # a campaign of nobody: say why, record nothing
        raise _nothing_to_send(store, plan, campaign, late)
    if row is None:
        batches.record_campaign(
            store, campaign, vendor=plan.vendor, channel=plan.limits.channel,
            content=plan.content, template_id=plan.template_id, variables=plan.variables,
            send_at=send_at,
        )  # fmt: skip
    recorded = {}
    if fresh.any():
        groups, texts = _texts_of(plan, fresh)
        recorded = batches.record_plan(
            store, campaign, recipients.loc[fresh], vendor=plan.vendor,
            batch_size=int(plan.batches["size"].max()) if len(plan.batches) else 1,
            segments=plan.segments or 1, groups=groups, texts=texts,
        )  # fmt: skip
    held = plan.held_out
    if len(held):  # the holdout: recorded with the campaign, in a batch that is never sent
        new = ~held["phone"].isin(known) if known else np.ones(len(held), dtype=bool)
        batches.record_plan(store, campaign, held.loc[new], vendor=plan.vendor,
                            batch_size=1, segments=plan.segments or 1, held_out=True)  # fmt: skip
    if plan.link_per is not None:
        _record_links(store, plan, campaign, phones[fresh].tolist())
    return recorded


def _texts_of(plan: Plan, fresh: np.ndarray) -> tuple[np.ndarray | None, list | None]:
    """For a personalised plan, the text (0, 1, ...) of each recipient in ``fresh`` and each
    text with its segments, for :func:`~campaign.store.batches.record_plan`; (None, None) when
    the plan sends one text."""
    if plan.templates is None:
        return None, None
    index: dict[tuple, int] = {}
    texts: list[batches.Text] = []
    segments = plan.batches["segments"].tolist()
    batch_text = np.empty(len(plan.templates), dtype=np.int64)
    for at, ((content, variables), billed) in enumerate(zip(plan.templates, segments,
                                                            strict=True)):  # fmt: skip
        key = (content, variables, int(billed))
        if key not in index:
            index[key] = len(texts)
            texts.append(batches.Text(*key))
        batch_text[at] = index[key]
    planned_batch = plan.recipients["batch"].to_numpy(dtype=np.int64)[fresh] - 1
    return batch_text[planned_batch], texts


#: Times a number's own code is drawn again when another campaign took it meanwhile.
_CODE_DRAWS = 5


def _record_links(store: Store, plan: Plan, campaign: str, fresh: list[str]) -> None:
    """Store the plan's tracking links with the campaign (inside the caller's transaction),
    and check that they fit the campaign's (a plan made without the store may not) and that
    every number recorded now has its link. A code another campaign holds is drawn again for
    a number's own link; the campaign's one code is in its content, so a taken one means
    planning again."""
    base = plan.links["url"].iloc[0].rsplit("/c/", 1)[0] if len(plan.links) else None
    check_stored_links(store_links.campaign_links(store, campaign), campaign=campaign,
                       link=plan.link, base=base, link_per=plan.link_per)  # fmt: skip
    created = clock.current().isoformat()
    rows = [
        (code, campaign, phone, target, url, created)
        for code, phone, target, url in plan.links.itertuples(index=False, name=None)
    ]
    for _ in range(_CODE_DRAWS):
        store_links.write_links(store, rows)
        shared, own = store_links.link_urls(store, campaign)
        if plan.link_per == "campaign":
            if shared is None or shared not in (plan.content or ""):
                raise InputError(
                    f"campaign {campaign!r}: its tracking code is taken by another campaign; "
                    "plan again (a new code is drawn), then send"
                )
            return
        missing = [phone for phone in fresh if phone not in own]
        if not missing:
            return
        if base is None:
            break
        log.info("%s: %d tracking code(s) taken meanwhile; drawn again", campaign, len(missing))
        codes = new_link_codes(len(missing))
        rows = [
            (code, campaign, phone, plan.link, short_url(base, code), created)
            for phone, code in zip(missing, codes, strict=True)
        ]
    raise InputError(
        f"campaign {campaign!r}: numbers of this plan have no tracking link; plan again with "
        "link=, link_base= and link_per='recipient', then send"
    )


def _nothing_to_send(
    store: Store, plan: Plan, campaign: str, late: dict[str, str]
) -> NothingToSend:
    """Why a new campaign has nobody to send to, and when waiting would help."""
    skipped = plan.skipped
    reasons = skipped["skip_reason"].value_counts().to_dict() if len(skipped) else {}
    for reason in late.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    if not reasons:
        return NothingToSend(
            f"nothing to send in campaign {campaign!r}: the plan has no numbers; nothing was "
            "recorded",
            reasons={},
        )
    waits = (TOO_SOON, DAILY_CAP)  # the reasons that time lifts
    held = {p: r for p, r in zip(skipped["phone"], skipped["skip_reason"], strict=True)
            if r in waits} | {p: r for p, r in late.items() if r in waits}  # fmt: skip
    times = sendable_at(held, db=store, vendor=plan.vendor, limits=plan.limits,
                        when=plan.send_at)  # fmt: skip
    folded: dict[str, int] = {}  # "invalid number: landline" and the like as one count
    for reason, n in reasons.items():
        key = INVALID if reason.startswith(f"{INVALID}:") else reason
        folded[key] = folded.get(key, 0) + n
    counts = "; ".join(f"{n:,} {reason}" for reason, n in folded.items())
    text = (
        f"nothing to send in campaign {campaign!r}: all {sum(reasons.values()):,} numbers were "
        f"skipped ({counts})"
    )
    first = min(times.values()) if times else None
    if first is not None:
        last = max(times.values())
        if plan.send_at is None:
            wait = clock.duration((first - clock.current()).total_seconds())
            text += f"; the first can be sent at {_at(first)} (in {wait})"
        else:
            text += f"; a send_at of {_at(first)} or later would take the first of them"
        if last > first:
            text += f", all {len(times):,} by {_at(last)}"
        text += "; run send again then"
    else:
        text += "; waiting will not change that"
    return NothingToSend(f"{text}. Nothing was recorded", reasons=reasons, sendable_at=first)


def _at(moment) -> str:
    """A time for a message: the clock time if today in Shanghai, else date and time."""
    if moment.date() == clock.current().date():
        return f"{moment:%H:%M:%S} Asia/Shanghai"
    return f"{moment:%Y-%m-%d %H:%M:%S} Asia/Shanghai"


def _mark_interrupted(store: Store, campaign: str) -> None:
    """Batches left 'submitting' by a crash may have reached the vendor: mark them unknown."""
    with store.transaction():
        hit = batches.mark_interrupted(store, campaign)
    if hit:
        log.warning("%s: %d batch(es) were interrupted mid-call: now 'unknown'", campaign, hit)


def _drop_opted_out(
    store: Store, campaign: str, states: list[str], recorded: dict[int, list[str]]
) -> None:
    """Numbers that opted out since they were recorded leave the batches still to send."""
    with store.transaction():
        gone = batches.drop_opted_out(store, campaign, states)
    if not gone:
        return
    for batch, phone in gone:
        if batch in recorded:
            recorded[batch].remove(phone)
            if not recorded[batch]:
                del recorded[batch]
    log.warning(
        "%s: %d number(s) opted out since they were recorded; they are not sent",
        campaign, len(gone),
    )  # fmt: skip


# --------------------------------------------------------------------------- balances


def _run_with_balance(store, plan, client, campaign, todo, states, *run, balance):
    """:func:`_run`, with the vendor's balance read before and after when ``balance``; the
    run is recorded (:func:`_record_balance`) whenever a call reached the vendor, even when
    the run then stopped on an error (what was accepted was drawn from the balance), but not
    after a second Ctrl-C (stop at once: no further vendor call). Returns what :func:`_run`
    does."""
    if not balance:
        return _run(store, plan, client, campaign, todo, states, *run)
    started_at = clock.now()
    before = _read_balance(client, campaign, "before")
    tally = _Tally(client)
    interrupted = False
    try:
        return _run(store, plan, tally, campaign, todo, states, *run)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if tally.calls and not interrupted:
            after = tally.remaining
            if after is None:
                after = _read_balance(client, campaign, "after")
            _record_balance(store, client, campaign, todo, before, after, started_at)


def _read_balance(client: VendorClient, campaign: str, side: str) -> float | None:
    """The client's balance, asked once, or None when the vendor cannot say: refused,
    unreachable, an unreadable answer (a warning), or asked too soon after the last reading
    (jzyyun's 查询频繁 after a short run: logged at INFO, as expected; never waited for, so
    that no send waits on a balance). The log line carries the vendor's words, never a
    credential."""
    try:
        return float(client.balance(wait=False))  # a rate limit never holds the send up
    except Exception as exc:  # whatever went wrong, the send goes on
        what = client.redact(str(exc) or type(exc).__name__)
        # asked too soon after the last reading (a short run): expected, not a failure
        level = logging.INFO if getattr(exc, "rate_limited", False) else logging.WARNING
        log.log(level, "%s: the %s balance could not be read, recorded as unknown: %s",
                campaign, side, what)  # fmt: skip
        return None


def _record_balance(store, client, campaign, todo, before, after, started_at) -> None:
    """One run's balances and accepted messages, in a transaction of their own."""
    try:
        with store.transaction():
            expected = store_links.accepted_messages(store, campaign, [b for b, _ in todo])
            store_links.write_balance(
                store, campaign, client.vendor, before=before, after=after, expected=expected,
                started_at=started_at, finished_at=clock.now(),
            )  # fmt: skip
    except Exception as exc:  # the sends are recorded already: only this row is lost
        log.warning("%s: the balances of this run could not be recorded: %s", campaign, exc)
        return
    if before is not None and after is not None and before - after != expected:
        log.info(
            "%s: the %s balance went from %g to %g (%g drawn) for %d message(s) accepted; "
            "see cost_stats", campaign, client.vendor, before, after, before - after, expected,
        )  # fmt: skip


class _Tally:
    """The client as :func:`_run` sees it: counts the calls that may have reached the vendor
    and keeps the balance its answers reported (veesing's ``remainPoint``): the lowest, since
    with calls in flight at once the last answer to arrive need not be the last the vendor
    processed. Everything else is the client's own."""

    def __init__(self, client: VendorClient):
        self._client = client
        self._lock = threading.Lock()
        self.calls = 0
        self.remaining: float | None = None

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def send(self, *args, **kwargs) -> SendResult:
        try:
            result = self._client.send(*args, **kwargs)
        except VendorUnreachable:
            raise  # the request never left
        except InputError as exc:
            if not isinstance(exc, PayloadError):
                raise  # refused before any request
            self._note(None)
            raise
        except Exception:
            self._note(None)
            raise
        self._note(result.remaining)
        return result

    def _note(self, remaining: int | None) -> None:
        with self._lock:
            self.calls += 1
            if remaining is not None:
                value = float(remaining)
                self.remaining = value if self.remaining is None else min(self.remaining, value)


# --------------------------------------------------------------------------- sending


def _run(store, plan, client, campaign, todo, states, concurrency, controls, progress):
    """Send the batches ``todo``: each claimed (committed) before its call, each answer's
    state committed before the next claim. The answers of one round and the claims of the
    next go in one transaction: one commit per call instead of two (on PostgreSQL each
    commit waits for a WAL flush).

    Before each claim the :class:`_Gate` says whether the call may go now (the pace, the
    window, the expiry), must wait (done here with nothing in flight, through
    :func:`campaign.clock.sleep`; with calls in flight, by waiting for their answers at most
    that long), or must not go at all. Returns (why the run stopped early, when a later run
    could go on), or (None, None)."""
    workers = concurrency if plan.limits.single_phone_only else 1
    pacer = _Pacer(controls)
    gate = _Gate(controls, pacer, scheduled=plan.send_at is not None)
    halted: tuple[str | None, dt.datetime | None] = (None, None)
    expire_now = False
    stop = threading.Event()
    unreachable: VendorUnreachable | None = None
    failure: BaseException | None = None
    total = sum(len(p) for _, p in todo)
    claims: dict[int, batches.Claim] = {}  # what a claimed batch was, to restore it
    marks: list[tuple[int, str, object]] = []  # answers not yet committed: batch, kind, what
    message_of = _contents(store, plan, campaign, todo)

    def submit(batch: int, phones: list[str]) -> SendResult:
        content, variables = message_of(batch, phones)
        return client.send(
            phones,
            content=content,
            template_id=plan.template_id,
            variables=variables,
            send_at=plan.send_at,
        )

    def record(batch: int, kind: str, what: object) -> None:
        """One answer's transition, inside the caller's transaction."""
        if kind == "answered":
            result: SendResult = what  # type: ignore[assignment]
            mark = batches.mark_accepted if result.ok else batches.mark_rejected
            mark(store, campaign, batch, task_id=result.task_id, accepted=result.accepted,
                 code=result.code, message=result.message)  # fmt: skip
        elif kind == "unknown":
            batches.mark_unknown(store, campaign, batch,
                                 message=f"{type(what).__name__}: {what}")  # fmt: skip
        else:  # the request certainly never left: the batch is as it was, with the reason
            batches.restore(store, claims[batch], why=str(what))

    def commit(starting: list[tuple[int, list[str]]]) -> list[tuple[int, list[str]]]:
        """The answers waiting, then the claims of ``starting``, in one transaction; the
        items claimed (someone else may have moved a batch: it is never sent twice)."""
        claimed = []
        with store.transaction():
            for batch, kind, what in marks:
                record(batch, kind, what)
            for item in starting:
                got = batches.claim(store, campaign, item[0], states)
                if got is None:
                    log.warning("%s: batch %d changed state meanwhile; skipped", campaign,
                                item[0])  # fmt: skip
                    continue
                claims[item[0]] = got
                claimed.append(item)
        marks.clear()
        return claimed

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send")
    interrupted = False
    try:
        with (
            _stop_on_ctrl_c(stop),
            tqdm(
                total=total, unit="号码", desc=campaign, disable=None if progress else True
            ) as bar,
        ):
            inflight: dict[Future, tuple[int, list[str]]] = {}
            queue = iter(todo)
            upcoming = next(queue, None)
            taken = 0  # items of todo claimed so far
            _show_finish(bar, todo, controls, plan)
            while True:
                starting: list[tuple[int, list[str]]] = []
                hold: dt.datetime | None = None  # the next claim waits until then
                while upcoming is not None and len(inflight) + len(starting) < workers:
                    if stop.is_set() or halted[0] or (starting and controls.paced):
                        break  # paced: one claim a round, the next when its time comes
                    step, until, why = gate.check(clock.current())
                    if step == "expired":
                        expire_now = True
                        break
                    if step == "halt":
                        halted = (why, until)
                        break
                    if step == "wait":
                        if inflight or starting:  # their answers first, then wait
                            hold = until
                            break
                        _sleep_until(until, stop, bar, campaign, why)
                        if why:  # a window wait: the finish moved
                            _show_finish(bar, todo[taken:], controls, plan)
                        continue
                    starting.append(upcoming)
                    pacer.started(clock.current(), len(upcoming[1]))
                    taken += 1
                    upcoming = next(queue, None)
                if marks or starting:
                    for item in commit(starting):
                        inflight[pool.submit(submit, *item)] = item
                if expire_now:
                    halted = (_expire_rest(store, campaign, controls.expires_at), None)
                    expire_now = False
                if not inflight:
                    if upcoming is None or stop.is_set() or halted[0]:
                        break
                    continue
                timeout = None  # room for another call: wake up when it is due
                if upcoming is not None and not halted[0] and len(inflight) < workers:
                    due = hold or (pacer.next if controls.paced else None)
                    if due is not None:
                        timeout = max((due - clock.current()).total_seconds(), 0.0)
                done, _ = wait(inflight, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    batch, phones = inflight.pop(future)
                    error = future.exception()
                    if error is None:
                        marks.append((batch, "answered", future.result()))
                    elif isinstance(error, VendorUnreachable):
                        marks.append((batch, "restore", error))  # never reached the vendor
                        unreachable = unreachable or error
                        stop.set()
                    elif isinstance(error, InputError) and not isinstance(error, PayloadError):
                        marks.append((batch, "restore", error))  # refused before any request
                        failure = failure or error
                        stop.set()
                    else:  # an unreadable answer, a lost one, or a bug: it may have gone out
                        marks.append((batch, "unknown", error))
                        if not isinstance(error, VendorResponseUnknown | PayloadError):
                            failure = failure or error
                            stop.set()
                    bar.update(len(phones))
    except KeyboardInterrupt:
        # the second Ctrl-C: stop at once; calls in flight stay 'submitting' and become
        # 'unknown' on the next run, since they may have reached the vendor
        interrupted = True
        raise
    finally:
        if marks:  # answers that arrived: keep them whatever stopped the loop
            with contextlib.suppress(Exception):
                commit([])
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    if failure is not None:
        raise failure
    if unreachable is not None:
        left = batches.count_in_state(store, campaign, "planned")
        why = str(unreachable).removeprefix(f"{client.vendor}: ")
        raise VendorUnreachable(
            f"stopped: {why}; {left} batch(es) still planned: run send again to resume",
            vendor=client.vendor,
        ) from unreachable
    if stop.is_set():
        log.warning("%s: stopped by Ctrl-C between calls; run send again to resume", campaign)
    elif halted[0]:
        log.warning("%s: %s", campaign, halted[0])
    return halted


def _contents(store: Store, plan: Plan, campaign: str, todo: list[tuple[int, list[str]]]):
    """What each call sends, as ``(content, variables)`` for a batch and its numbers.

    The plan's content or variables; for a personalised campaign (``{column}`` fields), the
    batch's own text, kept in the store with the batch when it was recorded (so batches an
    earlier plan made, resumed after a crash, send theirs); and where the text has ``{link}``
    (one link per number), that number's own link, read once from the store. Checked before
    the first call: a batch without its text or a number without its link fails the run,
    and no ``{field}`` is ever sent as it is."""
    limits = plan.limits
    what = "variables" if limits.message == "template" else "content"
    template = plan.variables if what == "variables" else plan.content
    fields = template_fields(template, what=what) if isinstance(template, str) else []
    personal = any(f != LINK_FIELD for f in fields)
    linked = what == "content" and LINK_FIELD in fields
    stored = batches.batch_texts(store, campaign) if personal else {}
    if personal:
        for batch, _phones in todo:
            if batch not in stored:
                raise InputError(
                    f"campaign {campaign!r}: batch {batch} has no text of its own in the store "
                    f"but the campaign's {what} has fields ({', '.join(fields)}): plan again "
                    "with db= and campaign= (the numbers not yet sent get their texts), then "
                    "send. Nothing was sent"
                )
    own: dict[str, str] = {}
    if linked:
        _shared, own = store_links.link_urls(store, campaign)
        for batch, phones in todo:
            if len(phones) != 1 or phones[0] not in own:
                why = (
                    f"has {len(phones):,} numbers, and a call carries one text"
                    if len(phones) != 1 else "has a number with no tracking link in the store"
                )  # fmt: skip
                raise InputError(
                    f"campaign {campaign!r}: batch {batch} {why}; each number has its own "
                    "link: plan again with link=, link_base= and link_per='recipient' (and "
                    "db=, campaign=), then send. Nothing was sent"
                )

    def text(form: str | None, phones: list[str]) -> str | None:
        if form is None:
            return None
        return template_text(form, {LINK_FIELD: own[phones[0]]} if linked else None)

    if not personal and not linked:  # one text for every call: made once
        one = text(template, [])
        message = (one, plan.variables) if what == "content" else (plan.content, one)
        return lambda batch, phones: message

    def message_of(batch: int, phones: list[str]) -> tuple[str | None, str | None]:
        content, variables = stored[batch] if personal else (plan.content, plan.variables)
        if what == "content":
            return text(content, phones), variables
        return content, text(variables, phones)

    return message_of


class _Pacer:
    """Spaces calls: after a call of N numbers the next starts no sooner than N / rate
    minutes (``rate``: numbers a minute) and 1 / calls_per_second seconds later. Times are
    :func:`campaign.clock.current`'s, so a test's fake clock paces too."""

    def __init__(self, controls: SendControls):
        self.controls = controls
        self.next = clock.current()

    def started(self, now: dt.datetime, numbers: int) -> None:
        """A call of ``numbers`` numbers starts ``now``: when the next may."""
        if self.controls.paced:
            gap = float(self.controls.spacing(np.array([numbers]))[0])
            self.next = max(self.next, now) + dt.timedelta(seconds=gap)


class _Gate:
    """Whether the next call may go now: the pace, the window (for a scheduled plan its
    ``send_at`` was checked instead) and the expiry. :meth:`check` answers one of

    - ``("go", None, None)``;
    - ``("wait", until, why)``: not before ``until`` (``why`` None for the pace, else what
      the progress bar says while waiting for the window, or for the expiry when the next
      chance comes after it: then the rest expire, counted in this run's result);
    - ``("halt", resume_at, why)``: not in this run (``wait=False``): outside the window
      (``resume_at`` when it opens), or the next chance comes after the expiry
      (``resume_at`` None);
    - ``("expired", None, None)``: the expiry has passed: the rest expire."""

    def __init__(self, controls: SendControls, pacer: _Pacer, *, scheduled: bool):
        self.controls, self.pacer = controls, pacer
        self.window = None if scheduled else controls.window

    def check(self, now: dt.datetime) -> tuple[str, dt.datetime | None, str | None]:
        expiry, window = self.controls.expires_at, self.window
        if expiry is not None and now >= expiry:
            return "expired", None, None
        due = max(now, self.pacer.next) if self.controls.paced else now
        opens = window.opens_at(due) if window is not None else due
        if expiry is not None and opens >= expiry:  # the rest can only expire
            why = "the window opens" if opens > due else "the next call is due"
            if self.controls.wait:
                return "wait", expiry, f"{why} at {_at(opens)}: waiting for the expiry"
            text = (f"stopped: {why} at {_at(opens)}, after the campaign expires at "
                    f"{_at(expiry)}; the batches still planned expire unsent then")  # fmt: skip
            return "halt", None, text
        if opens <= now:
            return "go", None, None
        if opens == due:
            return "wait", due, None
        if not self.controls.wait:
            text = (f"stopped outside the send window {window} (Asia/Shanghai), wait=False: "
                    "the batches still planned are left for the next run; run send again from "
                    f"{_at(opens)} to resume")  # fmt: skip
            return "halt", opens, text
        return "wait", opens, f"outside the window {window}: waiting until {_at(opens)}"


#: The longest single sleep: a long wait re-reads the clock this often (a laptop that slept
#: wakes to the right time, and Ctrl-C is never far away).
_NAP = 60.0


def _sleep_until(moment: dt.datetime, stop: threading.Event, bar, campaign: str, why) -> None:
    """Wait until ``moment`` through :func:`campaign.clock.sleep` (``stop`` ends it early);
    a window wait is logged and shown in the progress bar's description."""
    if why:
        log.info("%s: %s", campaign, why)
        bar.set_description(f"{campaign} ({why})", refresh=True)
    while not stop.is_set():
        left = (moment - clock.current()).total_seconds()
        if left <= 0:
            break
        clock.sleep(min(left, _NAP), stop)
    if why:
        bar.set_description(campaign, refresh=True)


def _show_finish(bar, todo, controls: SendControls, plan: Plan) -> None:
    """The expected finish (paced sends) in the progress bar, in Shanghai time."""
    sizes = [len(phones) for _, phones in todo]
    window = controls if plan.send_at is None else dataclasses.replace(controls, window=None)
    finish = finish_time(sizes, start=clock.current(), controls=window)
    if finish is not None:
        bar.set_postfix_str(f"finish ≈ {_at(finish)}", refresh=True)


@contextlib.contextmanager
def _stop_on_ctrl_c(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C: finish the calls in flight, start no more. Second: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if stop.is_set():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
