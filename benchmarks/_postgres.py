"""Scratch PostgreSQL databases for the benchmarks that take ``--db postgresql://...``."""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from collections.abc import Iterator


@contextlib.contextmanager
def scratch_databases(url: str, *labels: str) -> Iterator[dict[str, str]]:
    """New, empty databases beside the one ``url`` names (its user must be allowed to create
    databases), one per label: label -> URL. Dropped afterwards."""
    import psycopg

    parts = urllib.parse.urlsplit(url)
    names = {label: f"bench_{label}_{os.getpid()}".replace("-", "_") for label in labels}
    with psycopg.connect(url, autocommit=True) as admin:
        for name in names.values():
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.execute(f"CREATE DATABASE {name}")
    try:
        yield {
            label: urllib.parse.urlunsplit(parts._replace(path="/" + name))
            for label, name in names.items()
        }
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            for name in names.values():
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
