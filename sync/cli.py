"""`capi-sync`: run the sync, show its status, handle dead letters, run the local emulator.

The parser (its epilog lists the exit codes, sync/errors.py) and the dispatch to sync/cli_commands.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

from sync.cli_commands import (cmd_dead_letter, cmd_quality, cmd_report, cmd_run, cmd_run_all, cmd_status,
                               cmd_status_all)
from sync.cli_output import setup_logging
from sync.config import DEFAULT_CONFIG_PATH
from sync.errors import EXIT_INTERNAL, SyncError
from sync.syncs import SyncEntry, load_syncs, select
from sync.redact import Redactor


def _dispatch(args, entries: list[SyncEntry]) -> int:
    if args.command == "run":
        chosen = select(entries, args.sync, args.all, args.config, "run")
        return cmd_run_all(args, chosen) if args.all else cmd_run(args, chosen[0].checked_config())
    if args.command == "status":
        chosen = select(entries, args.sync, True, args.config, "status")
        if len(entries) == 1 or args.sync:
            return cmd_status(args, chosen[0].checked_config())
        return cmd_status_all(args, chosen)
    chosen = select(entries, args.sync, False, args.config, args.command)
    commands = {"dead-letter": cmd_dead_letter, "report": cmd_report, "quality": cmd_quality}
    return commands[args.command](args, chosen[0].checked_config())


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


def _command(sub, name: str, help_text: str, json_help: str = "print a machine-readable summary on stdout"):
    """The subcommand's parser, with the options every command has."""
    p = sub.add_parser(name, help=help_text)
    p.add_argument("--config", default=DEFAULT_CONFIG_PATH, help=f"config file (default {DEFAULT_CONFIG_PATH})")
    p.add_argument("--sync", default=None, metavar="NAME", help="the sync of that name (a file with `syncs:`)")
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="capi-sync", description=__doc__.split("\n\n")[0],
                     epilog="Exit codes: 0 ok, 1 internal error, 2 config/input error, "
                            "3 destination refused, 4 retries exhausted, 5 locked/busy, "
                            "6 source/view problem, 7 rejected share above "
                            "destination.max_rejected_share, 130/143 stopped by SIGINT/SIGTERM.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p_run = _command(sub, "run", "send what is new since the watermark")
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

    p_status = _command(sub, "status", "show the watermark, last runs and dead-letter count",
                        "print the status as JSON")
    p_status.add_argument("--limit", type=_count, default=5, help="how many runs to show (default 5)")

    p_dead = _command(sub, "dead-letter", "list or retry events the API or the checks refused")
    p_dead.add_argument("action", choices=("list", "retry"))
    p_dead.add_argument("--event-id", action="append", dest="event_ids", default=[], metavar="ID",
                        help="only this event id (repeatable)")
    p_dead.add_argument("--all", action="store_true", help="list: include resolved dead letters")
    p_dead.add_argument("--limit", type=_count, default=None, help="list: at most N")

    p_report = _command(sub, "report", "what reached Meta: charts in one HTML file, or the figures as JSON",
                        "print the report's figures as JSON (the page is written only with --output)")
    p_report.add_argument("--output", default=None,
                          help="the HTML file to write (default data/capi-sync-report.html; with --json: none)")
    p_report.add_argument("--since", default=None, metavar="DATE",
                          help="start of the period, YYYY-MM-DD or YYYY-MM-DDTHH:MM UTC (default: 30 days ago)")

    p_quality = _command(sub, "quality", "ask Meta's Dataset Quality API about the dataset's offline events; "
                                         "store the answer", "print the stored rows as JSON")
    p_quality.add_argument("--agent-name", default=None, metavar="NAME",
                           help="only events sent with this partner agent (default: from destination.partner_agent)")

    from sync.emulator import cli as emulator_cli
    emulator_cli.add_arguments(sub.add_parser("emulator", help="run the local Conversions API emulator"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "emulator":
        from sync.emulator import cli as emulator_cli
        return emulator_cli.run(args)
    redactor = Redactor()
    setup_logging(redactor, getattr(args, "verbose", False))
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
