"""Deterministic sample data and test fixtures for the Unified Itemized Transactions and Customer 360 source tables."""
