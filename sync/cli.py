"""`capi-sync`: run the sync, show its status, handle dead letters, run the local emulator.

Exit codes: 0 ok, 1 internal error, 2 config or input error, 3 destination refused
permanently, 4 retries exhausted, 5 another run holds the lock (or the DuckDB file is
busy), 6 source or view problem, 7 the API rejected more than destination.max_rejected_share
of the events, 130 / 143 stopped by SIGINT / SIGTERM (sync/stop_signals.py).
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import threading
import time
import traceback

import orjson

from sync.config import DEFAULT_CONFIG_PATH, SyncConfig
from sync.errors import EXIT_CONFIG, EXIT_INTERNAL, InputError, SyncError
from sync.syncs import SyncEntry, load_syncs, select, worst_exit_code
from sync.redact import Redactor, RedactingFilter
from sync.runner import Progress, RunSummary, SyncRun
from sync.stop_signals import graceful_stop

log = logging.getLogger("capi_sync")


# --- output ---------------------------------------------------------------------------------


def _setup_logging(redactor: Redactor, verbose: bool = False) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s capi-sync %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_capi_sync", False):
            root.removeHandler(old)
    handler._capi_sync = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "httpcore", "urllib3", "google"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


class TqdmProgress(Progress):
    """A progress bar on a terminal."""

    def __init__(self):
        self.bar = None

    def start(self, summary: RunSummary) -> None:
        from tqdm import tqdm
        self.bar = tqdm(desc="events sent" if not summary.dry_run else "events written", unit=" ev",
                        file=sys.stderr, dynamic_ncols=True, leave=False)

    def update(self, summary: RunSummary, events: int) -> None:
        if self.bar is not None:
            self.bar.update(events)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class LogProgress(Progress):
    """Plain log lines (not a terminal): one every few seconds."""

    def __init__(self, every_seconds: float = 5.0):
        self.every = every_seconds
        self.last = time.monotonic()

    def update(self, summary: RunSummary, events: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            done = summary.events_written if summary.dry_run else summary.events_sent
            log.info("progress: %d rows read, %d events %s in %d batches", summary.rows_read, done,
                     "written" if summary.dry_run else "sent", summary.batches_sent)


def _progress() -> Progress:
    return TqdmProgress() if sys.stderr.isatty() else LogProgress()


def _time(seconds: int | None) -> str:
    """A cursor value with its date; a value no date has (a watermark written in milliseconds
    by an earlier version) is shown as it is."""
    if seconds is None:
        return "none"
    try:
        return f"{seconds} ({dt.datetime.fromtimestamp(seconds, dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC)"
    except (OverflowError, OSError, ValueError):
        return f"{seconds} (not a date in unix seconds)"


def human_summary(summary: RunSummary) -> str:
    lines = []
    title = {"run": "dry run" if summary.dry_run else "run"}.get(summary.command, summary.command)
    lines.append(f"capi-sync {title} {summary.run_id} of '{summary.sync_name}': {summary.status} "
                 f"in {summary.seconds:.1f} s")
    lines.append(f"  rows read:        {summary.rows_read}")
    if summary.dry_run:
        lines.append(f"  events written:   {summary.events_written} in {summary.batches_sent} request bodies "
                     f"-> {summary.output} (nothing sent, state unchanged)")
    else:
        lines.append(f"  events sent:      {summary.events_sent} in {summary.batches_sent} batches "
                     f"({summary.requests} requests, {summary.retries} retries)")
    skipped_total = sum(summary.skipped.values())
    lines.append(f"  skipped:          {skipped_total}" + (
        " (" + ", ".join(f"{k}: {v}" for k, v in summary.skipped.items()) + ")" if skipped_total else ""))
    if summary.rejected_by_api:
        lines.append(f"  rejected by API:  {summary.rejected_by_api} ({summary.rejected_share:.1%} of the answered events)")
    if not summary.dry_run:
        lines.append(f"  dead-lettered:    {summary.dead_lettered}")
    if summary.failed:
        lines.append(f"  not sent (failed): {summary.failed}")
    if summary.command == "dead-letter retry":
        lines.append(f"  resolved:         {summary.resolved}")
        if summary.not_found:
            lines.append(f"  not in the view:  {len(summary.not_found)}")
    lines.append(f"  watermark:        {_time(summary.watermark_before)} -> {_time(summary.watermark_after)}")
    if summary.error:
        lines.append(f"  error:            {summary.error}")
    return "\n".join(lines)


def _print_json(payload) -> None:
    sys.stdout.write(orjson.dumps(payload, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


# --- commands ---------------------------------------------------------------------------------


def cmd_run(args, config: SyncConfig) -> int:
    _check_output(args)
    if args.metrics_file:
        from sync.metrics import check_metrics_file
        check_metrics_file(args.metrics_file)
    os.umask(0o077)
    run = SyncRun(config, dry_run=args.dry_run, output=args.output, full_refresh=args.full_refresh,
                  config_file=args.config, progress=_progress())
    with graceful_stop(run.request_stop):
        summary = run.run()
    return _finish(args, summary)


def _finish(args, summary: RunSummary) -> int:
    """Report the run; after a graceful stop that abandoned requests still in flight, end the
    process without waiting for their threads (they only wait for an answer nobody records)."""
    _report(args, summary, quiet_json=getattr(args, "all", False))
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
    from sync.metrics import otlp_endpoint
    endpoint = otlp_endpoint(args.otlp_endpoint)
    if not (args.metrics_file or endpoint):
        return summary.exit_code
    from sync.metrics import export_otlp, prometheus_text, run_gauges, write_textfile
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
    """`command(args, config)` for each sync in turn; a sync that fails (or whose config is
    wrong) does not stop the next; an interrupt does. Returns the worst exit code and, per
    sync, its name and exit code."""
    results = []
    for entry in entries:
        try:
            if entry.error is not None:
                raise entry.error
            code = command(args, entry.config)
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
        _print_json({"exit_code": code, "syncs": [
            {**r, "summary": summaries.get(r["sync_name"])} for r in results]})
    return code


def _report(args, summary: RunSummary, quiet_json: bool = False) -> None:
    text = human_summary(summary)
    args.last_summary = summary.to_dict()
    if args.json:
        sys.stderr.write(text + "\n")
        if not quiet_json:
            _print_json(args.last_summary)
    else:
        sys.stdout.write(text + "\n")
    if summary.error or summary.alert:
        sys.stderr.write(f"capi-sync: error: {summary.error or summary.alert}\n")


def _open_read_only(config: SyncConfig):
    from sync.sources import open_source
    from sync.state import open_state
    source = open_source(config, read_only=True)
    return source, open_state(config, source)


def cmd_status(args, config: SyncConfig, collect: list | None = None) -> int:
    """The status of one sync; with `collect` (several syncs, --json) its payload is
    appended there instead of printed."""
    source, state = _open_read_only(config)
    try:
        if not state.tables_exist():
            payload = {"sync_name": config.name, "watermark": None, "runs": [], "dead_letters": 0}
        else:
            payload = {"sync_name": config.name, "watermark": state.read_watermark(),
                       "runs": state.last_runs(args.limit), "dead_letters": state.dead_letter_count()}
    finally:
        state.close()
        source.close()
    if args.json:
        if collect is None:
            _print_json(payload)
        else:
            collect.append(payload)
        return 0
    out = [f"sync '{config.name}'", f"  source:       {source.description}",
           f"  watermark:    {_time(payload['watermark'])} ({config.cursor.column})",
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
        _print_json(payloads)
    return code


def _config(entry: SyncEntry) -> SyncConfig:
    if entry.error is not None:
        raise entry.error
    return entry.config


def _dispatch(args, entries: list[SyncEntry]) -> int:
    if args.command == "run":
        chosen = select(entries, args.sync, args.all, args.config, "run")
        return cmd_run_all(args, chosen) if args.all else cmd_run(args, _config(chosen[0]))
    if args.command == "status":
        chosen = select(entries, args.sync, True, args.config, "status")
        return cmd_status(args, _config(chosen[0])) if len(entries) == 1 or args.sync else cmd_status_all(args, chosen)
    chosen = select(entries, args.sync, False, args.config, args.command)
    commands = {"dead-letter": cmd_dead_letter, "report": cmd_report, "quality": cmd_quality}
    return commands[args.command](args, _config(chosen[0]))


def cmd_dead_letter(args, config: SyncConfig) -> int:
    if args.action == "retry":
        os.umask(0o077)
        run = SyncRun(config, config_file=args.config, progress=_progress())
        with graceful_stop(run.request_stop):
            summary = run.retry_dead_letters(args.event_ids or None)
        return _finish(args, summary)
    source, state = _open_read_only(config)
    try:
        letters = state.dead_letters(event_ids=args.event_ids or None, include_resolved=args.all,
                                     limit=args.limit) if state.tables_exist() else []
    finally:
        state.close()
        source.close()
    if args.json:
        _print_json(letters)
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
    from sync.report.command import DEFAULT_OUTPUT, collect, write_page
    figures = collect(config, args.since)
    output = args.output or (None if args.json else DEFAULT_OUTPUT)
    if output:
        write_page(figures, output)
    if args.json:
        _print_json(figures)
    if output:
        (sys.stderr if args.json else sys.stdout).write(f"report written to {output}\n")
    return 0


def cmd_quality(args, config: SyncConfig) -> int:
    from sync.quality import agent_name, fetch_quality, quality_rows
    from sync.sources import open_source
    from sync.state import open_state, utcnow
    destination = config.destination
    agent = args.agent_name if args.agent_name is not None else agent_name(destination.partner_agent)
    answer = fetch_quality(destination, agent or None)
    rows = quality_rows(answer, destination.dataset_id, destination.api_version, agent or None, utcnow())
    source = open_source(config, read_only=False)
    try:
        state = open_state(config, source)
        try:
            state.ensure_tables()
            state.record_quality(rows)
        finally:
            state.close()
    finally:
        source.close()
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        sys.stdout.write(f"dataset {destination.dataset_id}: no offline events in Meta's answer (stored)\n")
    for r in rows:
        sys.stdout.write(f"dataset {destination.dataset_id} {r['event_name']}: composite {r['composite_score']}, "
                         f"match key {r['match_key_score']} (email {r['email_coverage']}%, phone "
                         f"{r['phone_coverage']}%), frequency {r['frequency_score']}, freshness "
                         f"{r['freshness_score']} (out of 10; stored in dataset_quality)\n")
    return 0


def cmd_emulator(args) -> int:
    from sync.emulator import cli as emulator_cli
    return emulator_cli.run(args)


# --- parser -----------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """A command-line mistake is one line and exit 2 (argparse prints its usage first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _count(text: str) -> int:
    """A --limit: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value})")
    return value


def _check_output(args) -> None:
    """`--output` only with `--dry-run`, naming a file whose folder can hold it."""
    if args.output is None:
        return
    if not args.dry_run:
        raise InputError("--output is the dry run's file; add --dry-run (a real run writes no file)")
    if os.path.isdir(args.output):
        raise InputError(f"--output: {args.output} is a folder; name a file, e.g. {os.path.join(args.output, 'dry-run.jsonl')}")
    folder = os.path.dirname(os.path.abspath(args.output))
    existing = folder
    while not os.path.isdir(existing):
        if os.path.exists(existing):
            raise InputError(f"--output: {existing} is not a folder")
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK) or os.path.exists(args.output) and not os.access(args.output, os.W_OK):
        raise InputError(f"--output: cannot write {args.output} (permission denied)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="capi-sync", description=__doc__.split("\n\n")[0],
                                     epilog="Exit codes: 0 ok, 1 internal error, 2 config/input error, "
                                            "3 destination refused, 4 retries exhausted, 5 locked/busy, "
                                            "6 source/view problem, 7 rejected share above "
                                            "destination.max_rejected_share, 130/143 stopped by SIGINT/SIGTERM.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p, json_help="print a machine-readable summary on stdout"):
        p.add_argument("--config", default=DEFAULT_CONFIG_PATH, help=f"config file (default {DEFAULT_CONFIG_PATH})")
        p.add_argument("--sync", default=None, metavar="NAME", help="the sync of that name (a file with `syncs:`)")
        p.add_argument("--json", action="store_true", help=json_help)
        p.add_argument("--verbose", action="store_true", help="debug logging")

    p_run = sub.add_parser("run", help="send what is new since the watermark")
    common(p_run)
    p_run.add_argument("--dry-run", action="store_true",
                       help="build and check events, write the exact request bodies to a file; send nothing, change no state")
    p_run.add_argument("--output", default=None, help="dry-run output file (default data/capi-sync-dry-run.jsonl)")
    p_run.add_argument("--all", action="store_true",
                       help="run every sync of the file in turn; the exit code is the worst of theirs")
    p_run.add_argument("--full-refresh", action="store_true",
                       help="ignore the watermark and ledger: resend every eligible event (the API deduplicates by event_id)")
    p_run.add_argument("--metrics-file", default=None, metavar="PATH",
                       help="write the run's figures in Prometheus text format (node-exporter textfile collector)")
    p_run.add_argument("--otlp-endpoint", default=None, metavar="URL",
                       help="export the run's figures over OTLP/HTTP to this URL (default: OTEL_EXPORTER_OTLP_"
                            "METRICS_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/metrics, when set)")

    p_status = sub.add_parser("status", help="show the watermark, last runs and dead-letter count")
    common(p_status, "print the status as JSON")
    p_status.add_argument("--limit", type=_count, default=5, help="how many runs to show (default 5)")

    p_dead = sub.add_parser("dead-letter", help="list or retry events the API or the checks refused")
    p_dead.add_argument("action", choices=("list", "retry"))
    common(p_dead)
    p_dead.add_argument("--event-id", action="append", dest="event_ids", default=[], metavar="ID",
                        help="only this event id (repeatable)")
    p_dead.add_argument("--all", action="store_true", help="list: include resolved dead letters")
    p_dead.add_argument("--limit", type=_count, default=None, help="list: at most N")

    p_report = sub.add_parser("report", help="what reached Meta: charts in one HTML file, or the figures as JSON")
    common(p_report, "print the report's figures as JSON (the page is written only with --output)")
    p_report.add_argument("--output", default=None,
                          help="the HTML file to write (default data/capi-sync-report.html; with --json: none)")
    p_report.add_argument("--since", default=None, metavar="DATE",
                          help="start of the period, YYYY-MM-DD or YYYY-MM-DDTHH:MM UTC (default: 30 days ago)")

    p_quality = sub.add_parser("quality", help="ask Meta's Dataset Quality API about the dataset's offline events; "
                                                 "store the answer")
    common(p_quality, "print the stored rows as JSON")
    p_quality.add_argument("--agent-name", default=None, metavar="NAME",
                           help="only events sent with this partner agent (default: from destination.partner_agent)")

    p_emu = sub.add_parser("emulator", help="run the local Conversions API emulator")
    try:
        from sync.emulator import cli as emulator_cli
        emulator_cli.add_arguments(p_emu)
    except ImportError:  # pragma: no cover - the emulator package is part of the project
        pass
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "emulator":
        return cmd_emulator(args)
    redactor = Redactor()
    _setup_logging(redactor, getattr(args, "verbose", False))
    try:
        entries = load_syncs(args.config)
        redactor.secrets = Redactor([s for e in entries if e.config for s in e.config.secrets()]).secrets
        args.redactor = redactor
        return _dispatch(args, entries)
    except SyncError as exc:
        sys.stderr.write(f"capi-sync: error: {redactor(str(exc))}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("capi-sync: interrupted\n")
        return 130
    except Exception as exc:  # a bug: say so, without secrets
        sys.stderr.write(f"capi-sync: internal error: {type(exc).__name__}: {redactor(str(exc))}\n")
        if os.environ.get("CAPI_SYNC_DEBUG"):
            sys.stderr.write(redactor(traceback.format_exc()))
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
