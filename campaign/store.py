"""The SQLite store: one file per project (default ``campaign.db``), the only DDL in campaign.

Tables (DESIGN.md, "Data model"); times are ISO-8601 text in Asia/Shanghai, the vendors' clock:

==============  ==================  ==========================================================
table           one row per         key
==============  ==================  ==========================================================
campaigns       campaign            name
batches         vendor call         (campaign, batch); state planned / submitting / accepted /
                                    rejected / unknown
recipients      phone in campaign   (campaign, phone); its batch, carrier, province, city and
                                    the contact list's own columns as JSON (``attrs``);
                                    its state is its batch's
receipts        delivery receipt    unique per (vendor, task_id, phone, status, code,
                                    received_at): ingesting twice changes nothing;
                                    ``matched`` 0 flags a receipt for an unknown task
deliveries      recipient with a    (campaign, phone): its latest receipt (the latest
                receipt             received_at wins), with carrier/province/city
delivery_counts deliveries counted  (campaign, batch, carrier, province, city, status),
                                    kept by triggers; '' stands for unknown
recipient_counts recipients counted (campaign, batch, carrier, province, city)
replies         inbound reply       unique per (vendor, task_id, phone, content, received_at)
rejected        unparseable input   id; nothing is ever dropped
==============  ==================  ==========================================================

The schema is versioned with ``PRAGMA user_version``: :func:`open_db` applies the migrations a
file has not seen yet, in order, so files written by older versions keep working.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from campaign.clock import SHANGHAI, now
from campaign.errors import ConfigError

__all__ = [
    "BATCH_STATES",
    "DEFAULT_DB",
    "SCHEMA_VERSION",
    "SHANGHAI",
    "DbLike",
    "now",
    "open_db",
]

DbLike = str | os.PathLike | sqlite_utils.Database

DEFAULT_DB = "campaign.db"


#: A batch moves planned -> submitting -> accepted / rejected / unknown.
BATCH_STATES = ("planned", "submitting", "accepted", "rejected", "unknown")


_V1 = f"""
CREATE TABLE campaigns (
    name TEXT PRIMARY KEY,
    vendor TEXT NOT NULL,
    channel TEXT NOT NULL,
    content TEXT,
    template_id TEXT,
    variables TEXT,
    send_at TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE batches (
    campaign TEXT NOT NULL REFERENCES campaigns(name),
    batch INTEGER NOT NULL,
    vendor TEXT NOT NULL,
    size INTEGER NOT NULL,
    segments INTEGER,
    messages INTEGER,
    state TEXT NOT NULL DEFAULT 'planned'
        CHECK (state IN ({", ".join(repr(s) for s in BATCH_STATES)})),
    task_id TEXT,
    accepted INTEGER,
    code TEXT,
    message TEXT,
    submitted_at TEXT,
    finished_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign, batch)
);
CREATE INDEX batches_by_task ON batches(vendor, task_id);

CREATE TABLE recipients (
    campaign TEXT NOT NULL REFERENCES campaigns(name),
    phone TEXT NOT NULL,
    batch INTEGER NOT NULL,
    carrier TEXT,
    province TEXT,
    city TEXT,
    attrs TEXT,
    PRIMARY KEY (campaign, phone),
    FOREIGN KEY (campaign, batch) REFERENCES batches(campaign, batch)
) WITHOUT ROWID;
CREATE INDEX recipients_by_phone ON recipients(phone);

CREATE TABLE receipts (
    id INTEGER PRIMARY KEY,
    vendor TEXT NOT NULL,
    task_id TEXT,
    phone TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('delivered', 'failed', 'unknown')),
    code TEXT,
    reason TEXT,
    received_at TEXT,
    talk_seconds INTEGER,
    remark TEXT,
    campaign TEXT,
    batch INTEGER,
    ingested_at TEXT NOT NULL
);
CREATE UNIQUE INDEX receipts_once ON receipts(
    vendor, COALESCE(task_id, ''), phone, status, COALESCE(code, ''), COALESCE(received_at, '')
);
CREATE INDEX receipts_by_task ON receipts(vendor, task_id, phone);
CREATE INDEX receipts_by_campaign ON receipts(campaign, batch);

