"""send's window, pace and expiry, and what plan/CLI say of them, on a fake clock.

Every test replaces ``campaign.clock.current`` and ``campaign.clock.sleep`` with a clock that
moves only when asked to sleep, so a send that waits for 08:00 or paces calls a minute apart
takes no time; the vendors are the simulator on 127.0.0.1, on both store engines. The
vendors' default windows stay on here (``vendor_windows``): the fake clock says what time
it is (a year ahead of the real one: the simulator refuses a send_at in its past).
"""

from __future__ import annotations

import datetime as dt
import importlib
import itertools
import logging
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sending import jzyyun, numbers

import campaign as cp
from campaign import clock
from campaign.cli import main
from campaign.send import send
from campaign.store import connect
from campaign.vendors import SendWindow

pytestmark = pytest.mark.vendor_windows

SMS = "【云通信】双11会员专享,全场五折,回T退订"
DATA = Path(__file__).resolve().parent.parent / "data"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2027, 11, day, hour, minute, second, tzinfo=clock.SHANGHAI)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


class FakeClock:
    """A Shanghai clock that stands still until someone sleeps: then it moves by as much."""

    def __init__(self, start: dt.datetime):
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def current(self) -> dt.datetime:
        with self._lock:
            return self.now

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        assert seconds >= 0
        with self._lock:
            self.sleeps.append(seconds)
            self.now += dt.timedelta(seconds=seconds)
        return bool(stop is not None and stop.is_set())

    def set(self, moment: dt.datetime) -> None:
        with self._lock:
            self.now = moment


@pytest.fixture
def fake(monkeypatch):
    fake = FakeClock(at(11, 10))
    monkeypatch.setattr(clock, "current", fake.current)
    monkeypatch.setattr(clock, "sleep", fake.sleep)
    started = time.monotonic()
    yield fake
    # nothing really slept: a fake-clock test is quick whatever the waits it simulated
    assert time.monotonic() - started < 20


def calls_at(client, fake) -> list[tuple[dt.datetime, int]]:
    """Record the fake time and the size of each vendor call the client makes."""
    seen: list[tuple[dt.datetime, int]] = []
    real = client.send

    def recording(phones, **kwargs):
        seen.append((fake.current(), len(phones)))
        return real(phones, **kwargs)

    client.send = recording
    return seen


def sent_numbers(sim, vendor="jzyyun-sms") -> list[str]:
    found = []
    for call in sim.calls(vendor, "send"):
        found += str(call.params.get("mobile", call.params.get("mobiles", ""))).split(",")
    return found


def states(result) -> dict[str, int]:
    return result.groupby("state")["size"].sum().to_dict()


# --------------------------------------------------------------------------- the window


def test_a_send_before_the_window_waits_until_it_opens_then_sends(sim, db, fake):
    fake.set(at(11, 7, 30))
    client = jzyyun(sim)
    plan = cp.plan_batches(numbers(30), vendor=client, content=SMS, batch_size=10)
    result = send(plan, client, db=db, campaign="d11", progress=False)
    assert sum(fake.sleeps) == pytest.approx(30 * 60)  # 07:30 -> 08:00, the vendor's default
    assert states(result) == {"accepted": 30}
    assert set(result["submitted_at"]) == {iso(at(11, 8))}
    assert result.attrs["stopped"] is None


def test_the_wait_says_until_when_in_the_progress_bar(sim, db, fake, monkeypatch):
    sending = importlib.import_module("campaign.send")  # cp.send is the function
    shown = []
    real = sending._sleep_until

    def watched(moment, stop, bar, campaign, why):
        shown.append(why)
        return real(moment, stop, bar, campaign, why)

    monkeypatch.setattr(sending, "_sleep_until", watched)
    fake.set(at(11, 21, 30))
    client = jzyyun(sim)
    plan = cp.plan_batches(numbers(5), vendor=client, content=SMS)
    send(plan, client, db=db, campaign="d11", progress=False)
    assert shown == ["outside the window 08:00-21:00: waiting until 2027-11-12 08:00:00 "
                     "Asia/Shanghai"]  # fmt: skip


