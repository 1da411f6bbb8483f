"""The whole journey on synthetic data, against the vendor simulator: `campaign demo`.

Starts the simulator and the push receiver on 127.0.0.1, loads the 20,000-member list in
``data/``, runs an SMS campaign with two content variants through a pushed vendor
(veesing-sms), each with a 10% holdout and a tracking link, a diamond-member campaign through
a pulled one (jzyyun-sms) with a link of each number's own, and a small voice campaign
(veesing-voice). The simulated recipients click the links (the receiver stores the clicks);
the demo ingests every receipt and reply, imports the orders the simulated shop took
(attributed to the campaigns), sets the vendors' prices, and writes the HTML reports.
Nothing leaves the machine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from campaign import receiver as push_receiver
from campaign import simulator
from campaign.batching import plan_batches
from campaign.errors import ConfigError
from campaign.ingest import ingest_conversions, pull_replies, pull_reports, set_prices
from campaign.phones import load_phones
from campaign.report import report
from campaign.send import send
from campaign.stats import compare, delivery_stats, funnel_stats, reply_stats, voice_stats
from campaign.vendors import vendor

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
CONTACTS = "demo_contacts.csv"

VARIANTS = {
    "double11-A": "【云通信】双11会员专享:全场五折,今晚8点开抢!{link} 回T退订",
    "double11-B": "【云通信】尊敬的会员,您的双11专属五折券已到账,今晚8点可用 {link} 回T退订",
}
VIP = ("vip-jzyyun", "【云通信】尊敬的钻石会员,双11专属礼包已为您预留 {link} 回T退订")
#: Where the tracking links lead (the simulator's clicks never follow the redirect there).
SHOP = "https://shop.example.com/d11"
VOICE = ("voice-notice", "724", "您的双11专属礼包已预留")
#: The share of each double11 variant held out (never sent), to measure the lift against.
HOLDOUT = 0.1
#: What the demo's vendors charge, in yuan per billed message or call.
PRICES = {"veesing-sms": 0.045, "jzyyun-sms": 0.04, "veesing-voice": 0.12}


@dataclass
class DemoResult:
    """What the demo did: the store, the headline table, the comparison and the reports."""

    db: Path
    headline: pd.DataFrame
    comparison: pd.DataFrame
    reports: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def run_demo(
    *,
    out: str | Path = "out",
    data_dir: str | Path | None = None,
    seed: int = 7,
    voice_calls: int = 200,
    progress: bool = True,
    echo: Callable[[str], None] = log.info,
) -> DemoResult:
    """Run the whole journey on the synthetic data; write the store and reports into ``out``.

    ``echo`` receives a line per step (the CLI passes ``click.echo``); progress bars show
    the sends. Returns the headline table (delivery_stats by campaign), the A/B comparison
    and the report files.

    Takes about 20 s, so the example is not run here; ``tests/test_cli.py`` runs the demo.

    >>> result = run_demo(out="out", progress=False)  # doctest: +SKIP
    >>> result.headline[["campaign", "submitted", "delivered"]]  # doctest: +SKIP
    """
    started = time.perf_counter()
    data = Path(data_dir) if data_dir is not None else DATA_DIR
    if not (data / CONTACTS).is_file():
        raise ConfigError(
            f"the demo reads {data / CONTACTS}, which is missing; run it from a clone of the "
            "repository or pass data_dir=..."
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "campaign.db"
    for stale in out.glob("campaign.db*"):  # the demo's own store: start afresh
        stale.unlink()

    contacts = load_phones(data / CONTACTS)
    sendable = contacts[contacts["valid"] & ~contacts["duplicate"]]
    echo(
        f"loaded {len(contacts):,} members from data/{CONTACTS}: {len(sendable):,} sendable, "
        f"{int((~contacts['valid']).sum()):,} unusable, {int(contacts['duplicate'].sum()):,} "
        "repeats"
    )
    half = (len(sendable) - voice_calls) // 2
    groups = {
        "double11-A": sendable.iloc[:half],
        "double11-B": sendable.iloc[half : 2 * half],
    }
    voice_group = sendable.iloc[2 * half : 2 * half + voice_calls]
    vip_group = sendable[sendable["会员等级"] == "钻石"]

    with (
        push_receiver.serve(db) as inbox,
        simulator.serve(seed=seed, push_to=inbox.url) as sim,
    ):
        echo(f"vendor simulator on {sim.url}, push receiver on {inbox.url}")
        sms = vendor("veesing-sms", app_id="demo", app_key="demo-key", base_url=sim.url)
        held_out: list[str] = []
        for name, members in groups.items():
            plan = plan_batches(members, vendor=sms, content=VARIANTS[name], db=db, campaign=name,
                                holdout=HOLDOUT, seed=seed, link=SHOP,
                                link_base=inbox.url)  # fmt: skip
            held_out += plan.held_out["phone"].tolist()
            echo(
                f"{name}: {plan.numbers:,} numbers in {len(plan.batches):,} calls (veesing-sms), "
                f"{len(plan.held_out):,} held out"
            )
            # the simulator's numbers are nobody's phones: no quiet hours (window=False); a
            # real marketing send keeps the vendor's default window, 08:00-21:00 Shanghai
            send(plan, sms, db=db, campaign=name, progress=progress, window=False)

        pulled = vendor("jzyyun-sms", username="demo", password="demo-pw", base_url=sim.url)
        name, content = VIP
        plan = plan_batches(vip_group, vendor=pulled, content=content, db=db, campaign=name,
                            link=SHOP, link_base=inbox.url, link_per="recipient")  # fmt: skip
        echo(
            f"{name}: {plan.numbers:,} diamond members in {len(plan.batches):,} calls "
            "(jzyyun-sms), each with a link of its own"
        )
        send(plan, pulled, db=db, campaign=name, progress=progress, window=False)

        voice = vendor("veesing-voice", app_id="demo", app_key="demo-key", base_url=sim.url)
        name, template, variables = VOICE
        plan = plan_batches(voice_group, vendor=voice, template_id=template, variables=variables,
                            db=db, campaign=name)  # fmt: skip
        echo(f"{name}: {plan.numbers:,} voice calls at concurrency 8 (veesing-voice)")
        send(plan, voice, db=db, campaign=name, concurrency=8, progress=progress)

        echo("receipts and replies: the simulator delivers what would arrive over hours...")
        sim.flush(timeout=60)
        reports = pull_reports(pulled, db) + pull_replies(pulled, db)
        echo(f"pulled from jzyyun-sms: {reports.inserted:,} reports and replies")
        orders = pd.DataFrame(sim.orders(others=held_out))

    bought = ingest_conversions(db, orders, window="7d")
    echo(
        f"orders from the shop: {len(orders):,}, {bought.attributed:,} attributed to a campaign "
        f"within 7 days"
    )
    set_prices(db, PRICES)

    headline = delivery_stats(db, by="campaign")
    comparison = compare(db, "double11-A", "double11-B")
    echo("")
    echo(_headline_text(headline, reply_stats(db, by="campaign"), voice_stats(db, by="campaign")))
    echo("")
    echo(_comparison_text(comparison))
    echo("")
    echo(_funnel_text(funnel_stats(db, campaign=list(groups))))

    files = []
    for name in [*groups, VIP[0], VOICE[0]]:
        files.append(report(db, campaign=name, path=out / f"{name}.html"))
    echo("")
    echo("reports: " + ", ".join(str(f) for f in files))
    return DemoResult(
        db=db,
        headline=headline,
        comparison=comparison,
        reports=files,
        seconds=time.perf_counter() - started,
    )


def _headline_text(delivery: pd.DataFrame, replies: pd.DataFrame, voice: pd.DataFrame) -> str:
    table = delivery[["campaign", "submitted", "delivered", "failed", "unknown", "pending",
                      "delivery_rate"]].merge(
        replies[["campaign", "repliers", "opt_outs"]], on="campaign", how="left"
    )  # fmt: skip
    table["delivery_rate"] = table["delivery_rate"].map(lambda r: "—" if pd.isna(r) else f"{r:.1%}")
    if len(voice):
        answered = voice.set_index("campaign")["answer_rate"]
        table["answered"] = table["campaign"].map(
            lambda c: f"{answered[c]:.1%}" if c in answered.index and pd.notna(answered[c]) else ""
        )
    return table.fillna(0).to_string(index=False)


def _funnel_text(funnel: pd.DataFrame) -> str:
    """One line per campaign: converted of submitted against the holdout, and the lift."""
    lines = []
    for row in funnel.itertuples():
        line = (
            f"{row.campaign}: {row.converted:,} of {row.submitted:,} converted "
            f"({row.conversion_rate:.2%})"
        )
        if row.held_out:
            line += (
                f", held out {row.held_out_converted:,} of {row.held_out:,} "
                f"({row.held_out_rate:.2%}): lift {row.lift * 100:+.2f} points "
                f"(95% CI {row.lift_ci_low * 100:+.2f} to {row.lift_ci_high * 100:+.2f})"
            )
        lines.append(line)
    return "\n".join(lines)


def _comparison_text(comparison: pd.DataFrame) -> str:
    row = comparison.iloc[0].to_dict()
    verdict = row.get("verdict", "")
    return f"A/B: {verdict}"
