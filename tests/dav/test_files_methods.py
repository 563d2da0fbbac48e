"""The WebDAV file area over real HTTPS, method by method (RFC 4918), with the limits of
[web.dav] set low so that each is reached: GET/HEAD/Range, PUT with preconditions, MKCOL,
DELETE, COPY/MOVE edge cases, PROPFIND depths, PROPPATCH values kept as sent, and bad input
answered with a 4xx, never a 500."""

from __future__ import annotations

import base64
import http.client
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dav import DAV, Dav
from tests.support.server import RunningServer, server_config
from tests.support.tls import insecure_context
from tests.support.webmail import PASSWORD

USER = "fran@example.test"
BASE = f"/dav/files/{USER}"
LIMITS = ["web.dav.max_file_size=4096", "web.dav.max_results=100",
          "web.dav.max_xml_size=2048", "web.dav.max_xml_depth=10"]
ALLPROP = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("davfiles")),
                                      extra=[*DAV, *LIMITS]))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def user(dav: Dav) -> str:
    return dav.account(USER)


def put(dav: Dav, path: str, data: bytes, **headers: str) -> tuple[int, dict[str, str]]:
    status, head, _ = dav.request(USER, "PUT", BASE + path, data,
                                  {"Content-Type": "application/octet-stream", **headers})
    return status, head


def test_put_get_head_and_etag(dav: Dav, user: str) -> None:
    data = bytes(range(256)) * 4
    status, head = put(dav, "/bin.dat", data)
    assert status == 201
    etag = head["etag"]
    status, head, body = dav.request(user, "GET", BASE + "/bin.dat")
    assert (status, body, head["etag"]) == (200, data, etag)
    assert head["content-type"] == "application/octet-stream"
    status, head, body = dav.request(user, "HEAD", BASE + "/bin.dat")
    assert (status, body, head["content-length"]) == (200, b"", str(len(data)))
    # overwrite: 204, new ETag
    status, head = put(dav, "/bin.dat", b"second")
    assert status == 204 and head["etag"] != etag
    # conditional requests (RFC 7232)
    assert put(dav, "/bin.dat", b"x", **{"If-Match": etag})[0] == 412
    assert put(dav, "/bin.dat", b"x", **{"If-None-Match": "*"})[0] == 412
    status, _, _ = dav.request(user, "GET", BASE + "/bin.dat", b"",
                               {"If-None-Match": head["etag"]})
    assert status == 304


def test_range(dav: Dav, user: str) -> None:
    put(dav, "/range.txt", b"0123456789")
    status, head, body = dav.request(user, "GET", BASE + "/range.txt", b"",
                                     {"Range": "bytes=2-4"})
    assert (status, body, head["content-range"]) == (206, b"234", "bytes 2-4/10")
    status, _, body = dav.request(user, "GET", BASE + "/range.txt", b"", {"Range": "bytes=-3"})
    assert (status, body) == (206, b"789")
    status, _, _ = dav.request(user, "GET", BASE + "/range.txt", b"", {"Range": "bytes=50-"})
    assert status == 416


def test_put_limits_and_parents(dav: Dav, user: str) -> None:
    assert put(dav, "/big.bin", b"x" * 5000)[0] == 413  # web.dav.max_file_size
    assert put(dav, "/no/such/parent.txt", b"x")[0] == 409
    assert put(dav, "/ranged.txt", b"x", **{"Content-Range": "bytes 0-0/1"})[0] == 400
    status, _, _ = dav.request(user, "GET", BASE + "/big.bin")
    assert status == 404


def test_a_streamed_body_past_the_limit_is_413_and_nothing_is_stored(dav: Dav,
                                                                      user: str) -> None:
    """PUT streams to the blob store (no length announced: chunked); past
    web.dav.max_file_size it stops with 413 and the name stays unmapped."""
    conn = http.client.HTTPSConnection("127.0.0.1", dav.port, timeout=30,
                                       context=insecure_context())
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    conn.request("PUT", BASE + "/streamed.bin", body=iter([b"y" * 3000] * 3),
                 headers={"Authorization": f"Basic {token}",
                          "Content-Type": "application/octet-stream"},
                 encode_chunked=True)
    status = conn.getresponse().status
    conn.close()
    assert status == 413
    assert dav.request(user, "GET", BASE + "/streamed.bin")[0] == 404
    assert put(dav, "/streamed.bin", b"z" * 4000)[0] == 201  # under the limit it streams in
    assert dav.request(user, "GET", BASE + "/streamed.bin")[2] == b"z" * 4000


