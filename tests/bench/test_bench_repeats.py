"""Repeated benchmark measurements: the median run is reported, with every run and the range."""
from __future__ import annotations

from bench.report import summary_rows
from bench.run import median_of


def _run(eps, rss, **extra):
    return {"events_per_second": eps, "peak_rss_mib": rss, "run_seconds": round(1000 / eps, 3), "label": "e2e", **extra}


def test_the_median_run_is_chosen_and_every_run_kept_in_order():
    runs = [_run(103_000.0, 489.0), _run(91_000.0, 501.5), _run(97_500.0, 480.0)]
    median = median_of(runs)
    assert median["events_per_second"] == 97_500.0
    assert median["peak_rss_mib"] == 480.0      # the median run's own
    assert median["peak_rss_mib_max"] == 501.5  # the highest of all runs
    assert median["events_per_second_range"] == [91_000.0, 103_000.0]
    assert [r["events_per_second"] for r in median["repeats"]] == [103_000.0, 91_000.0, 97_500.0]
    assert median["repeats"][1] == {"events_per_second": 91_000.0, "peak_rss_mib": 501.5, "run_seconds": 0.011}


def test_an_even_count_takes_the_lower_middle_and_one_run_is_itself():
    assert median_of([_run(4.0, 1), _run(1.0, 1), _run(3.0, 1), _run(2.0, 1)])["events_per_second"] == 2.0
    assert median_of([_run(5.0, 300.0)]) == _run(5.0, 300.0)


def test_a_failed_run_is_reported_not_a_median_of_the_others():
    failed = {"error": "BenchError: capi-sync run exited 6", "events_per_second": None}
    median = median_of([_run(100.0, 1), failed, _run(90.0, 1)])
    assert median["error"] == "BenchError: capi-sync run exited 6"
    assert median["events_per_second_range"] == [90.0, 100.0]


def test_the_summary_judges_speed_on_the_median_and_memory_on_the_highest_run():
    e2e = median_of([_run(103_000.0, 230.0), _run(99_000.0, 260.0), _run(101_000.0, 240.0)])
    e2e.update(process_seconds=11.0)
    size = {"e2e_table": e2e, "payload_ratio": {"pairs": [19.5, 21.0, 22.4], "median": 21.0},
            "payload_sync_table": {"events_per_second": 120_000.0}, "payload_sdk": {"events_per_second": 5_700.0}}
    rows = {r[1]: r[2:] for r in summary_rows({"sizes": {"1000000": size}})}
    assert rows["2. end to end to the counting sink, the dbt table"] == [
        "101,000 ev/s, median of 3 (99,000-103,000) (0.0 s run, 11.0 s process)", ">= 100,000 ev/s", "yes"]
    assert rows["4. peak RSS of `capi-sync run` (table)"] == [
        "260 MiB, the highest of 3 runs", "<= 250 MB, flat", "**no**"]
    assert rows["1. payload building, sync (dbt table) / SDK (build+serialize)"] == [
        "120,000 / 5,700 ev/s (median runs); 21.0x, the median of 3 pairs (19.5-22.4x)", ">= 20x", "yes"]


def test_a_failed_incremental_run_shows_its_error_in_the_summary():
    size = {"incremental_table_new_orders": {"run_seconds": 0.26, "events_sent": 0, "status": "failed",
                                             "error": "source.relation: reading failed: Out of Memory Error"},
            "incremental_table_nothing_new": {"run_seconds": 0.14, "events_sent": 0, "status": "succeeded", "error": None}}
    rows = {r[1]: r[2] for r in summary_rows({"sizes": {"1000000": size}})}
    assert rows["5. incremental run, 10,000 new orders (table)"] == \
        "0.26 s, 0 events sent (source.relation: reading failed: Out of Memory Error)"
    assert rows["5. incremental run, nothing new (table)"] == "0.14 s"
