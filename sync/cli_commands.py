"""The commands of `capi-sync` (run, status, dead-letter list/retry, report, quality): each takes
the parsed arguments and a sync's config and returns the exit code (sync/cli.py)."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading

from sync.cli_output import human_summary, print_json, progress, show_time
from sync.config import SyncConfig
from sync.errors import EXIT_CONFIG, InputError, SyncError
from sync.syncs import SyncEntry, worst_exit_code
from sync.runner import RunSummary, SyncRun
from sync.stop_signals import graceful_stop


def _check_output(args) -> None:
    """`--output` only with `--dry-run`, naming a file whose folder can hold it."""
    if args.output is None:
        return
    if not args.dry_run:
        raise InputError("--output is the dry run's file; add --dry-run (a real run writes no file)")
    if os.path.isdir(args.output):
        raise InputError(f"--output: {args.output} is a folder; name a file, e.g. {os.path.join(args.output, 'dry-run.jsonl')}")
    existing = os.path.dirname(os.path.abspath(args.output))
    while not os.path.isdir(existing):
        if os.path.exists(existing):
            raise InputError(f"--output: {existing} is not a folder")
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK) or os.path.exists(args.output) and not os.access(args.output, os.W_OK):
        raise InputError(f"--output: cannot write {args.output} (permission denied)")


def cmd_run(args, config: SyncConfig) -> int:
    _check_output(args)
    if args.metrics_file:
        from sync.metrics import check_metrics_file
        check_metrics_file(args.metrics_file)
    return _run(args, config, SyncRun.run, dry_run=args.dry_run, output=args.output,
                full_refresh=args.full_refresh)


def _run(args, config: SyncConfig, call, **options) -> int:
    """`call(run)` on a SyncRun of the sync (SIGINT/SIGTERM stop it gracefully), then its summary
    and exit code. After such a stop, threads of requests still in flight are not waited for
    (they only wait for an answer nobody records)."""
    os.umask(0o077)
    run = SyncRun(config, config_file=args.config, progress=progress(), **options)
    with graceful_stop(run.request_stop):
        summary = call(run)
    args.last_summary = summary.to_dict()
    (sys.stderr if args.json else sys.stdout).write(human_summary(summary) + "\n")
    if args.json and not (args.command == "run" and args.all):   # run --all: one JSON for all its syncs
        print_json(args.last_summary)
    if summary.error or summary.alert:
        sys.stderr.write(f"capi-sync: error: {summary.error or summary.alert}\n")
    code = _publish_metrics(args, summary) if hasattr(args, "otlp_endpoint") else summary.exit_code   # `run` only
    if summary.status == "interrupted" and any(t.is_alive() and not t.daemon for t in threading.enumerate()
                                               if t is not threading.main_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    return code


def _publish_metrics(args, summary: RunSummary) -> int:
    """--metrics-file and OTLP: the run's gauges. A failure here is one line; a run that
    succeeded then exits 2 (its events are sent and recorded all the same)."""
    from sync.metrics import export_otlp, otlp_endpoint, prometheus_text, run_gauges, write_textfile
    endpoint = otlp_endpoint(args.otlp_endpoint)
    if not (args.metrics_file or endpoint):
        return summary.exit_code
    gauges = run_gauges(summary)
    # run --all: the file keeps the gauges of the syncs run before this one (labelled by sync).
    args.gauges_written = [*getattr(args, "gauges_written", []), *gauges]
    try:
        if args.metrics_file:
            write_textfile(args.metrics_file, prometheus_text(args.gauges_written))
        if endpoint:
            export_otlp(gauges, endpoint)
    except OSError as exc:
        sys.stderr.write(f"capi-sync: error: --metrics-file: {args.metrics_file}: {exc.strerror}\n")
        return summary.exit_code or EXIT_CONFIG
    except SyncError as exc:
        sys.stderr.write(f"capi-sync: error: {exc}\n")
        return summary.exit_code or exc.exit_code
    return summary.exit_code


def _each(args, entries: list[SyncEntry], command) -> tuple[int, list[dict]]:
    """`command(args, config)` for each sync in turn; a failing sync does not stop the next, an
    interrupt does. Returns the worst exit code and, per sync, its name and exit code."""
    results = []
    for entry in entries:
        try:
            code = command(args, entry.checked_config())
        except SyncError as exc:
            sys.stderr.write(f"capi-sync: error: {args.redactor(str(exc))}\n")
            code = exc.exit_code
        results.append({"sync_name": entry.name, "exit_code": code})
        if code == 130:
            break
    return worst_exit_code([r["exit_code"] for r in results]), results


def cmd_run_all(args, entries: list[SyncEntry]) -> int:
    """`run --all`: every sync in turn; the exit code is the worst of theirs."""
    summaries: dict[str, dict] = {}

    def run_one(args, config: SyncConfig) -> int:
        code = cmd_run(args, config)
        summaries[config.name] = args.last_summary
        return code

    code, results = _each(args, entries, run_one)
    sys.stderr.write(f"capi-sync: {len(results)} of {len(entries)} syncs run: "
                     + ", ".join(f"{r['sync_name']} exit {r['exit_code']}" for r in results)
                     + f"; exit code {code}\n")
    if args.json:
        print_json({"exit_code": code, "syncs": [
            {**r, "summary": summaries.get(r["sync_name"])} for r in results]})
    return code


@contextlib.contextmanager
def _state(config: SyncConfig, read_only: bool = True):
    """(source, state store) of the sync, both closed after."""
    from sync.sources import open_source
    from sync.state import open_state
    with contextlib.closing(open_source(config, read_only=read_only)) as source:
        with contextlib.closing(open_state(config, source)) as state:
            yield source, state


def cmd_status(args, config: SyncConfig, collect: list | None = None) -> int:
    """The status of one sync; with `collect` (several syncs, --json) its payload is
    appended there instead of printed."""
    with _state(config) as (source, state):
        if not state.tables_exist():
            payload = {"sync_name": config.name, "watermark": None, "runs": [], "dead_letters": 0}
        else:
            payload = {"sync_name": config.name, "watermark": state.read_watermark(),
                       "runs": state.last_runs(args.limit), "dead_letters": state.dead_letter_count()}
    if args.json:
        if collect is None:
            print_json(payload)
        else:
            collect.append(payload)
        return 0
    out = [f"sync '{config.name}'", f"  source:       {source.description}",
           f"  watermark:    {show_time(payload['watermark'])} ({config.cursor.column})",
           f"  dead letters: {payload['dead_letters']} unresolved"]
    if not payload["runs"]:
        out.append("  no runs yet")
    else:
        out.append("  last runs:")
        for r in payload["runs"]:
            skipped = sum(r["skipped"].values())
            out.append(f"    {r['run_id']}  {r['status']:<9} {str(r['started_at'])[:19]}  "
                       f"sent {r['events_sent']}  batches {r['batches_sent']}  skipped {skipped}  "
                       f"dead-lettered {r['dead_lettered']}  watermark {r['watermark_before']} -> "
                       f"{r['watermark_after']}" + (f"  error: {r['error']}" if r["error"] else ""))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def cmd_status_all(args, entries: list[SyncEntry]) -> int:
    """`status` of a file with several syncs: each in turn (JSON: a list)."""
    payloads: list[dict] = []
    code, _ = _each(args, entries, lambda args, config: cmd_status(args, config, payloads))
    if args.json:
        print_json(payloads)
    return code


def cmd_dead_letter(args, config: SyncConfig) -> int:
    if args.action == "retry":
        return _run(args, config, lambda run: run.retry_dead_letters(args.event_ids or None))
    with _state(config) as (_, state):
        letters = state.dead_letters(event_ids=args.event_ids or None, include_resolved=args.all,
                                     limit=args.limit) if state.tables_exist() else []
    if args.json:
        print_json(letters)
        return 0
    if not letters:
        sys.stdout.write("no dead letters\n")
        return 0
    for d in letters:
        code = f" code {d['code']}/{d['error_subcode']}" if d["code"] is not None else ""
        trace = f" fbtrace_id {d['fbtrace_id']}" if d["fbtrace_id"] else ""
        resolved = f" resolved {str(d['resolved_at'])[:19]}" if d["resolved_at"] else ""
        sys.stdout.write(f"{d['event_id']}  order {d['order_id']}  event_time {d['event_time']}  "
                         f"{d['stage']}/{d['reason']}{code}{trace}  {d['message']}  "
                         f"(run {d['run_id']}){resolved}\n")
    return 0


def cmd_report(args, config: SyncConfig) -> int:
    from sync.report.figures import parse_since, report_figures
    from sync.report.page import DEFAULT_OUTPUT, write_page
    from sync.state import utcnow
    now = utcnow()
    since = parse_since(args.since, now)
    with _state(config) as (source, state):   # read-only: a run may be going on
        if not state.tables_exist():
            raise InputError(f"sync '{config.name}' has no state tables yet ({source.description}): "
                             "run `capi-sync run` first")
        figures = report_figures(state.history, config.name, since, now)
    output = args.output or (None if args.json else DEFAULT_OUTPUT)
    if output:
        write_page(figures, output)
    if args.json:
        print_json(figures)
    if output:
        (sys.stderr if args.json else sys.stdout).write(f"report written to {output}\n")
    return 0


def cmd_quality(args, config: SyncConfig) -> int:
    from sync.quality import agent_name, fetch_quality, quality_rows
    from sync.state import utcnow
    destination = config.destination
    agent = args.agent_name if args.agent_name is not None else agent_name(destination.partner_agent)
    answer = fetch_quality(destination, agent or None)
    rows = quality_rows(answer, destination.dataset_id, destination.api_version, agent or None, utcnow())
    with _state(config, read_only=False) as (_, state):
        state.ensure_tables()
        state.record_quality(rows)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        sys.stdout.write(f"dataset {destination.dataset_id}: no offline events in Meta's answer (stored)\n")
    for r in rows:
        sys.stdout.write(f"dataset {destination.dataset_id} {r['event_name']}: composite {r['composite_score']}, "
                         f"match key {r['match_key_score']} (email {r['email_coverage']}%, phone "
                         f"{r['phone_coverage']}%), frequency {r['frequency_score']}, freshness "
                         f"{r['freshness_score']} (out of 10; stored in dataset_quality)\n")
    return 0
