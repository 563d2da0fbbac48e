"""TLS contexts and the self-signed certificate made on first run.

The generated certificate is a convenience so that STARTTLS and implicit TLS work at once; an
administrator replaces it with ``tls.cert``/``tls.key``. Minimum TLS 1.2 (RFC 8314 §4.1).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from postroom.core import private


def ensure_self_signed(folder: Path, hostname: str, also: Sequence[str] = (),
                       ) -> tuple[Path, Path]:
    """``cert.pem``/``key.pem`` in ``folder``, made once for ``hostname`` (its common name)
    and the names in ``also`` (the primary domain), plus localhost; made again when the host
    name it was made for is not among its names any more. Returns their paths."""
    private.make_dir(folder)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    names = list(dict.fromkeys([hostname, *also, "localhost"]))
    if cert_path.exists() and key_path.exists() and \
            set(names) <= set(certificate_names(cert_path)):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .sign(key, hashes.SHA256()))
    with private.create(key_path) as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    with private.create(cert_path) as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def certificate_names(path: Path) -> list[str]:
    """The DNS names of a PEM certificate's subjectAltName ([] when it cannot be read)."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (OSError, ValueError, x509.ExtensionNotFound):
        return []
    return list(ext.value.get_values_for_type(x509.DNSName))


TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def server_context(cert: Path, key: Path, min_version: str = "1.2") -> ssl.SSLContext:
    """One context for every listener. A reload loads a new certificate into this same
    object, so the handshakes that follow use it and no listener has to be rebuilt."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = TLS_VERSIONS[min_version]
    ctx.load_cert_chain(str(cert), str(key))
    ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx


def client_context(verify: bool) -> ssl.SSLContext:
    """TLS for our outgoing connections (SMTP, POP3, ODMR), TLS 1.2 at least. ``verify=False``
    is opportunistic TLS (RFC 7435 §3: encrypt, do not authenticate) or an administrator's
    explicit choice for a self-signed peer."""
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx
