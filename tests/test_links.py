"""Tracking links: planned into the content, stored with the campaign, sent as each number's
own text, kept when planning again or resuming (issue 17, clicks part one).

Sends run against the real simulator on 127.0.0.1, on both store engines.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sending import jzyyun, numbers, rows, stop_after_first_call, veesing

import campaign as cp
from campaign import clock
from campaign.batching import LINK_ALPHABET, count_segments, new_link_codes, plan_batches
from campaign.cli import main
from campaign.send import send
from campaign.simulator import serve
from campaign.store import connect

DATA = Path(__file__).resolve().parent.parent / "data"
TEMPLATE = "【云通信】双11五折 {link} 回T退订"
PLAIN = "【云通信】双11五折,回T退订"
TARGET = "https://shop.example.com/d11"
BASE = "https://t.example.com"
LINK = {"link": TARGET, "link_base": BASE}
SHORT = re.compile(r"https://t\.example\.com/c/([A-Za-z0-9]{7})")


def received(sim, vendor: str) -> dict[str, list[str]]:
    """The texts each number got from the vendor's send calls."""
    texts: dict[str, list[str]] = {}
    for record in sim.calls(vendor, "send", processed=True):
        phones = record.params.get("phone") or record.params.get("mobile") or ""
        for phone in phones.split(","):
            texts.setdefault(phone, []).append(record.params["content"])
    return texts


def own_links(plan) -> dict[str, str]:
    return dict(zip(plan.links["phone"], plan.links["url"], strict=True))


# --------------------------------------------------------------------------- planning


def test_the_campaign_link_goes_in_the_content():
    plan = plan_batches(numbers(3), vendor="jzyyun-sms", content=TEMPLATE, link=TARGET,
                        link_base=BASE + "/")  # fmt: skip
    assert list(plan.links.columns) == ["code", "phone", "target", "url"]
    (link,) = plan.links.itertuples(index=False)
    assert link.phone is None
    assert link.target == TARGET
    assert link.url == f"{BASE}/c/{link.code}"  # the trailing slash of link_base dropped
    assert plan.content == f"【云通信】双11五折 {link.url} 回T退订"
    assert plan.batches["size"].tolist() == [3]  # one group send: a shared link keeps it one
    assert plan.link == TARGET
    assert plan.link_per == "campaign"
    summary = plan.summary()
    assert summary["link"] == TARGET
    assert summary["link_per"] == "campaign"
    assert summary["link_codes"] == 1
    assert f"link: {link.url} -> {TARGET}" in summary["link_note"]
    assert f"  link: {link.url} -> {TARGET}" in repr(plan)
    assert link.url in plan._repr_html_()


def test_a_plan_without_a_link_has_none():
    plan = plan_batches(numbers(2), vendor="jzyyun-sms", content="【云通信】双11五折,回T退订")
    assert plan.links.empty
    assert list(plan.links.columns) == ["code", "phone", "target", "url"]
    assert plan.summary()["link_note"] is None
    assert "link" not in repr(plan)


def test_codes_are_random_characters_without_look_alikes():
    phones = numbers(300, start=13912345670)
    plan = plan_batches(phones, vendor="veesing-sms", content=TEMPLATE, **LINK,
                        link_per="recipient")  # fmt: skip
    codes = plan.links["code"].tolist()
    assert plan.links["phone"].tolist() == phones
    assert len(set(codes)) == len(codes) == 300
    for code, phone, url in zip(codes, phones, plan.links["url"], strict=True):
        assert len(code) == 7
        assert set(code) <= set(LINK_ALPHABET)
        assert not set(code) & set("0O1lI")
        assert phone[-5:] not in code  # no run of its digits
        assert url == f"{BASE}/c/{code}"
    again = plan_batches(phones, vendor="veesing-sms", content=TEMPLATE, **LINK,
                         link_per="recipient")  # fmt: skip
    assert not set(codes) & set(again.links["code"])  # drawn afresh, never from the phone
    assert set(LINK_ALPHABET) == set("".join(new_link_codes(5000)))  # every character used
    assert not set(LINK_ALPHABET) & set("0O1lI")


