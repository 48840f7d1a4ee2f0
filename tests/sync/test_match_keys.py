"""key_bits finds exactly the user_data keys of orjson-encoded events, whatever the other
values hold (a custom_data text that looks like a key is not one)."""
from __future__ import annotations

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.match_keys import MATCH_KEYS, count_keys, key_bits
from tests.support.events_oracle import user_data_keys

HASH = "a" * 64
texts = st.text(alphabet=st.sampled_from(['"', ":", "e", "m", "p", "h", "\\", "{", "}", ",", "x"]), max_size=12)
events = st.builds(
    lambda keys, order_id, title: {
        "event_name": "Purchase", "event_time": 1, "event_id": "e", "action_source": "physical_store",
        "user_data": {k: ([HASH] if k in ("em", "ph", "external_id") else HASH) for k in MATCH_KEYS if k in keys},
        "custom_data": {"order_id": order_id, "contents": [{"id": "p", "title": title, "quantity": 1}]}},
    st.sets(st.sampled_from(MATCH_KEYS)), texts, texts)


@settings(max_examples=60, deadline=None)
@given(st.lists(events, max_size=20), st.integers(0, 5))
def test_key_bits_are_the_user_data_keys(batch, offset):
    encoded = pa.array([b"{}"] * offset + [orjson.dumps(e) for e in batch], pa.binary()).slice(offset)
    bits = key_bits(encoded)
    assert [{k for i, k in enumerate(MATCH_KEYS) if b & (1 << i)} for b in bits] == [user_data_keys(e) for e in batch]
    assert count_keys(bits) == [sum(1 for e in batch if k in e["user_data"]) for k in MATCH_KEYS]