def test_mkcol_rules(dav: Dav, user: str) -> None:
    assert dav.request(user, "MKCOL", BASE + "/m1/")[0] == 201
    assert dav.request(user, "MKCOL", BASE + "/m1/")[0] == 405
    assert dav.request(user, "MKCOL", BASE + "/nope/m2/")[0] == 409
    assert dav.request(user, "MKCOL", BASE + "/m3/", "<x/>")[0] == 415
    put(dav, "/plain.txt", b"x")
    assert dav.request(user, "MKCOL", BASE + "/plain.txt")[0] == 405
    assert put(dav, "/m1", b"x")[0] == 405  # PUT on a collection


def test_delete_collection_recursive(dav: Dav, user: str) -> None:
    for path in ("/d/", "/d/e/", "/d/e/f/"):
        assert dav.request(user, "MKCOL", BASE + path)[0] == 201
    put(dav, "/d/e/f/deep.txt", b"deep")
    put(dav, "/d/top.txt", b"top")
    assert dav.request(user, "DELETE", BASE + "/d/")[0] == 204
    for path in ("/d/", "/d/e/f/deep.txt", "/d/top.txt"):
        assert dav.request(user, "GET", BASE + path)[0] == 404
    assert dav.request(user, "DELETE", BASE + "/d/")[0] == 404
    assert dav.request(user, "DELETE", BASE + "/")[0] == 403  # the area itself stays


def test_copy_move_edges(dav: Dav, user: str) -> None:
    put(dav, "/src.txt", b"source")
    put(dav, "/dst.txt", b"dest")
    here = dav.base + BASE
    status, _, _ = dav.request(user, "COPY", BASE + "/src.txt", b"",
                               {"Destination": here + "/dst.txt", "Overwrite": "F"})
    assert status == 412
    status, _, _ = dav.request(user, "COPY", BASE + "/src.txt", b"",
                               {"Destination": here + "/dst.txt"})
    assert status == 204
    status, _, _ = dav.request(user, "COPY", BASE + "/src.txt", b"",
                               {"Destination": here + "/none/x.txt"})
    assert status == 409
    status, _, _ = dav.request(user, "COPY", BASE + "/src.txt", b"",
                               {"Destination": "https://elsewhere.example/dav/files/x/y"})
    assert status == 502
    status, _, _ = dav.request(user, "COPY", BASE + "/src.txt", b"",
                               {"Destination": here.replace("/dav/files/", "/dav/calendars/")
                                + "/y"})
    assert status == 403
    assert dav.request(user, "COPY", BASE + "/src.txt")[0] == 400  # no Destination
    # MOVE of a collection is a rename: members and their properties follow
    dav.request(user, "MKCOL", BASE + "/mv/")
    put(dav, "/mv/in.txt", b"inside")
    status, _, _ = dav.request(user, "MOVE", BASE + "/mv/", b"",
                               {"Destination": here + "/moved/"})
    assert status == 201
    assert dav.request(user, "GET", BASE + "/moved/in.txt")[2] == b"inside"
    assert dav.request(user, "GET", BASE + "/mv/in.txt")[0] == 404
    status, _, _ = dav.request(user, "MOVE", BASE + "/moved/", b"",
                               {"Destination": here + "/moved/inner/"})
    assert status == 403  # into itself


