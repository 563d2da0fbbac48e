"""PostgreSQL engine (cluster mode)."""
