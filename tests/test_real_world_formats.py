"""What the real world sends and answers that the seed pages do not show (issue 13).

Published third-party clients of these vendors (PHP, Python, Node) were pointed at the simulator
with only their host changed. The request and answer shapes below are written from what the
issue records of them and of the real servers; no third-party code is copied here:

- PHP clients that hand curl an array send ``multipart/form-data``; ihuyi's ``voice.php`` reads
  it like a form. Other clients put everything in the query string of a POST.
- ihuyi's XML has a default namespace, one element per line, sometimes ``encoding="GBK"``; its
  JSON is compact; newer answers name the id ``voiceid``.
- veesing's seed shows ``"returnStatus": "1 "``; published clients compare with ``"1"``.
- jzyyun's servers answer in GBK, live under context paths, have a UTF-8 twin servlet, and
  answer ``failure;查询频繁`` to balance queries asked too often.
- ``python -m campaign`` runs the command.

The simulator is driven with plain ``requests`` (as a third-party client would) and the clients
read literal answers from a scripted loopback server, so that neither side checks the other.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from urllib.parse import quote

import pytest
import requests

import campaign.vendors as vendors
from campaign.cli import main as cli_main
from campaign.errors import ConfigError, InputError, VendorRejected, VendorResponseUnknown
from campaign.simulator import serve
from campaign.vendors import ihuyi_voice

START = "2024-11-11 09:00:00"
TIMEOUT = (2, 5)
MOBILE, UNICOM = "13800138000", "13012345678"
SIGNED = "【云通信】双11会员专享,回T退订"
VEESING = {"appId": "2RYN7CQHL1M", "appKey": "WVNA4A0"}
IHUYI = {"account": "C123", "password": "apikey", "mobile": MOBILE, "content": "1125"}
IHUYI_PATH = "/webservice/voice.php"
JZ_PATH = "/servlet/UserServiceAPI"
JZ_UTF8_PATH = "/servlet/UserServiceAPIUTF8"
ENV = ("JZYYUN_USERNAME", "JZYYUN_PASSWORD", "JZYYUN_SMSTYPE", "JZYYUN_UTF8_SERVLET")


@pytest.fixture
def make_sim():
    started = []

    def make(**options):
        options.setdefault("start", START)
        sim = serve(seed=0, **options)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def multipart(
    fields: list[tuple[str, str | bytes]],
    *,
    boundary: str = "------------------------d74496d66958873e",
    charset: str = "utf-8",
    part_headers: dict[str, dict[str, str]] | None = None,
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body laid out as curl builds it from a PHP array: one part
    per field, ``Content-Disposition: form-data; name="..."``, CRLF line ends, the closing
    delimiter last. Returns the body and its Content-Type header."""
    out = b""
    for name, value in fields:
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"\r\n'.encode()
        for header, text in (part_headers or {}).get(name, {}).items():
            out += f"{header}: {text}\r\n".encode()
        data = value if isinstance(value, bytes) else value.encode(charset)
        out += b"\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def post_multipart(http, url, fields, **options) -> requests.Response:
    body, content_type = multipart(fields, **options)
    return http.post(url, data=body, headers={"Content-Type": content_type}, timeout=TIMEOUT)


def veesing_error(body: dict, message: str) -> None:
    assert body == {
        "returnStatus": "0",
        "message": message,
        "remainPoint": None,
        "taskId": None,
        "successCounts": None,
    }


# ================================================================ multipart and query strings


def test_ihuyi_reads_a_php_curl_multipart_body_like_a_form(http, make_sim):
    sim = make_sim()
    url = f"{sim.url}{IHUYI_PATH}?method=Submit&format=json"
    r = post_multipart(http, url, list(IHUYI.items()))
    assert r.status_code == 200
    body = r.json()
    assert (body["code"], body["msg"]) == (2, "提交成功")
    assert body["voiceid"].isdigit()
    record = sim.requests[-1]
    assert record.params == {"method": "Submit", "format": "json", **IHUYI}
    assert (record.processed, record.error) == (True, None)


def test_a_python_requests_multipart_body_too(http, make_sim):
    """requests' ``files=`` with no file names: the multipart Python clients send."""
    sim = make_sim()
    files = {name: (None, value) for name, value in IHUYI.items()}
    r = http.post(f"{sim.url}{IHUYI_PATH}?method=Submit", files=files, timeout=TIMEOUT)
    root = ET.fromstring(r.content)
    assert root.findtext("{http://106.ihuyi.com/}code") == "2"