CREATE TABLE replies (
    id INTEGER PRIMARY KEY,
    vendor TEXT NOT NULL,
    task_id TEXT,
    phone TEXT NOT NULL,
    content TEXT NOT NULL,
    received_at TEXT,
    opt_out INTEGER NOT NULL DEFAULT 0,
    campaign TEXT,
    ingested_at TEXT NOT NULL
);
CREATE UNIQUE INDEX replies_once ON replies(
    vendor, COALESCE(task_id, ''), phone, content, COALESCE(received_at, '')
);
CREATE INDEX replies_by_phone ON replies(phone, opt_out);

CREATE TABLE rejected (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    source TEXT NOT NULL,
    body BLOB,
    error TEXT NOT NULL
);
"""


# v2: what the statistics read, kept up to date as data arrives, so that a report on a
# campaign of millions does not regroup every receipt (DESIGN.md, Statistics):
# - deliveries: the latest receipt of each recipient (latest received_at wins, ties by id),
#   with its carrier/province/city copied from recipients; written by ingest.
# - delivery_counts: deliveries counted per (campaign, batch, carrier, province, city,
#   status); kept by triggers, so no writer can forget it. '' stands for unknown.
# - recipient_counts: recipients counted per (campaign, batch, carrier, province, city);
#   written by send.py, the only writer of recipients, in the same transactions (a trigger
#   per row would cost a quarter of a second per 200,000 numbers recorded before a send).
_V2 = """
ALTER TABLE receipts ADD COLUMN matched INTEGER NOT NULL DEFAULT 0;

CREATE TABLE deliveries (
    campaign TEXT NOT NULL,
    phone TEXT NOT NULL,
    batch INTEGER NOT NULL,
    vendor TEXT NOT NULL,
    task_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('delivered', 'failed', 'unknown')),
    code TEXT,
    reason TEXT,
    received_at TEXT,
    talk_seconds INTEGER,
    carrier TEXT,
    province TEXT,
    city TEXT,
    receipt_id INTEGER NOT NULL,
    PRIMARY KEY (campaign, phone),
    FOREIGN KEY (campaign, phone) REFERENCES recipients(campaign, phone)
) WITHOUT ROWID;
CREATE INDEX deliveries_by_batch ON deliveries(campaign, batch);

CREATE TABLE delivery_counts (
    campaign TEXT NOT NULL,
    batch INTEGER NOT NULL,
    carrier TEXT NOT NULL,
    province TEXT NOT NULL,
    city TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (campaign, batch, carrier, province, city, status)
) WITHOUT ROWID;

