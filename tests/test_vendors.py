"""Vendor clients: request building, the seeds' answers, push/pull parsing, secrets, transport.

Everything runs against a tiny scripted HTTP server on 127.0.0.1 that this file controls
(no simulator, never the internet). Wire formats come from ../shared/seeds/.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import http.server
import json
import logging
import pickle
import socket
import threading
import time
import traceback
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

import campaign.vendors as vendors
from campaign.errors import (
    CampaignError,
    ConfigError,
    InputError,
    PayloadError,
    VendorRejected,
    VendorResponseUnknown,
    VendorUnreachable,
)
from campaign.vendors import (
    _base,
    _veesing,
    ihuyi_voice,
    jzyyun_sms,
    veesing_code,
    veesing_sms,
    veesing_voice,
)
from campaign.vendors._base import SHANGHAI, Receipt, Reply, SendResult, VendorLimits

KEYS = ["veesing-sms", "veesing-code", "veesing-voice", "ihuyi-voice", "jzyyun-sms"]

CREDENTIALS = {
    "veesing-sms": {"app_id": "2RYN7CQHL1MSECRETID", "app_key": "WVNA4A0SECRETKEY"},
    "veesing-code": {"app_id": "2RYN7CQHL1MSECRETID", "app_key": "WVNA4A0SECRETKEY"},
    "veesing-voice": {"app_id": "2RYN7CQHL1MSECRETID", "app_key": "WVNA4A0SECRETKEY"},
    "ihuyi-voice": {"account": "C89989456SECRET", "api_key": "c7d2810bd19eaSECRETKEY"},
    "jzyyun-sms": {"username": "dddb", "password": "Pw1223SECRET"},
}
SECRETS = {
    key: [v for k, v in creds.items() if k != "username"] for key, creds in CREDENTIALS.items()
}
ENV = {
    "veesing-sms": ("VEESING_APP_ID", "VEESING_APP_KEY"),
    "veesing-code": ("VEESING_APP_ID", "VEESING_APP_KEY"),
    "veesing-voice": ("VEESING_APP_ID", "VEESING_APP_KEY"),
    "ihuyi-voice": ("IHUYI_ACCOUNT", "IHUYI_API_KEY"),
    "jzyyun-sms": ("JZYYUN_USERNAME", "JZYYUN_PASSWORD"),
}
SEND_ARGS = {
    "veesing-sms": {"content": "【云通信】您的短信群发功能已开通"},
    "veesing-code": {"template_id": "540", "variables": "1234"},
    "veesing-voice": {"template_id": "724", "variables": "1234"},
    "ihuyi-voice": {"content": "1125"},
    "jzyyun-sms": {"content": "【云通信】短信测试"},
}

VEESING_OK = (
    '{\n  "returnStatus": "1 ",\n  "message": "成功",\n  "remainPoint": "241",\n'
    '  "taskId": "3313746",\n  "successCounts": "1"\n}'
)
VEESING_ERR = (
    '{\n  "returnStatus": "0",\n  "message": "参数错误",\n  "remainPoint": null,\n'
    '  "taskId": null,\n  "successCounts": null\n}'
)
VEESING_BALANCE = (
    '{"returnStatus": "1 ", "message": "成功", "remainPoint": "241", "taskId": null, '
    '"successCounts": null}'
)
IHUYI_OK = (
    '<?xml version="1.0" encoding="utf-8"?>\n<SubmitResult xmlns="http://106.ihuyi.com/">\n'
    "<code>2</code>\n<msg>提交成功</msg>\n<smsid>60495654</smsid>\n</SubmitResult>"
)
IHUYI_405 = (
    '<?xml version="1.0" encoding="utf-8"?>\n<SubmitResult xmlns="http://106.ihuyi.com/">\n'
    "<code>405</code>\n<msg>用户名或密码不正确</msg>\n<smsid>0</smsid>\n</SubmitResult>"
)

# The report and reply samples exactly as the seed page shows them (browser XML-view dashes and
# the page's "<?xmlversion" included).
JZYYUN_REPORTS_SEED = """  <?xmlversion="1.0" encoding="utf-8" ?>

-<smsreport>

-<psreport>

  <mobile>15275427712</mobile>

  <username>admin</username>

  <smslogid>66</smslogid>

  <status>1</status>

  <sendtime>2012-08-16 01:05:39.0</sendtime>

  </psreport>

-<psreport>

  <mobile>13865193295</mobile>

  <username>admin</username>

  <smslogid>66</smslogid>

  <status>1</status>

  <sendtime>2012-08-16 01:04:07.0</sendtime>

  </psreport>

-<psreport>

  <mobile>15375427702</mobile>

  <username>admin</username>

  <smslogid>67</smslogid>

  <status>1</status>

  <sendtime>2012-08-16 01:03:07.0</sendtime>

  </psreport>

-<psreport>

  <mobile>13866194295</mobile>

  <username>admin</username>

  <smslogid>67</smslogid>

  <status>1</status>

  <sendtime>2012-08-16 01:01:27.0</sendtime>

  </psreport>

  </smsreport>
"""
JZYYUN_REPLIES_SEED = """  <?xmlversion="1.0" encoding="utf-8" ?>

-<smsrerecv>

-<psrerecv>

  <mobile>15256560065</mobile>

  <receiver>admin</receiver>

  <content>xOPLrbChPw==</content>

  <sendtime>2012-06-18 14:56:00.0</sendtime>

  </psrerecv>

-<psrerecv>

  <mobile>13866194285</mobile>

  <receiver>admin</receiver>

  <content>u9jP8w==</content>

  <sendtime>2012-06-15 21:43:25.0</sendtime>

  </psrerecv>

  </smsrerecv>