@pytest.mark.parametrize(
    ("path", "fields", "vendor", "operation"),
    [
        ("/smsApi/group", [*VEESING.items(), ("phone", MOBILE), ("content", SIGNED)],
         "veesing-sms", "send"),
        ("/smsApi/verifyCode", [*VEESING.items(), ("phone", MOBILE), ("templateId", "540"),
                                ("variables", "1234")], "veesing-code", "send"),
        ("/voiceApi", [*VEESING.items(), ("templateId", "724"), ("phone", MOBILE),
                       ("variables", "1234")], "veesing-voice", "send"),
        ("/voiceApi/getBalance", list(VEESING.items()), "veesing-voice", "balance"),
    ],
)  # fmt: skip
def test_veesing_reads_multipart_everywhere_it_reads_a_form(
    http, make_sim, path, fields, vendor, operation
):
    sim = make_sim()
    r = post_multipart(http, sim.url + path, fields)
    assert r.json()["returnStatus"] == "1 "
    (record,) = sim.calls(vendor, operation)
    assert record.params == dict(fields)


def test_ihuyi_balance_from_multipart(http, make_sim):
    sim = make_sim(balances={"ihuyi-voice": 7})
    fields = [("account", "C123"), ("password", "apikey"), ("format", "json")]
    r = post_multipart(http, f"{sim.url}{IHUYI_PATH}?method=GetNum", fields)
    assert r.json() == {"code": 2, "msg": "查询成功", "num": 7}


def test_jzyyun_multipart_parts_are_gbk_unless_a_part_says_otherwise(http, make_sim):
    sim = make_sim()
    fields = [
        ("method", "sendSMS"),
        ("username", "test"),
        ("password", b64("123456")),
        ("smstype", "1"),
        ("mobile", f"{MOBILE},{UNICOM}"),
        ("content", "【云通信】短信测试".encode("gbk")),  # the seed: content in GBK
    ]
    r = post_multipart(http, sim.url + JZ_PATH, fields)
    assert r.content.startswith(b"success;")
    assert sim.requests[-1].params["content"] == "【云通信】短信测试"
    fields[-1] = ("content", "【云通信】测试".encode())
    headers = {"content": {"Content-Type": "text/plain; charset=UTF-8"}}
    fields[4] = ("mobile", "13900139000")
    r = post_multipart(http, sim.url + JZ_PATH, fields, part_headers=headers)
    assert r.content.startswith(b"success;")
    assert sim.requests[-1].params["content"] == "【云通信】测试"


def test_multipart_file_parts_are_not_fields_and_the_first_value_wins(http, make_sim):
    sim = make_sim()
    body, content_type = multipart([*IHUYI.items(), ("account", "SECOND")])
    boundary = content_type.split("boundary=")[1]
    upload = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n9999\r\n"
    ).encode()
    body = upload + body  # a file part first: PHP puts it in $_FILES, not $_POST
    headers = {"Content-Type": content_type}
    r = http.post(f"{sim.url}{IHUYI_PATH}?method=Submit&format=json", data=body, headers=headers)
    assert r.json()["code"] == 2
    assert sim.requests[-1].params["account"] == "C123"
    assert sim.requests[-1].params["content"] == "1125"


