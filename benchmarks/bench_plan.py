"""plan_batches on 1,000,000 valid numbers for jzyyun (20,000 a call), against a plain split.

    python benchmarks/bench_plan.py [--rows N]

Baseline, measured in the same run: the numbers column as a list, cut into lists of 20,000.
Goal (issue 5): plan_batches under 1 s and within 2x of the baseline.
"""

from __future__ import annotations

import argparse
import time

import campaign as cp


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    contacts = cp.load_phones([str(13_000_000_000 + i * 7) for i in range(args.rows)])
    assert contacts["valid"].all()
    content = "【云通信】双11会员专享,全场五折,回T退订"

    def baseline():
        phones = contacts["phone"].tolist()
        return [phones[i : i + 20_000] for i in range(0, len(phones), 20_000)]

    def planned():
        return cp.plan_batches(contacts, vendor="jzyyun-sms", content=content)

    assert len(planned().batches) == len(baseline())
    base = best_of(args.repeat, baseline)
    plan = best_of(args.repeat, planned)
    print(f"numbers: {args.rows:,}  calls: {len(baseline()):,}")
    print(f"split into lists of 20,000 [baseline]  {base:8.3f} s")
    print(f"cp.plan_batches(vendor='jzyyun-sms')   {plan:8.3f} s")
    print(f"ratio {plan / base:.2f}x   (goal: < 1 s and <= 2x)")


if __name__ == "__main__":
    main()