@pytest.mark.parametrize("link_per", ["campaign", "recipient"])
def test_segments_are_counted_on_the_text_with_the_link(link_per):
    template = "【云通信】" + "好" * 40 + " {link} 回T退订"
    limits = cp.vendor_limits("veesing-sms")
    assert count_segments(template, limits) == 1  # 57 characters as a template
    plan = plan_batches(numbers(2), vendor="veesing-sms", content=template, **LINK,
                        link_per=link_per)  # fmt: skip
    rendered = template.replace("{link}", plan.links["url"].iloc[0])
    assert len(rendered) == 82
    assert plan.segments == 2
    assert plan.batches["segments"].tolist() == [2] * len(plan.batches)
    assert plan.messages == 4


def test_the_message_rules_apply_to_the_text_with_the_link():
    odd_base = "https://t.example.com/€"  # € has no GBK code: jzyyun cannot carry it
    with pytest.raises(cp.InputError, match=r"'€'.*GBK"):
        plan_batches(numbers(1), vendor="jzyyun-sms", content=TEMPLATE, link=TARGET,
                     link_base=odd_base)  # fmt: skip
    plan = plan_batches(numbers(1), vendor="veesing-sms", content=TEMPLATE, link=TARGET,
                        link_base=odd_base)  # fmt: skip
    assert "/€/c/" in plan.content
    with pytest.raises(cp.InputError, match="【signature】"):
        plan_batches(numbers(1), vendor="jzyyun-sms", content="双11五折 {link} 回T退订", **LINK)
    with pytest.warns(UserWarning, match="no opt-out phrase"):
        plan_batches(numbers(1), vendor="jzyyun-sms", content="【云通信】双11五折 {link}", **LINK)


def test_a_link_per_number_sends_one_number_a_call_and_says_what_that_costs():
    plan = plan_batches(numbers(1234), vendor="veesing-sms", content=TEMPLATE, **LINK,
                        link_per="recipient")  # fmt: skip
    assert plan.batches["size"].tolist() == [1] * 1234
    assert [p for ps in plan.batches["phones"] for p in ps] == numbers(1234)
    assert plan.content == TEMPLATE  # the template: each number's text is made at send time
    cost = "link per number: 1,234 calls instead of 2"
    assert cost in repr(plan)
    assert cost in plan.summary()["link_note"]
    assert cost in plan._repr_html_()
    assert plan.summary()["calls"] == 1234
    assert plan.summary()["link_codes"] == 1234
    assert plan.recipients["batch"].tolist() == list(range(1, 1235))


def test_held_out_numbers_get_no_link():
    for link_per in ["campaign", "recipient"]:
        plan = plan_batches(numbers(50), vendor="veesing-sms", content=TEMPLATE, **LINK,
                            link_per=link_per, holdout=0.2, seed=1)  # fmt: skip
        held = set(plan.held_out["phone"])
        assert len(held) == 10
        linked = set(plan.links["phone"].dropna())
        assert not linked & held
        if link_per == "recipient":
            assert linked == set(plan.recipients["phone"])
        else:
            assert plan.links["phone"].tolist() == [None]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content": "【云通信】双11五折 回T退订", **LINK}, r"link= needs \{link\} in content"),
        ({"content": TEMPLATE}, r"content has \{link\} but no link="),
        ({"content": TEMPLATE, "link": TARGET}, r"link= needs link_base="),
        ({"content": TEMPLATE, "link": "shop.example.com/d11", "link_base": BASE},
         r"^link must be an http:// or https:// address"),
        ({"content": TEMPLATE, "link": "ftp://shop.example.com/d11", "link_base": BASE},
         r"^link must be an http:// or https:// address"),
        ({"content": TEMPLATE, "link": "https:///d11", "link_base": BASE},
         r"^link must be an http:// or https:// address with a host"),
        ({"content": TEMPLATE, "link": "https://shop.example.com/双 11", "link_base": BASE},
         r"^link must be"),
        ({"content": TEMPLATE, "link": 42, "link_base": BASE}, r"^link must be"),
        ({"content": TEMPLATE, "link": TARGET, "link_base": "t.example.com"},
         r"^link_base must be an http:// or https:// address"),
        ({"content": TEMPLATE, "link": TARGET, "link_base": "https://t.example.com/?x=1"},
         r"^link_base must be an address without \?query"),
        ({"content": TEMPLATE, **LINK, "link_per": "number"},
         r"^link_per must be 'campaign' .* or 'recipient'"),
        ({"content": PLAIN, "link_base": BASE}, r"^link_base= goes with link="),
        ({"content": PLAIN, "link_per": "recipient"},
         r"^link_per= goes with link="),
        ({"content": TEMPLATE, **LINK, "link_per": "recipient", "batch_size": 100},
         r"leave out batch_size=100"),
    ],
    ids=["no-placeholder", "no-link", "no-link-base", "not-a-url", "not-http", "no-host",
         "space", "not-text", "base-not-a-url", "base-query", "link-per", "base-alone",
         "link-per-alone", "batch-size"],
)  # fmt: skip
def test_link_arguments_are_checked(kwargs, message):
    with pytest.raises(cp.InputError, match=message):
        plan_batches(numbers(2), vendor="veesing-sms", **kwargs)