def test_multipart_without_a_boundary_is_refused_in_each_vendors_way(http, make_sim):
    sim = make_sim(balances={"veesing-sms": 5})
    body, _ = multipart([*VEESING.items(), ("phone", MOBILE), ("content", SIGNED)])
    headers = {"Content-Type": "multipart/form-data"}  # the boundary parameter is missing

    r = http.post(sim.url + "/smsApi/group", data=body, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 400
    veesing_error(r.json(), "参数错误")
    assert sim.balance("veesing-sms", VEESING["appId"]) == 5

    url = f"{sim.url}{IHUYI_PATH}?method=Submit"
    r = http.post(url, data=multipart(list(IHUYI.items()))[0], headers=headers, timeout=TIMEOUT)
    assert r.status_code == 400
    root = ET.fromstring(r.content)
    assert [(child.tag.split("}")[1], child.text) for child in root] == [
        ("code", "0"),
        ("msg", "提交失败"),
        ("voiceid", "0"),
    ]
    r = http.post(url + "&format=json", data=b"x", headers=headers, timeout=TIMEOUT)
    assert (r.status_code, r.json()) == (400, {"code": 0, "msg": "提交失败", "voiceid": "0"})

    r = http.post(f"{sim.url}{JZ_PATH}?method=sendSMS", data=b"x", headers=headers)
    assert (r.status_code, r.content) == (400, "failure;请求格式错误".encode("gbk"))

    refused = [record for record in sim.requests if record.status == 400]
    assert len(refused) == 4
    assert all(not record.processed for record in refused)
    assert all("boundary" in (record.error or "") for record in refused)


def test_multipart_whose_boundary_never_opens_a_part_is_refused(http, make_sim):
    sim = make_sim()
    body, _ = multipart(list(IHUYI.items()), boundary="aaaa")
    headers = {"Content-Type": "multipart/form-data; boundary=bbbb"}
    r = http.post(f"{sim.url}{IHUYI_PATH}?method=Submit&format=json", data=body, headers=headers)
    assert r.status_code == 400
    assert r.json()["code"] == 0
    assert sim.requests[-1].error


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/octet-stream"])
def test_plain_query_strings_on_post(http, make_sim, content_type):
    """A POST whose URL carries every parameter (empty body), and one whose body is a plain
    query string under any Content-Type or none."""
    sim = make_sim()
    query = "&".join(f"{k}={v}" for k, v in IHUYI.items())
    r = requests.Request("POST", f"{sim.url}{IHUYI_PATH}?method=Submit&format=json&{query}")
    assert http.send(r.prepare(), timeout=TIMEOUT).json()["code"] == 2

    headers = {"Content-Type": content_type} if content_type else {}
    body = f"account=C1&password=k&mobile={UNICOM}&content=1125".encode()
    request = requests.Request(
        "POST", f"{sim.url}{IHUYI_PATH}?method=Submit&format=json", data=body, headers=headers
    ).prepare()
    assert request.headers.get("Content-Type") == content_type  # bytes: requests adds none
    assert http.send(request, timeout=TIMEOUT).json()["code"] == 2

    text = "&".join(f"{k}={v}" for k, v in {**VEESING, "phone": "13900139000"}.items())
    text += "&content=" + quote(SIGNED)
    r = http.post(sim.url + "/smsApi/group", data=text.encode(), headers=headers)
    assert r.json()["returnStatus"] == "1 "


# ================================================================ ihuyi: the real layout

OK = "提交成功".encode()
IHUYI_XML = re.compile(
    rb'<\?xml version="1.0" encoding="utf-8"\?>\n<SubmitResult xmlns="http://106.ihuyi.com/">\n'
    rb"<code>2</code>\n<msg>" + OK + rb"</msg>\n<voiceid>\d+</voiceid>\n</SubmitResult>\n"
)
IHUYI_JSON = re.compile(rb'\{"code":2,"msg":"' + OK + rb'","voiceid":"\d+"\}')


def test_ihuyi_answers_in_the_real_layout_by_default(http, make_sim):
    sim = make_sim(balances={"ihuyi-voice": 9})
    url = f"{sim.url}{IHUYI_PATH}?method=Submit"
    r = http.post(url, data=IHUYI, timeout=TIMEOUT)
    assert IHUYI_XML.fullmatch(r.content), r.content
    assert r.headers["Content-Type"] == "text/xml;charset=utf-8"
    r = http.post(url, data={**IHUYI, "mobile": UNICOM, "format": "json"}, timeout=TIMEOUT)
    assert IHUYI_JSON.fullmatch(r.content), r.content
    balance = {"account": "C123", "password": "apikey"}
    r = http.post(f"{sim.url}{IHUYI_PATH}?method=GetNum", data=balance, timeout=TIMEOUT)
    expected = (
        '<?xml version="1.0" encoding="utf-8"?>\n<GetNumResult xmlns="http://106.ihuyi.com/">\n'
        "<code>2</code>\n<msg>查询成功</msg>\n<num>7</num>\n</GetNumResult>\n"
    )
    assert r.content == expected.encode()


def test_ihuyi_layout_options(http, make_sim):
    sim = make_sim(
        ihuyi_namespace="http://106.ihuyi.cn/", ihuyi_xml_encoding="GBK", ihuyi_id_field="smsid"
    )
    r = http.post(f"{sim.url}{IHUYI_PATH}?method=Submit", data={**IHUYI, "password": ""})
    assert r.headers["Content-Type"] == "text/xml;charset=GBK"
    expected = (
        '<?xml version="1.0" encoding="GBK"?>\n<SubmitResult xmlns="http://106.ihuyi.cn/">\n'
        "<code>402</code>\n<msg>密码不能为空</msg>\n<smsid>0</smsid>\n</SubmitResult>\n"
    )
    assert r.content == expected.encode("gbk")
    r = http.post(f"{sim.url}{IHUYI_PATH}?method=Submit", data={**IHUYI, "format": "json"})
    json_text = r.content.decode("utf-8")  # JSON stays UTF-8
    assert json_text.startswith('{"code":2,"msg":"提交成功","smsid":"')

    old = make_sim(ihuyi_layout="inline", ihuyi_namespace=None, ihuyi_id_field="smsid")
    r = http.post(f"{old.url}{IHUYI_PATH}?method=Submit", data={**IHUYI, "password": ""})
    expected = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<SubmitResult><code>402</code><msg>密码不能为空</msg><smsid>0</smsid></SubmitResult>\n"
    )
    assert r.content == expected.encode()
    r = http.post(f"{old.url}{IHUYI_PATH}?method=Submit", data={**IHUYI, "format": "json"})
    assert r.content.decode().startswith('{"code": 2, "msg": "提交成功", "smsid": "')


