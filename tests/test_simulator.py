"""The vendor simulator, driven with plain ``requests`` built from the seed pages.

Nothing here imports ``campaign.vendors``: the wire requests are written from
``shared/seeds`` so that the simulator and the clients are checked against the pages,
not against each other.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote

import pytest
import requests

from campaign.simulator import FAULTS, Simulator, run, serve
from campaign.simulator.state import SHANGHAI

START = "2024-11-11 09:00:00"
SIGNED = "【云通信】您的短信群发功能已开通,请在3个工作日之内至平台进行企业认证!"
VEESING = {"appId": "2RYN7CQHL1M", "appKey": "WVNA4A0"}
MOBILE, UNICOM, TELECOM = "13800138000", "13012345678", "18912345678"
TIMEOUT = (2, 5)
JZ_PATH = "/servlet/UserServiceAPI"
IHUYI_PATH = "/webservice/voice.php"
REPORT_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.0")
#: ihuyi's answers as the seed's table lays them out (the simulator's layout before issue 13;
#: the real servers' is the default now): no namespace, one line, the id named smsid.
IHUYI_SEED_LAYOUT = {"ihuyi_layout": "inline", "ihuyi_namespace": None, "ihuyi_id_field": "smsid"}
PUSH_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


@pytest.fixture
def make_sim():
    """Start simulators with a fixed start time; all are stopped at the end of the test."""
    started: list[Simulator] = []

    def make(**options) -> Simulator:
        options.setdefault("start", START)
        sim = serve(**options)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim):
    return make_sim(seed=0)


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def phones(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:0{11 - len(prefix)}d}" for i in range(n)]


# ---------------------------------------------------------------- wire helpers (from the seeds)


def veesing(http, sim, path: str, **data) -> dict:
    r = http.post(sim.url + path, data={**VEESING, **data}, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def group(http, sim, phone_list, content=SIGNED, **extra) -> dict:
    return veesing(http, sim, "/smsApi/group", phone=",".join(phone_list), content=content, **extra)


def code(http, sim, phone, variables="1234", template="540", **extra) -> dict:
    return veesing(
        http,
        sim,
        "/smsApi/verifyCode",
        phone=phone,
        templateId=template,
        variables=variables,
        **extra,
    )


def voice(http, sim, phone, variables="1234", template="724") -> dict:
    return veesing(http, sim, "/voiceApi", templateId=template, phone=phone, variables=variables)


def ihuyi(http, sim, method="Submit", *, fmt=None, **data):
    if fmt:
        data["format"] = fmt
    r = http.post(f"{sim.url}{IHUYI_PATH}?method={method}", data=data, timeout=TIMEOUT)
    assert r.status_code == 200
    if fmt == "json":
        return r.json()
    root = ET.fromstring(r.content)
    return root.tag, {child.tag: child.text for child in root}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def jz(http, sim, method, *, password="123456", username="test", **params) -> requests.Response:
    """POST a form url-encoded in GBK, as the seed's JAVA.NET.URL example does."""
    fields = {"method": method, "username": username, "password": b64(password), **params}
    body = "&".join(f"{k}={quote(str(v).encode('gbk'), safe='')}" for k, v in fields.items())
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    r = http.post(sim.url + JZ_PATH, data=body.encode("ascii"), headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200
    return r


def jz_send(http, sim, mobiles, content="短信测试", **params) -> str:
    params.setdefault("smstype", "1")
    return jz(http, sim, "sendSMS", mobile=",".join(mobiles), content=content, **params).text


def jz_items(response: requests.Response, root: str, item: str) -> list[dict]:
    # expat cannot decode GBK itself: decode with the charset the answer declares.
    doc = ET.fromstring(response.content.decode(response.encoding or "utf-8"))
    assert doc.tag == root
    return [{child.tag: child.text for child in node} for node in doc.findall(item)]


def error_shape(body: dict, message: str) -> None:
    assert body == {
        "returnStatus": "0",
        "message": message,
        "remainPoint": None,
        "taskId": None,
        "successCounts": None,
    }


# ---------------------------------------------------------------- veesing: success paths


def test_group_send_answers_the_seed_json_with_trailing_space(http, sim):
    body = group(http, sim, ["15080929435", "17608432793"])
    assert list(body) == ["returnStatus", "message", "remainPoint", "taskId", "successCounts"]
    assert body["returnStatus"] == "1 "
    assert body["message"] == "成功"
    assert body["remainPoint"] == "99998"
    assert body["taskId"].isdigit()
    assert body["successCounts"] == "2"


@pytest.mark.parametrize(
    ("path", "vendor"),
    [
        ("/smsApi/group/getBalance", "veesing-sms"),
        ("/smsApi/verifyCode/getBalance", "veesing-code"),
        ("/voiceApi/getBalance", "veesing-voice"),
        ("/voiceApi/group/getBalance", "veesing-voice"),
    ],
)
def test_balance_query_string_with_empty_body(http, make_sim, path, vendor):
    sim = make_sim(balances={vendor: 241})
    # The seeds' OkHttp example: credentials in the query string, empty text/plain body.
    r = http.post(sim.url + path, params=VEESING, data=b"", headers={"Content-Type": "text/plain"})
    assert r.json() == {
        "returnStatus": "1 ",
        "message": "成功",
        "remainPoint": "241",
        "taskId": None,
        "successCounts": None,
    }
    assert sim.requests[-1].vendor == vendor
    assert sim.requests[-1].operation == "balance"


def test_each_product_has_its_own_balance_and_task_ids(http, sim):
    a = code(http, sim, MOBILE)
    b = voice(http, sim, MOBILE)
    c = group(http, sim, [UNICOM])
    assert {a["remainPoint"], b["remainPoint"], c["remainPoint"]} == {"99999"}
    assert len({a["taskId"], b["taskId"], c["taskId"]}) == 3
    assert [r.vendor for r in sim.requests] == ["veesing-code", "veesing-voice", "veesing-sms"]


def test_long_content_is_charged_per_segment(http, make_sim):
    sim = make_sim(balances={"veesing-sms": 100})
    body = group(http, sim, [MOBILE, UNICOM], content="【云通信】" + "好" * 80)  # 85 chars: 2 parts
    assert body["remainPoint"] == "96"


def test_scheduled_group_send_needs_more_than_30_minutes(http, sim):
    now = datetime.fromisoformat(START).replace(tzinfo=SHANGHAI)
    too_soon = (now + timedelta(minutes=29)).strftime("%Y-%m-%d %H:%M:%S")
    error_shape(group(http, sim, [MOBILE], sendTime=too_soon), "参数错误")
    error_shape(group(http, sim, [MOBILE], sendTime="2024/11/11 12:00"), "参数错误")
    later = now + timedelta(minutes=31)
    body = group(http, sim, [MOBILE], sendTime=later.strftime("%Y-%m-%d %H:%M:%S"))
    assert body["returnStatus"] == "1 "
    sim.flush()
    (receipt,) = [p for p in sim.pushes("veesing-sms") if p.kind == "receipt"]
    assert receipt.form["receivetime"] > later.strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------- veesing: documented errors


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"appKey": ""}, "缺少参数"),
        ({"phone": ""}, "缺少参数"),
        ({"content": ""}, "缺少参数"),
        ({"phone": "1508092943"}, "手机号码格式不正确"),
        ({"phone": "15080929435,+8617608432793"}, "手机号码格式不正确"),
        ({"phone": "15080929435,"}, "手机号码格式不正确"),
        ({"content": "您的短信群发功能已开通"}, "参数错误"),  # no 【signature】
        ({"content": "【云通信】双11快乐🎉"}, "参数错误"),  # emoji
    ],
)
def test_group_errors(http, sim, data, message):
    fields = {**VEESING, "phone": "15080929435", "content": SIGNED, **data}
    r = http.post(sim.url + "/smsApi/group", data=fields, timeout=TIMEOUT)
    error_shape(r.json(), message)
    assert sim.balance("veesing-sms", VEESING["appId"]) == 100_000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"templateId": ""}, "缺少参数"),
        ({"variables": ""}, "缺少参数"),
        ({"templateId": "54a"}, "模板id格式不正确"),
        ({"phone": "15080929435,17608432793"}, "手机号码格式不正确"),
        ({"variables": "1"}, "参数错误"),
        ({"variables": "123456789"}, "参数错误"),
        ({"variables": "12ab"}, "参数错误"),
    ],
)
def test_verify_code_errors(http, sim, data, message):
    fields = {"phone": "15080929435", "templateId": "540", "variables": "1234", **data}
    error_shape(veesing(http, sim, "/smsApi/verifyCode", **fields), message)


