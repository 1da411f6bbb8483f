"""The PostgreSQL engine: the store a team shares (``db="postgresql://user@host/dbname"``).

Through psycopg 3, with libpq's own conventions for everything about the connection: the
URL, ``PGPASSWORD`` and the other ``PG*`` variables, ``~/.pgpass``, ``sslmode``. Statements run
server-side with ``$n`` parameters (psycopg's ``RawCursor``), translated once from the ``?``
the store writes; the connection is in autocommit mode and :class:`~campaign.store.Store`
opens a transaction where it writes. Bulk inserts use COPY. One sender per campaign is a
session-level advisory lock, released by the server if the sender's connection dies.
The schema is the same as SQLite's, spelled for PostgreSQL (:mod:`.postgres_schema`), with
its version in ``campaign_schema``.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from campaign.errors import ConfigError, StoreUnavailable
from campaign.store import postgres_schema
from campaign.store.engine import Engine
from campaign.store.schema import RECEIPT_ROW

if TYPE_CHECKING:
    from campaign.store import Store

__all__ = ["PostgresEngine", "is_postgres_url", "mask_url"]

#: The first half of every advisory lock key campaign takes ("CAMP").
_LOCK_SPACE = 0x43414D50
#: The advisory lock held while migrating, so that two processes migrate once.
_MIGRATION_LOCK = 0x5343
#: Memory a sort or hash of one statement may use before spilling to disk.
WORK_MEM = "64MB"
#: Staged rows from which the staging table is analysed, so the planner knows its size.
ANALYZE_FROM = 5_000
#: The sort/hash memory of the rest of a transaction that staged that many: a million
#: receipts' joins and sorts fit (at WORK_MEM they spilled 170 MB to disk, 0.6 s).
BULK_WORK_MEM = "256MB"


def is_postgres_url(value: object) -> bool:
    """True for ``postgresql://...`` and ``postgres://...``."""
    return isinstance(value, str) and value.strip().lower().startswith(
        ("postgresql://", "postgres://")
    )


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``, for messages and reprs.

    >>> mask_url("postgresql://ana:s3cret@db.example.com:5432/campaigns?sslmode=require")
    'postgresql://ana:***@db.example.com:5432/campaigns?sslmode=require'
    """
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _where(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or ["localhost"])[0]
    port = parts.port or (query.get("port") or ["5432"])[0]
    return f"{host}:{port}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_PARAM = re.compile(r"\?(\d*)")


class PostgresEngine(Engine):
    """PostgreSQL through psycopg 3."""

    name = "postgresql"
    rowid = "id"

    def __init__(self) -> None:
        self._translated: dict[str, str] = {}
        self._staged: dict[str, tuple[str, str]] = {}

    # -- connections ---------------------------------------------------------------------------

    def open(self, url: str) -> Any:
        """A connection to ``url``; the server's refusals as errors that say what to do."""
        import psycopg

        try:
            conn = psycopg.connect(url, autocommit=True, cursor_factory=psycopg.RawCursor)
        except psycopg.OperationalError as exc:
            raise _unavailable(url, exc) from None
        # the joins and sorts of a big ingest stay in memory (the server default, 4 MB,
        # spills a million receipts to disk); per connection, never beyond this session
        conn.execute(f"SET work_mem = '{WORK_MEM}'")
        return conn

    def migrate(self, conn: Any) -> None:
        """Apply the migrations the database has not seen, each in one transaction, under an
        advisory lock: processes opening a new database at once migrate it once."""
        migrations = postgres_schema.MIGRATIONS
        lock = [_LOCK_SPACE, _MIGRATION_LOCK]
        conn.execute("SELECT pg_advisory_lock($1, $2)", lock)
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS campaign_schema (version INTEGER NOT NULL)")
            for target in range(self._version(conn), len(migrations)):
                conn.execute("BEGIN")
                try:
                    conn.execute(migrations[target])
                    conn.execute("DELETE FROM campaign_schema")
                    conn.execute("INSERT INTO campaign_schema VALUES ($1)", [target + 1])
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        finally:
            conn.execute("SELECT pg_advisory_unlock($1, $2)", lock)

    @property
    def latest(self) -> int:
        """The schema version this campaign writes."""
        return len(postgres_schema.MIGRATIONS)

    def version(self, conn: Any) -> int:
        """The database's schema version; a newer one than :attr:`latest` is refused."""
        return self._version(conn)

    @staticmethod
    def _version(conn: Any) -> int:
        row = conn.execute("SELECT MAX(version) FROM campaign_schema").fetchone()
        version = row[0] or 0
        if version > len(postgres_schema.MIGRATIONS):
            raise ConfigError(
                f"this store has schema version {version}, newer than this campaign "
                f"({len(postgres_schema.MIGRATIONS)}): upgrade campaign to open it"
            )
        return version

    # -- transactions and statements -----------------------------------------------------------

    def in_transaction(self, conn: Any) -> bool:
        from psycopg import pq

        return conn.info.transaction_status != pq.TransactionStatus.IDLE

    def begin(self, conn: Any) -> None:
        conn.execute("BEGIN")

    def begin_read(self, conn: Any) -> None:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def commit(self, conn: Any) -> None:
        conn.execute("COMMIT")

    def rollback(self, conn: Any) -> None:
        if self.in_transaction(conn):
            conn.execute("ROLLBACK")

    def sql(self, text: str) -> str:
        """``?`` as ``$1, $2...`` in order, ``?N`` as ``$N``."""
        done = self._translated.get(text)
        if done is None:
            count = 0

            def number(match: re.Match[str]) -> str:
                nonlocal count
                if match.group(1):
                    return "$" + match.group(1)
                count += 1
                return f"${count}"

            done = self._translated[text] = _PARAM.sub(number, text)
        return done

    def executemany(self, conn: Any, sql: str, rows: Any) -> Any:
        cursor = conn.cursor()
        cursor.executemany(sql, list(rows))
        return cursor

    def bulk_insert(self, store: Store, table: str, columns: tuple[str, ...], rows: Any) -> None:
        cursor = store.conn.cursor()
        count = 0
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        if count >= ANALYZE_FROM and table == "incoming_receipts":
            store.conn.execute(f"ANALYZE {table}")
            if self.in_transaction(store.conn):
                store.conn.execute(f"SET LOCAL work_mem = '{BULK_WORK_MEM}'")

    def insert_missing(
        self, store: Store, table: str, columns: tuple[str, ...], rows: list[tuple]
    ) -> None:
        names = ", ".join(columns)
        staging = f"copy_{table}"
        store.conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table})")
        store.conn.execute(f"TRUNCATE {staging}")
        self.bulk_insert(store, staging, columns, self._blobs(table, columns, rows))
        store.conn.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} ON CONFLICT DO NOTHING"
        )

    def after_copy(self, store: Store, table: str, columns: tuple[str, ...]) -> None:
        if "id" in columns:  # rows came with their ids: the next new row gets the one after
            store.conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" GREATEST(COALESCE(MAX(id), 0), 1), MAX(id) IS NOT NULL) FROM {table}"
            )

    # -- the store's own statements -----------------------------------------------------------

    def temp_receipts(self) -> tuple[str, str]:
        return "incoming_receipts", (
            "CREATE TEMP TABLE IF NOT EXISTS incoming_receipts ("
            "seq BIGINT GENERATED ALWAYS AS IDENTITY, vendor TEXT, task_id TEXT, phone TEXT,"
            " status TEXT, code TEXT, reason TEXT, received_at TEXT, talk_seconds INTEGER,"
            " remark TEXT)"
        )

    def insert_staged(self, store: Store, incoming: str, shared: str, params: list) -> int:
        """Link and insert the staged receipts in one pass of hash joins (see
        :func:`_insert_staged_sql`).

        Inside a transaction the new rows are found by probing ``receipts_once`` and inserted
        plainly, under a savepoint: ``ON CONFLICT DO NOTHING`` costs a speculative insertion
        per row (3 s of a million receipts' 8 s, measured), whether or not anything conflicts.
        A receipt repeated within the input, or one another writer committed meanwhile,
        breaks the unique index: then the savepoint is rolled back and the same rows go
        in with ``ON CONFLICT DO NOTHING``.
        """
        import psycopg

        fast, safe = self._staged_sql(incoming)
        if not self.in_transaction(store.conn):
            return max(store.execute(safe, params).rowcount, 0)
        store.conn.execute("SAVEPOINT staged_receipts")
        try:
            added = store.execute(fast, params).rowcount
        except psycopg.errors.UniqueViolation:
            store.conn.execute("ROLLBACK TO SAVEPOINT staged_receipts")
            added = store.execute(safe, params).rowcount
        store.conn.execute("RELEASE SAVEPOINT staged_receipts")
        return max(added, 0)

    def _staged_sql(self, incoming: str) -> tuple[str, str]:
        """(plain insert of the rows not stored, insert with ON CONFLICT DO NOTHING)."""
        if incoming not in self._staged:
            statement = _insert_staged_sql(incoming)
            self._staged[incoming] = (
                statement.format(new_only=_NOT_STORED, conflict=""),
                statement.format(new_only="", conflict="ON CONFLICT DO NOTHING"),
            )
        return self._staged[incoming]

    def in_ids(self, column: str) -> str:
        return f"{column} = ANY(?)"

    def ids(self, values: list[int]) -> list[int]:
        return list(values)

    def latest_per_recipient(self) -> tuple[str, str]:
        # one row per recipient: an upsert may not touch the same row twice in PostgreSQL
        return (
            "DISTINCT ON (x.campaign, x.phone)",
            "x.campaign, x.phone, COALESCE(x.received_at, '') DESC, x.id DESC",
        )

    def blob(self, value: Any) -> Any:
        return value.encode("utf-8") if isinstance(value, str) else value

    # -- one sender per campaign ---------------------------------------------------------------

    @contextlib.contextmanager
    def other_senders(self, store: Store, campaign: str, busy: Exception) -> Iterator[None]:
        """A session-level advisory lock keyed by the campaign's name, on any machine; the
        server drops it if the sender's connection dies."""
        lock = [_LOCK_SPACE, zlib.crc32(campaign.encode()) & 0x7FFFFFFF]
        if not store.conn.execute("SELECT pg_try_advisory_lock($1, $2)", lock).fetchone()[0]:
            raise busy
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                store.conn.execute("SELECT pg_advisory_unlock($1, $2)", lock)

    # -- expressions ---------------------------------------------------------------------------

    def json_text(self, column: str, key: str) -> str:
        return f"(CAST({column} AS jsonb) -> {_literal(key)})"

    def json_has(self, column: str, key: str) -> str:
        return f"jsonb_exists(CAST({column} AS jsonb), {_literal(key)})"

    def json_keys(self, column: str, alias: str) -> str:
        return f"jsonb_each(CAST({column} AS jsonb)) AS {alias}"

    def seconds_between(self, later: str, earlier: str) -> str:
        return postgres_schema.SECONDS_BETWEEN.format(later=later, earlier=earlier)


