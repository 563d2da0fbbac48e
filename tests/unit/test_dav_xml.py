"""web/dav/xml.py without a server: safe parsing (DTDs, entities, depth, size, encodings)
and the serialiser (one declaration per namespace, xml:lang, escaping, fragments)."""

from __future__ import annotations

import pytest

from postroom.web.dav import xml as X


@pytest.mark.parametrize("body", [
    b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
    b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>',
    b'<!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>',
    b"<a>", b"<a></b>", b"\xff\xfe<a/>", b'<?xml version="1.0" encoding="nope"?><a/>',
    b"<a xmlns:p='urn:x'><q:b/></a>",
])
def test_refused_bodies_are_400(body: bytes) -> None:
    with pytest.raises(X.BadXml) as exc:
        X.parse(body, 1 << 20, 64)
    assert exc.value.status == 400


def test_limits() -> None:
    assert X.parse(b"<a>" * 8 + b"</a>" * 8, 1 << 20, 8) is not None
    with pytest.raises(X.BadXml) as exc:
        X.parse(b"<a>" * 9 + b"</a>" * 9, 1 << 20, 8)
    assert exc.value.status == 400
    with pytest.raises(X.BadXml) as exc:
        X.parse(b"<a/>" + b" " * 100, 50, 8)
    assert exc.value.status == 413
    assert X.parse(b"  \r\n", 100, 8) is None  # empty: allprop


def test_serialise_declares_each_namespace_once_and_escapes() -> None:
    ms = X.Multistatus()
    ms.propstats("/dav/a&b/", [(200, [X.elem("{DAV:}displayname", "<x> & \"y\""),
                                      X.elem("{urn:ietf:params:xml:ns:caldav}calendar")]),
                               (404, [X.elem("{urn:other}thing")])])
    out = ms.to_bytes()
    assert out.count(b'xmlns:D="DAV:"') == 1
    assert b'xmlns:C="urn:ietf:params:xml:ns:caldav"' in out
    assert b"/dav/a&amp;b/" in out and b"&lt;x&gt; &amp;" in out
    assert X.parse(out, 1 << 20, 64) is not None


def test_fragments_keep_attributes_children_and_xml_lang() -> None:
    src = b'<p:v xmlns:p="urn:p" xml:lang="de" a="1">t<p:c>u</p:c></p:v>'
    e = X.parse(src, 1 << 20, 8)
    assert e is not None
    text = X.fragment(e)
    assert "XML/1998/namespace" not in text and 'xml:lang="de"' in text
    back = X.parse_fragment(text)
    assert back is not None and back.tag == "{urn:p}v"
    assert back.get("{http://www.w3.org/XML/1998/namespace}lang") == "de"
    assert X.text_of(back) == "tu"


def test_error_and_need_privileges() -> None:
    body = X.error(X.need_privileges("/dav/x/", "bind"))
    assert b"<D:need-privileges><D:resource><D:href>/dav/x/</D:href><D:privilege><D:bind/>" \
        in body