def test_templates_when_configured(http, make_sim):
    sim = make_sim(templates={"veesing-voice": {"724": "code", "725": "notice"}})
    error_shape(voice(http, sim, MOBILE, template="999"), "模板不存在或者未通过")
    error_shape(voice(http, sim, MOBILE, variables="您的快递已到", template="724"), "参数错误")
    notice = voice(http, sim, UNICOM, variables="您的快递已到", template="725")
    assert notice["returnStatus"] == "1 "
    error_shape(voice(http, sim, TELECOM, variables="字" * 51, template="725"), "参数错误")
    error_shape(voice(http, sim, TELECOM, variables="到了😀", template="725"), "参数错误")


def test_voice_without_templates_accepts_code_or_short_notice(http, sim):
    assert voice(http, sim, MOBILE, variables="12345678")["returnStatus"] == "1 "
    assert voice(http, sim, UNICOM, variables="字" * 50)["returnStatus"] == "1 "
    error_shape(voice(http, sim, TELECOM, variables="字" * 51), "参数错误")


def test_credentials_checked_when_accounts_given(http, make_sim):
    accounts = {
        "veesing": [
            {"app_id": "2RYN7CQHL1M", "app_key": "WVNA4A0"},
            {"app_id": "LOCKED", "app_key": "x", "locked": True},
        ]
    }
    sim = make_sim(accounts=accounts)
    assert code(http, sim, MOBILE)["returnStatus"] == "1 "
    bad = http.post(sim.url + "/smsApi/verifyCode/getBalance", params={**VEESING, "appKey": "no"})
    error_shape(bad.json(), "账号或密码错误")
    unknown = {"appId": "nobody", "appKey": "WVNA4A0"}
    error_shape(http.post(sim.url + "/voiceApi/getBalance", data=unknown).json(), "账号或密码错误")
    locked = {"appId": "LOCKED", "appKey": "x"}
    error_shape(
        http.post(sim.url + "/smsApi/group/getBalance", data=locked).json(),
        "您的账户已被锁定,请联系您的专属客服",
    )


