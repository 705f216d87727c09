"""``triagebot`` command line: one sub-command per job, all sharing the config loading."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from triagebot import __version__, logs
from triagebot.clock import system_clock
from triagebot.config import Config, config_from_dict, load_config
from triagebot.errors import SourceError, TriagebotError
from triagebot.identity import reference
from triagebot.lifecycle import DefectState
from triagebot.pipeline import Pipeline
from triagebot.replay import iter_paths, replay
from triagebot.stack.signature import explain as explain_signature

log = structlog.get_logger(__name__)

Command = Callable[[argparse.Namespace, Config], int]


def _load(args: argparse.Namespace) -> tuple[Config, list[str]]:
    """The config, and its secrets for the log redactor. Commands that talk to the tracker
    (``tracker=True``) also read its ``[tracker.<kind>]`` settings, so a mistake there is a
    configuration error naming the key before anything starts; read-only commands
    (``secrets=False``) run without the service's secrets (its Jira token, IMAP password)."""
    path = args.config or os.environ.get("TRIAGEBOT_CONFIG")
    config = load_config(path, secrets=args.secrets) if path else config_from_dict({})
    secrets = _secrets(config)
    if args.tracker:
        from triagebot.trackers import configured  # noqa: PLC0415 - dry runs skip trackers

        kind = getattr(args, "to", None)  # ``defects move --to KIND``: that kind's secrets
        secrets += _secrets(configured(config.tracker, config.base_dir, kind))
    return config, secrets


def cmd_replay(args: argparse.Namespace, config: Config) -> int:
    """Dry-run the pipeline over mails; nothing is written anywhere but stdout."""
    if not args.dry_run:
        print(
            "replay only runs with --dry-run (to process mail for real: triagebot run)",
            file=sys.stderr,
        )
        return 2
    pipeline = Pipeline.from_config(config)
    count = replay(pipeline, iter_paths(args.paths), sys.stdout, args.json, args.jobs)
    log.info("replay.done", messages=count)
    return 0


def cmd_explain(args: argparse.Namespace, config: Config) -> int:
    """Show what the pipeline made of each mail, and why."""
    explain = _explainer(config)
    for name, raw in iter_paths(args.paths):
        explain(name, raw, args.json)
    return 0


def _explainer(config: Config) -> Callable[[str, bytes, bool], None]:
    """Prints what the pipeline made of one mail and why (text, or one JSON line)."""
    from triagebot.confirm import explain as explain_reply  # noqa: PLC0415 - only explain
    from triagebot.confirm import explain_lines as explain_reply_lines  # noqa: PLC0415
    from triagebot.mail.report import Kind  # noqa: PLC0415 - only explain
    from triagebot.stack.diagnose import no_trace_reason  # noqa: PLC0415 - only explain
    from triagebot.trackers import tracker_kind  # noqa: PLC0415 - only explain

    issue_key = tracker_kind(config.tracker.kind).key
    pipeline = Pipeline.from_config(config)
    now = system_clock()

    def explain(name: str, raw: bytes, as_json: bool) -> None:
        outcome = pipeline.process(raw)
        trace = outcome.report.trace
        miss = None if trace and trace.frame_count else no_trace_reason(outcome.report.text)
        if as_json:
            record = outcome.as_json()
            record["no_trace"] = miss
            record["truncated"] = list(outcome.report.truncated)
            record.update(explain_reply(outcome.report, config.helpdesk, now, issue_key))
            if outcome.signature:
                record["frames_explained"] = [
                    {
                        "exception": n.exception,
                        "key": n.key,
                        "in_app": n.in_app,
                        "contributes": n.contributes,
                        "why": n.hint,
                    }
                    for n in outcome.signature.notes
                ]
            print(json.dumps(record, ensure_ascii=False))
            return
        report = outcome.report
        print(f"== {name}")
        print(f"message   {report.message_id}")
        print(f"kind      {report.kind}" + (f" ({report.reason})" if report.reason else ""))
        for key, value in sorted(report.metadata.items()):
            print(f"{key:<9} {value}")
        for cut in report.truncated:
            print(f"truncated {cut}")
        if report.trace:
            for index, exc in enumerate(report.trace.exceptions):
                print(f"exception [{index}] {exc.type}: {exc.message[:200]}")
        if miss is not None:
            print(f"no trace  {miss}")
        if outcome.signature:
            print(explain_signature(outcome.signature))
        if outcome.decision:
            print(f"rule      {outcome.decision.rule} → {outcome.action}")
        if report.kind is Kind.REPLY:
            fields = explain_reply(report, config.helpdesk, now, issue_key)
            print("\n".join(explain_reply_lines(fields)))
        print()

    return explain


