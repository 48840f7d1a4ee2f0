"""Per-customer privacy controls and product fields end to end: the fixture set with consent,
opt-out and Limited Data Use columns in customer_360 and product name and brand columns in
unified_itemized_transactions, `dbt build` with the vars naming them (and LDU for California
residents), then a sync to the emulator. The excluded customers' orders are not in
offline_events, the exclusions are counted per reason, each contents item carries title and
brand (no category: its var is not set; a NULL one is left out), LDU is set per event, and the
emulator receives exactly the other events; the sync-wide LDU on top is refused (exit 2).
Without the vars (the fixture warehouse of test_offline_events) nothing changes."""
from __future__ import annotations

import calendar
import textwrap

import duckdb
import pytest
from dbt_runner import run_dbt
from test_offline_events import COLUMNS, expected_rows

from sample_data.fixtures import AS_OF, AS_OF_VAR, load_fixtures
from sync.config import load_config
from sync.emulator import ConversionsApiEmulator
from sync.runner import SyncRun
from tests.support.main_job import expected_event, expected_skip_reason, run_cli

TOKEN = "privacy-token-3b9e"
DATASET_ID = "271828"
AS_OF_UNIX = calendar.timegm(AS_OF.timetuple())

# customer: (marketing_opt_in VARCHAR, ccpa_do_not_sell BOOLEAN, erasure_requested INTEGER); others opted in ('y')
CONSENT = {
    "C001": (" Yes ", False, 0),
    "C002": ("no", False, 0),        # no_marketing_consent
    "C003": ("y", True, 0),          # do_not_sell_or_share
    "C004": (None, None, 1),         # deletion_requested (named before the missing consent)
    "C005": (None, None, None),      # no_marketing_consent: NULL is no consent
    "C010": (None, None, None),      # no_marketing_consent, but never an event (no valid email or phone)
}
EXCLUDED_ORDERS = {"O002", "O003", "O004", "O005"}
CONSENT_VARS = {"as_of": AS_OF_VAR, "marketing_consent_column": "marketing_opt_in",
                "do_not_sell_or_share_column": "ccpa_do_not_sell", "deletion_requested_column": "erasure_requested",
                "product_title_column": "product_name", "product_brand_column": "brand_name",
                "limited_data_use_column": "ccpa_limit_use", "limited_data_use_states": ["CA"]}
# Limited Data Use: C001 lives in California (a listed state): 1 / 1000; C011 (New York) set
# ccpa_limit_use: 0 / 0 (Meta geolocates); every other sent customer none
LDU = {"O001": (["LDU"], 1, 1000), "O016": (["LDU"], 0, 0), "O017": (["LDU"], 0, 0)}
# product -> (product_name, brand_name); every other product is named 'Item <id>', without brand
PRODUCTS = {"P1": ("Mug", "Acme"), "P2": ("Tea", None), "P3": (None, "Other")}


def with_products(row: tuple) -> tuple:
    """An expected offline_events row with title and brand in each contents item."""
    contents = [{**item, "title": PRODUCTS.get(item["id"], ("Item " + item["id"], None))[0],
                 "brand": PRODUCTS.get(item["id"], (None, None))[1]} for item in row[8]]
    return (*row[:8], contents, *row[9:])


@pytest.fixture(scope="module")
def consent_warehouse(tmp_path_factory):
    work = tmp_path_factory.mktemp("consent_warehouse")
    path = work / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        load_fixtures(con)
        con.execute("alter table amperity.customer_360 add column marketing_opt_in varchar default 'y'")
        con.execute("alter table amperity.customer_360 add column ccpa_do_not_sell boolean default false")
        con.execute("alter table amperity.customer_360 add column erasure_requested integer default 0")
        for customer, values in CONSENT.items():
            con.execute("update amperity.customer_360 set marketing_opt_in = ?, ccpa_do_not_sell = ?, "
                        "erasure_requested = ? where amperity_id = ?", [*values, customer])
        con.execute("alter table amperity.customer_360 add column ccpa_limit_use boolean default false")
        con.execute("update amperity.customer_360 set ccpa_limit_use = true where amperity_id = 'C011'")
        con.execute("alter table amperity.unified_itemized_transactions add column product_name varchar")
        con.execute("alter table amperity.unified_itemized_transactions add column brand_name varchar")
        con.execute("update amperity.unified_itemized_transactions set product_name = 'Item ' || product_id")
        for product, (name, brand) in PRODUCTS.items():
            con.execute("update amperity.unified_itemized_transactions set product_name = ?, brand_name = ? "
                        "where product_id = ?", [name, brand, product])
    run_dbt(["build", "--select", "+offline_events", "+offline_events__consent_exclusions"], path, work, CONSENT_VARS)
    return work, path