def test_same_number_once_a_minute(http, sim):
    assert code(http, sim, MOBILE)["returnStatus"] == "1 "
    error_shape(code(http, sim, MOBILE), "相同手机号码一分钟之内只可发送一次")
    error_shape(group(http, sim, [UNICOM, UNICOM]), "相同手机号码一分钟之内只可发送一次")
    assert group(http, sim, [MOBILE])["returnStatus"] == "1 "  # another product, own history
    sim.advance(60)
    assert code(http, sim, MOBILE)["returnStatus"] == "1 "


def test_interval_is_configurable(http, make_sim):
    sim = make_sim(interval=0)
    assert code(http, sim, MOBILE)["returnStatus"] == "1 "
    assert code(http, sim, MOBILE)["returnStatus"] == "1 "


def test_daily_caps(http, make_sim):
    sim = make_sim(daily_limit_per_number=1, daily_limit_per_account=2)
    assert code(http, sim, MOBILE)["returnStatus"] == "1 "
    sim.advance(61)
    error_shape(code(http, sim, MOBILE), "该号码今日发送次数已达上限")
    assert code(http, sim, UNICOM)["returnStatus"] == "1 "
    error_shape(code(http, sim, TELECOM), "当日发送量已超出最大发送限制")
    sim.advance(24 * 3600)
    assert code(http, sim, TELECOM)["returnStatus"] == "1 "


def test_balance_decrements_then_runs_out(http, make_sim):
    sim = make_sim(balances={"veesing-sms": 3})
    assert group(http, sim, [MOBILE, UNICOM])["remainPoint"] == "1"
    error_shape(group(http, sim, [TELECOM, "13900139000"]), "余额不足")
    balance = http.post(sim.url + "/smsApi/group/getBalance", data=VEESING).json()
    assert balance["remainPoint"] == "1"
    assert group(http, sim, [TELECOM])["remainPoint"] == "0"
    error_shape(group(http, sim, ["13900139000"]), "余额不足")


def test_too_many_numbers_is_configurable(http, make_sim):
    sim = make_sim(max_phones={"veesing-sms": 3})
    error_shape(group(http, sim, phones("1380000", 4)), "参数错误")
    assert group(http, sim, phones("1380000", 3))["successCounts"] == "3"


def test_veesing_answers_post_only(http, sim):
    r = http.get(sim.url + "/smsApi/group/getBalance", params=VEESING)
    assert r.status_code == 405
    assert sim.requests[-1].processed is False


# ---------------------------------------------------------------- ihuyi


def test_ihuyi_submit_xml_by_default(http, make_sim):
    sim = make_sim(seed=0, **IHUYI_SEED_LAYOUT)
    tag, fields = ihuyi(http, sim, account="C123", password="key", mobile=MOBILE, content="1125")
    assert tag == "SubmitResult"
    assert list(fields) == ["code", "msg", "smsid"]
    assert fields["code"] == "2"
    assert fields["msg"] == "提交成功"
    assert fields["smsid"].isdigit()


def test_ihuyi_json_and_get_with_query_string(http, make_sim):
    sim = make_sim(seed=0, **IHUYI_SEED_LAYOUT)
    body = ihuyi(http, sim, fmt="json", account="C", password="k", mobile=MOBILE, content="1125")
    assert body["code"] == 2
    assert body["msg"] == "提交成功"
    # The seed's request example: everything in a GET query string.
    url = f"{sim.url}{IHUYI_PATH}?method=Submit&account=C&password=k&mobile={UNICOM}&content=1125"
    root = ET.fromstring(http.get(url).content)
    assert root.findtext("code") == "2"


def test_ihuyi_id_field_is_configurable(http, make_sim):
    sim = make_sim(ihuyi_id_field="voiceid", ihuyi_namespace=None)
    _, fields = ihuyi(http, sim, account="C", password="k", mobile=MOBILE, content="1125")
    assert fields["voiceid"].isdigit()


IHUYI_OK = {"account": "C123", "password": "apikey", "mobile": MOBILE, "content": "1125"}