def test_propfind_depths_and_finite_depth(dav: Dav, user: str) -> None:
    dav.request(user, "MKCOL", BASE + "/many/")
    status, _, body = dav.request(user, "PROPFIND", f"{BASE}/many/", ALLPROP, {"Depth": "0"})
    assert status == 207 and b"<D:collection/>" in body
    for i in range(101):  # one more than web.dav.max_results
        assert put(dav, f"/many/f{i}.txt", b"x")[0] == 201
    status, _, body = dav.request(user, "PROPFIND", f"{BASE}/", ALLPROP,
                                  {"Depth": "infinity"})
    assert status == 403 and b"propfind-finite-depth" in body
    status, _, body = dav.request(user, "PROPFIND", f"{BASE}/many/", ALLPROP, {"Depth": "1"})
    assert status == 507
    status, _, body = dav.request(user, "PROPFIND", f"{BASE}/many/f7.txt", ALLPROP,
                                  {"Depth": "0"})
    assert status == 207
    for prop in (b"getetag", b"getcontentlength>1<", b"getlastmodified", b"creationdate",
                 b"supportedlock", b"lockdiscovery", b"displayname>f7.txt<"):
        assert prop in body, prop
    assert dav.request(user, "DELETE", BASE + "/many/")[0] == 204


def test_proppatch_keeps_xml_values(dav: Dav, user: str) -> None:
    put(dav, "/props.txt", b"x")
    update = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">'
              '<D:set><D:prop xml:lang="fr"><Z:note>bonjour <b xmlns="urn:b" a="1">'
              'le <i>monde</i></b></Z:note><Z:plain xml:lang="en">hi</Z:plain></D:prop>'
              '</D:set></D:propertyupdate>')
    status, _, body = dav.request(user, "PROPPATCH", BASE + "/props.txt", update)
    assert status == 207 and b"200 OK" in body
    ask = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop>'
           '<Z:note/><Z:plain/><Z:missing/></D:prop></D:propfind>')
    status, _, body = dav.request(user, "PROPFIND", BASE + "/props.txt", ask, {"Depth": "0"})
    assert status == 207
    text = body.decode()
    assert re.search(r'note xml:lang="fr">bonjour <(\w+):b a="1">le <\1:i>monde</\1:i>'
                     r"</\1:b>", text), text
    assert 'xml:lang="en">hi<' in text
    assert "404 Not Found" in text  # Z:missing
    # a protected property: 403 for it, 424 for the rest, nothing stored
    bad = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set>'
           '<D:prop><D:getetag>x</D:getetag><Z:other>1</Z:other></D:prop></D:set>'
           '</D:propertyupdate>')
    status, _, body = dav.request(user, "PROPPATCH", BASE + "/props.txt", bad)
    assert status == 207 and b"403 Forbidden" in body and b"424 Failed Dependency" in body


@pytest.mark.parametrize(("method", "body", "headers", "expected"), [
    ("PROPFIND", "<not-xml", {"Depth": "0"}, 400),
    ("PROPFIND", '<!DOCTYPE x [<!ENTITY a "b">]><D:propfind xmlns:D="DAV:"><D:allprop/>'
                 "</D:propfind>", {"Depth": "0"}, 400),
    ("PROPFIND", "<a>" * 20 + "</a>" * 20, {"Depth": "0"}, 400),  # max_xml_depth
    ("PROPFIND", "<a>" + "x" * 3000 + "</a>", {"Depth": "0"}, 413),  # max_xml_size
    ("PROPFIND", ALLPROP, {"Depth": "2"}, 400),
    ("PROPFIND", "<D:other xmlns:D='DAV:'/>", {"Depth": "0"}, 400),
    ("PROPPATCH", "<D:propfind xmlns:D='DAV:'/>", {}, 400),
    ("PUT", "x", {"If": "(<urn:uuid:1> [unterminated"}, 400),
    ("PUT", "x", {"If": "garbage"}, 400),
    ("LOCK", "<D:lockinfo xmlns:D='DAV:'><D:lockscope><D:exclusive/></D:lockscope>"
             "</D:lockinfo>", {}, 400),  # no locktype
    ("LOCK", "", {}, 400),  # a refresh without a token
    ("UNLOCK", "", {}, 400),  # no Lock-Token
    ("UNLOCK", "", {"Lock-Token": "<urn:uuid:nope>"}, 409),
    ("BREW", "", {}, 405),
])
def test_bad_input(dav: Dav, user: str, method: str, body: str, headers: dict[str, str],
                   expected: int) -> None:
    put(dav, "/target.txt", b"x")
    status, _, _ = dav.request(user, method, BASE + "/target.txt", body, headers)
    assert status == expected


