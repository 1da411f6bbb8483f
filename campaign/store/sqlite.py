"""The SQLite engine: one file per project (default ``campaign.db``), nothing to install.

Files are opened in WAL mode with ``synchronous=NORMAL`` and foreign keys enforced; the schema
version is ``PRAGMA user_version``. One sender per campaign is a POSIX record lock on one byte
of ``<store>-send.lock`` beside the file, plus a lock per (file, campaign) in this process.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from campaign.errors import ConfigError
from campaign.store import schema
from campaign.store.engine import Engine

if TYPE_CHECKING:
    from campaign.store import Store

__all__ = ["SQLiteEngine", "file_of", "open_db"]

DbLike = str | os.PathLike | sqlite_utils.Database

DEFAULT_DB = "campaign.db"


def open_db(db: DbLike = DEFAULT_DB) -> sqlite_utils.Database:
    """Open (or create) the SQLite store and bring its schema up to date.

    ``db`` is a path or an open ``sqlite_utils.Database`` (returned as is, after migrating).
    Files are opened in WAL mode with foreign keys enforced.

    Examples
    --------
    >>> db = open_db("new.db")
    >>> db["batches"].count
    0
    >>> sorted(db.table_names())[:4]
    ['balances', 'batches', 'campaigns', 'clicks']
    """
    if isinstance(db, sqlite_utils.Database):
        database = db
    elif isinstance(db, (str, os.PathLike)):
        if "://" in os.fspath(db):
            raise ConfigError(
                "open_db opens a SQLite file as a sqlite_utils.Database; for a PostgreSQL URL "
                "use campaign.store.connect(url), which every db= argument also takes"
            )
        path = Path(db)
        if path.is_dir():
            raise ConfigError(f"{path} is a folder: give the path of the store, e.g. campaign.db")
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        database = sqlite_utils.Database(conn)
        if str(path) != ":memory:":
            _enable_wal(database)
            # WAL + NORMAL: every commit survives a crash of the process (what a send or a
            # receiver must never lose); only a power cut can take the last commits back.
            # FULL would fsync each commit, the bottleneck of a state change per call.
            database.execute("PRAGMA synchronous = NORMAL")
    else:
        raise ConfigError(f"db must be a path or a sqlite_utils.Database, not {type(db).__name__}")
    database.execute("PRAGMA foreign_keys = ON")
    migrate(database.conn)
    return database


def _enable_wal(database: sqlite_utils.Database, *, timeout: float = 30.0) -> None:
    """WAL mode, waiting for the lock it needs: changing the journal mode does not wait on
    SQLite's busy handler, so processes opening a new file at once could get "database is
    locked" (seen 21 times in 300 runs of four threads opening one new file)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            database.enable_wal()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations the file has not seen yet, each in one transaction."""
    migrations = schema.MIGRATIONS
    latest = len(migrations)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == latest:
        return
    if version > latest:
        raise ConfigError(
            f"this store has schema version {version}, newer than this campaign "
            f"({latest}): upgrade campaign to open it"
        )
    for target in range(version, latest):
        keys_off = migrations[target] in schema.FOREIGN_KEYS_OFF
        if keys_off:
            conn.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn:  # one transaction per migration: a failed step leaves the file as it was
                # IMMEDIATE takes the write lock first, then the version is read again: two
                # processes opening a new file at once migrate it once, not twice
                conn.execute("BEGIN IMMEDIATE")
                if conn.execute("PRAGMA user_version").fetchone()[0] != target:
                    continue
                migrations[target](conn)
                conn.execute(f"PRAGMA user_version = {target + 1}")
        finally:
            if keys_off:
                conn.execute("PRAGMA foreign_keys = ON")


def file_of(conn: sqlite3.Connection) -> str:
    """The path of the connection's main database file; '' for an in-memory one."""
    rows = conn.execute("PRAGMA database_list").fetchall()
    return next((row[2] for row in rows if row[1] == "main"), "") or ""


def _json_path(key: str) -> str:
    """A SQL string literal for the JSON path of a contact-list column."""
    path = '$."' + key.replace('"', '\\"') + '"'
    return "'" + path.replace("'", "''") + "'"


