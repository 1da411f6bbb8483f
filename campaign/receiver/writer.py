"""The receiver's writer: one thread, one connection, group commit.

Request handlers (coroutines on the server's event loop, or plain threads) parse a push and
hand it over as an :class:`Item`; the writer commits whatever has queued up as one
transaction and only then releases the waiting handlers (an Event for a thread, a future
resolved on its event loop for a coroutine). Under load hundreds of pushes become one commit;
alone, a push is committed at once.

A click on a tracking link (``GET /c/<code>``) is an item too (:class:`Click`): in the same
transaction the writer looks up the code's target and stores the click, so the redirect is
answered only once the click is committed. A code the store does not know stores nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from campaign.ingest import store_records
from campaign.store import DbLike, Store, connect, links, now, records
from campaign.vendors import Receipt, Reply

if TYPE_CHECKING:
    from campaign.receiver.metrics import Metrics

__all__ = ["MAX_GROUP", "Click", "Item", "Writer"]

log = logging.getLogger(__name__)

#: Most pushes committed in one transaction.
MAX_GROUP = 1024
#: Receipts stored before their task id was known are re-linked every this many seconds...
RELINK_EVERY = 1.0
#: ...for this long after they arrived (a task id still unknown by then is a foreign task).
RELINK_FOR = 600.0
#: Distinct unknown task ids remembered for re-linking (pushes for foreign tasks beyond that
#: stay unmatched until ``cp.link_receipts``).
MAX_UNLINKED_TASKS = 10_000


class Click:
    """A click on ``code`` at ``clicked_at`` (ISO-8601, Asia/Shanghai, microseconds) by a
    client of class ``agent``; ``store`` False only looks the code up (a HEAD request).
    The writer sets ``target``: where the code redirects to, None for an unknown code."""

    __slots__ = ("agent", "clicked_at", "code", "store", "target")

    def __init__(self, code: str, clicked_at: str, agent: str, *, store: bool = True) -> None:
        self.code = code
        self.clicked_at = clicked_at
        self.agent = agent
        self.store = store
        self.target: str | None = None


class Item:
    """One push (or :class:`Click`) waiting for its transaction. ``ok`` says whether it was
    committed; a thread waits on ``done``, a coroutine on ``future``."""

    __slots__ = ("click", "done", "future", "loop", "ok", "record", "rejected", "vendor")

    def __init__(
        self,
        vendor: str,
        record: Receipt | Reply | None,
        rejected: tuple | None,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        click: Click | None = None,
    ) -> None:
        self.vendor = vendor
        self.record = record
        self.rejected = rejected
        self.click = click
        self.ok = False
        self.loop = loop
        self.future: asyncio.Future[bool] | None = loop.create_future() if loop else None
        self.done: threading.Event | None = None if loop else threading.Event()


def _resolve(members: list[Item]) -> None:
    for member in members:
        future = member.future
        if future is not None and not future.done():
            future.set_result(member.ok)


class Writer:
    """The writer thread and its connection (``connect(db, writer=True)``)."""

    def __init__(self, db: DbLike, *, metrics: Metrics | None = None) -> None:
        self.database = connect(db, writer=True)
        self.metrics = metrics
        self.queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="receiver-writer", daemon=True)
        self.acknowledged = 0  # pushes committed to answer 200 (counted by the writer alone)
        self._lock = threading.Lock()
        self._closed = False
        # (vendor, task_id) of receipts stored before their task id was known -> first seen
        self._unlinked: dict[tuple[str, str], float] = {}
        self._relinked_at = 0.0

    def start(self) -> None:
        self.thread.start()

    def submit(self, item: Item) -> bool:
        """Queue ``item``; False once the writer has stopped taking pushes."""
        with self._lock:
            if self._closed:
                return False
            self.queue.put(item)
        return True

    def stop(self, timeout: float = 30) -> None:
        """Commit what is queued, then end the thread and close the connection."""
        self.queue.put(None)
        self.thread.join(timeout=timeout)
        self.database.close()

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        store = self.database
        try:
            self._loop(store)
        finally:
            with self._lock:  # from here submit() refuses: nothing can be stranded
                self._closed = True
            while True:  # commit anything that raced in before the stop
                group = self._take_all()
                if not group:
                    break
                self._release(group, self._commit(store, group))
            self._relink(store)

    def _take_all(self) -> list[Item]:
        group: list[Item] = []
        while len(group) < MAX_GROUP:
            try:
                nxt = self.queue.get_nowait()
            except queue.Empty:
                break
            if nxt is not None:
                group.append(nxt)
        return group

    def _loop(self, store: Store) -> None:
        stopping = False
        while not stopping:
            try:
                item = self.queue.get(timeout=RELINK_EVERY)
            except queue.Empty:
                self._relink(store)
                continue
            if item is None:
                break
            group = [item]
            while len(group) < MAX_GROUP:
                try:
                    nxt = self.queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                group.append(nxt)
            self._release(group, self._commit(store, group))
            if time.monotonic() - self._relinked_at >= RELINK_EVERY:
                self._relink(store)

    def _release(self, group: list[Item], ok: bool) -> None:
        loops: dict[asyncio.AbstractEventLoop, list[Item]] = {}
        for member in group:
            member.ok = ok
            if member.done is not None:
                member.done.set()
            elif member.loop is not None:
                loops.setdefault(member.loop, []).append(member)
        for loop, members in loops.items():  # one wake-up per event loop, not one per push
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_resolve, members)

    def _relink(self, store: Store) -> None:
        """Link receipts that arrived before ``send`` recorded their task id."""
        self._relinked_at = time.monotonic()
        if not self._unlinked:
            return
        tasks = list(self._unlinked)
        try:
            known = records.known_tasks(store, tasks)
            linked = 0
            if known:
                with store.transaction():
                    linked = records.relink(store, tasks=known)
        except Exception:
            store.rollback()
            log.exception("receiver: linking early receipts failed")
            return
        if linked:
            log.info("receiver: linked %d receipt(s) that arrived before their task id", linked)
        cutoff = time.monotonic() - RELINK_FOR
        for task in tasks:
            if task in known or self._unlinked[task] < cutoff:
                del self._unlinked[task]

    def _commit(self, store: Store, group: list[Item]) -> bool:
        by_vendor: dict[str, list[Item]] = {}
        clicks: list[Click] = []
        for item in group:
            if item.click is not None:
                clicks.append(item.click)
            else:
                by_vendor.setdefault(item.vendor, []).append(item)
        for attempt in range(3):
            started = time.perf_counter()
            try:
                counts: list[tuple[str, Any]] = []
                clicked: dict[str, int] = {}
                with store.transaction():
                    if clicks:
                        clicked = _store_clicks(store, clicks)
                    before = records.last_receipt_id(store)
                    any_receipts = False
                    for vendor, items in by_vendor.items():
                        receipts, replies, rejected = _split(items)
                        any_receipts = any_receipts or bool(receipts)
                        written = store_records(
                            store, receipts=receipts, replies=replies, rejected=rejected,
                            rejected_once=False,
                        )  # fmt: skip
                        counts.append((vendor, written))
                    # the receipts just written that no batch carries yet: re-linked later.
                    # Asked of the rows themselves, in this transaction: asking whether each
                    # task is known by now could see a send commit that came after the insert
                    # and leave its receipts unlinked for good.
                    unlinked = records.unlinked_since(store, before) if any_receipts else []
                seen = time.monotonic()
                for task in unlinked:
                    if len(self._unlinked) < MAX_UNLINKED_TASKS:
                        self._unlinked.setdefault(task, seen)
                self.acknowledged += sum(i.record is not None for i in group)
                if self.metrics is not None:
                    self.metrics.committed(time.perf_counter() - started, len(group), counts)
                    self.metrics.clicked(clicked)
                return True
            except Exception:
                store.rollback()
                log.exception("receiver: commit of %d pushes failed (try %d)", len(group), attempt)
                time.sleep(0.05 * (attempt + 1))
        if self.metrics is not None:
            self.metrics.failed_commit()
        return False


def _store_clicks(store: Store, clicks: list[Click]) -> dict[str, int]:
    """Look up each click's target and store the clicks on known codes (not a HEAD's), inside
    the caller's transaction; returns how many were stored, by agent class."""
    targets: dict[str, str | None] = {}
    rows: dict[str, list[tuple]] = {}
    stamp = now()
    for click in clicks:
        if click.code not in targets:
            targets[click.code] = links.link_target(store, click.code)
        click.target = targets[click.code]
        if click.target is not None and click.store:
            rows.setdefault(click.agent, []).append(
                (click.code, click.clicked_at, click.agent, "receiver", stamp)
            )
    return {agent: links.write_clicks(store, agent_rows) for agent, agent_rows in rows.items()}


def _split(items: Iterable[Item]) -> tuple[list, list, list]:
    receipts, replies, rejected = [], [], []
    for item in items:
        if isinstance(item.record, Receipt):
            receipts.append(item.record)
        elif isinstance(item.record, Reply):
            replies.append(item.record)
        elif item.rejected is not None:
            rejected.append(item.rejected)
    return receipts, replies, rejected
