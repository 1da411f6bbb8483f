"""The store: every table of campaign, and the only SQL that writes them.

``db=`` everywhere is a path (SQLite, the embedded default: one file, nothing to install), a
PostgreSQL URL (``postgresql://user@host:5432/dbname``: the team's store), or an open store;
``$CAMPAIGN_DB`` names the store when none is given. :func:`connect` opens it as a
:class:`Store` (one engine, one connection); :func:`open_db` opens a SQLite file as a
``sqlite_utils.Database`` for looking at the tables by hand. The package:

==========================  ==================================================================
module                      what it owns
==========================  ==================================================================
:mod:`.schema`              the tables and their versioned migrations
:mod:`.engine`              what the store asks of an engine; :mod:`.sqlite` is SQLite's
:mod:`.connection`          :class:`Store` and :func:`connect`
:mod:`.batches`             campaigns, recipients and the batch state machine
:mod:`.records`             receipts, replies, deliveries and their roll-ups, rejected input
:mod:`.outcomes`            conversions, and the campaigns that reached each number
:mod:`.links`               tracking links, their clicks, vendor balances around a send
:mod:`.reads`               the reads planning, sending and the report need
:mod:`.postgres`            the PostgreSQL engine (:mod:`.postgres_schema`: its spelling of
                            the schema)
:mod:`.copy`                moving a whole store between engines (:func:`copy_store`)
==========================  ==================================================================

Nothing above this package knows which engine it talks to.
"""

from __future__ import annotations

from campaign.clock import SHANGHAI, now
from campaign.store import batches, links, outcomes, reads, records, schema
from campaign.store.connection import DB_VARIABLE, DbLike, Store, connect, default_db, describe
from campaign.store.copy import copy_store
from campaign.store.records import RECEIPT_ROW, REPLY_ROW, Written
from campaign.store.schema import BATCH_STATES, MIGRATIONS, SCHEMA_VERSION
from campaign.store.schema import statements as _statements  # noqa: F401 - for tests
from campaign.store.sqlite import DEFAULT_DB, open_db

__all__ = [
    "BATCH_STATES",
    "DB_VARIABLE",
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
    "copy_store",
    "default_db",
    "describe",
    "links",
    "now",
    "open_db",
    "outcomes",
    "reads",
    "records",
    "schema",
]

_V1, _V2 = schema._V1, schema._V2  # the migrations' scripts, for tests
