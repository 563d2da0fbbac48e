"""vCard (RFC 6350 4.0, RFC 2426 3.0; RFC 6352 §5.1): parse, validate, index, convert."""

from __future__ import annotations

from postroom.pim.model import ItemIndex


def index_card(data: bytes) -> ItemIndex:
    """Check that ``data`` is one vCard with a UID (RFC 6352 §5.1) and index it; raise
    ``InvalidItem`` (CARDDAV:valid-address-data) otherwise."""
    raise NotImplementedError


def convert(data: bytes, version: str) -> bytes:
    """The same card as vCard ``version`` ("3.0" or "4.0") (RFC 6352 §10.4.1 address-data
    content-type/version; RFC 6350 Appendix A)."""
    raise NotImplementedError
