"""Write the small synthetic sample lists in data/ (run: python data/make_samples.py).

The numbers are random digits in real mobile ranges: synthetic, belonging to nobody on
purpose. Each file shows the mess phone lists really arrive with; tests and the README
examples read them, so keep them small and keep this script deterministic.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).parent
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
PREFIXES = [
    "134",
    "138",
    "139",
    "150",
    "158",
    "182",
    "187",
    "198",  # 中国移动
    "130",
    "156",
    "166",
    "176",
    "186",  # 中国联通
    "133",
    "153",
    "177",
    "180",
    "189",
    "199",  # 中国电信
    "192",
]  # 中国广电
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
TIERS = ["普通", "银卡", "金卡", "钻石"]


def number(rng: random.Random) -> str:
    return rng.choice(PREFIXES) + "".join(rng.choices("0123456789", k=8))


def messy(n: str, i: int) -> str:
    """One of the ways people write a number, chosen by position so every form appears."""
    forms = [
        n,
        f"{n[:3]} {n[3:7]} {n[7:]}",
        f"{n[:3]}-{n[3:7]}-{n[7:]}",
        f"+86 {n}",
        f"86{n}",
        f"0086-{n}",
        f"{n}.0",
        f"(+86){n[:3]}-{n[3:7]}-{n[7:]}",
        n.translate(FULL_WIDTH),
        f" {n} ",
        f"{n[:3]}.{n[3:7]}.{n[7:]}",
    ]
    return forms[i % len(forms)]


BAD = [
    "1.38001E+10",  # digits lost to Excel scientific notation
    "",  # empty
    "010-62345678",  # landline
    "无",  # not a phone number
    "1380013800",  # wrong length (10 digits)
    "12012345678",  # 11 digits, but no mobile range starts 120
    "13800138000/13900139000",  # several numbers in one cell
    "+1 415 555 0100",  # not a mainland China number
]


def rows(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(name, phone text) pairs: mostly valid in every form, the bad ones, two repeats."""
    out = []
    numbers = [number(rng) for _ in range(count)]
    for i, n in enumerate(numbers):
        out.append((rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN), messy(n, i)))
    for bad in BAD:
        out.insert(rng.randrange(len(out)), (rng.choice(SURNAMES) + rng.choice(GIVEN), bad))
    out.append(("重复客户", messy(numbers[0], 3)))  # a repeat written another way
    out.append(("重复客户", numbers[5]))
    return out


def main() -> None:
    rng = random.Random(20261123)

    with open(HERE / "contacts.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["姓名", "手机号码", "会员等级", "城市"])
        for name, phone in rows(rng, 40):
            w.writerow([name, phone, rng.choice(TIERS), rng.choice(["深圳", "广州", "北京", ""])])

    with open(HERE / "contacts_gbk.csv", "w", newline="", encoding="gbk") as f:
        w = csv.writer(f)
        w.writerow(["客户名称", "联系电话", "备注"])
        for name, phone in rows(rng, 30):
            w.writerow([name, phone.replace("０", "0"), rng.choice(["老客户", "新客户", "双11"])])

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "客户"
    ws.append(["序号", "客户", "手机", "消费金额"])
    for i, (name, phone) in enumerate(rows(rng, 30), start=1):
        digits = phone.strip()
        if i % 3 == 0 and digits.isdigit():
            cell: object = int(digits)  # a numeric cell, as Excel stores typed numbers
        elif i % 3 == 1 and digits.isdigit():
            cell = float(digits)  # a float cell: 13800138000.0
        else:
            cell = phone
        ws.append([i, name, cell, round(rng.uniform(10, 2000), 2)])
    other = wb.create_sheet("说明")
    other.append(["这张表是合成的示例数据"])
    wb.save(HERE / "contacts.xlsx")

    write_demo_list(random.Random(11), HERE / "demo_contacts.csv", 20_000)

    with open(HERE / "numbers.txt", "w", encoding="utf-8") as f:
        nums = [number(rng) for _ in range(12)]
        f.write("\n".join(nums[:6]) + "\n")
        f.write(", ".join(nums[6:9]) + "\n")
        f.write("; ".join(nums[9:]) + "\n")
        f.write(f"{nums[0][:3]} {nums[0][3:7]} {nums[0][7:]}\n")  # a repeat, in groups


# share of numbers per carrier, roughly the mainland market: 移动, 联通, 电信, 广电
CARRIER_PREFIXES = [
    (0.55, ["134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159",
            "182", "183", "187", "188", "195", "198"]),
    (0.25, ["130", "131", "132", "155", "156", "166", "175", "176", "185", "186", "196"]),
    (0.18, ["133", "153", "173", "177", "180", "181", "189", "190", "191", "199"]),
    (0.02, ["192"]),
]  # fmt: skip


def write_demo_list(rng: random.Random, path: Path, count: int) -> None:
    """The demo's member list: ~2% unusable, ~3% repeats, members' own columns."""
    numbers: list[str] = []
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(["会员编号", "姓名", "手机号", "会员等级", "注册渠道"])
        for i in range(count):
            r = rng.random()
            if r < 0.02:
                phone = rng.choice(BAD)
            elif r < 0.05 and numbers:
                phone = messy(rng.choice(numbers), i)
            else:
                weights = [share for share, _ in CARRIER_PREFIXES]
                prefixes = rng.choices([p for _, p in CARRIER_PREFIXES], weights)[0]
                n = rng.choice(prefixes) + "".join(rng.choices("0123456789", k=8))
                numbers.append(n)
                phone = messy(n, i) if rng.random() < 0.3 else n
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
            tier = rng.choices(TIERS, [0.6, 0.25, 0.12, 0.03])[0]
            channel = rng.choice(["门店", "小程序", "App", "电商"])
            w.writerow([f"M{100000 + i}", name, phone, tier, channel])


if __name__ == "__main__":
    main()
