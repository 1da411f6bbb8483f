"""The push receiver: vendors POST receipts and replies here (``campaign receive``), and the
people a message reached follow its tracking link here.

::

    POST /push/<vendor>   a vendor's form-encoded push (receipt or reply, told apart by fields)
    GET  /c/<code>        302 to the link's target once the click is stored (HEAD: the same
                          answer, nothing stored); 404 for a code the store does not know
    GET  /health          200 {"status": "ok", ...} while the writer is alive
    GET  /metrics         Prometheus text format (see :mod:`campaign.receiver.metrics`)

Answers (short plain-text reasons):

====  ==========================================================================================
200   stored and committed (or already stored: a duplicate push is stored once)
400   unparseable or incomplete push: stored in ``rejected`` with its raw body, then answered;
      also a request whose framing cannot be trusted (conflicting Content-Length headers, both
      Content-Length and Transfer-Encoding: stored nowhere, connection closed)
403   a token is set and the request's ``token`` (query string, or ``X-Campaign-Token``
      header) is missing or wrong: stored nowhere
302   ``GET /c/<code>``: the click is committed; ``Location`` is the link's target
404   unknown path, a vendor that pushes nothing, or a tracking code the store does not know
405   another method
413   body larger than ``max_body`` bytes (read to its end first, up to 16 MiB, so a client
      that writes before it reads gets the answer)
503   the store could not commit, the body did not arrive in time, or the receiver is shutting
      down (the vendor should retry; nothing was acknowledged)
====  ==========================================================================================

A click keeps the code, the time (Asia/Shanghai, microseconds) and the user agent's class
(:mod:`campaign.agents`): never the client's IP address or its user agent string, which
are not logged either. Its answer never names the number a per-recipient code belongs to
(see :mod:`.app`).

Nothing is acknowledged before it is committed. The ASGI app (:mod:`.app`) parses each push
and hands it to one writer thread (:mod:`.writer`), which commits whatever has queued up as
one transaction (group commit) and only then releases the waiting requests. The store is in
WAL mode with ``synchronous=NORMAL`` on SQLite: a committed push survives the process being
killed.

Charset: the Content-Type ``charset`` is believed when the body decodes under it; an
undeclared or undecodable body is read as UTF-8, else GB18030 (:mod:`.forms`). A receive time
cut short (``2024-11-11 20:0``) is a bad push, kept in ``rejected``, never a guessed time.

Served by uvicorn with httptools and uvloop (:mod:`.serve`): it parses HTTP, chunked bodies
and keep-alive. HTTPS with ``tls_cert``/``tls_key``; several processes with ``workers``
(PostgreSQL). Shut it down with SIGTERM or Ctrl-C: it stops accepting, answers every push in
flight, then exits 0.
"""

from __future__ import annotations

from campaign.receiver.forms import decode_form
from campaign.receiver.serve import (
    DEFAULT_MAX_BODY,
    PUSHING,
    Receiver,
    Workers,
    run,
    serve,
)

__all__ = ["DEFAULT_MAX_BODY", "PUSHING", "Receiver", "Workers", "decode_form", "run", "serve"]