CREATE TRIGGER deliveries_counted_on_insert AFTER INSERT ON deliveries BEGIN
    INSERT INTO delivery_counts VALUES (NEW.campaign, NEW.batch, COALESCE(NEW.carrier, ''),
        COALESCE(NEW.province, ''), COALESCE(NEW.city, ''), NEW.status, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER deliveries_counted_on_update
AFTER UPDATE OF campaign, batch, status, carrier, province, city ON deliveries
WHEN (OLD.campaign, OLD.batch, OLD.status, COALESCE(OLD.carrier, ''),
      COALESCE(OLD.province, ''), COALESCE(OLD.city, ''))
  IS NOT (NEW.campaign, NEW.batch, NEW.status, COALESCE(NEW.carrier, ''),
      COALESCE(NEW.province, ''), COALESCE(NEW.city, '')) BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE campaign = OLD.campaign AND batch = OLD.batch
        AND carrier = COALESCE(OLD.carrier, '') AND province = COALESCE(OLD.province, '')
        AND city = COALESCE(OLD.city, '') AND status = OLD.status;
    INSERT INTO delivery_counts VALUES (NEW.campaign, NEW.batch, COALESCE(NEW.carrier, ''),
        COALESCE(NEW.province, ''), COALESCE(NEW.city, ''), NEW.status, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER deliveries_counted_on_delete AFTER DELETE ON deliveries BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE campaign = OLD.campaign AND batch = OLD.batch
        AND carrier = COALESCE(OLD.carrier, '') AND province = COALESCE(OLD.province, '')
        AND city = COALESCE(OLD.city, '') AND status = OLD.status;
END;

CREATE TABLE recipient_counts (
    campaign TEXT NOT NULL,
    batch INTEGER NOT NULL,
    carrier TEXT NOT NULL,
    province TEXT NOT NULL,
    city TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (campaign, batch, carrier, province, city),
    FOREIGN KEY (campaign, batch) REFERENCES batches(campaign, batch)
) WITHOUT ROWID;

INSERT INTO recipient_counts
SELECT campaign, batch, COALESCE(carrier, ''), COALESCE(province, ''), COALESCE(city, ''),
       COUNT(*)
FROM recipients GROUP BY 1, 2, 3, 4, 5;

CREATE INDEX replies_by_campaign ON replies(campaign, phone)
"""


def _statements(script: str) -> list[str]:
    """Split a script on the semicolons that end statements (not those inside triggers)."""
    statements, current = [], []
    for line in script.splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if line.rstrip().endswith(";") and (
            not text.upper().startswith("CREATE TRIGGER") or line.strip().upper() == "END;"
        ):
            statements.append(text.rstrip(";"))
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s]


def _migrate_1(conn: sqlite3.Connection) -> None:
    for statement in _statements(_V1):  # not executescript(): it would commit halfway
        conn.execute(statement)


def _migrate_2(conn: sqlite3.Connection) -> None:
    for statement in _statements(_V2):
        conn.execute(statement)


#: Migration ``i`` brings a file from schema version ``i`` to ``i + 1``. Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_1, _migrate_2]
SCHEMA_VERSION = len(MIGRATIONS)


def open_db(db: DbLike = DEFAULT_DB) -> sqlite_utils.Database:
    """Open (or create) the store and bring its schema up to date.

    ``db`` is a path or an open ``sqlite_utils.Database`` (returned as is, after migrating).
    Files are opened in WAL mode with foreign keys enforced.

    Examples
    --------
    >>> db = open_db("new.db")
    >>> db["batches"].count
    0
    >>> sorted(db.table_names())[:4]
    ['batches', 'campaigns', 'deliveries', 'delivery_counts']
    """
    if isinstance(db, sqlite_utils.Database):
        database = db
    elif isinstance(db, (str, os.PathLike)):
        path = Path(db)
        if path.is_dir():
            raise ConfigError(f"{path} is a folder: give the path of the store, e.g. campaign.db")
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        database = sqlite_utils.Database(conn)
        if str(path) != ":memory:":
            database.enable_wal()
            # WAL + NORMAL: every commit survives a crash of the process (what a send or a
            # receiver must never lose); only a power cut can take the last commits back.
            # FULL would fsync each commit, the bottleneck of a state change per call.
            database.execute("PRAGMA synchronous = NORMAL")
    else:
        raise ConfigError(f"db must be a path or a sqlite_utils.Database, not {type(db).__name__}")
    database.execute("PRAGMA foreign_keys = ON")
    _migrate(database.conn)
    return database


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"this store has schema version {version}, newer than this campaign "
            f"({SCHEMA_VERSION}): upgrade campaign to open it"
        )
    for target in range(version, SCHEMA_VERSION):
        with conn:  # one transaction per migration: a failed step leaves the file as it was
            # IMMEDIATE takes the write lock first, then the version is read again: two
            # processes opening a new file at once migrate it once, not twice
            conn.execute("BEGIN IMMEDIATE")
            if conn.execute("PRAGMA user_version").fetchone()[0] != target:
                continue
            MIGRATIONS[target](conn)
            conn.execute(f"PRAGMA user_version = {target + 1}")
