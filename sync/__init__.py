"""capi-sync: incremental, exactly-once delivery of the `offline_events` view to Meta's Conversions API."""

__version__ = "0.1.0"
