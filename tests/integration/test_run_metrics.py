"""`capi-sync run --metrics-file --otlp-endpoint`: the run's figures in Prometheus text (read
back with prometheus_client's parser) and over OTLP/HTTP to a receiver on a real socket
(decoded with OpenTelemetry's protobuf), equal to what the emulator received."""
from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from offline_events_fixture import TOKEN, insert_rows, make_row
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from sync.cli import main
from sync.match_keys import MATCH_KEYS
from tests.support.events_oracle import user_data_keys


@pytest.fixture
def otlp_receiver():
    bodies: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/metrics", bodies
    server.shutdown()
    server.server_close()


def test_metrics_file_and_otlp_equal_the_run(config_path, warehouse, emulator, otlp_receiver, tmp_path):
    now = int(time.time())
    insert_rows(warehouse, [make_row(n, now - 60 - n, ln=None if n % 3 else "a" * 64) for n in range(250)]
                + [make_row(900, now - 30, currency=None)])
    url, bodies = otlp_receiver
    metrics = tmp_path / "textfile" / "capi_sync.prom"
    assert main(["run", "--config", str(config_path), "--metrics-file", str(metrics)]) == 2   # no folder yet
    assert emulator.requests == []
    metrics.parent.mkdir()
    assert main(["run", "--config", str(config_path), "--metrics-file", str(metrics), "--otlp-endpoint", url]) == 0

    received = emulator.accepted_events()
    expected_keys = {key: sum(1 for e in received if key in user_data_keys(e)) for key in MATCH_KEYS}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(metrics.read_text()) for s in family.samples}
    sync = (("sync", "offline_events"),)
    assert samples[("capi_sync_events_sent", sync)] == len(received) == 250
    assert samples[("capi_sync_run_success", sync)] == 1 and samples[("capi_sync_rows_read", sync)] == 251
    assert samples[("capi_sync_events_skipped", (("reason", "missing_currency"),) + sync)] == 1
    assert {k: samples[("capi_sync_match_key_events", (("key", k),) + sync)] for k in MATCH_KEYS} == expected_keys
    assert expected_keys["ln"] == 84 and expected_keys["db"] == 0
    assert os.listdir(metrics.parent) == ["capi_sync.prom"] and (os.stat(metrics).st_mode & 0o777) == 0o644

    assert [path for path, _ in bodies] == ["/v1/metrics"]
    request = ExportMetricsServiceRequest.FromString(bodies[0][1])
    exported = {}
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.gauge.data_points:
                    labels = tuple(sorted((a.key, a.value.string_value) for a in point.attributes))
                    exported[(metric.name, labels)] = point.as_double or point.as_int
    assert {k: v for k, v in exported.items() if k[0] != "capi_sync_run_end_timestamp_seconds"} == {
        k: v for k, v in samples.items() if k[0] != "capi_sync_run_end_timestamp_seconds"}
