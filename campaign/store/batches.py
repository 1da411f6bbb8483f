"""Campaigns, their recipients and batches: the batch state machine as named transitions.

A batch moves ``planned -> submitting -> accepted | rejected | unknown``, or
``planned -> expired`` when the campaign's expiry passes first; a ``held_out`` batch (the
numbers of a holdout) never moves, and an ``expired`` one never moves again:

=====================  ==========================================================================
transition             what it does
=====================  ==========================================================================
:func:`record_plan`    a plan's new numbers become recipients in new ``planned`` batches
                       (and ``recipient_counts`` follows), or in one ``held_out`` batch;
                       a personalised plan's batches each keep their own text
:func:`claim`          ``planned`` (or a state being re-sent) -> ``submitting``, only if it still
                       is: two senders can never both claim one batch
:func:`mark_accepted`  the vendor took it (its task id, count, code and message kept)
:func:`mark_rejected`  the vendor refused it (its code and message kept)
:func:`mark_unknown`   the answer was lost: the people in it may have the message
:func:`restore`        the request certainly never left: back to what it was, with the reason
:func:`mark_interrupted`  batches a crash left ``submitting`` become ``unknown``
:func:`drop_opted_out` numbers that opted out since they were recorded leave unsent batches
:func:`set_expiry`     the campaign's unsent batches expire at this time (``campaigns.expires_at``)
:func:`expire`         ``planned`` -> ``expired``: the expiry passed before they were submitted
=====================  ==========================================================================

Every transition runs inside the caller's transaction (``with store.transaction():``), so a
caller can read and write in one. Only this module writes ``campaigns``, ``batches``,
``recipients`` and ``recipient_counts``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from campaign.clock import now
from campaign.store.connection import Store
from campaign.store.schema import MAX_PROFILES

__all__ = [
    "BATCH_COLUMNS",
    "Claim",
    "Text",
    "batch_texts",
    "batches_frame",
    "campaign_expiry",
    "campaign_names",
    "campaign_row",
    "chunk_groups",
    "claim",
    "count_in_state",
    "drop_opted_out",
    "expire",
    "mark_accepted",
    "mark_interrupted",
    "mark_rejected",
    "mark_unknown",
    "pending",
    "record_campaign",
    "record_plan",
    "recorded_phones",
    "restore",
    "set_expiry",
]

log = logging.getLogger(__name__)

#: Columns of :func:`batches_frame`, one row per batch of the campaign.
BATCH_COLUMNS = (
    "campaign", "batch", "size", "state", "task_id", "accepted", "code", "message",
    "submitted_at", "finished_at", "attempts",
)  # fmt: skip


# --------------------------------------------------------------------------- campaigns


def campaign_names(store: Store) -> list[str]:
    """Every campaign's name, sorted."""
    return [n for (n,) in store.execute("SELECT name FROM campaigns ORDER BY name")]


def campaign_row(store: Store, campaign: str) -> tuple | None:
    """(vendor, content, template_id, variables, send_at) of a campaign; None if unknown."""
    return store.one(
        "SELECT vendor, content, template_id, variables, send_at FROM campaigns WHERE name = ?",
        [campaign],
    )


def record_campaign(
    store: Store,
    campaign: str,
    *,
    vendor: str,
    channel: str,
    content: str | None,
    template_id: str | None,
    variables: str | None,
    send_at: str | None,
) -> None:
    """A new campaign, with the message it sends."""
    store.execute(
        "INSERT INTO campaigns (name, vendor, channel, content, template_id, variables,"
        " send_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [campaign, vendor, channel, content, template_id, variables, send_at, now()],
    )


def campaign_expiry(store: Store, campaign: str) -> str | None:
    """When the campaign's unsent batches expire (ISO-8601, Asia/Shanghai), or None."""
    return store.scalar("SELECT expires_at FROM campaigns WHERE name = ?", [campaign])


def set_expiry(store: Store, campaign: str, expires_at: str) -> None:
    """The campaign's unsent batches expire at ``expires_at`` (ISO-8601, Asia/Shanghai)."""
    store.execute("UPDATE campaigns SET expires_at = ? WHERE name = ?", [expires_at, campaign])


def recorded_phones(store: Store, campaign: str) -> set[str]:
    """The numbers already recipients of ``campaign``."""
    return {p for (p,) in store.execute(
        "SELECT phone FROM recipients WHERE campaign = ?", [campaign])}  # fmt: skip


# --------------------------------------------------------------------------- recording a plan


