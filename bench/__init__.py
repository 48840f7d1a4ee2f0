"""Benchmarks of the sync (issue 6): payload building vs the facebook-business SDK, end to end
to a counting sink, latency-bound concurrency, peak RSS, incremental cost, dbt build time.
Run `python -m bench --sizes 100000,1000000`; results go to bench/results/ and docs/benchmarks.md."""
