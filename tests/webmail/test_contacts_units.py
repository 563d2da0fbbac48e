"""The webmail contact form as vCard (services/webmail/contacts_vcard.py): new cards are
vCard 3.0 with a UID; read back to the same form; an edit keeps what the form cannot show
(parameters of unchanged values, further addresses, N's prefix, PHOTO and X- properties);
groups are CATEGORIES."""

from __future__ import annotations

from dataclasses import replace

import pytest

from postroom.core.errors import MailError
from postroom.services.webmail.contacts_vcard import ContactDraft, PostalAddress, build, read
from postroom.services.webmail.contacts_vcard import update as update_card


def flat(data: bytes) -> str:
    return data.decode().replace("\r\n ", "")


def test_new_card_round_trip() -> None:
    draft = ContactDraft(name="Ann Lee", given="Ann", family="Lee",
                         emails=("ann@example.org",), phones=("+49 30 1",), org="ACME",
                         address=PostalAddress("Main 1", "Berlin", "", "10115", "DE"),
                         note="two\nlines", groups=("Friends", "Work"))
    data = build(draft)
    text = flat(data)
    assert text.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n") and "UID:urn:uuid:" in text
    assert "CATEGORIES:Friends,Work" in text and "NOTE:two\\nlines" in text
    assert read(data) == draft


def test_edit_keeps_what_the_form_cannot_show() -> None:
    stored = (b"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:x-1\r\nFN:Dr. Bob Roe\r\n"
              b"N:Roe;Bob;;Dr.;Jr.\r\nEMAIL;TYPE=work;PREF=1:bob@work.example\r\n"
              b"EMAIL;TYPE=home:bob@home.example\r\nTEL;TYPE=cell:+1 555 1\r\n"
              b"ORG:ACME;Research\r\nADR;TYPE=work:;;1 Lab Rd;Town;;111;US\r\n"
              b"ADR;TYPE=home:;;2 Home St;Town;;222;US\r\nPHOTO:http://example.org/b.jpg\r\n"
              b"X-SOCIAL:bob\r\nEND:VCARD\r\n")
    draft = read(stored)
    assert draft.org == "ACME / Research" and draft.address.street == "1 Lab Rd"
    text = flat(update_card(stored, replace(draft, name="Bob Roe", phones=("+1 555 2",),
                                            emails=("bob@work.example", "new@x.example"))))
    assert "VERSION:4.0" in text and "UID:x-1" in text and "FN:Bob Roe" in text
    assert "N:Roe;Bob;;Dr.;Jr." in text
    assert "EMAIL;PREF=1;TYPE=work:bob@work.example" in text or \
        "EMAIL;TYPE=work;PREF=1:bob@work.example" in text
    assert "bob@home.example" not in text and "new@x.example" in text
    assert "+1 555 1" not in text and "+1 555 2" in text
    assert "ORG:ACME;Research" in text
    assert "1 Lab Rd" in text and "2 Home St" in text
    assert "PHOTO" in text and "X-SOCIAL:bob" in text


def test_bad_drafts() -> None:
    for draft in (ContactDraft(name=""), ContactDraft(name="x", emails=("no",)),
                  ContactDraft(name="x", phones=("none",)),
                  ContactDraft(name="x", groups=("a,b",))):
        with pytest.raises(MailError):
            build(draft)
    with pytest.raises(MailError):
        update_card(b"not a card", ContactDraft(name="x"))
