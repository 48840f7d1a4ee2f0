"""Helpers shared by tests: local stand-ins for services we cannot reach from CI."""
