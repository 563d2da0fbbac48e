"""ServerIds of PIM items (services/eas/pim.py): short, stable, never shared by two names."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from postroom.services.eas.pim import short_id


def test_a_plain_name_keeps_its_stem_and_others_are_hashed() -> None:
    assert short_id("3f2a-uuid.ics", ".ics") == "3f2a-uuid"
    assert short_id("ann.vcf", ".vcf") == "ann"
    assert short_id("ann", ".vcf").startswith("h-")  # no extension: hashed, so no clash
    assert short_id("h-abc.ics", ".ics").startswith("h-")
    assert short_id("x" * 41 + ".ics", ".ics").startswith("h-")
    assert short_id("a b.ics", ".ics").startswith("h-")
    assert short_id("ann.VCF", ".vcf") != short_id("ann.vcf", ".vcf")


@given(st.text(min_size=1, max_size=255), st.text(min_size=1, max_size=255))
def test_two_names_never_share_an_id(a: str, b: str) -> None:
    if a != b:
        assert short_id(a, ".ics") != short_id(b, ".ics")
    assert len(short_id(a, ".ics")) <= 40
