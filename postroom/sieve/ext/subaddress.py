"""The "subaddress" extension (RFC 5233): ``:user`` and ``:detail`` address parts.

Postroom's addresses carry a detail after "+" (``ken+mta-filters@example.com``): the
separator is this constant, as in the SMTP layer's own handling of recipients. The local
part is split at the first "+" (§4 leaves several separators to the implementation).
Without a separator ``:user`` is the whole local part and ``:detail`` matches nothing;
``ken+@…`` has the empty detail (§4).
"""

from __future__ import annotations

from postroom.sieve.registry import AddressPartDef, Extension, register

SEPARATOR = "+"


def user(local: str, domain: str) -> str | None:
    return local.split(SEPARATOR, 1)[0]


def detail(local: str, domain: str) -> str | None:
    _user, sep, rest = local.partition(SEPARATOR)
    return rest if sep else None


register(Extension(
    "subaddress",
    address_parts=(AddressPartDef("user", user), AddressPartDef("detail", detail)),
))
