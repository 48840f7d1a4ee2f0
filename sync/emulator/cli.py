"""`capi-sync emulator` / `python -m sync.emulator`: run the Conversions API emulator as a server.

Prints one line per request to /events (never the token or the query string) until
interrupted (Ctrl-C or SIGTERM).
"""
from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
import time

from .faults import FAULT_KINDS, GRAPH_ERROR_SPEC, Faults
from .server import DEFAULT_ACCESS_TOKEN, DEFAULT_PORT, KEEP_MODES, ConversionsApiEmulator, RequestRecord

ACCESS_TOKEN_ENV = "CAPI_EMULATOR_ACCESS_TOKEN"
APP_SECRET_ENV = "CAPI_EMULATOR_APP_SECRET"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number (got {text!r})") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535 (got {port})")
    return port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to `parser` (used by `capi-sync emulator`)."""
    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=_port, default=DEFAULT_PORT,
                        help=f"port to listen on; 0 picks a free one (default {DEFAULT_PORT})")
    server.add_argument("--access-token", default=None,
                        help=f"the token to accept (default ${ACCESS_TOKEN_ENV}, else {DEFAULT_ACCESS_TOKEN!r})")
    server.add_argument("--app-secret", default=None,
                        help=f"require appsecret_proof made with this secret (default ${APP_SECRET_ENV}, else none)")
    server.add_argument("--dataset-id", action="append", dest="dataset_ids", metavar="ID",
                        help="accept only these dataset ids (repeatable; default: any)")
    server.add_argument("--record", metavar="FILE", default=None,
                        help="append each accepted event to FILE as a JSON line")
    server.add_argument("--no-validation", action="store_true",
                        help="skip the event rules and only count events (benchmarks)")
    server.add_argument("--keep", choices=KEEP_MODES, default="events",
                        help="what to keep in memory of accepted events (default events; count for long benchmarks)")
    server.add_argument("--quiet", action="store_true", help="no line per request")
    server.add_argument("--clock-offset", type=float, default=0.0, metavar="SECONDS",
                        help="run the emulator's clock (the event_time rules) this many seconds ahead "
                             "(negative: behind)")
    faults = parser.add_argument_group("fault injection (per request to /events)")
    faults.add_argument("--latency-ms", type=float, default=0, help="answer N ms after the request body was read")
    faults.add_argument("--server-error-rate", type=float, default=0.0, help="probability of HTTP 500/503 (code 1/2)")
    faults.add_argument("--throttle-rate", type=float, default=0.0,
                        help="probability of a throttling error (code 4, 17, 32, 341, 613, 80003, 80004)")
    faults.add_argument("--drop-rate", type=float, default=0.0,
                        help="probability of closing the connection without answering")
    faults.add_argument("--drop-after-accept-rate", type=float, default=0.0,
                        help="probability of accepting the events, then closing without answering")
    faults.add_argument("--timeout-rate", type=float, default=0.0,
                        help="probability of answering nothing for --timeout-seconds")
    faults.add_argument("--timeout-seconds", type=float, default=10.0, help="how long a timeout fault stalls (default 10)")
    faults.add_argument("--seed", type=int, default=0, help="random seed of the faults (default 0)")
    faults.add_argument("--script", default="",
                        help=f"comma-separated faults for the first requests, e.g. ok,throttle:17,drop "
                             f"(kinds: {', '.join(FAULT_KINDS)}; graph_error:{GRAPH_ERROR_SPEC})")
    faults.add_argument("--graph-error", default=None, metavar="SPEC",
                        help=f"answer this Graph error, {GRAPH_ERROR_SPEC} (e.g. 10, 100:33, "
                             "9999:transient:http=503), with probability --graph-error-rate (default 1: every "
                             "request)")
    faults.add_argument("--graph-error-rate", type=float, default=None,
                        help="probability of answering --graph-error")
    faults.add_argument("--poison-event-id", action="append", dest="poison_event_ids", default=[], metavar="ID",
                        help="reject any request holding this event id as invalid (repeatable)")


def faults_from_args(args: argparse.Namespace) -> Faults:
    return Faults(
        latency_ms=args.latency_ms, server_error_rate=args.server_error_rate, throttle_rate=args.throttle_rate,
        drop_rate=args.drop_rate, drop_after_accept_rate=args.drop_after_accept_rate,
        timeout_rate=args.timeout_rate, timeout_seconds=args.timeout_seconds, seed=args.seed,
        script=[entry.strip() for entry in args.script.split(",") if entry.strip()],
        poison_event_ids=set(args.poison_event_ids or ()), graph_error=args.graph_error,
        graph_error_rate=(args.graph_error_rate if args.graph_error_rate is not None
                          else 1.0 if args.graph_error is not None else 0.0),
    )


def format_request(record: RequestRecord) -> str:
    """One log line for a request: no token, no query string."""
    stamp = time.strftime("%H:%M:%S", time.localtime(record.received_at))
    status = str(record.status) if record.status else "---"
    parts = [stamp, record.method, record.path, status, f"events={record.n_events}",
             f"accepted={record.n_accepted}"]
    if record.error_code is not None:
        code = f"{record.error_code}" + (f"/{record.error_subcode}" if record.error_subcode is not None else "")
        parts.append(f"error={code}")
    if record.fault:
        parts.append(f"fault={record.fault}")
    if record.had_token_in_url:
        parts.append("token-in-url")
    if record.fbtrace_id:
        parts.append(f"fbtrace_id={record.fbtrace_id}")
    parts.append(f"{record.duration_ms:.1f}ms")
    return " ".join(parts)


def _emulator(args: argparse.Namespace) -> ConversionsApiEmulator:
    """The emulator the options describe; ValueError names a bad option."""
    faults = faults_from_args(args)
    offset = args.clock_offset
    if offset != offset or abs(offset) > 10 * 365 * 86400:
        raise ValueError(f"--clock-offset must be seconds within 10 years, got {offset}")
    lock = threading.Lock()

    def log(record: RequestRecord) -> None:
        with lock:
            print(format_request(record), flush=True)

    return ConversionsApiEmulator(
        access_token=args.access_token or os.environ.get(ACCESS_TOKEN_ENV) or DEFAULT_ACCESS_TOKEN,
        app_secret=args.app_secret or os.environ.get(APP_SECRET_ENV) or None, dataset_ids=args.dataset_ids,
        validate=not args.no_validation, faults=faults, record_path=args.record,
        host=args.host, port=args.port, keep=args.keep, on_request=None if args.quiet else log,
        clock=(lambda: time.time() + offset) if offset else time.time,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 0 on a clean stop, 2 on bad options or a busy port."""
    try:
        emulator = _emulator(args)
    except ValueError as exc:
        print(f"capi-sync emulator: {exc}", file=sys.stderr)
        return 2
    # Startup's objects (most of the heap) are left out of the cyclic collector's walks, which
    # every parsed request would otherwise repeat over them (docs/emulator.md has the numbers).
    gc.freeze()
    if args.record is not None:
        try:
            emulator.open_record_file()
        except OSError as exc:
            print(f"capi-sync emulator: --record: cannot write {args.record}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    try:
        emulator.start()
    except OSError as exc:
        print(f"capi-sync emulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    offset = args.clock_offset
    token_note = ("custom token" if emulator.access_token != DEFAULT_ACCESS_TOKEN
                  else f"token {DEFAULT_ACCESS_TOKEN}")
    print(f"Conversions API emulator listening on {emulator.url} ({token_note}; "
          f"validation {'on' if emulator.validate else 'off'}"
          f"{f'; clock {offset:+g} s' if offset else ''}"
          f"{'; recording to ' + str(args.record) if args.record else ''})", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stats = emulator.stats()
        emulator.close()
    print(f"emulator stopped: {stats['requests']} requests, {stats['events_received']} events accepted", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sync.emulator",
                                     description="Local stand-in for the Conversions API /events edge.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
