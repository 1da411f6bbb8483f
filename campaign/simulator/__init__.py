"""Local stand-in for every vendor: real HTTP on 127.0.0.1 speaking the seeds' wire formats.

Written from the vendor pages in ``shared/seeds`` and importing nothing else from
``campaign``, so that a misread document fails the tests instead of hiding on both sides.

>>> from campaign.simulator import serve
>>> with serve(seed=0, time_scale=3600) as sim:      # doctest: +SKIP
...     client = cp.vendor("veesing-sms", app_id="a", app_key="k", base_url=sim.url)

Paths served (the documented ones; only scheme, host and port differ)::

    veesing-sms    POST /smsApi/group                 POST /smsApi/group/getBalance
    veesing-code   POST /smsApi/verifyCode            POST /smsApi/verifyCode/getBalance
    veesing-voice  POST /voiceApi                     POST /voiceApi/getBalance
                                                      POST /voiceApi/group/getBalance (*)
    ihuyi-voice    GET|POST /webservice/voice.php?method=Submit   (and method=GetNum)
    jzyyun-sms     GET|POST /servlet/UserServiceAPI?method=sendSMS|getRestMoney|getSmsReport|
                                                   getRecvSMS|updatePassword
                   GET|POST /servlet/UserServiceAPIUTF8?method=...            (**)

(*) seed 000's table names /voiceApi/getBalance, its own example calls this one. No two
products share a path (veesing-sms and veesing-code differ by /group vs /verifyCode).
(**) the UTF-8 twin servlet resellers run, with ``jzyyun_utf8_servlet=True``; with
``jzyyun_context_path="/sms"`` both jzyyun paths move under ``/sms``, as real deployments do.

Parameters may come in the query string, the body or both; a body is read as a form
(url-encoded, plain text or ``multipart/form-data``, the last as PHP clients handing curl an
array send it); a multipart body without a boundary is refused with HTTP 400 in the vendor's
own format. Answers are laid out as the real servers answer (jzyyun in GBK, ihuyi's XML with
its namespace, one element per line), older layouts being options. Choices where a seed is
silent or ambiguous are documented in the vendor modules (:mod:`.veesing`, :mod:`.ihuyi`,
:mod:`.jzyyun`) and the knobs of :class:`Behaviour`.
"""

from __future__ import annotations

from campaign.simulator.behaviour import Behaviour
from campaign.simulator.server import (
    FAULTS,
    Fault,
    Push,
    RequestRecord,
    Simulator,
    run,
    serve,
)

__all__ = [
    "FAULTS",
    "Behaviour",
    "Fault",
    "Push",
    "RequestRecord",
    "Simulator",
    "run",
    "serve",
]
