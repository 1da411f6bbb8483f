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
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from campaign.store import Store

__all__ = ["Engine"]


class Engine:
    """The operations an engine provides; subclasses override what differs."""

    #: Short name, e.g. ``"sqlite"``.
    name = "base"

    # -- transactions ------------------------------------------------------------------------

    def begin(self, conn: Any) -> None:
        """Start a transaction that will write (taking the write lock first, so that the
        reads inside it see what the writes will be based on)."""
        conn.execute("BEGIN")

    def sql(self, text: str) -> str:
        """The engine's spelling of a statement written with ``?`` placeholders."""
        return text

    # -- one sender per campaign ---------------------------------------------------------------

    @contextlib.contextmanager
    def send_lock(self, store: Store, campaign: str) -> Iterator[None]:  # pragma: no cover
        """Held while one process sends ``campaign``; raises
        :class:`~campaign.errors.SendInProgress` when another holds it."""
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