@pytest.mark.parametrize(
    ("vendor", "message"),
    [
        ("veesing-code", {"template_id": "1", "variables": "1234"}),
        ("veesing-voice", {"template_id": "724", "variables": "您的快递已到"}),
        ("ihuyi-voice", {"content": "1234"}),
    ],
)
def test_vendors_without_free_text_take_no_link(vendor, message):
    with pytest.raises(cp.InputError) as info:
        plan_batches(numbers(2), vendor=vendor, **message, **LINK)
    text = str(info.value)
    assert text.startswith(f"link=: {vendor} sends a ")
    assert "not free text" in text
    assert "veesing-sms, jzyyun-sms" in text  # where a link can go


def test_several_variants_with_a_link_are_planned_one_campaign_each():
    contacts = cp.load_phones(numbers(40))
    split = cp.assign_variants(contacts, {"A": 0.5, "B": 0.5}, seed=1)
    with pytest.raises(cp.InputError, match=r"2 variants \(A, B\).*plan each variant as its own "
                                            r"campaign.*split.variant == 'A'"):  # fmt: skip
        plan_batches(split, vendor="jzyyun-sms", content=TEMPLATE, **LINK)
    one = plan_batches(split[split["variant"] == "A"], vendor="jzyyun-sms", content=TEMPLATE,
                       **LINK, campaign="d11-A")  # fmt: skip
    assert one.numbers == 20
    plan_batches(split, vendor="jzyyun-sms", content="【云通信】双11五折,回T退订")  # no link: fine


# --------------------------------------------------------------------------- the store


def test_send_stores_the_campaign_link_and_every_call_carries_it(sim, db):
    plan = plan_batches(numbers(5), vendor="jzyyun-sms", content=TEMPLATE, **LINK, batch_size=2)
    result = send(plan, jzyyun(sim), db=db, campaign="d11", progress=False)
    assert result["state"].tolist() == ["accepted"] * 3
    (stored,) = rows(db, "SELECT code, campaign, phone, target, url, created_at FROM links")
    code, campaign, phone, target, url, created_at = stored
    assert (code, campaign, phone, target, url) == (
        plan.links["code"].iloc[0], "d11", None, TARGET, f"{BASE}/c/{code}")  # fmt: skip
    assert dt.datetime.fromisoformat(created_at).utcoffset() == dt.timedelta(hours=8)
    assert rows(db, "SELECT content FROM campaigns") == [(plan.content,)]
    texts = received(sim, "jzyyun-sms")
    assert texts == {p: [plan.content] for p in numbers(5)}
    assert url in plan.content
    assert "{link}" not in plan.content


def test_send_gives_each_number_its_own_link(sim, db):
    plan = plan_batches(numbers(6), vendor="veesing-sms", content=TEMPLATE, **LINK,
                        link_per="recipient", holdout=0.34, seed=2)  # fmt: skip
    held = set(plan.held_out["phone"])
    assert len(held) == 2
    result = send(plan, veesing(sim), db=db, campaign="d11", progress=False)
    assert result["state"].value_counts().to_dict() == {"accepted": 4, "held_out": 1}
    stored = rows(db, "SELECT code, phone, target, url FROM links WHERE campaign = ? "
                      "ORDER BY phone", ["d11"])  # fmt: skip
    planned = sorted(plan.links.itertuples(index=False, name=None), key=lambda r: r[1])
    assert [tuple(r) for r in stored] == planned
    assert not {r[1] for r in stored} & held
    assert rows(db, "SELECT content FROM campaigns") == [(TEMPLATE,)]  # the template
    urls = own_links(plan)
    texts = received(sim, "veesing-sms")
    assert texts == {p: [TEMPLATE.replace("{link}", urls[p])] for p in urls}
    assert len({t for [t] in texts.values()}) == 4


