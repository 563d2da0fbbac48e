"""Editable-column helpers: only allow-listed names reach the SQL text; booleans become 0/1."""

from __future__ import annotations

from postroom.store.repo.columns import editable


def test_editable_keeps_allowed_columns_in_a_stable_order() -> None:
    got = editable({"port": 995, "host": "h", "evil; DROP": 1, "enabled": True},
                   {"host", "port", "enabled"})
    assert list(got) == ["enabled", "host", "port"]
    assert got == {"enabled": 1, "host": "h", "port": 995}
    assert type(got["enabled"]) is int