# Not yet in receipts: the expressions of receipts_once (postgres_schema), probed row by row.
_NOT_STORED = """
WHERE NOT EXISTS (
    SELECT 1 FROM receipts AS o
    WHERE o.vendor = v.vendor AND COALESCE(o.task_id, '') = COALESCE(v.task_id, '')
      AND o.phone = v.phone AND o.status = v.status
      AND COALESCE(o.code, '') = COALESCE(v.code, '')
      AND COALESCE(o.received_at, '') = COALESCE(v.received_at, ''))"""


def _insert_staged_sql(incoming: str) -> str:
    """The shared rule (the batch that sent to the phone, else the latest submitted) for all
    staged rows at once, with ``{new_only}`` and ``{conflict}`` left to fill.

    Most tasks are carried by one batch: their rows are linked by a hash join on the task.
    Only the rows of tasks that several batches carry are ranked (a sort of just those);
    ranking every row cost 4 of a million receipts' 10 s.
    """
    columns = ", ".join(RECEIPT_ROW)
    staged = ", ".join(f"v.{c}" for c in RECEIPT_ROW)
    return f"""
WITH tasks AS (SELECT vendor, task_id FROM {incoming} GROUP BY vendor, task_id),
candidates AS (
    SELECT c.id, c.campaign, c.batch, c.vendor, c.task_id, c.submitted_at,
           COUNT(*) OVER (PARTITION BY c.vendor, c.task_id) AS carriers
    FROM batches AS c JOIN tasks AS t ON t.vendor = c.vendor AND t.task_id = c.task_id),
ranked AS (
    SELECT DISTINCT ON (v.seq) v.seq, c.campaign, c.batch
    FROM {incoming} AS v
    JOIN candidates AS c
        ON c.vendor = v.vendor AND c.task_id = v.task_id AND c.carriers > 1
    LEFT JOIN recipients AS q
        ON q.campaign = c.campaign AND q.phone = v.phone AND q.batch = c.batch
    ORDER BY v.seq, q.phone IS NULL, c.submitted_at DESC NULLS LAST, c.id DESC),
linked AS (
    SELECT {staged}, v.seq, COALESCE(c.campaign, p.campaign) AS campaign,
           COALESCE(c.batch, p.batch) AS batch
    FROM {incoming} AS v
    LEFT JOIN candidates AS c
        ON c.vendor = v.vendor AND c.task_id = v.task_id AND c.carriers = 1
    LEFT JOIN ranked AS p ON p.seq = v.seq)
INSERT INTO receipts ({columns}, campaign, batch, matched, ingested_at)
SELECT {staged}, v.campaign, v.batch, CASE WHEN r.phone IS NULL THEN 0 ELSE 1 END, ?
FROM linked AS v
LEFT JOIN recipients AS r ON r.campaign = v.campaign AND r.phone = v.phone AND r.batch = v.batch
{{new_only}}
ORDER BY v.seq
{{conflict}}
"""


def _unavailable(url: str, exc: Exception) -> StoreUnavailable:
    """psycopg's OperationalError as what a user can act on; the password never shown."""
    text = str(exc)
    shown = mask_url(url)
    if "password authentication failed" in text or "no password supplied" in text:
        user = urllib.parse.urlsplit(url).username or "(your login name)"
        why = (
            f"the server refused the login of user {user!r}: check the user and give the "
            "password in PGPASSWORD or ~/.pgpass (never in the URL of a shared script)"
        )
    elif re.search(r'database ".*" does not exist', text):
        name = urllib.parse.urlsplit(url).path.lstrip("/") or "(default)"
        why = f"the server has no database {name!r}: create it (createdb {name}) or fix the URL"
    elif "role" in text and "does not exist" in text:
        why = "the server has no such user (role): create it or fix the URL's user"
    else:
        why = (
            f"cannot reach PostgreSQL at {_where(url)}: is the server running and the host, "
            "port and sslmode right?"
        )
    return StoreUnavailable(f"{shown}: {why}")