def test_ihuyi_layout_options_are_checked():
    with pytest.raises(ValueError, match="ihuyi_layout"):
        serve(ihuyi_layout="pretty")
    with pytest.raises(ValueError, match="ihuyi_xml_encoding"):
        serve(ihuyi_xml_encoding="big5")


REAL_IHUYI_ANSWERS = [
    pytest.param(
        '<?xml version="1.0" encoding="utf-8"?>\n<SubmitResult xmlns="http://106.ihuyi.com/">\n'
        "<code>2</code>\n<msg>提交成功</msg>\n<voiceid>60495654</voiceid>\n</SubmitResult>\n"
        .encode(),
        {"code": "2", "msg": "提交成功", "id": "60495654", "num": None},
        id="com-namespace-lines-voiceid",
    ),
    pytest.param(
        '<?xml version="1.0" encoding="utf-8"?>\r\n<SubmitResult xmlns="http://106.ihuyi.cn/">\r\n'
        "<code>2</code>\r\n<msg>提交成功</msg>\r\n<smsid>60495654</smsid>\r\n</SubmitResult>"
        .encode(),
        {"code": "2", "msg": "提交成功", "id": "60495654", "num": None},
        id="cn-namespace-crlf-smsid",
    ),
    pytest.param(
        '<?xml version="1.0" encoding="GBK"?>\n<SubmitResult xmlns="http://106.ihuyi.com/">\n'
        "<code>4051</code>\n<msg>剩余条数不足</msg>\n<voiceid>0</voiceid>\n</SubmitResult>\n"
        .encode("gbk"),
        {"code": "4051", "msg": "剩余条数不足", "id": None, "num": None},
        id="gbk-declared-gbk-bytes",
    ),
    pytest.param(
        '<?xml version="1.0" encoding="GBK"?>\n<SubmitResult xmlns="http://106.ihuyi.com/">\n'
        "<code>4051</code>\n<msg>剩余条数不足</msg>\n<voiceid>0</voiceid>\n</SubmitResult>\n"
        .encode(),
        {"code": "4051", "msg": "剩余条数不足", "id": None, "num": None},
        id="gbk-declared-utf8-bytes",
    ),
    pytest.param(
        b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>\n'
        b'<GetNumResult xmlns="http://106.ihuyi.com/">\n<code>2</code>\n'
        + "<msg>查询成功</msg>\n<num>88</num>\n</GetNumResult>".encode(),
        {"code": "2", "msg": "查询成功", "id": None, "num": "88"},
        id="bom-getnum",
    ),
    pytest.param(
        '{"code":2,"msg":"提交成功","voiceid":"60495654"}'.encode(),
        {"code": "2", "msg": "提交成功", "id": "60495654", "num": None},
        id="compact-json-voiceid",
    ),
    pytest.param(
        '{"code":405,"msg":"用户名或密码不正确","smsid":"0","voiceid":"0"}'.encode(),
        {"code": "405", "msg": "用户名或密码不正确", "id": None, "num": None},
        id="compact-json-refusal",
    ),
    pytest.param(
        b'{"code":2,"msg":"\\u63d0\\u4ea4\\u6210\\u529f","smsid":"0","voiceid":"77"}',
        {"code": "2", "msg": "提交成功", "id": "77", "num": None},
        id="json-escaped-both-ids",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), REAL_IHUYI_ANSWERS)