class SQLiteEngine(Engine):
    """SQLite through the standard library's ``sqlite3`` (and sqlite-utils for the tables)."""

    name = "sqlite"

    def migrate(self, conn: sqlite3.Connection) -> None:
        migrate(conn)

    def begin(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def bulk_insert(self, store: Store, table: str, columns: tuple[str, ...], rows: Any) -> None:
        """Many rows to a statement: a VALUES list of up to 999 parameters (the limit of any
        SQLite), the rows that are left one by one. A million receipts stage in 1.3 s this
        way, against 1.85 s a row a statement (``executemany``)."""
        width = len(columns)
        per = max(1, 999 // width)
        names = ", ".join(columns)
        one = "(" + ", ".join("?" * width) + ")"
        left: list[Sequence[Any]] = []

        def chunks() -> Iterator[list[Any]]:
            pending = iter(rows)
            while len(chunk := list(itertools.islice(pending, per))) == per:
                flat = list(itertools.chain.from_iterable(chunk))
                if len(flat) != per * width:
                    raise ValueError(f"bulk_insert into {table}: a row without {width} values")
                yield flat
            left.extend(chunk)

        store.executemany(f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * per)}",
                          chunks())  # fmt: skip
        if left:
            store.executemany(f"INSERT INTO {table} ({names}) VALUES {one}", left)

    def temp_receipts(self) -> tuple[str, str]:
        # no types, no index (cheap); seq is the rowid: arrival order
        return "temp.incoming_receipts", (
            "CREATE TEMP TABLE IF NOT EXISTS incoming_receipts (seq INTEGER PRIMARY KEY,"
            " vendor, task_id, phone, status, code, reason, received_at, talk_seconds, remark)"
        )

    def in_ids(self, column: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(?))"

    def ids(self, values: list[int]) -> str:
        return json.dumps(values)

    def same(self, a: str, b: str) -> str:
        return f"{a} IS {b}"

    def lock_scope(self, store: Store) -> str:
        return file_of(store.conn) or f"memory:{id(store.conn)}"

    @contextlib.contextmanager
    def other_senders(self, store: Store, campaign: str, busy: Exception) -> Iterator[None]:
        """A POSIX record lock on one byte of ``<store>-send.lock``; the OS releases it if
        the process dies, so a crashed sender never blocks the resume."""
        path = file_of(store.conn)
        handle = None
        if path:
            offset = zlib.crc32(campaign.encode()) & 0x7FFFFFFF
            handle = _lock_byte(path + "-send.lock", offset)
            if handle is False:
                raise busy
        try:
            yield
        finally:
            if handle:
                handle.close()  # closing the file releases the record lock

    # -- the receiver's connection -------------------------------------------------------------

    def start_writer(self, store: Store) -> None:
        """Checkpoints (copying the WAL into the file, with an fsync) would stall the writer,
        and every push waiting on it, for tens of ms: a thread with its own connection does
        them once a second instead."""
        store.conn.execute("PRAGMA wal_autocheckpoint = 0")
        stop = threading.Event()
        thread = threading.Thread(
            target=_checkpoint, args=(file_of(store.conn), stop), name="store-checkpoint",
            daemon=True,
        )  # fmt: skip
        store.extras["checkpointer"] = (thread, stop)
        thread.start()

    def stop_writer(self, store: Store) -> None:
        thread, stop = store.extras.pop("checkpointer", (None, None))
        if thread is not None:
            stop.set()
            thread.join(timeout=30)
        with contextlib.suppress(sqlite3.Error):
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- expressions ---------------------------------------------------------------------------

    def json_text(self, column: str, key: str) -> str:
        return f"json_extract({column}, {_json_path(key)})"

    def json_has(self, column: str, key: str) -> str:
        return f"json_type({column}, {_json_path(key)}) IS NOT NULL"

    def json_keys(self, column: str, alias: str) -> str:
        return f"json_each({column}) AS {alias}"

    def seconds_between(self, later: str, earlier: str) -> str:
        return schema.SECONDS_BETWEEN.format(later=later, earlier=earlier)


def _checkpoint(path: str, stop: threading.Event) -> None:
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    try:
        while not stop.wait(1.0):
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        conn.close()


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
