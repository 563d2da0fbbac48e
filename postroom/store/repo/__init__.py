"""Typed repository methods over an Engine; the only place SQL is written."""
