"""python -m sample_data: fill the source tables of a DuckDB file with generated sample data.

    python -m sample_data --duckdb-path data/warehouse.duckdb --customers 2000 --orders 6000 --days 60

Prints one summary line. Bad arguments: one line on stderr, exit code 2.
"""
from __future__ import annotations

import argparse
import os
import sys

import duckdb

from sample_data.generator import as_of_utc, generate
from sample_data.schema import DEFAULT_SOURCE_SCHEMA, quote_identifier

PROG = "python -m sample_data"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block)."""

    def error(self, message: str):  # type: ignore[override]
        raise _UsageError(message)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _as_of(text: str):
    try:
        return as_of_utc(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date-time: {text!r} (e.g. 2025-06-01T12:00:00Z)") from None


def _schema(text: str) -> str:
    try:
        quote_identifier(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a plain identifier: {text!r}") from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Write deterministic, realistic and messy sample data into the "
                                            "customer_360 and unified_itemized_transactions source tables.")
    parser.add_argument("--duckdb-path", default=os.environ.get("DUCKDB_PATH", "data/warehouse.duckdb"),
                        help="DuckDB file (default: $DUCKDB_PATH or data/warehouse.duckdb)")
    parser.add_argument("--customers", type=_count, required=True, help="customers to write")
    parser.add_argument("--orders", type=_count, required=True, help="orders to write (1-6 lines each)")
    parser.add_argument("--days", type=_count, required=True, help="spread orders over this many days")
    parser.add_argument("--seed", type=_count, default=42, help="random seed (default 42)")
    parser.add_argument("--schema", type=_schema, default=DEFAULT_SOURCE_SCHEMA,
                        help=f"source schema (default {DEFAULT_SOURCE_SCHEMA})")
    parser.add_argument("--as-of", type=_as_of, default=None,
                        help="orders end just before this ISO-8601 UTC time (default: now)")
    parser.add_argument("--append", action="store_true",
                        help="add to the existing tables instead of recreating them")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        counts = generate(args.duckdb_path, args.customers, args.orders, args.days, seed=args.seed,
                          schema=args.schema, as_of=args.as_of, append=args.append)
    except (_UsageError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (duckdb.Error, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{PROG}: error: {args.duckdb_path}: {first_line}", file=sys.stderr)
        return 1
    print(f"sample_data: wrote {counts['customer_360']:,} customer_360 rows and "
          f"{counts['unified_itemized_transactions']:,} unified_itemized_transactions rows "
          f"({counts['orders']:,} orders, as of {counts['as_of']}) to {args.schema} in {args.duckdb_path} in {counts['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
