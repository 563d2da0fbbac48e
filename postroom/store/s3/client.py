"""A small S3 client: the five requests the blob store needs, signed with AWS Signature V4.

PUT, GET (whole or a byte range), HEAD and DELETE of an object, and ListObjectsV2, over
``http.client`` with one kept-alive connection per thread (the blob store is called from
worker threads). Path-style addressing (``endpoint/bucket/key``), which every S3-compatible
store accepts. Why not boto3: 80 MB of dependencies for five requests, and a synchronous API
we would wrap the same way.

Signature V4 (AWS documentation, "Signature Version 4 signing process"): a canonical request
(method, URI-encoded path, sorted query, the signed headers, the payload's SHA-256), the string
to sign over it with the date and the credential scope, and a signing key derived by HMAC from
the secret, the date, the region and the service. A blob's name *is* the SHA-256 of its
content, so every PUT is signed over its real payload hash and the store checks the body
against it: a corrupted upload is refused rather than stored.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import http.client
import ssl
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class S3Error(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"object store answered {status}: {text}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Head:
    size: int
    last_modified: float  # unix seconds


def _quote(path: str) -> str:
    return urllib.parse.quote(path, safe="/-_.~")


def _query(query: dict[str, str]) -> str:
    """The query string, encoded as Signature V4 canonicalises it (and sent the same way)."""
    return "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                    for k, v in sorted(query.items()))


class S3Client:
    def __init__(self, endpoint: str, region: str, bucket: str, access_key: str,
                 secret_key: str, timeout: float = 30.0, ca_file: str = "") -> None:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"blobs.s3.endpoint: {endpoint!r} is not an http(s) URL")
        self.https = url.scheme == "https"
        self.host = url.hostname
        self.port = url.port or (443 if self.https else 80)
        self.host_header = url.netloc
        self.base = url.path.rstrip("/")
        self.region = region
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.timeout = timeout
        self.context = (ssl.create_default_context(cafile=ca_file or None)
                        if self.https else None)
        self._local = threading.local()

    # -- signing ---------------------------------------------------------------------------
    def _signed(self, method: str, path: str, query: dict[str, str],
                payload_sha256: str, extra: dict[str, str]) -> dict[str, str]:
        now = datetime.datetime.now(datetime.UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        headers = {"host": self.host_header, "x-amz-content-sha256": payload_sha256,
                   "x-amz-date": amz_date, **{k.lower(): v for k, v in extra.items()}}
        names = sorted(headers)
        canonical = "\n".join([
            method, _quote(path), _query(query),
            "".join(f"{n}:{headers[n].strip()}\n" for n in names), ";".join(names),
            payload_sha256])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.secret_key).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                                    f"SignedHeaders={';'.join(names)}, Signature={signature}")
        return headers

    # -- transport -------------------------------------------------------------------------
    def _conn(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            if self.https:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                   context=self.context)
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _request(self, method: str, key: str | None, *, query: dict[str, str] | None = None,
                 body: BinaryIO | bytes | None = None, size: int = 0,
                 payload_sha256: str = EMPTY_SHA256,
                 extra: dict[str, str] | None = None) -> http.client.HTTPResponse:
        path = f"{self.base}/{self.bucket}" + (f"/{key}" if key is not None else "")
        query = query or {}
        headers = self._signed(method, path, query, payload_sha256, extra or {})
        if body is not None:
            headers["content-length"] = str(size)
        target = _quote(path) + ("?" + _query(query) if query else "")
        start = body.tell() if body is not None and not isinstance(body, bytes) else 0
        for attempt in (0, 1):  # a kept-alive connection the server closed: once more
            conn = self._conn(fresh=attempt == 1)
            try:
                if body is not None and not isinstance(body, bytes):
                    body.seek(start)
                conn.request(method, target, body=body, headers=headers)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                if attempt:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _fail(resp: http.client.HTTPResponse) -> S3Error:
        text = resp.read(2000).decode("utf-8", "replace")
        code = ""
        with contextlib.suppress(ET.ParseError):
            code = ET.fromstring(text).findtext("Code") or ""
        return S3Error(resp.status, code or text[:200] or resp.reason)

    # -- the five requests -----------------------------------------------------------------
    def put(self, key: str, body: BinaryIO | bytes, size: int, sha256: str) -> None:
        resp = self._request("PUT", key, body=body, size=size, payload_sha256=sha256)
        if resp.status != 200:
            raise self._fail(resp)
        resp.read()

    def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """The object, or octets ``start``..``end`` (inclusive) of it."""
        extra = {} if start is None else {"range": f"bytes={start}-{'' if end is None else end}"}
        resp = self._request("GET", key, extra=extra)
        if resp.status not in (200, 206):
            raise self._fail(resp)
        return resp.read()

    def head(self, key: str) -> Head | None:
        resp = self._request("HEAD", key)
        resp.read()
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise S3Error(resp.status, resp.reason)
        modified = resp.getheader("last-modified")
        when = (datetime.datetime.strptime(modified, "%a, %d %b %Y %H:%M:%S %Z")
                .replace(tzinfo=datetime.UTC).timestamp() if modified else 0.0)
        return Head(int(resp.getheader("content-length") or 0), when)

    def delete(self, key: str) -> None:
        resp = self._request("DELETE", key)
        if resp.status not in (200, 204, 404):
            raise self._fail(resp)
        resp.read()

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix`` (ListObjectsV2, 1,000 a page)."""
        token = ""
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            resp = self._request("GET", None, query=query)
            if resp.status != 200:
                raise self._fail(resp)
            root = ET.fromstring(resp.read())
            for item in root.iter(f"{_NS}Contents"):
                name = item.findtext(f"{_NS}Key")
                if name is not None:
                    yield name
            if root.findtext(f"{_NS}IsTruncated") != "true":
                return
            token = root.findtext(f"{_NS}NextContinuationToken") or ""
            if not token:
                return
