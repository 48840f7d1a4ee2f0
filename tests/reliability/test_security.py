"""Secrets never appear anywhere; config identifiers cannot inject SQL; TLS is verified;
files the sync creates are private. Every command runs as a real process."""
from __future__ import annotations

import http.server
import os
import ssl
import stat
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pytest
from tests.reliability.conftest import APP_SECRET, EmulatorProcess, cli, insert_generated
from offline_events_fixture import TOKEN, event_id, insert_rows, make_row, write_config

from sync.emulator import Faults
from sync.runner import lock_file_path

WRONG_TOKEN = "tok-WRONG-SECRET-77aa01"


def secret_free(text: str | bytes, where: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    for secret in (TOKEN, APP_SECRET, WRONG_TOKEN):
        assert secret.encode() not in data, f"{secret} found in {where}"


def test_no_command_leaks_the_token_or_app_secret(tmp_path, warehouse, now):
    insert_generated(warehouse, 0, 150, f"{now - 3600} + i")
    insert_rows(warehouse, [make_row(900, now - 60, em="raw@example.com"), make_row(901, now - 50, currency=None)])
    record = tmp_path / "accepted.jsonl"
    emulator = EmulatorProcess("--record", str(record), env_extra={"CAPI_EMULATOR_APP_SECRET": APP_SECRET})
    outputs: list[tuple[str, str]] = []
    try:
        config = write_config(tmp_path, warehouse, emulator.url,
                              extra_destination="app_secret: \"{{ env_var('META_APP_SECRET') }}\"\n")
        env = {"META_APP_SECRET": APP_SECRET, "CAPI_SYNC_DEBUG": "1"}
        emulator.client.set_faults(Faults(script=["server_error", "drop", "throttle:17", "drop_after_accept"],
                                          poison_event_ids={event_id("o3")}))

        def run(*args, env_extra=None, expect=0):
            result = cli(*args, env_extra={**env, **(env_extra or {})})
            assert result.returncode == expect, (args, result.stderr)
            outputs.append((" ".join(args), result.stdout + result.stderr))
            return result

        dry = tmp_path / "dry" / "bodies.jsonl"
        run("run", "--config", str(config), "--dry-run", "--output", str(dry), "--verbose")
        run("run", "--config", str(config), "--verbose")
        insert_rows(warehouse, [make_row(1000, now - 30)])
        run("run", "--config", str(config), "--json", "--verbose")
        run("status", "--config", str(config))
        run("status", "--config", str(config), "--json")
        run("dead-letter", "list", "--config", str(config))
        run("dead-letter", "list", "--config", str(config), "--json", "--all")
        emulator.client.set_faults(Faults())
        run("dead-letter", "retry", "--config", str(config), "--json", "--verbose")
        # Errors: a wrong token (refused), a wrong app secret (refused), an unreachable endpoint.
        insert_rows(warehouse, [make_row(1001, now - 20)])
        run("run", "--config", str(config), "--verbose", env_extra={"META_ACCESS_TOKEN": WRONG_TOKEN}, expect=3)
        run("run", "--config", str(config), env_extra={"META_APP_SECRET": WRONG_TOKEN}, expect=3)
        down = write_config(tmp_path, warehouse, "http://127.0.0.1:9", name="down.yml",
                            extra_destination="app_secret: \"{{ env_var('META_APP_SECRET') }}\"\n")
        run("run", "--config", str(down), "--verbose", expect=4)
        # Config errors: the token written in the file, a bad value next to the secrets.
        literal = tmp_path / "literal.yml"
        literal.write_text(config.read_text().replace("{{ env_var('META_ACCESS_TOKEN') }}", TOKEN))
        wrong_type = tmp_path / "wrong_type.yml"
        wrong_type.write_text(config.read_text().replace("{{ env_var('META_APP_SECRET') }}", "[1, 2]"))
        # Emulator errors: a busy port, a bad option (the token comes from the environment).
        port = emulator.url.rsplit(":", 1)[1]
        emulator_env = {"CAPI_EMULATOR_ACCESS_TOKEN": TOKEN}
        # These four never open the warehouse: run them side by side.
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda call: run(*call[0], **call[1]), [
                (("run", "--config", str(literal)), {"expect": 2}),
                (("status", "--config", str(wrong_type)), {"expect": 2}),
                (("emulator", "--port", port), {"env_extra": emulator_env, "expect": 2}),
                (("emulator", "--throttle-rate", "7"), {"env_extra": emulator_env, "expect": 2}),
            ]))
        requests = emulator.client.requests()
    finally:
        emulator_out, emulator_err = emulator.close()
    assert len(outputs) == 15
    for command, text in outputs:
        secret_free(text, f"the output of capi-sync {command}")
    secret_free(emulator_out + emulator_err, "the emulator's log")
    secret_free(dry.read_bytes(), "the dry-run file")
    secret_free(record.read_bytes(), "the emulator's record file")
    assert all(not r["had_token_in_url"] and r["query_keys"] == [] for r in requests)
    assert any(r["had_appsecret_proof"] for r in requests)
    # Every state table, every column, and the raw bytes of the database file and its lock file.
    con = duckdb.connect(str(warehouse), read_only=True)
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = 'capi_sync'").fetchall()]
    assert sorted(tables) == ["dataset_quality", "dead_letters", "sent_events", "sent_match_keys", "sync_locks", "sync_runs",
                           "sync_watermarks"]
    for table in tables:
        secret_free(str(con.execute(f"SELECT * FROM capi_sync.{table}").fetchall()), f"capi_sync.{table}")
    errors = [r[0] for r in con.execute("SELECT error FROM capi_sync.sync_runs WHERE error IS NOT NULL").fetchall()]
    con.close()
    assert len(errors) == 3 and any("destination.access_token" in e for e in errors)
    for path in (warehouse, lock_file_path(str(warehouse)), f"{warehouse}.wal"):
        if os.path.exists(path):
            secret_free(open(path, "rb").read(), path)


