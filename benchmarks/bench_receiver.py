"""The push receiver under load, beside a minimal commit-per-push ASGI app, with wrk.

    python benchmarks/bench_receiver.py [--connections 32 256] [--seconds 10] [--threads 2]
                                        [--db postgresql://...] [--workers 2]

Needs ``wrk`` (a small C load generator): ``apt-get update && apt-get install -y wrk`` on
Debian/Ubuntu, ``brew install wrk`` on macOS. It is a benchmark, not a test: CI need not have
it.

Two servers, each in its own process on a fresh store, in the same run, on the same server
(uvicorn with httptools and uvloop) and the same tables (the project's schema: receipts with
its indexes, WAL on SQLite):

- ``receiver``: ``campaign.receiver.run`` (the project's: group commit, 200 after commit);
- ``baseline``: a raw ASGI app that parses the form and INSERTs and commits each push into
  ``receipts`` before answering (what issue 12 measured at 5,400-6,300/s).

wrk posts veesing-sms receipt forms, every one a different phone, so each acknowledged push
must be a new row. Printed per server and connection count: acknowledged pushes/s, latency
p50/p99 (wrk's), socket errors, and the proof: rows stored vs pushes acknowledged (wrk's 2xx
count). A push wrk abandons at the end may be stored without wrk seeing the 200, so
stored >= acknowledged.

Goals (issue 12, 2 cores): ahead of the baseline; >= 10,000/s at 32 connections with p99 < 15
ms and 0 acknowledged-but-missing; at 256 connections no errors and p99 < 100 ms; with
PostgreSQL and --workers 2, >= 10,000/s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

LUA = r"""
local counter = 0
local prefix = 0
local threads = {}
function setup(thread)
  thread:set("prefix", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  prefix = tonumber(wrk.thread:get("prefix")) or 1
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded;charset=utf-8"
request = function()
  counter = counter + 1
  local phone = string.format("1%d%09d", prefix, counter)
  local body = "mobile=" .. phone .. "&taskid=3313746&status=1&code=DELIVRD" ..
               "&receivetime=2024-11-11+20%3A00%3A05"
  return wrk.format(nil, nil, nil, body)
end
"""

RECEIVER = textwrap.dedent(
    """
    import logging, sys
    from campaign.receiver import run
    logging.basicConfig(level=logging.WARNING)
    run(sys.argv[1], port=0, workers=int(sys.argv[3]),
        on_ready=lambda r: open(sys.argv[2], "w").write(r.url))
    """
)

# The baseline: a raw ASGI app on the same server, one INSERT and one COMMIT per push, before
# the 200. It uses the project's store only to create the tables (same schema and indexes).
BASELINE = textwrap.dedent(
    """
    import socket, sys, urllib.parse, datetime
    import uvicorn
    from campaign.store import connect

    store = connect(sys.argv[1])
    conn, engine = store.conn, store.engine
    INSERT = engine.sql(
        "INSERT INTO receipts (vendor, task_id, phone, status, code, received_at, ingested_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
    STATUS = {"1": "delivered", "0": "failed"}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8")))
        when = datetime.datetime.strptime(form["receivetime"], "%Y-%m-%d %H:%M:%S")
        engine.begin(conn)
        conn.execute(INSERT, ("veesing-sms", form["taskid"], form["mobile"],
                              STATUS.get(form["status"], "unknown"), form.get("code"),
                              when.isoformat() + "+08:00", when.isoformat()))
        engine.commit(conn)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    config = uvicorn.Config(app, http="httptools", loop="uvloop", lifespan="off",
                            access_log=False, log_level="warning", backlog=2048)
    server = uvicorn.Server(config)
    open(sys.argv[2], "w").write("http://127.0.0.1:%d" % sock.getsockname()[1])
    server.run(sockets=[sock])
    """
)


def percentile(text: str, name: str) -> float | None:
    match = re.search(rf"^\s*{name}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def stored(db: str) -> int:
    from campaign.store import connect

    with connect(db) as store:
        return store.scalar("SELECT COUNT(*) FROM receipts")


def clear(db: str) -> None:
    from campaign.store import connect

    with connect(db) as store, store.transaction():
        store.execute("DELETE FROM deliveries")
        store.execute("DELETE FROM receipts")


@contextlib.contextmanager
def server(script: str, db: str, folder: Path, *args: str):
    url_file = folder / f"url-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-c", script, db, str(url_file), *args])
    try:
        deadline = time.monotonic() + 60
        while not (url_file.exists() and url_file.read_text()):
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit("server did not start")
            time.sleep(0.05)
        yield url_file.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def load(url: str, script: Path, *, threads: int, connections: int, seconds: int) -> dict:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "--timeout", "5s", "-s", str(script), f"{url}/push/veesing-sms"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "acked": total - (int(non2xx.group(1)) if non2xx else 0),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": errors.group(1) if errors else "none",
        "p50": percentile(out, "50"),
        "p99": percentile(out, "99"),
        "raw": out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--db", help="a PostgreSQL URL (a scratch database is made beside it)")
    parser.add_argument("--workers", type=int, default=1, help="the receiver's processes")
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get update && apt-get install -y wrk (or brew install wrk)")

    folder = Path(tempfile.mkdtemp(prefix="bench_receiver_"))
    script = folder / "post.lua"
    script.write_text(LUA)
    with contextlib.ExitStack() as stack:
        if args.db:
            from _postgres import scratch_databases

            dbs = stack.enter_context(scratch_databases(args.db, "receiver", "baseline"))
        else:
            dbs = {name: str(folder / f"{name}.db") for name in ("receiver", "baseline")}
        failed = False
        engine = "PostgreSQL" if args.db else "SQLite"
        print(f"{os.cpu_count()} cores, loopback, {args.seconds} s per run, {engine}, "
              f"receiver workers {args.workers}")  # fmt: skip
        print(f"{'server':<10}{'conns':>6}{'acked/s':>10}{'p50 ms':>8}{'p99 ms':>8}"
              f"{'non-2xx':>8}{'stored':>9}{'missing':>8}  socket errors")  # fmt: skip
        for connections in args.connections:
            for name, script_text, extra in (
                ("receiver", RECEIVER, [str(args.workers)]),
                ("baseline", BASELINE, []),
            ):
                db = dbs[name]
                with server(script_text, db, folder, *extra) as url:
                    result = load(url, script, threads=args.threads, connections=connections,
                                  seconds=args.seconds)  # fmt: skip
                rows = stored(db)
                missing = max(0, result["acked"] - rows)
                failed = failed or (name == "receiver" and missing > 0)
                if args.verbose:
                    print(result["raw"])
                print(f"{name:<10}{connections:>6}{result['acked'] / args.seconds:>10,.0f}"
                      f"{result['p50']:>8.1f}{result['p99']:>8.1f}{result['non2xx']:>8}"
                      f"{rows:>9,}{missing:>8}  {result['errors']}")  # fmt: skip
                clear(db)
    shutil.rmtree(folder, ignore_errors=True)
    print("goals: ahead of baseline; >= 10,000/s at 32 conns, p99 < 15 ms, 0 missing; "
          "256 conns: no errors, p99 < 100 ms")  # fmt: skip
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