def test_a_send_crossing_the_window_end_stops_there_and_the_next_window_sends_the_rest(
    sim, db, fake, caplog
):
    fake.set(at(11, 20, 57))
    client = jzyyun(sim)
    plan = cp.plan_batches(numbers(60), vendor=client, content=SMS, batch_size=10)
    seen = calls_at(client, fake)
    with caplog.at_level(logging.WARNING, logger="campaign.send"):
        first = send(plan, client, db=db, campaign="d11", rate=10, wait=False, progress=False)
    # 10 numbers a call at 10 a minute: 20:57, 20:58, 20:59; 21:00 is outside the window
    assert [t for t, _ in seen] == [at(11, 20, 57), at(11, 20, 58), at(11, 20, 59)]
    assert states(first) == {"accepted": 30, "planned": 30}
    assert "outside the send window 08:00-21:00" in first.attrs["stopped"]
    assert first.attrs["resume_at"] == at(12, 8)
    assert "left for the next run" in caplog.text

    fake.set(at(12, 9))
    again = send(plan, client, db=db, campaign="d11", rate=10, wait=False, progress=False)
    assert states(again) == {"accepted": 60}
    assert [t for t, _ in seen[3:]] == [at(12, 9), at(12, 9, 1), at(12, 9, 2)]
    assert sorted(sent_numbers(sim)) == numbers(60)  # each number once, the rest exactly


def test_a_send_crossing_the_window_end_waits_for_the_next_window(sim, db, fake):
    fake.set(at(11, 20, 58))
    client = jzyyun(sim)
    plan = cp.plan_batches(numbers(40), vendor=client, content=SMS, batch_size=10)
    seen = calls_at(client, fake)
    result = send(plan, client, db=db, campaign="d11", rate=10, progress=False)
    assert [t for t, _ in seen] == [at(11, 20, 58), at(11, 20, 59), at(12, 8), at(12, 8, 1)]
    assert states(result) == {"accepted": 40}
    assert max(fake.sleeps) <= 60  # long waits re-read the clock every minute


def test_an_overnight_window(sim, db, fake):
    window = SendWindow.parse(("21:00", "08:00"))
    assert window.overnight
    assert str(window) == "21:00-08:00"
    assert window.is_open(at(11, 23))
    assert window.is_open(at(12, 7, 59))
    assert not window.is_open(at(12, 8))
    assert not window.is_open(at(11, 20, 59))
    assert window.closes_at(at(11, 23)) == at(12, 8)
    fake.set(at(11, 20, 30))
    client = jzyyun(sim)
    plan = cp.plan_batches(numbers(5), vendor=client, content=SMS)
    result = send(plan, client, db=db, campaign="night", window=("21:00", "08:00"),
                  progress=False)  # fmt: skip
    assert sum(fake.sleeps) == pytest.approx(30 * 60)
    assert set(result["submitted_at"]) == {iso(at(11, 21))}


def test_window_false_sends_at_any_hour(sim, db, fake):
    fake.set(at(11, 23, 30))
    client = jzyyun(sim)
    plan = cp.plan_batches(numbers(5), vendor=client, content=SMS)
    result = send(plan, client, db=db, campaign="d11", window=False, progress=False)
    assert fake.sleeps == []
    assert states(result) == {"accepted": 5}


def test_verify_codes_notices_and_voice_have_no_default_window(sim, db, fake):
    assert cp.vendor_limits("jzyyun-sms").send_window == ("08:00", "21:00")
    assert cp.vendor_limits("veesing-sms").send_window == ("08:00", "21:00")
    for key in ("veesing-code", "veesing-voice", "ihuyi-voice"):
        assert cp.vendor_limits(key).send_window is None, key
    fake.set(at(11, 23, 30))
    client = cp.vendor("veesing-code", app_id="a", app_key="k", base_url=sim.url)
    plan = cp.plan_batches(numbers(3), vendor=client, template_id="540", variables="1234")
    result = send(plan, client, db=db, campaign="codes", progress=False)
    assert fake.sleeps == []
    assert states(result) == {"accepted": 3}
    assert set(result["submitted_at"]) == {iso(at(11, 23, 30))}


def test_a_vendor_window_is_configurable_in_its_limits(sim, db, fake):
    fake.set(at(11, 8, 30))
    client = cp.vendor("jzyyun-sms", username="u", password="p", base_url=sim.url,
                       limits={"send_window": "09:00-20:00"})  # fmt: skip
    plan = cp.plan_batches(numbers(3), vendor=client, content=SMS)
    result = send(plan, client, db=db, campaign="d11", progress=False)
    assert sum(fake.sleeps) == pytest.approx(30 * 60)
    assert set(result["submitted_at"]) == {iso(at(11, 9))}