def test_planning_again_keeps_the_campaigns_code(sim, db):
    first = plan_batches(numbers(3), vendor="jzyyun-sms", content=TEMPLATE, **LINK, db=db,
                         campaign="d11")  # fmt: skip
    send(first, jzyyun(sim), db=db, campaign="d11", progress=False)
    more = plan_batches(numbers(6), vendor="jzyyun-sms", content=TEMPLATE, **LINK, db=db,
                        campaign="d11")  # fmt: skip
    assert more.content == first.content
    assert more.links["code"].tolist() == first.links["code"].tolist()
    assert more.numbers == 3  # the first three are in the campaign already
    result = send(more, jzyyun(sim), db=db, campaign="d11", progress=False)
    assert result["state"].tolist() == ["accepted", "accepted"]
    assert received(sim, "jzyyun-sms") == {p: [first.content] for p in numbers(6)}
    assert len(rows(db, "SELECT code FROM links")) == 1

    common = {"vendor": "jzyyun-sms", "content": TEMPLATE, "db": db, "campaign": "d11"}
    with pytest.raises(cp.InputError, match=r"'d11' links to https://shop.example.com/d11, "
                                            r"not https://shop.example.com/other: plan it with "
                                            r"link='https://shop.example.com/d11'"):  # fmt: skip
        plan_batches(numbers(7), **common, link="https://shop.example.com/other", link_base=BASE)
    with pytest.raises(cp.InputError, match=r"link_base='https://t.example.com'"):
        plan_batches(numbers(7), **common, link=TARGET, link_base="https://go.example.com")
    with pytest.raises(cp.InputError, match=r"one link for all its numbers: plan it with "
                                            r"link_per='campaign'"):  # fmt: skip
        plan_batches(numbers(7), **common, **LINK, link_per="recipient")


def test_a_number_held_back_at_send_time_keeps_its_code(sim, db, monkeypatch):
    """Planned, then left out when sent (another campaign reached it within the vendor's
    minute): planned again later, it gets the code already stored for it."""
    first = plan_batches(numbers(4), vendor="veesing-sms", content=TEMPLATE, **LINK,
                         link_per="recipient", db=db, campaign="d11")  # fmt: skip
    with serve(seed=4) as other:  # the same vendor, reached from another campaign meanwhile
        send(plan_batches(numbers(4)[2:], vendor="veesing-sms", content="【云通信】会员日,回T退订"),
             veesing(other), db=db, campaign="vip", progress=False)  # fmt: skip
    result = send(first, veesing(sim), db=db, campaign="d11", progress=False)
    assert result["size"].sum() == 2  # the two sent to a minute ago wait
    later = clock.current() + dt.timedelta(minutes=2)
    monkeypatch.setattr(clock, "current", lambda: later)

    again = plan_batches(numbers(5), vendor="veesing-sms", content=TEMPLATE, **LINK,
                         link_per="recipient", db=db, campaign="d11")  # fmt: skip
    assert again.recipients["phone"].tolist() == numbers(5)[2:]
    urls, kept = own_links(first), own_links(again)
    assert kept[numbers(4)[2]] == urls[numbers(4)[2]]
    assert kept[numbers(4)[3]] == urls[numbers(4)[3]]
    assert kept[numbers(5)[4]] not in urls.values()  # a new number, a new code
    send(again, veesing(sim), db=db, campaign="d11", progress=False)
    texts = received(sim, "veesing-sms")
    assert texts == {p: [TEMPLATE.replace("{link}", {**urls, **kept}[p])] for p in numbers(5)}
    assert len(rows(db, "SELECT code FROM links WHERE campaign = 'd11'")) == 5


