"""A contact search (one text-match on FN, EMAIL or NICKNAME) is narrowed by the index in SQL
(services/dav/items.py ``_indexed_needle``); the narrowing must never lose a card that
matches (RFC 6352 §10.5.4): LIKE wildcards in the text, case, white space, match types,
collations, negation, non-ASCII text and a text too long to be indexed whole."""

from __future__ import annotations

import re

import pytest

from tests.dav.test_carddav_basic import VCARD, _contacts, card
from tests.support.dav import Dav

CARDS = {"c1": "Ann Smith", "c2": "ANN SMITH", "c3": "Ann  Smith", "c4": "Ann_Smith",
         "c5": "50% Ann", "c6": "Änn Smith", "c7": "Bob Jones",
         "c8": "Ann " + "x" * 25_000 + " Smith", "c9": "José Straße",
         "c0": "\ufb01nn \uff22\uff52\uff4f\uff57\uff4e"}  # "ﬁnn Ｂｒｏｗｎ"
UNICODE = "i;unicode-casemap"


def _query(text: str, match: str = "contains", negate: str = "no",
           collation: str = "i;ascii-casemap", prop: str = "FN") -> str:
    return ('<?xml version="1.0"?><A:addressbook-query xmlns:D="DAV:" '
            'xmlns:A="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop>'
            f'<A:filter><A:prop-filter name="{prop}"><A:text-match match-type="{match}" '
            f'negate-condition="{negate}" collation="{collation}">{text}</A:text-match>'
            '</A:prop-filter></A:filter></A:addressbook-query>')


@pytest.fixture(scope="module")
def book(dav: Dav) -> tuple[str, str]:
    who = dav.account("searcher@example.test")
    href = _contacts(dav, who)
    for uid, fn in CARDS.items():
        assert dav.request(who, "PUT", f"{href}{uid}.vcf", card(uid, fn, f"{uid}@x.test"),
                           VCARD)[0] == 201
    return who, href


def _found(dav: Dav, book: tuple[str, str], body: str) -> set[str]:
    who, href = book
    status, _, out = dav.request(who, "REPORT", href, body, {"Depth": "1"})
    assert status == 207, out
    return {m.decode() for m in re.findall(rb"/(c\d)\.vcf</D:href>", out)}


@pytest.mark.parametrize(("body", "want"), [
    (_query("ann smith"), {"c1", "c2"}),
    (_query("Ann_Smith"), {"c4"}),  # "_" is no wildcard
    (_query("50%"), {"c5"}),  # nor is "%"
    (_query("smith", "ends-with"), {"c1", "c2", "c3", "c4", "c6", "c8"}),
    (_query("ann", "starts-with"), {"c1", "c2", "c3", "c4", "c8"}),
    (_query("Ann Smith", collation="i;octet"), {"c1"}),
    (_query("ann smith", negate="yes"), {"c3", "c4", "c5", "c6", "c7", "c8", "c9", "c0"}),
    (_query("Ann  Smith"), {"c3"}),  # repeated white space: not narrowed, still found
    (_query("Änn"), {"c6"}),  # non-ASCII: not narrowed (ascii-casemap leaves Ä as it is)
    (_query("xxxx smith"), {"c8"}),  # past the indexed length
    (_query("c5@x.test", prop="EMAIL"), {"c5"}),
    # i;unicode-casemap (RFC 5051, what CardDAV clients send): narrowed too, and the
    # non-ASCII names whose fold holds the ASCII text are still found
    (_query("ann smith", collation=UNICODE), {"c1", "c2"}),
    (_query("smith", "ends-with", collation=UNICODE), {"c1", "c2", "c3", "c4", "c6", "c8"}),
    (_query("STRASSE", collation=UNICODE), {"c9"}),
    (_query("jose", "starts-with", collation=UNICODE), {"c9"}),
    (_query("finn brown", "equals", collation=UNICODE), {"c0"}),
    (_query("Ann_Smith", collation=UNICODE), {"c4"}),
])
def test_search_finds_every_matching_card(dav: Dav, book: tuple[str, str], body: str,
                                          want: set[str]) -> None:
    assert _found(dav, book, body) == want