@pytest.mark.parametrize(
    ("change", "code_", "msg"),
    [
        ({"account": ""}, 401, "帐号不能为空"),
        ({"password": ""}, 402, "密码不能为空"),
        ({"mobile": ""}, 403, "手机号码不能为空"),
        ({"content": ""}, 404, "语音内容不能为空"),
        ({"password": "wrong"}, 405, "用户名或密码不正确"),
        ({"account": "C999"}, 405, "用户名或密码不正确"),
        ({"account": "FROZEN", "password": "f"}, 4050, "账号被冻结"),
        ({"mobile": "1380013800"}, 406, "手机格式不正确"),
        ({"mobile": f"{MOBILE},{UNICOM}"}, 406, "手机格式不正确"),
        ({"content": "123"}, 4070, "语音验证码内容必须为4-6位数字"),
        ({"content": "1234567"}, 4070, "语音验证码内容必须为4-6位数字"),
        ({"content": "12a4"}, 4070, "语音验证码内容必须为4-6位数字"),
        ({"mobile": "13900000000"}, 4030, "手机号码已被列入黑名单"),
        ({"account": "EMPTY", "password": "e"}, 4051, "剩余条数不足"),
    ],
)
@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_ihuyi_error_table(http, make_sim, change, code_, msg, fmt):
    accounts = {
        "ihuyi": [
            {"account": "C123", "api_key": "apikey"},
            {"account": "FROZEN", "api_key": "f", "locked": True},
            {"account": "EMPTY", "api_key": "e", "balance": 0},
        ]
    }
    sim = make_sim(accounts=accounts, blacklist={"13900000000"}, **IHUYI_SEED_LAYOUT)
    data = {**IHUYI_OK, **change}
    if fmt == "json":
        assert ihuyi(http, sim, fmt="json", **data) == {"code": code_, "msg": msg, "smsid": "0"}
    else:
        _, fields = ihuyi(http, sim, **data)
        assert fields == {"code": str(code_), "msg": msg, "smsid": "0"}


def test_ihuyi_dynamic_password(http, make_sim):
    sim = make_sim(accounts={"ihuyi": {"account": "C123", "api_key": "apikey"}})
    stamp = str(int(time.time()))
    digest = hashlib.md5(f"C123apikey{MOBILE}1125{stamp}".encode()).hexdigest()
    ok = {**IHUYI_OK, "password": digest, "time": stamp}
    assert ihuyi(http, sim, fmt="json", **ok)["code"] == 2
    wrong = hashlib.md5(f"C123wrong{UNICOM}1125{stamp}".encode()).hexdigest()
    bad = {**IHUYI_OK, "mobile": UNICOM, "password": wrong, "time": stamp}
    assert ihuyi(http, sim, fmt="json", **bad)["code"] == 405
    old = str(int(time.time()) - 3600)
    stale = hashlib.md5(f"C123apikey{UNICOM}1125{old}".encode()).hexdigest()
    late = {**IHUYI_OK, "mobile": UNICOM, "password": stale, "time": old}
    assert ihuyi(http, sim, fmt="json", **late)["code"] == 405
    assert ihuyi(http, sim, fmt="json", **{**ok, "time": "12345"})["code"] == 405


def test_ihuyi_balance_getnum(http, make_sim):
    sim = make_sim(balances={"ihuyi-voice": 10}, **IHUYI_SEED_LAYOUT)
    ihuyi(http, sim, account="C", password="k", mobile=MOBILE, content="1125")
    tag, fields = ihuyi(http, sim, "GetNum", account="C", password="k")
    assert tag == "GetNumResult"
    assert fields == {"code": "2", "msg": "查询成功", "num": "9"}
    assert ihuyi(http, sim, "GetNum", fmt="json", account="C")["code"] == 402


# ---------------------------------------------------------------- jzyyun


def test_jzyyun_send_and_gbk_content_round_trip(http, sim):
    content = "【云通信】双11会员专享,回T退订"
    assert re.fullmatch(r"success;\d+", jz_send(http, sim, ["13866194295", "15375427702"], content))
    record = sim.requests[-1]
    assert record.params["content"] == content
    assert quote(content.encode("gbk"), safe="").encode() in record.body
    assert record.vendor_method == "sendSMS"


def test_jzyyun_utf8_content_arrives_garbled_like_the_real_server(http, sim):
    body = {
        "method": "sendSMS",
        "username": "test",
        "password": b64("123456"),
        "mobile": MOBILE,
        "content": "短信测试",  # requests encodes UTF-8: the seed asks for GBK
    }
    assert http.post(sim.url + JZ_PATH, data=body).text.startswith("success;")
    assert sim.requests[-1].params["content"] != "短信测试"


