"""The simulator's clicks on tracking links and the orders that follow, driven over HTTP.

The link's host is a small server of the test's own on 127.0.0.1 that answers 302 and notes
each request, standing in for the receiver's ``GET /c/<code>``.
"""

from __future__ import annotations

import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from campaign.simulator import serve
from campaign.simulator.clicks import find_link
from campaign.simulator.state import SHANGHAI

START = "2024-11-11 09:00:00"
VEESING = {"appId": "2RYN7CQHL1M", "appKey": "WVNA4A0"}
TIMEOUT = (2, 5)
ALWAYS = {"delivery": {"default": 1.0}, "unknown_rate": 0.0, "reply_rate": 0.0, "interval": 0}


class _Links(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]]

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("User-Agent", "")))  # type: ignore[attr-defined]
        self.send_response(302)
        self.send_header("Location", "https://shop.example.com/d11")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def links():
    """A loopback server that answers every link with a 302 and notes (path, user agent)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Links)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def numbers(n: int) -> list[str]:
    return [f"1380000{i:04d}" for i in range(n)]


def group(sim, phones: list[str], content: str) -> dict:
    r = requests.post(sim.url + "/smsApi/group", timeout=TIMEOUT,
                      data={**VEESING, "phone": ",".join(phones), "content": content})  # fmt: skip
    assert r.status_code == 200
    return r.json()


def test_clicked_links_are_requested_as_a_phone_would_without_following_the_redirect(links):
    url = f"http://127.0.0.1:{links.server_address[1]}/c/Ab3dE5f"
    with serve(seed=3, start=START, click_rate=0.5, **ALWAYS) as sim:
        assert group(sim, numbers(400), f"【云通信】双11五折 {url} 回T退订")["returnStatus"] == "1 "
        assert sim.flush()
        made = sim.clicks()
    assert 150 <= len(made) <= 250  # binomial(400, 0.5): outside this, p < 1e-9
    assert len(links.seen) == len(made)
    assert {path for path, _ in links.seen} == {"/c/Ab3dE5f"}
    assert all("MicroMessenger" in agent and "iPhone" in agent for _, agent in links.seen)
    assert {c.status for c in made} == {302}  # the redirect answered, never followed
    assert all(c.url == url for c in made)


def test_a_link_off_this_machine_is_never_requested(links):
    with serve(seed=3, start=START, click_rate=1.0, **ALWAYS) as sim:
        group(sim, numbers(5), "【云通信】双11五折 https://t.example.com/c/Ab3dE5f 回T退订")
        assert sim.flush()
        made = sim.clicks()
    assert len(made) == 5
    assert {c.status for c in made} == {None}
    assert {c.error for c in made} == {"not followed: the link is not on this machine"}


def test_messages_without_a_link_and_undelivered_ones_get_no_click(links):
    url = f"http://127.0.0.1:{links.server_address[1]}/c/Ab3dE5f"
    with serve(
        seed=3, start=START, click_rate=1.0, **{**ALWAYS, "delivery": {"default": 0.0}}
    ) as sim:
        group(sim, numbers(20), f"【云通信】双11五折 {url} 回T退订")
        group(sim, numbers(30)[20:], "【云通信】双11五折,回T退订")
        assert sim.flush()
        assert sim.clicks() == []
    assert links.seen == []


def orders_of(seed: int, **options) -> tuple[list[dict], list]:
    with serve(seed=seed, start=START, **{**ALWAYS, **options}) as sim:
        group(sim, numbers(300), "【云通信】双11五折 https://t.example.com/c/Ab3dE5f 回T退订")
        assert sim.flush()
        return sim.orders(others=[f"1390000{i:04d}" for i in range(300)]), sim.clicks()


def test_orders_come_from_the_clickers_the_reached_and_the_holdout_at_their_rates():
    rows, made = orders_of(5, click_rate=0.3, click_conversion_rate=1.0, conversion_rate=0.0,
                           baseline_conversion_rate=0.0)  # fmt: skip
    assert len(rows) == len(made) > 0  # every clicker bought, nobody else
    assert set(rows[0]) == {"订单号", "手机号", "支付时间", "实付金额"}
    assert len({r["订单号"] for r in rows}) == len(rows)
    start = datetime.strptime(START, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    clicked = sorted(c.due for c in made)
    paid = sorted(
        datetime.strptime(r["支付时间"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI).timestamp()
        for r in rows
    )
    assert all(p >= c - 1 for p, c in zip(paid, clicked, strict=True))  # after the click
    assert all(p > start.timestamp() for p in paid)
    assert all(float(r["实付金额"]) > 0 for r in rows)

    held, _ = orders_of(5, click_rate=0.0, conversion_rate=0.0, baseline_conversion_rate=1.0)
    assert {r["手机号"] for r in held} == {f"1390000{i:04d}" for i in range(300)}

    reached, _ = orders_of(5, click_rate=0.0, conversion_rate=1.0, baseline_conversion_rate=0.0)
    assert {r["手机号"] for r in reached} == set(numbers(300))


def test_the_same_seed_gives_the_same_clicks_and_orders_and_another_seed_others():
    def fates(seed):  # the times move with the wall clock while sending: compare the rest
        rows, made = orders_of(seed)
        return [(r["订单号"], r["手机号"], r["实付金额"]) for r in rows], len(made)

    first, second, other = fates(9), fates(9), fates(10)
    assert first == second
    assert first != other


@pytest.mark.parametrize(
    ("option", "value"),
    [("click_rate", 1.5), ("conversion_rate", -0.1), ("click_delay_median", 0),
     ("order_value_median", "12")],
)  # fmt: skip
def test_rates_and_delays_are_checked(option, value):
    with pytest.raises(ValueError, match=option):
        serve(**{option: value}).stop()


@pytest.mark.parametrize(
    ("content", "link"),
    [
        (
            "【云通信】五折 http://127.0.0.1:8001/c/Ab3dE5f 回T退订",
            "http://127.0.0.1:8001/c/Ab3dE5f",
        ),
        (
            "【云通信】五折 https://t.example.com/x/c/Ab3dE5fg,回T退订",
            "https://t.example.com/x/c/Ab3dE5fg",
        ),
        ("【云通信】五折 https://shop.example.com/d11 回T退订", None),
        ("【云通信】五折,回T退订", None),
    ],
)
def test_find_link(content, link):
    assert find_link(content) == link