def test_lock_unmapped_creates_empty_file_and_blocks_others(dav: Dav, user: str) -> None:
    info = ('<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
            '</D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>me</D:href>'
            "</D:owner></D:lockinfo>")
    status, head, body = dav.request(user, "LOCK", BASE + "/new-locked.txt", info,
                                     {"Timeout": "Second-999999"})
    assert status == 201, body
    token = head["lock-token"]
    assert token.startswith("<urn:uuid:")
    assert b"Second-3600" in body  # web.dav.lock_timeout caps it
    status, _, data = dav.request(user, "GET", BASE + "/new-locked.txt")
    assert (status, data) == (200, b"")
    status, _, body = dav.request(user, "PUT", BASE + "/new-locked.txt", b"y")
    assert status == 423 and b"lock-token-submitted" in body
    assert f"{BASE}/new-locked.txt".encode() in body
    status, _, _ = dav.request(user, "PUT", BASE + "/new-locked.txt", b"y",
                               {"If": f"({token})"})
    assert status == 204
    assert dav.request(user, "DELETE", BASE + "/new-locked.txt")[0] == 423
    assert dav.request(user, "UNLOCK", BASE + "/new-locked.txt", b"",
                       {"Lock-Token": token})[0] == 204
    assert dav.request(user, "DELETE", BASE + "/new-locked.txt")[0] == 204


def test_no_500_on_odd_paths(dav: Dav, user: str) -> None:
    for path in ("/%00x", "/a%2Fb", "/" + "n" * 300, "/*", "/%25", "/x/../y"):
        for method in ("GET", "PUT", "MKCOL", "PROPFIND", "DELETE", "LOCK"):
            status, _, _ = dav.request(user, method, BASE + path, b"", {"Depth": "0"})
            assert 400 <= status < 500 or status in (200, 201, 204, 207), (method, path, status)


def test_quota_is_507(dav: Dav) -> None:
    address, _ = dav.server.add_user("quota", password=PASSWORD, quota=4000)
    area = f"/dav/files/{address}"
    assert dav.request(address, "PUT", f"{area}/a.bin", b"a" * 2500)[0] == 201
    status, _, body = dav.request(address, "PUT", f"{area}/b.bin", b"b" * 2500)
    assert status == 507 and b"quota-not-exceeded" in body
    assert dav.request(address, "GET", f"{area}/b.bin")[0] == 404
    status, _, body = dav.request(address, "PROPFIND", f"{area}/", '<D:propfind xmlns:D="DAV:">'
                                  "<D:prop><D:quota-used-bytes/><D:quota-available-bytes/>"
                                  "</D:prop></D:propfind>", {"Depth": "0"})
    assert status == 207 and b"quota-available-bytes>" in body


def test_collection_lock_guards_new_members(dav: Dav, user: str) -> None:
    assert dav.request(user, "MKCOL", BASE + "/guarded/")[0] == 201
    info = ('<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
            "<D:locktype><D:write/></D:locktype></D:lockinfo>")
    status, head, body = dav.request(user, "LOCK", BASE + "/guarded/", info, {"Depth": "0"})
    assert status == 200 and b"<D:depth>0</D:depth>" in body
    token = head["lock-token"]
    for method, path in (("PUT", "/guarded/new.txt"), ("MKCOL", "/guarded/sub/"),
                         ("DELETE", "/guarded/"), ("MOVE", "/guarded/")):
        status, _, _ = dav.request(user, method, BASE + path, b"", {
            "Destination": dav.base + BASE + "/elsewhere/"})
        assert status == 423, (method, path)
    tagged = {"If": f"<{dav.base}{BASE}/guarded/> ({token})"}
    assert dav.request(user, "PUT", BASE + "/guarded/new.txt", b"x", tagged)[0] == 201
    assert dav.request(user, "PUT", BASE + "/guarded/new.txt", b"y")[0] == 204  # Depth 0
    status, _, body = dav.request(user, "PROPFIND", BASE + "/guarded/", '<D:propfind '
                                  'xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop>'
                                  "</D:propfind>", {"Depth": "0"})
    assert token[1:-1].encode() in body and b"<D:lockroot>" in body
    assert dav.request(user, "DELETE", BASE + "/guarded/", b"", tagged)[0] == 204
    status, _, body = dav.request(user, "PROPFIND", BASE + "/", '<D:propfind '
                                  'xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop>'
                                  "</D:propfind>", {"Depth": "0"})
    assert token[1:-1].encode() not in body  # the lock went with its resource