def cmd_quarantine(args: argparse.Namespace, config: Config) -> int:
    """List what was quarantined and why, show one mail's analysis, or put mails back."""
    from triagebot import quarantine  # noqa: PLC0415 - only this command
    from triagebot.services import build_mailbox, open_store  # noqa: PLC0415

    if args.action == "retry" and args.all == bool(args.ids):
        print("quarantine retry: name mail ids (see quarantine list) or --all", file=sys.stderr)
        return 2
    source, store = build_mailbox(config.mailbox), open_store(config)
    pipeline = Pipeline.from_config(config)
    try:
        store.migrate()
        if args.action == "retry":
            released = quarantine.release(source, store, pipeline, None if args.all else args.ids)
            print(f"released {len(released)} mails into the inbox")
            missing = sorted(set(args.ids) - {q.ref for q in released})
            if missing:
                print(f"not in quarantine: {', '.join(missing)}")
            return 0
        found = quarantine.quarantined(source, store, pipeline)
    finally:
        source.close()
        store.close()
    if args.action == "list":
        for q in found:
            at = q.verdict.processed_at.isoformat(timespec="seconds") if q.verdict else "-"
            if args.json:
                record = {"id": q.ref, "recorded_at": at, "reason": q.reason, "subject": q.subject}
                print(json.dumps(record, ensure_ascii=False))
            else:
                print(f"{q.ref}  {at}  {q.reason}  {q.subject[:80]}")
        if not args.json:
            print(f"{len(found)} mails in quarantine")
        return 0
    shown = next((q for q in found if q.ref == args.id), None)
    if shown is None:
        print(f"not in quarantine: {args.id}", file=sys.stderr)
        return 1
    print(f"id        {shown.ref}\nreason    {shown.reason}\nsubject   {shown.subject}")
    if shown.reason.startswith("analysis "):
        print("(not analysed again here: it outlasted the analysis budget or crashed it)")
        return 0
    _explainer(config)(shown.ref, shown.raw, False)
    return 0


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    """The service: watch the mailbox, record, file; ``--once`` drains and exits."""
    import asyncio  # noqa: PLC0415 - only the service needs an event loop
    import threading  # noqa: PLC0415

    from triagebot.daemon import (  # noqa: PLC0415 - dry runs skip its imports
        STOP_GRACE,
        Daemon,
        DaemonStopped,
        stop_on_signals,
    )

    stop = threading.Event()
    try:
        with stop_on_signals(stop):  # a stop while it waits for the store is an orderly one
            daemon = Daemon.from_config(config, stop=stop)
    except DaemonStopped:
        return 0
    daemon.exit_after_signal = STOP_GRACE
    with daemon.serving():
        asyncio.run(daemon.run(once=args.once))
    return 0


def cmd_deliver(args: argparse.Namespace, config: Config) -> int:
    """Deliver mail files as the Maildir spec asks (write in ``tmp/``, fsync, rename into
    ``new/``): a file never shows in ``new/`` half-written, as one copied there may."""
    from triagebot.mail.maildir import deliver, make_maildir  # noqa: PLC0415 - deliver only

    maildir: Path | None = args.maildir
    if maildir is None:
        if config.mailbox.kind != "maildir":
            print(
                f"triagebot: [mailbox].kind is {config.mailbox.kind!r}, not a Maildir: "
                "give --maildir PATH",
                file=sys.stderr,
            )
            return 2
        maildir = config.mailbox.path
    unreadable = [path for path in args.files if not path.is_file()]
    if unreadable:  # before anything is delivered: a run is all or nothing for bad paths
        print(f"triagebot: not a file: {', '.join(map(str, unreadable))}", file=sys.stderr)
        return 2
    try:
        make_maildir(maildir)
    except OSError as exc:
        raise SourceError(f"cannot set up Maildir {maildir}: {exc}") from exc
    for path in args.files:
        try:
            name = deliver(maildir, path.read_bytes())
        except OSError as exc:  # the files before it are delivered (each logged)
            raise SourceError(f"cannot deliver {path} into {maildir}: {exc}") from exc
        log.info("mail.delivered", file=str(path), maildir=str(maildir), name=name)
    return 0


def cmd_defects(args: argparse.Namespace, config: Config) -> int:
    """Every defect and candidate the store knows (``--state``, ``--since`` narrow it down)."""
    from triagebot.services import open_store  # noqa: PLC0415 - dry-run commands skip its imports

    store = open_store(config)
    try:
        store.migrate()
        found = store.defects(states=args.state or (), since=args.since)
        where = store.engine.url.render_as_string(hide_password=True)
    finally:
        store.close()
    if args.json:
        for defect in found:
            print(json.dumps(defect.as_json(), ensure_ascii=False, default=str))
        return 0
    if not found:
        narrowed = " matching the filters" if args.state or args.since else ""
        print(f"no defects{narrowed} in {where}")
        return 0
    print(f"{'REF':<8} {'KEY':<12} {'STATE':<10} {'COUNT':>6}  {'LAST SEEN (UTC)':<16}  TITLE")
    for defect in found:
        record = defect.as_json()
        print(
            f"{record['ref']:<8} {record['key'] or '-':<12} {record['state']:<10}"
            f" {record['occurrences']:>6}  {defect.last_seen:%Y-%m-%d %H:%M}  {record['title']}"
        )
    return 0


def cmd_trace(args: argparse.Namespace, config: Config) -> int:
    """What happened to one mail: given as a file, or by its Message-ID (every content
    recorded under it)."""
    from triagebot.services import open_store  # noqa: PLC0415 - dry-run commands skip its imports

    path = Path(args.mail)
    key = (
        Pipeline.from_config(config).process(path.read_bytes()).store_key
        if path.is_file()
        else None
    )
    store = open_store(config)
    try:
        store.migrate()
        found = store.traces(key=key, message_id=None if key else args.mail.strip("<>"))
    finally:
        store.close()
    for trace in found:
        fields = _trace_fields(trace)
        if args.json:
            effects = [dict(zip(EFFECT_FIELDS, e, strict=True)) for e in trace.effects]
            print(json.dumps({**fields, "effects": effects}, ensure_ascii=False))
            continue
        print("\n".join(f"{name:<10} {value}" for name, value in fields.items()))
        for kind, state, attempts, error in trace.effects:
            failed = f", {attempts} failed attempts" if attempts else ""
            print(f"effect     {kind} {state}{failed}" + (f": {error}" if error else ""))
        print()
    if not found:
        print(
            f"triagebot: no mail {args.mail} recorded in {store.engine.url.render_as_string()}",
            file=sys.stderr,
        )
        return 1
    return 0


EFFECT_FIELDS = ("kind", "state", "attempts", "error")


def _trace_fields(trace: Any) -> dict[str, str]:
    """A ``MessageTrace``'s lines, those it has."""
    fields = {
        "mail": trace.key,
        "read": f"{trace.processed_at:%Y-%m-%d %H:%M:%S} UTC",
        "ref": trace.source_ref,
        "sent": trace.received_at and f"{trace.received_at:%Y-%m-%d %H:%M:%S} UTC",
        "outcome": f"{trace.kind}, {trace.action or '-'}",
        "reason": trace.reason,
        "signature": trace.signature,
        "rule": trace.rule,
    }
    defect = trace.defect
    if defect is not None:
        key = defect.key or "not filed"
        fields["defect"] = f"{defect.id} {defect.state} ({key}, {defect.occurrences} mails)"
        fields["title"] = defect.title
    return {name: str(value) for name, value in fields.items() if value}


