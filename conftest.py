"""pytest setup shared by ``tests/`` and the docstring examples in ``campaign/``.

The examples in the docstrings run as doctests (``--doctest-modules``, see pyproject.toml), so
they cannot drift from the code. Each runs in a fresh folder holding what the docstrings assume
a user has: ``campaign.db`` as ``campaign demo`` leaves it (campaigns double11-A, double11-B,
vip-jzyyun and voice-notice), ``data/`` with the sample lists, ``cp`` and ``pd`` imported, and
made-up vendor credentials in the environment. Examples that would call a real vendor are
marked ``+SKIP``; the same calls run against the simulator in ``tests/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import urllib.parse
import uuid
import warnings
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem  # not re-exported by pytest

ROOT = Path(__file__).resolve().parent

FAKE_CREDENTIALS = {
    "VEESING_APP_ID": "2RYN7CQHL1M",
    "VEESING_APP_KEY": "doctest-key",
    "IHUYI_ACCOUNT": "C12345678",
    "IHUYI_API_KEY": "doctest-key",
    "JZYYUN_USERNAME": "doctest",
    "JZYYUN_PASSWORD": "doctest-pw",
}


LOOPBACK = {"127.0.0.1", "localhost", "::1", "", None}


@pytest.fixture(autouse=True, scope="session")
def _loopback_only():
    """No test reaches the internet: a name other than loopback fails to resolve, loudly."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK and not str(host).startswith("127."):
            raise socket.gaierror(f"tests may only reach 127.0.0.1, not {host!r}")
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    yield
    socket.getaddrinfo = real


@pytest.fixture(autouse=True)
def _vendor_windows(request):
    """Marketing SMS vendors send only 08:00-21:00 Shanghai time by default, so a test that
    sends through them would pass or wait all night by the hour it runs at: for tests not
    about the window those defaults are lifted. Mark a test ``vendor_windows`` to keep them
    (tests/test_send_controls.py does, with a fake clock); docstring examples keep them.

    The lift has a MonkeyPatch of its own: a test's ``monkeypatch.undo()`` (as migration
    tests do) must not bring the window back halfway through, or the test waits till 08:00."""
    if isinstance(request.node, DoctestItem) or request.node.get_closest_marker("vendor_windows"):
        yield
        return
    from campaign.vendors import VENDORS

    with pytest.MonkeyPatch.context() as patch:
        for module in VENDORS.values():
            if module.LIMITS.send_window is not None:
                lifted = module.LIMITS.replace(send_window=None)
                patch.setattr(module, "LIMITS", lifted)
                patch.setattr(module.Client, "LIMITS", lifted)
        yield


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the tests: the one ``$CAMPAIGN_TEST_POSTGRES`` names (a URL
    whose user may create databases), else one started here from the ``pgserver`` wheel (the
    test extras install it), stopped and removed at the end.

    Its folder is not under pytest's tmp_path: run as root, pgserver's server runs as its own
    user, and every new pytest session makes pytest's folder private again (0700), which would
    cut a server still running for another session off its data."""
    given = os.environ.get("CAMPAIGN_TEST_POSTGRES", "").strip()
    if given:
        yield given
        return
    folder = tempfile.mkdtemp(prefix="campaign-test-pg-")
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_server):
    """A new, empty PostgreSQL database for one test; its URL. Dropped afterwards."""
    import psycopg

    name = "campaign_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    parts = urllib.parse.urlsplit(postgres_server)
    yield urllib.parse.urlunsplit(parts._replace(path="/" + name))
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The same test on both engines: a SQLite file path, or a PostgreSQL database URL."""
    if request.param == "sqlite":
        return str(tmp_path / "campaign.db")
    return request.getfixturevalue("postgres_db")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """`campaign demo` once per test run (about 20 s): its CLI result and its folder."""
    from click.testing import CliRunner

    from campaign.cli import main

    out = tmp_path_factory.mktemp("demo")
    return CliRunner().invoke(main, ["demo", "--out", str(out)]), out


@pytest.fixture(scope="session")
def demo_store(demo_run):
    """A store with every kind of campaign in it, as the demo leaves it. Read it, don't write."""
    result, folder = demo_run
    assert result.exit_code == 0, result.output
    return folder / "campaign.db"


@pytest.fixture(autouse=True)
def _doctest_folder(request):
    """For docstring examples only: the folder, store, data and names they assume."""
    if not isinstance(request.node, DoctestItem):
        yield
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    import campaign

    folder = request.getfixturevalue("tmp_path")
    monkeypatch = request.getfixturevalue("monkeypatch")
    if "campaign.db" in (request.node.dtest.docstring or ""):  # the demo only when needed
        store = request.getfixturevalue("demo_store")
        for path in store.parent.glob("campaign.db*"):  # a copy each: examples may write to it
            shutil.copy(path, folder / path.name)
    shutil.copytree(ROOT / "data", folder / "data")
    monkeypatch.chdir(folder)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    request.getfixturevalue("doctest_namespace").update(cp=campaign, pd=pd)
    with pd.option_context("display.width", 100, "display.max_columns", 8):
        yield
    plt.close("all")
