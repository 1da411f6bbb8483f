"""The push receiver under load: 32 connections for 10 s on loopback, with wrk.

    python benchmarks/bench_receiver.py [--connections 32] [--seconds 10] [--threads 2]

Needs ``wrk`` (a small C load generator): ``apt-get update && apt-get install -y wrk`` on
Debian/Ubuntu, ``brew install wrk`` on macOS. It is a benchmark, not a test: CI need not have
it.

The receiver runs in its own process (``campaign.receiver.run``) on a fresh store; wrk posts
veesing-sms receipt forms, every one a different phone, so each acknowledged push must be a
new row. Printed: requests/s, latency p50/p99 (wrk's), and the proof: rows stored vs pushes
acknowledged (wrk's 2xx count, and the receiver's own count). A push wrk abandons at the end
may be stored without wrk seeing the 200, so stored >= acknowledged-by-wrk, and stored ==
acknowledged-by-receiver.

Goal (issue 6): >= 3,000 acknowledged receipts/s, p99 < 50 ms, zero acknowledged-but-missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

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
  local phone = string.format("13%d%08d", prefix, counter)
  local body = "mobile=" .. phone .. "&taskid=3313746&status=1&code=DELIVRD" ..
               "&receivetime=2024-11-11+20%3A00%3A05"
  return wrk.format(nil, nil, nil, body)
end
"""

SERVER = textwrap.dedent(
    """
    import logging, sys
    from campaign.receiver import run
    logging.basicConfig(level=logging.WARNING)
    def ready(r):
        open(sys.argv[2], "w").write(r.url)
    run(sys.argv[1], port=0, on_ready=ready)
    """
)


def percentile(text: str, name: str) -> float | None:
    match = re.search(rf"^\s*{name}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get update && apt-get install -y wrk (or brew install wrk)")

    folder = Path(tempfile.mkdtemp(prefix="bench_receiver_"))
    db, url_file, script = folder / "campaign.db", folder / "url", folder / "post.lua"
    script.write_text(LUA)
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(db), str(url_file)])
    try:
        deadline = time.monotonic() + 20
        while not (url_file.exists() and url_file.read_text()):
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("receiver did not start")
            time.sleep(0.05)
        url = url_file.read_text()
        out = subprocess.run(
            ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s",
             "--latency", "--timeout", "5s", "-s", str(script), f"{url}/push/veesing-sms"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        health = json.loads(urllib.request.urlopen(f"{url}/health", timeout=5).read())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    acked = total - (int(non2xx.group(1)) if non2xx else 0)
    conn = sqlite3.connect(db)
    stored = conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]
    conn.close()
    p50, p99 = percentile(out, "50"), percentile(out, "99")
    print(out)
    print(f"connections {args.connections}, {args.seconds} s, loopback, {os.cpu_count()} cores")
    print(f"acknowledged (wrk 2xx)      {acked:>10,}  {acked / args.seconds:>8,.0f} /s")
    print(f"acknowledged (receiver)     {health['acknowledged']:>10,}")
    print(f"stored rows                 {stored:>10,}")
    print(f"latency p50 {p50:.1f} ms   p99 {p99:.1f} ms")
    if errors:
        print(f"socket errors: {errors.group(1)}")
    missing = max(0, acked - stored)
    print(f"acknowledged but missing: {missing}   (goal: >= 3,000/s, p99 < 50 ms, 0 missing)")
    shutil.rmtree(folder, ignore_errors=True)
    sys.exit(1 if missing or stored < health["acknowledged"] else 0)


if __name__ == "__main__":
    main()
