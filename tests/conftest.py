"""Fixtures of the tests of planning and sending (the project-wide ones are in ../conftest.py).

A test module that needs another ``sim`` or ``db`` defines its own, which wins over these.
"""

from __future__ import annotations

import pytest

from campaign.simulator import serve


@pytest.fixture
def sim():
    """The vendor simulator on 127.0.0.1, seed 3, stopped after the test."""
    with serve(seed=3) as simulator:
        yield simulator


@pytest.fixture
def db(store_url):
    """The store, on both engines: a SQLite file (not created yet), or an empty PostgreSQL
    database."""
    return store_url
