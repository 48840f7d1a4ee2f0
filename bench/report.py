"""Render a results JSON into docs/benchmarks.md and docs/benchmarks.svg (hand-written SVG).

    .venv/bin/python -m bench.report [bench/results/latest.json]

Numbers come only from the results file; a measurement that failed or was not run is
written as "not measured" with its error. The findings under "Where the time goes" come
from bench/findings.md (written by hand after reading the profile).
"""
from __future__ import annotations

import json
import math
import sys
from html import escape
from pathlib import Path

from bench.processes import ROOT

DOC = ROOT / "docs" / "benchmarks.md"
SVG = ROOT / "docs" / "benchmarks.svg"
FINDINGS = ROOT / "bench" / "findings.md"

NA = "not measured"


def _get(d: dict | None, *keys):
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _n(value, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return NA
    if isinstance(value, (int, float)):
        text = f"{value:,.{digits}f}"
        return text + unit
    return str(value)


def _err(d) -> str:
    return f" ({d['error']})" if isinstance(d, dict) and d.get("error") else ""


def _ok(value, target, higher_is_better=True) -> str:
    if value is None:
        return "?"
    return "yes" if (value >= target if higher_is_better else value <= target) else "**no**"


def _ratio(a, b):
    return a / b if a and b else None


def _spread(d: dict | None, key: str = "events_per_second") -> str:
    """", median of N (a-b)" for a repeated measurement, else ''."""
    repeats, span = _get(d, "repeats"), _get(d, f"{key}_range")
    if not repeats or not span:
        return ""
    return f", median of {len(repeats)} ({_n(span[0])}-{_n(span[1])})"


def summary_rows(results: dict) -> list[list[str]]:
    sizes = results["sizes"]
    rows = []
    for key, size in sizes.items():
        n = int(key)
        sdk = _get(size, "payload_sdk", "events_per_second")
        sync_t = _get(size, "payload_sync_table", "events_per_second")
        sync_v_read = _get(size, "payload_sync_view", "events_per_second_with_read")
        sdk_read = _get(size, "payload_sdk", "events_per_second_with_read")
        ratio = _ratio(sync_t, sdk)
        ratio_read = _ratio(sync_v_read, sdk_read)
        pairs = _get(size, "payload_ratio", "pairs")
        if pairs:   # the median of the pairwise ratios (each pair measured back to back)
            ratio = _get(size, "payload_ratio", "median")
            text = (f"{_n(sync_t)} / {_n(sdk)} ev/s (median runs); {_n(ratio, 1)}x, the median of {len(pairs)} pairs "
                    f"({_n(min(pairs), 1)}-{_n(max(pairs), 1)}x)")
        else:
            text = f"{_n(sync_t)} / {_n(sdk)} ev/s = {_n(ratio, 1)}x"
        rows.append([f"{n:,}", "1. payload building, sync (dbt table) / SDK (build+serialize)", text, ">= 20x",
                     _ok(ratio, 20)])
        rows.append([f"{n:,}", "1'. same, each including its read (sync: the dbt view; SDK: raw join)",
                     f"{_n(sync_v_read)} / {_n(sdk_read)} ev/s = {_n(ratio_read, 1)}x", ">= 20x", _ok(ratio_read, 20)])
        for rel, label in (("e2e_view", "the dbt view"), ("e2e_table", "the dbt table")):
            eps = _get(size, rel, "events_per_second")
            rows.append([f"{n:,}", f"2. end to end to the counting sink, {label}",
                         f"{_n(eps)} ev/s{_spread(size.get(rel))} ({_n(_get(size, rel, 'run_seconds'), 1)} s run, "
                         f"{_n(_get(size, rel, 'process_seconds'), 1)} s process){_err(size.get(rel))}",
                         ">= 100,000 ev/s", _ok(eps, 100_000)])
        for rel, label in (("e2e_view", "view"), ("e2e_table", "table")):
            rss = _get(size, rel, "peak_rss_mib_max") or _get(size, rel, "peak_rss_mib")
            repeats = _get(size, rel, "repeats")
            rows.append([f"{n:,}", f"4. peak RSS of `capi-sync run` ({label})",
                         _n(rss, 0, " MiB") + (f", the highest of {len(repeats)} runs" if repeats else ""),
                         "<= 250 MB, flat", _ok(rss, 250 * 1e6 / 2**20, higher_is_better=False)])
        for rel in ("table", "view"):
            none, new = size.get(f"incremental_{rel}_nothing_new"), size.get(f"incremental_{rel}_new_orders")
            rows.append([f"{n:,}", f"5. incremental run, nothing new ({rel})",
                         _n(_get(none, "run_seconds"), 2, " s") + _err(none), "grows with new rows", ""])
            rows.append([f"{n:,}", f"5. incremental run, 10,000 new orders ({rel})",
                         _n(_get(new, "run_seconds"), 2, " s")
                         + (f", {_n(_get(new, 'events_sent'))} events sent" if _get(new, "events_sent") is not None else "")
                         + _err(new), "grows with new rows", ""])
        rows.append([f"{n:,}", "6. `dbt build` on DuckDB",
                     _n(_get(size, "workload", "dbt_build", "seconds"), 1, " s") + _err(_get(size, "workload", "dbt_build")),
                     "(reported)", ""])
    for key, run in (results.get("latency") or {}).items():
        if key.startswith("sink_"):
            continue
        pct = _get(run, "percent_of_ideal")
        rows.append(["latency", f"3. +{_n(_get(run, 'latency_ms'))} ms per request, concurrency "
                                f"{_n(_get(run, 'concurrency'))}",
                     f"{_n(_get(run, 'events_per_second'))} ev/s = {_n(pct, 1)}% of "
                     f"{_n(_get(run, 'ideal_events_per_second'))}{_err(run)}", ">= 90%", _ok(pct, 90)])
    return rows


def before_results(results: dict) -> dict | None:
    """The earlier results file named in `results["before"]` (the "before" column), if readable."""
    name = results.get("before")
    if not name:
        return None
    try:
        return json.loads((ROOT / name).read_text())
    except (OSError, ValueError):
        return None


def _before_machine(results: dict) -> str:
    """Where the "before" file was measured, as its own record says: this machine or another."""
    before = before_results(results) or {}
    m, b = results["machine"], before.get("machine")
    if not b:
        return "an earlier commit"
    same = all(b.get(k) == m.get(k) for k in ("nproc", "cpu", "memory_gib", "platform"))
    where = "this machine" if same else f"another machine: {b['nproc']} CPUs ({b['cpu']}), {b['platform']}"
    return f"commit {before.get('git_commit')} on {where}, duckdb {b['duckdb']}"


def summary_with_before(results: dict) -> tuple[list[str], list[list[str]]]:
    rows = summary_rows(results)
    before = before_results(results)
    if before is None:
        return ["orders", "measurement", "result", "target", "met"], rows
    # the earlier runs measured the Python path: build+encode, the read apart
    renamed = {"1. payload building, sync (build+encode) / SDK (build+serialize)":
               "1. payload building, sync (dbt table) / SDK (build+serialize)",
               "1. payload building, sync (table copy) / SDK (build+serialize)":
               "1. payload building, sync (dbt table) / SDK (build+serialize)",
               "2. end to end to the counting sink, table copy of the view":
               "2. end to end to the counting sink, the dbt table",
               "2. end to end to the counting sink, view as built by dbt":
               "2. end to end to the counting sink, the dbt view",
               "5. incremental run, nothing new (view)": "5. incremental run, nothing new (view)"}
    earlier = {(r[0], renamed.get(r[1], r[1])): r[2] for r in summary_rows(before)}
    return (["orders", "measurement", f"before ({before.get('git_commit')})", "now", "target", "met"],
            [[r[0], r[1], earlier.get((r[0], r[1]), NA), *r[2:]] for r in rows])


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(results: dict, source: str) -> str:
    m = results["machine"]
    out = ["# Benchmarks", "",
           "Generated by `bench/report.py` from `" + source + "`; do not edit by hand (the findings "
           "section comes from `bench/findings.md`).", "",
           "## How to run", "",
           "```sh",
           ".venv/bin/python -m bench --sizes 100000,1000000      # all measurements, then this page",
           ".venv/bin/python -m bench.report bench/results/latest.json   # re-render this page",
           ".venv/bin/python -m bench --sizes 100000,1000000 --reuse   # the same on the prepared workloads",
           "```", "",
           "Workloads are generated into `data/bench/<orders>/warehouse.duckdb` (about 3 lines per order, "
           "60 days); `--reuse` skips regenerating them when they were built with the same dbt project (a digest of its "
           "models, macros, seeds and tests). Every step has a timeout. `--repeat N` (default 3) runs the end-to-end "
           "run on the table and the payload/SDK pair N times per size: the tables show the median run, the range "
           "and every run, and peak RSS is judged on the highest run.", "",
           "## This run", "",
           f"- command: `{results['command']}`",
           f"- date: {results['started_at']} (UTC), {results.get('seconds')} s in all; git commit {results.get('git_commit')}",
           f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB memory, {m['platform']}",
           f"- software: Python {m['python']}, duckdb {m['duckdb']}, dbt-core {m['dbt_core']}, "
           f"dbt-duckdb {m['dbt_duckdb']}, facebook-business {m['facebook_business']}, orjson {m['orjson']}, "
           f"httpx {m['httpx']}",
           f"- load average at start / end: {', '.join(f'{x:.1f}' for x in results['load_average_at_start'])} / "
           f"{', '.join(f'{x:.1f}' for x in results.get('load_average_at_end', []))} "
           "(other work on the machine slows every number here)",
           f"- `capi-sync run` with `source.memory_limit: {results.get('memory_limit') or 'not set'}` on the "
           f"dbt table, `{results.get('view_memory_limit') or 'not set'}` on the view (not set: "
           f"{results.get('default_table_memory_limit', '64MB')} on a table, DuckDB's default of 80% of RAM on a view)"
           + (f", `source.chunk_size: {results['chunk_size']}`" if results.get("chunk_size") else "")
           + ("; allocator settings of the `capi-sync` processes (sync/__main__.py): "
              + ", ".join(f"`{k}={v}`" for k, v in results["allocator_environment"].items())
              if results.get("allocator_environment") else "")
           + (f"; the \"before\" column: `{results['before']}` ({_before_machine(results)}; what changed "
              "since is listed under the findings below)"
              if results.get("before") else ""),
           "", "## Results against the targets of issue 6", "",
           _table(*summary_with_before(results)), "",
           "![events per second and peak RSS](benchmarks.svg)", ""]
    from bench.read_path_report import sections as read_path_sections
    out += read_path_sections(results, before_results(results))
    daily = ROOT / "bench" / "results" / "daily-latest.json"
    if daily.exists():
        from bench.daily import report as daily_report
        daily_results = json.loads(daily.read_text())
        command = daily_results["sizes"][0]["daily"]["dbt"]["command"] if daily_results["sizes"] else "dbt build"
        out += ["## Daily loads against the targets of issue 23 (`bench/daily.py`)", "",
                f"The daily job as README gives it (`{command}`, then "
                "`capi-sync run`) after one new day on a 60-day history, and the first load (`dbt build "
                "--full-refresh` + `capi-sync run`), each next to the SDK script (`bench/sdk_baseline.py` sending "
                "the same sources' orders to the same counting sink: 62 days for the first load, its last 7 days "
                "for the daily one), in one run:", "",
                daily_report(daily_results), ""]
    out += _details(results)
    if FINDINGS.exists():
        out += ["## Where the time goes (profile) and what to change", "", FINDINGS.read_text().strip(), ""]
    return "\n".join(out) + "\n"


def _details(results: dict) -> list[str]:
    out = ["## Details", ""]
    for key, size in results["sizes"].items():
        n = int(key)
        w = size.get("workload") or {}
        out += [f"### {n:,} orders", ""]
        if "error" in w:
            out += [f"Workload not prepared: {w['error']}", ""]
            continue
        out += [f"- workload: {w.get('customers'):,} customers, sample data in "
                f"{_n(_get(w, 'generate', 'seconds'), 1, ' s')}{' (reused from an earlier run)' if w.get('reused') else ''}; "
                f"DuckDB file {_n(w.get('file_mib'), 0, ' MiB')}; `{_get(w, 'table', 'relation')}` is a dbt "
                f"{_get(w, 'table', 'materialization')} of {_n(_get(w, 'table', 'rows'))} rows "
                "(`--vars '{offline_events_materialization: table}'`), and `"
                f"{_get(w, 'view', 'relation')}` a view of the same compiled SQL (evaluated at every read)",
                f"- dbt (all with the table materialization): seed {_n(_get(w, 'dbt_seed', 'seconds'), 1, ' s')}, "
                f"run {_n(_get(w, 'dbt_run', 'seconds'), 1, ' s')}, "
                f"**build {_n(_get(w, 'dbt_build', 'seconds'), 1, ' s')}** ({_get(w, 'dbt_build', 'summary') or _get(w, 'dbt_build', 'error')})", ""]
        rows = []
        for k, label in (("payload_sync_table", "sync path, dbt table"), ("payload_sync_view", "sync path, dbt view"),
                         ("payload_reference_table", "reference (build_events + orjson), dbt table")):
            p = size.get(k) or {}
            rows.append([label, _n(p.get("events")), _n(p.get("read_seconds"), 2), _n(p.get("build_seconds"), 2),
                         _n(p.get("encode_seconds"), 2), _n(p.get("events_per_second")),
                         _n(p.get("events_per_second_with_read")) + _err(p)])
        s = size.get("payload_sdk") or {}
        rows.append(["facebook-business SDK, raw rows", _n(s.get("orders")), _n(s.get("read_seconds"), 2),
                     _n(s.get("build_seconds"), 2), "(in build)", _n(s.get("events_per_second")),
                     _n(s.get("events_per_second_with_read")) + _err(s)])
        out += ["Payload building (seconds). Sync path: the sync's DuckDB source `read_ready`: one query per "
                "page checks each row and writes its event's parts from the model's columns (`ready_query`, "
                "`sync/sources/base.py`, as for BigQuery), Python checks the hashes on the Arrow buffers and joins "
                "bytes (`sync/sources/ready.py`), `request_body` per 1,000 events "
                "(`bench/payload.py`); the building happens inside the read, so its events/s counts the read. "
                "Reference: the rows' columns in chunks, the tests' oracle `build_events` "
                "(`tests/support/events_oracle.py`) and orjson per event. SDK path (`bench/sdk_baseline.py`): "
                "the first orders of the same view as raw joined rows (grouped per order and product in SQL, not "
                "normalized or hashed), then the SDK's `Normalize` per field (a value the SDK rejects is left out), "
                "UserData/Content/CustomData/Event objects, `EventRequest.get_params()` and the SDK's form encoding.", "",
                _table(["path", "events", "read", "build", "encode", "events/s (build+encode)", "events/s incl. read"], rows), ""]
        proto = size.get("prototype_sql_json")
        if proto and not size.get("payload_reference_table"):
            out += [f"Prototype (`bench/sql_events_prototype.py`): the event JSON written by one DuckDB query "
                    f"instead of `build_events` + orjson. Identical bytes for {_n(proto.get('identical_events'))} of "
                    f"{_n(proto.get('events'))} events; {_n(proto.get('sql_json_rows_per_second'))} rows/s "
                    f"(read included) against {_n(proto.get('sync_path_events_per_second'))} events/s for the "
                    f"sync's read + build + encode in the same invocation{_err(proto)}"
                    + (f" ({proto['note']})" if proto.get("note") else "") + ".", ""]
        ident = size.get("payload_identical_to_dry_run")
        if ident:
            ref = " (the dry run writes the SQL-built events; the bodies compared are built by `build_events` + orjson)" \
                if ident.get("reference") else ""
            out += [f"The bodies built here are byte-identical to `capi-sync run --dry-run`'s on a "
                    f"{_n(ident.get('events'))}-event sample: {ident.get('identical')}{ref}{_err(ident)}.", ""]
        rows = []
        for k in ("e2e_table", "incremental_table_nothing_new", "incremental_table_new_orders", "e2e_view",
                  "incremental_view_nothing_new", "incremental_view_new_orders", "e2e_table_default_memory"):
            if k not in size:
                continue
            r = size.get(k) or {}
            rows.append([k, r.get("relation") or "", r.get("memory_limit") or "not set", _n(r.get("rows_read")), _n(r.get("events_sent")),
                         _n(r.get("run_seconds"), 2), _n(r.get("process_seconds"), 2), _n(r.get("events_per_second")),
                         _n(r.get("peak_rss_mib"), 0), (r.get("status") or "") + _err(r)])
        out += ["`capi-sync run --json` to the counting sink (`bench/sink.py`), concurrency 4, batches of 1,000; "
                "the state schema is dropped before each `e2e_*` run; run s is the sync's own summary (`seconds`: "
                "from opening the source to the last ledger commit), process s includes interpreter start "
                "and closing the file; peak RSS is the process's VmHWM polled every 20 ms:", "",
                _table(["run", "relation", "memory_limit", "rows read", "events sent", "run s", "process s", "events/s", "peak RSS MiB", "status"], rows), ""]
        repeated = [(k, size[k]["repeats"]) for k in ("e2e_table", "payload_sync_table", "payload_sdk")
                    if _get(size, k, "repeats")]
        if repeated:
            out += ["Repeated measurements, every run in the order it ran (the tables above show the median run):", ""]
            out += [f"- `{k}`: " + "; ".join(
                f"{_n(r.get('events_per_second'))} ev/s" + (f", {_n(r['peak_rss_mib'], 0)} MiB" if "peak_rss_mib" in r else "")
                + _err(r) for r in runs) for k, runs in repeated]
            if _get(size, "payload_ratio", "pairs"):
                out.append("- payload ratio, sync / SDK, per pair: "
                           + ", ".join(f"{_n(x, 1)}x" for x in size["payload_ratio"]["pairs"]))
            out.append("")
        extra = []
        for k in ("append_new_orders", "dbt_run_after_append"):
            if size.get(k):
                extra.append(f"{k}: {_n(size[k].get('seconds'), 1, ' s')}{_err(size[k])}")
        if extra:
            out += ["Before the 10,000-new-orders run: " + "; ".join(extra) + ".", ""]
    lat = results.get("latency")
    if lat:
        rows = [["counting sink" if k.startswith("sink_") else "emulator",
                 _n(_get(r, "concurrency")), _n(_get(r, "events_sent")), _n(_get(r, "batches_sent")),
                 _n(_get(r, "send_window_seconds"), 2), _n(_get(r, "events_per_second")),
                 _n(_get(r, "ideal_events_per_second")), _n(_get(r, "percent_of_ideal"), 1),
                 _n(_get(r, "percent_of_ideal_whole_run"), 1) + _err(r)] for k, r in lat.items()]
        out += ["### Latency-bound", "",
                "The emulator (`capi-sync emulator --no-validation --keep count --latency-ms 200`) answers every "
                "request 200 ms after it has read the body (parsing happens inside those 200 ms); each run sends "
                "30 full rounds of concurrency x 1,000 events. The sync runs in-process and the send window is "
                "timed from the first batch handed to the destination to the last answer. The counting-sink row "
                "is a diagnosis (same delay, no JSON parsing on the server side).", "",
                _table(["server", "concurrency", "events", "batches", "send window s", "events/s", "ideal", "% of ideal",
                        "% of ideal, whole run"], rows), ""]
    return out


def _bar(parts: list[str], label: str, value, left: float, y: float, width_px: float, bar_h: int,
         color: str) -> None:
    """One labelled horizontal bar of the plot, or "not measured" when there is no value."""
    parts.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
    if value:
        parts.append(f'<rect x="{left}" y="{y}" width="{width_px:.1f}" height="{bar_h}" fill="{color}"/>')
        parts.append(f'<text x="{left + width_px + 4:.1f}" y="{y + 13}">{value:,.0f}</text>')
    else:
        parts.append(f'<text x="{left + 4}" y="{y + 13}" fill="#c00">not measured</text>')


def render_svg(results: dict) -> str:
    bars = []  # (group, label, value, kind)
    for key, size in results["sizes"].items():
        group = f"{int(key):,} orders"
        for label, value in (
                ("SDK payload (build)", _get(size, "payload_sdk", "events_per_second")),
                ("sync payload (build+encode)", _get(size, "payload_sync_table", "events_per_second")),
                ("sync end to end, dbt table", _get(size, "e2e_table", "events_per_second")),
                ("sync end to end, dbt view", _get(size, "e2e_view", "events_per_second"))):
            bars.append((group, label, value))
    rss = [(f"{int(k):,}", _get(s, "e2e_view", "peak_rss_mib"), _get(s, "e2e_table", "peak_rss_mib"))
           for k, s in results["sizes"].items()]
    width, left, bar_h, gap = 900, 330, 18, 6
    top = 40
    height = top + len(bars) * (bar_h + gap) + 40 * len(results["sizes"]) + 60 + len(rss) * 2 * (bar_h + gap) + 60
    max_log = 6.0  # 1,000,000 events/s
    scale = (width - left - 40) / max_log
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="10" y="20" font-size="15" font-weight="bold">Events per second (log scale); target lines at 100,000 (end to end)</text>']
    y = top
    last_group = None
    for group, label, value in bars:
        if group != last_group:
            y += 16
            parts.append(f'<text x="10" y="{y}" font-weight="bold">{escape(group)}</text>')
            y += 8
            last_group = group
        width_px = max(1.0, math.log10(max(value, 1)) * scale) if value else 0.0
        _bar(parts, label, value, left, y, width_px, bar_h, "#999" if label.startswith("SDK") else "#2b6cb0")
        y += bar_h + gap
    x100k = left + 5 * scale
    parts.append(f'<line x1="{x100k:.1f}" y1="{top}" x2="{x100k:.1f}" y2="{y}" stroke="#c00" stroke-dasharray="4 3"/>')
    for power in range(0, 7):
        x = left + power * scale
        parts.append(f'<text x="{x:.1f}" y="{y + 14}" text-anchor="middle" fill="#555">1e{power}</text>')
    y += 50
    parts.append(f'<text x="10" y="{y}" font-size="15" font-weight="bold">Peak RSS of capi-sync run (MiB); target 250 MB = 238 MiB</text>')
    y += 12
    max_rss = max([v for _, a, b in rss for v in (a, b) if v] + [300])
    rscale = (width - left - 80) / max_rss
    for size, view_rss, table_rss in rss:
        for label, value in ((f"{size} orders, dbt view", view_rss), (f"{size} orders, dbt table", table_rss)):
            _bar(parts, label, value, left, y, value * rscale if value else 0.0, bar_h, "#6b46c1")
            y += bar_h + gap
    x250 = left + 238.4 * rscale
    parts.append(f'<line x1="{x250:.1f}" y1="{y - len(rss) * 2 * (bar_h + gap)}" x2="{x250:.1f}" y2="{y}" stroke="#c00" stroke-dasharray="4 3"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_report(results: dict, source: str = "bench/results/latest.json") -> None:
    DOC.write_text(render_markdown(results, source))
    SVG.write_text(render_svg(results))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else ROOT / "bench" / "results" / "latest.json"
    results = json.loads(path.read_text())
    try:
        source = str(path.resolve().relative_to(ROOT))
    except ValueError:
        source = str(path)
    write_report(results, source)
    print(f"wrote {DOC.relative_to(ROOT)} and {SVG.relative_to(ROOT)} from {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