def test_ihuyi_client_reads_every_real_layout(body, expected):
    assert ihuyi_voice.parse_answer(body) == expected


@pytest.mark.parametrize(("body", "expected"), REAL_IHUYI_ANSWERS[:4])
def test_ihuyi_client_sends_against_every_real_layout(scripted, body, expected):
    scripted.answer(body, "text/xml;charset=utf-8")  # a header that may not match the bytes
    client = vendors.vendor("ihuyi-voice", account="C1", api_key="k", base_url=scripted.url)
    result = client.send([MOBILE], content="1125")
    assert (result.ok, result.code, result.message) == (
        expected["code"] == "2",
        expected["code"],
        expected["msg"],
    )
    assert result.task_id == expected["id"]
    assert expected["msg"] in result.raw


@pytest.mark.parametrize(
    "wire",
    [
        {},
        {"ihuyi_namespace": "http://106.ihuyi.cn/", "ihuyi_xml_encoding": "gbk"},
        {"ihuyi_layout": "inline", "ihuyi_namespace": None, "ihuyi_id_field": "smsid"},
        {"ihuyi_layout": "inline", "ihuyi_id_field": "voiceid"},
    ],
)
def test_ihuyi_client_against_every_simulator_layout(make_sim, wire):
    sim = make_sim(accounts={"ihuyi": {"account": "C123", "api_key": "apikey"}}, **wire)
    client = vendors.vendor("ihuyi-voice", account="C123", api_key="apikey", base_url=sim.url)
    result = client.send([MOBILE], content="1125")
    assert result.ok
    assert (result.task_id or "").isdigit()
    assert client.balance() == 99_999
    wrong = vendors.vendor("ihuyi-voice", account="C123", api_key="nope", base_url=sim.url)
    refused = wrong.send([UNICOM], content="1125")
    assert (refused.ok, refused.code, refused.message) == (False, "405", "用户名或密码不正确")
    with pytest.raises(VendorRejected) as info:
        wrong.balance()
    assert info.value.vendor_message == "用户名或密码不正确"


# ================================================================ veesing: "1 " or "1"


VEESING_PATHS = {
    "veesing-sms": ("/smsApi/group", {"phone": MOBILE, "content": SIGNED}),
    "veesing-code": ("/smsApi/verifyCode", {"phone": MOBILE, "templateId": "540",
                                            "variables": "1234"}),
    "veesing-voice": ("/voiceApi", {"phone": MOBILE, "templateId": "724", "variables": "1234"}),
}  # fmt: skip


@pytest.mark.parametrize("key", list(VEESING_PATHS))
def test_veesing_simulator_sends_the_seeds_status_unless_told_otherwise(http, make_sim, key):
    path, fields = VEESING_PATHS[key]
    default, published = make_sim(), make_sim(veesing_ok_status="1")
    for sim, status in ((default, "1 "), (published, "1")):
        sent = http.post(sim.url + path, data={**VEESING, **fields}, timeout=TIMEOUT).json()
        balance = http.post(sim.url + path + "/getBalance", data=VEESING, timeout=TIMEOUT).json()
        assert (sent["returnStatus"], sent["message"]) == (status, "成功")
        assert (balance["returnStatus"], balance["remainPoint"]) == (status, "99999")
        refused = http.post(sim.url + path, data=VEESING, timeout=TIMEOUT).json()
        veesing_error(refused, "缺少参数")  # refusals stay "0" whatever the option


def veesing_client(key, url):
    client = vendors.vendor(key, app_id="2RYN7CQHL1M", app_key="WVNA4A0", base_url=url)
    client.backoff = 0.0
    return client


SEND_ARGS = {
    "veesing-sms": {"content": SIGNED},
    "veesing-code": {"template_id": "540", "variables": "1234"},
    "veesing-voice": {"template_id": "724", "variables": "1234"},
}


@pytest.mark.parametrize("status", ["1 ", "1"])
@pytest.mark.parametrize("key", list(VEESING_PATHS))
def test_veesing_client_accepts_either_success_status(make_sim, key, status):
    sim = make_sim(veesing_ok_status=status)
    client = veesing_client(key, sim.url)
    result = client.send([MOBILE], **SEND_ARGS[key])
    assert (result.ok, result.code, result.accepted) == (True, "1", 1)
    assert (result.task_id or "").isdigit()
    assert client.balance() == 99_999


