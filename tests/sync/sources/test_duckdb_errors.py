"""How a DuckDB error of the source reads: its first line, and when DuckDB ran out of memory,
the two settings that decide how much memory a run needs."""
from __future__ import annotations

import duckdb

from sync.sources.duckdb import error_line

HINT = "(DuckDB ran out of memory: raise source.memory_limit, now {limit}, or lower source.chunk_size, now {size}; " \
       "docs/sync.md, Memory)"


def test_out_of_memory_names_both_settings():
    exc = duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate data of size 2.0 MiB (29.6 MiB/30.5 MiB used)")
    assert error_line(exc, "32MB", 10000) == (
        "Out of Memory Error: failed to allocate data of size 2.0 MiB (29.6 MiB/30.5 MiB used) "
        + HINT.format(limit="32MB", size=10000))


def test_a_commit_that_failed_for_memory_is_recognized_by_its_text():
    # DuckDB wraps it: a TransactionException whose text says the block could not be pinned.
    exc = duckdb.TransactionException("TransactionContext Error: Failed to commit: failed to pin block of size "
                                      "256.0 KiB (30.4 MiB/30.5 MiB used)\nmore detail")
    assert error_line(exc, None, 5000) == (
        "TransactionContext Error: Failed to commit: failed to pin block of size 256.0 KiB (30.4 MiB/30.5 MiB used) "
        + HINT.format(limit="DuckDB's default, 80% of RAM", size=5000))


def test_other_errors_are_their_first_line():
    exc = duckdb.CatalogException("Catalog Error: Table with name x does not exist!\nDid you mean y?")
    assert error_line(exc, "32MB", 10000) == "Catalog Error: Table with name x does not exist!"
    assert error_line(duckdb.Error(""), "32MB", 10000) == "Error"


def test_out_of_memory_on_a_view_points_to_the_table_not_the_page_size():
    exc = duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate data of size 16.0 MiB "
                                      "(481.2 MiB/488.2 MiB used)\n\nPossible solutions: ...")
    assert error_line(exc, "512MB", 10000, view=True) == (
        "Out of Memory Error: failed to allocate data of size 16.0 MiB (481.2 MiB/488.2 MiB used) "
        "(DuckDB ran out of memory: raise source.memory_limit, now 512MB; a view is evaluated whole at every read, "
        "so at millions of orders build offline_events as a table; docs/sync.md, Memory)")
