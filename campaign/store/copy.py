"""Moving a whole store from one engine to another: ``campaign copy SRC DST``.

Every table is copied in the order its keys need, rows that the destination already has are
left as they are (so running it again changes nothing), and the roll-ups of deliveries
(``delivery_counts``, ``latency_counts``, ``failure_counts``, ``profile_counts``) are rebuilt
in the destination by its own triggers as ``deliveries`` arrive. Row numbers (receipt ids,
the order batches were recorded in) are kept, so "the latest receipt wins" and the choice
among batches sharing a task id decide the same way on both sides.
"""

from __future__ import annotations

import logging

import pandas as pd
from tqdm.auto import tqdm

from campaign.errors import InputError
from campaign.store.connection import DbLike, connect, describe

__all__ = ["TABLES", "copy_store"]

log = logging.getLogger(__name__)

#: The tables copied, in the order their foreign keys need, with their columns. ``None``
#: stands for the engine's row number (SQLite's rowid, PostgreSQL's id).
TABLES: tuple[tuple[str, tuple[str | None, ...]], ...] = (
    ("campaigns", ("name", "vendor", "channel", "content", "template_id", "variables",
                   "send_at", "created_at", "expires_at")),
    ("batches", (None, "campaign", "batch", "vendor", "size", "segments", "messages", "state",
                 "task_id", "accepted", "code", "message", "submitted_at", "finished_at",
                 "attempts", "content", "variables")),
    ("profiles", ("campaign", "profile", "attrs")),
    ("recipients", ("campaign", "phone", "batch", "carrier", "province", "city", "attrs",
                    "profile")),
    ("recipient_counts", ("campaign", "batch", "carrier", "province", "city", "n")),
    ("profile_recipients", ("campaign", "batch", "profile", "n")),
    ("receipts", ("id", "vendor", "task_id", "phone", "status", "code", "reason",
                  "received_at", "talk_seconds", "remark", "campaign", "batch", "matched",
                  "ingested_at")),
    ("deliveries", ("campaign", "phone", "batch", "vendor", "task_id", "status", "code",
                    "reason", "received_at", "talk_seconds", "carrier", "province", "city",
                    "profile", "receipt_id")),
    ("replies", ("id", "vendor", "task_id", "phone", "content", "received_at", "opt_out",
                 "campaign", "ingested_at")),
    ("rejected", ("id", "received_at", "source", "body", "error")),
    ("conversions", ("id", "order_id", "phone", "converted_at", "value", "campaign",
                     "held_out", "source", "ingested_at")),
    ("prices", ("vendor", "price", "billed_on", "currency", "set_at")),
    ("links", ("code", "campaign", "phone", "target", "url", "created_at")),
    ("clicks", ("id", "code", "clicked_at", "agent", "source", "ingested_at")),
    ("balances", ("id", "campaign", "vendor", "balance_before", "balance_after", "expected",
                  "started_at", "finished_at")),
)  # fmt: skip

#: Rows read and written at a time.
CHUNK = 20_000


def copy_store(src: DbLike, dst: DbLike, *, progress: bool = True) -> pd.DataFrame:
    """Copy every table of the store ``src`` into ``dst`` (a path or a PostgreSQL URL each).

    Rows ``dst`` already has are kept as they are, so a second run copies nothing. Returns
    one row per table: table, rows (in ``src``) and copied (new in ``dst``).

    Examples
    --------
    >>> copied = cp.copy_store("campaign.db", "copy.db", progress=False)
    >>> int(copied.set_index("table").loc["campaigns", "copied"])
    4
    >>> int(cp.copy_store("campaign.db", "copy.db", progress=False)["copied"].sum())
    0
    """
    source, target = connect(src, existing=True), connect(dst)
    if describe(source) == describe(target) and source.engine is target.engine:
        raise InputError(f"copy_store: {describe(source)} is both the source and the target")
    totals = {t: source.scalar(f"SELECT COUNT(*) FROM {t}") for t, _ in TABLES}
    done = []
    with tqdm(total=sum(totals.values()), unit="rows", disable=None if progress else True,
              desc=f"copy to {describe(target)}") as bar:  # fmt: skip
        for table, columns in TABLES:
            read = [source.engine.rowid if c is None else c for c in columns]
            write = tuple(target.engine.rowid if c is None else c for c in columns)
            before = target.scalar(f"SELECT COUNT(*) FROM {table}")
            cursor = source.execute(f"SELECT {', '.join(read)} FROM {table} ORDER BY 1")
            with target.transaction():
                while rows := cursor.fetchmany(CHUNK):
                    target.engine.insert_missing(target, table, write, rows)
                    bar.update(len(rows))
                target.engine.after_copy(target, table, write)
            copied = target.scalar(f"SELECT COUNT(*) FROM {table}") - before
            done.append((table, totals[table], copied))
            log.info("copy %s: %d of %d rows new in %s", table, copied, totals[table],
                     describe(target))  # fmt: skip
    return pd.DataFrame(done, columns=["table", "rows", "copied"])