def test_a_scheduled_send_is_checked_against_the_window_at_its_send_at(sim, db, fake):
    fake.set(at(11, 7))  # outside the window now; the vendor sends at send_at
    client = cp.vendor("veesing-sms", app_id="a", app_key="k", base_url=sim.url)
    plan = cp.plan_batches(numbers(3), vendor=client, content=SMS, send_at="2027-11-11 10:00")
    result = send(plan, client, db=db, campaign="morning", progress=False)
    assert fake.sleeps == []
    assert states(result) == {"accepted": 3}
    late = cp.plan_batches(numbers(3, 13900000000), vendor=client, content=SMS,
                           send_at="2027-11-11 22:30")  # fmt: skip
    assert "outside the window" in late.timing().warnings[0]
    with pytest.raises(cp.InputError, match=r"outside the send window 08:00-21:00.*window=False"):
        send(late, client, db=db, campaign="late", progress=False)
    assert states(send(late, client, db=db, campaign="late", window=False,
                       progress=False)) == {"accepted": 3}  # fmt: skip


# --------------------------------------------------------------------------- pacing


def test_rate_spaces_calls_by_the_numbers_in_them(sim, db, fake):
    client = jzyyun(sim)
    plan = cp.plan_batches(numbers(45), vendor=client, content=SMS, batch_size=20)
    seen = calls_at(client, fake)
    result = send(plan, client, db=db, campaign="paced", rate=60, progress=False)
    start = at(11, 10)
    # 60 numbers a minute: after a call of 20 numbers the next waits 20 s
    assert seen == [(start, 20), (start + dt.timedelta(seconds=20), 20),
                    (start + dt.timedelta(seconds=40), 5)]  # fmt: skip
    assert states(result) == {"accepted": 45}
    for t, _ in seen:  # never more than the rate in any minute
        assert sum(n for u, n in seen if t <= u < t + dt.timedelta(minutes=1)) <= 60


def test_calls_per_second_and_rate_together_on_a_single_phone_vendor(sim, db, fake):
    client = cp.vendor("ihuyi-voice", account="a", api_key="k", base_url=sim.url)
    plan = cp.plan_batches(numbers(4), vendor=client, content="1234")
    seen = calls_at(client, fake)
    send(plan, client, db=db, campaign="v", rate=30, calls_per_second=1, concurrency=4,
         progress=False)  # fmt: skip
    times = sorted(t for t, _ in seen)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert gaps == [2.0, 2.0, 2.0]  # 30 numbers a minute is one every 2 s, slower than 1/s
    fake.set(at(12, 10))
    plan = cp.plan_batches(numbers(4, 13900000000), vendor=client, content="1234")
    send(plan, client, db=db, campaign="w", calls_per_second=0.1, progress=False)
    times = sorted(t for t, _ in seen[4:])
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [10.0] * 3


# --------------------------------------------------------------------------- expiry


def test_a_resume_after_expiry_sends_nothing_and_the_batches_stay_expired(sim, db, fake, caplog):
    fake.set(at(11, 20, 58))
    client = jzyyun(sim)
    plan = cp.plan_batches(numbers(40), vendor=client, content=SMS, batch_size=10)
    first = send(plan, client, db=db, campaign="d11", rate=10, wait=False, expires_in="30min",
                 progress=False)  # fmt: skip
    assert states(first) == {"accepted": 20, "planned": 20}
    assert first.attrs["expires_at"] == at(11, 21, 28)
    with connect(db) as store:
        assert store.scalar("SELECT expires_at FROM campaigns WHERE name = 'd11'") == iso(
            at(11, 21, 28)
        )
    calls = len(sim.calls("jzyyun-sms", "send"))

    fake.set(at(12, 8, 30))  # the next morning, the cell run again: the expiry was recorded
    with caplog.at_level(logging.WARNING, logger="campaign.send"):
        again = send(plan, client, db=db, campaign="d11", rate=10, expires_in="30min",
                     progress=False)  # fmt: skip
    assert states(again) == {"accepted": 20, "expired": 20}
    assert "2 batch(es), 20 numbers" in again.attrs["stopped"]
    assert "never sent" in caplog.text
    assert "is ignored" in caplog.text
    assert len(sim.calls("jzyyun-sms", "send")) == calls
    expired = again[again["state"] == "expired"]
    assert expired["message"].str.contains("expired at 2027-11-11T21:28:00").all()

    later = send(plan, client, db=db, campaign="d11", window=False, resend_unknown=True,
                 resend_rejected=True, progress=False)  # fmt: skip
    assert states(later) == {"accepted": 20, "expired": 20}
    assert len(sim.calls("jzyyun-sms", "send")) == calls
    path = cp.report(db, campaign="d11", path=Path(fake_dir(db)) / "d11.html")
    text = path.read_text(encoding="utf-8")
    assert "expired" in text
    assert "numbers in 2 batches, never sent" in text


def fake_dir(db) -> str:
    import tempfile

    return tempfile.mkdtemp() if str(db).startswith("postgresql") else str(Path(db).parent)


