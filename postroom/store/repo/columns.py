"""INSERT and UPDATE of a row's editable columns, for repositories whose admin commands set
any subset of them (MultiPOP remotes, gateways, ATRN providers).

Column names only ever come from a repository's own allow-list (``editable``), never from
user input, so building the statement text from them is safe; every value is a parameter.
Booleans are stored as 0/1 on both dialects.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from postroom.store.engine import Row, Tx


def editable(fields: Mapping[str, object], allowed: Collection[str]) -> dict[str, object]:
    """The allowed columns of ``fields`` in a stable order, with values as stored."""
    return {c: int(v) if isinstance(v, bool) else v
            for c, v in sorted(fields.items()) if c in allowed}


def insert(tx: Tx, table: str, values: Mapping[str, object], returning: str = "",
           ) -> Row | None:
    """``INSERT INTO table (…) VALUES (…)``; the ``returning`` column's row when asked."""
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
    if returning:
        return tx.one(f"{sql} RETURNING {returning}", tuple(values.values()))
    tx.execute(sql, tuple(values.values()))
    return None


def update(tx: Tx, table: str, values: Mapping[str, object], where: str,
           args: tuple[object, ...]) -> int:
    """``UPDATE table SET … WHERE where``; rows changed (0 when there is nothing to set)."""
    if not values:
        return 0
    sets = ", ".join(f"{c} = ?" for c in values)
    return tx.execute(f"UPDATE {table} SET {sets} WHERE {where}",
                      (*values.values(), *args))
