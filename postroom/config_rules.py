"""Every check of a configuration, in one place, so that ``config check`` and ``serve`` agree.

Three passes, each reporting *every* problem it finds, each naming the key (and the file):

1. ``type_errors``: each key of the TOML against its declared type, one key at a time, so one
   mistake does not hide the next; an enum names the values it takes.
2. ``rules``: what the types alone cannot say: networks that parse as CIDR, a certificate with
   its key, listen addresses that are addresses, the safety checks of the pipeline.
3. ``environment``: what depends on this machine: the certificate and key files exist, are
   readable and belong together; every listen address is one this machine has.

``config.load`` runs the first two (every command needs a valid configuration); ``postroom
config check`` and ``postroom serve`` run all three.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import ssl
import typing
from pathlib import Path
from typing import Any

import msgspec


def _literal_values(t: Any) -> tuple[Any, ...] | None:
    """The allowed values when ``t`` is a Literal (possibly inside Annotated or a list)."""
    origin = typing.get_origin(t)
    if origin is typing.Annotated:
        return _literal_values(typing.get_args(t)[0])
    if origin is typing.Literal:
        return typing.get_args(t)
    if origin is list:
        return _literal_values(typing.get_args(t)[0])
    return None


def _struct_type(t: Any) -> type[msgspec.Struct] | None:
    origin = typing.get_origin(t)
    if origin is typing.Annotated:
        return _struct_type(typing.get_args(t)[0])
    if isinstance(t, type) and issubclass(t, msgspec.Struct):
        return t
    return None


def _message(exc: msgspec.ValidationError, allowed: tuple[Any, ...] | None) -> str:
    text = str(exc)
    msg, _, at = text.partition(" - at `$")
    msg = msg[0].lower() + msg[1:] if msg else msg
    if at:
        msg += f" (item {at.rstrip('`').strip('[]')})"
    if allowed is not None and "enum" in msg:
        msg += f"; one of: {', '.join(str(v) for v in allowed)}"
    return msg


def type_errors(data: dict[str, Any], struct: type[msgspec.Struct], prefix: str = "",
                ) -> tuple[list[str], dict[str, Any]]:
    """Every key of ``data`` that is unknown or of the wrong type, as ``key: problem``, and
    ``data`` without those keys (their defaults apply), so the later passes can still run and
    report their own problems too."""
    fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
    out: list[str] = []
    kept: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        field = fields.get(key)
        if field is None:
            out.append(f"{name}: unknown key")
            continue
        nested = _struct_type(field.type)
        if nested is not None:
            if isinstance(value, dict):
                problems, kept[key] = type_errors(value, nested, name + ".")
                out += problems
            else:
                out.append(f"{name}: expected a table ([{name}])")
            continue
        try:
            msgspec.convert(value, field.type)
        except msgspec.ValidationError as exc:
            out.append(f"{name}: {_message(exc, _literal_values(field.type))}")
            continue
        kept[key] = value
    return out, kept


NETWORK_KEYS = ("server.plaintext_auth_networks", "server.proxy_protocol_networks",
                "smtp.trusted_networks", "minger.allowed_networks",
                "greylisting.exempt_networks", "dnsbl.exempt_networks",
                "screening.exempt_networks", "mailauth.skip_networks")


def _get(cfg: Any, dotted: str) -> Any:
    node = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def listen_keys(cfg: Any) -> list[tuple[str, list[str]]]:
    """(key, addresses) of every listen list: the server's and each listener's own."""
    out = [("server.listen", list(cfg.server.listen))]
    for key in ("smtp.mx", "smtp.submission", "smtp.submissions", "imap.imap", "imap.imaps",
                "pop3.pop3", "pop3.pop3s", "odmr", "minger"):
        out.append((f"{key}.listen", list(_get(cfg, key).listen)))
    return out


def rules(cfg: Any) -> list[str]:
    """Rules that span values or need parsing beyond the types."""
    out: list[str] = []
    checks = cfg.pipeline.checks
    missing = [c for c in ("size", "smuggling") if c not in checks]
    if missing:
        out.append(f"pipeline.checks: must include {' and '.join(missing)} (safety checks "
                   "cannot be turned off)")
    if len(set(checks)) != len(checks):
        out.append("pipeline.checks: a check is named twice")
    for key in NETWORK_KEYS:
        for item in _get(cfg, key):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                out.append(f"{key}: {item!r} is not a network (write '192.0.2.0/24' or "
                           "'2001:db8::/32')")
    for key, addresses in listen_keys(cfg):
        for item in addresses:
            try:
                ipaddress.ip_address(item)
            except ValueError:
                out.append(f"{key}: {item!r} is not an IP address (e.g. '0.0.0.0', '::', "
                           "'127.0.0.1')")
    out += _cluster_rules(cfg)
    if "dnsbl" in checks and not cfg.dnsbl.zones:
        out.append("pipeline.checks: 'dnsbl' needs at least one zone in dnsbl.zones, e.g. "
                   "[{zone = \"zen.spamhaus.org\", weight = 10}]")
    for zone in cfg.dnsbl.zones:
        labels = zone.zone.strip(".").split(".")
        if len(labels) < 2 or not all(label and label.replace("-", "").isalnum()
                                      for label in labels):
            out.append(f"dnsbl.zones: {zone.zone!r} is not a DNS zone name (e.g. "
                       "'zen.spamhaus.org')")
    if bool(cfg.tls.cert) != bool(cfg.tls.key):
        given, other = ("tls.cert", "tls.key") if cfg.tls.cert else ("tls.key", "tls.cert")
        out.append(f"{other}: required when {given} is set (a certificate and its private "
                   "key)")
    if cfg.store.backend == "postgresql" and not cfg.store.dsn:
        out.append('store.dsn: required when store.backend = "postgresql"')
    return out


def tls_problem(cert: str, key: str) -> str | None:
    """Why this certificate and key cannot serve TLS, naming the key and the path."""
    for name, path in (("tls.cert", cert), ("tls.key", key)):
        p = Path(path)
        if not p.exists():
            return f"{name}: {path}: no such file"
        if not p.is_file():
            return f"{name}: {path}: not a file"
        try:
            p.open("rb").close()
        except OSError as exc:
            return f"{name}: {path}: cannot be read ({exc.strerror})"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        reason = (exc.reason or str(exc)).lower()
        if "key values mismatch" in reason or "mismatch" in reason:
            return f"tls.key: {key} is not the private key of the certificate in {cert}"
        if "pem lib" in reason or "no start line" in reason or "x509" in reason:
            try:
                ssl.PEM_cert_to_DER_cert(Path(cert).read_text(errors="replace"))
            except ValueError:
                return f"tls.cert: {cert} holds no PEM certificate"
            return f"tls.key: {key} holds no usable PEM private key (or it is encrypted)"
        return f"tls.cert/tls.key: {cert}, {key}: {reason}"
    return None


def address_problem(address: str) -> str | None:
    """Why nothing can listen on ``address`` here (not whether a port is free)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{address} is not an address of this machine"
            return f"{address}: {exc.strerror or exc}"
    return None


