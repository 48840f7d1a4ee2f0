"""What the local BigQuery emulator (crucible) does, for each thing the project relies on.

Two kinds of test:
- `test_<feature>`: SQL and client calls the dbt models and the sync's BigQuery state use.
  Written the way real BigQuery documents them; they must keep passing.
- `test_gap_<feature>`: where crucible is not BigQuery (docs/bigquery.md, "Where the emulator
  is not BigQuery"). Each pins today's emulator behaviour so the workaround is not forgotten; when
  one fails after a crucible upgrade, the gap closed: drop the workaround it names.
"""
from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from google.api_core import exceptions as gexc
from google.cloud import bigquery

pytestmark = pytest.mark.bigquery


@pytest.fixture(scope="module")
def client(bigquery_emulator):
    return bigquery_emulator.client()


@pytest.fixture
def ds(bigquery_emulator, bigquery_dataset):
    """`project.dataset` of a fresh dataset, ready to put in backticks."""
    return f"{bigquery_emulator.project}.{bigquery_dataset}"


def rows(client, sql: str) -> list[dict]:
    return [dict(r) for r in client.query_and_wait(sql)]


def one(client, sql: str) -> dict:
    [row] = rows(client, sql)
    return row


def bq_string(value: str) -> str:
    """A GoogleSQL string literal for any text (the emulator has no query parameters)."""
    escaped = (value.replace("\\", "\\\\").replace("'", "\\'")
               .replace("\n", "\\n").replace("\r", "\\r"))
    return f"'{escaped}'"


LEDGER_DDL = ("(sync_name STRING, event_id STRING, event_time INT64, run_id STRING, "
              "fbtrace_id STRING, sent_at TIMESTAMP)")


# --- datasets, tables, loading rows -------------------------------------------------------------
def test_dataset_and_create_table_if_not_exists(client, bigquery_emulator):
    dataset = bigquery_emulator.create_dataset("lifecycle")
    client.create_dataset(dataset, exists_ok=True)  # already there: no error
    with pytest.raises(gexc.Conflict, match=f"Already Exists: Dataset local-project:{dataset}"):
        client.create_dataset(dataset)
    ddl = f"CREATE TABLE IF NOT EXISTS `{bigquery_emulator.project}.{dataset}.sent_events` {LEDGER_DDL}"
    client.query_and_wait(ddl)
    client.query_and_wait(ddl)  # second time: no error
    table = client.get_table(f"{bigquery_emulator.project}.{dataset}.sent_events")
    assert [(f.name, f.field_type) for f in table.schema] == [
        ("sync_name", "STRING"), ("event_id", "STRING"), ("event_time", "INTEGER"),
        ("run_id", "STRING"), ("fbtrace_id", "STRING"), ("sent_at", "TIMESTAMP")]
    assert table.num_rows == 0
    assert [t.table_id for t in client.list_tables(dataset)] == ["sent_events"]


def test_dml_insert_values_with_typed_literals(client, ds):
    client.query_and_wait(f"CREATE TABLE `{ds}.t` (id STRING, n INT64, v NUMERIC, ts TIMESTAMP)")
    result = client.query_and_wait(
        f"INSERT INTO `{ds}.t` (id, n, v, ts) VALUES "
        "('a', 1, NUMERIC '1.10', TIMESTAMP '2024-01-01 00:00:01.5'), ('b', NULL, NULL, NULL)")
    assert result.num_dml_affected_rows == 2
    assert rows(client, f"SELECT * FROM `{ds}.t` ORDER BY id") == [
        {"id": "a", "n": 1, "v": Decimal("1.1"),
         "ts": dt.datetime(2024, 1, 1, 0, 0, 1, 500000, tzinfo=dt.timezone.utc)},
        {"id": "b", "n": None, "v": None, "ts": None}]


