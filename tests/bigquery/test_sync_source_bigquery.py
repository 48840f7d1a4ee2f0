"""sync.sources.bigquery against the emulator: byte for byte the DuckDB source's events and skips on
the same rows and ledger (order, lower bound, anti-join, duplicates, value, contents), a value
that is not a hash never sent, paging, read by event ids, one-line errors, credentials."""
from __future__ import annotations

from dataclasses import replace

import datetime as dt
import json
import textwrap

import duckdb
import orjson
import pytest

from sync.config import parse_config
from sync.errors import SourceError
from sync.events import EventSettings
from sync.sources.bigquery import BigQuerySource, make_client, string_literal
from sync.sources.duckdb import DuckDBSource
from sync.state.base import Checkpoint
from sync.state.bigquery import BigQueryStateStore
from sync.state.duckdb import DuckDBStateStore
from tests.support.bigquery_emulator import bigquery_sync_config as bigquery_config
from tests.support.bigquery_emulator import create_offline_events_table
from tests.sync.offline_events_fixture import create_offline_events, event_id, make_row

pytestmark = pytest.mark.bigquery

NOW = dt.datetime(2025, 6, 30, 12, 0, 0)
T = 1_751_000_000


def duckdb_config(path, chunk_size: int = 1000):
    return parse_config(textwrap.dedent(f"""\
        name: offline_events
        source: {{type: duckdb, path: "{path}", chunk_size: {chunk_size}}}
        destination: {{dataset_id: "1", access_token: "{{{{ env_var('CAPI_TEST_TOKEN', 'x') }}}}"}}
        """))


ROWS = [
    make_row(1, T + 10),
    make_row(2, T + 10, value="0.10", contents=[]),            # same cursor: event_id orders
    make_row(3, T - 5000),                                     # below the lower bound
    make_row(4, None),                                         # NULL cursor: read, last
    make_row(5, T + 20, event_id=event_id("o1")),              # a second row of o1's event id
    make_row(6, T + 30, event_id=None),                        # no event id
    make_row(7, T + 40),                                       # in the ledger
    make_row(8, T + 50),                                       # unresolved dead letter
    make_row(9, T + 60),                                       # resolved dead letter: read again
    *[make_row(n, T + 100 + n, value=f"{n}.{n % 100:02d}") for n in range(10, 40)],
    # doubles that print long, a big value, text that needs escaping in JSON
    make_row(40, T + 200, value="123456789012.07", store_id='quote" back\\slash \u00e9\n',
             contents=[{"id": "p\"1", "quantity": 3, "item_price": 29.97 / 3},
                       {"id": "p2", "quantity": 7, "item_price": 1 / 3},
                       {"id": "p3", "quantity": 1, "item_price": 0.1 + 0.2}]),
]


@pytest.fixture(scope="module")
def both(bigquery_emulator, tmp_path_factory):
    """The same offline_events rows and ledger in DuckDB and in the emulator."""
    dataset = bigquery_emulator.create_dataset("src")
    state_dataset = bigquery_emulator.create_dataset("state")
    client = bigquery_emulator.client()
    create_offline_events_table(client, dataset, ROWS)
    path = tmp_path_factory.mktemp("duck") / "warehouse.duckdb"
    create_offline_events(path, ROWS)
    con = duckdb.connect(str(path))
    bq_source = BigQuerySource(bigquery_config(bigquery_emulator, dataset, state_dataset, chunk_size=7))
    stores = [DuckDBStateStore(con, "capi_sync", "offline_events"), BigQueryStateStore(bq_source.config)]
    for store in stores:
        store.ensure_tables()
        store.checkpoint("r1", "event_time", Checkpoint.of_sent(
            [event_id("o7")], [T + 40], ["tr"],
            dead_letters=[{"event_id": event_id(f"o{n}"), "order_id": f"o{n}", "event_time": T + 50, "stage": "check",
                           "reason": "missing_currency", "message": "m"} for n in (8, 9)], watermark=T), NOW)
        store.checkpoint("r2", "event_time", Checkpoint(resolved_event_ids=[event_id("o9")]), NOW)
    duck_source = DuckDBSource(duckdb_config(path, chunk_size=7), connection=con)
    yield {"bq": bq_source, "duck": duck_source, "client": client, "dataset": dataset, "state": state_dataset}
    con.close()


