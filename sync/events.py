"""What a source hands the run: per-run event settings and `ReadyChunk`, a page of events
ready to send (the warehouse wrote their JSON; sync/sources/ready.py checked them)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from sync.contract import (ARRAY_USER_DATA_KEYS, DAY, EVENT_COLUMNS, MAX_AGE_PHYSICAL_STORE,  # noqa: F401
                           REQUIRED_COLUMNS, SHA256_HEX, USER_DATA_KEYS)

# The names the sources and tests use for the contract's user_data keys.
USER_DATA_COLUMNS, ARRAY_USER_KEYS = USER_DATA_KEYS, ARRAY_USER_DATA_KEYS

# Extra column every source adds: how many rows of this read carry the same event_id.
COPIES_COLUMN = "_copies"
hash_match = SHA256_HEX.match


@dataclass(frozen=True)
class EventSettings:
    """Per-run inputs to event building that do not come from the row."""

    now: int
    data_processing_options: list[str] | None = None
    data_processing_options_country: int = 0
    data_processing_options_state: int = 0
    external_id_as_given: bool = False     # source.external_id: as_given


@dataclass
class ReadyChunk:
    """One chunk's rows ready to batch, in read order, as Arrow arrays (Python lists are
    converted): per row its event_id, order_id, event_time and cursor, and either the event's
    JSON bytes (`encoded`) or a skip (skips[i] = (reason, message), encoded[i] NULL), and the
    match keys it carries (`key_bits`, sync/match_keys.py; found in `encoded` when not given)."""

    event_ids: pa.Array
    order_ids: pa.Array
    event_times: pa.Array
    cursors: pa.Array
    encoded: pa.Array
    skips: dict[int, tuple[str, str]] = field(default_factory=dict)
    key_bits: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.event_ids = _arrow(self.event_ids, pa.string())
        self.order_ids = _arrow(self.order_ids, pa.string())
        self.event_times = _arrow(self.event_times, pa.int64())
        self.cursors = _arrow(self.cursors, pa.int64())
        self.encoded = _arrow(self.encoded, pa.binary())
        if self.encoded.null_count != len(self.skips):
            raise ValueError(f"ReadyChunk: {self.encoded.null_count} rows without bytes but {len(self.skips)} skips "
                             "(every row is either an event or a skip)")
        if self.key_bits is None:
            from sync.match_keys import key_bits
            self.key_bits = key_bits(self.encoded)

    def __len__(self) -> int:
        return len(self.event_ids)


def value_offsets(values: pa.Array) -> np.ndarray:
    """The len(values) + 1 int32 offsets of a binary or string Arrow array, read in place from
    the array's own offset."""
    return np.frombuffer(values.buffers()[1], dtype=np.int32, count=len(values) + 1, offset=values.offset * 4)


def _arrow(values, type_: pa.DataType) -> pa.Array:
    """`values` (a list or an Arrow array) as an Arrow array of `type_`."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        return pa.array(values, type_)
    return values if values.type == type_ else values.cast(type_)
