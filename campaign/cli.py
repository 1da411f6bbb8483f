"""The `campaign` command: one thin click command per public function.

Library first: every command calls the same function a notebook would, and only this
module echoes to the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import click

from campaign.errors import CampaignError, InputError


class _Group(click.Group):
    """Turns a CampaignError into a one-line message and exit status 1, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CampaignError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
@click.version_option(package_name="campaign")
@click.option("-v", "--verbose", is_flag=True, help="Log what each step does.")
def main(verbose: bool) -> None:
    """Run SMS and voice campaigns through Chinese vendors, and report on them."""
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    else:  # the library's warnings as plain lines: "Warning: veesing-sms: cannot reach ..."
        handler = logging.StreamHandler()
        handler.setFormatter(_PlainFormatter())
        logging.basicConfig(level=logging.WARNING, handlers=[handler])


class _PlainFormatter(logging.Formatter):
    """``Warning: <message>`` (or ``Error: ``), as click and echo_warnings print theirs."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.capitalize()}: {record.getMessage()}"


@main.command()
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--column", help="Column holding the numbers (default: found from headers/values).")
@click.option("--sheet", help="Excel sheet name or 0-based position (default: the first).")
@click.option("--encoding", help="Text encoding (default: UTF-8 or GBK, detected).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the tidy list here (.csv, opened correctly by Excel; or .xlsx).",
)
def load(
    source: Path, column: str | None, sheet: str | None, encoding: str | None, out: Path | None
) -> None:
    """Load a phone list and say which numbers can be sent to, and why the rest cannot."""
    from campaign.phones import load_phones

    sheet_arg: str | int | None = int(sheet) if sheet is not None and sheet.isdigit() else sheet
    with echo_warnings():
        contacts = load_phones(source, column=column, sheet=sheet_arg, encoding=encoding)
    click.echo(summarize_contacts(contacts, name=str(source)))
    if out is not None:
        phones = ["phone", "phone_raw", contacts.attrs.get("phone_column")]
        write_table(contacts, out, text_columns=[c for c in phones if c in contacts.columns])
        click.echo(f"wrote {out}")


def summarize_contacts(contacts, *, name: str) -> str:
    """A few plain lines on a load_phones result, for the terminal."""
    total = len(contacts)
    valid = int(contacts["valid"].sum())
    dup = int(contacts["duplicate"].sum())
    lines = [
        f"{name}: {total} rows, phone column {contacts.attrs.get('phone_column')!r}",
        f"  sendable: {valid - dup} ({valid} valid, {dup} repeats)",
    ]
    reasons = contacts["reason"].value_counts()
    if len(reasons):
        lines.append(f"  not sendable: {int(reasons.sum())}")
        lines += [f"    {count:>8}  {reason}" for reason, count in reasons.items()]
    carriers = contacts.loc[contacts["valid"], "carrier"].value_counts(dropna=False)
    if len(carriers):
        lines.append("  by carrier:")
        lines += [
            f"    {count:>8}  {carrier if isinstance(carrier, str) else 'unknown'}"
            for carrier, count in carriers.items()
        ]
    return "\n".join(lines)


def summarize_plan(plan) -> str:
    """A plan in a few plain lines for the terminal: numbers, batches, what is billed, when,
    who is skipped and why, and the plan's warnings."""
    from campaign import clock

    batches = plan.batches
    head = f"plan: {plan.numbers:,} numbers to send through {plan.vendor}"
    lines = [head + (f", campaign {plan.campaign}" if plan.campaign else "")]
    if len(batches):
        largest = int(batches["size"].max())
        each = (
            "one number each" if largest == 1
            else f"{largest:,} numbers" if len(batches) == 1
            else f"up to {largest:,} numbers each"
        )  # fmt: skip
        lines.append(f"  batches:  {len(batches):,} vendor call{'s' * (len(batches) != 1)} "
                     f"({each})")  # fmt: skip
    if plan.numbers and plan.limits.channel == "voice":
        lines.append(f"  billed:   {plan.messages:,} calls")
    elif plan.numbers:
        low = int(batches["segments"].min())
        per = f"{low}-{plan.segments}" if low != plan.segments else f"{low}"
        per += f" segment{'s' * (plan.segments != 1)} per number"
        lines.append(f"  billed:   {plan.messages:,} messages ({per})")
    if plan.send_at is None:
        lines.append("  schedule: now")
    else:
        ahead = (plan.send_at - clock.current()).total_seconds()
        lines.append(f"  schedule: {plan.send_at:%Y-%m-%d %H:%M:%S} Asia/Shanghai "
                     f"(in {clock.duration(ahead)})")  # fmt: skip
    if len(plan.held_out):
        lines.append(f"  held out: {len(plan.held_out):,} (never sent, kept to compare with)")
    note = plan.summary()["link_note"]
    if note:
        lines.append(f"  {note}")
    counts = plan.skip_counts()
    if len(counts):
        lines.append(f"  skipped:  {int(counts.sum()):,}")
        lines += [f"    {n:>8,}  {reason}" for reason, n in counts.items()]
    if len(batches):  # what people will read: the first call's text, as sent
        column = "variables" if plan.limits.message == "template" else "content"
        first = batches[column].iloc[0]
        if plan.texts > 1:
            lines.append(f"  texts:    {plan.texts:,} distinct in {len(batches):,} calls; the "
                         f"first, to {batches['phones'].iloc[0][0]}:")  # fmt: skip
            lines.append(f"            {first}")
        else:
            lines.append(f"  text:     {first}")
    lines += [f"  warning: {w}" for w in plan.warnings]
    return "\n".join(lines)