SETTINGS = EventSettings(now=T + 3600)


def rows_of(chunks) -> list[tuple]:
    """Per row: event_id, order_id, event_time, cursor, the event's bytes, its skip."""
    out = []
    for chunk in chunks:
        out += [(*values, chunk.skips.get(i)) for i, values in enumerate(zip(
            chunk.event_ids.to_pylist(), chunk.order_ids.to_pylist(), chunk.event_times.to_pylist(),
            chunk.cursors.to_pylist(), chunk.encoded.to_pylist()))]
    return out


def read_alike(bigquery_emulator, dataset: str, tmp_path, rows: list[dict]) -> list[tuple]:
    """What BigQuery reads from `dataset`'s offline_events, asserted equal to DuckDB's read of `rows`."""
    path = tmp_path / "warehouse.duckdb"
    create_offline_events(path, rows)
    bq = rows_of(BigQuerySource(bigquery_config(bigquery_emulator, dataset, "unused_state")).read_ready(
        None, False, SETTINGS))
    assert bq == rows_of(DuckDBSource(duckdb_config(path)).read_ready(None, False, SETTINGS))
    return bq


@pytest.mark.parametrize("lower, exclude", [(None, False), (T, False), (T, True), (None, True)])
def test_read_gives_the_duckdb_sources_bytes(both, lower, exclude):
    """The same rows give byte-identical events (the head written by each warehouse, the two
    objects read from the model's JSON columns) and the same skips with the same messages."""
    bq_chunks = list(both["bq"].read_ready(lower, exclude, SETTINGS))
    bq = rows_of(bq_chunks)
    assert bq == rows_of(both["duck"].read_ready(lower, exclude, SETTINGS))
    assert all(len(c) <= 7 for c in bq_chunks) and len(bq_chunks) == -(-len(bq) // 7)


def test_read_order_bound_anti_join_and_skips(both):
    rows = rows_of(both["bq"].read_ready(T, True, SETTINGS))
    orders = [r[1] for r in rows]
    expected_first = sorted(["o1", "o2"], key=lambda o: event_id(o))
    assert orders[:4] == [*expected_first, "o5", "o6"]
    assert "o3" not in orders and "o7" not in orders and "o8" not in orders and "o9" in orders
    assert orders[-1] == "o4" and rows[-1][3] is None
    skips = {r[1]: r[5] for r in rows if r[5]}
    assert skips["o5"] == ("duplicate_event_id", "event_id occurs 2 times in this read; the first was kept")
    assert skips["o2"] == ("empty_contents", "contents is empty")
    assert skips["o6"] == ("missing_event_id", "event_id is empty")
    assert skips["o4"] == ("missing_event_time", "event_time is NULL")
    o1 = orjson.loads(next(r[4] for r in rows if r[1] == "o1"))
    assert o1["custom_data"]["contents"] == [{"id": "p1", "quantity": 2, "item_price": 10.0},
                                             {"id": "p2", "quantity": 1, "item_price": 10.5}]
    assert list(o1) == ["event_name", "event_time", "event_id", "action_source", "user_data", "custom_data"]


def test_a_value_that_is_not_a_hash_is_never_sent(both, bigquery_emulator):
    """The check names the first user_data key that is not 64 lowercase hex; the row is skipped."""
    client = both["client"]
    table = f"{client.project}.{both['dataset']}.raw"
    # in user_data_json, which the sync sends: o10's em raw, o11's ph in upper case
    client.query_and_wait(f"CREATE OR REPLACE TABLE `{table}` AS SELECT * REPLACE (CASE order_id "
                          "WHEN 'o10' THEN REPLACE(user_data_json, em, 'jane@example.com') "
                          "WHEN 'o11' THEN REPLACE(user_data_json, ph, UPPER(ph)) ELSE user_data_json END AS user_data_json) "
                          f"FROM `{client.project}.{both['dataset']}.offline_events`")
    config = replace(both["bq"].config, source=replace(both["bq"].config.source, relation="raw"))
    rows = {r[1]: r for r in rows_of(BigQuerySource(config).read_ready(T, False, SETTINGS))}
    message = "user_data {} is not a lowercase hex SHA-256; raw personal data is never sent"
    assert rows["o10"][4:] == (None, ("invalid_hash", message.format("em")))
    assert rows["o11"][4:] == (None, ("invalid_hash", message.format("ph")))
    assert rows["o12"][4] is not None


def test_read_event_ids(both):
    ids = [event_id("o12"), event_id("o3"), event_id("o1"), "no-such-id", "it's\\odd"]
    bq = rows_of(both["bq"].read_event_ids_ready(ids, SETTINGS))
    assert bq == rows_of(both["duck"].read_event_ids_ready(ids, SETTINGS))
    assert [r[1] for r in bq] == ["o3", "o1", "o5", "o12"]


def test_check_columns_names_the_missing_column(bigquery_emulator, both):
    both["bq"].check_columns()
    client = both["client"]
    client.query_and_wait(f"CREATE OR REPLACE VIEW `{client.project}.{both['dataset']}.renamed` AS "
                          f"SELECT * EXCEPT (currency) FROM `{client.project}.{both['dataset']}.offline_events`")
    config = replace(bigquery_config(bigquery_emulator, both["dataset"], both["state"]),
                     source=replace(both["bq"].config.source, relation="renamed"))
    source = BigQuerySource(config)
    with pytest.raises(SourceError) as info:
        source.check_columns()
    message = str(info.value)
    assert message.startswith(f"source.relation: {bigquery_emulator.project}.{both['dataset']}.renamed has no "
                              "column 'currency' (has: action_source, contents, country, ")
    assert "\n" not in message


def test_missing_view_is_one_line(bigquery_emulator, both):
    config = bigquery_config(bigquery_emulator, both["dataset"], both["state"], extra="")
    config = replace(config, source=replace(config.source, relation="nope"))
    with pytest.raises(SourceError) as info:
        BigQuerySource(config).check_columns()
    assert str(info.value) == (f"source.relation: {bigquery_emulator.project}.{both['dataset']}.nope does not "
                               "exist (run `dbt build --target bigquery` first?)")


def test_pages_stream_a_large_read(bigquery_emulator):
    """12,000 rows in pages of 5,000: three chunks, in order, each at most chunk_size."""
    dataset = bigquery_emulator.create_dataset("big")
    client = bigquery_emulator.client()
    client.query_and_wait(f"CREATE TABLE `{client.project}.{dataset}.offline_events` AS SELECT "
                          "TO_HEX(SHA256(CAST(n AS STRING))) AS event_id, 'Purchase' AS event_name, "
                          "1751000000 + n AS event_time, 'physical_store' AS action_source, CAST(n AS STRING) AS order_id, "
                          "'USD' AS currency, NUMERIC '1.50' AS value, 1 AS num_items, "
                          "[STRUCT('p' AS id, 1 AS quantity, 1.5 AS item_price)] AS contents, 's' AS store_id, 'in_store' AS delivery_category, "
                          + ", ".join(f"TO_HEX(SHA256('{k}')) AS {k}" for k in
                                      ("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id"))
                          + ", CONCAT('{\"em\":[\"', TO_HEX(SHA256('em')), '\"]}') AS user_data_json, "
                          "'{\"currency\":\"USD\",\"value\":1.5,\"contents\":[{\"id\":\"p\",\"quantity\":1,"
                          "\"item_price\":1.5}]}' AS custom_data_json"
                          " FROM UNNEST(GENERATE_ARRAY(1, 12000)) AS n")
    source = BigQuerySource(bigquery_config(bigquery_emulator, dataset, "unused_state", chunk_size=5000))
    sizes, last = [], 0
    for chunk in source.read_ready(None, False, EventSettings(now=1751012000)):
        cursors = chunk.cursors.to_pylist()
        sizes.append(len(chunk))
        assert cursors[0] > last and cursors == sorted(cursors) and not chunk.skips
        last = cursors[-1]
    assert sizes == [5000, 5000, 2000] and last == 1751012000
    source.close()


def test_string_literal_round_trips_every_kind_of_text(both):
    texts = ["plain", "it's", "back\\slash", "new\nline\r\ttab", "bell\x07esc\x1b", "é€😀", "\\'", "''"]
    client = both["client"]
    got = [next(iter(client.query_and_wait(f"SELECT {string_literal(t)} AS t")))[0] for t in texts]
    assert got == texts


def test_credentials_key_file_errors_are_one_line(bigquery_emulator, tmp_path):
    config = bigquery_config(bigquery_emulator, "d", "s")
    missing = replace(config, source=replace(config.source, api_endpoint=None,
                                             credentials=str(tmp_path / "nope.json")))
    with pytest.raises(SourceError, match=r"^source.credentials: the key file .*nope.json does not exist$"):
        make_client(missing)
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps({"type": "service_account", "private_key": "SECRET-NOT-A-KEY"}))
    with pytest.raises(SourceError) as info:
        make_client(replace(missing, source=replace(missing.source, credentials=str(bogus))))
    assert str(info.value).startswith(f"source.credentials: {bogus} is not a service-account key file (")
    assert "SECRET" not in str(info.value)


