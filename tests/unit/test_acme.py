"""The ACME client's parts without a CA: ClientHello ALPN parsing, the TLS-ALPN-01 challenge
certificate and context switch (RFC 8737), JWS signatures (RFC 8555 §6.2), the renewal
decision and backoff with a fake clock, the files' modes and atomicity, and a failed attempt
(CA unreachable) that keeps the old certificate and backs off."""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import logging
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from postroom.config_acme import AcmeConfig
from postroom.net.tls import ensure_self_signed
from postroom.services.acme.challenges import (
    ACME_TLS_ALPN,
    ID_PE_ACME_IDENTIFIER,
    ChallengeStore,
    challenge_certificate,
    offered_alpn,
)
from postroom.services.acme.client import AcmeClient, key_authorization, thumbprint
from postroom.services.acme.files import AcmeFiles, AcmeState, LiveCertificate
from postroom.services.acme.manager import (
    CertificateManager,
    backoff,
    decide,
    wanted_names,
)

DAY = 86400.0


def _handshake(server: ssl.SSLContext, sni: str, alpn: list[str] | None,
               ) -> tuple[x509.Certificate, str | None]:
    """An in-memory TLS handshake; the certificate the server presented and the ALPN."""
    client_ctx = ssl.create_default_context()
    client_ctx.check_hostname, client_ctx.verify_mode = False, ssl.CERT_NONE
    if alpn:
        client_ctx.set_alpn_protocols(alpn)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=sni)
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side, out, peer_in in ((client, c_out, s_in), (srv, s_out, c_in)):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
            peer_in.write(out.read())
    der = client.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der), client.selected_alpn_protocol()


@pytest.fixture
def server_ctx(tmp_path: Path) -> ssl.SSLContext:
    cert, key = ensure_self_signed(tmp_path / "tls", "normal.example")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def _hello(alpn: list[str] | None) -> bytes:
    """A real ClientHello from Python's TLS client."""
    seen: list[bytes] = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    setattr(ctx, "_msg_callback", lambda conn, direction, v, ct, mt, data:  # noqa: B010
            seen.append(data) if direction == "write" and int(mt) == 1 else None)
    obj = ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="x.example")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return seen[0]


def test_offered_alpn_reads_a_real_client_hello() -> None:
    assert offered_alpn(_hello(["h2", ACME_TLS_ALPN])) == [b"h2", b"acme-tls/1"]
    assert offered_alpn(_hello(None)) == []


@given(st.binary(max_size=300))
def test_offered_alpn_never_raises_on_garbage(data: bytes) -> None:
    assert isinstance(offered_alpn(b"\x01" + data), list)


def test_offered_alpn_on_a_truncated_hello() -> None:
    hello = _hello(["h2", ACME_TLS_ALPN])
    for cut in range(0, len(hello), 7):
        assert offered_alpn(hello[:cut]) == []  # truncated: nothing, never a partial list