def test_jzyyun_balance_string_and_pools(http, make_sim):
    sim = make_sim(
        balances={"jzyyun-sms": {"memberSmsNum": 684, "gateSmsNum": 49919}},
        jzyyun_balance_interval=0,  # asks twice in a row; the rate limit has its own test
    )
    text = jz(http, sim, "getRestMoney").text
    assert text == "memberSmsNum=684;gateSmsNum=49919;kaSmsNum=100000"
    jz_send(http, sim, [MOBILE, UNICOM], smstype="1")
    jz_send(http, sim, [MOBILE], smstype="2")
    jz_send(http, sim, [MOBILE], smstype="0", isLongSms="1", content="长" * 100)  # 2 parts
    # The seed's HttpClient example sends no smstype: the gateway pool by default.
    jz(http, sim, "sendSMS", mobile=MOBILE, content="test content")
    assert jz(http, sim, "getRestMoney").text == "memberSmsNum=683;gateSmsNum=49916;kaSmsNum=99998"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"password": "wrong"}, "failure;用户名或密码错误"),
        ({"username": "nobody"}, "failure;用户名或密码错误"),
        ({"mobile": ""}, "failure;手机号码不能为空"),
        ({"content": ""}, "failure;短信内容不能为空"),
        ({"mobile": "1386619429"}, "failure;手机号码格式错误"),
        ({"smstype": "5"}, "failure;smstype参数错误"),
        ({"isLongSms": "2"}, "failure;isLongSms参数错误"),
        ({"username": "LOCKED", "password": "x"}, "failure;账号已被锁定"),
        ({"username": "POOR", "password": "y"}, "failure;余额不足"),
    ],
)
def test_jzyyun_send_errors(http, make_sim, params, expected):
    accounts = {
        "jzyyun": [
            {"username": "test", "password": "123456"},
            {"username": "LOCKED", "password": "x", "locked": True},
            {"username": "POOR", "password": "y", "balance": {"gateSmsNum": 0}},
        ]
    }
    sim = make_sim(accounts=accounts)
    fields = {"mobile": "13866194295", "content": "短信测试", "smstype": "1", **params}
    assert jz(http, sim, "sendSMS", **fields).text == expected


def test_jzyyun_password_must_be_base64(http, sim):
    fields = {"method": "getRestMoney", "username": "test", "password": "123456!"}
    assert http.post(sim.url + JZ_PATH, data=fields).text == "failure;用户名或密码错误"
    fields["password"] = ""
    assert http.post(sim.url + JZ_PATH, data=fields).text == "failure;用户名或密码不能为空"


def test_jzyyun_20000_numbers_per_call(http, sim):
    assert jz_send(http, sim, phones("138", 20_001)) == "failure;手机号码数量超过20000个"
    assert jz_send(http, sim, phones("138", 20_000)).startswith("success;")
    assert jz(http, sim, "getRestMoney").text.split(";")[1] == "gateSmsNum=80000"


def test_jzyyun_unknown_method(http, sim):
    assert jz(http, sim, "sendMMS").text == "failure;method参数错误"


def test_jzyyun_reports_pulled_once_in_pages(http, make_sim):
    sim = make_sim(pull_max=3, latency_median=60)
    batch = jz_send(http, sim, phones("1380000", 5)).split(";")[1]
    assert jz_items(jz(http, sim, "getSmsReport"), "smsreport", "psreport") == []  # not due
    sim.flush()
    first = jz_items(jz(http, sim, "getSmsReport"), "smsreport", "psreport")
    second = jz_items(jz(http, sim, "getSmsReport"), "smsreport", "psreport")
    assert (len(first), len(second)) == (3, 2)
    assert jz_items(jz(http, sim, "getSmsReport"), "smsreport", "psreport") == []
    reports = first + second
    assert sorted(r["mobile"] for r in reports) == phones("1380000", 5)
    for report in reports:
        assert list(report) == ["mobile", "username", "smslogid", "status", "sendtime"]
        assert report["username"] == "test"
        assert report["smslogid"] == batch
        assert report["status"] in {"0", "1", "2"}
        assert REPORT_TIME.fullmatch(report["sendtime"])


def test_jzyyun_reports_are_per_user(http, sim):
    jz_send(http, sim, [MOBILE], username="alice")
    sim.flush()
    assert jz_items(jz(http, sim, "getSmsReport", username="bob"), "smsreport", "psreport") == []
    assert len(jz_items(jz(http, sim, "getSmsReport", username="alice"), "smsreport", "psreport"))


def test_jzyyun_replies_are_base64_of_gbk(http, make_sim):
    sim = make_sim(reply_rate=1.0, opt_out_share=0.5, unknown_rate=0.0, delivery={"default": 1.0})
    jz_send(http, sim, phones("1380000", 20))
    sim.flush()
    replies = jz_items(jz(http, sim, "getRecvSMS"), "smsrerecv", "psrerecv")
    assert len(replies) == 20
    assert jz_items(jz(http, sim, "getRecvSMS"), "smsrerecv", "psrerecv") == []
    texts = [base64.b64decode(r["content"]).decode("gbk") for r in replies]
    assert {"退订", "TD", "T", "R"} & set(texts)
    assert set(texts) - {"退订", "TD", "T", "R", "td", "退订。", "拒收"}  # ordinary ones too
    assert all(r["receiver"] == "test" and REPORT_TIME.fullmatch(r["sendtime"]) for r in replies)