def _since(value: str) -> datetime:
    """``--since``: an ISO date or date and time; without a zone, UTC."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date (2026-12-01) or date and time (2026-12-01T08:00)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_defects_move(args: argparse.Namespace, config: Config) -> int:
    """File the open defects in the tracker ``--to`` names, once (``triagebot.tracker_move``)."""
    from triagebot.services import open_store  # noqa: PLC0415 - dry-run commands skip its imports
    from triagebot.tracker_move import move_defects  # noqa: PLC0415
    from triagebot.trackers import configured  # noqa: PLC0415
    from triagebot.trackers.base import TrackerContext  # noqa: PLC0415

    target = configured(config.tracker, config.base_dir, args.to)
    store = open_store(config)
    try:
        store.migrate()
        tracker = target.build(TrackerContext(store=store, clock=store.clock))
        moves = move_defects(store, tracker, target.name, dry_run=args.dry_run)
    finally:
        store.close()
    for move in moves:
        if move.new_key is None:
            outcome = "resolved: not filed again (a regression files it anew)"
        else:
            outcome = f"-> {move.new_key}" + (" (created)" if move.created else "")
        print(f"{move.old_key:<12} {outcome}  {move.title}")
    verb = "would move" if args.dry_run else "moved"
    print(f"{verb} {len(moves)} issues to {target.describe()}")
    if not args.dry_run and config.tracker.kind != target.name:
        print(f'now set [tracker] kind = "{target.name}" in the config')
    return 0


def cmd_regroup(args: argparse.Namespace, config: Config) -> int:
    """Join the defects the configured signature version shows to be one bug
    (``triagebot.regroup``); the service does it when it starts, this shows it beforehand."""
    from triagebot.identity import reference  # noqa: PLC0415 - dry-run commands skip its imports
    from triagebot.pipeline import Pipeline  # noqa: PLC0415
    from triagebot.regroup import regroup  # noqa: PLC0415
    from triagebot.services import open_store  # noqa: PLC0415

    pipeline = Pipeline.from_config(config)
    store = open_store(config)
    try:
        store.migrate()
        done = regroup(store, pipeline, dry_run=args.dry_run)
    finally:
        store.close()
    for join in done.joins:
        joined = ", ".join(reference(d) for d in join.joined)
        print(f"{reference(join.survivor):<8} {join.version} {join.signature}  <- {joined}")
    for defect_id in done.traceless:
        print(f"{reference(defect_id):<8} its sample trace is no trace any more: left as it is")
    verb = "would join" if args.dry_run else "joined"
    count = sum(len(j.joined) for j in done.joins)
    print(f"signed {done.signed} defects with {pipeline.signer.version.version}; {verb} {count}")
    return 0


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    """What an operator checks first: intake, defects, the outbox's backlog and digests."""
    from triagebot.services import open_store  # noqa: PLC0415 - dry-run commands skip its imports
    from triagebot.smtp import mail_problem  # noqa: PLC0415

    store = open_store(config)
    try:
        store.migrate()
        status = store.status(system_clock())
    finally:
        store.close()
    problem = mail_problem(config)
    status["mail"] = {"enabled": problem is None, "reason": problem[1] if problem else None}
    print(json.dumps(status, ensure_ascii=False) if args.json else _render_status(status))
    return 0


def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    """Bring the store's schema up to this release's (``--dry-run``: list what that takes),
    without starting the service: an upgrade can be done, and checked, before it."""
    from triagebot.services import open_store  # noqa: PLC0415 - dry-run commands skip its imports
    from triagebot.store.migrate import head  # noqa: PLC0415

    store = open_store(config)
    try:
        todo = store.pending_migrations()
        if todo and not args.dry_run:
            store.migrate()
        where = store.engine.url.render_as_string(hide_password=True)
    finally:
        store.close()
    for migration in todo:
        print(f"{migration.revision}  {migration.description}")
    if not todo:
        print(f"{where}: schema is up to date ({head()})")
    elif args.dry_run:
        print(f"{where}: {len(todo)} migrations to apply (to {head()}); nothing changed")
    else:
        print(f"{where}: applied {len(todo)} migrations; schema now {head()}")
    return 0


def cmd_outbox_retry(args: argparse.Namespace, config: Config) -> int:
    """Queue failed effects again after the cause was fixed (a tracker field, a mail setting)."""
    from triagebot.services import open_store  # noqa: PLC0415 - dry-run commands skip its imports

    if args.all == bool(args.ids):
        print("outbox retry: name effect ids (see triagebot status) or --all", file=sys.stderr)
        return 2
    store = open_store(config)
    try:
        store.migrate()
        queued = store.retry_failed(None if args.all else args.ids)
    finally:
        store.close()
    missing = sorted(set(args.ids) - set(queued))
    print(f"queued {len(queued)} effects again" + (f": {_ids(queued)}" if queued else ""))
    if missing:
        print(f"not queued (not failed, or superseded by a pending one): {_ids(missing)}")
    return 0


def _ids(ids: Sequence[int]) -> str:
    return ", ".join(map(str, ids))