def test_challenge_certificate_carries_the_acme_identifier() -> None:
    """RFC 8737 §3: one dNSName, acmeIdentifier critical, SHA-256 of the key
    authorization as an OCTET STRING."""
    pem, _ = challenge_certificate("a.example", "token.thumb")
    cert = x509.load_pem_x509_certificate(pem)
    ext = cert.extensions.get_extension_for_oid(ID_PE_ACME_IDENTIFIER)
    assert ext.critical
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    assert ext.value.value == b"\x04\x20" + hashlib.sha256(b"token.thumb").digest()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["a.example"]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def acme_log() -> Iterator[_Records]:
    """What postroom.acme logs, at INFO (the "postroom" logger may not propagate)."""
    logger, handler = logging.getLogger("postroom.acme"), _Records()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_tls_alpn_challenge_only_for_acme_tls_handshakes(
        server_ctx: ssl.SSLContext, acme_log: _Records) -> None:
    store = ChallengeStore()
    store.attach(server_ctx)
    assert server_ctx.sni_callback is None
    store.add_alpn("A.example", "token.thumb")
    cert, alpn = _handshake(server_ctx, "a.example", [ACME_TLS_ALPN])
    assert alpn == ACME_TLS_ALPN
    assert cert.extensions.get_extension_for_oid(ID_PE_ACME_IDENTIFIER).critical
    # a normal handshake for the same name, and a challenge handshake for another name,
    # keep the server's certificate
    for sni, offer in (("a.example", ["h2", "http/1.1"]), ("a.example", None),
                       ("b.example", [ACME_TLS_ALPN])):
        cert, alpn = _handshake(server_ctx, sni, offer)
        assert "normal.example" in cert.subject.rfc4514_string(), (sni, offer)
        assert alpn is None
    store.remove_alpn("a.example")
    # unhooked when idle: other handshakes run none of our code
    assert getattr(server_ctx, "_msg_callback", None) is None
    assert server_ctx.sni_callback is None
    cert, _ = _handshake(server_ctx, "a.example", [ACME_TLS_ALPN])
    assert "normal.example" in cert.subject.rfc4514_string()
    # with INFO on, logging the challenge handshake once failed (a reserved LogRecord key)
    assert [r.getMessage() for r in acme_log.records] == ["answering a TLS-ALPN-01 challenge"]


def test_without_the_message_hook_a_pending_name_gets_the_challenge(
        server_ctx: ssl.SSLContext) -> None:
    """The documented fallback for a Python without SSLContext._msg_callback."""
    store = ChallengeStore()
    store.sees_alpn = False
    store.attach(server_ctx)
    store.add_alpn("a.example", "token.thumb")
    cert, _ = _handshake(server_ctx, "a.example", None)
    assert cert.extensions.get_extension_for_oid(ID_PE_ACME_IDENTIFIER).critical
    cert, _ = _handshake(server_ctx, "b.example", None)
    assert "normal.example" in cert.subject.rfc4514_string()
    store.remove_alpn("a.example")
    assert server_ctx.sni_callback is None


def test_http01_answers_only_pending_tokens() -> None:
    store = ChallengeStore()
    store.add_http("tok", "tok.thumb")
    assert store.http_answer("tok") == "tok.thumb"
    store.remove_http("tok")
    assert store.http_answer("tok") is None


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_jws_is_es256_over_protected_and_payload() -> None:
    """RFC 8555 §6.2 / RFC 7518 §3.4: r||s, 32 octets each, over 'protected.payload'."""
    key = ec.generate_private_key(ec.SECP256R1())
    client = AcmeClient("https://ca.invalid/dir", key, ssl.create_default_context(),
                        kid="https://ca.invalid/acct/1")
    client._nonce = "n1"
    jws = json.loads(client._signed("https://ca.invalid/order", {"a": 1}, False))
    protected = json.loads(_b64d(jws["protected"]))
    assert protected == {"alg": "ES256", "nonce": "n1", "url": "https://ca.invalid/order",
                         "kid": "https://ca.invalid/acct/1"}
    assert json.loads(_b64d(jws["payload"])) == {"a": 1}
    raw = _b64d(jws["signature"])
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.public_key().verify(der, f"{jws['protected']}.{jws['payload']}".encode(),
                            ec.ECDSA(hashes.SHA256()))
    client._nonce = "n2"
    as_get = json.loads(client._signed("https://ca.invalid/x", None, True))
    assert as_get["payload"] == ""  # POST-as-GET (RFC 8555 §6.3)
    assert "jwk" in json.loads(_b64d(as_get["protected"]))


def test_key_authorization_uses_the_rfc7638_thumbprint() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    n = key.public_key().public_numbers()
    jwk = {"crv": "P-256", "kty": "EC",
           "x": base64.urlsafe_b64encode(n.x.to_bytes(32, "big")).rstrip(b"=").decode(),
           "y": base64.urlsafe_b64encode(n.y.to_bytes(32, "big")).rstrip(b"=").decode()}
    canonical = json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=")
    assert thumbprint(key) == digest.decode()
    assert key_authorization("tok", key) == f"tok.{digest.decode()}"