def test_type_guessed_when_none_given(dav: Dav, user: str) -> None:
    conn = http.client.HTTPSConnection("127.0.0.1", dav.port, timeout=30,
                                       context=insecure_context())
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    try:
        conn.putrequest("PUT", BASE + "/notes.txt", skip_accept_encoding=True)
        conn.putheader("Authorization", f"Basic {token}")
        conn.putheader("Content-Length", "5")
        conn.endheaders(b"notes")
        assert conn.getresponse().status == 201
    finally:
        conn.close()
    status, head, body = dav.request(user, "GET", BASE + "/notes.txt")
    assert (status, body) == (200, b"notes")
    assert head["content-type"].startswith("text/plain")


def test_copy_depth_zero_and_infinity(dav: Dav, user: str) -> None:
    here = dav.base + BASE
    dav.request(user, "MKCOL", BASE + "/tree/")
    dav.request(user, "MKCOL", BASE + "/tree/sub/")
    put(dav, "/tree/sub/leaf.txt", b"leaf")
    dav.request(user, "PROPPATCH", BASE + "/tree/", '<D:propertyupdate xmlns:D="DAV:">'
                '<D:set><D:prop><Z:tag xmlns:Z="urn:z">t</Z:tag></D:prop></D:set>'
                "</D:propertyupdate>")
    status, _, _ = dav.request(user, "COPY", BASE + "/tree/", b"",
                               {"Destination": here + "/shallow/", "Depth": "0"})
    assert status == 201
    status, _, body = dav.request(user, "PROPFIND", BASE + "/shallow/", ALLPROP,
                                  {"Depth": "1"})
    assert status == 207 and b"sub" not in body and b"urn:z" in body  # properties copied
    status, _, _ = dav.request(user, "COPY", BASE + "/tree/", b"",
                               {"Destination": here + "/deep/"})
    assert status == 201
    assert dav.request(user, "GET", BASE + "/deep/sub/leaf.txt")[2] == b"leaf"
    status, _, _ = dav.request(user, "COPY", BASE + "/tree/", b"",
                               {"Destination": here + "/deep/", "Depth": "1"})
    assert status == 400


def test_lock_expires(dav: Dav, user: str) -> None:
    put(dav, "/short.txt", b"x")
    info = ('<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
            "<D:locktype><D:write/></D:locktype></D:lockinfo>")
    status, _, body = dav.request(user, "LOCK", BASE + "/short.txt", info,
                                  {"Timeout": "Second-1"})
    assert status == 200 and b"Second-1<" in body
    assert put(dav, "/short.txt", b"y")[0] == 423
    time.sleep(2.1)
    assert put(dav, "/short.txt", b"y")[0] == 204  # the lock timed out (RFC 4918 §10.7)


def test_uploaded_html_cannot_script_this_origin(dav: Dav, user: str) -> None:
    page = b"<html><script src='/dav/files/x/evil.js'></script><p>hi</p></html>"
    assert put(dav, "/page.html", page, **{"Content-Type": "text/html"})[0] == 201
    status, head, body = dav.request(user, "GET", BASE + "/page.html")
    assert (status, body) == (200, page)
    csp = head["content-security-policy"]
    assert csp.startswith("sandbox") and "script-src" not in csp and "default-src 'none'" in csp
    assert head["content-disposition"] == "attachment"
    assert head["x-content-type-options"] == "nosniff"
    put(dav, "/inert.bin", b"\x00\x01")
    status, head, _ = dav.request(user, "GET", BASE + "/inert.bin")
    assert status == 200 and head["content-security-policy"].startswith("sandbox")
    assert "content-disposition" not in head
    status, head, _ = dav.request(user, "GET", BASE + "/")
    assert status == 200 and head["content-security-policy"].startswith("sandbox")