def test_batches_expire_during_a_run(sim, db, fake):
    client = jzyyun(sim)
    plan = cp.plan_batches(numbers(50), vendor=client, content=SMS, batch_size=10)
    result = send(plan, client, db=db, campaign="d11", window=False, rate=10, expires_in="2min",
                  progress=False)  # fmt: skip
    # calls at 10:00 and 10:01; the next is due at 10:02, when the campaign expires: the
    # send waits for it, and the three batches left expire
    assert states(result) == {"accepted": 20, "expired": 30}
    assert fake.current() == at(11, 10, 2)
    assert result.attrs["stopped"].startswith("expired at 10:02:00")
    assert len(sim.calls("jzyyun-sms", "send")) == 2


def test_when_the_window_opens_only_after_the_expiry(sim, db, fake):
    fake.set(at(11, 20, 59))
    client = jzyyun(sim)
    plan = cp.plan_batches(numbers(30), vendor=client, content=SMS, batch_size=10)
    options = {"rate": 10, "expires_at": "2027-11-11 23:00", "progress": False}
    result = send(plan, client, db=db, campaign="d11", wait=False, **options)
    assert fake.sleeps == []  # wait=False: stop now, the rest left to expire
    assert states(result) == {"accepted": 10, "planned": 20}
    assert "the window opens at 2027-11-12 08:00:00" in result.attrs["stopped"]
    assert "after the campaign expires at 23:00:00" in result.attrs["stopped"]
    # waiting: not all night for the window, only until the expiry, which expires the rest
    fake.set(at(11, 21, 30))
    result = send(plan, client, db=db, campaign="d11", **options)
    assert fake.current() == at(11, 23)
    assert states(result) == {"accepted": 10, "expired": 20}


def test_an_expiry_can_be_brought_forward_never_pushed_back(sim, db, fake):
    client = jzyyun(sim)
    plan = cp.plan_batches(numbers(20), vendor=client, content=SMS, batch_size=10)
    send(plan, client, db=db, campaign="d11", window=False, expires_in="6h", dry_run=True)
    send(plan, client, db=db, campaign="d11", window=False, wait=False, rate=10,
         expires_at=at(11, 10, 0, 30), progress=False)  # fmt: skip
    fake.set(at(11, 10, 1))
    result = send(plan, client, db=db, campaign="d11", window=False, expires_in="6h",
                  progress=False)  # fmt: skip
    assert result.attrs["expires_at"] == at(11, 10, 0, 30)
    assert states(result) == {"accepted": 10, "expired": 10}


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": "8-21"}, r"window '8-21': '8' is not a time of day"),
        ({"window": ("25:00", "08:00")}, r"not a time of day like '08:00'.*window=False"),
        ({"window": ("09:00", "09:00")}, r"window starts and ends at 09:00.*window=False"),
        ({"window": True}, r"window=True is not a window"),
        ({"window": 8}, r"window must be two times of day"),
        ({"rate": 0}, r"rate must be numbers per minute, more than 0 \(e.g. rate=6000\)"),
        ({"rate": -5}, r"rate must be numbers per minute"),
        ({"calls_per_second": 0}, r"calls_per_second must be calls per second"),
        ({"expires_at": "2027-11-11 09:00"}, r"expires_at 2027-11-11 09:00:00 .* has passed"),
        ({"expires_at": "tomorrow"}, r"expires_at 'tomorrow' is not a time"),
        ({"expires_in": "6"}, r"expires_in '6' is not a span of time.*'6h'"),
        ({"expires_in": 6}, r"expires_in must be a span of time.*needs its unit"),
        ({"expires_in": "0h"}, r"expires_in must be more than nothing"),
        ({"expires_in": "1h", "expires_at": "2027-11-12 09:00"}, r"not both"),
        ({"wait": "no"}, r"wait must be True"),
    ],
)
def test_wrong_options_name_the_argument_and_what_to_pass(sim, db, fake, options, message):
    client = jzyyun(sim)
    plan = cp.plan_batches(numbers(2), vendor=client, content=SMS)
    with pytest.raises(cp.InputError, match=message):
        send(plan, client, db=db, campaign="c", progress=False, **options)
    with pytest.raises(cp.InputError, match=message):
        plan.timing(**options)
    assert not sim.calls("jzyyun-sms", "send")


def test_limits_refuse_a_wrong_send_window():
    with pytest.raises(cp.InputError, match="send_window"):
        cp.vendor_limits("jzyyun-sms", send_window="morning")


# --------------------------------------------------------------------------- before sending