def test_config_refuses_bad_names_and_keys() -> None:
    from postroom import config

    with pytest.raises(config.ConfigError) as info:
        config.load(None, ['acme.names=["bad_name.example"]'])
    assert "acme.names" in str(info.value)
    for bad in ("acme.renew_before_days=0", "acme.check_interval=0", 'acme.challenges=["x"]',
                "acme.retry_min=0", "acme.timeout=0", "acme.contact=not-an-address",
                "acme.directory_url=http://ca.example/dir"):
        with pytest.raises(config.ConfigError):
            config.load(None, [bad])
    missing = config.load(None, ["acme.enabled=true", "acme.ca_file=/nonexistent/ca.pem"])
    with pytest.raises(config.ConfigError, match=r"acme\.ca_file: cannot read"):
        config.check_environment(missing)  # what 'config check' and 'serve' run
    cfg = config.load(None, ['acme.names=["*.example.org", "webmail.example.org"]'])
    assert not cfg.acme.enabled  # off unless asked for
    assert cfg.acme.directory_url.startswith("https://acme-v02.api.letsencrypt.org/")


def test_a_download_for_another_key_or_fewer_names_is_refused() -> None:
    from postroom.services.acme.client import AcmeError
    from postroom.services.acme.manager import _check_chain

    cert_pem, key_pem = challenge_certificate("a.example", "x")
    _check_chain(cert_pem, _key(key_pem), ["a.example"])
    with pytest.raises(AcmeError, match="not for the key"):
        _check_chain(cert_pem, ec.generate_private_key(ec.SECP256R1()), ["a.example"])
    with pytest.raises(AcmeError, match=r"lacks b\.example"):
        _check_chain(cert_pem, _key(key_pem), ["a.example", "b.example"])
    with pytest.raises(AcmeError, match="cannot be read"):
        _check_chain(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                     _key(key_pem), ["a.example"])


def test_wanted_names() -> None:
    cfg = AcmeConfig(names=["Webmail.Example.org.", "mx.example.com"])
    assert wanted_names(cfg, "mx.example.com", ["example.com"]) == [
        "mx.example.com", "mail.example.com", "autoconfig.example.com",
        "autodiscover.example.com", "webmail.example.org"]
    cfg = AcmeConfig(domains_auto=False)
    assert wanted_names(cfg, "mx.example.com", ["example.com"]) == ["mx.example.com"]


def _live(names: list[str], days_left: float, now: float) -> LiveCertificate:
    end = datetime.datetime.fromtimestamp(now + days_left * DAY, datetime.UTC)
    return LiveCertificate(Path("x"), names, end, "CN=ca")


def test_decide_with_a_fake_clock() -> None:
    cfg = AcmeConfig(renew_before_days=30, check_interval=43200)
    now, names = 1_800_000_000.0, ["a.example", "b.example"]
    fresh = AcmeState()
    assert decide(cfg, None, names, fresh, now, False).renew
    far = decide(cfg, _live(names, 90, now), names, fresh, now, False)
    assert not far.renew and far.wait == 43200
    soon = decide(cfg, _live(names, 30.5, now), names, fresh, now, False)
    assert not soon.renew and soon.wait == pytest.approx(0.5 * DAY)
    inside = decide(cfg, _live(names, 29, now), names, fresh, now, False)
    assert inside.renew and "expires in 29 days" in inside.reason
    missing = decide(cfg, _live(["a.example"], 90, now), names, fresh, now, False)
    assert missing.renew and "b.example" in missing.reason
    assert decide(cfg, _live(names, 90, now), names, fresh, now, True).renew
    # after failures: no attempt before next_attempt, unless asked for
    failed = AcmeState(failures=2, next_attempt=now + 600)
    waiting = decide(cfg, _live(names, 29, now), names, failed, now, False)
    assert not waiting.renew and waiting.wait == 600
    assert decide(cfg, _live(names, 29, now), names, failed, now, True).renew
    # a certificate from another CA (staging, then production) is replaced
    moved = AcmeState(directory="https://staging.example/dir")
    changed = decide(cfg, _live(names, 90, now), names, moved, now, False)
    assert changed.renew and "directory_url changed" in changed.reason
    same = AcmeState(directory=cfg.directory_url)
    assert not decide(cfg, _live(names, 90, now), names, same, now, False).renew