@pytest.mark.parametrize("status", ["2", "", "成功", "1.0", "ok", "１"])
def test_veesing_any_other_status_is_an_unknown_outcome_never_a_success(make_sim, status):
    sim = make_sim(veesing_ok_status=status, balances={"veesing-sms": 10})
    client = veesing_client("veesing-sms", sim.url)
    with pytest.raises(VendorResponseUnknown):
        client.send([MOBILE], content=SIGNED)
    assert sim.balance("veesing-sms", "2RYN7CQHL1M") == 9  # the vendor did take it
    assert len(sim.calls("veesing-sms", "send")) == 1  # and it was not sent again
    with pytest.raises(VendorResponseUnknown):
        client.balance()


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("1 ", "ok"), ("1", "ok"), (1, "ok"), (" 1", "ok"), ("0", "refused"), ("0 ", "refused"),
     (0, "refused"), (None, "unknown"), ("2", "unknown"), (True, "unknown"), ("", "unknown")],
)  # fmt: skip
def test_veesing_status_as_the_seed_says(scripted, status, outcome):
    ok = outcome == "ok"
    body = {
        "returnStatus": status,
        "message": "成功" if ok else "余额不足",
        "remainPoint": "241" if ok else None,
        "taskId": "3313746" if ok else None,
        "successCounts": "1" if ok else None,
    }
    scripted.answer(json.dumps(body, ensure_ascii=False).encode(), "application/json")
    client = veesing_client("veesing-sms", scripted.url)
    if outcome == "unknown":
        with pytest.raises(VendorResponseUnknown):
            client.send([MOBILE], content=SIGNED)
        with pytest.raises(VendorResponseUnknown):
            client.balance()
        return
    result = client.send([MOBILE], content=SIGNED)
    assert (result.ok, result.code) == (ok, "1" if ok else "0")
    assert result.task_id == ("3313746" if ok else None)
    if ok:
        assert client.balance() == 241
    else:
        assert result.message == "余额不足"
        with pytest.raises(VendorRejected):
            client.balance()


# ================================================================ jzyyun: GBK, paths, servlets


def jz(http, url, method, *, password="123456", username="test", charset="gbk", **params):
    """A form url-encoded in ``charset``, as the seed's JAVA.NET.URL example posts it."""
    fields = {"method": method, "username": username, "password": b64(password), **params}
    body = "&".join(f"{k}={quote(str(v).encode(charset), safe='')}" for k, v in fields.items())
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return http.post(url, data=body.encode("ascii"), headers=headers, timeout=TIMEOUT)


def test_jzyyun_answers_in_gbk_by_default(http, make_sim):
    sim = make_sim(reply_rate=1.0, delivery={"default": 1.0}, unknown_rate=0.0)
    r = jz(http, sim.url + JZ_PATH, "sendSMS", mobile="1", content="hi")
    assert r.content == "failure;手机号码格式错误".encode("gbk")
    assert r.headers["Content-Type"] == "text/plain;charset=GBK"
    assert jz(http, sim.url + JZ_PATH, "sendSMS", mobile=MOBILE, content=SIGNED).ok
    sim.flush()
    r = jz(http, sim.url + JZ_PATH, "getSmsReport")
    assert r.content.startswith(b'<?xml version="1.0" encoding="GBK" ?>\n<smsreport>')
    assert r.headers["Content-Type"] == "text/xml;charset=GBK"


def test_jzyyun_under_a_context_path(http, make_sim):
    sim = make_sim(jzyyun_context_path="sms/")  # as http://host:9002/sms/servlet/UserServiceAPI
    assert jz(http, sim.url + "/sms" + JZ_PATH, "sendSMS", mobile=MOBILE, content=SIGNED).ok
    assert sim.requests[-1].vendor_method == "sendSMS"
    assert jz(http, sim.url + JZ_PATH, "getRestMoney").status_code == 404  # not at the root
    with pytest.raises(ValueError, match="context_path"):
        serve(jzyyun_context_path="/sms/../x")


