"""A local stand-in for Meta's Conversions API `/events` edge, for development, tests and benchmarks.

    from sync.emulator import ConversionsApiEmulator, Faults
    with ConversionsApiEmulator(access_token="test-token") as emu:
        ...  # POST f"{emu.url}/v24.0/<dataset_id>/events"; then emu.accepted_events()

Run it as a server: `capi-sync emulator` or `python -m sync.emulator`. Rules, error codes
and the control API: docs/emulator.md.
"""
from .client import EmulatorClient
from .faults import FAULT_KINDS, Faults
from .graph_errors import GraphError
from .server import DEFAULT_ACCESS_TOKEN, DEFAULT_PORT, AcceptedBatch, ConversionsApiEmulator, RequestRecord

__all__ = [
    "AcceptedBatch",
    "ConversionsApiEmulator",
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_PORT",
    "EmulatorClient",
    "FAULT_KINDS",
    "Faults",
    "GraphError",
    "RequestRecord",
]