def test_an_interrupted_send_resumes_with_the_same_codes(sim, db):
    plan = plan_batches(numbers(4), vendor="veesing-sms", content=TEMPLATE, **LINK,
                        link_per="recipient")  # fmt: skip
    client = veesing(sim)
    real = stop_after_first_call(client)
    first = send(plan, client, db=db, campaign="d11", progress=False)
    assert first["state"].tolist() == ["accepted", "planned", "planned", "planned"]
    client.send = real

    # a new plan made without the store draws new codes; the stored ones are what is sent
    fresh = plan_batches(numbers(4), vendor="veesing-sms", content=TEMPLATE, **LINK,
                         link_per="recipient")  # fmt: skip
    assert not set(fresh.links["code"]) & set(plan.links["code"])
    resumed = send(fresh, client, db=db, campaign="d11", progress=False)
    assert resumed["state"].tolist() == ["accepted"] * 4
    urls = own_links(plan)
    assert received(sim, "veesing-sms") == {
        p: [TEMPLATE.replace("{link}", urls[p])] for p in numbers(4)
    }
    stored = rows(db, "SELECT phone, url FROM links ORDER BY phone")
    assert dict(stored) == urls


def test_an_interrupted_shared_link_send_resumes_with_the_same_text(sim, db):
    plan = plan_batches(numbers(6), vendor="jzyyun-sms", content=TEMPLATE, **LINK, db=db,
                        campaign="d11", batch_size=2)  # fmt: skip
    client = jzyyun(sim)
    real = stop_after_first_call(client)
    assert send(plan, client, db=db, campaign="d11", progress=False)["state"].tolist() == [
        "accepted", "planned", "planned"]  # fmt: skip
    client.send = real
    again = plan_batches(numbers(6), vendor="jzyyun-sms", content=TEMPLATE, **LINK, db=db,
                         campaign="d11", batch_size=2)  # fmt: skip
    assert again.content == plan.content
    assert again.numbers == 0
    resumed = send(again, client, db=db, campaign="d11", progress=False)
    assert resumed["state"].tolist() == ["accepted"] * 3
    assert received(sim, "jzyyun-sms") == {p: [plan.content] for p in numbers(6)}


def test_a_number_without_its_link_fails_the_run_and_nothing_is_sent(sim, db):
    plan = plan_batches(numbers(3), vendor="veesing-sms", content=TEMPLATE, **LINK,
                        link_per="recipient")  # fmt: skip
    client = veesing(sim)
    real = stop_after_first_call(client)
    send(plan, client, db=db, campaign="d11", progress=False)
    client.send = real
    with connect(db) as store, store.transaction():  # a store that lost a link
        store.execute("DELETE FROM links WHERE phone = ?", [numbers(3)[2]])
    calls = len(sim.calls("veesing-sms", "send"))
    resume = plan_batches(numbers(3), vendor="veesing-sms", content=TEMPLATE, **LINK,
                          link_per="recipient", db=db, campaign="d11")  # fmt: skip
    assert resume.numbers == 0  # all in the campaign: the batches to send come from the store
    with pytest.raises(cp.InputError, match=r"batch 3 has a number with no tracking link.*plan "
                                            r"again with link=.*Nothing was sent"):  # fmt: skip
        send(resume, client, db=db, campaign="d11", progress=False)
    assert len(sim.calls("veesing-sms", "send")) == calls
    assert rows(db, "SELECT batch, state FROM batches ORDER BY batch") == [
        (1, "accepted"), (2, "planned"), (3, "planned")]  # fmt: skip
    assert not any("{link}" in t for ts in received(sim, "veesing-sms").values() for t in ts)


# --------------------------------------------------------------------------- the CLI


def test_plan_command_shows_the_link():
    args = ["plan", str(DATA / "contacts.csv"), "--vendor", "veesing-sms", "--content",
            TEMPLATE, "--link", TARGET, "--link-base", BASE]  # fmt: skip
    shared = CliRunner().invoke(main, args)
    assert shared.exit_code == 0, shared.output
    assert re.search(rf"\n  link: {SHORT.pattern} -> {TARGET}, one for the campaign\n",
                     shared.output)  # fmt: skip
    assert "  batches:  1 vendor call (40 numbers)\n" in shared.output

    own = CliRunner().invoke(main, [*args, "--link-per", "recipient"])
    assert own.exit_code == 0, own.output
    assert "  batches:  40 vendor calls (one number each)\n" in own.output
    assert "  link per number: 40 calls instead of 1 (" in own.output

    wrong = CliRunner().invoke(main, [*args, "--link-per", "number"])
    assert wrong.exit_code == 2
    assert "'campaign', 'recipient'" in wrong.output
    missing = CliRunner().invoke(main, args[:-2])
    assert missing.exit_code == 1
    assert "link= needs link_base=" in missing.output


