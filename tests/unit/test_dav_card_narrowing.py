"""services/dav/items.py narrows a contact search in SQL by the index's search text
(``_indexed_needle``, store/repo/dav.py ``live_containing``); the narrowing must keep every
card that pim.query.card_matches finds (RFC 6352 §10.5.4), in every collation, match type
and for any value: escapes, structured-value semicolons, white space, and non-ASCII letters
that a Unicode fold (RFC 5051) turns into ASCII ones ("ß", "é", "ﬁ", full-width, Kelvin)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.pim import query, vcard
from postroom.pim.filters import CardFilter, PropFilter, TextMatch
from postroom.services.dav.items import SEARCH_MAX, _indexed_needle

PIECES = ["ann", "Ann", "SMITH", "smith", " ", "  ", "\t", ";", "\\;", ",", "\\,", "\\n",
          "\\\\", "ß", "ss", "é", "e\u0301", "ﬁ", "fi", "Ｆ", "K", "İ", "\u00a0", "50%",
          "_", "x"]
NEEDLES = ["ann", "ann smith", "smith", "ss", "fi", "f", "e", "k", "i", "ann;smith", ";",
           "smith;", ",", "50%", "_", "x", "nn s", "ann\\", "\\"]


def _card(fn: str) -> bytes:
    return ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\n"
            f"FN:{fn}\r\nN:{fn};;;;\r\nEMAIL:a@x.test\r\nEND:VCARD\r\n").encode()


def _sql_keeps(search: str, needle: str, non_ascii: bool) -> bool:
    """What ``live_containing`` selects: LIKE on the lower-cased text, a text cut at the
    indexed length, and (``non_ascii``) any text with a character outside ASCII."""
    return needle in search or len(search) >= SEARCH_MAX or \
        (non_ascii and not search.isascii())


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6),
       st.sampled_from(NEEDLES),
       st.sampled_from(["i;ascii-casemap", "i;octet", "i;unicode-casemap"]),
       st.sampled_from(["contains", "equals", "starts-with", "ends-with"]))
def test_narrowing_never_loses_a_matching_card(pieces: list[str], needle: str,
                                               collation: str, match_type: str) -> None:
    fn = "".join(pieces)
    if not fn.strip() or fn.endswith("\\"):
        return
    data = _card(fn)
    flt = CardFilter(prop_filters=(PropFilter(name="FN", text_matches=(
        TextMatch(text=needle, collation=collation, match_type=match_type),)),))
    narrow = _indexed_needle(flt)
    if narrow is None or not query.card_matches(data, flt):
        return
    search = vcard.index_card(data).text[:SEARCH_MAX]
    assert _sql_keeps(search, narrow[0], narrow[1]), (fn, needle, collation, search)


def test_semicolons_are_not_narrowed() -> None:
    """An unescaped ";" in FN (a sloppy client's) is indexed as a space (structured values
    are joined by spaces) but matched as itself: a needle with ";" is looked for in every
    card."""
    data = _card("Smith;John")
    flt = CardFilter(prop_filters=(PropFilter(name="FN", text_matches=(
        TextMatch(text="smith;john", collation="i;ascii-casemap", match_type="contains"),)),))
    assert query.card_matches(data, flt)
    assert _indexed_needle(flt) is None


def test_unicode_casemap_keeps_non_ascii_texts() -> None:
    for fn, needle in (("Straße", "strasse"), ("José", "jose"), ("ﬁne", "fine"),
                       ("Ｆｏｏ", "foo")):
        flt = CardFilter(prop_filters=(PropFilter(name="FN", text_matches=(
            TextMatch(text=needle, collation="i;unicode-casemap", match_type="contains"),)),))
        assert query.card_matches(_card(fn), flt), fn
        narrow = _indexed_needle(flt)
        assert narrow == (needle, True)
        search = vcard.index_card(_card(fn)).text
        assert needle not in search and _sql_keeps(search, needle, True)
