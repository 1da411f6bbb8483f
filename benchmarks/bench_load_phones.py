"""load_phones on a 1,000,000-row messy list, against plain pandas.read_csv in the same run.

    python benchmarks/bench_load_phones.py [--rows N] [--repeat K]

Writes benchmarks/_data/messy_<N>.csv once (about 3% invalid, 5% repeats, every way of
writing a number that load_phones accepts), then times, each in a fresh process so that
peak memory is its own:

- baseline: ``pd.read_csv(path, dtype=str)``, the issue's yardstick (pandas' default C reader)
- also shown: ``pd.read_csv(path, dtype=str, engine="pyarrow")``, the reader load_phones uses
- ``cp.load_phones(path)``: first call in a process (builds the prefix tables) and warm calls

Goal (issue 3): load_phones at most 2x the baseline, peak memory under 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREFIXES = [
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "145", "147", "150",
    "151", "152", "153", "155", "156", "157", "158", "159", "166", "170", "171", "173", "175",
    "176", "177", "178", "180", "181", "182", "183", "184", "185", "186", "187", "188", "189",
    "190", "191", "192", "193", "195", "196", "197", "198", "199",
]  # fmt: skip
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
INVALID = ["1.38001E+10", "12345", "010-62345678", "无", "", "12012345678", "138001380001",
           "0755-8888 1234", "13800138000/13900139000", "+1 415 555 0100"]  # fmt: skip


def written(n: str, rng: random.Random) -> str:
    r = rng.random()
    forms = [
        (0.45, n), (0.55, f"{n[:3]} {n[3:7]} {n[7:]}"), (0.63, f"{n[:3]}-{n[3:7]}-{n[7:]}"),
        (0.70, f"+86 {n[:3]} {n[3:7]} {n[7:]}"), (0.75, "86" + n), (0.78, "0086" + n),
        (0.82, n + ".0"), (0.85, f"(+86){n[:3]}-{n[3:7]}-{n[7:]}"), (0.88, n.translate(FULL_WIDTH)),
        (0.91, f" {n}\t"), (0.94, f"{n[:3]}.{n[3:7]}.{n[7:]}"), (1.0, "+86" + n),
    ]  # fmt: skip
    return next(text for limit, text in forms if r < limit)


def write_list(path: Path, rows: int) -> None:
    rng = random.Random(42)
    seen: list[str] = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("姓名,手机号,城市,积分\n")
        for i in range(rows):
            r = rng.random()
            if r < 0.03:
                phone = rng.choice(INVALID)
            elif r < 0.08 and seen:
                phone = written(rng.choice(seen), rng)
            else:
                n = rng.choice(PREFIXES) + f"{rng.randrange(10**8):08d}"
                if len(seen) < 200_000:
                    seen.append(n)
                phone = written(n, rng)
            if "," in phone or '"' in phone:
                phone = '"' + phone.replace('"', '""') + '"'
            f.write(f"客户{i},{phone},{rng.choice(['北京', '上海', '深圳', '成都'])},{i % 997}\n")


CHILD = r"""
import json, resource, sys, time
import pandas as pd
path, what, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
if what == "load_phones":
    import campaign as cp
    run = lambda: cp.load_phones(path)
elif what == "read_csv":
    run = lambda: pd.read_csv(path, dtype=str)
else:
    run = lambda: pd.read_csv(path, dtype=str, engine="pyarrow")
times = []
for _ in range(repeat):
    t = time.perf_counter(); out = run(); times.append(time.perf_counter() - t)
extra = {}
if what == "load_phones":
    extra = {"valid": int(out["valid"].sum()), "duplicates": int(out["duplicate"].sum())}
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"first": times[0], "best": min(times[1:] or times), "peak_mb": peak_mb, **extra}))
"""


def measure(path: Path, what: str, repeat: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), what, str(repeat)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    path = HERE / "_data" / f"messy_{args.rows}.csv"
    if not path.exists():
        t = time.perf_counter()
        write_list(path, args.rows)
        print(
            f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s"
        )

    base = measure(path, "read_csv", args.repeat)
    arrow = measure(path, "read_csv_arrow", args.repeat)
    load = measure(path, "load_phones", args.repeat)
    print(f"rows: {args.rows:,}  valid: {load['valid']:,}  repeats: {load['duplicates']:,}")
    print(f"{'':38}{'first call':>12}{'warm (best)':>13}{'peak RSS':>11}")
    for label, m in [
        ("pd.read_csv(dtype=str)  [baseline]", base),
        ("pd.read_csv(dtype=str, engine=pyarrow)", arrow),
        ("cp.load_phones(path)", load),
    ]:
        print(f"{label:38}{m['first']:>11.2f}s{m['best']:>12.2f}s{m['peak_mb']:>9.0f}MB")
    print(
        f"load_phones / read_csv: {load['first'] / base['first']:.2f}x first call, "
        f"{load['best'] / base['best']:.2f}x warm   (goal: <= 2x, peak < 1,500 MB)"
    )


if __name__ == "__main__":
    main()
