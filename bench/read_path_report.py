"""The benchmark page's sections for the targets of issue 22 (one read path): the end-to-end
run on the dbt table against the last published run, and the BigQuery source's read against
the code before the single read path (`bench/bigquery_read.py`), both from the results file."""
from __future__ import annotations

from bench.report import NA, _get, _n, _ok, _table

WITHIN = 0.10   # end-to-end events/s and peak RSS within 10% of the last published run
BIGQUERY_FACTOR = 3.0


def published_rows(results: dict, before: dict | None) -> list[list[str]]:
    """Per size: events/s and peak RSS of the end-to-end run on the dbt table, now against `before`."""
    rows = []
    for key, size in results["sizes"].items():
        earlier = (before or {}).get("sizes", {}).get(key, {})
        now_eps, was_eps = _get(size, "e2e_table", "events_per_second"), _get(earlier, "e2e_table", "events_per_second")
        now_rss = _get(size, "e2e_table", "peak_rss_mib_max") or _get(size, "e2e_table", "peak_rss_mib")
        was_rss = _get(earlier, "e2e_table", "peak_rss_mib_max") or _get(earlier, "e2e_table", "peak_rss_mib")
        rows.append([f"{int(key):,}", "end to end, the dbt table: events/s (median run)", _n(was_eps), _n(now_eps),
                     _n(now_eps / was_eps * 100 if now_eps and was_eps else None, 1, "%"), ">= 90%",
                     _ok(now_eps, was_eps * (1 - WITHIN)) if was_eps else ""])
        rows.append([f"{int(key):,}", "end to end, the dbt table: peak RSS (highest run)", _n(was_rss, 0, " MiB"),
                     _n(now_rss, 0, " MiB"), _n(now_rss / was_rss * 100 if now_rss and was_rss else None, 1, "%"),
                     "<= 110%", _ok(now_rss, was_rss * (1 + WITHIN), higher_is_better=False) if was_rss else ""])
    return rows


def bigquery_rows(read: dict) -> list[list[str]]:
    """Wall, events/s, the sync's CPU and the rest (mostly the emulator's serving), before and now."""
    before, now = read.get("before") or {}, read.get("now") or {}
    rows = []
    for label, key in (("wall, best of the reads", "wall_s"), ("sync CPU of that read", "sync_cpu_s")):
        was, is_ = before.get(key), now.get(key)
        factor = was / is_ if was and is_ else None
        rows.append([label, _n(was, 2, " s"), _n(is_, 2, " s"), _n(factor, 2, "x"), f">= {BIGQUERY_FACTOR:g}x",
                     _ok(factor, BIGQUERY_FACTOR)])
    rest = [r.get("wall_s") - r.get("sync_cpu_s") if r.get("wall_s") is not None and r.get("sync_cpu_s") is not None
            else None for r in (before, now)]
    rows.append(["wall minus sync CPU (the emulator serving, waits)", _n(rest[0], 2, " s"), _n(rest[1], 2, " s"), "", "", ""])
    rows.append(["events/s", _n(before.get("events_per_second")), _n(now.get("events_per_second")), "", "", ""])
    rows.append(["peak RSS of the reading process", _n(before.get("peak_rss_mib"), 0, " MiB"),
                 _n(now.get("peak_rss_mib"), 0, " MiB"), "", "", ""])
    return rows


def sections(results: dict, before: dict | None) -> list[str]:
    out = ["## Against the last published run (issue 22)", "",
           f"The end-to-end `capi-sync run` on the dbt table, now and in the \"before\" file "
           f"(`{results.get('before') or NA}`, commit {(before or {}).get('git_commit') or NA}): within "
           f"{WITHIN:.0%} of it.", "",
           _table(["orders", "measurement", "before", "now", "now / before", "target", "met"],
                  published_rows(results, before)), ""]
    read = results.get("bigquery_read")
    if read:
        events = _get(read, "now", "events") or _get(read, "before", "events")
        error = read.get("error") or _get(read, "before", "error") or _get(read, "now", "error")
        out += ["## BigQuery source read (issue 22)", "",
                f"`bench/bigquery_read.py`: {_n(events)} sendable events in a table of the local BigQuery emulator "
                "(crucible), read through the run's read step (source pages -> ReadyChunks, `chunk_size` 10,000), "
                f"{read.get('repeats', 3)} reads each, the fastest shown; \"before\" reads with the `sync` package of "
                f"commit {read.get('before_commit')} (rows as JSON, events built in Python), \"now\" with this "
                "commit's, one after the other in this run. The sync CPU is the reading process's CPU time; the "
                "emulator serves from its own process on the same 2 cores, so the wall time minus the sync's CPU "
                "is mostly its serving." + (f" Not measured: {error}" if error else ""), "",
                _table(["", "before", "now", "before / now", "target", "met"], bigquery_rows(read)), ""]
    return out