def test_send_command_with_a_link_per_number(tmp_path, monkeypatch):
    monkeypatch.setenv("VEESING_APP_ID", "app")
    monkeypatch.setenv("VEESING_APP_KEY", "key")
    db = tmp_path / "campaign.db"
    with serve(seed=2) as sim:
        args = ["send", str(DATA / "contacts.csv"), "--vendor", "veesing-sms", "--content",
                TEMPLATE, "--link", TARGET, "--link-base", BASE, "--link-per", "recipient",
                "--campaign", "d11", "--db", str(db), "--base-url", sim.url]  # fmt: skip
        first = CliRunner().invoke(main, args)
        again = CliRunner().invoke(main, args)
        texts = received(sim, "veesing-sms")
    assert first.exit_code == 0, first.output
    assert "link per number: 40 calls instead of 1" in first.output
    assert "this run: submitted 40 batch(es), 40 numbers" in first.output
    assert again.exit_code == 0, again.output
    assert "this run: nothing new to send" in again.output
    urls = dict(rows(db, "SELECT phone, url FROM links WHERE campaign = 'd11'"))
    assert len(urls) == 40 == len(set(urls.values()))
    assert texts == {p: [TEMPLATE.replace("{link}", u)] for p, u in urls.items()}


def test_send_command_with_a_campaign_link_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("JZYYUN_USERNAME", "user")
    monkeypatch.setenv("JZYYUN_PASSWORD", "pw")
    db = tmp_path / "campaign.db"
    with serve(seed=2) as sim:
        args = ["send", str(DATA / "contacts.csv"), "--vendor", "jzyyun-sms", "--content",
                TEMPLATE, "--link", TARGET, "--link-base", BASE, "--campaign", "d11",
                "--db", str(db), "--base-url", sim.url, "--batch-size", "20"]  # fmt: skip
        sim.inject("http_5xx", vendor="jzyyun-sms", operation="send", times=1)
        first = CliRunner().invoke(main, args)
        again = CliRunner().invoke(main, [*args, "--resend-unknown"])
        texts = received(sim, "jzyyun-sms")
    assert first.exit_code == 1, first.output
    assert again.exit_code == 0, again.output  # planned again: the same code, the same text
    ((url,),) = rows(db, "SELECT url FROM links WHERE campaign = 'd11'")
    assert f"  link: {url} -> {TARGET}, one for the campaign" in first.output + again.output
    (content,) = {t for ts in texts.values() for t in ts}
    assert content == TEMPLATE.replace("{link}", url)
    assert len(texts) == 40


def test_send_refuses_a_plan_whose_link_is_not_the_campaigns(sim, db):
    client = veesing(sim)
    first = plan_batches(numbers(2), vendor="veesing-sms", content=TEMPLATE, **LINK,
                         link_per="recipient")  # fmt: skip
    send(first, client, db=db, campaign="d11", progress=False)
    # planned without the store, so planning could not say: sending does, and records nothing
    other = plan_batches(numbers(4), vendor="veesing-sms", content=TEMPLATE, link_base=BASE,
                         link="https://shop.example.com/other", link_per="recipient")  # fmt: skip
    with pytest.raises(cp.InputError, match=r"'d11' links to https://shop.example.com/d11, not"):
        send(other, client, db=db, campaign="d11", progress=False)
    elsewhere = plan_batches(numbers(4), vendor="veesing-sms", content=TEMPLATE, link=TARGET,
                             link_base="https://go.example.com", link_per="recipient")  # fmt: skip
    with pytest.raises(cp.InputError, match=r"link_base='https://t.example.com'"):
        send(elsewhere, client, db=db, campaign="d11", progress=False)
    assert len(rows(db, "SELECT phone FROM recipients")) == 2
    assert len(rows(db, "SELECT code FROM links")) == 2
    assert len(sim.calls("veesing-sms", "send")) == 2
