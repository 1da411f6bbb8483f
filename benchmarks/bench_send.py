"""cp.send against the simulator: calls/s, numbers/s, and the share of time outside HTTP.

    python benchmarks/bench_send.py [--numbers 200000] [--calls 5000] [--db postgresql://...]

The simulator runs in its own process (as a vendor would; a fresh one for each timing, so
that neither inherits the other's held receipts), and each case is timed twice in the same
run:
- raw: the same vendor calls made directly with client.send (a thread pool for the
  single-phone vendor), no store: the baseline;
- cp.send: planning's output sent with every state committed to a fresh SQLite store.
"outside HTTP" is cp.send's wall time minus the raw run's, as a share of cp.send's: what
recording the campaign, committing each state change and scheduling cost.
Cases: jzyyun-sms 200,000 numbers (10 calls of 20,000); veesing-voice 5,000 single-phone
calls at concurrency 8. Goal (issue 5): outside HTTP under 20%. With ``--db`` a PostgreSQL
URL, cp.send records into a scratch database beside it (one per case, dropped afterwards).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import campaign as cp
from campaign.store import describe

SIMULATOR = """
import sys
from campaign.simulator import run
big = 10**9
run(port=0, seed=1, balances={"jzyyun-sms": {"memberSmsNum": big, "gateSmsNum": big,
    "kaSmsNum": big}, "veesing-voice": big},
    on_ready=lambda sim: print(sim.url, flush=True))
"""


def raw(client, plan, concurrency: int) -> float:
    phones = list(plan.batches["phones"])
    kwargs = {"content": plan.content, "template_id": plan.template_id,
              "variables": plan.variables}  # fmt: skip
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(lambda p: client.send(p, **kwargs), phones))
    wall = time.perf_counter() - started
    assert all(r.ok for r in results), [r for r in results if not r.ok][:1]
    return wall


class Simulator:
    """The vendor simulator in a child process."""

    def __enter__(self) -> str:
        self.proc = subprocess.Popen([sys.executable, "-c", SIMULATOR], stdout=subprocess.PIPE,
                                     text=True)  # fmt: skip
        return self.proc.stdout.readline().strip()

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def case(label, plan, make_client, concurrency, store) -> None:
    workers = concurrency if plan.limits.single_phone_only else 1
    with Simulator() as url:
        base = raw(make_client(url), plan, workers)
    with Simulator() as url:
        started = time.perf_counter()
        result = cp.send(plan, make_client(url), db=store, campaign=label,
                         concurrency=concurrency, progress=False)  # fmt: skip
        wall = time.perf_counter() - started
    assert (result["state"] == "accepted").all(), result["state"].value_counts()
    calls = len(result)
    outside = max(wall - base, 0.0)
    print(f"{label:<14}{calls:>7,} calls{plan.numbers:>10,} numbers | raw {base:6.2f} s | "
          f"cp.send {wall:6.2f} s {calls / wall:7.0f} calls/s {plan.numbers / wall:9,.0f} "
          f"numbers/s | outside HTTP {outside:5.2f} s = {outside / wall:5.1%}")  # fmt: skip


def numbers(n: int, start: int) -> list[str]:
    """n distinct numbers in random order, as real lists come."""
    rng = random.Random(start)
    return [str(start + i) for i in rng.sample(range(10**8), n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--db", help="a PostgreSQL URL: record into PostgreSQL, not SQLite")
    args = parser.parse_args()

    content = "【云通信】双11会员专享,回T退订"
    sms = cp.plan_batches(numbers(args.numbers, 13_000_000_000), vendor="jzyyun-sms",
                          content=content)  # fmt: skip
    voice = cp.plan_batches(numbers(args.calls, 15_000_000_000), vendor="veesing-voice",
                            template_id="724", variables="您的快递已到")  # fmt: skip
    with contextlib.ExitStack() as stack:
        if args.db:
            from _postgres import scratch_databases

            stores = stack.enter_context(scratch_databases(args.db, "sms", "voice"))
            print(f"stores: PostgreSQL beside {describe(args.db)}")
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            stores = {"sms": folder / "sms.db", "voice": folder / "voice.db"}
        case("jzyyun-sms", sms, lambda url: cp.vendor("jzyyun-sms", username="bench",
             password="pw", base_url=url), 1, stores["sms"])  # fmt: skip
        case("veesing-voice", voice, lambda url: cp.vendor("veesing-voice", app_id="bench",
             app_key="k", base_url=url), 8, stores["voice"])  # fmt: skip
    print("goal: outside HTTP under 20% of cp.send's wall time")


if __name__ == "__main__":
    main()