def test_insert_select_from_json_string_literal(client, ds):
    """The bulk-write form for state tables: one DML INSERT, rows as one JSON string literal."""
    client.query_and_wait(f"CREATE TABLE `{ds}.sent_events` {LEDGER_DDL}")
    nasty = ["O'Brien", "back\\slash", "new\nline", 'say "hi"', "Жанна 山田 é", "🙂"]
    events = [{"event_id": f"e{i}", "event_time": 1704067200 + i, "fbtrace_id": text}
              for i, text in enumerate(nasty)] + [
             {"event_id": f"bulk{i:04d}", "event_time": i, "fbtrace_id": None} for i in range(994)]
    result = client.query_and_wait(f"""
        INSERT INTO `{ds}.sent_events` (sync_name, event_id, event_time, run_id, fbtrace_id, sent_at)
        SELECT 'sync', JSON_VALUE(r, '$.event_id'), CAST(JSON_VALUE(r, '$.event_time') AS INT64),
               'run-1', JSON_VALUE(r, '$.fbtrace_id'), CURRENT_TIMESTAMP()
        FROM UNNEST(JSON_QUERY_ARRAY({bq_string(json.dumps(events))})) AS r""")
    assert result.num_dml_affected_rows == 1000
    got = rows(client, f"SELECT event_id, event_time, fbtrace_id FROM `{ds}.sent_events` "
                       "WHERE event_id LIKE 'e%' ORDER BY event_id")
    assert got == [{"event_id": f"e{i}", "event_time": 1704067200 + i, "fbtrace_id": text}
                   for i, text in enumerate(nasty)]
    assert one(client, f"SELECT COUNT(*) AS n, COUNTIF(fbtrace_id IS NULL) AS no_trace "
                       f"FROM `{ds}.sent_events`") == {"n": 1000, "no_trace": 994}


def test_load_job_from_csv(client, ds):
    config = bigquery.LoadJobConfig(
        source_format="CSV", write_disposition="WRITE_APPEND",
        schema=[bigquery.SchemaField("id", "STRING"), bigquery.SchemaField("n", "INT64"),
                bigquery.SchemaField("v", "NUMERIC"), bigquery.SchemaField("ts", "TIMESTAMP")])
    data = b'a,1,1.25,2024-01-01 00:00:00\n"b, quoted",,,\n'
    job = client.load_table_from_file(io.BytesIO(data), f"{ds}.loaded", job_config=config)
    job.result()
    assert job.output_rows == 2
    assert rows(client, f"SELECT * FROM `{ds}.loaded` ORDER BY id") == [
        {"id": "a", "n": 1, "v": Decimal("1.25"), "ts": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)},
        {"id": "b, quoted", "n": None, "v": None, "ts": None}]


def test_gap_insert_rows_json_streaming_is_not_implemented(client, ds):
    client.query_and_wait(f"CREATE TABLE `{ds}.t` (id STRING)")
    with pytest.raises(gexc.MethodNotImplemented, match="Not implemented in Crucible: POST .*/insertAll"):
        client.insert_rows_json(f"{ds}.t", [{"id": "a"}])


def test_gap_load_table_from_json_is_refused(client, ds):
    client.query_and_wait(f"CREATE TABLE `{ds}.t` (id STRING)")
    with pytest.raises(gexc.BadRequest, match="Not supported by Crucible: load job configuration field autodetect"):
        client.load_table_from_json([{"id": "a"}], f"{ds}.t").result()
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON",
                                    schema=[bigquery.SchemaField("id", "STRING")])
    with pytest.raises(gexc.BadRequest, match="load job sourceFormat NEWLINE_DELIMITED_JSON"):
        client.load_table_from_json([{"id": "a"}], f"{ds}.t", job_config=config).result()


# --- querying -----------------------------------------------------------------------------------
def test_gap_query_parameters_are_refused(client):
    config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("n", "INT64", 2)])
    with pytest.raises(gexc.BadRequest, match="Not supported by Crucible: jobs.query request field queryParameters"):
        client.query_and_wait("SELECT @n AS n", job_config=config)
    with pytest.raises(gexc.BadRequest, match="query job configuration field queryParameters"):
        client.query("SELECT @n AS n", job_config=config).result()