def test_jzyyun_utf8_twin_servlet(http, make_sim):
    off = make_sim()
    assert jz(http, off.url + JZ_UTF8_PATH, "getRestMoney").status_code == 404
    sim = make_sim(jzyyun_utf8_servlet=True, jzyyun_context_path="/sms", jzyyun_balance_interval=0)
    utf8, gbk = sim.url + "/sms" + JZ_UTF8_PATH, sim.url + "/sms" + JZ_PATH
    content = "【云通信】𠮷野家双11"  # 𠮷 is not in GBK: what the UTF-8 servlet is for
    r = jz(http, utf8, "sendSMS", mobile=MOBILE, content=content, charset="utf-8")
    assert re.fullmatch(rb"success;\d+", r.content)
    assert r.headers["Content-Type"] == "text/plain;charset=UTF-8"
    assert sim.requests[-1].params["content"] == content
    r = jz(http, utf8, "sendSMS", mobile="1", content="hi", charset="utf-8")
    assert r.content == "failure;手机号码格式错误".encode()
    r = jz(http, gbk, "sendSMS", mobile="1", content="hi")  # the twin is still GBK
    assert r.content == "failure;手机号码格式错误".encode("gbk")
    sim.flush()
    r = jz(http, utf8, "getSmsReport", charset="utf-8")
    assert r.content.startswith(b'<?xml version="1.0" encoding="utf-8" ?>')
    (report,) = ET.fromstring(r.content).iter("psreport")
    assert report.findtext("mobile") == MOBILE
    text = jz(http, gbk, "getRestMoney").text  # one account behind both servlets
    assert text == jz(http, utf8, "getRestMoney", charset="utf-8").text


def jz_client(url, **options):
    return vendors.vendor("jzyyun-sms", username="test", password="123456", base_url=url, **options)


def test_jzyyun_client_base_url_takes_a_context_path(make_sim):
    sim = make_sim(jzyyun_context_path="/sms", reply_rate=1.0, time_scale=3600)
    for base in (sim.url + "/sms", sim.url + "/sms/", sim.url + "/sms/servlet/UserServiceAPI"):
        client = jz_client(base)
        assert client.base_url == sim.url + "/sms"
        assert client.send([MOBILE], content=SIGNED).ok
        sim.advance(3600)
        assert len(client.fetch_reports()) == 1
        assert not client.fetch_replies().empty
        assert client.balances()["gateway"] == 100_000 - len(sim.calls("jzyyun-sms", "send"))
    with pytest.raises(VendorResponseUnknown, match="HTTP 404"):
        jz_client(sim.url, retries=0).balances()  # the root serves nothing here


def test_only_jzyyun_takes_a_path_prefix():
    assert jz_client("http://127.0.0.1:1//sms//api/").base_url == "http://127.0.0.1:1/sms/api"
    with pytest.raises(ConfigError, match="paths are kept"):
        jz_client("http://127.0.0.1:1/sms?x=1")
    with pytest.raises(ConfigError, match="paths are kept"):
        veesing_client("veesing-sms", "http://127.0.0.1:1/sms")
    with pytest.raises(ConfigError, match="paths are kept"):
        vendors.vendor("ihuyi-voice", account="a", api_key="k", base_url="http://127.0.0.1:1/x")


def test_jzyyun_client_utf8_servlet(make_sim, monkeypatch):
    sim = make_sim(jzyyun_utf8_servlet=True, reply_rate=1.0, time_scale=3600)
    content = "【云通信】𠮷野家双11,回T退订"
    with pytest.raises(InputError, match="GBK"):
        jz_client(sim.url).send([MOBILE], content=content)  # the GBK servlet cannot carry it
    client = jz_client(sim.url, utf8_servlet=True)
    assert (client.path, client.limits.encoding) == (JZ_UTF8_PATH, "utf-8")
    result = client.send([MOBILE, UNICOM], content=content)
    assert result.ok
    (record,) = sim.calls("jzyyun-sms", "send")
    assert (record.path, record.params["content"]) == (JZ_UTF8_PATH, content)
    assert record.headers["Content-Type"].replace(" ", "").lower().endswith("charset=utf-8")
    sim.advance(3600)
    reports = client.fetch_reports()
    assert set(reports["task_id"]) == {result.task_id}
    assert client.fetch_replies()["content"].str.len().gt(0).all()
    client.update_password("Abc123")
    assert client.balances()["gateway"] == 100_000 - 2

    monkeypatch.setenv("JZYYUN_UTF8_SERVLET", "1")
    assert jz_client(sim.url).path == JZ_UTF8_PATH
    monkeypatch.setenv("JZYYUN_UTF8_SERVLET", "maybe")
    with pytest.raises(ConfigError, match="JZYYUN_UTF8_SERVLET"):
        jz_client(sim.url)
    monkeypatch.delenv("JZYYUN_UTF8_SERVLET")
    assert jz_client(sim.url + "/servlet/UserServiceAPIUTF8").utf8_servlet is True
    with pytest.raises(ConfigError, match="UTF-8 servlet"):
        jz_client(sim.url + "/servlet/UserServiceAPIUTF8", utf8_servlet=False)
    assert "servlet=UTF8" in repr(client)