INJECTIONS = [
    ("source:\n  relation: analytics.offline_events; DROP TABLE analytics.offline_events\n", "source.relation",
     "must be `schema.name` made of letters, digits and underscores"),
    ('source:\n  relation: \'analytics."offline_events"\'\n', "source.relation",
     "must be `schema.name` made of letters, digits and underscores"),
    ("state:\n  schema: 'capi_sync\"; DROP TABLE analytics.offline_events; --'\n", "state.schema",
     "must be made of letters, digits and underscores"),
    ("cursor:\n  column: event_time) OR (1=1\n", "cursor.column",
     "must be a column name of letters, digits and underscores"),
]


@pytest.mark.parametrize("block, key, message", INJECTIONS, ids=[i[1] + str(n) for n, i in enumerate(INJECTIONS)])
def test_sql_injection_through_config_is_refused(tmp_path, warehouse, emulator, now, block, key, message):
    insert_rows(warehouse, [make_row(1, now - 60)])
    config = write_config(tmp_path, warehouse, emulator.url)
    text = config.read_text()
    section = block.split(":")[0]
    if section == "source":
        text = text.replace("  chunk_size: 1000\n", "  chunk_size: 1000\n" + block.split("\n", 1)[1])
    elif section == "cursor":
        text = text.replace("cursor:\n", block)
    else:
        text += block
    config.write_text(text)
    result = cli("run", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.startswith(f"capi-sync: error: {config}: {key}: {message}")
    assert len(result.stderr.splitlines()) == 1 and emulator.requests == []
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("SELECT count(*) FROM analytics.offline_events").fetchone() == (1,)
    con.close()


def test_plain_http_to_a_remote_host_is_refused(tmp_path, warehouse):
    config = write_config(tmp_path, warehouse, "http://graph.facebook.com")
    result = cli("run", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr == (f"capi-sync: error: {config}: destination.endpoint: plain http is only allowed for "
                             "a loopback host; use https (got 'http://graph.facebook.com')\n")


def test_tls_certificates_are_verified_even_on_loopback(tmp_path, warehouse, now):
    """An https endpoint with a self-signed certificate: the sync refuses to talk to it."""
    insert_rows(warehouse, [make_row(1, now - 60)])
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = write_config(tmp_path, warehouse, f"https://127.0.0.1:{server.server_address[1]}")
        result = cli("run", "--config", str(config), env_extra={"SSL_CERT_FILE": "", "SSL_CERT_DIR": ""})
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 4
    assert "destination.endpoint: gave up after 5 attempts: connection to https://127.0.0.1:" in result.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr or "certificate verify failed" in result.stderr
    assert hits == []


def test_files_the_sync_creates_are_private(tmp_path, warehouse, emulator, config_path, now):
    insert_rows(warehouse, [make_row(1, now - 60)])
    out = tmp_path / "new-dir" / "bodies.jsonl"
    world_readable = {"preexec_fn": lambda: os.umask(0o022)}   # the sync must not rely on the caller's umask
    assert cli("run", "--config", str(config_path), "--dry-run", "--output", str(out), **world_readable).returncode == 0
    assert cli("run", "--config", str(config_path), **world_readable).returncode == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(lock_file_path(str(warehouse))).st_mode) == 0o600
