"""A :class:`Store`: one open store, its engine and its connection.

Everything above the store package takes ``db=`` as a path or an open store and calls
:func:`connect`; it then passes the :class:`Store` to the store's functions, opens
transactions with :meth:`Store.transaction`, and (``campaign.stats`` only) reads with
:meth:`Store.execute` in the dialect ``store.dialect`` spells. None of it knows which engine
is underneath.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from campaign.errors import ConfigError, InputError
from campaign.store.engine import Engine
from campaign.store.postgres import PostgresEngine, is_postgres_url, mask_url
from campaign.store.sqlite import DEFAULT_DB, SQLiteEngine, file_of, open_db

__all__ = ["DB_VARIABLE", "DbLike", "Store", "connect", "default_db", "describe"]


class Store:
    """An open store. Build it with :func:`connect`.

    ``transaction()`` runs a block as one write transaction (joined, not nested, when one is
    already open); ``execute`` and ``executemany`` run one statement; ``close()`` closes the
    connection if this Store opened it. ``database`` is the ``sqlite_utils.Database`` under a
    SQLite store (None on other engines).
    """

    def __init__(
        self,
        engine: Engine,
        conn: Any,
        *,
        database: sqlite_utils.Database | None = None,
        owned: bool = False,
        label: str = "",
    ) -> None:
        self.engine = engine
        self.conn = conn
        self.database = database
        self.label = label
        self.extras: dict[str, Any] = {}  # the engine's per-connection state
        self._owned = owned
        self._depth = 0
        self._sql = engine.sql
        #: Inside :meth:`snapshot`: what the statistics computed in it, by what they asked.
        self.memo: dict[tuple, Any] | None = None

    @property
    def dialect(self) -> Engine:
        """The engine, for the SQL expressions it spells its own way."""
        return self.engine

    def __repr__(self) -> str:
        return f"<Store {self.engine.name} {self.label or '(memory)'}>"

    # -- statements ----------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """Run one statement (``?`` placeholders); returns the engine's cursor."""
        return self.conn.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        return self.engine.executemany(self.conn, self._sql(sql), rows)

    def bulk_insert(self, table: str, columns: tuple[str, ...], rows: Iterable[Sequence[Any]]):
        """Insert many rows into ``table`` the engine's fastest way."""
        self.engine.bulk_insert(self, table, columns, rows)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.execute(self._sql(sql), params).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.conn.execute(self._sql(sql), params).fetchone()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    # -- transactions --------------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        Inside another ``transaction()`` of this store it joins that one.
        """
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        if not self.engine.in_transaction(self.conn):
            self.engine.begin(self.conn)
        self._depth = 1
        try:
            yield self
        except BaseException:
            with contextlib.suppress(Exception):
                self.engine.rollback(self.conn)
            raise
        else:
            self.engine.commit(self.conn)
        finally:
            self._depth = 0

    def rollback(self) -> None:
        """Roll back whatever is open (for a caller recovering from a failed write)."""
        with contextlib.suppress(Exception):
            self.engine.rollback(self.conn)

    # -- sending and writing -------------------------------------------------------------------

    def send_lock(self, campaign: str) -> contextlib.AbstractContextManager[None]:
        """Held while this process sends ``campaign``: a second sender of the same campaign,
        in any process, gets :class:`~campaign.errors.SendInProgress`."""
        return self.engine.send_lock(self, campaign)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Store]:
        """Read the store as it is now, for a block of reads: one read transaction (SQLite:
        a deferred transaction, its snapshot taken at the first read; PostgreSQL: REPEATABLE
        READ READ ONLY), so that receipts arriving meanwhile change none of the tables
        computed inside, and the statistics remember what they read in it (``memo``).

        Yields a Store on the same connection, for reading only; closing it closes nothing.
        Inside a transaction already open, it reads in that one.

        >>> with connect("campaign.db").snapshot() as store:
        ...     table = cp.delivery_stats(store, campaign="double11-A", by="carrier")
        ...     curve = cp.delivery_curve(store, campaign="double11-A", by="carrier")  # read once
        >>> int(table["submitted"].sum()), len(store.memo or ())  # the memo ends with the block
        (8441, 0)
        """
        view = Store(self.engine, self.conn, database=self.database, label=self.label)
        view.memo = {}
        began = not self.engine.in_transaction(self.conn)
        if began:
            self.engine.begin_read(self.conn)
        try:
            yield view
        finally:
            view.memo = None
            if began:
                with contextlib.suppress(Exception):
                    self.engine.rollback(self.conn)

    def close(self) -> None:
        """Close the connection (only if :func:`connect` opened it)."""
        if "writer" in self.extras:
            self.extras.pop("writer")
            self.engine.stop_writer(self)
        if self._owned:
            self._owned = False  # closed once, whoever asks first
            self.conn.close()

    def __del__(self) -> None:
        # A Store that connect() opened for one call (each statistic opens its own) closes
        # its connection when it goes, instead of leaving it to the driver's finaliser,
        # which warns (psycopg: ResourceWarning "deleted while still open").
        if getattr(self, "_owned", False):
            with contextlib.suppress(Exception):
                self.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


DbLike = str | os.PathLike | sqlite_utils.Database | Store

_SQLITE = SQLiteEngine()
_POSTGRES = PostgresEngine()

#: The environment variable naming the store when ``db`` is not given.
DB_VARIABLE = "CAMPAIGN_DB"


def default_db() -> str:
    """``$CAMPAIGN_DB`` if set (a path or a PostgreSQL URL), else ``campaign.db``."""
    return os.environ.get(DB_VARIABLE, "").strip() or DEFAULT_DB


def describe(db: DbLike) -> str:
    """How to name ``db`` in a message: a path, or a URL with its password masked."""
    if isinstance(db, Store):
        return db.label
    if isinstance(db, sqlite_utils.Database):
        return file_of(db.conn) or ":memory:"
    text = os.fspath(db) if isinstance(db, os.PathLike) else str(db)
    return mask_url(text) if "://" in text else text


def connect(db: DbLike | None = None, *, existing: bool = False, writer: bool = False) -> Store:
    """The store at ``db``, migrated: a path (SQLite), a PostgreSQL URL
    (``postgresql://user@host:5432/dbname``; the password from ``PGPASSWORD`` or
    ``~/.pgpass``, as libpq does), an open ``sqlite_utils.Database``, or a Store; None is
    ``$CAMPAIGN_DB``, else ``campaign.db``.

    A Store is returned as is; a Database is wrapped, sharing its connection. ``existing=True``
    refuses to create a store: a path with no file is an InputError. ``writer=True``
    opens a connection of the Store's own, for a thread that commits all day (the receiver):
    it needs a store file (an in-memory database cannot be shared), and ``close()`` closes it.

    >>> store = connect("campaign.db")
    >>> store.scalar("SELECT COUNT(*) FROM campaigns") > 0
    True
    """
    if db is None:
        db = default_db()
    if is_postgres_url(db):
        return _postgres(str(db), writer=writer)
    if isinstance(db, Store):
        if writer and db.engine is not _SQLITE:
            return _postgres(db.extras["url"], writer=True)
        if not writer:
            return db
    if isinstance(db, str) and "://" in db:
        raise ConfigError(
            f"db={describe(db)!r} is neither a path nor a PostgreSQL URL: give a file such as "
            "campaign.db, or postgresql://user@host:5432/dbname"
        )
    if existing and isinstance(db, (str, os.PathLike)) and not Path(db).exists():
        raise InputError(f"no store at {db}: give the path of the campaign.db your send wrote")
    if writer:
        return _writer(db)
    if isinstance(db, sqlite_utils.Database):
        database = open_db(db)
        return Store(_SQLITE, database.conn, database=database, label=file_of(database.conn))
    database = open_db(db)
    return Store(_SQLITE, database.conn, database=database, owned=True, label=str(db))


#: PostgreSQL databases this process has brought up to date: each statistic opens its own
#: connection, and after the first only the version is read (a newer one is still refused).
_MIGRATED: set[str] = set()


def _postgres(url: str, *, writer: bool = False) -> Store:
    conn = _POSTGRES.open(url)
    try:
        if url not in _MIGRATED or _POSTGRES.version(conn) != _POSTGRES.latest:
            _POSTGRES.migrate(conn)
            _MIGRATED.add(url)
    except BaseException:
        conn.close()
        raise
    store = Store(_POSTGRES, conn, owned=True, label=mask_url(url))
    store.extras["url"] = url
    if writer:
        store.extras["writer"] = True
    return store


def _writer(db: DbLike) -> Store:
    if isinstance(db, Store):
        db = db.database if db.database is not None else db.label
    if isinstance(db, sqlite_utils.Database):
        path = file_of(db.conn)
        if not path:
            raise ConfigError(
                "the receiver needs a store file: an in-memory database cannot be shared with "
                "its writer thread (give a path, e.g. campaign.db)"
            )
        db = path
    database = open_db(db)
    if not file_of(database.conn):
        database.conn.close()
        raise ConfigError(
            "the receiver needs a store file, not an in-memory database (give a path, e.g. "
            "campaign.db)"
        )
    store = Store(_SQLITE, database.conn, database=database, owned=True, label=str(db))
    _SQLITE.start_writer(store)
    store.extras["writer"] = True
    return store