def test_excluded_customers_are_not_in_offline_events_and_are_counted(consent_warehouse):
    _, path = consent_warehouse
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(f"select {', '.join(COLUMNS)} from analytics.offline_events order by order_id").fetchall()
        exclusions = con.execute("select * from analytics.offline_events__consent_exclusions "
                                 "order by exclusion_reason").fetchall()
    assert rows == [with_products(r) for r in expected_rows() if r[4] not in EXCLUDED_ORDERS]
    assert exclusions == [("deletion_requested", 1, 1), ("do_not_sell_or_share", 1, 1),
                          ("no_marketing_consent", 3, 2)]
    with duckdb.connect(str(path), read_only=True) as con:
        ldu = con.execute("select order_id, data_processing_options, data_processing_options_country, "
                          "data_processing_options_state from analytics.offline_events order by order_id").fetchall()
    assert ldu == [(r[4], *LDU.get(r[4], ([], None, None))) for r in expected_rows() if r[4] not in EXCLUDED_ORDERS]


def test_the_emulator_receives_exactly_the_consented_events(consent_warehouse):
    work, path = consent_warehouse
    with duckdb.connect(str(path), read_only=True) as con:
        cur = con.execute("select * from analytics.offline_events")
        names = [d[0] for d in cur.description]
        view = [dict(zip(names, r)) for r in cur.fetchall()]
    config = work / "sync.yml"
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids={DATASET_ID}, clock=lambda: AS_OF_UNIX) as emu:
        config.write_text(textwrap.dedent(f"""\
            name: privacy
            source: {{type: duckdb, path: "{path}", relation: analytics.offline_events}}
            cursor: {{column: event_time, lookback: 3d}}
            destination:
              endpoint: "{emu.url}"
              dataset_id: "{DATASET_ID}"
              access_token: "{{{{ env_var('PRIVACY_TOKEN') }}}}"
            """))
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PRIVACY_TOKEN", TOKEN)
            summary = SyncRun(load_config(config), config_file=str(config), now=lambda: AS_OF_UNIX).run()
        accepted = sorted(emu.accepted_events(), key=lambda e: e["event_id"])
    sendable = [r for r in view if expected_skip_reason(r, AS_OF_UNIX) is None]
    assert summary.exit_code == 0 and summary.events_sent == len(sendable) == 8
    assert accepted == sorted((expected_event(r) for r in sendable), key=lambda e: e["event_id"])
    assert not {e["custom_data"]["order_id"] for e in accepted} & EXCLUDED_ORDERS
    assert {e["custom_data"]["order_id"]: (e["data_processing_options"], e["data_processing_options_country"],
                                           e["data_processing_options_state"])
            for e in accepted if "data_processing_options" in e} == {o: v for o, v in LDU.items() if o != "O016"}


def test_sync_wide_ldu_and_per_event_ldu_cannot_both_decide(consent_warehouse):
    """The warehouse sets LDU per event and the config sets destination.data_processing_options
    too: one line naming the key and the relation, exit 2, nothing sent."""
    import os
    work, path = consent_warehouse
    config = work / "both_ldu.yml"
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids={DATASET_ID}) as emu:
        config.write_text(textwrap.dedent(f"""\
            name: privacy_both_ldu
            source: {{type: duckdb, path: "{path}", relation: analytics.offline_events}}
            destination:
              endpoint: "{emu.url}"
              dataset_id: "{DATASET_ID}"
              access_token: "{{{{ env_var('PRIVACY_TOKEN') }}}}"
              data_processing_options: {{options: [LDU], country: 1, state: 1000}}
            """))
        result = run_cli(["run", "--config", str(config)], dict(os.environ, PRIVACY_TOKEN=TOKEN))
        assert emu.requests == []
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("capi-sync: error:")] == [
        "capi-sync: error: destination.data_processing_options: analytics.offline_events sets Limited Data Use per "
        "event (column data_processing_options, from the warehouse's limited_data_use vars); remove the sync-wide key "
        "or the warehouse's vars, not both; nothing was sent"]