def test_jzyyun_xml_charset_and_bom_knobs(http, make_sim):
    sim = make_sim(jzyyun_charset="gbk", reply_rate=1.0, delivery={"default": 1.0})
    jz_send(http, sim, [MOBILE])
    sim.flush()
    r = jz(http, sim, "getSmsReport")
    assert r.content.startswith(b'<?xml version="1.0" encoding="GBK" ?>')
    failure = jz(http, sim, "sendSMS", mobile="1", content="hi").content
    assert failure == "failure;手机号码格式错误".encode("gbk")
    sim = make_sim(xml_bom=True, jzyyun_charset="utf-8")  # a BOM is UTF-8's (GBK: default)
    assert jz(http, sim, "getRecvSMS").content.startswith(b"\xef\xbb\xbf<?xml")


def test_jzyyun_update_password(http, make_sim):
    sim = make_sim(accounts={"jzyyun": {"username": "test", "password": "123"}})

    def update(**params):
        fields = {"method": "updatePassword", **params}
        return http.post(sim.url + JZ_PATH, data=fields, timeout=TIMEOUT).text

    assert update(username="nobody", password="123", newPassword="abc122") == "3"
    assert update(username="test", password="999", newPassword="abc122") == "2"
    assert update(username="test", password="123", newPassword="bad pass!") == "2"
    assert update(username="test", password="123", newPassword="abc122") == "1"  # seed: plain
    assert jz(http, sim, "getRestMoney", password="123").text == "failure;用户名或密码错误"
    assert jz(http, sim, "getRestMoney", password="abc122").text.startswith("memberSmsNum=")
    assert update(username="test", password=b64("abc122"), newPassword="xyz9") == "1"


# ---------------------------------------------------------------- pushes


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.got.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    server.got = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_pushes_reach_the_callback_form_encoded_as_the_seeds_say(http, make_sim, receiver):
    base = f"http://127.0.0.1:{receiver.server_address[1]}"
    sim = make_sim(push_to=base, reply_rate=1.0, unknown_rate=0.0, delivery={"default": 1.0})
    group(http, sim, [MOBILE])
    code(http, sim, UNICOM)
    voice(http, sim, TELECOM)
    assert sim.flush(timeout=10)
    got = {}
    for path, content_type, body in receiver.got:
        assert content_type.startswith("application/x-www-form-urlencoded")
        form = dict(parse_qsl(body.decode("ascii"), strict_parsing=True))
        got.setdefault(path, []).append(form)
    assert set(got) == {"/push/veesing-sms", "/push/veesing-code", "/push/veesing-voice"}
    sms = {tuple(f): f for f in got["/push/veesing-sms"]}
    receipt = sms[("mobile", "taskid", "status", "code", "receivetime")]
    assert (receipt["mobile"], receipt["status"], receipt["code"]) == (MOBILE, "1", "DELIVRD")
    assert PUSH_TIME.fullmatch(receipt["receivetime"])
    reply = sms[("mobile", "taskid", "content", "receivetime")]
    assert reply["content"] in {"退订", "TD", "T", "R", "td", "退订。", "拒收"} | {
        "收到", "好的", "谢谢", "多少钱?", "怎么参加", "你谁啊?", "已读", "不需要"
    }  # fmt: skip
    code_keys = {tuple(f) for f in got["/push/veesing-code"]}
    assert ("mobile", "taskid", "status", "receivetime") in code_keys  # seed 002: no code
    (call,) = got["/push/veesing-voice"]
    assert list(call) == ["mobile", "taskid", "status", "code", "receivetime", "talktime", "remark"]
    assert call["talktime"].isdigit()
    assert all(p.delivered and p.attempts == 1 for p in sim.push_log)
    assert sim.pushes() == []


def test_push_to_per_vendor_urls_and_others_held(http, make_sim, receiver):
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook/sms?k=1"
    sim = make_sim(push_to={"veesing-sms": url}, reply_rate=0.0, unknown_rate=0.0)
    group(http, sim, [MOBILE])
    code(http, sim, UNICOM)
    assert sim.flush(timeout=10)
    assert [path for path, _, _ in receiver.got] == ["/hook/sms?k=1"]
    held = sim.pushes("veesing-code")
    assert [(p.vendor, p.form["mobile"]) for p in held] == [("veesing-code", UNICOM)]


def test_undelivered_pushes_are_kept(http, make_sim):
    with socket_closed_port() as port:
        sim = make_sim(push_to=f"http://127.0.0.1:{port}", push_retries=2, unknown_rate=0.0)
        code(http, sim, MOBILE)
        assert sim.flush(timeout=10)
    (push,) = [p for p in sim.pushes("veesing-code") if p.kind == "receipt"]
    assert push.delivered is False
    assert push.attempts == 2
    assert push.error
    assert sim.pushes("veesing-code") == []


class socket_closed_port:
    """A loopback port with nothing listening."""

    def __enter__(self) -> int:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *exc):
        return None