def _render_status(status: dict[str, Any]) -> str:
    msgs, box = status["messages"], status["outbox"]
    lines = [f"messages  {msgs['total']} recorded, {msgs['last_24h']} in the last 24 h"]
    lines += [
        f"  {m['kind']:<13} {m['action'] or '-':<10} {m['count']:>8} {m['last_24h']:>8} (24 h)"
        for m in msgs["by_kind"]
    ]
    lines.append("defects   " + _counts(status["defects"]))
    lines.append(f"outbox    pending: {_counts(box['pending'])}; failed: {_counts(box['failed'])}")
    if box["oldest_pending"]:
        lines.append(f"  oldest pending since {box['oldest_pending']}")
    lines += [
        f"  retrying #{r['id']} {r['kind']} defect {r['defect']} at {r['next']}"
        f" after {r['attempts']}: {r['error']}"
        for r in box["retrying"]
    ]
    lines += [
        f"  failed #{f['id']} {f['kind']} defect {f['defect']} after {f['attempts']}: {f['error']}"
        for f in box["failed_errors"]
    ]
    if box["failed_errors"]:
        lines.append("  (triagebot outbox retry ID... | --all: queue them again once fixed)")
    mail = status.get("mail")
    if mail and not mail["enabled"]:
        waiting = box["pending"].get("notify", 0)
        lines.append(f"mail      disabled: {mail['reason']} ({waiting} mails wait for it)")
    intake = status.get("intake")
    if intake:
        lines.append(
            f"intake    led by {intake['leader']} (token {intake['token']}) since"
            f" {intake['since']}, renewed {intake['renewed']}"
        )
    lines += [
        f"  replica {r['holder']}{' (leads)' if r['leads'] else ''}: started {r['started']},"
        f" seen {r['seen']}"
        for r in status.get("replicas", [])
    ]
    lines += [
        f"job       {j['job']}: held by {j['holder']} (token {j['token']}) since {j['since']},"
        f" renewed {j['renewed']}"
        if j["holder"]
        else f"job       {j['job']}: last run finished {j['renewed']} (token {j['token']})"
        for j in status.get("jobs", [])
    ]
    if status.get("reminders_claimed"):
        lines.append(f"reminders {status['reminders_claimed']} claimed for sending")
    lines += [
        f"digest    {d['digest']}: {d['state']} up to {d['period_end']}"
        + (f" ({d['error']})" if d["error"] else "")
        for d in status["digests"]
    ] or ["digest    no run yet"]
    return "\n".join(lines + _render_bounces(status["bounces"]))


def _render_bounces(bounces: dict[str, Any]) -> list[str]:
    """Mail triagebot sent that a later server returned: what, to whom, when, the answer."""
    lines = [f"bounces   {bounces['count']} in the last {bounces['days']} days (times UTC)"]
    for b in bounces["recent"]:
        if b["digest"]:
            what = f"digest {b['digest']}"
        elif b["defect"] is not None:
            what = f"{b['kind']} {reference(b['defect'])}"
        else:
            what = f"mail {b['message_id']}"
        sent = f", sent {_minute(b['sent_at'])}" if b["sent_at"] else ""
        lines.append(
            f"  {_minute(b['at'])} {what} to {b['recipient']}{sent}:"
            f" {b['status'] or '-'} {b['diagnostic'] or '(no answer given)'}"
        )
    return lines


def _minute(iso: str) -> str:
    """``2026-12-01T09:12:05+00:00`` → ``2026-12-01 09:12`` (UTC, as the store keeps it)."""
    return iso[:16].replace("T", " ")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "none"


def cmd_rules_explain(args: argparse.Namespace, config: Config) -> int:
    """Which rules matched each mail, which did not, and why."""
    pipeline = Pipeline.from_config(config)
    for name, raw in iter_paths(args.paths):
        outcome = pipeline.process(raw)
        print(f"== {name}")
        if outcome.signature is None:
            print(f"not an error report ({outcome.report.kind}): no rules apply\n")
            continue
        decision = pipeline.rules.evaluate(outcome.report, outcome.signature, explain=True)
        print(f"signature {outcome.signature.value}  {outcome.signature.title}")
        for hit in decision.hits:
            print(f"  match    {hit.rule}: {hit.condition}")
        for miss in decision.misses:
            print(f"  no match {miss.rule}: {miss.condition}")
        print(f"decision  {decision.action} (rule {decision.rule}) {decision.fields.as_dict()}\n")
    return 0


