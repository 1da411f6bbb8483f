"""The engine interface: what the store asks of the database underneath it.

One base class names every operation that differs between engines; each engine overrides
only what differs (the shape of Django's ``backends/base/operations.py``). The store's
modules (:mod:`~campaign.store.batches`, :mod:`~campaign.store.records`,
:mod:`~campaign.store.reads`) write their SQL once, in the dialect SQLite and PostgreSQL share,
with ``?`` placeholders, and ask the engine for the rest: how a transaction that will write
begins, how one sender per campaign is guaranteed, the SQL of the few expressions the engines
spell differently (JSON fields, hours of a timestamp, seconds between two), and how a
long-running writer keeps its connection healthy.

Nothing above the store sees an engine: :func:`campaign.store.connect` gives a
:class:`~campaign.store.Store`, and :mod:`campaign.stats` builds its SELECTs from
``store.dialect``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from campaign.errors import SendInProgress

if TYPE_CHECKING:
    from campaign.store import Store

__all__ = ["Engine"]

_LOCAL_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCAL_LOCKS_GUARD = threading.Lock()


class Engine:
    """The operations an engine provides; subclasses override what differs."""

    #: Short name, e.g. ``"sqlite"``.
    name = "base"

    #: The column that numbers a table's rows in the order they were inserted.
    rowid = "rowid"

    # -- connections and transactions ----------------------------------------------------------

    def migrate(self, conn: Any) -> None:  # pragma: no cover
        """Bring the store's schema up to date (each migration in one transaction)."""
        raise NotImplementedError

    def in_transaction(self, conn: Any) -> bool:
        """True while ``conn`` has a transaction open."""
        return bool(conn.in_transaction)

    def begin(self, conn: Any) -> None:
        """Start a transaction that will write (taking the write lock first, so that the
        reads inside it see what the writes will be based on)."""
        conn.execute("BEGIN")

    def begin_read(self, conn: Any) -> None:
        """Start a transaction that only reads, all of it from one snapshot of the store."""
        conn.execute("BEGIN")

    def commit(self, conn: Any) -> None:
        conn.commit()

    def rollback(self, conn: Any) -> None:
        conn.rollback()

    def sql(self, text: str) -> str:
        """The engine's spelling of a statement written with ``?`` placeholders."""
        return text

    def executemany(self, conn: Any, sql: str, rows: Any) -> Any:
        """Run ``sql`` once per row; returns a cursor whose ``rowcount`` is the total."""
        return conn.executemany(sql, rows)

    # -- the store's own statements -----------------------------------------------------------

    def temp_receipts(self) -> tuple[str, str]:  # pragma: no cover
        """(name, DDL) of the temporary table receipts are staged in before they are linked:
        the receipt columns plus ``seq``, numbering them in arrival order."""
        raise NotImplementedError

    def insert_staged(self, store: Store, incoming: str, shared: str, params: list) -> int:
        """Link the receipts staged in ``incoming`` to their batches and insert those not
        stored yet; returns how many were new. ``shared`` is the statement that does it on
        every engine (:mod:`campaign.store.records`); an engine may do it faster its own way.
        """
        return max(store.execute(shared, params).rowcount, 0)

    def in_ids(self, column: str) -> str:  # pragma: no cover
        """SQL true where ``column`` is one of the ids given as the one parameter
        (see :meth:`ids`)."""
        raise NotImplementedError

    def ids(self, values: list[int]) -> Any:  # pragma: no cover
        """The parameter :meth:`in_ids` takes."""
        raise NotImplementedError

    def same(self, a: str, b: str) -> str:
        """SQL true where ``a`` and ``b`` are equal or both NULL."""
        return f"{a} IS NOT DISTINCT FROM {b}"

    def latest_per_recipient(self) -> tuple[str, str]:
        """(what goes after SELECT, the ORDER BY) for the deliveries upsert, so that of the
        new receipts of one recipient the latest (received_at, then id) is applied."""
        return "", "x.id"

    def blob(self, value: Any) -> Any:
        """A raw payload (bytes or text) as the engine stores it in ``rejected.body``."""
        return value

    def insert_missing(
        self, store: Store, table: str, columns: tuple[str, ...], rows: list[tuple]
    ) -> None:
        """Insert the rows whose keys ``table`` does not have yet (for copying a store)."""
        marks = ", ".join("?" * len(columns))
        store.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING",
            self._blobs(table, columns, rows),
        )

    def after_copy(self, store: Store, table: str, columns: tuple[str, ...]) -> None:
        """Whatever ``table`` needs once rows were copied in with their own ids."""

    def _blobs(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> list[tuple]:
        if table != "rejected":
            return rows
        at = columns.index("body")
        return [(*r[:at], self.blob(r[at]), *r[at + 1 :]) for r in rows]

    def bulk_insert(self, store: Store, table: str, columns: tuple[str, ...], rows: Any) -> None:
        """Insert many rows at once (the engine's fastest way: executemany, COPY...)."""
        marks = ", ".join("?" * len(columns))
        store.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    # -- one sender per campaign ---------------------------------------------------------------

    @contextlib.contextmanager
    def send_lock(self, store: Store, campaign: str) -> Iterator[None]:
        """Held while one sender sends ``campaign``; raises
        :class:`~campaign.errors.SendInProgress` when another holds it: a lock per (store,
        campaign) in this process, then the engine's own for other processes and machines
        (:meth:`other_senders`)."""
        busy = SendInProgress(
            f"campaign {campaign!r} is being sent right now by another process, thread or "
            "machine; wait for it to finish (sending it twice at once could send people the "
            "message twice)"
        )
        with _LOCAL_LOCKS_GUARD:
            local = _LOCAL_LOCKS.setdefault((self.lock_scope(store), campaign), threading.Lock())
        if not local.acquire(blocking=False):
            raise busy
        try:
            with self.other_senders(store, campaign, busy):
                yield
        finally:
            local.release()

    def lock_scope(self, store: Store) -> str:
        """What names the store for the in-process lock (a file, a database)."""
        return store.label or f"memory:{id(store.conn)}"

    @contextlib.contextmanager
    def other_senders(  # pragma: no cover
        self, store: Store, campaign: str, busy: Exception
    ) -> Iterator[None]:
        """Keep senders in other processes and machines out while held; raise ``busy``."""
        raise NotImplementedError
        yield

    # -- long-running writers (the receiver) --------------------------------------------------

    def start_writer(self, store: Store) -> None:
        """Prepare a connection that commits all day (the receiver's)."""

    def stop_writer(self, store: Store) -> None:
        """Undo :meth:`start_writer` before the connection closes."""

    # -- expressions (for campaign.stats) -----------------------------------------------------

    def json_text(self, column: str, key: str) -> str:  # pragma: no cover
        """SQL for the value of ``key`` in the JSON object in ``column`` (NULL if absent)."""
        raise NotImplementedError

    def json_has(self, column: str, key: str) -> str:  # pragma: no cover
        """SQL that is true where the JSON object in ``column`` has ``key``."""
        raise NotImplementedError

    def json_keys(self, column: str, alias: str) -> str:  # pragma: no cover
        """A FROM item listing the keys of the JSON objects of ``column`` as ``alias.key``."""
        raise NotImplementedError

    def hour_of(self, column: str) -> str:
        """SQL for the hour (0-23) of an ISO-8601 text time, as stored (Shanghai time)."""
        return f"CAST(substr({column}, 12, 2) AS INTEGER)"

    def day_of(self, column: str) -> str:
        """SQL for the ``YYYY-MM-DD`` day of an ISO-8601 text time, as stored."""
        return f"substr({column}, 1, 10)"

    def seconds_between(self, later: str, earlier: str) -> str:  # pragma: no cover
        """SQL for whole seconds from ``earlier`` to ``later`` (ISO-8601 texts), never < 0."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