def test_string_literal_escapes_round_trip(client):
    texts = ["O'Brien", "back\\slash", "tab\tand\nnewline\r", '"double"', "'''", "é Ж 山田 🙂"]
    got = one(client, "SELECT [" + ", ".join(bq_string(t) for t in texts) + "] AS texts")
    assert got == {"texts": texts}


def test_result_paging(client, ds):
    client.query_and_wait(f"CREATE TABLE `{ds}.big` AS SELECT x AS id FROM UNNEST(GENERATE_ARRAY(1, 2500)) AS x")
    result = client.query_and_wait(f"SELECT id FROM `{ds}.big` ORDER BY id", page_size=1000)
    pages = [[r.id for r in page] for page in result.pages]
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert sum(pages, []) == list(range(1, 2501))
    job_pages = client.query(f"SELECT id FROM `{ds}.big` ORDER BY id").result(page_size=700).pages
    assert [len(list(p)) for p in job_pages] == [700, 700, 700, 400]


def test_view_with_struct_array_and_result_types(client, ds):
    client.query_and_wait(f"""CREATE TABLE `{ds}.lines` AS
        SELECT 'o1' AS order_id, 'b' AS product_id, 2 AS item_quantity, NUMERIC '3.00' AS item_revenue
        UNION ALL SELECT 'o1', 'a', 1, NUMERIC '2.50'
        UNION ALL SELECT 'o1', 'b', 1, NUMERIC '1.50'
        UNION ALL SELECT 'o2', 'c', 3, NUMERIC '1.00'""")
    client.query_and_wait(f"""CREATE OR REPLACE VIEW `{ds}.orders` AS
        SELECT order_id, SUM(revenue) AS value, SUM(quantity) AS num_items,
               ARRAY_AGG(STRUCT(product_id AS id, quantity, CAST(revenue AS FLOAT64) / quantity AS item_price)
                         ORDER BY product_id) AS contents
        FROM (SELECT order_id, product_id, SUM(item_quantity) AS quantity, SUM(item_revenue) AS revenue
              FROM `{ds}.lines` GROUP BY order_id, product_id)
        GROUP BY order_id""")
    view = client.get_table(f"{ds}.orders")
    assert view.table_type == "VIEW"
    assert [(f.name, f.field_type, f.mode) for f in view.schema] == [
        ("order_id", "STRING", "NULLABLE"), ("value", "NUMERIC", "NULLABLE"),
        ("num_items", "INTEGER", "NULLABLE"), ("contents", "RECORD", "REPEATED")]
    assert [(f.name, f.field_type) for f in view.schema[3].fields] == [
        ("id", "STRING"), ("quantity", "INTEGER"), ("item_price", "FLOAT")]
    got = rows(client, f"SELECT * FROM `{ds}.orders` ORDER BY order_id")
    assert got == [
        {"order_id": "o1", "value": Decimal("7"), "num_items": 4,
         "contents": [{"id": "a", "quantity": 1, "item_price": 2.5},
                      {"id": "b", "quantity": 3, "item_price": 1.5}]},
        {"order_id": "o2", "value": Decimal("1"), "num_items": 3,
         "contents": [{"id": "c", "quantity": 3, "item_price": 1 / 3}]}]
    assert type(got[0]["value"]) is Decimal and type(got[0]["contents"]) is list
    flat = rows(client, f"SELECT o.order_id, c.id FROM `{ds}.orders` AS o CROSS JOIN UNNEST(o.contents) AS c "
                        "ORDER BY o.order_id, c.id")
    assert flat == [{"order_id": "o1", "id": "a"}, {"order_id": "o1", "id": "b"}, {"order_id": "o2", "id": "c"}]