def write_table(frame, path: Path, *, text_columns: list[str] | tuple[str, ...] = ()) -> None:
    """CSV with a BOM (so Excel shows Chinese correctly) or .xlsx, by suffix.

    In a CSV each value of ``text_columns`` (phone numbers) starts with a tab, which Excel
    keeps as text: without it Excel reads 13800138000 as a number, drops the leading zeros of
    0086..., and shows longer digit runs in scientific notation. ``load_phones`` reads such a
    file back as it was (it strips the tab). In .xlsx the strings are text cells already.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        frame.to_excel(path, index=False)
        return
    if text_columns:
        frame = frame.copy()
        for name in text_columns:
            frame[name] = [v if _is_missing(v) else f"\t{v}" for v in frame[name]]
    frame.to_csv(path, index=False, encoding="utf-8-sig")


@contextlib.contextmanager
def echo_warnings(shown: set[str] | None = None):
    """Collect the warnings of the library calls inside, then echo each once on stderr as
    ``Warning: <message>`` (no source line). Messages in ``shown``, which the command has
    already printed (a plan lists its own), are left out. Echoed even if the call fails."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)  # in every run, not once per process
        try:
            yield
        finally:
            done = set(shown or ())
            for warning in caught:
                message = str(warning.message)
                if message not in done:
                    done.add(message)
                    click.echo(f"Warning: {message}", err=True)


def _db_option(text: str):
    """``--db``: a path or a PostgreSQL URL; ``$CAMPAIGN_DB`` when not given."""
    return click.option(
        "--db", envvar="CAMPAIGN_DB", default="campaign.db", show_default=True,
        help=f"{text} A path (SQLite) or postgresql://user@host/dbname; env CAMPAIGN_DB.",
    )  # fmt: skip