"""


# --------------------------------------------------------------------------- a scripted server


class FakeVendor:
    """A loopback HTTP server answering from a script; records every request it receives.

    Actions: ``("reply", status, body, content_type)``, ``("close",)`` (read the request, then
    close without answering), ``("sleep", seconds, status, body)`` (answer late).
    """

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple] = []
        self.default: tuple = ("reply", 200, b"", "text/plain")
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                url = urllib.parse.urlsplit(self.path)
                with fake.lock:
                    fake.requests.append(
                        {
                            "method": self.command,
                            "path": url.path,
                            "query": dict(urllib.parse.parse_qsl(url.query)),
                            "headers": dict(self.headers),
                            "body": body,
                        }
                    )
                    action = fake.script.pop(0) if fake.script else fake.default
                kind = action[0]
                if kind == "close":
                    self.close_connection = True
                    return
                if kind == "sleep":
                    time.sleep(action[1])
                    action = ("reply", *action[2:])
                _, status, payload, *rest = action
                payload = payload.encode("utf-8") if isinstance(payload, str) else payload
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", rest[0] if rest else "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up first
                    self.close_connection = True

            do_GET = do_POST

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def then(self, *actions: tuple) -> FakeVendor:
        self.script.extend(actions)
        return self

    def reply(self, body: str | bytes, status: int = 200, ctype: str = "text/plain") -> FakeVendor:
        return self.then(("reply", status, body, ctype))

    def always(self, *action) -> FakeVendor:
        self.default = action
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def form(self, index: int = -1) -> dict[str, str]:
        request = self.requests[index]
        ctype = request["headers"].get("Content-Type", "")
        charset = "gbk" if "gbk" in ctype.lower() else "utf-8"
        pairs = urllib.parse.parse_qsl(request["body"].decode("ascii"), encoding=charset)
        return dict(pairs)


@pytest.fixture
def fake():
    server = FakeVendor()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _no_env_credentials(monkeypatch):
    for names in ENV.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    for name in (
        "JZYYUN_SMSTYPE",
        "JZYYUN_EXTENNO",
        "JZYYUN_UTF8_SERVLET",
        "IHUYI_DYNAMIC_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)


def make(key: str, url: str | None = None, **options):
    client = vendors.vendor(key, base_url=url, **{**CREDENTIALS[key], **options})
    client.backoff = 0.0
    return client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- registry, limits


def test_registry_lists_the_five_keys():
    assert vendors.vendor_keys() == KEYS
    for key in KEYS:
        module = vendors.vendor_module(key)
        assert key == module.KEY
        assert key == module.Client.KEY
        assert isinstance(module.LIMITS, VendorLimits)
        assert callable(module.parse_push)


def test_unknown_key_names_the_valid_ones():
    with pytest.raises(InputError) as info:
        vendors.vendor("twilio")
    for key in KEYS:
        assert key in str(info.value)
    assert isinstance(info.value, CampaignError)


def test_limits_are_data():
    assert vendors.vendor_limits("jzyyun-sms").max_phones_per_call == 20_000
    assert vendors.vendor_limits("jzyyun-sms").encoding == "gbk"
    assert vendors.vendor_limits("jzyyun-sms").delivery == "pull"
    sms = vendors.vendor_limits("veesing-sms")
    assert (sms.max_phones_per_call, sms.single_phone_only) == (1000, False)
    assert sms.schedulable
    assert sms.min_lead_seconds == 1800
    assert sms.signature_required
    assert sms.emoji_forbidden
    assert (sms.segment_chars, sms.multipart_segment_chars) == (70, 67)
    assert sms.daily_cap_per_number is None
    assert sms.daily_cap_per_account is None
    for key in ("veesing-sms", "veesing-code", "veesing-voice"):
        assert vendors.vendor_limits(key).min_interval_seconds == 60
        assert vendors.vendor_limits(key).delivery == "push"
    for key in ("veesing-code", "veesing-voice", "ihuyi-voice"):
        limits = vendors.vendor_limits(key)
        assert limits.single_phone_only
        assert limits.max_phones_per_call == 1
        assert not limits.schedulable
    assert vendors.vendor_limits("veesing-code").variables_pattern == r"\d{2,8}"
    assert vendors.vendor_limits("ihuyi-voice").content_pattern == r"\d{4,6}"
    assert vendors.vendor_limits("veesing-voice").segment_chars is None
    assert vendors.vendor_limits("veesing-voice").replies == "none"
    with pytest.raises(dataclasses.FrozenInstanceError):
        sms.max_phones_per_call = 5  # type: ignore[misc]


def test_limits_can_be_overridden_per_client():
    client = make("veesing-sms", limits={"max_phones_per_call": 2000})
    assert client.limits.max_phones_per_call == 2000
    assert veesing_sms.LIMITS.max_phones_per_call == 1000  # the module's data is untouched
    assert vendors.vendor_limits("veesing-sms", max_phones_per_call=50).max_phones_per_call == 50
    with pytest.raises(InputError, match="max_phone_per_call"):
        make("veesing-sms", limits={"max_phone_per_call": 2000})
    with pytest.raises(InputError, match="one phone per call"):
        make("veesing-code", limits={"max_phones_per_call": 2})
    with pytest.raises(InputError):
        vendors.vendor_limits("jzyyun-sms", max_phones_per_call=0)


# --------------------------------------------------------------------------- credentials


@pytest.mark.parametrize("key", KEYS)
def test_missing_credential_names_keyword_and_env_var(key):
    creds = CREDENTIALS[key]
    for (keyword, _), env in zip(creds.items(), ENV[key], strict=True):
        partial = {k: v for k, v in creds.items() if k != keyword}
        with pytest.raises(ConfigError) as info:
            vendors.vendor(key, **partial)
        assert keyword in str(info.value)
        assert env in str(info.value)


@pytest.mark.parametrize("key", KEYS)
def test_credentials_from_env(key, monkeypatch, fake):
    for (_, value), env in zip(CREDENTIALS[key].items(), ENV[key], strict=True):
        monkeypatch.setenv(env, value)
    client = vendors.vendor(key, base_url=fake.url)
    fake.always("close")
    with pytest.raises(VendorResponseUnknown):
        client.send(["13800138000"], **SEND_ARGS[key])
    form = fake.form()
    first, second = CREDENTIALS[key].values()
    if key == "jzyyun-sms":
        assert form["username"] == first
        assert form["password"] == base64.b64encode(second.encode()).decode()
    else:
        assert set(form.values()) >= {first, second}


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError):
        make("jzyyun-sms", smstype=5)
    with pytest.raises(ConfigError):
        make("jzyyun-sms", extenno="12a")
    with pytest.raises(ConfigError):
        make("veesing-sms", url="ftp://example")
    with pytest.raises(ConfigError, match="paths are kept"):
        make("veesing-sms", url="http://127.0.0.1:8080/smsApi")
    with pytest.raises(ConfigError):
        make("veesing-sms", url="http://user:pw@127.0.0.1:8080")
    with pytest.raises(ConfigError):
        make("veesing-sms", timeout=0)
    with pytest.raises(ConfigError):
        make("veesing-sms", timeout="soon")
    assert make("veesing-sms", timeout=3).timeout == (3.0, 3.0)
    assert make("veesing-sms", timeout=(1, 9)).timeout == (1.0, 9.0)
    default = make("veesing-sms").timeout
    assert default == (_base.DEFAULT_CONNECT_TIMEOUT, _base.DEFAULT_READ_TIMEOUT)


def test_jzyyun_options_from_env(monkeypatch):
    monkeypatch.setenv("JZYYUN_SMSTYPE", "2")
    monkeypatch.setenv("JZYYUN_EXTENNO", "123")
    client = make("jzyyun-sms")
    assert (client.smstype, client.extenno) == (2, "123")


def test_default_base_urls_keep_documented_hosts():
    assert make("veesing-sms").base_url == "https://cloud.10658.com.cn"
    assert make("veesing-voice").base_url == "https://cloud.10658.com.cn"
    assert make("veesing-code").base_url == "https://vip.veesing.com"
    assert make("ihuyi-voice").base_url == "http://api.voice.ihuyi.com"
    assert make("jzyyun-sms").base_url == "http://smsapi.jzyyun.com:9003"
    assert make("jzyyun-sms", url="http://127.0.0.1:1/").base_url == "http://127.0.0.1:1"


def test_pool_is_large_enough_for_concurrency_8():
    client = make("veesing-voice")
    adapter = client._session.get_adapter("http://127.0.0.1")
    assert adapter._pool_maxsize >= 8


# --------------------------------------------------------------------------- request building


def test_veesing_sms_build_send_matches_the_seed():
    params = veesing_sms.build_send(
        ["15080929435", "17608432793"], "【云通信】您的短信群发功能已开通", app_id="I", app_key="K"
    )
    assert params == {
        "appId": "I",
        "appKey": "K",
        "phone": "15080929435,17608432793",
        "content": "【云通信】您的短信群发功能已开通",
    }
    when = dt.datetime(2018, 8, 21, 14, 0, tzinfo=SHANGHAI)
    params = veesing_sms.build_send(["15080929435"], "x", app_id="I", app_key="K", send_at=when)
    assert params["sendTime"] == "2018-08-21 14:00:00"


def test_veesing_template_builds():
    assert veesing_code.build_send("156", "540", "1234", app_id="I", app_key="K") == {
        "appId": "I",
        "appKey": "K",
        "phone": "156",
        "templateId": "540",
        "variables": "1234",
    }
    assert list(veesing_voice.build_send("156", "724", "1234", app_id="I", app_key="K")) == [
        "appId",
        "appKey",
        "templateId",
        "phone",
        "variables",
    ]


def test_ihuyi_static_and_dynamic_password():
    static = ihuyi_voice.build_send("13800138000", "1125", account="C1", api_key="KEY")
    assert static == {
        "account": "C1",
        "password": "KEY",
        "mobile": "13800138000",
        "content": "1125",
    }
    dynamic = ihuyi_voice.build_send(
        "13800138000", "1125", account="C1", api_key="KEY", dynamic=True, time=1700000000
    )
    expected = hashlib.md5(b"C1KEY1380013800011251700000000").hexdigest()
    assert dynamic["password"] == expected
    assert dynamic["time"] == "1700000000"
    assert len(dynamic["password"]) == 32
    assert dynamic["password"] == dynamic["password"].lower()
    now = ihuyi_voice.build_send("1", "1125", account="C1", api_key="K", dynamic=True)
    assert abs(int(now["time"]) - time.time()) < 5
    assert len(now["time"]) == 10


def test_jzyyun_password_is_base64_as_in_the_seed():
    assert jzyyun_sms.encode_password("123456") == "MTIzNDU2"  # the page's own example
    params = jzyyun_sms.build_send(
        ["13866194295", "15375427702"], "短信测试", username="115", password="123456", smstype=2
    )
    assert params == {
        "isLongSms": "0",
        "username": "115",
        "password": "MTIzNDU2",
        "smstype": "2",
        "mobile": "13866194295,15375427702",
        "content": "短信测试",
    }
    long = jzyyun_sms.build_send(["1"], "长" * 71, username="u", password="p", extenno="123")
    assert long["isLongSms"] == "1"
    assert long["extenno"] == "123"
    short = jzyyun_sms.build_send(["1"], "长" * 70, username="u", password="p", long_sms=True)
    assert short["isLongSms"] == "1"


def test_jzyyun_content_is_gbk_url_encoded():
    body = jzyyun_sms.encode_form({"content": "短信测试"})
    assert body == b"content=%B6%CC%D0%C5%B2%E2%CA%D4"
    assert urllib.parse.parse_qs(body.decode(), encoding="gbk")["content"] == ["短信测试"]
    with pytest.raises(InputError, match="GBK"):
        jzyyun_sms.encode_form({"content": "【云通信】双11快乐🎉"})


@pytest.mark.parametrize(
    ("key", "path", "query"),
    [
        ("veesing-sms", "/smsApi/group", {}),
        ("veesing-code", "/smsApi/verifyCode", {}),
        ("veesing-voice", "/voiceApi", {}),
        ("ihuyi-voice", "/webservice/voice.php", {"method": "Submit"}),
        ("jzyyun-sms", "/servlet/UserServiceAPI", {"method": "sendSMS"}),
    ],
)
def test_send_goes_to_the_documented_path(fake, key, path, query):
    fake.always("close")
    with pytest.raises(VendorResponseUnknown):
        make(key, fake.url).send(["13800138000"], **SEND_ARGS[key])
    (request,) = fake.requests
    assert (request["method"], request["path"], request["query"]) == ("POST", path, query)
    assert request["headers"]["Content-Type"].startswith("application/x-www-form-urlencoded")


def test_veesing_sms_wire_form(fake):
    fake.reply(VEESING_OK)
    make("veesing-sms", fake.url).send(
        ["15080929435", "17608432793"], content="【云通信】您的短信群发功能已开通"
    )
    assert fake.form() == {
        "appId": "2RYN7CQHL1MSECRETID",
        "appKey": "WVNA4A0SECRETKEY",
        "phone": "15080929435,17608432793",
        "content": "【云通信】您的短信群发功能已开通",
    }


def test_veesing_send_at_is_checked_and_formatted(fake):
    client = make("veesing-sms", fake.url)
    soon = dt.datetime.now(SHANGHAI) + dt.timedelta(minutes=29)
    with pytest.raises(InputError, match="30 minutes"):
        client.send(["15080929435"], content="【云通信】hi", send_at=soon)
    assert fake.requests == []
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(microsecond=0)
    fake.reply(VEESING_OK)
    client.send(["15080929435"], content="【云通信】hi", send_at=later)
    expected = later.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    assert fake.form()["sendTime"] == expected
    naive = (dt.datetime.now(SHANGHAI) + dt.timedelta(hours=1)).replace(tzinfo=None)
    fake.reply(VEESING_OK)
    client.send(["15080929435"], content="【云通信】hi", send_at=naive.isoformat(sep=" "))
    assert fake.form()["sendTime"] == naive.strftime("%Y-%m-%d %H:%M:%S")
    with pytest.raises(InputError):
        client.send(["15080929435"], content="【云通信】hi", send_at="next tuesday")


@pytest.mark.parametrize("key", ["veesing-code", "veesing-voice", "ihuyi-voice", "jzyyun-sms"])
def test_send_at_refused_where_not_schedulable(key):
    later = dt.datetime.now(SHANGHAI) + dt.timedelta(hours=2)
    with pytest.raises(InputError, match="schedule"):
        make(key, "http://127.0.0.1:9").send(["13800138000"], **SEND_ARGS[key], send_at=later)


def test_send_argument_shapes_are_checked():
    sms = make("veesing-sms", "http://127.0.0.1:9", limits={"max_phones_per_call": 3})
    with pytest.raises(InputError, match="at most 3"):
        sms.send(["1", "2", "3", "4"], content="【a】b")
    with pytest.raises(InputError):
        sms.send([], content="【a】b")
    with pytest.raises(InputError, match="list"):
        sms.send("13800138000,13900139000", content="【a】b")
    with pytest.raises(InputError, match="content"):
        sms.send(["13800138000"])
    with pytest.raises(InputError, match="content"):
        sms.send(["13800138000"], template_id="1", variables="2")
    code = make("veesing-code", "http://127.0.0.1:9")
    with pytest.raises(InputError, match="one phone"):
        code.send(["13800138000", "13900139000"], template_id="540", variables="1234")
    with pytest.raises(InputError, match="template_id"):
        code.send(["13800138000"], content="1234")
    with pytest.raises(InputError, match="template_id"):
        code.send(["13800138000"], variables="1234")
    with pytest.raises(InputError, match="variables"):
        code.send(["13800138000"], template_id="540")
    with pytest.raises(InputError):
        make("ihuyi-voice", "http://127.0.0.1:9").send(["13800138000"])
    with pytest.raises(InputError):
        make("jzyyun-sms", "http://127.0.0.1:9").send(["13800138000"], template_id="1")


def test_a_single_phone_may_be_a_string(fake):
    fake.reply(VEESING_OK)
    result = make("veesing-code", fake.url).send("15600001090", template_id="540", variables="1234")
    assert result.ok
    assert fake.form()["phone"] == "15600001090"


def test_ihuyi_wire_form_with_dynamic_password(fake):
    fake.reply(IHUYI_OK)
    client = make("ihuyi-voice", fake.url, dynamic_password=True)
    client.send(["13800138000"], content="1125")
    form = fake.form()
    creds = CREDENTIALS["ihuyi-voice"]
    raw = creds["account"] + creds["api_key"] + "13800138000" + "1125" + form["time"]
    assert form["password"] == hashlib.md5(raw.encode()).hexdigest()
    assert form["account"] == creds["account"]
    assert "format" not in form
    assert creds["api_key"] not in fake.requests[-1]["body"].decode()


def test_jzyyun_wire_form_is_gbk(fake):
    fake.reply("success;66")
    client = make("jzyyun-sms", fake.url, smstype=0, extenno="88")
    result = client.send(["13866194295", "15375427702"], content="【云通信】短信测试")
    request = fake.requests[-1]
    assert request["query"] == {"method": "sendSMS"}
    assert "charset=GBK" in request["headers"]["Content-Type"]
    assert "%B6%CC%D0%C5%B2%E2%CA%D4" in request["body"].decode("ascii")
    assert fake.form() == {
        "isLongSms": "0",
        "username": "dddb",
        "password": base64.b64encode(b"Pw1223SECRET").decode(),
        "smstype": "0",
        "extenno": "88",
        "mobile": "13866194295,15375427702",
        "content": "【云通信】短信测试",
    }
    assert result == SendResult(True, "66", 2, None, "success", None, "success;66")


def test_jzyyun_20000_numbers_in_one_call(fake):
    fake.reply("success;99")
    phones = [f"138{i:08d}" for i in range(20_000)]
    result = make("jzyyun-sms", fake.url).send(phones, content="【云通信】短信测试")
    assert result.accepted == 20_000
    assert len(fake.form()["mobile"].split(",")) == 20_000
    with pytest.raises(InputError, match="20000"):
        make("jzyyun-sms", fake.url).send([*phones, "13900000000"], content="【云】x")


# --------------------------------------------------------------------------- veesing answers


def test_veesing_seed_success_parsed_exactly():
    result = _veesing.parse_send(VEESING_OK, phones=1)
    assert result == SendResult(
        ok=True,
        task_id="3313746",
        accepted=1,
        message="成功",
        code="1",
        remaining=241,
        raw=VEESING_OK,
    )
    without_space = _veesing.parse_send(VEESING_OK.replace('"1 "', '"1"'), phones=1)
    assert without_space is not None
    assert without_space.ok


def test_veesing_seed_error_parsed_exactly():
    result = _veesing.parse_send(VEESING_ERR, phones=3)
    assert result == SendResult(False, None, 0, "参数错误", "0", None, VEESING_ERR)


@pytest.mark.parametrize("message", _veesing.ERROR_MESSAGES)
@pytest.mark.parametrize("key", ["veesing-sms", "veesing-code", "veesing-voice"])
def test_veesing_every_documented_refusal_is_a_result(fake, key, message):
    body = json.dumps(
        {
            "returnStatus": "0",
            "message": message,
            "remainPoint": None,
            "taskId": None,
            "successCounts": None,
        },
        ensure_ascii=False,
    )
    fake.reply(body, ctype="application/json;charset=UTF-8")
    result = make(key, fake.url).send(["15080929435"], **SEND_ARGS[key])
    assert (result.ok, result.code, result.message, result.accepted) == (False, "0", message, 0)
    assert result.task_id is None


def test_veesing_group_accepted_count_comes_from_success_counts(fake):
    fake.reply(VEESING_OK.replace('"successCounts": "1"', '"successCounts": "2"'))
    result = make("veesing-sms", fake.url).send(["15080929435", "17608432793"], content="【a】b")
    assert (result.ok, result.accepted, result.remaining) == (True, 2, 241)


@pytest.mark.parametrize(
    "body", ["", "<html>gateway</html>", '{"returnStatus": "7"}', '{"message": "x"}', "[1]"]
)
def test_veesing_unreadable_send_answer_is_unknown(fake, body):
    fake.reply(body)
    with pytest.raises(VendorResponseUnknown):
        make("veesing-sms", fake.url).send(["15080929435"], content="【a】b")
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("veesing-sms", "/smsApi/group/getBalance"),
        ("veesing-code", "/smsApi/verifyCode/getBalance"),
        ("veesing-voice", "/voiceApi/getBalance"),
    ],
)
def test_veesing_balance(fake, key, path):
    fake.reply(VEESING_BALANCE)
    assert make(key, fake.url).balance() == 241
    assert fake.requests[-1]["path"] == path
    assert fake.form() == {"appId": "2RYN7CQHL1MSECRETID", "appKey": "WVNA4A0SECRETKEY"}


@pytest.mark.parametrize("message", _veesing.BALANCE_ERROR_MESSAGES)
def test_veesing_balance_refusal_raises_rejected(fake, message):
    fake.reply(VEESING_ERR.replace("参数错误", message))
    with pytest.raises(VendorRejected) as info:
        make("veesing-sms", fake.url).balance()
    assert info.value.code == "0"
    assert info.value.vendor_message == message
    assert info.value.vendor == "veesing-sms"


# --------------------------------------------------------------------------- veesing pushes

RECEIPT = {
    "mobile": "15080920000",
    "taskid": "123",
    "status": "1",
    "code": "MA:0001",
    "receivetime": "2019-07-23 17:00:00",
}
REPLY = {
    "mobile": "15080920000",
    "taskid": "123",
    "content": "收到",
    "receivetime": "2019-07-23 17:00:00",
}
VOICE_RECEIPT = {**RECEIPT, "code": "1", "talktime": "12", "remark": "接收成功"}


def test_veesing_sms_receipt_push():
    assert veesing_sms.parse_push(RECEIPT) == Receipt(
        vendor="veesing-sms",
        task_id="123",
        phone="15080920000",
        status="delivered",
        code="MA:0001",
        received_at="2019-07-23T17:00:00+08:00",
        talk_seconds=None,
        remark=None,
    )


def test_veesing_reply_push():
    expected = Reply("veesing-sms", "123", "15080920000", "收到", "2019-07-23T17:00:00+08:00")
    assert veesing_sms.parse_push(REPLY) == expected
    assert veesing_code.parse_push(REPLY).vendor == "veesing-code"
    assert vendors.parse_push("veesing-sms", REPLY) == expected


def test_veesing_code_receipt_has_no_code_field():
    form = {k: v for k, v in RECEIPT.items() if k != "code"}
    receipt = veesing_code.parse_push(form)
    assert (receipt.status, receipt.code) == ("delivered", None)


def test_veesing_voice_receipt_carries_talk_time():
    receipt = veesing_voice.parse_push(VOICE_RECEIPT)
    assert receipt == Receipt(
        "veesing-voice",
        "123",
        "15080920000",
        "delivered",
        "1",
        "2019-07-23T17:00:00+08:00",
        12,
        "接收成功",
    )
    assert veesing_voice.parse_push({**VOICE_RECEIPT, "talktime": ""}).talk_seconds is None


@pytest.mark.parametrize("taskid", [None, "", "  "])
def test_a_reply_without_a_task_id_is_kept_opt_out_and_all(taskid):
    """Seed 001 marks no reply field required: a reply that names no batch still counts."""
    form = {k: v for k, v in {**REPLY, "content": "TD", "taskid": taskid}.items() if v is not None}
    reply = veesing_sms.parse_push(form)
    assert (reply.task_id, reply.content, reply.phone) == (None, "TD", REPLY["mobile"])


@pytest.mark.parametrize(
    ("value", "phone"),
    [("13800138000", "13800138000"), ("+86 138-0013-8000", "13800138000"),
     ("13800138000.0", "13800138000"), ("8613800138000", "13800138000"),
     ("+14155550100", "+14155550100"), ("10690000", "10690000")],
)  # fmt: skip
def test_pushed_phones_are_digits(value, phone):
    assert veesing_sms.parse_push({**RECEIPT, "mobile": value}).phone == phone


@pytest.mark.parametrize(
    ("value", "message"),
    [("1.38001E+10", "scientific notation"), ("abc", "not a phone number"),
     ("138001380OO", "not a phone number")],
)  # fmt: skip
def test_pushed_phones_that_are_not_numbers_are_refused(value, message):
    with pytest.raises(PayloadError, match=message):
        veesing_sms.parse_push({**RECEIPT, "mobile": value})


@pytest.mark.parametrize(
    ("module", "form"),
    [
        (veesing_sms, RECEIPT),
        (veesing_sms, REPLY),
        (veesing_code, {k: v for k, v in RECEIPT.items() if k != "code"}),
        (veesing_voice, VOICE_RECEIPT),
    ],
)
def test_push_missing_any_field_names_it(module, form):
    for name in form:
        if name in ("status", "content"):
            continue  # without these the form is neither a receipt nor a reply
        if name == "taskid" and "content" in form:
            continue  # a reply's taskid is optional (next test)
        broken = {k: v for k, v in form.items() if k != name}
        with pytest.raises(PayloadError, match=repr(name)):
            module.parse_push(broken)


def test_push_status_codes_and_oddities():
    assert veesing_sms.parse_push({**RECEIPT, "status": "0"}).status == "failed"
    assert veesing_sms.parse_push({**RECEIPT, "status": "9"}).status == "unknown"
    assert veesing_sms.parse_push({**RECEIPT, "mobile": "+86 150-8092-0000"}).phone == (
        "15080920000"
    )
    listed = {k: [v] for k, v in RECEIPT.items()}  # as urllib.parse.parse_qs gives it
    assert veesing_sms.parse_push(listed).task_id == "123"
    with pytest.raises(PayloadError, match="2 times"):
        veesing_sms.parse_push({**listed, "taskid": ["1", "2"]})
    with pytest.raises(PayloadError, match="receivetime"):
        veesing_sms.parse_push({**RECEIPT, "receivetime": "yesterday"})
    with pytest.raises(PayloadError, match="talktime"):
        veesing_voice.parse_push({**VOICE_RECEIPT, "talktime": "12s"})
    with pytest.raises(PayloadError, match="'mobile'"):
        veesing_sms.parse_push({**RECEIPT, "mobile": " "})
    with pytest.raises(PayloadError, match="both"):
        veesing_sms.parse_push({**RECEIPT, "content": "x"})
    with pytest.raises(PayloadError, match="'status'"):
        veesing_sms.parse_push({"mobile": "1", "taskid": "1"})
    with pytest.raises(PayloadError, match="reply"):
        veesing_voice.parse_push(REPLY)
    with pytest.raises(PayloadError):
        veesing_sms.parse_push("mobile=1")  # type: ignore[arg-type]
    with pytest.raises(PayloadError):
        jzyyun_sms.parse_push(RECEIPT)
    with pytest.raises(PayloadError):
        make("ihuyi-voice").parse_push(RECEIPT)
    assert make("veesing-voice").parse_push(VOICE_RECEIPT).talk_seconds == 12


# --------------------------------------------------------------------------- ihuyi answers


def test_ihuyi_seed_answers_parsed_exactly(fake):
    fake.reply(IHUYI_OK, ctype="text/xml")
    result = make("ihuyi-voice", fake.url).send(["13800138000"], content="1125")
    assert result == SendResult(True, "60495654", 1, "提交成功", "2", None, IHUYI_OK)
    fake.reply(IHUYI_405, ctype="text/xml")
    result = make("ihuyi-voice", fake.url).send(["13800138000"], content="1125")
    assert (result.ok, result.code, result.message, result.task_id) == (
        False,
        "405",
        "用户名或密码不正确",
        None,
    )


def test_ihuyi_json_and_voiceid_variants():
    assert ihuyi_voice.parse_answer('{"code":2,"msg":"提交成功","smsid":"604"}')["id"] == "604"
    xml = b"<SubmitResult><code>2</code><msg>ok</msg><voiceid>77</voiceid></SubmitResult>"
    assert ihuyi_voice.parse_answer(xml)["id"] == "77"
    with pytest.raises(PayloadError, match="code"):
        ihuyi_voice.parse_answer(b"<SubmitResult><msg>x</msg></SubmitResult>")
    with pytest.raises(PayloadError):
        ihuyi_voice.parse_answer(b" 2 \xe6\x8f\x90\xe4\xba\xa4\xe6\x88\x90\xe5\x8a\x9f 60495654 ")


@pytest.mark.parametrize("code", [c for c in ihuyi_voice.SEND_CODES if c != "2"])
def test_ihuyi_every_documented_code_is_a_refusal(fake, code):
    message = ihuyi_voice.SEND_CODES[code]
    body = json.dumps({"code": int(code), "msg": message, "smsid": "0"}, ensure_ascii=False)
    fake.reply(body, ctype="application/json")
    result = make("ihuyi-voice", fake.url).send(["13800138000"], content="1125")
    assert (result.ok, result.code, result.message, result.accepted) == (False, code, message, 0)
    fake.reply(f"<SubmitResult><code>{code}</code><smsid>0</smsid></SubmitResult>")
    result = make("ihuyi-voice", fake.url).send(["13800138000"], content="1125")
    assert (result.code, result.message) == (code, message)  # message from the table


def test_ihuyi_unreadable_answer_is_unknown(fake):
    fake.reply("<html>502</html>")
    with pytest.raises(VendorResponseUnknown):
        make("ihuyi-voice", fake.url).send(["13800138000"], content="1125")


def test_ihuyi_balance(fake):
    fake.reply("<GetNumResult><code>2</code><msg>查询成功</msg><num>88</num></GetNumResult>")
    assert make("ihuyi-voice", fake.url).balance() == 88
    assert fake.requests[-1]["query"] == {"method": "GetNum"}
    for code, message in ihuyi_voice.BALANCE_CODES.items():
        if code == "2":
            continue
        fake.reply(
            f"<GetNumResult><code>{code}</code><msg>{message}</msg><num>0</num></GetNumResult>"
        )
        with pytest.raises(VendorRejected) as info:
            make("ihuyi-voice", fake.url).balance()
        assert (info.value.code, info.value.vendor_message) == (code, message)


# --------------------------------------------------------------------------- jzyyun answers


def test_jzyyun_failure_is_a_result_with_the_reason(fake):
    fake.reply("failure;余额不足".encode("gbk"), ctype="text/html;charset=GBK")
    result = make("jzyyun-sms", fake.url).send(["13866194295"], content="【云】测试")
    assert result == SendResult(False, None, 0, "余额不足", "failure", None, "failure;余额不足")
    fake.reply("failure;用户名或密码错误".encode("gbk"), ctype="text/html")  # no charset given
    result = make("jzyyun-sms", fake.url).send(["13866194295"], content="【云】测试")
    assert result.message == "用户名或密码错误"


@pytest.mark.parametrize("body", ["", "ok", "successful", "<html>500</html>"])
def test_jzyyun_unreadable_send_answer_is_unknown(fake, body):
    fake.reply(body)
    with pytest.raises(VendorResponseUnknown):
        make("jzyyun-sms", fake.url).send(["13866194295"], content="【云】测试")


def test_jzyyun_bare_success_is_ok_without_task(fake, caplog):
    fake.reply("success")
    result = make("jzyyun-sms", fake.url).send(["13866194295"], content="【云】测试")
    assert (result.ok, result.task_id, result.accepted) == (True, None, 1)
    assert "batch id" in caplog.text


def test_jzyyun_balances_seed_string(fake):
    text = "memberSmsNum=684;gateSmsNum=49919;kaSmsNum=49964"
    assert jzyyun_sms.parse_balances(text) == {"member": 684, "gateway": 49919, "card": 49964}
    assert jzyyun_sms.parse_balances(" kaSmsNum=1; gateSmsNum=2 ;memberSmsNum=3;\r\n") == {
        "member": 3,
        "gateway": 2,
        "card": 1,
    }
    for smstype, expected in [(0, 49964), (1, 49919), (2, 684)]:
        fake.reply(text)
        assert make("jzyyun-sms", fake.url, smstype=smstype).balance() == expected
        assert fake.requests[-1]["query"] == {"method": "getRestMoney"}
    fake.reply(text)
    assert make("jzyyun-sms", fake.url).balances()["card"] == 49964
    fake.reply("failure;用户不存在".encode("gbk"))
    with pytest.raises(VendorRejected) as info:
        make("jzyyun-sms", fake.url).balance()
    assert (info.value.code, info.value.vendor_message) == ("failure", "用户不存在")
    fake.always("reply", 200, "memberSmsNum=1")
    with pytest.raises(VendorResponseUnknown):
        make("jzyyun-sms", fake.url).balances()


def test_jzyyun_seed_reports_parsed_exactly():
    receipts = jzyyun_sms.parse_reports(JZYYUN_REPORTS_SEED.encode())
    assert [(r.task_id, r.phone, r.status, r.code, r.received_at) for r in receipts] == [
        ("66", "15275427712", "delivered", "1", "2012-08-16T01:05:39+08:00"),
        ("66", "13865193295", "delivered", "1", "2012-08-16T01:04:07+08:00"),
        ("67", "15375427702", "delivered", "1", "2012-08-16T01:03:07+08:00"),
        ("67", "13866194295", "delivered", "1", "2012-08-16T01:01:27+08:00"),
    ]
    assert {r.vendor for r in receipts} == {"jzyyun-sms"}


def test_jzyyun_seed_replies_parsed_exactly():
    replies = jzyyun_sms.parse_replies(JZYYUN_REPLIES_SEED.encode())
    assert replies == [
        Reply("jzyyun-sms", None, "15256560065", "你谁啊?", "2012-06-18T14:56:00+08:00"),
        Reply("jzyyun-sms", None, "13866194285", "回象", "2012-06-15T21:43:25+08:00"),
    ]


def _report(status="1", mobile="13800138000", extra="") -> str:
    return (
        f"<psreport><mobile>{mobile}</mobile><username>管理员</username><smslogid>9</smslogid>"
        f"<status>{status}</status><sendtime>2024-07-25 14:01:30.0</sendtime>{extra}</psreport>"
    )


def test_jzyyun_xml_tolerates_bom_gbk_and_whitespace():
    gbk = f'<?xml version="1.0" encoding="GBK"?>\r\n<smsreport>{_report()}</smsreport>'
    assert jzyyun_sms.parse_reports(gbk.encode("gbk"))[0].received_at == (
        "2024-07-25T14:01:30+08:00"
    )
    gb2312 = gbk.replace("GBK", "gb2312").encode("gbk")
    assert len(jzyyun_sms.parse_reports(gb2312)) == 1
    bom = b"\xef\xbb\xbf" + f'<?xml version="1.0" encoding="utf-8"?><smsreport>{_report()}'.encode()
    assert len(jzyyun_sms.parse_reports(bom + b"</smsreport>\n\n")) == 1
    lying = f'<?xml version="1.0" encoding="utf-8"?><smsreport>{_report()}</smsreport>'
    assert len(jzyyun_sms.parse_reports(lying.encode("gbk"))) == 1  # says utf-8, is GBK
    spaced = f"\n\n  <smsreport>\n\t{_report(' 0 ', ' 13800138000 ')}\n  </smsreport>  \n"
    receipt = jzyyun_sms.parse_reports(spaced.encode())[0]
    assert (receipt.status, receipt.phone, receipt.code) == ("failed", "13800138000", "0")
    unknown = jzyyun_sms.parse_reports(f"<smsreport>{_report('2')}</smsreport>")[0]
    assert unknown.status == "unknown"
    assert jzyyun_sms.parse_reports(b"") == []
    assert jzyyun_sms.parse_reports(b"  \r\n") == []
    assert jzyyun_sms.parse_reports(b'<?xml version="1.0"?><smsreport/>') == []
    reply = (
        '<?xml version="1.0" encoding="GBK"?><smsrerecv><psrerecv><mobile>13800138000</mobile>'
        "<receiver>管理员</receiver><content> zcu2qQ== </content>"
        "<sendtime>2024-07-25 14:01:30</sendtime></psrerecv></smsrerecv>"
    )
    assert jzyyun_sms.parse_replies(reply.encode("gbk"))[0].content == "退订"


@pytest.mark.parametrize("word", ["取消", "拒收", "退订", "你谁啊?", "T"])
def test_jzyyun_reply_base64_of_utf8_is_read_as_utf8_not_mojibake(word):
    """The page says GBK; a gateway that sends UTF-8 must not turn 取消 into 鍙栨秷."""
    for codec in ("gbk", "utf-8"):
        encoded = base64.b64encode(word.encode(codec)).decode()
        assert jzyyun_sms.decode_reply_content(encoded) == word


@pytest.mark.parametrize("field", ["mobile", "smslogid", "status", "sendtime"])
def test_jzyyun_report_missing_field_is_named(field):
    report = _report()
    start, end = report.index(f"<{field}>"), report.index(f"</{field}>") + len(field) + 3
    broken = f"<smsreport>{_report()}{report[:start] + report[end:]}</smsreport>"
    with pytest.raises(PayloadError, match=rf"'{field}' in psreport #2"):
        jzyyun_sms.parse_reports(broken.encode())


@pytest.mark.parametrize("field", ["mobile", "content", "sendtime"])
def test_jzyyun_reply_missing_field_is_named(field):
    parts = {"mobile": "13800138000", "content": "u9jP8w==", "sendtime": "2012-06-15 21:43:25"}
    body = "".join(f"<{k}>{v}</{k}>" for k, v in parts.items() if k != field)
    with pytest.raises(PayloadError, match=rf"'{field}' in psrerecv #1"):
        jzyyun_sms.parse_replies(f"<smsrerecv><psrerecv>{body}</psrerecv></smsrerecv>")


def test_jzyyun_bad_xml_is_a_payload_error():
    with pytest.raises(PayloadError, match="malformed"):
        jzyyun_sms.parse_reports(b"<smsreport><psreport>")
    with pytest.raises(PayloadError, match="smsreport"):
        jzyyun_sms.parse_reports(b"<smsrerecv/>")
    with pytest.raises(PayloadError, match="failure"):
        jzyyun_sms.parse_reports("failure;用户不存在".encode("gbk"))
    with pytest.raises(PayloadError, match="BASE64"):
        jzyyun_sms.decode_reply_content("not base64!")
    with pytest.raises(PayloadError, match="sendtime"):
        jzyyun_sms.parse_reports(f"<smsreport>{_report()}</smsreport>".replace("2024-07", "24/07"))


def test_jzyyun_fetch_reports_and_replies(fake):
    fake.reply(JZYYUN_REPORTS_SEED, ctype="text/xml")
    reports = make("jzyyun-sms", fake.url).fetch_reports()
    assert list(reports.columns) == list(vendors.RECEIPT_COLUMNS)
    assert list(reports["status"]) == ["delivered"] * 4
    assert list(reports["task_id"]) == ["66", "66", "67", "67"]
    assert reports["talk_seconds"].isna().all()
    assert fake.requests[-1]["query"] == {"method": "getSmsReport"}
    assert set(fake.form()) == {"username", "password"}
    fake.reply(JZYYUN_REPLIES_SEED.encode("utf-8"), ctype="text/xml")
    replies = make("jzyyun-sms", fake.url).fetch_replies()
    assert list(replies.columns) == list(vendors.REPLY_COLUMNS)
    assert list(replies["content"]) == ["你谁啊?", "回象"]
    assert fake.requests[-1]["query"] == {"method": "getRecvSMS"}
    fake.reply("")
    empty = make("jzyyun-sms", fake.url).fetch_reports()
    assert empty.empty
    assert list(empty.columns) == list(vendors.RECEIPT_COLUMNS)


def test_jzyyun_fetch_keeps_the_bytes_of_an_unparseable_answer(fake):
    body = b"<smsreport><psreport><mobile>1</mobile></psreport></smsreport>"
    fake.reply(body)
    with pytest.raises(PayloadError) as info:
        make("jzyyun-sms", fake.url).fetch_reports()
    assert info.value.payload == body  # type: ignore[attr-defined]
    fake.reply("failure;用户不存在".encode("gbk"))
    with pytest.raises(VendorRejected, match="用户不存在"):
        make("jzyyun-sms", fake.url).fetch_replies()


def test_pushed_vendors_have_nothing_to_pull():
    with pytest.raises(InputError, match="campaign receive"):
        make("veesing-sms").fetch_reports()
    with pytest.raises(InputError):
        make("veesing-voice").fetch_replies()


@pytest.mark.parametrize(
    ("answer", "code", "message"),
    [("2", "2", "修改密码失败"), ("3", "3", "用户不存在"), ("4", "4", "未知错误")],
)
def test_jzyyun_update_password_refusals(fake, answer, code, message):
    fake.reply(answer)
    with pytest.raises(VendorRejected) as info:
        make("jzyyun-sms", fake.url).update_password("abc123")
    assert (info.value.code, info.value.vendor_message) == (code, message)


def test_jzyyun_update_password_success_switches_password(fake):
    client = make("jzyyun-sms", fake.url)
    fake.reply("1\r\n")
    client.update_password("New1234")
    assert fake.requests[-1]["query"] == {"method": "updatePassword"}
    assert fake.form() == {
        "username": "dddb",
        "password": base64.b64encode(b"Pw1223SECRET").decode(),
        "newPassword": "New1234",
    }
    fake.reply("memberSmsNum=1;gateSmsNum=2;kaSmsNum=3")
    client.balance()
    assert fake.form()["password"] == base64.b64encode(b"New1234").decode()
    assert "New1234" not in repr(client)
    with pytest.raises(InputError):
        client.update_password("has space")
    fake.reply("ok")
    with pytest.raises(VendorResponseUnknown):
        client.update_password("Other1")


# --------------------------------------------------------------------------- secrets


def _assert_secret_free(text: str, key: str) -> None:
    for secret in SECRETS[key]:
        for form in _base.secret_forms(secret):
            assert form not in text, f"{secret!r} leaked as {form!r}"


@pytest.mark.parametrize("key", KEYS)
def test_secrets_absent_from_repr_and_vars(key):
    client = make(key)
    _assert_secret_free(repr(client), key)
    _assert_secret_free(str(client), key)
    _assert_secret_free(repr(vars(client)), key)
    with pytest.raises(TypeError):
        pickle.dumps(client._secrets[0])


@pytest.mark.parametrize("key", KEYS)
def test_secrets_absent_from_logs(key, fake, caplog):
    caplog.set_level(logging.DEBUG, logger="campaign")
    fake.always("reply", 500, "oops")
    with pytest.raises(VendorResponseUnknown):
        make(key, fake.url).send(["13800138000"], **SEND_ARGS[key])
    assert "params=" in caplog.text
    _assert_secret_free(caplog.text, key)


@pytest.mark.parametrize("key", KEYS)
def test_secrets_absent_from_transport_errors(key, caplog):
    caplog.set_level(logging.DEBUG)
    client = make(key, f"http://127.0.0.1:{free_port()}", retries=1)
    with pytest.raises(VendorUnreachable) as info:
        client.send(["13800138000"], **SEND_ARGS[key])
    text = "".join(traceback.format_exception(info.value))
    assert "ConnectionError" in text  # the cause is chained...
    _assert_secret_free(text, key)  # ...but carries no credentials
    cause = info.value.__cause__
    assert cause is not None
    assert getattr(cause, "request", None) is None
    _assert_secret_free(repr(cause.args), key)
    _assert_secret_free(caplog.text, key)


def test_secrets_echoed_by_the_vendor_are_redacted_from_raw_and_errors(fake):
    creds = CREDENTIALS["veesing-sms"]
    echo = json.dumps(
        {"returnStatus": "0", "message": f"bad key {creds['app_key']}", "taskId": None}
    )
    fake.reply(echo)
    result = make("veesing-sms", fake.url).send(["15080929435"], content="【a】b")
    assert creds["app_key"] not in result.raw
    assert "***" in result.raw
    fake.always("reply", 502, f"upstream said appKey={creds['app_key']}")
    with pytest.raises(VendorResponseUnknown) as info:
        make("veesing-sms", fake.url).balance()
    _assert_secret_free(str(info.value), "veesing-sms")
    password = CREDENTIALS["jzyyun-sms"]["password"]
    encoded = base64.b64encode(password.encode()).decode()
    fake.always("reply", 200, f"failure;wrong password {encoded}")
    result = make("jzyyun-sms", fake.url).send(["13866194295"], content="【云】测")
    _assert_secret_free(result.raw, "jzyyun-sms")


def test_missing_credential_error_carries_no_other_secret():
    with pytest.raises(ConfigError) as info:
        vendors.vendor("veesing-sms", app_key="WVNA4A0SECRETKEY")
    assert "WVNA4A0SECRETKEY" not in str(info.value)


# --------------------------------------------------------------------------- transport


def test_refused_connection_is_unreachable_and_retried():
    client = make("veesing-sms", f"http://127.0.0.1:{free_port()}", retries=2)
    calls = []
    original = client._session.post
    client._session.post = lambda *a, **k: calls.append(1) or original(*a, **k)  # type: ignore
    with pytest.raises(VendorUnreachable, match="nothing was sent"):
        client.send(["15080929435"], content="【a】b")
    assert len(calls) == 3  # a send is retried when the vendor was certainly not reached
    calls.clear()
    with pytest.raises(VendorUnreachable):
        client.balance()
    assert len(calls) == 3


def test_each_retry_is_one_plain_line(caplog):
    caplog.set_level(logging.WARNING, logger="campaign")
    port = free_port()
    client = make("veesing-sms", f"http://127.0.0.1:{port}", retries=2)
    client.backoff = 0.01
    with pytest.raises(VendorUnreachable) as info:
        client.send(["15080929435"], content="【a】b")
    assert str(info.value) == (
        f"veesing-sms: cannot reach 127.0.0.1:{port} (connection refused); nothing was sent"
    )
    assert caplog.messages == [
        f"veesing-sms: cannot reach 127.0.0.1:{port} (connection refused); nothing was sent; "
        f"retry {n} of 2 in {delay} s"
        for n, delay in [(1, "0.0"), (2, "0.0")]
    ]
    client.backoff = 0.5
    client.retries = 1
    caplog.clear()
    with pytest.raises(VendorUnreachable):
        client.balance()
    assert caplog.messages[0].endswith("; retry 1 of 1 in 0.5 s")


def test_unreachable_then_success(fake, monkeypatch):
    client = make("veesing-sms", fake.url)
    fake.reply(VEESING_OK)
    real = client._post_once
    attempts = []

    def flaky(*args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise VendorUnreachable("refused", vendor="veesing-sms")
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "_post_once", flaky)
    assert client.send(["15080929435"], content="【a】b").ok
    assert len(attempts) == 2
    assert len(fake.requests) == 1


def test_lost_reply_send_attempted_once_balance_retried(fake):
    fake.always("close")
    client = make("veesing-sms", fake.url, retries=2)
    with pytest.raises(VendorResponseUnknown, match="may have been processed"):
        client.send(["15080929435"], content="【a】b")
    assert len(fake.requests) == 1  # never twice: the SMS may already be on its way
    with pytest.raises(VendorResponseUnknown):
        client.balance()
    assert len(fake.requests) == 1 + 3


def test_read_timeout_is_unknown_and_send_not_retried(fake):
    fake.always("sleep", 3.0, 200, VEESING_OK)
    client = make("veesing-code", fake.url, timeout=(1.0, 0.2))
    started = time.monotonic()
    with pytest.raises(VendorResponseUnknown) as info:
        client.send(["15600001090"], template_id="540", variables="1234")
    assert time.monotonic() - started < 2.5  # gave up at the read timeout, not after the sleep
    assert "no answer within 0.2 s (read timeout)" in str(info.value)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_5xx_is_unknown(fake, status):
    fake.always("reply", status, "Internal Server Error")
    with pytest.raises(VendorResponseUnknown) as info:
        make("jzyyun-sms", fake.url).send(["13866194295"], content="【云】测")
    assert info.value.code == str(status)
    assert len(fake.requests) == 1


def test_balance_retries_a_5xx_then_succeeds(fake):
    fake.then(("reply", 503, "busy")).reply(VEESING_BALANCE)
    assert make("veesing-sms", fake.url).balance() == 241
    assert len(fake.requests) == 2


def test_jzyyun_pull_is_not_retried_after_a_lost_answer(fake):
    fake.always("close")
    client = make("jzyyun-sms", fake.url, retries=2)
    with pytest.raises(VendorResponseUnknown):
        client.fetch_reports()
    assert len(fake.requests) == 1  # the vendor may have dequeued them: say so, don't hide it
    with pytest.raises(VendorResponseUnknown):
        client.update_password("abc123")
    assert len(fake.requests) == 2
    with pytest.raises(VendorResponseUnknown):
        client.balances()
    assert len(fake.requests) == 2 + 3


def test_retries_zero_means_one_attempt(fake):
    fake.always("close")
    with pytest.raises(VendorResponseUnknown):
        make("veesing-sms", fake.url, retries=0).balance()
    assert len(fake.requests) == 1
    with pytest.raises(InputError):
        make("veesing-sms", retries=-1)


def test_concurrent_single_phone_sends_share_one_client(fake):
    fake.always("reply", 200, VEESING_OK)
    client = make("veesing-voice", fake.url)
    phones = [f"1380000{i:04d}" for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda p: client.send([p], template_id="724", variables="1234"), phones)
        )
    assert all(r.ok for r in results)
    assert (
        sorted(dict(urllib.parse.parse_qsl(r["body"].decode()))["phone"] for r in fake.requests)
        == phones
    )


# --------------------------------------------------------------------------- records


def test_records_to_dict_and_frames():
    receipt = veesing_voice.parse_push(VOICE_RECEIPT)
    assert receipt.to_dict()["talk_seconds"] == 12
    frame = _base.receipts_frame([receipt])
    assert str(frame["talk_seconds"].dtype) == "Int64"
    assert list(frame.columns) == list(vendors.RECEIPT_COLUMNS)
    assert frame.loc[0, "received_at"] == "2019-07-23T17:00:00+08:00"
    assert pd.Timestamp(frame.loc[0, "received_at"]).utcoffset() == dt.timedelta(hours=8)
    assert SendResult(True, "1", 1, None, "1").to_dict()["raw"] == ""
    assert veesing_sms.parse_push(REPLY).to_dict()["content"] == "收到"


def test_redirects_are_not_followed(fake):
    fake.always("reply", 302, "moved")
    with pytest.raises(VendorResponseUnknown) as info:
        make("jzyyun-sms", fake.url).send(["13866194295"], content="【云】测")
    assert info.value.code == "302"
    assert len(fake.requests) == 1


def test_log_lines_stay_short_for_big_batches(fake, caplog):
    caplog.set_level(logging.DEBUG, logger="campaign")
    fake.reply("success;1")
    make("jzyyun-sms", fake.url).send([f"138{i:08d}" for i in range(5000)], content="【云】测")
    line = next(r.getMessage() for r in caplog.records if "params=" in r.getMessage())
    assert len(line) < 1000
    assert "(59999 chars)" in line


def test_limits_show_as_a_table_in_a_notebook():
    table = vendors.vendor_limits("jzyyun-sms")._repr_html_()
    assert table.count("<tr>") == len(dataclasses.fields(VendorLimits))
    assert "<th style='text-align:left'>max_phones_per_call</th>" in table
    assert "20000" in table


def test_form_values_given_as_gbk_bytes_are_read():
    form = {**REPLY, "content": "退订".encode("gbk"), "mobile": b"15080920000"}
    assert veesing_sms.parse_push(form).content == "退订"
    with pytest.raises(PayloadError, match="'content' is neither UTF-8 nor GBK"):
        veesing_sms.parse_push({**REPLY, "content": b"\xff\xff"})