def cmd_check_config(args: argparse.Namespace, config: Config) -> int:
    """Connect to every configured service; print each feature as enabled or disabled."""
    from triagebot.checks import run_checks  # noqa: PLC0415 - dry-run commands skip its imports

    checks = run_checks(config, send_test=args.send_test)
    for check in checks:
        print(f"{check.feature:<10} {check.status:<9} {check.detail}")
    return 1 if any(c.status == "error" for c in checks) else 0


def cmd_digest(args: argparse.Namespace, config: Config) -> int:
    """Preview a digest (nothing claimed or sent) or send it now."""
    from triagebot.digest import DigestRunner  # noqa: PLC0415 - dry-run commands skip its imports
    from triagebot.scheduler import DigestScheduler  # noqa: PLC0415
    from triagebot.services import open_store  # noqa: PLC0415
    from triagebot.smtp import mail_enabled  # noqa: PLC0415

    mailer = mail_enabled(config) if args.send_now else None
    if args.send_now and mailer is None:
        print("triagebot: mail is disabled, nothing sent (see check-config)", file=sys.stderr)
        return 1
    store = open_store(config)
    try:
        store.migrate()
        scheduler = DigestScheduler(DigestRunner(config, store, mailer))
        if args.send_now:
            result = scheduler.send_now(args.name)
            print(f"{result.digest}: {result.status} {result.error}".rstrip())
            return 0 if result.status in ("sent", "empty", "covered") else 1
        rendered = scheduler.preview(args.name)
    finally:
        store.close()
    if args.out is None:
        print(rendered.html if args.html else f"Subject: {rendered.subject}\n\n{rendered.text}")
        return 0
    written = rendered.write(args.out, args.name)
    print(f"{rendered.subject}\nwritten to {', '.join(str(p) for p in written)}")
    return 0


CONFIG_HELP = "config file (default: $TRIAGEBOT_CONFIG, else the embedded defaults)"