def test_backoff_doubles_up_to_the_limit() -> None:
    cfg = AcmeConfig(retry_min=60, retry_max=1000)
    assert [backoff(cfg, n) for n in (1, 2, 3, 4, 5, 6, 100)] == [
        60, 120, 240, 480, 960, 1000, 1000]


def _key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def test_files_are_private_and_replaced_whole(tmp_path: Path) -> None:
    files = AcmeFiles(tmp_path)
    key = files.account_key()
    assert files.account_key().private_numbers() == key.private_numbers()  # made once
    cert_pem, key_pem = challenge_certificate("a.example", "x")
    files.install(_key(key_pem), cert_pem)
    live = files.current()
    assert live is not None and live.names == ["a.example"]
    assert stat.S_IMODE(files.root.stat().st_mode) == 0o700
    for path in files.root.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert [p.name for p in files.root.iterdir() if p.name.startswith(".")] == []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(live.path, live.path)  # key and chain in one file
    files.save_state(AcmeState(names=["a.example"], error="boom"))
    assert files.state().error == "boom"
    (files.root / "state.json").write_text("{not json")
    assert files.state() == AcmeState()


async def test_unreachable_ca_keeps_the_certificate_and_backs_off(tmp_path: Path) -> None:
    files = AcmeFiles(tmp_path)
    cert_pem, key_pem = challenge_certificate("mx.example", "x")
    files.install(_key(key_pem), cert_pem)
    before = files.live.read_bytes()
    clock = [1_800_000_000.0]
    installed: list[int] = []

    async def domains() -> list[str]:
        return []

    cfg = AcmeConfig(enabled=True, directory_url="https://127.0.0.1:9/dir", timeout=5,
                     retry_min=60, retry_max=3600, renew_before_days=3650)
    manager = CertificateManager(cfg, files, "mx.example", domains, ChallengeStore(),
                                 lambda: installed.append(1), clock=lambda: clock[0])
    wait = await manager.check()
    state = files.state()
    assert wait == 60 and state.failures == 1 and "cannot reach" in state.error
    assert files.live.read_bytes() == before and installed == []
    clock[0] += 30  # inside the backoff: no attempt
    assert await manager.check() == pytest.approx(30)
    assert files.state().last_attempt == state.last_attempt
    clock[0] += 31
    assert await manager.check() == 120  # second failure: doubled
    assert files.state().failures == 2
    cfg.ca_file = str(tmp_path / "missing.pem")  # named in the error, not a bare errno
    clock[0] += 10_000
    await manager.check()
    assert f"acme.ca_file {tmp_path / 'missing.pem'}: cannot use it" in files.state().error
    cfg.enabled = False  # switched off by a reload: nothing is attempted
    clock[0] += 10_000
    await manager.check()
    assert files.state().failures == 3




def test_bad_nonce_is_retried_with_the_nonce_it_carried() -> None:
    """RFC 8555 §6.5: a badNonce error carries a fresh nonce; the request is sent again."""
    from postroom.services.acme.client import AcmeError, Response

    key = ec.generate_private_key(ec.SECP256R1())
    client = AcmeClient("https://ca.invalid/dir", key, ssl.create_default_context(),
                        kid="https://ca.invalid/acct/1")
    client._nonce = "first"
    sent: list[str] = []
    replies = [
        Response(400, {"Replay-Nonce": "second"},
                 b'{"type": "urn:ietf:params:acme:error:badNonce", "detail": "stale"}'),
        Response(200, {"Replay-Nonce": "third"}, b'{"status": "valid"}'),
    ]

    def fake(method: str, url: str, body: bytes | None = None, **_: object) -> Response:
        assert body is not None
        sent.append(json.loads(_b64d(json.loads(body)["protected"]))["nonce"])
        reply = replies.pop(0)
        client._nonce = reply.headers["Replay-Nonce"]
        return reply

    client._http = fake  # type: ignore[method-assign,assignment]
    assert client.post("https://ca.invalid/x", None).json() == {"status": "valid"}
    assert sent == ["first", "second"]
    replies[:] = [Response(403, {"Replay-Nonce": "n"},
                           b'{"type": "urn:ietf:params:acme:error:unauthorized", '
                           b'"detail": "no"}')]
    with pytest.raises(AcmeError, match="unauthorized: no") as info:
        client.post("https://ca.invalid/x", {})
    assert info.value.kind.endswith(":unauthorized")


