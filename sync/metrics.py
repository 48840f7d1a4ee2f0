"""A run's gauges for schedulers: Prometheus text (`--metrics-file`) and OTLP/HTTP (`--otlp-endpoint`;
docs/sync.md, CLI), exported by a MeterProvider of its own (nothing process-global)."""
from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from dataclasses import dataclass

from sync.errors import InputError
from sync.match_keys import MATCH_KEYS

PREFIX = "capi_sync_"


@dataclass(frozen=True)
class Gauge:
    name: str                 # without PREFIX
    help: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


def run_gauges(summary) -> list[Gauge]:
    """The gauges of one run (a `sync.runner.RunSummary`), each labelled with the sync's name."""
    sync = (("sync", summary.sync_name),)
    done = summary.events_written if summary.dry_run else summary.events_sent
    gauges = [
        Gauge("run_success", "1 when the last run succeeded, else 0", float(summary.status == "succeeded"), sync),
        Gauge("run_exit_code", "exit code of the last run (docs/sync.md)", float(summary.exit_code), sync),
        Gauge("run_duration_seconds", "duration of the last run", float(summary.seconds), sync),
        Gauge("run_end_timestamp_seconds", "unix time the last run ended", time.time(), sync),
        Gauge("rows_read", "rows the last run read from the view", float(summary.rows_read), sync),
        Gauge("events_sent", "events the API accepted in the last run (dry run: written)", float(done), sync),
        Gauge("batches_sent", "batches the last run finished", float(summary.batches_sent), sync),
        Gauge("requests", "requests the last run made to the API", float(summary.requests), sync),
        Gauge("retries", "requests the last run retried", float(summary.retries), sync),
        Gauge("events_rejected", "events the API rejected in the last run", float(summary.rejected_by_api), sync),
        Gauge("events_dead_lettered", "events the last run dead-lettered", float(summary.dead_lettered), sync),
        Gauge("events_failed", "events the last run could not send (retried next run)", float(summary.failed), sync),
    ]
    gauges += [Gauge("events_skipped", "rows the last run skipped, by reason", float(n), sync + (("reason", r),))
               for r, n in sorted(summary.skipped.items())]
    gauges += [Gauge("match_key_events", "events the API accepted in the last run carrying each match key",
                     float(summary.match_keys.get(key, 0)), sync + (("key", key),)) for key in MATCH_KEYS]
    if summary.watermark_after is not None:
        gauges.append(Gauge("watermark", "the watermark after the last run (the cursor's value)",
                            float(summary.watermark_after), sync))
    return gauges


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2 ** 53 else repr(value)


def prometheus_text(gauges: list[Gauge]) -> str:
    """Prometheus text exposition format 0.0.4: HELP and TYPE once per name, then its samples."""
    lines: list[str] = []
    for name in dict.fromkeys(g.name for g in gauges):
        samples = [g for g in gauges if g.name == name]
        lines += [f"# HELP {PREFIX}{name} {samples[0].help}", f"# TYPE {PREFIX}{name} gauge"]
        for gauge in samples:
            labels = ",".join(f'{k}="{_label(v)}"' for k, v in gauge.labels)
            lines.append(f"{PREFIX}{name}{{{labels}}} {_number(gauge.value)}" if labels
                         else f"{PREFIX}{name} {_number(gauge.value)}")
    return "\n".join(lines) + "\n"


def check_metrics_file(path: str) -> None:
    """Before the run: the folder must exist and be writable (one clear line, exit 2)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"--metrics-file: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"--metrics-file: the folder {folder} is not writable")


def write_textfile(path: str, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path` (atomic)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)   # the collector runs as another user
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def otlp_endpoint(flag: str | None) -> str | None:
    """The OTLP/HTTP metrics URL: --otlp-endpoint, else the OpenTelemetry variables, else None."""
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return (flag or os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
            or (base.rstrip("/") + "/v1/metrics" if base else None))


def export_otlp(gauges: list[Gauge], endpoint: str, timeout_seconds: float = 10.0) -> None:
    """Export the gauges once over OTLP/HTTP (protobuf); raise InputError when it fails."""
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
        from opentelemetry.sdk.resources import Resource
    except ImportError:
        raise InputError("--otlp-endpoint needs OpenTelemetry: pip install 'capi-sync[otlp]'") from None
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "capi-sync"}))
    try:
        meter = provider.get_meter("capi_sync")
        instruments: dict[str, object] = {}
        for gauge in gauges:
            if gauge.name not in instruments:
                instruments[gauge.name] = meter.create_gauge(PREFIX + gauge.name, description=gauge.help)
            instruments[gauge.name].set(gauge.value, dict(gauge.labels))
        data = reader.get_metrics_data()
    finally:
        provider.shutdown()
    exporter = OTLPMetricExporter(endpoint=endpoint, timeout=timeout_seconds)
    try:
        result = exporter.export(data, timeout_millis=timeout_seconds * 1000)
    finally:
        exporter.shutdown()
    if result is not MetricExportResult.SUCCESS:
        raise InputError(f"--otlp-endpoint: the run's metrics could not be exported to {endpoint}")
