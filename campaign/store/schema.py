"""The schema: every table of the store, and the versioned migrations that build it.

Tables (DESIGN.md, "Data model"); times are ISO-8601 text in Asia/Shanghai, the vendors' clock:

==============  ==================  ==========================================================
table           one row per         key
==============  ==================  ==========================================================
campaigns       campaign            name; its message, send_at and ``expires_at`` (when its
                                    unsent batches expire, or NULL)
batches         vendor call         (campaign, batch); state planned / submitting / accepted /
                                    rejected / unknown / expired, or held_out: the numbers
                                    of a holdout, never sent; ``content`` / ``variables``
                                    the batch's own text (personalised plans; NULL: the
                                    campaign's)
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
latency_counts  deliveries counted  (campaign, vendor, carrier, province, status, seconds):
                by latency          seconds from the batch's submitted_at to received_at,
                                    kept by triggers
failure_counts  failed deliveries   (campaign, vendor, carrier, province, reason, code), kept
                counted             by triggers
profiles        distinct row of a   (campaign, profile): a contact list's own columns (attrs)
                list's columns      as recipients have them; profile -1: not profiled
profile_recipients recipients by    (campaign, batch, profile), written with recipients
                profile
profile_counts  deliveries by       (campaign, batch, profile, status), kept by triggers
                profile
replies         inbound reply       unique per (vendor, task_id, phone, content, received_at)
rejected        unparseable input   id; nothing is ever dropped
conversions     order or sign-up    unique per order_id, else per (phone, converted_at,
                                    value); ``campaign`` the one it is attributed to (NULL:
                                    none, kept and counted), ``held_out`` 1 when the number
                                    was in that campaign's holdout
prices          vendor              what it charges: per billed message or call, billed on
                                    submission or on delivery (set by the user)
links           tracking code       code; the campaign it belongs to, its ``phone`` when it
                                    is one number's own (NULL: the campaign's one code), the
                                    ``target`` it redirects to and the ``url`` the message
                                    carries
clicks          click on a link     unique per (code, clicked_at, agent); ``agent`` is the
                                    user agent's class (mobile, desktop, bot, other): no IP
                                    address, no user agent string
balances        send run            the vendor account's balance before and after one run of
                                    ``send`` (where the vendor reports one) and the messages
                                    or calls the run submitted, to set the vendor's own
                                    count beside the expected one
==============  ==================  ==========================================================

Migration ``i`` brings a store from schema version ``i`` to ``i + 1``; the engine records the
version (SQLite: ``PRAGMA user_version``) and applies, in order, the migrations a store has
not seen yet, each in one transaction. Append to :data:`MIGRATIONS`, never edit one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

__all__ = [
    "BATCH_STATES",
    "FOREIGN_KEYS_OFF",
    "MIGRATIONS",
    "RECEIPT_ROW",
    "REPLY_ROW",
    "SCHEMA_VERSION",
    "statements",
]

#: A batch moves planned -> submitting -> accepted / rejected / unknown, or planned ->
#: expired when its time to send has passed; a held_out batch holds the numbers of a
#: holdout: never sent, never counted as submitted, kept for comparing outcomes.
BATCH_STATES = ("planned", "submitting", "accepted", "rejected", "unknown", "expired", "held_out")
#: The states version 1 of the schema allowed (its CHECK, as it was written then).
_V1_STATES = ("planned", "submitting", "accepted", "rejected", "unknown")

#: The fields of a receipt row as the store writes one (``store.records``), in order.
RECEIPT_ROW = (
    "vendor", "task_id", "phone", "status", "code", "reason", "received_at", "talk_seconds",
    "remark",
)  # fmt: skip
#: The fields of a reply row as the store writes one, in order.
REPLY_ROW = ("vendor", "task_id", "phone", "content", "received_at", "opt_out")


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
        CHECK (state IN ({", ".join(repr(s) for s in _V1_STATES)})),
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
#   with its carrier/province/city copied from recipients; written by store.records.
# - delivery_counts: deliveries counted per (campaign, batch, carrier, province, city,
#   status); kept by triggers, so no writer can forget it. '' stands for unknown.
# - recipient_counts: recipients counted per (campaign, batch, carrier, province, city);
#   written by store.batches, the only writer of recipients, in the same transactions (a
#   trigger per row would cost a quarter of a second per 200,000 numbers recorded).
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


def statements(script: str) -> list[str]:
    """A script as its statements, split where SQLite says a statement is complete
    (``sqlite3.complete_statement``), so that the semicolons inside a trigger stay in it.

    >>> statements("CREATE TABLE t (x); CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; END;")
    ['CREATE TABLE t (x)', 'CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; END']
    """
    found, start = [], 0
    for at, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : at + 1]):
            statement = script[start:at].strip()
            if statement:
                found.append(statement)
            start = at + 1
    tail = script[start:].strip()
    if tail:
        found.append(tail)
    return found


def _migrate_1(conn: Any) -> None:
    for statement in statements(_V1):  # not executescript(): it would commit halfway
        conn.execute(statement)


def _migrate_2(conn: Any) -> None:
    for statement in statements(_V2):
        conn.execute(statement)


def _migrate_3(conn: Any) -> None:
    """Batches may be expired or held_out. SQLite cannot alter a CHECK: the table is made
    anew and its rows copied (SQLite's own procedure, "Making Other Kinds Of Table Schema
    Changes"), with foreign keys off while the old table is dropped (see
    :data:`FOREIGN_KEYS_OFF`)."""
    columns = [row[1] for row in conn.execute("PRAGMA table_info(batches)")]
    create = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'batches'"
    ).fetchone()[0]
    old = ", ".join(repr(s) for s in _V1_STATES)
    assert f"CHECK (state IN ({old}))" in create, create
    create = create.replace(
        f"CHECK (state IN ({old}))", f"CHECK (state IN ({', '.join(map(repr, BATCH_STATES))}))"
    ).replace("CREATE TABLE batches", "CREATE TABLE batches_v3", 1)
    names = ", ".join(columns)
    conn.execute(create)
    conn.execute(f"INSERT INTO batches_v3 ({names}) SELECT {names} FROM batches")
    conn.execute("DROP TABLE batches")
    conn.execute("ALTER TABLE batches_v3 RENAME TO batches")
    conn.execute("CREATE INDEX batches_by_task ON batches(vendor, task_id)")
    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise sqlite3.IntegrityError(f"migration 3 would break references: {broken[:5]}")


# Conversions (orders, sign-ups) and the campaign each is attributed to; the same two unique
# indexes on PostgreSQL (a partial unique index serves ON CONFLICT DO NOTHING on both).
CONVERSIONS_DDL = """
CREATE TABLE conversions (
    id INTEGER PRIMARY KEY,
    order_id TEXT,
    phone TEXT NOT NULL,
    converted_at TEXT NOT NULL,
    value REAL,
    campaign TEXT REFERENCES campaigns(name),
    held_out INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE UNIQUE INDEX conversions_by_order ON conversions(order_id) WHERE order_id IS NOT NULL;
CREATE UNIQUE INDEX conversions_once ON conversions(phone, converted_at, COALESCE(value, -1))
    WHERE order_id IS NULL;
CREATE INDEX conversions_by_campaign ON conversions(campaign, phone)
"""


def _migrate_4(conn: Any) -> None:
    for statement in statements(CONVERSIONS_DDL):
        conn.execute(statement)


# What a vendor charges, as the user sets it: per billed message (an SMS segment) or per call,
# on submission or only on delivery. The same DDL on PostgreSQL.
PRICES_DDL = """
CREATE TABLE prices (
    vendor TEXT PRIMARY KEY,
    price REAL NOT NULL CHECK (price >= 0),
    billed_on TEXT NOT NULL CHECK (billed_on IN ('submit', 'delivery')),
    currency TEXT NOT NULL DEFAULT 'CNY',
    set_at TEXT NOT NULL
)
"""


def _migrate_5(conn: Any) -> None:
    conn.execute(PRICES_DDL)


# Tracking links and their clicks, and the balance a vendor reported around each send run.
# The same DDL on PostgreSQL, with its spelling of the row ids and of REAL.
LINKS_DDL = """
CREATE TABLE links (
    code TEXT PRIMARY KEY,
    campaign TEXT NOT NULL REFERENCES campaigns(name),
    phone TEXT,
    target TEXT NOT NULL,
    url TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX links_per_phone ON links(campaign, phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX links_per_campaign ON links(campaign) WHERE phone IS NULL;
CREATE TABLE clicks (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL REFERENCES links(code),
    clicked_at TEXT NOT NULL,
    agent TEXT NOT NULL CHECK (agent IN ('mobile', 'desktop', 'bot', 'other')),
    source TEXT NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE UNIQUE INDEX clicks_once ON clicks(code, clicked_at, agent);
CREATE TABLE balances (
    id INTEGER PRIMARY KEY,
    campaign TEXT NOT NULL REFERENCES campaigns(name),
    vendor TEXT NOT NULL,
    balance_before REAL,
    balance_after REAL,
    expected INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE INDEX balances_by_campaign ON balances(campaign)
"""


def _migrate_6(conn: Any) -> None:
    for statement in statements(LINKS_DDL):
        conn.execute(statement)


# Personalised content (issue 19): the text each batch sends when a plan's texts differ by
# recipient, in template form (fields filled in, {link} left for each number's own link);
# NULL for the batches of a plan with one text, which send the campaign's content or
# variables. The same DDL on PostgreSQL.
BATCH_TEXTS_DDL = """
ALTER TABLE batches ADD COLUMN content TEXT;
ALTER TABLE batches ADD COLUMN variables TEXT
"""


def _migrate_7_batch_texts(conn: Any) -> None:
    for statement in statements(BATCH_TEXTS_DDL):
        conn.execute(statement)


# A campaign's expiry (send(expires_at= / expires_in=)): batches not submitted by then become
# expired, whichever later run finds them. The same DDL on PostgreSQL.
EXPIRY_DDL = "ALTER TABLE campaigns ADD COLUMN expires_at TEXT"


def _migrate_8_expiry(conn: Any) -> None:
    conn.execute(EXPIRY_DDL)


#: Whole seconds from ``{earlier}`` to ``{later}`` (ISO-8601 texts), never below 0; NULL when
#: either is. The latency of the statistics: the SQLite engine's ``seconds_between``, and the
#: one the latency roll-up's triggers store.
SECONDS_BETWEEN = (
    "MAX(0, CAST(ROUND((julianday({later}) - julianday({earlier})) * 86400) AS INTEGER))"
)


def _failed(row: str) -> str:
    """The key of a failed delivery ``row`` (OLD or NEW) in failure_counts."""
    return (
        f"campaign = {row}.campaign AND vendor = {row}.vendor"
        f" AND carrier = COALESCE({row}.carrier, '') AND province = COALESCE({row}.province, '')"
        f" AND reason = COALESCE({row}.reason, '') AND code = COALESCE({row}.code, '')"
    )


def _failed_in(row: str) -> str:
    return f"""
    INSERT INTO failure_counts
    SELECT {row}.campaign, {row}.vendor, COALESCE({row}.carrier, ''),
           COALESCE({row}.province, ''), COALESCE({row}.reason, ''), COALESCE({row}.code, ''), 1
    WHERE {row}.status = 'failed'
    ON CONFLICT DO UPDATE SET n = n + 1;"""


def _failed_out(row: str) -> str:
    return f"""
    UPDATE failure_counts SET n = n - 1 WHERE {row}.status = 'failed' AND {_failed(row)};"""


def _failing(row: str) -> str:
    """What a delivery's place in failure_counts depends on, as a row value."""
    return (
        f"({row}.campaign, {row}.vendor, {row}.status, COALESCE({row}.carrier, ''),"
        f" COALESCE({row}.province, ''), COALESCE({row}.reason, ''), COALESCE({row}.code, ''))"
    )


# Issue 18: the latency statistics read a roll-up instead of every delivery (9 million of
# them parsed twice per statistic). latency_counts counts deliveries per (campaign, vendor,
# carrier, province, status, seconds), seconds being SECONDS_BETWEEN(received_at, the
# batch's submitted_at), '' for an unknown location; a delivery without a received_at, or of
# a batch without a submitted_at, has no latency and is not in it. Rows may hold n = 0.
# Triggers keep it, on deliveries as they move and on batches when a batch's submitted_at
# changes (a resend of an unknown batch moves the latency of the deliveries it has), so that
# no writer can forget it. There is no batch in the key: a batch's deliveries arrive over
# minutes, and (batch, second) would keep a row for every few deliveries; by batch or send
# time, by city or by a contact-list column the statistics read deliveries as before.
# failure_counts: the failed deliveries per (campaign, vendor, carrier, province, reason,
# code), '' for a missing one, for failure_reasons, kept by triggers the same way.
# receipts_unlinked: the few receipts unlinked_receipts lists, found without a full scan.


#: The tables of schemas 9 and 10, as both engines create them (SQLite's WITHOUT ROWID).
ROLLUP_TABLES = {
    "latency_counts": """CREATE TABLE latency_counts (
    campaign TEXT NOT NULL,
    vendor TEXT NOT NULL,
    carrier TEXT NOT NULL,
    province TEXT NOT NULL,
    status TEXT NOT NULL,
    seconds INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (campaign, vendor, carrier, province, status, seconds)
)""",
    "failure_counts": """CREATE TABLE failure_counts (
    campaign TEXT NOT NULL,
    vendor TEXT NOT NULL,
    carrier TEXT NOT NULL,
    province TEXT NOT NULL,
    reason TEXT NOT NULL,
    code TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (campaign, vendor, carrier, province, reason, code)
)""",
    "profiles": """CREATE TABLE profiles (
    campaign TEXT NOT NULL,
    profile INTEGER NOT NULL,
    attrs TEXT,
    PRIMARY KEY (campaign, profile)
)""",
    "profile_recipients": """CREATE TABLE profile_recipients (
    campaign TEXT NOT NULL,
    batch INTEGER NOT NULL,
    profile INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (campaign, batch, profile)
)""",
    "profile_counts": """CREATE TABLE profile_counts (
    campaign TEXT NOT NULL,
    batch INTEGER NOT NULL,
    profile INTEGER NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (campaign, batch, profile, status)
)""",
}


def _latency_of(row: str, submitted: str) -> str:
    return SECONDS_BETWEEN.format(later=f"{row}.received_at", earlier=submitted)


def _timed(row: str) -> str:
    """The roll-up key of delivery ``row`` (OLD or NEW) but its seconds."""
    return (
        f"campaign = {row}.campaign AND vendor = {row}.vendor"
        f" AND carrier = COALESCE({row}.carrier, '') AND province = COALESCE({row}.province, '')"
        f" AND status = {row}.status"
    )


def _timed_in(row: str) -> str:
    """Count delivery ``row`` (NEW) in latency_counts, at its batch's submitted_at."""
    return f"""
    INSERT INTO latency_counts
    SELECT {row}.campaign, {row}.vendor, COALESCE({row}.carrier, ''),
           COALESCE({row}.province, ''), {row}.status, t.seconds, 1
    FROM (SELECT {_latency_of(row, "b.submitted_at")} AS seconds FROM batches AS b
          WHERE b.campaign = {row}.campaign AND b.batch = {row}.batch) AS t
    WHERE t.seconds IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + 1;"""


def _timed_out(row: str) -> str:
    """Take delivery ``row`` (OLD) out of latency_counts."""
    return f"""
    UPDATE latency_counts SET n = n - 1 WHERE {_timed(row)}
        AND seconds = (SELECT {_latency_of(row, "b.submitted_at")} FROM batches AS b
                       WHERE b.campaign = {row}.campaign AND b.batch = {row}.batch);"""


def _retimed(row: str, sign: str) -> str:
    """Count (sign +) or uncount (sign -) the deliveries of batch ``row`` (NEW / OLD) at its
    ``submitted_at``, grouped."""
    grouped = f"""(SELECT d.vendor AS vendor, COALESCE(d.carrier, '') AS carrier,
               COALESCE(d.province, '') AS province, d.status AS status,
               {_latency_of("d", f"{row}.submitted_at")} AS seconds, COUNT(*) AS k
        FROM deliveries AS d WHERE d.campaign = {row}.campaign AND d.batch = {row}.batch
        GROUP BY 1, 2, 3, 4, 5)"""
    if sign == "-":
        return f"""
    UPDATE latency_counts SET n = n - g.k FROM {grouped} AS g
    WHERE latency_counts.campaign = {row}.campaign AND latency_counts.vendor = g.vendor
      AND latency_counts.carrier = g.carrier AND latency_counts.province = g.province
      AND latency_counts.status = g.status AND latency_counts.seconds = g.seconds;"""
    return f"""
    INSERT INTO latency_counts
    SELECT {row}.campaign, g.vendor, g.carrier, g.province, g.status, g.seconds, g.k
    FROM {grouped} AS g WHERE g.seconds IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + excluded.n;"""


def _timing(row: str) -> str:
    """What a delivery's place in latency_counts depends on, as a row value."""
    return (
        f"({row}.campaign, {row}.batch, {row}.vendor, {row}.status,"
        f" COALESCE({row}.carrier, ''), COALESCE({row}.province, ''), {row}.received_at)"
    )


ROLLUPS_DDL = f"""
{ROLLUP_TABLES["latency_counts"]} WITHOUT ROWID;

INSERT INTO latency_counts
SELECT d.campaign, d.vendor, COALESCE(d.carrier, ''), COALESCE(d.province, ''), d.status,
       {_latency_of("d", "b.submitted_at")}, COUNT(*)
FROM deliveries AS d JOIN batches AS b ON b.campaign = d.campaign AND b.batch = d.batch
WHERE {_latency_of("d", "b.submitted_at")} IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6;

CREATE TRIGGER deliveries_timed_on_insert AFTER INSERT ON deliveries
WHEN NEW.received_at IS NOT NULL BEGIN{_timed_in("NEW")}
END;

CREATE TRIGGER deliveries_timed_on_update
AFTER UPDATE OF campaign, batch, vendor, status, carrier, province, received_at ON deliveries
WHEN {_timing("OLD")} IS NOT {_timing("NEW")} BEGIN{_timed_out("OLD")}{_timed_in("NEW")}
END;

CREATE TRIGGER deliveries_timed_on_delete AFTER DELETE ON deliveries
WHEN OLD.received_at IS NOT NULL BEGIN{_timed_out("OLD")}
END;

CREATE TRIGGER batches_retimed AFTER UPDATE OF submitted_at ON batches
WHEN OLD.submitted_at IS NOT NEW.submitted_at BEGIN{_retimed("OLD", "-")}{_retimed("NEW", "+")}
END;

{ROLLUP_TABLES["failure_counts"]} WITHOUT ROWID;

INSERT INTO failure_counts
SELECT campaign, vendor, COALESCE(carrier, ''), COALESCE(province, ''), COALESCE(reason, ''),
       COALESCE(code, ''), COUNT(*)
FROM deliveries WHERE status = 'failed' GROUP BY 1, 2, 3, 4, 5, 6;

CREATE TRIGGER deliveries_failed_on_insert AFTER INSERT ON deliveries
WHEN NEW.status = 'failed' BEGIN{_failed_in("NEW")}
END;

CREATE TRIGGER deliveries_failed_on_update
AFTER UPDATE OF campaign, vendor, status, carrier, province, reason, code ON deliveries
WHEN (OLD.status = 'failed' OR NEW.status = 'failed') AND {_failing("OLD")} IS NOT {_failing("NEW")}
BEGIN{_failed_out("OLD")}{_failed_in("NEW")}
END;

CREATE TRIGGER deliveries_failed_on_delete AFTER DELETE ON deliveries
WHEN OLD.status = 'failed' BEGIN{_failed_out("OLD")}
END;

CREATE INDEX receipts_unlinked ON receipts(vendor, task_id) WHERE matched = 0 OR campaign IS NULL
"""


def _migrate_9_rollups(conn: Any) -> None:
    for statement in statements(ROLLUPS_DDL):
        conn.execute(statement)


#: The most distinct contact-list rows (``attrs``) a campaign is profiled for; past it, its
#: statistics by a list column read every recipient.
MAX_PROFILES = 1000

# Issue 18: statistics by a contact-list column (delivery_stats(by="variant"), compare) read
# every recipient and its delivery, 19 million seeks on a store of 10 million. A campaign's
# list has few distinct rows of its own columns (variant, tier, ...) even when it has
# millions of numbers: each distinct ``attrs`` of the campaign is a profile (``profiles``,
# NULL attrs too), numbered from 0, and each recipient carries its profile, as its delivery
# does (copied at ingest, like carrier). profile_recipients counts the recipients per
# (campaign, batch, profile), written by store.batches as recipient_counts is;
# profile_counts the deliveries per (campaign, batch, profile, status), kept by triggers.
# A campaign whose recipients have no columns of their own has no profiles (NULL: nothing
# to group by, and nothing for ingest to count); one with more than MAX_PROFILES distinct
# rows, or whose first recipients were recorded without profiles, has the row (campaign,
# -1, NULL): not profiled, its statistics read every recipient as before.
#: Migration 10 on both engines: each campaign's distinct attrs numbered from 0 (NULL first),
#: or -1 for a campaign past MAX_PROFILES; then (PROFILES_COUNTED) the profile roll-ups.
PROFILES_NUMBERED = f"""
INSERT INTO profiles (campaign, profile, attrs)
SELECT campaign, ROW_NUMBER() OVER (PARTITION BY campaign ORDER BY attrs NULLS FIRST) - 1, attrs
FROM (SELECT DISTINCT campaign, attrs FROM recipients) AS d
WHERE campaign IN (SELECT campaign FROM recipients GROUP BY campaign
                   HAVING COUNT(attrs) > 0
                      AND COUNT(DISTINCT COALESCE(attrs, '')) <= {MAX_PROFILES});
INSERT INTO profiles (campaign, profile, attrs)
SELECT campaign, -1, NULL FROM recipients GROUP BY campaign
HAVING COUNT(DISTINCT COALESCE(attrs, '')) > {MAX_PROFILES};
"""
PROFILES_COUNTED = """
INSERT INTO profile_recipients
SELECT campaign, batch, profile, COUNT(*) FROM recipients WHERE profile IS NOT NULL
GROUP BY 1, 2, 3;
INSERT INTO profile_counts
SELECT campaign, batch, profile, status, COUNT(*) FROM deliveries WHERE profile IS NOT NULL
GROUP BY 1, 2, 3, 4;
"""


PROFILES_DDL = f"""
ALTER TABLE recipients ADD COLUMN profile INTEGER;
ALTER TABLE deliveries ADD COLUMN profile INTEGER;

{ROLLUP_TABLES["profiles"]} WITHOUT ROWID;
CREATE INDEX profiles_by_attrs ON profiles(campaign, attrs);

{ROLLUP_TABLES["profile_recipients"]} WITHOUT ROWID;

{ROLLUP_TABLES["profile_counts"]} WITHOUT ROWID;

{PROFILES_NUMBERED}
UPDATE recipients SET profile = (
    SELECT p.profile FROM profiles AS p
    WHERE p.campaign = recipients.campaign AND p.attrs IS recipients.attrs AND p.profile >= 0)
WHERE campaign IN (SELECT campaign FROM profiles WHERE profile = 0);
UPDATE deliveries SET profile = (
    SELECT r.profile FROM recipients AS r
    WHERE r.campaign = deliveries.campaign AND r.phone = deliveries.phone)
WHERE campaign IN (SELECT campaign FROM profiles WHERE profile = 0);

{PROFILES_COUNTED}
CREATE TRIGGER deliveries_profiled_on_insert AFTER INSERT ON deliveries
WHEN NEW.profile IS NOT NULL BEGIN
    INSERT INTO profile_counts VALUES (NEW.campaign, NEW.batch, NEW.profile, NEW.status, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER deliveries_profiled_on_update
AFTER UPDATE OF campaign, batch, profile, status ON deliveries
WHEN (OLD.campaign, OLD.batch, OLD.profile, OLD.status)
  IS NOT (NEW.campaign, NEW.batch, NEW.profile, NEW.status) BEGIN
    UPDATE profile_counts SET n = n - 1 WHERE campaign = OLD.campaign AND batch = OLD.batch
        AND profile = OLD.profile AND status = OLD.status;
    INSERT INTO profile_counts
    SELECT NEW.campaign, NEW.batch, NEW.profile, NEW.status, 1 WHERE NEW.profile IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER deliveries_profiled_on_delete AFTER DELETE ON deliveries
WHEN OLD.profile IS NOT NULL BEGIN
    UPDATE profile_counts SET n = n - 1 WHERE campaign = OLD.campaign AND batch = OLD.batch
        AND profile = OLD.profile AND status = OLD.status;
END
"""


def _migrate_10_profiles(conn: Any) -> None:
    for statement in statements(PROFILES_DDL):
        conn.execute(statement)


#: The reference migration 11 takes off deliveries, as the table's DDL spells it.
_DELIVERY_REFERENCE = ",\n    FOREIGN KEY (campaign, phone) REFERENCES recipients(campaign, phone)"


def _migrate_11_deliveries_unreferenced(conn: Any) -> None:
    """deliveries loses its foreign key to recipients, as on PostgreSQL (whose 11 groups its
    roll-ups first, see postgres_schema). The one writer of deliveries, the upsert in
    :mod:`campaign.store.records`, joins every row to its recipient, so the check found
    nothing, and it cost a lookup per delivery: 0.45 s of a million receipts' 10.5 s ingest
    (issue 18); the one delete of recipients skips numbers that have a delivery.

    SQLite cannot drop a constraint: the table is made anew and its rows copied (SQLite's
    "Making Other Kinds Of Table Schema Changes"), its index and triggers, and the triggers
    elsewhere that read it, made again as they were. The roll-ups count the same rows and stay.
    """
    create = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'"
    ).fetchone()[0]
    assert _DELIVERY_REFERENCE in create, create
    create = create.replace(_DELIVERY_REFERENCE, "").replace(
        "CREATE TABLE deliveries", "CREATE TABLE deliveries_v11", 1
    )
    kept = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('index', 'trigger',"
        " 'view') AND sql IS NOT NULL AND (tbl_name = 'deliveries' OR sql LIKE '%deliveries%')"
        " AND name != 'deliveries' ORDER BY rowid"
    ).fetchall()
    for kind, name, table, _ in kept:
        if table != "deliveries":  # a rename checks every trigger that reads the table
            conn.execute(f"DROP {kind.upper()} {name}")
    columns = ", ".join(row[1] for row in conn.execute("PRAGMA table_info(deliveries)"))
    conn.execute(create)
    conn.execute(f"INSERT INTO deliveries_v11 ({columns}) SELECT {columns} FROM deliveries")
    conn.execute("DROP TABLE deliveries")
    conn.execute("ALTER TABLE deliveries_v11 RENAME TO deliveries")
    for *_, sql in kept:
        conn.execute(sql)


#: Migration ``i`` brings a store from schema version ``i`` to ``i + 1``. Append, never edit.
MIGRATIONS: list[Callable[[Any], None]] = [
    _migrate_1, _migrate_2, _migrate_3, _migrate_4, _migrate_5, _migrate_6,
    _migrate_7_batch_texts, _migrate_8_expiry, _migrate_9_rollups,
    _migrate_10_profiles, _migrate_11_deliveries_unreferenced,
]  # fmt: skip
#: The migrations that replace a table others refer to: they run with foreign keys off (a
#: PRAGMA that only takes effect outside a transaction) and check every reference after.
FOREIGN_KEYS_OFF = frozenset({_migrate_3})
SCHEMA_VERSION = len(MIGRATIONS)
