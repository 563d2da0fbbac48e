"""CardDAV (RFC 6352) with raw requests: the address book home from the principal, PUT/GET/
DELETE of vCards, addressbook-multiget, addressbook-query with a text-match and a limit,
address-data in vCard 4.0, MKCOL of a new address book (RFC 5689)."""

from __future__ import annotations

import re

from tests.support.dav import Dav

HOME = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
        'xmlns:A="urn:ietf:params:xml:ns:carddav"><D:prop><A:addressbook-home-set/>'
        '</D:prop></D:propfind>')
LIST = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
        'xmlns:A="urn:ietf:params:xml:ns:carddav"><D:prop><D:displayname/><D:resourcetype/>'
        '<A:supported-address-data/><D:current-user-privilege-set/></D:prop></D:propfind>')
VCARD = {"Content-Type": "text/vcard; charset=utf-8"}


def card(uid: str, fn: str, email: str) -> str:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{fn}\r\nN:{fn};;;;\r\n"
            f"EMAIL;TYPE=INTERNET:{email}\r\nEND:VCARD\r\n")


def _contacts(dav: Dav, address: str) -> str:
    status, _, body = dav.request(address, "PROPFIND", f"/dav/principals/{address}/", HOME,
                                  {"Depth": "0"})
    assert status == 207
    m = re.search(rb"<A:addressbook-home-set><D:href>([^<]+)</D:href>", body) or \
        re.search(rb"addressbook-home-set><D:href>([^<]+)</D:href>", body)
    assert m is not None, body
    home = m.group(1).decode()
    status, _, body = dav.request(address, "PROPFIND", home, LIST, {"Depth": "1"})
    assert status == 207
    for resp in re.findall(rb"<D:response>.*?</D:response>", body, re.S):
        if b"<D:displayname>Contacts</D:displayname>" in resp:
            assert b"addressbook" in resp and b"<D:write-content/>" in resp
            href = re.search(rb"<D:href>([^<]+)</D:href>", resp)
            assert href is not None
            return href.group(1).decode()
    raise AssertionError(body)


def test_card_put_get_delete(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    book = _contacts(dav, alice)
    data = card("card-1@t", "Zoe Example", "zoe@example.org")
    status, headers, _ = dav.request(alice, "PUT", book + "card-1.vcf", data, VCARD)
    assert status == 201 and headers["etag"].startswith('"')
    status, _, got = dav.request(alice, "GET", book + "card-1.vcf")
    assert status == 200 and got == data.encode()
    status, _, _ = dav.request(alice, "PUT", book + "card-1.vcf",
                               data.replace("Zoe", "Zoë"), VCARD)
    assert status == 204
    status, _, _ = dav.request(alice, "DELETE", book + "card-1.vcf")
    assert status == 204
    assert dav.request(alice, "GET", book + "card-1.vcf")[0] == 404


def test_multiget_and_query(dav: Dav) -> None:
    bob = dav.account("bob@example.test")
    book = _contacts(dav, bob)
    for n, name in enumerate(["Ann Smith", "Bert Jones", "Cleo Smith"]):
        status, _, _ = dav.request(bob, "PUT", f"{book}q{n}.vcf",
                                   card(f"q{n}@t", name, f"q{n}@example.org"), VCARD)
        assert status == 201
    multiget = ('<?xml version="1.0"?><A:addressbook-multiget xmlns:D="DAV:" '
                'xmlns:A="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/>'
                '<A:address-data/></D:prop>'
                f'<D:href>{book}q0.vcf</D:href><D:href>{book}missing.vcf</D:href>'
                '</A:addressbook-multiget>')
    status, _, body = dav.request(bob, "REPORT", book, multiget, {"Depth": "1"})
    assert status == 207
    assert b"Ann Smith" in body and b"missing.vcf" in body and b"404" in body
    query = ('<?xml version="1.0"?><A:addressbook-query xmlns:D="DAV:" '
             'xmlns:A="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop>'
             '<A:filter><A:prop-filter name="FN"><A:text-match match-type="contains">smith'
             '</A:text-match></A:prop-filter></A:filter></A:addressbook-query>')
    status, _, body = dav.request(bob, "REPORT", book, query, {"Depth": "1"})
    assert status == 207, body
    assert b"q0.vcf" in body and b"q2.vcf" in body and b"q1.vcf" not in body
    limited = query.replace("</A:filter>", "</A:filter><A:limit><A:nresults>1</A:nresults>"
                            "</A:limit>")
    status, _, body = dav.request(bob, "REPORT", book, limited, {"Depth": "1"})
    assert status == 207 and body.count(b".vcf") == 1 and b"507" in body
    v4 = multiget.replace("<A:address-data/>",
                          '<A:address-data content-type="text/vcard" version="4.0"/>')
    status, _, body = dav.request(bob, "REPORT", book, v4, {"Depth": "1"})
    assert status == 207 and b"VERSION:4.0" in body


def test_mkcol_makes_an_address_book(dav: Dav) -> None:
    carol = dav.account("carol@example.test")
    body = ('<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" '
            'xmlns:A="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype>'
            '<D:collection/><A:addressbook/></D:resourcetype><D:displayname>Team</D:displayname>'
            '</D:prop></D:set></D:mkcol>')
    path = f"/dav/addressbooks/{carol}/team/"
    status, _, out = dav.request(carol, "MKCOL", path, body)
    assert status == 201, out
    status, _, out = dav.request(carol, "MKCOL", path, body)
    assert status == 405
    status, _, out = dav.request(carol, "PROPFIND", path, LIST, {"Depth": "0"})
    assert status == 207 and b"<D:displayname>Team</D:displayname>" in out
    status, _, _ = dav.request(carol, "PUT", path + "t.vcf", card("t@t", "T", "t@x.org"),
                               VCARD)
    assert status == 201
    status, _, _ = dav.request(carol, "DELETE", path)
    assert status == 204
    assert dav.request(carol, "PROPFIND", path, LIST, {"Depth": "0"})[0] == 404
