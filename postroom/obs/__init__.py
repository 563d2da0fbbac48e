"""Observability: structured logs carrying the connection id."""