def test_gap_unnest_of_literal_struct_array_with_alias(client):
    """`UNNEST(column) AS c` over a table works (above); over an array literal, `c.field` does not."""
    with pytest.raises(gexc.BadRequest, match='Referenced table "_0.x" not found'):
        client.query_and_wait("SELECT x.id FROM UNNEST([STRUCT('a' AS id)]) AS x")
    assert one(client, "SELECT id FROM UNNEST([STRUCT('a' AS id)])") == {"id": "a"}


# --- functions the models use -------------------------------------------------------------------
def test_to_hex_sha256(client):
    assert one(client, "SELECT TO_HEX(SHA256('abc')) AS h, TO_HEX(SHA256(CAST(NULL AS STRING))) AS n, "
                       "TO_HEX(SHA256(CONCAT('Purchase', ':', 'o1'))) AS event_id") == {
        "h": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "n": None,
        "event_id": "f3818b1cd8ff80bc467ca3f3c92db589e3c2304311fa1081a17d4a47b12df023"}


def test_gap_normalize_nfc_is_not_supported(client):
    with pytest.raises(gexc.BadRequest, match="Not supported by Crucible: function NORMALIZE"):
        client.query_and_wait("SELECT NORMALIZE('Vale\u0301ry', NFC) AS n")
    # Unknown functions reach DuckDB unchanged, so DuckDB's NFC_NORMALIZE is the emulator's spelling.
    assert one(client, "SELECT NFC_NORMALIZE('Vale\u0301ry') AS n") == {"n": "Val\u00e9ry"}


def test_regexp_replace_all_unicode_letters(client):
    got = one(client, r"SELECT REGEXP_REPLACE(LOWER(' O\'Connor-Valéry 3 Жанна 山田 '), r'[^\p{L}]', '') AS name, "
                      r"REGEXP_REPLACE('+1 (650) 555-1212', r'[^0-9]', '') AS digits, "
                      r"REGEXP_CONTAINS('a@b.co', r'^[^@\s]+@[^@\s]+\.[^@\s]+$') AS email_ok")
    assert got == {"name": "oconnorvaléryжанна山田", "digits": "16505551212", "email_ok": True}


def test_gap_lower_refuses_context_dependent_letters(client):
    with pytest.raises(gexc.BadRequest, match="LOWER of a capital sigma"):
        client.query_and_wait("SELECT LOWER('ΣΑΣ') AS l")
    with pytest.raises(gexc.BadRequest, match="UPPER of a character with a multi-character case mapping"):
        client.query_and_wait("SELECT UPPER('straße') AS u")


def test_gap_unix_seconds_rounds_instead_of_truncating(client):
    """BigQuery truncates UNIX_SECONDS to the start of the second; crucible rounds (half to even)."""
    got = one(client, "SELECT UNIX_SECONDS(TIMESTAMP '2024-01-01 00:00:01.999999') AS a, "
                      "UNIX_SECONDS(TIMESTAMP '2024-01-01 00:00:00.5') AS b")
    assert got == {"a": 1704067202, "b": 1704067200}  # BigQuery: 1704067201, 1704067200


def test_unix_seconds_of_timestamp_trunc_truncates(client):
    """The portable spelling of event_time: same answer on BigQuery and on the emulator."""
    got = one(client, "SELECT UNIX_SECONDS(TIMESTAMP_TRUNC(TIMESTAMP '2024-01-01 00:00:01.999999', SECOND)) AS a, "
                      "UNIX_SECONDS(TIMESTAMP_TRUNC(TIMESTAMP '1969-12-31 23:59:59.5', SECOND)) AS b, "
                      "DIV(UNIX_MICROS(TIMESTAMP '2024-01-01 00:00:01.999999'), 1000000) AS c")
    assert got == {"a": 1704067201, "b": -1, "c": 1704067201}