def test_hold_mode_drains_only_what_is_due(http, make_sim):
    sim = make_sim(latency_median=120, latency_sigma=0.1, unknown_rate=0.0, reply_rate=0.0)
    group(http, sim, phones("1380000", 3))
    assert sim.pushes("veesing-sms") == []
    assert sim.pending("veesing-sms") == 3
    sim.advance(3600)
    held = sim.pushes("veesing-sms")
    assert len(held) == 3
    assert sim.pushes("veesing-sms") == []
    assert sim.pending() == 0
    with pytest.raises(ValueError, match="pulled"):
        sim.pushes("jzyyun-sms")


# ---------------------------------------------------------------- outcomes


def fates(http, sim, numbers):
    group(http, sim, numbers)
    sim.flush()
    return {
        p.form["mobile"]: (p.form["status"], p.form["code"])
        for p in sim.pushes("veesing-sms")
        if p.kind == "receipt"
    }


def test_delivery_probability_by_carrier_and_failure_mix(http, make_sim):
    sim = make_sim(
        delivery={"China Mobile": 1.0, "China Telecom": 0.0},
        failure_codes={"UNDELIV": 1, "MK:0005": 1, "MN:0001": 1, "EXPIRED": 1},
        unknown_rate=0.0,
    )
    result = fates(http, sim, phones("1380000", 40) + phones("1890000", 40))
    mobile = [v for k, v in result.items() if k.startswith("138")]
    telecom = [v for k, v in result.items() if k.startswith("189")]
    assert set(mobile) == {("1", "DELIVRD")}
    assert len(telecom) == 40
    assert {s for s, _ in telecom} == {"0"}
    assert {c for _, c in telecom} == {"UNDELIV", "MK:0005", "MN:0001", "EXPIRED"}


def test_voice_talk_time(http, make_sim):
    answered = make_sim(answer_rate=1.0)
    unanswered = make_sim(answer_rate=0.0)
    for sim, expect_talk in ((answered, True), (unanswered, False)):
        for number in phones("1380000", 5):
            voice(http, sim, number)
        sim.flush()
        receipts = [p.form for p in sim.pushes("veesing-voice")]
        assert len(receipts) == 5
        for form in receipts:
            assert (int(form["talktime"]) > 0) is expect_talk
            assert form["status"] == ("1" if expect_talk else "0")


def test_same_seed_same_outcomes_whatever_the_batching(http, make_sim):
    numbers = phones("1380000", 30) + phones("1300000", 30) + phones("1890000", 30)
    one = fates(http, make_sim(seed=7), numbers)
    sim = make_sim(seed=7)
    split = fates(http, sim, numbers[:45])
    split.update(fates(http, sim, numbers[45:]))
    assert one == split
    assert fates(http, make_sim(seed=8), numbers) != one


def test_time_scale_makes_hours_take_seconds(make_sim):
    sim = make_sim(time_scale=3600)
    before = sim.now()
    time.sleep(0.05)
    assert sim.now() - before >= 150
    assert sim.now_text().startswith("2024-11-11 09:0")


# ---------------------------------------------------------------- faults


def test_drop_before_processing(http, make_sim):
    sim = make_sim(balances={"veesing-code": 5})
    sim.inject("drop_before", vendor="veesing-code", operation="send")
    with pytest.raises(requests.ConnectionError):
        code(http, sim, MOBILE)
    (record,) = sim.calls("veesing-code", "send")
    assert (record.processed, record.status, record.fault) == (False, None, "drop_before")
    assert sim.balance("veesing-code", VEESING["appId"]) == 5
    assert code(http, sim, MOBILE)["returnStatus"] == "1 "  # fault used up, nothing recorded


def test_drop_after_processing(http, make_sim):
    sim = make_sim(balances={"veesing-sms": 5})
    sim.inject("drop_after", vendor="veesing-sms")
    with pytest.raises(requests.ConnectionError):
        group(http, sim, [MOBILE, UNICOM])
    (record,) = sim.calls("veesing-sms")
    assert (record.processed, record.status) == (True, None)
    assert sim.balance("veesing-sms", VEESING["appId"]) == 3
    error_shape(group(http, sim, [MOBILE]), "相同手机号码一分钟之内只可发送一次")


def test_delay_past_the_read_timeout(http, make_sim):
    sim = make_sim()
    sim.inject("delay", path="/servlet/UserServiceAPI", seconds=1.0)
    with pytest.raises(requests.Timeout):
        http.post(
            sim.url + JZ_PATH,
            data={"method": "sendSMS", "username": "u", "password": b64("p"), "mobile": MOBILE,
                  "content": "hi"},
            timeout=(2, 0.2),
        )  # fmt: skip
    (record,) = sim.requests
    assert record.processed is True
    assert sim.balance("jzyyun-sms", "u")["gateSmsNum"] == 99_999