def environment(cfg: Any) -> list[str]:
    """What depends on this machine: the TLS files, the listen addresses."""
    out: list[str] = []
    if cfg.tls.cert and cfg.tls.key:
        problem = tls_problem(cfg.tls.cert, cfg.tls.key)
        if problem:
            out.append(problem)
    for key, addresses in listen_keys(cfg):
        for item in addresses:
            try:
                ipaddress.ip_address(item)
            except ValueError:
                continue  # reported by rules()
            problem = address_problem(item)
            if problem:
                out.append(f"{key}: {problem}")
    if cfg.acme.enabled and cfg.acme.ca_file and not os.access(cfg.acme.ca_file, os.R_OK):
        out.append(f"acme.ca_file: cannot read {cfg.acme.ca_file}")
    return out


def _cluster_rules(cfg: Any) -> list[str]:
    """Cluster mode and shared blobs need PostgreSQL (docs/cluster.md)."""
    out: list[str] = []
    pg = cfg.store.backend == "postgresql"
    if cfg.cluster.enabled and not pg:
        out.append('cluster.enabled: needs store.backend = "postgresql" (every node of a '
                   "cluster shares one PostgreSQL database)")
    if cfg.blobs.backend == "postgresql" and not pg:
        out.append('blobs.backend: "postgresql" keeps blobs in the store\'s database; set '
                   'store.backend = "postgresql" too, or use "files"')
    if cfg.blobs.backend == "s3":
        s3 = cfg.blobs.s3
        missing = [k for k in ("endpoint", "bucket", "access_key", "secret_key_file")
                   if not getattr(s3, k)]
        if missing:
            out.append("blobs.s3: " + ", ".join(missing) + " required when blobs.backend = "
                       '"s3"')
    return out