def _message_options(command):
    """Options shared by `plan` and `send`: the contact list, vendor and message."""
    options = [
        click.argument("contacts", type=click.Path(dir_okay=False, path_type=Path)),
        click.option("--vendor", required=True, help="Vendor key, e.g. jzyyun-sms."),
        click.option(
            "--content",
            help="Message text, with its 【signature】; {column} takes each number's value from"
            " the list's column (e.g. {姓名}), {link} the tracking link, {{ and }} are braces.",
        ),
        click.option("--template-id", help="Template id (template vendors)."),
        click.option(
            "--variables",
            help="Template variables (template vendors), as the vendor takes them: veesing-code"
            " a 4-6 digit code, veesing-voice the text read out; see cp.vendor_limits(key)."
            " {column} takes each number's value from the list's column, e.g. {券码}.",
        ),
        click.option("--send-at", help="Scheduled time, e.g. '2026-11-11 20:00:00' (Shanghai)."),
        click.option("--batch-size", type=int, help="Numbers per call (default: the maximum)."),
        click.option(
            "--link",
            metavar="URL",
            help="Where the tracking link leads; the link goes in place of {link} in --content.",
        ),
        click.option(
            "--link-base",
            metavar="URL",
            help="Your click receiver (campaign receive), e.g. https://t.example.com: links "
            "are URL/c/<code>.",
        ),
        click.option(
            "--link-per",
            type=click.Choice(["campaign", "recipient"]),
            default="campaign",
            show_default=True,
            help="One link for the campaign, or one per number (one call each).",
        ),
        click.option("--column", help="Column holding the numbers (default: found)."),
        _db_option("The store."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _timing_options(command):
    """Options shared by `plan` and `send`: when the calls go out (send window, pace, expiry)."""
    options = [
        click.option(
            "--window",
            metavar="HH:MM-HH:MM|none",
            help="Hours (Asia/Shanghai) calls go out in, e.g. 08:00-21:00 (21:00-08:00 runs "
            "overnight); none: any hour. Default: the vendor's (marketing SMS 08:00-21:00).",
        ),
        click.option("--rate", type=float, help="At most this many numbers a minute."),
        click.option("--calls-per-second", type=float, help="At most this many calls a second."),
        click.option("--expires-in", metavar="SPAN",
                     help="Batches not sent within this span never are, e.g. 6h, 30min."),
        click.option("--expires-at", metavar="TIME",
                     help="Batches not sent by then never are, e.g. '2026-11-11 23:00'."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _window_arg(text: str | None):
    """--window as send takes it: None (the vendor's), False (none) or the text."""
    if text is None:
        return None
    return False if text.strip().lower() in ("none", "off", "any") else text


def _timing(plan, window, rate, calls_per_second, expires_in, expires_at, *, wait=True) -> str:
    """The plan's timing lines for these options (see Plan.timing)."""
    timing = plan.timing(window=_window_arg(window), rate=rate, calls_per_second=calls_per_second,
                         expires_in=expires_in, expires_at=expires_at, wait=wait)  # fmt: skip
    return "\n".join(timing.lines())


#: Each vendor credential as an option: keyword of cp.vendor(...), the vendors, the env variable.
CREDENTIALS = (
    ("app_id", "veesing-*", "VEESING_APP_ID"),
    ("app_key", "veesing-*", "VEESING_APP_KEY"),
    ("account", "ihuyi-voice", "IHUYI_ACCOUNT"),
    ("api_key", "ihuyi-voice", "IHUYI_API_KEY"),
    ("username", "jzyyun-sms", "JZYYUN_USERNAME"),
    ("password", "jzyyun-sms", "JZYYUN_PASSWORD"),
)


def _option(keyword: str) -> str:
    return "--" + keyword.replace("_", "-")


def _credential_options(*, vendors: str | None = None):
    """``--app-id``, ``--username``...: each vendor credential (of ``vendors`` only, if
    given), else its environment variable."""

    def decorate(command):
        for keyword, where, env in reversed(CREDENTIALS):
            if vendors is None or where == vendors:
                command = click.option(
                    _option(keyword), keyword, metavar="TEXT",
                    help=f"{where} credential (default: env {env}).",
                )(command)  # fmt: skip
        return command

    return decorate


def _client(vendor: str, *, base_url: str | None, credentials: dict):
    """The vendor client, or one error naming every missing credential as this command
    takes it (``--username`` or ``JZYYUN_USERNAME``), not as a notebook would."""
    import inspect

    from campaign.errors import ConfigError, MissingCredential
    from campaign.vendors import vendor as make_client
    from campaign.vendors import vendor_module

    given = {k: v for k, v in credentials.items() if v not in (None, "")}
    takes = inspect.signature(vendor_module(vendor).Client.__init__).parameters
    wrong = [_option(k) for k in given if k not in takes]
    if wrong:
        raise InputError(
            f"{vendor} does not take {', '.join(wrong)}; `campaign send --help` lists each "
            "vendor's credentials"
        )
    missing: list[MissingCredential] = []
    probe = dict(given)
    while True:
        try:
            client = make_client(vendor, base_url=base_url, **probe)
        except MissingCredential as exc:
            if exc.keyword in probe:
                raise
            missing.append(exc)
            probe[exc.keyword] = "-"  # a stand-in, to find the next missing one too
            continue
        except ConfigError:
            if not missing:
                raise
            break  # a stand-in was refused: report what is missing so far
        if not missing:
            return client
        client.close()
        break
    asks = " and ".join(f"{_option(m.keyword)} (or set {m.env})" for m in missing)
    raise ConfigError(
        f"{vendor}: missing credential{'s' if len(missing) > 1 else ''}: give {asks}; an "
        f"environment variable keeps it out of the shell history, e.g. export "
        f"{missing[-1].env}=..."
    )


def _plan(
    contacts, vendor, content, template_id, variables, send_at, batch_size, column, db, campaign,
    *, link=None, link_base=None, link_per="campaign",
):  # fmt: skip
    from campaign.batching import plan_batches
    from campaign.phones import load_phones
    from campaign.store.postgres import is_postgres_url

    loaded = load_phones(contacts, column=column)
    return plan_batches(
        loaded,
        vendor=vendor,
        content=content,
        template_id=template_id,
        variables=variables,
        send_at=send_at,
        db=db if is_postgres_url(db) or Path(db).exists() else None,  # a plan creates no file
        campaign=campaign,
        batch_size=batch_size,
        link=link,
        link_base=link_base,
        link_per=link_per,
    )


@main.command()
@_message_options
@click.option("--campaign", help="Campaign name: numbers already in it are skipped.")
@_timing_options
def plan(
    contacts, vendor, content, template_id, variables, send_at, batch_size, link, link_base,
    link_per, column, db, campaign, window, rate, calls_per_second, expires_in, expires_at,
):  # fmt: skip
    """Plan the vendor calls for a contact list, and say who is skipped and why, and when the
    send would run: its window, how long it takes at --rate, when it would finish if started
    now, and its expiry (with a warning when the expiry comes first)."""
    shown: set[str] = set()
    with echo_warnings(shown):
        result = _plan(
            contacts, vendor, content, template_id, variables, send_at, batch_size, column, db,
            campaign, link=link, link_base=link_base, link_per=link_per,
        )  # fmt: skip
        shown.update(result.warnings)  # the summary lists them
    click.echo(summarize_plan(result))
    click.echo(_timing(result, window, rate, calls_per_second, expires_in, expires_at))


@main.command()
@_message_options
@click.option("--campaign", required=True, help="Campaign name (sending again resumes it).")
@click.option("--base-url", help="Vendor address, e.g. the simulator's http://127.0.0.1:8000.")
@click.option("--concurrency", default=4, show_default=True, help="Calls in flight (1-phone).")
@_timing_options
@click.option(
    "--no-wait",
    is_flag=True,
    help="Outside the window, stop (the rest stay planned for the next run).",
)
@click.option("--dry-run", is_flag=True, help="Show the batches; record and send nothing.")
@click.option("--resend-unknown", is_flag=True, help="Also resend batches of unknown outcome.")
@click.option("--resend-rejected", is_flag=True, help="Also resend batches the vendor refused.")
@_credential_options()
def send(
    contacts,
    vendor,
    content,
    template_id,
    variables,
    send_at,
    batch_size,
    link,
    link_base,
    link_per,
    column,
    db,
    campaign,
    base_url,
    concurrency,
    window,
    rate,
    calls_per_second,
    expires_in,
    expires_at,
    no_wait,
    dry_run,
    resend_unknown,
    resend_rejected,
    **credentials,
):
    """Send a contact list through a vendor.

    Credentials: veesing-sms, veesing-code, veesing-voice: --app-id/--app-key or
    VEESING_APP_ID/VEESING_APP_KEY; ihuyi-voice: --account/--api-key or
    IHUYI_ACCOUNT/IHUYI_API_KEY; jzyyun-sms: --username/--password or
    JZYYUN_USERNAME/JZYYUN_PASSWORD. The environment variables keep them out of the shell
    history.
    """
    from campaign.send import campaign_batches
    from campaign.send import send as send_plan

    client = _client(vendor, base_url=base_url, credentials=credentials)  # before any output
    try:  # what earlier runs already submitted, to say what this one did
        before = campaign_batches(db, campaign).set_index("batch")["attempts"]
    except CampaignError:
        before = None
    shown: set[str] = set()
    with echo_warnings(shown):
        planned = _plan(
            contacts, vendor, content, template_id, variables, send_at, batch_size, column, db,
            campaign, link=link, link_base=link_base, link_per=link_per,
        )  # fmt: skip
        shown.update(planned.warnings)  # the summary lists them
        click.echo(summarize_plan(planned))
        click.echo(_timing(planned, window, rate, calls_per_second, expires_in, expires_at,
                           wait=not no_wait))  # fmt: skip
        batches = send_plan(
            planned,
            client,
            db=db,
            campaign=campaign,
            concurrency=concurrency,
            window=_window_arg(window),
            wait=not no_wait,
            rate=rate,
            calls_per_second=calls_per_second,
            expires_in=expires_in,
            expires_at=expires_at,
            dry_run=dry_run,
            resend_unknown=resend_unknown,
            resend_rejected=resend_rejected,
        )
    if not dry_run:
        click.echo(_this_run(batches, before, resend=resend_unknown or resend_rejected))
    by_state = batches.groupby("state")["size"].agg(["count", "sum"])
    click.echo(f"{campaign}: {len(batches)} batches")
    for state, row in by_state.iterrows():
        click.echo(f"  {state:<10} {row['count']:>6} batches {row['sum']:>10,} numbers")
    if "expired" in by_state.index:
        count, numbers = by_state.loc["expired", "count"], by_state.loc["expired", "sum"]
        click.echo(f"expired: {numbers:,} numbers in {count:,} batches, never sent (the "
                   "campaign's expiry passed before they were submitted)")  # fmt: skip
    if batches.attrs.get("stopped"):
        click.echo(f"{campaign}: {batches.attrs['stopped']}")
    if not dry_run:
        _fail_unless_sent(batches)


#: Batches listed one by one when some were not sent; the rest are counted.
SHOWN_BATCHES = 10


def _fail_unless_sent(batches) -> None:
    """List the batches the vendor refused or whose outcome is unknown, each with the
    vendor's words, and exit with status 1 saying what to do; nothing if all went out."""
    bad = batches[batches["state"].isin(["rejected", "unknown"])]
    if not len(bad):
        return
    for row in bad.head(SHOWN_BATCHES).itertuples(index=False):
        said = f"[{row.code}] " if isinstance(row.code, str) and row.code else ""
        said += row.message if isinstance(row.message, str) else ""
        click.echo(f"  batch {row.batch} {row.state}, {row.size:,} numbers: {said or '-'}",
                   err=True)  # fmt: skip
    if len(bad) > SHOWN_BATCHES:
        click.echo(f"  ... and {len(bad) - SHOWN_BATCHES:,} more (cp.campaign_batches lists "
                   "them all)", err=True)  # fmt: skip
    todo = []
    rejected = int((bad["state"] == "rejected").sum())
    unknown = len(bad) - rejected
    if rejected:
        todo.append(f"{rejected:,} batch(es) rejected by the vendor: fix what it says (e.g. "
                    "the credentials), then send again with --resend-rejected")  # fmt: skip
    if unknown:
        todo.append(f"{unknown:,} batch(es) with an unknown outcome: the vendor may have sent "
                    "them; check its console, then --resend-unknown if it did not")  # fmt: skip
    raise click.ClickException("not everything was sent: " + "; ".join(todo))


def _this_run(batches, before, *, resend: bool) -> str:
    """What this run of `campaign send` submitted, against the batches' attempts before it."""
    previous = (
        batches["batch"].map(before).fillna(0) if before is not None else batches["attempts"] * 0
    )
    sent = batches[batches["attempts"] > previous]
    if len(sent):
        return f"this run: submitted {len(sent):,} batch(es), {int(sent['size'].sum()):,} numbers"
    if batches.attrs.get("stopped"):  # the window or the expiry held it back: said below
        return "this run: submitted nothing"
    hint = (
        "" if resend else " (a batch with an unknown outcome is re-sent only with --resend-unknown)"
    )
    return f"this run: nothing new to send, every batch was already submitted{hint}"


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address.")
@click.option("--port", default=8000, show_default=True, help="Port (0: any free port).")
@click.option("--seed", default=0, show_default=True, help="Seed for the outcomes.")
@click.option(
    "--time-scale",
    default=1.0,
    show_default=True,
    help="Simulated seconds per real second (3600: an hour a second).",
)
@click.option(
    "--push-to",
    help="Base URL pushes go to: {push-to}/push/{vendor}, e.g. "
    "`campaign receive` on http://127.0.0.1:8080 (default: held for pulling).",
)
def simulator(host, port, seed, time_scale, push_to) -> None:
    """Serve every vendor's API on loopback, for notebooks and tests (Ctrl-C stops)."""
    from campaign.simulator import run

    run(
        host=host,
        port=port,
        seed=seed,
        time_scale=time_scale,
        push_to=push_to,
        on_ready=lambda sim: click.echo(f"vendor simulator on {sim.url} (Ctrl-C stops)"),
    )


@main.command()
@_db_option("The store pushes go into.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, help="Port (0: any free port).")
@click.option("--token", envvar="CAMPAIGN_PUSH_TOKEN", help="Required ?token=... on every push "
              "(or env CAMPAIGN_PUSH_TOKEN, which keeps it out of shell history).")  # fmt: skip
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes serving (more than 1 needs a PostgreSQL store).")  # fmt: skip
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False),
              help="PEM certificate (chain): serve HTTPS. Needs --tls-key.")  # fmt: skip
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False),
              help="PEM private key of --tls-cert.")  # fmt: skip
def receive(db, host, port, token, workers, tls_cert, tls_key) -> None:
    """Receive vendors' pushed receipts and replies: POST /push/<vendor>; clicks on tracking
    links: GET /c/<code> (302 to the link's target); GET /health, /metrics.

    \b
    Give each vendor's console this server's address as the push (回执/上行) URL:
      https://<this server>/push/veesing-sms?token=<the --token>
      (and /push/veesing-code, /push/veesing-voice for veesing's other products).
    jzyyun-sms pushes nothing: `campaign pull` fetches its reports; ihuyi-voice answers in
    the call itself.

    \b
    With the vendor simulator, start this without --token, then point the simulator here:
      campaign receive --port 8080
      campaign simulator --push-to http://127.0.0.1:8080
    (it posts to <push-to>/push/<vendor>).

    \b
    Short links point here: plan with link_base= this server's public address (e.g.
    https://t.example.com), and its /c/<code> redirects and counts each click.
    """
    from campaign.receiver import run
    from campaign.store import describe

    def ready(receiver) -> None:
        many = f", {workers} workers" if workers > 1 else ""
        click.echo(f"push receiver on {receiver.url} -> {describe(db)}{many} (Ctrl-C stops)")
        query = "?token=..." if token else ""
        click.echo(f"  vendors push to {receiver.url}/push/<vendor>{query}; the simulator: "
                   f"campaign simulator --push-to {receiver.url}")  # fmt: skip
        click.echo(f"  short links redirect from {receiver.url}/c/<code>")

    run(db, host=host, port=port, token=token, workers=workers, tls_cert=tls_cert,
        tls_key=tls_key, on_ready=ready)  # fmt: skip


@main.command()
@click.option("--vendor", default="jzyyun-sms", show_default=True, help="A pulled vendor.")
@_db_option("The store.")
@click.option("--base-url", help="Vendor address, e.g. the simulator's.")
@_credential_options(vendors="jzyyun-sms")
def pull(vendor, db, base_url, **credentials) -> None:
    """Pull delivery reports and replies from a pulled vendor into the store.

    jzyyun-sms is the pulled vendor; its credentials: --username/--password or the
    environment variables JZYYUN_USERNAME/JZYYUN_PASSWORD (which keep them out of the shell
    history). The other vendors push: see `campaign receive --help`.
    """
    from campaign.ingest import pull_replies, pull_reports
    from campaign.vendors import vendor_limits

    limits = vendor_limits(vendor)  # before credentials: a pushed vendor needs none to say so
    if "pull" not in (limits.delivery, limits.replies):
        raise InputError(
            f"{vendor} pushes its receipts and replies (delivery: {limits.delivery}): run "
            "`campaign receive` and give the vendor its address; there is nothing to pull"
        )
    with echo_warnings():
        client = _client(vendor, base_url=base_url, credentials=credentials)
        reports = pull_reports(client, db)
        replies = pull_replies(client, db)
    click.echo(f"reports: {reports.inserted} new, {reports.duplicates} already stored, "
               f"{reports.rejected} rejected")  # fmt: skip
    click.echo(f"replies: {replies.inserted} new, {replies.duplicates} already stored, "
               f"{replies.rejected} rejected")  # fmt: skip


_STATS = {
    "delivery": "delivery_stats",
    "reply": "reply_stats",
    "voice": "voice_stats",
    "latency": "latency_stats",
    "reasons": "failure_reasons",
}
#: Why a table of each kind can have no row: what must happen before it has one.
_EMPTY = {
    "delivery": "no data yet for {scope}: no batch was sent",
    "reply": "no data yet for {scope}: no batch was sent",
    "voice": "no data yet for {scope}: no call batch was sent",
    "latency": "no data yet for {scope}: no batch was sent or no receipt has arrived",
    "reasons": "no failure yet for {scope}: no batch was sent, no receipt has arrived "
    "or none reports a failure",
}
UNKNOWN = "未知"


def _is_missing(value) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _is_rate(column: str) -> bool:
    return column == "share" or column.endswith(("_rate", "_low", "_high"))


def format_table(table) -> str:
    """A statistics table for the terminal, as the HTML report shows it: an unknown group
    value (carrier, province, city, a contact-list column ...) is 未知, rates and shares are
    percentages with one decimal, other decimals have one, and a missing number is –.

    The group columns are those the statistics name in ``table.attrs["by"]``. Chinese
    characters count as two columns wide, so the columns line up.

    >>> import pandas as pd
    >>> table = pd.DataFrame({"carrier": ["中国移动", None], "submitted": [40, 0],
    ...                       "mean": [8.6473, float("nan")],
    ...                       "delivery_rate": [0.903564, float("nan")],
    ...                       "ci_low": [6.9e-18, float("nan")]})
    >>> table.attrs["by"] = ["carrier"]
    >>> print(format_table(table))
     carrier  submitted  mean delivery_rate ci_low
    中国移动         40   8.6         90.4%   0.0%
        未知          0     –             –      –
    """
    import pandas as pd

    keys = [c for c in table.attrs.get("by", []) if c in table.columns]
    shown = pd.DataFrame(index=table.index)
    for name in table.columns:
        column = table[name]
        if name in keys:
            shown[name] = [
                UNKNOWN if _is_missing(v) else f"{v:g}" if isinstance(v, float) else str(v)
                for v in column
            ]
        elif pd.api.types.is_float_dtype(column) and _is_rate(name):
            shown[name] = ["–" if _is_missing(v) else f"{v:.1%}" for v in column]
        elif pd.api.types.is_float_dtype(column):
            shown[name] = ["–" if _is_missing(v) else f"{v:.1f}" for v in column]
        elif pd.api.types.is_integer_dtype(column):
            shown[name] = ["–" if _is_missing(v) else str(v) for v in column]
        else:
            shown[name] = column
    with pd.option_context("display.unicode.east_asian_width", True):
        return shown.to_string(index=False)


@main.command()
@_db_option("The store.")
@click.option("--campaign", help="One campaign (default: all).")
@click.option("--by", multiple=True, help="Group by: campaign, batch, vendor, carrier, province, "
              "city, send_hour, send_day or a column of the contact list. Repeatable.")  # fmt: skip
@click.option("--kind", type=click.Choice(list(_STATS)), default="delivery", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write a CSV.")
def stats(db, campaign, by, kind, out) -> None:
    """Delivery, reply, voice, latency statistics or failure reasons, as a table.

    A store with SMS and voice campaigns gets one table per channel (a leading channel
    column), unless --by campaign, batch or vendor keeps them apart already: messages and
    calls are never added into one total.

    Rates print as percentages and an unknown carrier, province or city as 未知; the CSV of
    --out keeps every digit (rates as fractions 0-1) and leaves unknown cells empty.
    """
    import campaign.stats as statistics

    function = getattr(statistics, _STATS[kind])
    with echo_warnings():
        channels = None if kind == "voice" or campaign else _channels(db, by)
        if channels is None:
            table = function(db, campaign=campaign, by=list(by) or None)
        else:  # SMS messages and voice calls are never added into one total
            table = _per_channel(function, db, channels, by=list(by) or None)
    if len(table):
        click.echo(format_table(table))
        if kind == "latency":
            click.echo("(mean, p50, p90, p99: seconds from the batch's submission to the receipt)")
    else:
        scope = f"campaign {campaign!r}" if campaign else f"any campaign in {db}"
        click.echo(_EMPTY[kind].format(scope=scope))
    if out is not None:
        write_table(table, out)
        click.echo(f"wrote {out}")


#: Channels in the order their tables print.
_CHANNELS = ("sms", "code", "voice")


def _channels(db, by) -> dict[str, list[str]] | None:
    """The campaigns of each channel, when the store holds more than one channel and ``by``
    would not keep them apart (campaign, batch and vendor do); else None."""
    from campaign.store import connect
    from campaign.store.batches import campaign_names
    from campaign.store.reads import campaign_info

    if {"campaign", "batch", "vendor"} & set(by):
        return None
    with connect(db, existing=True) as store:
        found: dict[str, list[str]] = {}
        for name in campaign_names(store):
            found.setdefault(campaign_info(store, name)["channel"], []).append(name)
    if len(found) < 2:
        return None
    return dict(sorted(found.items(), key=lambda item: _CHANNELS.index(item[0])))


def _per_channel(function, db, channels: dict[str, list[str]], *, by):
    """One statistics table over each channel's campaigns, under a leading channel column."""
    import pandas as pd

    parts = []
    for channel, names in channels.items():
        part = function(db, campaign=names, by=by)
        part.insert(0, "channel", channel)
        parts.append(part)
    table = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    table.attrs = {**parts[0].attrs, "by": ["channel", *parts[0].attrs.get("by", [])]}
    return table


@main.command()
@click.argument("variants", nargs=-1, required=True)
@_db_option("The store.")
@click.option("--metric", default="delivery_rate", show_default=True,
              type=click.Choice(["delivery_rate", "reported_rate", "reply_rate", "opt_out_rate",
                                 "answer_rate"]))  # fmt: skip
@click.option("--column", default="campaign", show_default=True,
              help="What the variants are values of: campaign, or any by= column.")  # fmt: skip
@click.option("--campaign", multiple=True, help="With --column: only this campaign (repeatable).")
@click.option("--by", help="One comparison per value of this column (carrier, province ...).")
@click.option(
    "--correction",
    type=click.Choice(["holm", "bh"]),
    help="Adjust the p-values for the comparisons made (several groups or variants).",
)
@click.option("--control", help="With three or more variants: the one the others are compared "
              "with (default the first).")  # fmt: skip
def compare(variants, db, metric, column, campaign, by, correction, control) -> None:
    """Is A's rate really different from B's? Two campaigns (or values of --column), per
    --by group, or several variants against a --control:

    \b
      campaign compare d11-A d11-B --metric reply_rate
      campaign compare d11-A d11-B --by carrier --correction holm
      campaign compare d11-A d11-B d11-C --control d11-A
    """
    from campaign.stats import compare as compare_rates

    if len(variants) < 2:
        raise click.UsageError("give two variants to compare (or more, with --control)")
    if len(variants) == 2 and control is None:
        a, b = variants
    else:
        a, b = list(variants), None
    with echo_warnings():
        result = compare_rates(db, a, b, metric=metric, column=column, by=by,
                               correction=correction, control=control,
                               campaign=list(campaign) or None)  # fmt: skip
    for row in result.to_dict("records"):
        click.echo(row["verdict"])
        click.echo(
            f"  {row['a']}: {row['successes_a']:,}/{row['trials_a']:,}   {row['b']}: "
            f"{row['successes_b']:,}/{row['trials_b']:,}   z = {row['z']:.2f}"
        )


@main.command()
@_db_option("The store.")
@click.option("--campaign", required=True, help="The campaign to report on.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="The HTML file "
              "(default: <campaign>.html).")  # fmt: skip
@click.option("--show-phones", is_flag=True, help="Do not mask phone numbers (in-house only).")
@click.option("--compare-with", multiple=True,
              help="A campaign to put beside it in the A/B section (repeatable; default its "
              "sibling variants, e.g. d11-B for d11-A).")  # fmt: skip
def report(db, campaign, out, show_phones, compare_with) -> None:
    """Write the post-campaign report: one self-contained HTML file."""
    from campaign.report import report as write_report

    with echo_warnings():
        path = write_report(db, campaign=campaign, path=out or Path(f"{campaign}.html"),
                            mask_phones=not show_phones,
                            compare_with=list(compare_with) or None)  # fmt: skip
    click.echo(f"wrote {path}")


@main.command()
@_db_option("The store.")
@click.option("--campaign", multiple=True, help="Only this campaign (repeatable).")
@click.option("--by", multiple=True, help="Group by carrier, province, city, vendor or a list "
              "column (repeatable).")  # fmt: skip
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the table: .csv (UTF-8 with BOM) or .xlsx.",
)
def funnel(db, campaign, by, out) -> None:
    """Planned, submitted, delivered, clicked, converted and revenue per campaign, and the
    lift over its holdout (conversions from `campaign conversions import`; clicks from the
    receiver or `campaign clicks import`)."""
    from campaign.stats import funnel_stats

    with echo_warnings():
        table = funnel_stats(db, campaign=list(campaign) or None, by=list(by) or None)
    if not len(table):
        click.echo(f"no campaign in {db} has numbers yet")
    else:
        # no tracking links, or none that tell these groups apart: no click columns
        hidden = ("clicks", "clicked", "click_rate") if table["clicks"].isna().all() else ()
        shown = table[[c for c in table.columns
                       if not c.endswith(("_low", "_high")) and c not in hidden]]  # fmt: skip
        shown.attrs = table.attrs
        click.echo(format_table(shown))
    if out is not None:
        write_table(table, out)
        click.echo(f"wrote {out}")


@main.command()
@_db_option("The store.")
@click.option("--campaign", multiple=True, help="Only this campaign (repeatable).")
@click.option("--by", multiple=True, help="Group by carrier, province, city ... (repeatable).")
@click.option("--price", "prices", multiple=True, metavar="VENDOR=YUAN[/delivery]",
              help="Set a vendor's price per billed message or call first, e.g. "
              "veesing-sms=0.045, or jzyyun-sms=0.04/delivery when it bills only what is "
              "delivered (repeatable; kept in the store).")  # fmt: skip
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the table: .csv (UTF-8 with BOM) or .xlsx.",
)
def cost(db, campaign, by, prices, out) -> None:
    """What each campaign was billed and cost, per delivered message, reply, click and
    conversion."""
    import pandas as pd

    from campaign.ingest import set_prices
    from campaign.stats import cost_stats

    given = {}
    for item in prices:
        vendor, _, rest = item.partition("=")
        amount, _, when = rest.partition("/")
        try:
            given[vendor.strip()] = {"price": float(amount), "billed_on": when or "submit"}
        except ValueError:
            raise click.BadParameter(f"{item!r}: give VENDOR=YUAN, e.g. veesing-sms=0.045",
                                     param_hint="--price") from None  # fmt: skip
    with echo_warnings():
        if given:
            set_prices(db, given)
        table = cost_stats(db, campaign=list(campaign) or None, by=list(by) or None)
    if not len(table):
        click.echo(f"no campaign in {db} has numbers yet")
    else:  # money with the decimals it needs: a price of 0.045 is not 0.0
        shown = table.copy()
        for name, places in (("price", 4), ("cost", 2), ("revenue", 2), ("cost_per_delivered", 4),
                             ("cost_per_reply", 4), ("cost_per_click", 4),
                             ("cost_per_conversion", 4),
                             ("return_on_spend", 2)):  # fmt: skip
            shown[name] = [f"{v:,.{places}f}" if pd.notna(v) else "–" for v in table[name]]
        shown["billed_on"] = [v or "–" for v in table["billed_on"]]
        if "balance_gap" in table.columns:
            shown["balance_gap"] = ["–" if pd.isna(v) else "yes" if v else "no"
                                    for v in table["balance_gap"]]  # fmt: skip
        shown.attrs = table.attrs
        click.echo(format_table(shown))
        if table["price"].isna().any():
            click.echo("(no price set for some vendors: give --price VENDOR=YUAN)")
        for line in _balance_gaps(table):
            click.echo(line)
    if out is not None:
        write_table(table, out)
        click.echo(f"wrote {out}")


