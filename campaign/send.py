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
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils
from tqdm.auto import tqdm

from campaign.batching import Plan, store_skips
from campaign.errors import (
    InputError,
    PayloadError,
    SendInProgress,
    VendorResponseUnknown,
    VendorUnreachable,
)
from campaign.store import DbLike, now, open_db
from campaign.vendors import SendResult, VendorClient

__all__ = ["SEND_COLUMNS", "campaign_batches", "send"]

log = logging.getLogger(__name__)

#: Columns of the DataFrame :func:`send` returns, one row per batch of the campaign.
SEND_COLUMNS = (
    "campaign", "batch", "size", "state", "task_id", "accepted", "code", "message",
    "submitted_at", "finished_at", "attempts",
)  # fmt: skip


def send(
    plan: Plan,
    client: VendorClient,
    *,
    db: DbLike,
    campaign: str,
    concurrency: int = 4,
    rate: float | None = None,
    dry_run: bool = False,
    resend_unknown: bool = False,
    resend_rejected: bool = False,
    progress: bool = True,
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
        At most this many calls per second (default: as fast as the vendor answers).
    dry_run
        Return the batches that would be sent; record and send nothing.
    resend_unknown, resend_rejected
        Also send batches whose outcome is unknown (check the vendor's console first: the
        people in them may already have the message) or that the vendor refused.
    progress
        Show a progress bar in numbers sent (hidden when not on a terminal or notebook).

    Returns
    -------
    DataFrame
        Every batch of the campaign (not only this call's): campaign, batch, size, state,
        task_id, accepted (numbers the vendor took), code and message (the vendor's own),
        submitted_at, finished_at (ISO-8601, Asia/Shanghai) and attempts.

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
    """
    _check_arguments(plan, client, campaign, concurrency, rate)
    if dry_run:
        frame = plan.batches.drop(columns=["phones"]).assign(
            campaign=campaign, state="planned", attempts=0
        )
        return frame.reindex(columns=list(SEND_COLUMNS))

    database = open_db(db)
    states = ["planned"] + ["unknown"] * resend_unknown + ["rejected"] * resend_rejected
    with _sending(database, campaign):
        recorded = _record(database, plan, campaign)
        _mark_interrupted(database, campaign)
        _drop_opted_out(database, campaign, states, recorded)
        todo = _pending(database, campaign, states, known=recorded)
        if todo:
            _run(database, plan, client, campaign, todo, states, concurrency, rate, progress)
    result = _batches(database, campaign)
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
    if isinstance(db, (str, os.PathLike)) and not Path(db).exists():
        raise InputError(f"no store at {db}: give the path of the campaign.db your send wrote")
    database = open_db(db)
    known = [n for (n,) in database.execute("SELECT name FROM campaigns ORDER BY name")]
    if campaign not in known:
        raise InputError(
            f"no campaign {campaign!r} in this store; it has: {', '.join(known) or 'none yet'}"
        )
    return _batches(database, campaign)


def _batches(database: sqlite_utils.Database, campaign: str) -> pd.DataFrame:
    columns = ", ".join(SEND_COLUMNS)
    rows = database.execute(
        f"SELECT {columns} FROM batches WHERE campaign = ? ORDER BY batch", [campaign]
    ).fetchall()
    frame = pd.DataFrame(rows, columns=list(SEND_COLUMNS))
    for name in ("batch", "size", "attempts"):
        frame[name] = frame[name].astype("int64")
    frame["accepted"] = frame["accepted"].astype("Int64")
    return frame


# --------------------------------------------------------------------------- recording


def _check_arguments(plan, client, campaign, concurrency, rate) -> None:
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
    if rate is not None and not rate > 0:
        raise InputError(f"rate must be calls per second > 0, not {rate!r}")


def _record(database: sqlite_utils.Database, plan: Plan, campaign: str) -> dict[int, list[str]]:
    """Record the campaign and the plan's numbers not yet in it, in one transaction.

    Returns the new batches' numbers, so that sending them need not read them back.
    """
    conn = database.conn
    with conn:
        conn.execute("BEGIN IMMEDIATE")  # the reads below belong to the same transaction
        row = conn.execute(
            "SELECT vendor, content, template_id, variables, send_at FROM campaigns WHERE name = ?",
            [campaign],
        ).fetchone()
        send_at = plan.send_at.isoformat() if plan.send_at else None
        message = (plan.content, plan.template_id, plan.variables)
        if row is None:
            conn.execute(
                "INSERT INTO campaigns (name, vendor, channel, content, template_id, variables,"
                " send_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [campaign, plan.vendor, plan.limits.channel, *message, send_at, now()],
            )
        elif row[0] != plan.vendor or tuple(row[1:4]) != message:
            raise InputError(
                f"campaign {campaign!r} was started with {row[0]} and another message; "
                "send this plan as a new campaign (a different campaign= name)"
            )
        elif row[4] != send_at:
            raise InputError(
                f"campaign {campaign!r} was scheduled for {row[4] or 'now'}, this plan for "
                f"{send_at or 'now'}: plan with the same send_at, or use a new campaign name"
            )

        recipients = plan.recipients
        known = {p for (p,) in conn.execute(
            "SELECT phone FROM recipients WHERE campaign = ?", [campaign])}  # fmt: skip
        phones = recipients["phone"].to_numpy(dtype=object)
        fresh = ~np.isin(phones, list(known)) if known else np.ones(len(phones), dtype=bool)
        if fresh.any():
            # the store may have changed since planning (another campaign sent, an opt-out)
            late = store_skips(phones[fresh], db=database, vendor=plan.vendor,
                               limits=plan.limits, when=plan.send_at)  # fmt: skip
            if late:
                log.warning(
                    "%s: %d number(s) left out since planning: %s", campaign, len(late),
                    pd.Series(list(late.values())).value_counts().to_dict(),
                )  # fmt: skip
                fresh &= ~np.isin(phones, list(late))
        if not fresh.any():
            return {}
        new = recipients.loc[fresh]
        size = int(plan.batches["size"].max()) if len(plan.batches) else 1
        start = conn.execute(
            "SELECT COALESCE(MAX(batch), 0) FROM batches WHERE campaign = ?", [campaign]
        ).fetchone()[0]
        numbers = np.arange(len(new))
        batch_of = start + 1 + numbers // size
        segments = plan.segments or 1
        sizes = np.bincount(numbers // size)
        conn.executemany(
            "INSERT INTO batches (campaign, batch, vendor, size, segments, messages, state)"
            " VALUES (?, ?, ?, ?, ?, ?, 'planned')",
            [(campaign, start + 1 + i, plan.vendor, int(n), segments, int(n) * segments)
             for i, n in enumerate(sizes)],
        )  # fmt: skip
        # inserted in phone order: the key order of both b-trees, so pages fill in sequence
        # (a list in its natural, random order takes twice as long to insert)
        order = np.argsort(new["phone"].to_numpy(dtype=np.int64), kind="stable")
        columns = [
            new["phone"].tolist(),
            batch_of.tolist(),
            _nullable(new["carrier"]),
            _nullable(new["province"]),
            _nullable(new["city"]),
            _attrs(new),
        ]
        conn.executemany(
            "INSERT INTO recipients (campaign, phone, batch, carrier, province, city, attrs)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((campaign, *(column[i] for column in columns)) for i in order.tolist()),
        )
        counts = (
            new[["carrier", "province", "city"]]
            .assign(batch=batch_of)
            .groupby(["batch", "carrier", "province", "city"], sort=False, dropna=False)
            .size()
        )
        conn.executemany(
            "INSERT INTO recipient_counts VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO UPDATE SET n = n + excluded.n",
            [
                (campaign, int(b), *("" if pd.isna(v) else v for v in (c, p, ci)), int(n))
                for (b, c, p, ci), n in counts.items()
            ],
        )
    log.info("%s: recorded %d numbers in %d batches", campaign, len(new), len(sizes))
    phones = new["phone"].tolist()
    return {start + 1 + i: phones[i * size : (i + 1) * size] for i in range(len(sizes))}


def _nullable(column: pd.Series) -> list[Any]:
    return column.to_numpy(dtype=object, na_value=None).tolist()


def _attrs(recipients: pd.DataFrame) -> list[str | None]:
    """The contact list's own columns of each row, as JSON (for stats by any column)."""
    own = recipients.drop(
        columns=["phone", "batch", "carrier", "province", "city", "phone_raw"], errors="ignore"
    )
    if own.shape[1] == 0:
        return [None] * len(recipients)
    own.columns = [str(c) for c in own.columns]
    text = own.to_json(orient="records", lines=True, force_ascii=False, date_format="iso")
    return text.splitlines()


def _mark_interrupted(database: sqlite_utils.Database, campaign: str) -> None:
    """Batches left 'submitting' by a crash may have reached the vendor: mark them unknown."""
    with database.conn as conn:
        hit = conn.execute(
            "UPDATE batches SET state = 'unknown', finished_at = ?, message = COALESCE(message,"
            " 'interrupted during the call: the vendor may have it') WHERE campaign = ? AND"
            " state = 'submitting'",
            [now(), campaign],
        ).rowcount
    if hit:
        log.warning("%s: %d batch(es) were interrupted mid-call: now 'unknown'", campaign, hit)


def _drop_opted_out(
    database: sqlite_utils.Database,
    campaign: str,
    states: list[str],
    recorded: dict[int, list[str]],
) -> None:
    """Numbers that opted out since they were recorded leave the batches still to send."""
    marks = ", ".join("?" * len(states))
    with database.conn as conn:
        conn.execute("BEGIN IMMEDIATE")
        gone = conn.execute(
            f"SELECT r.batch, r.phone, COALESCE(r.carrier, ''), COALESCE(r.province, ''),"
            f" COALESCE(r.city, '') FROM recipients r JOIN batches b USING (campaign, batch)"
            f" WHERE r.campaign = ? AND b.state IN ({marks}) AND r.phone IN"
            f" (SELECT phone FROM replies WHERE opt_out = 1) AND NOT EXISTS (SELECT 1 FROM"
            f" deliveries d WHERE d.campaign = r.campaign AND d.phone = r.phone)",
            [campaign, *states],
        ).fetchall()
        if not gone:
            return
        for batch, phone, carrier, province, city in gone:
            conn.execute(
                "DELETE FROM recipients WHERE campaign = ? AND phone = ?", [campaign, phone]
            )
            conn.execute(
                "UPDATE recipient_counts SET n = n - 1 WHERE campaign = ? AND batch = ? AND"
                " carrier = ? AND province = ? AND city = ?",
                [campaign, batch, carrier, province, city],
            )
            conn.execute(
                "UPDATE batches SET size = size - 1, messages = (size - 1) * COALESCE(segments, 1)"
                " WHERE campaign = ? AND batch = ?",
                [campaign, batch],
            )
            if batch in recorded:
                recorded[batch].remove(phone)
        empty = [b for (b,) in conn.execute(
            "SELECT batch FROM batches WHERE campaign = ? AND size = 0", [campaign])]  # fmt: skip
        for batch in empty:
            conn.execute("DELETE FROM recipient_counts WHERE campaign = ? AND batch = ?",
                         [campaign, batch])  # fmt: skip
            conn.execute("DELETE FROM batches WHERE campaign = ? AND batch = ?", [campaign, batch])
            recorded.pop(batch, None)
    log.warning(
        "%s: %d number(s) opted out since they were recorded; they are not sent",
        campaign, len(gone),
    )  # fmt: skip


def _pending(
    database: sqlite_utils.Database,
    campaign: str,
    states: list[str],
    *,
    known: dict[int, list[str]],
) -> list[tuple[int, list[str]]]:
    """The batches to send, in order, with their numbers (``known``: already in memory)."""
    marks = ", ".join("?" * len(states))
    wanted = [b for (b,) in database.execute(
        f"SELECT batch FROM batches WHERE campaign = ? AND state IN ({marks}) ORDER BY batch",
        [campaign, *states])]  # fmt: skip
    missing = [b for b in wanted if b not in known]
    phones: dict[int, list[str]] = {}
    if missing:
        rows = database.execute(
            "SELECT batch, phone FROM recipients WHERE campaign = ? ORDER BY batch, phone",
            [campaign],
        )
        wanted_set = set(missing)
        for batch, phone in rows:
            if batch in wanted_set:
                phones.setdefault(batch, []).append(phone)
    return [(b, known[b] if b in known else phones.get(b, [])) for b in wanted]


# --------------------------------------------------------------------------- sending


def _run(database, plan, client, campaign, todo, states, concurrency, rate, progress) -> None:
    conn = database.conn
    workers = concurrency if plan.limits.single_phone_only else 1
    pacer = _Pacer(rate)
    stop = threading.Event()
    unreachable: VendorUnreachable | None = None
    failure: BaseException | None = None
    total = sum(len(p) for _, p in todo)
    marks = ", ".join("?" * len(states))
    before: dict[int, tuple] = {}  # a claimed batch's state, to restore if it never left

    def submit(batch: int, phones: list[str]) -> SendResult:
        return client.send(
            phones,
            content=plan.content,
            template_id=plan.template_id,
            variables=plan.variables,
            send_at=plan.send_at,
        )

    def claim(batch: int) -> bool:
        """planned (or a state being re-sent) -> submitting, only if it still is."""
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            before[batch] = conn.execute(
                "SELECT state, submitted_at, attempts, message FROM batches"
                " WHERE campaign = ? AND batch = ?",
                [campaign, batch],
            ).fetchone()
            return conn.execute(
                f"UPDATE batches SET state = 'submitting', submitted_at = ?,"
                f" attempts = attempts + 1 WHERE campaign = ? AND batch = ? AND state IN ({marks})",
                [now(), campaign, batch, *states],
            ).rowcount == 1  # fmt: skip

    def finish(batch: int, sql: str, params: list[Any]) -> None:
        with conn:
            conn.execute(
                f"UPDATE batches SET {sql} WHERE campaign = ? AND batch = ?"
                " AND state = 'submitting'",
                [*params, campaign, batch],
            )

    def restore(batch: int, why: str) -> None:
        """The request certainly never left: the batch is as it was, with the reason."""
        state, submitted_at, attempts, _ = before[batch]
        finish(batch, "state = ?, submitted_at = ?, attempts = ?, message = ?",
               [state, submitted_at, attempts, why])  # fmt: skip

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
            while True:
                while len(inflight) < workers and not stop.is_set():
                    item = next(queue, None)
                    if item is None:
                        break
                    batch, phones = item
                    pacer.wait(stop)
                    if stop.is_set():
                        break
                    if not claim(batch):  # someone else moved it: never send it twice
                        log.warning(
                            "%s: batch %d changed state meanwhile; skipped", campaign, batch
                        )
                        continue
                    inflight[pool.submit(submit, batch, phones)] = item
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in done:
                    batch, phones = inflight.pop(future)
                    error = future.exception()
                    if error is None:
                        result: SendResult = future.result()
                        finish(
                            batch,
                            "state = ?, task_id = ?, accepted = ?, code = ?, message = ?,"
                            " finished_at = ?",
                            ["accepted" if result.ok else "rejected", result.task_id,
                             result.accepted, result.code, result.message, now()],
                        )  # fmt: skip
                    elif isinstance(error, VendorUnreachable):
                        restore(batch, str(error))  # never reached the vendor: safe later
                        unreachable = unreachable or error
                        stop.set()
                    elif isinstance(error, InputError) and not isinstance(error, PayloadError):
                        restore(batch, str(error))  # refused by the client before any request
                        failure = failure or error
                        stop.set()
                    else:  # an unreadable answer, a lost one, or a bug: it may have gone out
                        finish(batch, "state = 'unknown', message = ?, finished_at = ?",
                               [f"{type(error).__name__}: {error}", now()])  # fmt: skip
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
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    if failure is not None:
        raise failure
    if unreachable is not None:
        left = database.execute(
            "SELECT COUNT(*) FROM batches WHERE campaign = ? AND state = 'planned'", [campaign]
        ).fetchone()[0]
        raise VendorUnreachable(
            f"stopped: the vendor cannot be reached ({unreachable}); {left} batch(es) not sent, "
            "still planned: run send again to resume",
            vendor=client.vendor,
        ) from unreachable
    if stop.is_set():
        log.warning("%s: stopped by Ctrl-C between calls; run send again to resume", campaign)


_LOCAL_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCAL_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def _sending(database: sqlite_utils.Database, campaign: str) -> Iterator[None]:
    """One sender per campaign: other threads and processes get SendInProgress.

    A lock per (store, campaign) in this process, plus a POSIX record lock on one byte of
    ``<store>-send.lock`` for other processes; the OS releases it if the process dies, so a
    crashed sender never blocks the resume.
    """
    path = next((row[2] for row in database.execute("PRAGMA database_list") if row[1] == "main"),
                "")  # fmt: skip
    key = (path or f"memory:{id(database.conn)}", campaign)
    with _LOCAL_LOCKS_GUARD:
        local = _LOCAL_LOCKS.setdefault(key, threading.Lock())
    busy = SendInProgress(
        f"campaign {campaign!r} is being sent right now by another process or thread; wait for "
        "it to finish (sending it twice at once could send people the message twice)"
    )
    if not local.acquire(blocking=False):
        raise busy
    handle = None
    try:
        if path:
            handle = _lock_byte(path + "-send.lock", zlib.crc32(campaign.encode()) & 0x7FFFFFFF)
            if handle is False:
                raise busy
        yield
    finally:
        if handle:
            handle.close()  # closing the file releases the record lock
        local.release()


def _lock_byte(path: str, offset: int):
    """An exclusive lock on one byte of ``path``; the open file, False if taken, None if the
    platform has no record locks."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the in-process lock still holds
        return None
    handle = open(path, "a+b")  # noqa: SIM115 - held open while the lock is needed
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset, os.SEEK_SET)
    except OSError:
        handle.close()
        return False
    return handle


class _Pacer:
    """Spaces calls so that at most ``rate`` start per second."""

    def __init__(self, rate: float | None):
        self.interval = 1.0 / rate if rate else 0.0
        self.next = time.monotonic()

    def wait(self, stop: threading.Event) -> None:
        if not self.interval:
            return
        delay = self.next - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        self.next = max(self.next, time.monotonic()) + self.interval


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
