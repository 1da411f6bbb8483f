"""The store: every table of campaign, and the only SQL that writes them.

``db=`` everywhere is a path (SQLite, the embedded default: one file, nothing to install) or
an open store. :func:`connect` opens it as a :class:`Store` (one engine, one connection);
:func:`open_db` opens a SQLite file as a ``sqlite_utils.Database`` for looking at the tables
by hand. The package:

==========================  ==================================================================
module                      what it owns
==========================  ==================================================================
:mod:`.schema`              the tables and their versioned migrations
:mod:`.engine`              what the store asks of an engine; :mod:`.sqlite` is SQLite's
:mod:`.connection`          :class:`Store` and :func:`connect`
:mod:`.batches`             campaigns, recipients and the batch state machine
:mod:`.records`             receipts, replies, deliveries and their roll-ups, rejected input
:mod:`.reads`               the reads planning, sending and the report need
==========================  ==================================================================

Nothing above this package knows which engine it talks to.
"""

from __future__ import annotations

from campaign.clock import SHANGHAI, now
from campaign.store import batches, reads, records, schema
from campaign.store.connection import DbLike, Store, connect
from campaign.store.records import RECEIPT_ROW, REPLY_ROW, Written
from campaign.store.schema import BATCH_STATES, MIGRATIONS, SCHEMA_VERSION
from campaign.store.schema import statements as _statements  # noqa: F401 - for tests
from campaign.store.sqlite import DEFAULT_DB, open_db

__all__ = [
    "BATCH_STATES",
    "DEFAULT_DB",
    "MIGRATIONS",
    "RECEIPT_ROW",
    "REPLY_ROW",
    "SCHEMA_VERSION",
    "SHANGHAI",
    "DbLike",
    "Store",
    "Written",
    "batches",
    "connect",
    "now",
    "open_db",
    "reads",
    "records",
    "schema",
]

_V1, _V2 = schema._V1, schema._V2  # the migrations' scripts, for tests