class Text(NamedTuple):
    """One text of a personalised plan, as the store keeps it with each batch that sends it:
    ``content`` (content vendors) or ``variables`` (template vendors) with the contact's
    fields filled in, still in template form (``{{`` and ``}}`` for braces, and ``{link}``
    where each number's own link goes), and the SMS ``segments`` it is billed."""

    content: str | None
    variables: str | None
    segments: int


def chunk_groups(groups: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Batches that never mix groups: each row's batch (0-based) and each batch's group.

    ``groups`` numbers each row's group 0, 1, ...; the batches go group by group in that
    order, each group cut into batches of at most ``batch_size`` rows in the rows' order.
    Batches of one row each (single-number vendors) simply keep the rows' order.

    >>> batch_of, group_of = chunk_groups(np.array([0, 1, 0, 0, 2, 1]), 2)
    >>> batch_of.tolist(), group_of.tolist()
    ([0, 2, 0, 1, 3, 2], [0, 0, 1, 2])
    """
    groups = np.asarray(groups, dtype=np.int64)
    if batch_size == 1 or not len(groups):
        return np.arange(len(groups), dtype=np.int64), groups
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups)
    starts = np.cumsum(counts) - counts
    ordered = groups[order]
    position = np.arange(len(groups)) - starts[ordered]
    per_group = -(-counts // batch_size)
    offset = np.cumsum(per_group) - per_group
    batch_of = np.empty(len(groups), dtype=np.int64)
    batch_of[order] = offset[ordered] + position // batch_size
    return batch_of, np.repeat(np.arange(len(counts)), per_group)


def record_plan(
    store: Store,
    campaign: str,
    recipients: pd.DataFrame,
    *,
    vendor: str,
    batch_size: int,
    segments: int,
    held_out: bool = False,
    groups: np.ndarray | None = None,
    texts: Sequence[Text] | None = None,
) -> dict[int, list[str]]:
    """Record ``recipients`` (phone, carrier, province, city and the contact list's own
    columns) as new ``planned`` batches of ``batch_size`` numbers after the campaign's last.

    A personalised plan passes ``groups``, the text (0, 1, ...) of each recipient, and
    ``texts``, each text with its segments: batches then never mix two texts, and each keeps
    its text (``batches.content`` or ``variables``) and segments. Without them every batch
    sends the campaign's own content or variables (``NULL`` in the batch) and is billed
    ``segments`` per number.

    With ``held_out=True`` they are a holdout instead: one ``held_out`` batch that is never
    claimed (so never sent, never counted as submitted), kept to compare outcomes with.

    Returns each new batch's numbers, so that sending them need not read them back (nothing
    for a holdout).
    """
    if not len(recipients):
        return {}
    if held_out:
        batch_size, groups = len(recipients), None
    state = "held_out" if held_out else "planned"
    start = store.scalar(
        "SELECT COALESCE(MAX(batch), 0) FROM batches WHERE campaign = ?", [campaign]
    )
    if groups is None:  # one text: batches in the list's order, nothing per batch to keep
        numbers = np.arange(len(recipients))
        batch_of = start + 1 + numbers // batch_size
        sizes = np.bincount(numbers // batch_size)
        rows = [(campaign, start + 1 + i, vendor, int(n), segments,
                 0 if held_out else int(n) * segments, state, None, None)
                for i, n in enumerate(sizes)]  # fmt: skip
    else:
        if texts is None or len(groups) != len(recipients):
            raise ValueError("record_plan: groups needs texts, and one group per recipient")
        local, group_of = chunk_groups(groups, batch_size)
        batch_of = start + 1 + local
        sizes = np.bincount(local, minlength=len(group_of))
        pairs = zip(sizes.tolist(), group_of.tolist(), strict=True)
        rows = [(campaign, start + 1 + i, vendor, int(n), texts[g].segments,
                 int(n) * texts[g].segments, state, texts[g].content, texts[g].variables)
                for i, (n, g) in enumerate(pairs)]  # fmt: skip
    store.bulk_insert(
        "batches",
        ("campaign", "batch", "vendor", "size", "segments", "messages", "state", "content",
         "variables"),
        rows,
    )  # fmt: skip
    # inserted in phone order: the key order of both b-trees, so pages fill in sequence
    # (a list in its natural, random order takes twice as long to insert)
    order = np.argsort(recipients["phone"].to_numpy(dtype=np.int64), kind="stable")
    attrs = _attrs(recipients)
    profiles = _profiles(store, campaign, attrs)
    columns = [
        recipients["phone"].tolist(),
        batch_of.tolist(),
        _nullable(recipients["carrier"]),
        _nullable(recipients["province"]),
        _nullable(recipients["city"]),
        attrs,
        profiles,
    ]
    store.bulk_insert(
        "recipients",
        ("campaign", "phone", "batch", "carrier", "province", "city", "attrs", "profile"),
        ((campaign, *(column[i] for column in columns)) for i in order.tolist()),
    )
    profiled: dict[tuple[int, int], int] = {}
    for batch, profile in zip(columns[1], profiles, strict=True):
        if profile is not None:
            profiled[batch, profile] = profiled.get((batch, profile), 0) + 1
    store.executemany(
        "INSERT INTO profile_recipients (campaign, batch, profile, n) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (campaign, batch, profile) DO UPDATE"
        " SET n = profile_recipients.n + excluded.n",
        [(campaign, b, p, n) for (b, p), n in profiled.items()],
    )
    counts = (
        recipients[["carrier", "province", "city"]]
        .assign(batch=batch_of)
        .groupby(["batch", "carrier", "province", "city"], sort=False, dropna=False)
        .size()
    )
    store.executemany(
        "INSERT INTO recipient_counts (campaign, batch, carrier, province, city, n)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (campaign, batch, carrier, province, city)"
        " DO UPDATE SET n = recipient_counts.n + excluded.n",
        [
            (campaign, int(b), *("" if pd.isna(v) else v for v in (c, p, ci)), int(n))
            for (b, c, p, ci), n in counts.items()
        ],
    )
    if held_out:
        log.info("%s: recorded %d numbers held out", campaign, len(recipients))
        return {}
    log.info("%s: recorded %d numbers in %d batches", campaign, len(recipients), len(sizes))
    phones = recipients["phone"].tolist()
    if groups is None:
        return {start + 1 + i: phones[i * batch_size : (i + 1) * batch_size]
                for i in range(len(sizes))}  # fmt: skip
    found: dict[int, list[str]] = {}
    for phone, batch in zip(phones, batch_of.tolist(), strict=True):
        found.setdefault(batch, []).append(phone)
    return dict(sorted(found.items()))


def batch_texts(store: Store, campaign: str) -> dict[int, tuple[str | None, str | None]]:
    """The batches of ``campaign`` that keep a text of their own (a personalised plan's):
    batch -> (content, variables), in template form (see :class:`Text`)."""
    return {
        batch: (content, variables)
        for batch, content, variables in store.execute(
            "SELECT batch, content, variables FROM batches WHERE campaign = ? AND"
            " (content IS NOT NULL OR variables IS NOT NULL)",
            [campaign],
        )
    }


def _profiles(store: Store, campaign: str, attrs: list[str | None]) -> list[int | None]:
    """Each new recipient's profile: the number of its ``attrs`` among the campaign's
    distinct ones (``profiles``, recorded here as they appear; see schema.PROFILES_DDL).
    None for all when the campaign is not profiled: no list columns, past
    :data:`MAX_PROFILES`, or recipients recorded before without profiles."""
    known = {a: p for p, a in store.rows(
        "SELECT profile, attrs FROM profiles WHERE campaign = ?", [campaign])}  # fmt: skip
    unprofiled = [None] * len(attrs)
    if -1 in known.values():
        return unprofiled
    if not known:
        if all(a is None for a in attrs):
            return unprofiled  # nothing to group by (yet)
        if store.one("SELECT 1 FROM recipients WHERE campaign = ? LIMIT 1", [campaign]):
            _not_profiled(store, campaign)
            return unprofiled
    new = [a for a in dict.fromkeys(attrs) if a not in known]
    if len(known) + len(new) > MAX_PROFILES:
        _not_profiled(store, campaign)
        return unprofiled
    start = max(known.values(), default=-1) + 1
    store.executemany(
        "INSERT INTO profiles (campaign, profile, attrs) VALUES (?, ?, ?)",
        [(campaign, start + i, a) for i, a in enumerate(new)],
    )
    known.update({a: start + i for i, a in enumerate(new)})
    return [known[a] for a in attrs]


def _not_profiled(store: Store, campaign: str) -> None:
    """Mark ``campaign`` as not profiled: its statistics by a list column read every
    recipient (the profiles it has stay, for its recipients that carry them)."""
    store.execute(
        "INSERT INTO profiles (campaign, profile, attrs) VALUES (?, -1, NULL)"
        " ON CONFLICT (campaign, profile) DO NOTHING",
        [campaign],
    )


def _nullable(column: pd.Series) -> list[Any]:
    return column.to_numpy(dtype=object, na_value=None).tolist()


def _attrs(recipients: pd.DataFrame) -> list[str | None]:
    """The contact list's own columns of each row, as JSON (for stats by any column)."""
    own = recipients.drop(
        columns=["phone", "batch", "carrier", "province", "city", "phone_raw"], errors="ignore"
    )
    if own.shape[1] == 0:
        return [None] * len(recipients)
    own.columns = [str(c) for c in own.columns]
    text = own.to_json(orient="records", lines=True, force_ascii=False, date_format="iso")
    return text.splitlines()


# --------------------------------------------------------------------------- what to send


def pending(
    store: Store, campaign: str, states: Sequence[str], *, known: dict[int, list[str]]
) -> list[tuple[int, list[str]]]:
    """The batches in ``states``, in order, with their numbers (``known``: already in
    memory, from :func:`record_plan`)."""
    marks = ", ".join("?" * len(states))
    wanted = [b for (b,) in store.execute(
        f"SELECT batch FROM batches WHERE campaign = ? AND state IN ({marks}) ORDER BY batch",
        [campaign, *states])]  # fmt: skip
    missing = [b for b in wanted if b not in known]
    phones: dict[int, list[str]] = {}
    if missing:
        rows = store.execute(
            "SELECT batch, phone FROM recipients WHERE campaign = ? ORDER BY batch, phone",
            [campaign],
        )
        wanted_set = set(missing)
        for batch, phone in rows:
            if batch in wanted_set:
                phones.setdefault(batch, []).append(phone)
    return [(b, known[b] if b in known else phones.get(b, [])) for b in wanted]


def count_in_state(store: Store, campaign: str, state: str) -> int:
    """How many of the campaign's batches are in ``state``."""
    return store.scalar(
        "SELECT COUNT(*) FROM batches WHERE campaign = ? AND state = ?", [campaign, state]
    )


def batches_frame(store: Store, campaign: str) -> pd.DataFrame:
    """Every batch of a campaign, with :data:`BATCH_COLUMNS`."""
    columns = ", ".join(BATCH_COLUMNS)
    rows = store.rows(
        f"SELECT {columns} FROM batches WHERE campaign = ? ORDER BY batch", [campaign]
    )
    frame = pd.DataFrame(rows, columns=list(BATCH_COLUMNS))
    for name in ("batch", "size", "attempts"):
        frame[name] = frame[name].astype("int64")
    frame["accepted"] = frame["accepted"].astype("Int64")
    return frame


# --------------------------------------------------------------------------- transitions


class Claim(NamedTuple):
    """A claimed batch and what it was before, for :func:`restore`."""

    campaign: str
    batch: int
    state: str
    submitted_at: str | None
    attempts: int
    message: str | None


def claim(store: Store, campaign: str, batch: int, states: Sequence[str]) -> Claim | None:
    """``states`` -> ``submitting``, only if the batch is still in one of them: None when
    someone else moved it (it must not be sent twice). A holdout is never claimed."""
    if "held_out" in states:
        raise ValueError("a held_out batch is never sent: it is the holdout")
    if "expired" in states:
        raise ValueError("an expired batch is never sent: its campaign's expiry passed")
    before = store.one(
        "SELECT state, submitted_at, attempts, message FROM batches"
        " WHERE campaign = ? AND batch = ?",
        [campaign, batch],
    )
    marks = ", ".join("?" * len(states))
    moved = store.execute(
        f"UPDATE batches SET state = 'submitting', submitted_at = ?, attempts = attempts + 1"
        f" WHERE campaign = ? AND batch = ? AND state IN ({marks})",
        [now(), campaign, batch, *states],
    ).rowcount
    if moved != 1 or before is None:
        return None
    return Claim(campaign, batch, *before)


def _finish(store: Store, campaign: str, batch: int, assignments: str, params: list) -> None:
    store.execute(
        f"UPDATE batches SET {assignments} WHERE campaign = ? AND batch = ?"
        " AND state = 'submitting'",
        [*params, campaign, batch],
    )


def mark_accepted(
    store: Store,
    campaign: str,
    batch: int,
    *,
    task_id: str | None,
    accepted: int | None,
    code: str | None,
    message: str | None,
) -> None:
    """submitting -> accepted: the vendor took the batch."""
    _answered(store, campaign, batch, "accepted", task_id, accepted, code, message)


def mark_rejected(
    store: Store,
    campaign: str,
    batch: int,
    *,
    task_id: str | None = None,
    accepted: int | None = 0,
    code: str | None,
    message: str | None,
) -> None:
    """submitting -> rejected: the vendor refused the batch, with its code and message."""
    _answered(store, campaign, batch, "rejected", task_id, accepted, code, message)


def _answered(store, campaign, batch, state, task_id, accepted, code, message) -> None:
    _finish(store, campaign, batch,
            "state = ?, task_id = ?, accepted = ?, code = ?, message = ?, finished_at = ?",
            [state, task_id, accepted, code, message, now()])  # fmt: skip


def mark_unknown(store: Store, campaign: str, batch: int, *, message: str) -> None:
    """submitting -> unknown: the request may have reached the vendor, its answer is lost."""
    _finish(store, campaign, batch, "state = 'unknown', message = ?, finished_at = ?",
            [message, now()])  # fmt: skip


def restore(store: Store, claimed: Claim, *, why: str) -> None:
    """submitting -> what it was before :func:`claim`: the request certainly never left."""
    _finish(store, claimed.campaign, claimed.batch,
            "state = ?, submitted_at = ?, attempts = ?, message = ?",
            [claimed.state, claimed.submitted_at, claimed.attempts, why])  # fmt: skip


def mark_interrupted(store: Store, campaign: str) -> int:
    """Batches left ``submitting`` by a crash may have reached the vendor: ``unknown``.
    Returns how many."""
    return store.execute(
        "UPDATE batches SET state = 'unknown', finished_at = ?, message = COALESCE(message,"
        " 'interrupted during the call: the vendor may have it') WHERE campaign = ? AND"
        " state = 'submitting'",
        [now(), campaign],
    ).rowcount


def expire(store: Store, campaign: str, *, expires_at: str) -> list[tuple[int, int]]:
    """planned -> expired: the campaign's expiry (``expires_at``) passed before these batches
    were submitted; they are never sent. Returns the (batch, size) of each batch expired."""
    gone = store.rows(
        "SELECT batch, size FROM batches WHERE campaign = ? AND state = 'planned' ORDER BY batch",
        [campaign],
    )
    if gone:
        store.execute(
            "UPDATE batches SET state = 'expired', finished_at = ?, message = ? WHERE"
            " campaign = ? AND state = 'planned'",
            [now(), f"expired at {expires_at}: not submitted before the campaign's expiry",
             campaign],
        )  # fmt: skip
    return [(int(batch), int(size)) for batch, size in gone]


def drop_opted_out(store: Store, campaign: str, states: Sequence[str]) -> list[tuple[int, str]]:
    """Numbers that opted out since they were recorded leave the batches in ``states`` (and
    an emptied batch goes). Returns the (batch, phone) pairs dropped."""
    marks = ", ".join("?" * len(states))
    gone = store.rows(
        f"SELECT r.batch, r.phone, COALESCE(r.carrier, ''), COALESCE(r.province, ''),"
        f" COALESCE(r.city, ''), r.profile FROM recipients r JOIN batches b"
        f" USING (campaign, batch)"
        f" WHERE r.campaign = ? AND b.state IN ({marks}) AND r.phone IN"
        f" (SELECT phone FROM replies WHERE opt_out = 1) AND NOT EXISTS (SELECT 1 FROM"
        f" deliveries d WHERE d.campaign = r.campaign AND d.phone = r.phone)",
        [campaign, *states],
    )
    for batch, phone, carrier, province, city, profile in gone:
        store.execute("DELETE FROM recipients WHERE campaign = ? AND phone = ?", [campaign, phone])
        store.execute(
            "UPDATE recipient_counts SET n = n - 1 WHERE campaign = ? AND batch = ? AND"
            " carrier = ? AND province = ? AND city = ?",
            [campaign, batch, carrier, province, city],
        )
        store.execute(
            "UPDATE profile_recipients SET n = n - 1 WHERE campaign = ? AND batch = ?"
            " AND profile = ?",
            [campaign, batch, profile],
        )
        store.execute(
            "UPDATE batches SET size = size - 1, messages = (size - 1) * COALESCE(segments, 1)"
            " WHERE campaign = ? AND batch = ?",
            [campaign, batch],
        )
    if gone:
        empty = [b for (b,) in store.execute(
            "SELECT batch FROM batches WHERE campaign = ? AND size = 0", [campaign])]  # fmt: skip
        for batch in empty:
            for rolled in ("recipient_counts", "profile_recipients"):
                store.execute(f"DELETE FROM {rolled} WHERE campaign = ? AND batch = ?",
                              [campaign, batch])  # fmt: skip
            store.execute("DELETE FROM batches WHERE campaign = ? AND batch = ?",
                          [campaign, batch])  # fmt: skip
    return [(batch, phone) for batch, phone, *_ in gone]
