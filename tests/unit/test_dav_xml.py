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


def _tree_of(responses: list[tuple[str, list[tuple[int, list[X.Element]]], str]],
             tail: list[X.Element]) -> X.Element:
    """The multistatus as an ElementTree tree, built the plain way (RFC 4918 §14.16)."""
    root = X.elem("{DAV:}multistatus")
    for path, groups, description in responses:
        resp = X.elem("{DAV:}response", None, X.href(path))
        for status, props in groups:
            if props:
                resp.append(X.elem("{DAV:}propstat", None, X.elem("{DAV:}prop", None, *props),
                                   X.elem("{DAV:}status", X.status_line(status))))
        if description:
            resp.append(X.elem("{DAV:}responsedescription", description))
        root.append(resp)
    root.extend(tail)
    return root


def test_multistatus_writes_what_the_tree_serialises_to() -> None:
    """The response-by-response writer gives the very bytes of serialising the tree: the
    same prefixes (unknown namespaces numbered in document order, xml:lang never declared),
    escaping, self-closed empty elements, and declarations on the root only."""
    lang = "{http://www.w3.org/XML/1998/namespace}lang"

    def props() -> list[X.Element]:
        dead = X.elem("{urn:z}colour", "blue & <green>\r")
        dead.set(lang, "en")
        dead.set("{urn:y}attr", 'a "q"\n')
        dead.append(X.elem("{urn:y}inner", "t"))
        dead[0].tail = "tail & more"
        return [X.elem("{DAV:}getetag", '"abc"'), X.elem("{DAV:}displayname", ""), dead,
                X.elem("{urn:ietf:params:xml:ns:caldav}calendar-data", "BEGIN:VCALENDAR\r\n")]

    responses = [("/dav/a&b/", [(200, props()), (404, [X.elem("{urn:w}missing")])], ""),
                 ("/dav/c/", [(200, []), (403, [X.elem("{DAV:}owner")])], "why <not>"),
                 ("", [(200, [X.elem("{DAV:}getetag", "x")])], "")]
    ms = X.Multistatus()
    for path, groups, description in responses:
        ms.propstats(path, groups, description)
    ms.append(X.elem("{DAV:}sync-token", "http://postroom/ns/sync/1-2"))
    expected = X.serialize(_tree_of(responses, [X.elem("{DAV:}sync-token",
                                                       "http://postroom/ns/sync/1-2")]))
    assert ms.to_bytes() == expected
    assert b'xmlns:x1="urn:z"' in expected and b"xml:lang" in expected
    assert b"XML/1998" not in expected
    assert ms.count == 3
    assert X.Multistatus().to_bytes() == \
        b'<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:"/>'


def test_multistatus_status_and_errors_as_the_tree() -> None:
    ms = X.Multistatus()
    ms.status("/dav/x/gone.ics", 404)
    ms.status("/dav/x/", 507, X.elem("{DAV:}number-of-matches-within-limits"))
    ms.propstats("/dav/x/", [(403, [X.elem("{DAV:}getetag")]), (424, [X.elem("{urn:q}p")])],
                 errors={403: X.elem("{DAV:}cannot-modify-protected-property")})
    root = X.elem("{DAV:}multistatus", None,
                  X.elem("{DAV:}response", None, X.href("/dav/x/gone.ics"),
                         X.elem("{DAV:}status", X.status_line(404))),
                  X.elem("{DAV:}response", None, X.href("/dav/x/"),
                         X.elem("{DAV:}status", X.status_line(507)),
                         X.elem("{DAV:}error", None,
                                X.elem("{DAV:}number-of-matches-within-limits"))),
                  X.elem("{DAV:}response", None, X.href("/dav/x/"),
                         X.elem("{DAV:}propstat", None,
                                X.elem("{DAV:}prop", None, X.elem("{DAV:}getetag")),
                                X.elem("{DAV:}status", X.status_line(403)),
                                X.elem("{DAV:}error", None, X.elem(
                                    "{DAV:}cannot-modify-protected-property"))),
                         X.elem("{DAV:}propstat", None,
                                X.elem("{DAV:}prop", None, X.elem("{urn:q}p")),
                                X.elem("{DAV:}status", X.status_line(424)))))
    assert ms.to_bytes() == X.serialize(root)