def test_dates_and_safe_casts(client):
    got = one(client, "SELECT FORMAT_DATE('%Y%m%d', DATE '1990-07-04') AS db, "
                      "SAFE_CAST('abc' AS INT64) AS bad_int, SAFE_CAST('12' AS INT64) AS good_int, "
                      "SAFE_CAST('1990-13-01' AS DATE) AS bad_date, "
                      "SAFE.PARSE_DATE('%Y%m%d', '19900230') AS feb_30, "
                      "FORMAT_DATE('%Y%m%d', SAFE.PARSE_DATE('%m/%d/%Y', '07/04/1990')) AS us_date")
    assert got == {"db": "19900704", "bad_int": None, "good_int": 12, "bad_date": None,
                   "feb_30": None, "us_date": "19900704"}


def test_current_timestamp_and_timestamp_sub(client):
    got = one(client, "SELECT CURRENT_TIMESTAMP() AS now, "
                      "TIMESTAMP_SUB(TIMESTAMP '2024-03-01 00:00:00', INTERVAL 62 DAY) AS lookback, "
                      "DATE_SUB(DATE '2024-03-01', INTERVAL 62 DAY) AS lookback_date")
    assert abs((got["now"] - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 60
    assert got["lookback"] == dt.datetime(2023, 12, 30, tzinfo=dt.timezone.utc)
    assert got["lookback_date"] == dt.date(2023, 12, 30)


def test_numeric_sums_and_division(client):
    got = one(client, "SELECT SUM(v) AS total, SUM(v) / 3 AS third, "
                      "CAST(SUM(v) AS FLOAT64) / 4 AS as_float, ROUND(NUMERIC '2.675', 2) AS rounded "
                      "FROM UNNEST([NUMERIC '1.10', NUMERIC '2.25', NUMERIC '3.33']) AS v")
    assert got == {"total": Decimal("6.68"), "third": Decimal("2.226666667"), "as_float": 1.67,
                   "rounded": Decimal("2.68")}


def test_gap_numeric_differences(client, ds):
    # CAST(NUMERIC AS STRING) keeps all 9 fraction digits (BigQuery: '12.3').
    assert one(client, "SELECT CAST(NUMERIC '12.30' AS STRING) AS s") == {"s": "12.300000000"}
    # Parameterized NUMERIC(P, S) columns can be created but never read (BigQuery allows them).
    client.query_and_wait(f"CREATE TABLE `{ds}.money` (amount NUMERIC(18, 2))")
    with pytest.raises(gexc.BadRequest, match=r"result type DECIMAL\(18, 2\) \(not NUMERIC\)"):
        client.query_and_wait(f"SELECT amount FROM `{ds}.money`")
    # A FLOAT64 literal is not coerced into a NUMERIC column: write NUMERIC '2.25'.
    client.query_and_wait(f"CREATE TABLE `{ds}.n` (v NUMERIC)")
    with pytest.raises(gexc.BadRequest, match="Query column 1 has type FLOAT64 which cannot be inserted"):
        client.query_and_wait(f"INSERT INTO `{ds}.n` (v) VALUES (2.25)")


# --- DML and scripts ----------------------------------------------------------------------------
def test_merge_upsert_and_merge_delete(client, ds):
    client.query_and_wait(f"CREATE TABLE `{ds}.sync_watermarks` "
                          "(sync_name STRING, cursor_column STRING, watermark INT64, run_id STRING)")
    upsert = (f"MERGE `{ds}.sync_watermarks` AS t USING (SELECT 'a' AS sync_name, 'event_time' AS "
              "cursor_column, {w} AS watermark, '{run}' AS run_id) AS s ON t.sync_name = s.sync_name "
              "WHEN MATCHED THEN UPDATE SET watermark = s.watermark, run_id = s.run_id "
              "WHEN NOT MATCHED THEN INSERT (sync_name, cursor_column, watermark, run_id) "
              "VALUES (s.sync_name, s.cursor_column, s.watermark, s.run_id)")
    assert client.query_and_wait(upsert.format(w=100, run="r1")).num_dml_affected_rows == 1
    assert client.query_and_wait(upsert.format(w=200, run="r2")).num_dml_affected_rows == 1
    client.query_and_wait(upsert.replace("'a' AS sync_name", "'b' AS sync_name").format(w=5, run="r3"))
    assert rows(client, f"SELECT sync_name, watermark, run_id FROM `{ds}.sync_watermarks` ORDER BY 1") == [
        {"sync_name": "a", "watermark": 200, "run_id": "r2"},
        {"sync_name": "b", "watermark": 5, "run_id": "r3"}]
    # DELETE is not supported (below); MERGE ... WHEN MATCHED THEN DELETE is.
    deleted = client.query_and_wait(f"MERGE `{ds}.sync_watermarks` AS t USING (SELECT 'b' AS sync_name) AS s "
                                    "ON t.sync_name = s.sync_name WHEN MATCHED THEN DELETE")
    assert deleted.num_dml_affected_rows == 1
    assert rows(client, f"SELECT sync_name FROM `{ds}.sync_watermarks`") == [{"sync_name": "a"}]


def test_gap_update_and_delete_are_not_supported(client, ds):
    client.query_and_wait(f"CREATE TABLE `{ds}.t` (id STRING, n INT64)")
    with pytest.raises(gexc.BadRequest, match="Not supported by Crucible: UPDATE statement"):
        client.query_and_wait(f"UPDATE `{ds}.t` SET n = 1 WHERE id = 'a'")
    with pytest.raises(gexc.BadRequest, match="Not supported by Crucible: DELETE statement"):
        client.query_and_wait(f"DELETE FROM `{ds}.t` WHERE id = 'a'")
    with pytest.raises(gexc.BadRequest, match="Not supported by Crucible: TRUNCATETABLE statement"):
        client.query_and_wait(f"TRUNCATE TABLE `{ds}.t`")


def test_multi_statement_request_runs_in_order_without_atomicity(client, ds):
    client.query_and_wait(f"CREATE TABLE `{ds}.t` (id STRING)")
    last = client.query_and_wait(f"INSERT INTO `{ds}.t` (id) VALUES ('a'); "
                                 f"INSERT INTO `{ds}.t` (id) VALUES ('b'); SELECT COUNT(*) AS n FROM `{ds}.t`")
    assert [dict(r) for r in last] == [{"n": 2}]
    with pytest.raises(gexc.BadRequest, match="Bad int64 value: x"):
        client.query_and_wait(f"INSERT INTO `{ds}.t` (id) VALUES ('c'); SELECT CAST('x' AS INT64)")
    # The first statement stays applied, as in a BigQuery script without a transaction.
    assert one(client, f"SELECT COUNT(*) AS n FROM `{ds}.t`") == {"n": 3}


def test_gap_transactions_and_scripting_are_not_supported(client, ds):
    client.query_and_wait(f"CREATE TABLE `{ds}.t` (id STRING)")
    with pytest.raises(gexc.BadRequest, match="Not supported by Crucible: TRANSACTION statement"):
        client.query_and_wait(f"BEGIN TRANSACTION; INSERT INTO `{ds}.t` (id) VALUES ('a'); COMMIT TRANSACTION;")
    with pytest.raises(gexc.BadRequest, match="Not supported by Crucible: DECLARE statement"):
        client.query_and_wait("DECLARE x INT64 DEFAULT 1; SELECT x")
    assert one(client, f"SELECT COUNT(*) AS n FROM `{ds}.t`") == {"n": 0}


def test_gap_information_schema_is_not_supported(client, ds):
    client.query_and_wait(f"CREATE TABLE `{ds}.t` (id STRING)")
    with pytest.raises(gexc.BadRequest, match="Not supported by Crucible: INFORMATION_SCHEMA"):
        client.query_and_wait(f"SELECT column_name FROM `{ds}.INFORMATION_SCHEMA.COLUMNS` WHERE table_name = 't'")
    # tables.get is the way to read a schema on both.
    assert [f.name for f in client.get_table(f"{ds}.t").schema] == ["id"]


def test_anti_join_against_another_dataset(client, bigquery_emulator, ds):
    state = f"{bigquery_emulator.project}.{bigquery_emulator.create_dataset('state')}"
    client.query_and_wait(f"CREATE TABLE `{ds}.offline_events` AS SELECT * FROM UNNEST(["
                          "STRUCT('e1' AS event_id, 10 AS event_time), STRUCT('e2', 11), STRUCT('e3', 12)])")
    client.query_and_wait(f"CREATE TABLE `{state}.sent_events` {LEDGER_DDL}")
    client.query_and_wait(f"INSERT INTO `{state}.sent_events` (sync_name, event_id) "
                          "VALUES ('mine', 'e1'), ('other', 'e2')")
    got = rows(client, f"""SELECT e.event_id FROM `{ds}.offline_events` AS e
        WHERE e.event_time >= 10 AND NOT EXISTS (
          SELECT 1 FROM `{state}.sent_events` AS s WHERE s.sync_name = 'mine' AND s.event_id = e.event_id)
        ORDER BY e.event_time, e.event_id""")
    assert got == [{"event_id": "e2"}, {"event_id": "e3"}]


# --- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("via_job", [False, True], ids=["jobs.query", "jobs.insert"])
def test_error_shapes(client, ds, via_job):
    def run(sql):
        return client.query(sql).result() if via_job else client.query_and_wait(sql)

    with pytest.raises(gexc.BadRequest) as syntax:
        run("SELEC 1")
    assert syntax.value.errors[0]["reason"] == "invalidQuery"
    assert syntax.value.errors[0]["message"] == "Syntax error: Invalid expression / Unexpected token at [1:7]"
    with pytest.raises(gexc.NotFound) as missing:
        run(f"SELECT * FROM `{ds}.nope`")
    assert missing.value.errors[0]["reason"] == "notFound"
    assert missing.value.errors[0]["message"] == f"Not found: Table {ds.replace('.', ':')}.nope was not found in location US"
    with pytest.raises(gexc.BadRequest) as runtime:
        run("SELECT CAST('x' AS INT64)")
    assert runtime.value.errors[0]["message"] == "Bad int64 value: x"


def test_gap_nul_character_in_a_string_literal(client):
    # BigQuery accepts '\x00' in STRING values; crucible (DuckDB strings) cannot parse it.
    with pytest.raises(gexc.BadRequest, match="unterminated quoted string"):
        client.query_and_wait("SELECT 'a\\x00b' AS t")
    assert [tuple(r.values()) for r in client.query_and_wait("SELECT 'a\\x07\\u00e9\\n' AS t")] == [("a\x07é\n",)]


def test_to_json_string_of_a_row(client):
    row = next(iter(client.query_and_wait(
        "SELECT TO_JSON_STRING(t) AS j FROM (SELECT 'a\\'b\"c' AS s, 29.97 / 3 AS f, 1751198400 AS i, "
        "CAST(NULL AS STRING) AS n, [STRUCT('p1' AS id, 2 AS quantity, 0.1 + 0.2 AS item_price)] AS contents, "
        "CAST(NUMERIC '25.50' AS FLOAT64) AS v) AS t")))
    assert json.loads(row[0]) == {"s": "a'b\"c", "f": 29.97 / 3, "i": 1751198400, "n": None,
                                  "contents": [{"id": "p1", "quantity": 2, "item_price": 0.1 + 0.2}], "v": 25.5}


def test_gap_to_json_string_of_a_whole_float64_beyond_2_pow_53(client):
    with pytest.raises(gexc.BadRequest, match="TO_JSON_STRING of a whole FLOAT64 beyond 2"):
        client.query_and_wait("SELECT TO_JSON_STRING(STRUCT(1e300 AS f))")


def test_gap_normalize_in_no_form(client):
    for sql in ("SELECT NORMALIZE('e\\u0301')", "SELECT NORMALIZE('e', NFKC)", "SELECT NORMALIZE_AND_CASEFOLD('E')"):
        with pytest.raises(gexc.BadRequest, match="function NORMALIZE"):
            client.query_and_wait(sql)