def test_http_5xx_not_processed(http, make_sim):
    sim = make_sim(**IHUYI_SEED_LAYOUT)
    sim.inject("http_5xx", vendor="ihuyi-voice", operation="Submit", status=503, times=2)
    data = {"account": "C", "password": "k", "mobile": MOBILE, "content": "1125"}
    for _ in range(2):
        r = http.post(f"{sim.url}{IHUYI_PATH}?method=Submit", data=data)
        assert r.status_code == 503
    assert ihuyi(http, sim, **data)[1]["code"] == "2"
    assert [r.status for r in sim.requests] == [503, 503, 200]
    assert [r.processed for r in sim.requests] == [False, False, True]


def test_vendor_error_answers_each_vendors_generic_failure(http, make_sim):
    sim = make_sim(seed=0, ihuyi_id_field="smsid")
    sim.inject("vendor_error", vendor="veesing-code")
    error_shape(code(http, sim, MOBILE), "未知原因,请联系客服")
    sim.inject("vendor_error", method="Submit")
    data = {"account": "C", "password": "k", "mobile": MOBILE, "content": "1125"}
    assert ihuyi(http, sim, fmt="json", **data) == {"code": 0, "msg": "提交失败", "smsid": "0"}
    sim.inject("vendor_error", method="sendSMS")
    assert jz_send(http, sim, [MOBILE]) == "failure;未知错误"
    sim.inject("vendor_error", operation="update_password")
    fields = {"method": "updatePassword", "username": "u", "password": "p", "newPassword": "q1"}
    assert http.post(sim.url + JZ_PATH, data=fields).text == "4"
    assert not any(r.processed for r in sim.requests)
    assert sim.balance("jzyyun-sms", "test")["gateSmsNum"] == 100_000


def test_faults_only_hit_matching_calls(http, sim):
    fault = sim.inject("http_5xx", vendor="jzyyun-sms", method="sendSMS", times=None)
    assert jz(http, sim, "getRestMoney").status_code == 200
    assert code(http, sim, MOBILE)["returnStatus"] == "1 "
    for _ in range(3):
        assert http.post(sim.url + JZ_PATH, data={"method": "sendSMS"}).status_code == 500
    assert fault.hits == 3
    sim.clear_faults()
    assert http.post(sim.url + JZ_PATH, data={"method": "sendSMS"}).status_code == 200
    with pytest.raises(ValueError, match="unknown fault"):
        sim.inject("explode")
    assert set(FAULTS) == {"drop_before", "drop_after", "delay", "http_5xx", "vendor_error"}


# ---------------------------------------------------------------- records, lifecycle, options


def test_every_request_is_recorded(http, sim):
    group(http, sim, [MOBILE])
    http.post(sim.url + "/nowhere", data={"a": "1"})
    first, second = sim.requests
    assert (first.vendor, first.operation, first.http_method) == ("veesing-sms", "send", "POST")
    assert first.params == {**VEESING, "phone": MOBILE, "content": SIGNED}
    assert b"content=" in first.body
    assert (first.processed, first.status) == (True, 200)
    assert json.loads(first.response)["returnStatus"] == "1 "
    assert (second.vendor, second.status, second.processed) == (None, 404, False)
    assert len(sim.calls("veesing-sms", "send", processed=True)) == 1
    assert VEESING["appKey"] not in repr(first)
    sim.clear_requests()
    assert sim.requests == []


def test_keep_alive_at_concurrency_8(sim):
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()

    def call(i):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        r = session.post(sim.url + "/smsApi/verifyCode/getBalance", data=VEESING, timeout=5)
        return r.status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(call, range(400))) == {200}
    assert len(sim.requests) == 400


def test_stop_leaves_no_threads(http, receiver):
    before = set(threading.enumerate())
    base = f"http://127.0.0.1:{receiver.server_address[1]}"
    with serve(push_to=base, start=START) as sim:
        code(http, sim, MOBILE)
        sim.inject("delay", seconds=30)
        waiter = threading.Thread(target=lambda: _swallow(lambda: voice(http, sim, UNICOM)))
        waiter.start()
        time.sleep(0.1)
    waiter.join(timeout=5)
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leftover == []


def _swallow(fn):
    with contextlib.suppress(requests.RequestException):
        fn()


def test_run_blocks_until_stopped():
    ready: list[Simulator] = []
    thread = threading.Thread(target=run, kwargs={"port": 0, "on_ready": ready.append})
    thread.start()
    deadline = time.monotonic() + 5
    while not ready and time.monotonic() < deadline:
        time.sleep(0.01)
    (sim,) = ready
    assert requests.post(sim.url + "/voiceApi/getBalance", data=VEESING).json()["message"] == "成功"
    sim.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_options_are_checked():
    with pytest.raises(TypeError, match="unknown simulator option"):
        Simulator(deliveryy={})
    with pytest.raises(ValueError, match="unknown accounts key"):
        Simulator(accounts={"veesingg": {}})
    with pytest.raises(ValueError, match="lacks app_key"):
        Simulator(accounts={"veesing": {"app_id": "a"}})
    with pytest.raises(ValueError, match="loopback"):
        serve(host="0.0.0.0")
    with pytest.raises(ValueError, match="push"):
        Simulator(push_to={"jzyyun-sms": "http://127.0.0.1:1/"})