def _balance_gaps(table) -> list[str]:
    """One line per campaign whose vendor drew more or fewer units than it got accepted."""
    if "balance_gap" not in table.columns:
        return []
    lines = []
    for _, row in table[table["balance_gap"].fillna(False).astype(bool)].iterrows():
        gap = int(row["count_gap"])
        lines.append(
            f"{row['campaign']}: the vendor drew {abs(gap):,} {'more' if gap > 0 else 'fewer'}"
            f" units ({int(row['vendor_count']):,}) than the messages submitted"
            f" ({int(row['expected_count']):,}): check for another campaign on the same"
            " account while sending, overbilling, refunds, or batches left 'unknown'"
            " (the vendor may have taken them)"
        )
    return lines


@main.group()
def conversions() -> None:
    """Orders and sign-ups: what the campaigns caused."""


@conversions.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_db_option("The store.")
@click.option(
    "--window",
    default="7d",
    show_default=True,
    help="How long after a campaign reached a number an order counts for it.",
)
@click.option("--campaign", help="Attribute only to this campaign.")
@click.option("--phone", help="The column of phone numbers (default: found by its header).")
@click.option("--time", "time_column", help="The column of order times (支付时间, 下单时间 ...).")
@click.option("--value", help="The column of order values (实付金额, 订单金额 ...).")
@click.option("--order-id", help="The column of order ids (订单号 ...).")
def conversions_import(source, db, window, campaign, phone, time_column, value, order_id) -> None:
    """Import a CSV or Excel export of orders: each is attributed to the latest campaign that
    sent to its number, or held it out, within --window; importing again adds nothing."""
    from campaign.ingest import ingest_conversions

    with echo_warnings():
        got = ingest_conversions(db, source, window=window, campaign=campaign, phone=phone,
                                 time=time_column, value=value, order_id=order_id)  # fmt: skip
    click.echo(
        f"{got.inserted:,} new conversions ({got.attributed:,} attributed to a campaign, "
        f"{got.unattributed:,} to none), {got.duplicates:,} already stored, "
        f"{got.rejected:,} rows kept in rejected"
    )