def test_service_account_key_file_makes_a_client(bigquery_emulator, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({"type": "service_account", "project_id": "p", "private_key_id": "k1",
                                "private_key": pem, "client_email": "capi-sync@p.iam.gserviceaccount.com",
                                "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}))
    config = bigquery_config(bigquery_emulator, "d", "s")
    config = replace(config, source=replace(config.source, api_endpoint=None, credentials=str(path)))
    client = make_client(config)
    assert client._credentials.service_account_email == "capi-sync@p.iam.gserviceaccount.com"
    assert client._credentials.scopes == ["https://www.googleapis.com/auth/bigquery"]
    assert client.project == bigquery_emulator.project
    client.close()


def test_no_application_default_credentials_is_one_line(bigquery_emulator, tmp_path, monkeypatch):
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")   # no metadata server: refused at once
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    config = bigquery_config(bigquery_emulator, "d", "s")
    config = replace(config, source=replace(config.source, api_endpoint=None))
    with pytest.raises(SourceError) as info:
        make_client(config)
    assert str(info.value).startswith("source.credentials: no Google credentials found: run `gcloud auth "
                                      "application-default login`")


def test_the_read_query_is_bigquery_sql(both):
    """The query production sends parses with sqlglot's BigQuery dialect (the emulator is not the judge)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(both["bq"].read_sql(T, True, SETTINGS), read="bigquery")
    assert sorted(t.name for t in tree.find_all(exp.Table)) == ["dead_letters", "offline_events", "sent_events"]
    assert not list(tree.find_all(exp.Placeholder)) and not list(tree.find_all(exp.Parameter))


def test_per_event_ldu_is_written_alike_on_both_sources(bigquery_emulator, tmp_path, monkeypatch):
    """A relation with the per-event LDU columns: an event with ['LDU'] ends with its three
    keys, one with an empty list with none, byte for byte the same on BigQuery and DuckDB."""
    from tests.support import bigquery_emulator as support
    from tests.sync import offline_events_fixture as fixture
    ldu = {"data_processing_options": ("VARCHAR[]", "ARRAY<STRING>"),
           "data_processing_options_country": ("BIGINT", "INT64"), "data_processing_options_state": ("BIGINT", "INT64")}
    for name, (duck_type, bq_type) in ldu.items():
        monkeypatch.setitem(fixture.COLUMNS, name, duck_type)
        if not bq_type.startswith("ARRAY"):   # the list is added below (the helper fills ARRAYs as contents)
            monkeypatch.setitem(support.OFFLINE_EVENTS_COLUMNS, name, bq_type)
    rows = [make_row(1, T + 10, data_processing_options=["LDU"], data_processing_options_country=1,
                     data_processing_options_state=1000),
            make_row(2, T + 20, data_processing_options=[], data_processing_options_country=None,
                     data_processing_options_state=None)]
    dataset = bigquery_emulator.create_dataset("ldu")
    client = bigquery_emulator.client()
    base = create_offline_events_table(client, dataset, [{k: v for k, v in r.items() if k != "data_processing_options"}
                                                         for r in rows], table="base")
    client.query_and_wait(f"CREATE TABLE `{client.project}.{dataset}.offline_events` AS SELECT b.*, "
                          f"IF(b.order_id = 'o1', ['LDU'], CAST([] AS ARRAY<STRING>)) AS data_processing_options "
                          f"FROM `{base}` AS b")
    bq = read_alike(bigquery_emulator, dataset, tmp_path, rows)
    events = [orjson.loads(r[4]) for r in bq]
    assert [{k: v for k, v in e.items() if k.startswith("data_processing")} for e in events] == [
        {"data_processing_options": ["LDU"], "data_processing_options_country": 1,
         "data_processing_options_state": 1000}, {}]