class _CommandParser(argparse.ArgumentParser):
    """A sub-command's parser (nested ones too): ``-c`` may also follow the sub-command
    (``triagebot run --once -c prod.toml``); not given there, the one before it stays."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("-c", "--config", default=argparse.SUPPRESS, help=CONFIG_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triagebot", description=__doc__)
    parser.add_argument("-c", "--config", help=CONFIG_HELP)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.set_defaults(tracker=False, secrets=True)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_CommandParser)

    p = sub.add_parser("replay", help="dry-run mails through the pipeline")
    p.add_argument("--dry-run", action="store_true", help="write nothing (required)")
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes for large inputs (default: one per CPU)",
    )
    p.add_argument("paths", nargs="+", help=".eml files, Maildir folders, mbox files")
    p.set_defaults(func=cmd_replay, secrets=False)

    p = sub.add_parser("run", help="run the service")
    p.add_argument("--once", action="store_true", help="process what is waiting, then exit")
    p.set_defaults(func=cmd_run, tracker=True)

    p = sub.add_parser("trace", help="what happened to one mail")
    p.add_argument("mail", help="the mail's Message-ID, or the mail as a file")
    p.add_argument("--json", action="store_true", help="one JSON object per recorded mail")
    p.set_defaults(func=cmd_trace, secrets=False)

    p = sub.add_parser("deliver", help="put mail files into the Maildir inbox safely")
    p.add_argument("--maildir", type=Path, help="this Maildir (default: [mailbox].path)")
    p.add_argument("files", nargs="+", type=Path, help="mail files (.eml)")
    p.set_defaults(func=cmd_deliver)

    p = sub.add_parser("defects", help="list defects and candidates")
    p.add_argument("--json", action="store_true", help="one JSON object per defect")
    p.add_argument(
        "--state",
        action="append",
        choices=[state.value for state in DefectState],
        help="only defects in this state (repeat for several)",
    )
    p.add_argument("--since", type=_since, help="only defects seen since DATE[THH:MM] (UTC)")
    p.set_defaults(func=cmd_defects, secrets=False)
    moving = p.add_subparsers(dest="action")
    m = moving.add_parser("move", help="file the open defects in another tracker kind, once")
    m.add_argument("--to", required=True, metavar="KIND", help="a kind with a [tracker.KIND]")
    m.add_argument("--dry-run", action="store_true", help="list what would move; change nothing")
    m.set_defaults(func=cmd_defects_move, tracker=True, secrets=True)

    p = sub.add_parser("regroup", help="join defects the signature version shows to be one bug")
    p.add_argument("--dry-run", action="store_true", help="list the joins; change nothing")
    p.set_defaults(func=cmd_regroup, secrets=False)

    p = sub.add_parser("status", help="messages, defects, outbox backlog and digests at a glance")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_status, secrets=False)

    p = sub.add_parser("migrate", help="upgrade the store's schema without starting the service")
    p.add_argument("--dry-run", action="store_true", help="list the migrations; change nothing")
    p.set_defaults(func=cmd_migrate, secrets=False)

    p = sub.add_parser("quarantine", help="mails set aside: list, show one, put back")
    kept = p.add_subparsers(dest="action", required=True)
    q = kept.add_parser("list", help="every quarantined mail with its reason")
    q.add_argument("--json", action="store_true", help="one JSON object per mail")
    q.set_defaults(func=cmd_quarantine)
    q = kept.add_parser("show", help="one quarantined mail's reason and analysis")
    q.add_argument("id", help="its id (quarantine list)")
    q.set_defaults(func=cmd_quarantine)
    q = kept.add_parser("retry", help="put mails back into the inbox after a fix")
    q.add_argument("ids", nargs="*", metavar="ID", help="mail ids (quarantine list)")
    q.add_argument("--all", action="store_true", help="every quarantined mail")
    q.set_defaults(func=cmd_quarantine)

    p = sub.add_parser("outbox", help="the effects waiting for the tracker or for mail")
    boxed = p.add_subparsers(dest="action", required=True)
    r = boxed.add_parser("retry", help="queue failed effects again once their cause is fixed")
    r.add_argument("ids", nargs="*", type=int, metavar="ID", help="effect ids (triagebot status)")
    r.add_argument("--all", action="store_true", help="every failed effect")
    r.set_defaults(func=cmd_outbox_retry)

    p = sub.add_parser("check-config", help="validate the config and connect to each service")
    p.add_argument("--send-test", metavar="ADDRESS", help="also send one test mail to ADDRESS")
    p.set_defaults(func=cmd_check_config, tracker=True)

    p = sub.add_parser("digest", help="preview a digest, or send it now")
    p.add_argument("name", help="the [[digest]] name")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--preview", action="store_true", help="render only; nothing is sent")
    mode.add_argument("--send-now", action="store_true", help="send the period up to now")
    p.add_argument("--out", type=Path, help="preview: write NAME.txt/.html/.csv and charts here")
    p.add_argument("--html", action="store_true", help="preview to stdout: the HTML part")
    p.set_defaults(func=cmd_digest, tracker=True)

    rules = sub.add_parser("rules", help="triage rules").add_subparsers(dest="rules", required=True)
    p = rules.add_parser("explain", help="show which rules match mails and why")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_rules_explain, secrets=False)

    p = sub.add_parser("explain", help="explain classification and signature of mails")
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_explain, secrets=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config, secrets = _load(args)
    except TriagebotError as exc:
        logs.configure()
        logs.error_once("config.invalid", f"triagebot: configuration error: {exc}", error=str(exc))
        return 2
    logs.configure(config.logging.level, config.logging.format, secrets)
    for warning in config.warnings:
        log.warning("config.deprecated", detail=warning)
    missing = [path for path in getattr(args, "paths", ()) if not os.path.exists(path)]
    if missing:  # replay, explain, rules explain: before any output, not mid-way
        text = f"triagebot: no such file or folder: {', '.join(missing)}"
        logs.error_once("input.missing", text, error=text.removeprefix("triagebot: "))
        return 2
    func: Command = args.func
    try:
        return func(args, config)
    except BrokenPipeError:  # stdout closed early (| head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except TriagebotError as exc:
        logs.error_once("command.failed", f"triagebot: {exc}", command=args.command, error=str(exc))
        return 1


def _secrets(config: Any) -> list[str]:
    """Every secret value in the config's sections (or in one settings object), so the log
    redactor can mask it anywhere."""
    found: list[str] = []
    for section in [config, *_fields_of(config)]:
        for value in _fields_of(section):
            reveal = getattr(value, "reveal", None)
            if callable(reveal):
                found.append(str(reveal()))
    return found


def _fields_of(obj: Any) -> list[Any]:
    slots = getattr(obj, "__slots__", ())
    return [getattr(obj, name) for name in slots if hasattr(obj, name)]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