def test_retry_after_is_honoured_within_bounds() -> None:
    from postroom.services.acme.client import _retry_after

    assert _retry_after({"Retry-After": "3"}, 0.5) == 3
    assert _retry_after({"retry-after": "86400"}, 0.5) == 60  # never past a minute
    assert _retry_after({"Retry-After": "Fri, 04 Dec 2026 10:00:00 GMT"}, 0.5) == 0.5
    assert _retry_after({}, 2.0) == 2.0


def test_the_client_refuses_plain_http() -> None:
    from postroom.services.acme.client import AcmeError

    key = ec.generate_private_key(ec.SECP256R1())
    client = AcmeClient("http://ca.invalid/dir", key, ssl.create_default_context())
    with pytest.raises(AcmeError, match="non-HTTPS"):
        client.directory()


def test_only_challenges_a_listener_answers_are_used(tmp_path: Path) -> None:
    async def domains() -> list[str]:
        return []

    offered: list[dict[str, object]] = [{"type": "http-01"}, {"type": "tls-alpn-01"},
                                         {"type": "dns-01"}]
    manager = CertificateManager(AcmeConfig(), AcmeFiles(tmp_path), "mx.example", domains,
                                 ChallengeStore(), lambda: None)
    assert manager._pick(offered) == {"type": "http-01"}  # the configured preference
    manager.answerable = frozenset({"tls-alpn-01"})  # web.http is off
    assert manager._pick(offered) == {"type": "tls-alpn-01"}
    manager.answerable = frozenset()
    assert manager._pick(offered) is None


def test_an_earlier_sni_callback_is_kept_and_put_back() -> None:
    """Review finding: switching the hook off set the context's SNI callback to None, so any
    other per-name certificate choice would silently stop after an issuance. Ours calls the
    earlier one for every handshake that is not a challenge, and puts it back at the end."""
    from postroom.services.acme.challenges import ChallengeStore
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    seen: list[str | None] = []

    def earlier(conn: object, name: str | None, c: ssl.SSLContext) -> None:
        seen.append(name)

    ctx.sni_callback = earlier
    store = ChallengeStore()
    store.attach(ctx)
    assert ctx.sni_callback is earlier  # nothing pending: untouched
    store.add_alpn("mail.example.test", "token.thumbprint")
    assert ctx.sni_callback is not earlier
    assert ctx.sni_callback is not None
    ctx.sni_callback(object(), "other.example.test", ctx)  # type: ignore[arg-type]
    assert seen == ["other.example.test"]
    store.remove_alpn("mail.example.test")
    assert ctx.sni_callback is earlier


def test_redirects_are_followed_only_to_https() -> None:
    """Review finding: the HTTPS-only check ran before urllib, which then followed a redirect
    to plain HTTP by itself (RFC 8555 §6.1)."""
    import urllib.request

    from postroom.services.acme.client import AcmeError, _HttpsOnlyRedirects
    handler = _HttpsOnlyRedirects()
    request = urllib.request.Request("https://acme.example.test/dir")
    with pytest.raises(AcmeError):
        handler.redirect_request(request, None, 302, "Found", {}, "http://acme.example.test/x")
    followed = handler.redirect_request(request, None, 302, "Found", {},
                                        "https://acme.example.test/x")
    assert followed is not None and followed.full_url == "https://acme.example.test/x"
