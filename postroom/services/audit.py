"""The audit log: every administrative change, with who made it, from where, and when.

Written by the services that make the changes (administration, ACLs), after the change has
committed: a change is never held back by its record. The trade-off: a crash between the two
loses the record of a change that happened; such a failure to write is logged as an error. The
alternative, one transaction for both, would need every repository write to take part in a
caller's transaction, which the store's group-commit writer does not offer.

``who`` is the principal's address, ``operator`` for the CLI's system principal, ``server`` for
the server acting on its own; ``from where`` is the ``Origin`` (channel and address).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from postroom.core.actor import Origin
from postroom.core.principal import Principal
from postroom.core.records import AuditRec
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.audit")


def actor_name(principal: Principal) -> str:
    """The CLI's system principal is the operator even when it works in an account's
    namespace (``Principal.operator_as``)."""
    if principal.system:
        return "operator"
    return principal.address or "anonymous"


class AuditLog:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def record(self, principal: Principal, origin: Origin, action: str, target: str,
                     detail: Mapping[str, object] | None = None) -> None:
        who = actor_name(principal)
        try:
            await self._store.audit.append(who, str(origin), action, target, detail or {})
        except Exception:
            log.exception("audit record lost", extra={"action": action, "target": target,
                                                      "actor": who})
            return
        log.info("audit", extra={"action": action, "target": target, "actor": who,
                                 "origin": str(origin)})

    async def list(self, *, limit: int = 100, since: int | None = None,
                   actor: str | None = None, action: str | None = None,
                   target: str | None = None, before: int | None = None) -> list[AuditRec]:
        return await self._store.audit.list(limit=limit, since=since, actor=actor,
                                            action=action, target=target, before=before)