@main.group()
def clicks() -> None:
    """Clicks on tracking links: those another link shortener counted."""


@clicks.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_db_option("The store.")
@click.option("--code", help="The column of codes or short links (default: found by its "
              "header: code, 短码, 短链, 链接, url ...).")  # fmt: skip
@click.option("--time", "time_column", help="The column of click times (点击时间, 访问时间 ...).")
@click.option("--agent", help="The column of user agents or devices (user_agent, UA, 设备 ...).")
def clicks_import(source, db, code, time_column, agent) -> None:
    """Import a CSV or Excel export of clicks from another link shortener: each click on a
    link of this store is stored once (code, time, agent class); importing again adds nothing."""
    from campaign.ingest import ingest_clicks

    with echo_warnings():
        got = ingest_clicks(db, source, code=code, time=time_column, agent=agent, progress=True)
    click.echo(
        f"{got.inserted:,} new clicks, {got.duplicates:,} already stored, "
        f"{got.rejected:,} rows kept in rejected"
        + (" (see the rejected table: each row says what is wrong)" if got.rejected else "")
    )


@main.command()
@click.argument("src")
@click.argument("dst")
def copy(src: str, dst: str) -> None:
    """Copy a whole store to another (SQLite to PostgreSQL and back); run again: nothing new.

    SRC and DST are each a path or a postgresql:// URL (the password from PGPASSWORD or
    ~/.pgpass). Rows DST already has are kept as they are.
    """
    from campaign.store import copy_store, describe

    with echo_warnings():
        copied = copy_store(src, dst)
    total = int(copied["copied"].sum())
    for table, rows, new in copied.itertuples(index=False):
        click.echo(f"{table:<17} {rows:>12,} rows, {new:>12,} copied")
    if total:
        click.echo(f"copied {total:,} rows from {describe(src)} to {describe(dst)}")
    else:
        click.echo(f"nothing new: {describe(dst)} already has every row of {describe(src)}")


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Folder for what the demo writes.",
)
def demo(out: Path) -> None:
    """Run the whole journey on synthetic data against the built-in vendor simulator."""
    from campaign.demo import run_demo

    result = run_demo(out=out, echo=click.echo)
    click.echo(f"done in {result.seconds:.0f} s; open {result.reports[0]} in a browser")


if __name__ == "__main__":  # pragma: no cover
    main()
