"""Debian's ``pebble`` (Let's Encrypt's ACME test server) on loopback, for the ACME tests.

Debian's package ships no test certificates, so each run makes its own small CA and a
certificate for 127.0.0.1/localhost for pebble's HTTPS endpoints; our ACME client trusts that
CA through ``acme.ca_file``. Pebble's own issuing CA is new at every start; ``roots()`` fetches
it from the management port, to check what our listeners present.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_https_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """(CA file, certificate, key): a CA and a leaf for 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(key))
    return paths


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Pebble:
    """``pebble`` validating on ``http_port``/``tls_port`` of 127.0.0.1, names resolved by
    the DNS server on ``dns_port``."""

    def __init__(self, folder: Path, http_port: int, tls_port: int, dns_port: int) -> None:
        self.ca_file, cert, key = make_https_certificate(folder)
        self.port, self.management = free_tcp_port(), free_tcp_port()
        config = {"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.management}",
            "certificate": str(cert), "privateKey": str(key),
            "httpPort": http_port, "tlsPort": tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        path = folder / "pebble.json"
        path.write_text(json.dumps(config))
        self.log = folder / "pebble.log"
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0"}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [PEBBLE, "-config", str(path), "-dnsserver", f"127.0.0.1:{dns_port}"],
                stdout=out, stderr=subprocess.STDOUT, env=env)
        self.context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            self._wait_ready()
        except BaseException:
            self.stop()  # never leave it running
            raise

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pebble exited: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.directory, context=self.context,
                                            timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"pebble did not answer in {timeout} s: {self.log.read_text()}")

    def _get(self, path: str) -> bytes:
        url = f"https://127.0.0.1:{self.management}{path}"
        with urllib.request.urlopen(url, context=self.context, timeout=10) as reply:
            data: bytes = reply.read()
            return data

    def root(self) -> bytes:
        """Pebble's issuing root, PEM (new at every start)."""
        return self._get("/roots/0")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
