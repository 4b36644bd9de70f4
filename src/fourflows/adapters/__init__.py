"""Adapters for the ports: in-memory stores and fakes for tests, demos and teaching."""
