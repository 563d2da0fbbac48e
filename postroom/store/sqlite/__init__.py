"""SQLite engine (embedded mode)."""