def test_plan_timing_shows_window_duration_finish_expiry_and_the_warning(fake):
    fake.set(at(11, 20, 59))
    plan = cp.plan_batches(numbers(40), vendor="jzyyun-sms", content=SMS, batch_size=10)
    timing = plan.timing(rate=20, expires_in="1h")
    assert (timing.calls, timing.messages) == (4, 40)
    assert str(timing.window) == "08:00-21:00"
    assert timing.window_source == "the vendor's default"
    assert timing.duration == dt.timedelta(minutes=2)
    assert timing.window_closes_at == at(11, 21)
    # 10 numbers at 20 a minute: 20:59, 20:59:30, then the window shuts; 08:00, 08:00:30
    assert timing.finishes_at == at(12, 8, 1)
    assert timing.unsent_at_expiry == 20
    text = repr(timing)
    assert "window:   08:00-21:00 Asia/Shanghai (the vendor's default)" in text
    assert "pace:     20 numbers a minute: 2 min of sending" in text
    assert "finishes: about 2027-11-12 08:01 Asia/Shanghai" in text
    assert "expires:  21:59 Asia/Shanghai (in 60 min, if started now)" in text
    assert "warning: the last calls would go at 2027-11-12 08:00:30" in text
    assert "20 numbers would expire unsent" in text
    assert "Send timing" in timing._repr_html_()

    quick = plan.timing(window=False, rate=6000)
    assert quick.warnings == []
    assert quick.finishes_at == at(11, 20, 59, 0) + dt.timedelta(seconds=0.4)
    stopping = plan.timing(rate=20, wait=False)
    assert stopping.left_for_next_run == 20
    assert stopping.finishes_at is None
    assert "20 numbers left planned for the next run" in repr(stopping)
    assert "as fast as the vendor answers" in repr(plan.timing(window=False))
    big = cp.plan_batches(numbers(40), vendor="jzyyun-sms", content=SMS)
    assert "plan with batch_size=20" in big.timing(rate=20).warnings[0]


def test_cli_plan_shows_the_window_the_duration_the_expiry_and_the_warning(fake):
    fake.set(at(11, 20, 59))
    args = ["plan", str(DATA / "contacts.csv"), "--vendor", "jzyyun-sms", "--content",
            "【云通信】双11会员专享,回T退订", "--batch-size", "10", "--rate", "20",
            "--expires-in", "1h"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "  billed:   40 messages" in result.output
    assert "  window:   08:00-21:00 Asia/Shanghai (the vendor's default)\n" in result.output
    assert "  pace:     20 numbers a minute: 2 min of sending\n" in result.output
    assert "  finishes: about 2027-11-12 08:01 Asia/Shanghai" in result.output
    assert "  expires:  21:59 Asia/Shanghai" in result.output
    assert "  warning: the last calls would go at" in result.output
    plain = CliRunner().invoke(main, [*args[:8], "--window", "none", "--calls-per-second", "2"])
    assert plain.exit_code == 0, plain.output
    assert "  window:   none (calls go out at any hour)\n" in plain.output
    assert "  pace:     2 calls a second: 2 s of sending\n" in plain.output
    bad = CliRunner().invoke(main, [*args[:6], "--window", "9-5"])
    assert bad.exit_code == 1
    assert "window '9-5'" in bad.output


def test_cli_send_stops_at_the_window_then_shows_what_expired(sim, tmp_path, fake, monkeypatch):
    monkeypatch.setenv("JZYYUN_USERNAME", "u")
    monkeypatch.setenv("JZYYUN_PASSWORD", "p")
    fake.set(at(11, 20, 58))
    args = ["send", str(DATA / "contacts.csv"), "--vendor", "jzyyun-sms", "--content",
            "【云通信】双11会员专享,回T退订", "--campaign", "d11", "--db",
            str(tmp_path / "c.db"), "--base-url", sim.url, "--batch-size", "10", "--rate",
            "10", "--no-wait", "--expires-in", "30min"]  # fmt: skip
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "this run: submitted 2 batch(es), 20 numbers" in first.output
    assert "  stops:    at 21:00 (wait=False), 20 numbers left planned" in first.output
    assert ("d11: stopped: the window opens at 2027-11-12 08:00:00 Asia/Shanghai, after the "
            "campaign expires at 21:28:00 Asia/Shanghai") in first.output  # fmt: skip
    fake.set(at(12, 9))
    again = CliRunner().invoke(main, args[:-2])
    assert again.exit_code == 0, again.output
    assert "this run: submitted nothing\n" in again.output
    assert "  expired         2 batches         20 numbers" in again.output
    assert "expired: 20 numbers in 2 batches, never sent" in again.output
