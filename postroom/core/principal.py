"""Who is asking: the value every access decision is made about."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated account, the anonymous sender, or the local administrator (CLI).

    ``groups`` holds the ACL identifiers of every group the account belongs to, directly or
    through nested groups (``$name@domain``).
    """

    account_id: int | None
    address: str | None
    domain_id: int | None
    global_admin: bool = False
    admin_domain_ids: frozenset[int] = frozenset()
    groups: frozenset[str] = frozenset()
    system: bool = False  # the operator's CLI: acts as a global administrator with all rights

    @property
    def authenticated(self) -> bool:
        return self.address is not None or self.system

    @classmethod
    def anonymous(cls) -> Principal:
        return cls(None, None, None)

    @classmethod
    def operator(cls) -> Principal:
        return cls(None, None, None, global_admin=True, system=True)

    @classmethod
    def operator_as(cls, account_id: int, address: str, domain_id: int) -> Principal:
        """The operator's CLI working in an account's namespace: the account's names
        (``INBOX/...``), every right."""
        return cls(account_id, address, domain_id, global_admin=True, system=True)

    def administers(self, domain_id: int | None) -> bool:
        if self.global_admin:
            return True
        return domain_id is not None and domain_id in self.admin_domain_ids
