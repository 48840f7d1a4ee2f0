"""The benchmark page's issue-22 sections: the end-to-end run against the published one, and
the BigQuery source read before and now, each judged on its target."""
from bench.read_path_report import bigquery_rows, published_rows, sections


def _size(eps, rss):
    return {"e2e_table": {"events_per_second": eps, "peak_rss_mib": rss - 5, "peak_rss_mib_max": rss}}


def test_the_end_to_end_run_is_judged_within_ten_percent_of_the_published_one():
    results = {"sizes": {"100000": _size(103_000, 240), "1000000": _size(120_000, 270)}}
    before = {"sizes": {"100000": _size(113_736, 229), "1000000": _size(144_294, 235)}}
    assert published_rows(results, before) == [
        ["100,000", "end to end, the dbt table: events/s (median run)", "113,736", "103,000", "90.6%", ">= 90%", "yes"],
        ["100,000", "end to end, the dbt table: peak RSS (highest run)", "229 MiB", "240 MiB", "104.8%", "<= 110%", "yes"],
        ["1,000,000", "end to end, the dbt table: events/s (median run)", "144,294", "120,000", "83.2%", ">= 90%",
         "**no**"],
        ["1,000,000", "end to end, the dbt table: peak RSS (highest run)", "235 MiB", "270 MiB", "114.9%", "<= 110%",
         "**no**"],
    ]


def test_the_bigquery_read_shows_wall_sync_cpu_and_the_emulators_share():
    read = {"before_commit": "e7ad969", "repeats": 3,
            "before": {"wall_s": 7.06, "sync_cpu_s": 5.2, "events": 100_000, "events_per_second": 14_164,
                       "peak_rss_mib": 410.0},
            "now": {"wall_s": 3.5, "sync_cpu_s": 1.3, "events": 100_000, "events_per_second": 28_571,
                    "peak_rss_mib": 380.0}}
    assert bigquery_rows(read) == [
        ["wall, best of the reads", "7.06 s", "3.50 s", "2.02x", ">= 3x", "**no**"],
        ["sync CPU of that read", "5.20 s", "1.30 s", "4.00x", ">= 3x", "yes"],
        ["wall minus sync CPU (the emulator serving, waits)", "1.86 s", "2.20 s", "", "", ""],
        ["events/s", "14,164", "28,571", "", "", ""],
        ["peak RSS of the reading process", "410 MiB", "380 MiB", "", "", ""],
    ]
    text = "\n".join(sections({"sizes": {}, "bigquery_read": read}, None))
    assert "## BigQuery source read (issue 22)" in text and "commit e7ad969" in text and "Not measured" not in text


def test_a_failed_bigquery_read_says_so_instead_of_a_number():
    text = "\n".join(sections({"sizes": {}, "bigquery_read": {"error": "RuntimeError: no crucible"}}, None))
    assert "Not measured: RuntimeError: no crucible" in text