# ================================================================ jzyyun: 查询频繁


def test_jzyyun_simulator_rate_limits_balance_queries(http, make_sim):
    sim = make_sim()  # on by default, 1 simulated second
    url = sim.url + JZ_PATH
    assert jz(http, url, "getRestMoney").text.startswith("memberSmsNum=")
    r = jz(http, url, "getRestMoney")
    assert (r.status_code, r.content) == (200, "failure;查询频繁".encode("gbk"))
    assert jz(http, url, "getRestMoney", username="other").text.startswith("memberSmsNum=")
    assert jz(http, url, "getRestMoney", password="").text == "failure;用户名或密码不能为空"
    sim.advance(0.6)
    assert jz(http, url, "getRestMoney").text == "failure;查询频繁"  # does not restart the wait
    sim.advance(0.6)
    assert jz(http, url, "getRestMoney").text.startswith("memberSmsNum=")
    assert jz(http, url, "sendSMS", mobile=MOBILE, content=SIGNED).text.startswith("success;")

    slow = make_sim(jzyyun_balance_interval=60)
    assert jz(http, slow.url + JZ_PATH, "getRestMoney").ok
    slow.advance(59)
    assert jz(http, slow.url + JZ_PATH, "getRestMoney").text == "failure;查询频繁"
    off = make_sim(jzyyun_balance_interval=0)
    texts = {jz(http, off.url + JZ_PATH, "getRestMoney").text for _ in range(3)}
    assert texts == {"memberSmsNum=100000;gateSmsNum=100000;kaSmsNum=100000"}
    with pytest.raises(ValueError, match="jzyyun_balance_interval"):
        serve(jzyyun_balance_interval=-1)


def test_jzyyun_client_waits_and_asks_again_when_asked_too_often(make_sim):
    sim = make_sim(jzyyun_balance_interval=0.3)
    client = jz_client(sim.url)  # default backoff: 0.5 s, then 1 s
    assert client.balance() == 100_000
    assert client.balances() == {"member": 100_000, "gateway": 100_000, "card": 100_000}
    answers = [r.response for r in sim.calls("jzyyun-sms", "balance")]
    assert answers[1] == "failure;查询频繁".encode("gbk")
    assert len(answers) == 3


@pytest.mark.parametrize("retries", [0, 2])
def test_jzyyun_client_gives_up_with_the_vendors_words(make_sim, retries):
    sim = make_sim(jzyyun_balance_interval=60)
    client = jz_client(sim.url, retries=retries)
    client.backoff = 0.0
    client.balances()
    with pytest.raises(VendorRejected, match="too often") as info:
        client.balance()
    assert (info.value.code, info.value.vendor_message) == ("failure", "查询频繁")
    assert len(sim.calls("jzyyun-sms", "balance")) == 1 + 1 + retries


# ================================================================ python -m campaign


def test_python_m_campaign_works_like_campaign():
    done = subprocess.run(
        [sys.executable, "-m", "campaign", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: campaign [OPTIONS] COMMAND [ARGS]...")
    listed = re.findall(r"^  ([a-z][a-z-]*)  ", done.stdout, flags=re.MULTILINE)
    assert listed == sorted(cli_main.commands)  # every command of `campaign`, demo included
    version = subprocess.run(
        [sys.executable, "-m", "campaign", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"campaign, version {metadata.version('campaign')}\n"


# ================================================================ a scripted vendor


class Scripted:
    """A loopback server giving every POST the same answer (the client side's tests)."""

    def __init__(self) -> None:
        self.body, self.content_type = b"", "text/plain"
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", scripted.content_type)
                self.send_header("Content-Length", str(len(scripted.body)))
                self.end_headers()
                self.wfile.write(scripted.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,))
        self.thread.start()

    def answer(self, body: bytes, content_type: str) -> None:
        self.body, self.content_type = body, content_type

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def scripted():
    server = Scripted()
    yield server
    server.close()
