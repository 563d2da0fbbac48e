"""The running server: its listeners from the registry, its schedulers, reload and stop.

``run_server`` is what ``postroom serve`` runs: it takes the data directory (lifecycle.py),
builds the services (app.py, the composition root), starts the listeners every registry row
asks for with the front-end that serves it, and then waits for signals: SIGTERM or SIGINT stop
it, SIGHUP reloads the configuration (``Server.reload``) without dropping a connection.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import signal
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from postroom import lifecycle
from postroom.app import (
    Services,
    StartupError,
    bootstrap,
    build_atrn,
    build_multipop,
    build_services,
    check_context,
    qualified,
    server_names,
)
from postroom.config import Config, ConfigError, check_environment
from postroom.core import private
from postroom.core.locks import singleton
from postroom.directory.sasl import server_end_point
from postroom.directory.secretbox import KEY_FILE
from postroom.lifecycle import DataDirInUse, DataDirLock
from postroom.mta.atrn import AtrnScheduler
from postroom.mta.multipop import Collector
from postroom.mta.odmr import Turnaround
from postroom.mta.queue import QueueManager
from postroom.net.http import AsgiApp, HttpListener, HttpSpec
from postroom.net.listener import (
    ListenerSpec,
    Network,
    Service,
    TcpListener,
    UdpListener,
    parse_networks,
)
from postroom.net.rlimit import raise_open_files
from postroom.net.tls import TLS_VERSIONS, ensure_self_signed, server_context
from postroom.obs import log as obs_log
from postroom.privileges import PrivilegeError, Privileges, prepare_data_dir
from postroom.protocols.imap.server import ImapService
from postroom.protocols.imap.session import ImapSettings
from postroom.protocols.managesieve.server import ManageSieveService
from postroom.protocols.managesieve.session import ManageSieveSettings
from postroom.protocols.minger import LOOPBACK as MINGER_LOOPBACK
from postroom.protocols.minger import MingerServer, MingerSettings
from postroom.protocols.pop3.server import Pop3Service
from postroom.protocols.pop3.session import Pop3Settings
from postroom.protocols.smtp.server import OdmrService, SmtpService
from postroom.protocols.smtp.session import SmtpSettings
from postroom.registry import REGISTRY, ServiceDef
from postroom.services.acme.challenges import ChallengeStore
from postroom.services.acme.files import AcmeFiles
from postroom.services.acme.manager import CertificateManager
from postroom.services.clientconfig import ClientConfig, Endpoint
from postroom.services.cluster import ClusterNodes, JoinRefused
from postroom.services.dashboard import Dashboard
from postroom.services.forwarding import DkimSealingKeys
from postroom.services.health import Health
from postroom.services.mailauth.arc import ArcSealer
from postroom.services.mailauth.build import settings_from
from postroom.services.maillog_search import MailLogSearch
from postroom.services.pipeline.checks import build_checks
from postroom.services.pipeline.signing import DkimSigner
from postroom.services.webmail import Webmail, build_webmail
from postroom.services.webmail.context import WebmailContext
from postroom.web.app import build as build_web
from postroom.web.context import WebServices, WebSettings

log = logging.getLogger("postroom.server")


def _bind_error(label: str, host: str, port: int, exc: OSError) -> StartupError:
    """Why a listener could not bind, with what to do about it (errno, not a guess)."""
    reason = (exc.strerror or str(exc)).lower()
    if exc.errno == errno.EADDRINUSE:
        hint = "another server is using it; change the port, use --port-offset N, or " \
               "disable the service in the config"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        hint = "ports below 1024 need root (or CAP_NET_BIND_SERVICE); run as root, set " \
               "server.user to drop privileges after binding, or use --port-offset 10000"
    elif exc.errno == errno.EADDRNOTAVAIL:
        hint = f"{host} is not an address of this machine; fix server.listen"
    else:
        hint = "check server.listen and the port"
    return StartupError(f"cannot listen for {label} on {host}:{port}: {reason} ({hint})")



GC_INTERVAL = 3600.0


@dataclass
class ListenerRow:
    service: str
    address: str
    port: int
    tls: str
    note: str


@dataclass
class FrontEndContext:
    """What every front-end factory draws from: built once per server start."""

    services: Services
    hostname: str
    tls: ssl.SSLContext
    channel_binding: bytes | None
    plaintext: list[Network]
    trusted: list[Network]
    turnaround: Turnaround | None
    web: WebServices | None = None  # what the HTTP front-ends call (services only)
    ops_networks: list[Network] = field(default_factory=list)  # who may read /metrics


def _imap(ctx: FrontEndContext, sdef: ServiceDef, tls: ssl.SSLContext | None) -> Service:
    c = ctx.services.cfg
    return ImapService(sdef.label, ctx.services.front, ImapSettings(
        ctx.hostname, max_line=c.limits.max_line_length,
        max_literal=c.limits.max_message_size, idle_timeout=c.limits.idle_timeout,
        idle_keepalive=c.imap.idle_keepalive, plaintext_networks=ctx.plaintext,
        tls_context=tls, channel_binding=ctx.channel_binding))


def _pop3(ctx: FrontEndContext, sdef: ServiceDef, tls: ssl.SSLContext | None) -> Service:
    c = ctx.services.cfg
    return Pop3Service(sdef.label, ctx.services.front, Pop3Settings(
        ctx.hostname, max_line=c.limits.max_line_length, idle_timeout=c.pop3.autologout,
        plaintext_networks=ctx.plaintext, tls_context=tls,
        channel_binding=ctx.channel_binding, apop=c.pop3.apop))


def _managesieve(ctx: FrontEndContext, sdef: ServiceDef, tls: ssl.SSLContext | None,
                 ) -> Service:
    """ManageSieve (RFC 5804): the user's scripts through services/sieve/scripts.py, with
    IMAP's limits and password rules."""
    c = ctx.services.cfg
    return ManageSieveService(sdef.label, ctx.services.front, ctx.services.sieve_scripts,
                              ManageSieveSettings(
                                  ctx.hostname, max_line=c.limits.max_line_length,
                                  idle_timeout=c.limits.idle_timeout,
                                  plaintext_networks=ctx.plaintext, tls_context=tls,
                                  channel_binding=ctx.channel_binding))


def _smtp_settings(ctx: FrontEndContext, mode: str, tls: ssl.SSLContext | None,
                   ) -> SmtpSettings:
    c = ctx.services.cfg
    return SmtpSettings(ctx.hostname, mode, c.limits.max_message_size,
                        max_header_size=c.limits.max_header_size,
                        idle_timeout=c.limits.idle_timeout, plaintext_networks=ctx.plaintext,
                        trusted_networks=ctx.trusted, tls_context=tls,
                        channel_binding=ctx.channel_binding)


def _smtp(mode: str) -> FrontEnd:
    def make(ctx: FrontEndContext, sdef: ServiceDef, tls: ssl.SSLContext | None) -> Service:
        return SmtpService(sdef.label, ctx.services.front, _smtp_settings(ctx, mode, tls))
    return make


def _odmr(ctx: FrontEndContext, sdef: ServiceDef, tls: ssl.SSLContext | None) -> Service:
    c = ctx.services.cfg
    return OdmrService(sdef.label, ctx.services.front, _smtp_settings(ctx, "odmr", tls),
                       ctx.turnaround, c.odmr.auth_without_tls, c.odmr.timeout)


FrontEnd = Callable[[FrontEndContext, ServiceDef, "ssl.SSLContext | None"], Service]
FRONTENDS: dict[str, FrontEnd] = {
    "smtp-mx": _smtp("mx"), "smtp-submission": _smtp("submission"), "imap": _imap,
    "pop3": _pop3, "odmr": _odmr, "managesieve": _managesieve,
}
# HTTP front-ends (registry kind "asgi"): each makes the ASGI application its listener serves.
AppFactory = Callable[[FrontEndContext, ServiceDef], AsgiApp]


def _web(ctx: FrontEndContext, sdef: ServiceDef) -> AsgiApp:
    """The web front-ends (web/app.py), one application per listener."""
    c = ctx.services.cfg
    assert ctx.web is not None
    https = c.web.https
    settings = WebSettings(ctx.hostname, sdef.config(c).tls != "none", c.web.max_body_size,
                           c.web.hsts_max_age, ctx.ops_networks,
                           (https.port + c.server.port_offset) if https.enabled else 0,
                           users_page_size=c.web.users_page_size,
                           users_page_max=c.web.users_page_max,
                           operations=c.web.operations, minger=c.minger,
                           form_max_field=c.web.form_max_field,
                           form_max_fields=c.web.form_max_fields,
                           plaintext_networks=ctx.plaintext)
    return build_web(sdef.frontend, ctx.web, settings)


APPS: dict[str, AppFactory] = {"web-admin": _web, "web": _web, "web-plain": _web}
# Front-ends whose listeners a mail client is told about (services/clientconfig.py)
CLIENT_KINDS = {"imap": "imap", "pop3": "pop3", "smtp-submission": "smtp"}


@dataclass
class Server:
    cfg: Config
    services: Services
    hostname: str
    domain: str | None = None  # the primary domain, also named in a generated certificate
    tcp: list[TcpListener] = field(default_factory=list)
    udp: list[UdpListener] = field(default_factory=list)
    http: list[HttpListener] = field(default_factory=list)
    registry: Sequence[ServiceDef] = REGISTRY
    frontends: Mapping[str, FrontEnd] = field(default_factory=lambda: dict(FRONTENDS))
    apps: Mapping[str, AppFactory] = field(default_factory=lambda: dict(APPS))
    # what a reload changes in place: the front-end context, the PROXY networks, and each TCP
    # service with the TLS context it was built with
    front: FrontEndContext | None = None
    proxies: list[Network] = field(default_factory=list)
    live: list[tuple[ServiceDef, Service, ssl.SSLContext | None]] = field(default_factory=list)
    minger_settings: MingerSettings | None = None
    queue: QueueManager | None = None
    collector: Collector | None = None
    atrn: AtrnScheduler | None = None
    nodes: ClusterNodes | None = None  # cluster mode: this node's row and heartbeat
    # ACME (services/acme/): the pending challenges the listeners answer, and the renewer
    challenges: ChallengeStore = field(default_factory=ChallengeStore)
    acme: CertificateManager | None = None
    webmail: Webmail | None = None  # webmail's services, when a public web listener serves it
    # root only to read the TLS key and bind; dropped for good once every listener is bound
    privileges: Privileges = field(default_factory=lambda: Privileges(None))

    def _port(self, port: int) -> int:
        return port + self.cfg.server.port_offset if port else 0

    async def start(self) -> None:
        c = self.cfg
        s = self.services
        self.queue = QueueManager(c, self.hostname, s.queue, s.delivery, s.submission,
                                  s.directory, s.gateways, metrics=s.metrics)
        health = Health(s.directory, s.queue)
        s.metrics.queue_size_from(health.queue_size)
        s.metrics.open_connections_from(self.open_connections)
        client_config = ClientConfig(s.directory, self.hostname, [])
        ops = c.web.operations
        dashboard = Dashboard(s.store, s.metrics, minutes=ops.dashboard_minutes,
                              storage_interval=ops.storage_interval)
        maillog = MailLogSearch("")
        maillog.configure(c.log.file, ops)
        if c.smtp.deliver_at_acceptance:
            s.submission.direct = self.queue.deliver_at_acceptance
        self.queue.outbound.return_path = s.batv.return_path  # BATV (services/batv.py)
        if c.cluster.enabled:  # per_destination counts every node's connections
            self.queue.outbound.locks = s.locks
        self.queue.sign_notice = DkimSigner(s.dkim_keys).sign_notice  # DKIM on our DSNs
        # ARC-seal copies forwarded to remote alias and group members with the DKIM keys
        self.queue.forwarding.sealer = ArcSealer(
            DkimSealingKeys(s.dkim_keys), settings_from(c, self.hostname).authserv_id)
        # users' Sieve redirects (SRS, sealed like forwarded copies) and vacation replies (DKIM)
        self.queue.sieve = s.sieve_mail.sending(self.queue.forwarding)
        s.sieve_mail.vacations.sign = self.queue.sign_notice
        self._build_checks()
        if c.cluster.enabled:  # docs/cluster.md: refuse a duplicate name or another key
            relay = s.relay
            s.secrets.ensure()
            self.nodes = ClusterNodes(s.store, c.cluster, c.data_path / KEY_FILE,
                                      lag=lambda: relay.lag_ms if relay else None)
            try:
                await self.nodes.join()
            except JoinRefused as exc:
                raise StartupError(str(exc)) from None
            self.nodes.start()
        if s.relay is not None:  # cluster mode: other nodes' changes (docs/cluster.md)
            await s.relay.start()
        s.indexer.start()
        cert, key = self._certificate()
        with self.privileges.raised():  # a key in /etc/ssl/private may be root's alone
            ctx = server_context(cert, key, c.tls.min_version)
        if c.acme.enabled:
            self.challenges.attach(ctx)  # TLS-ALPN-01 (RFC 8737) on every TLS listener
        self.webmail = self._webmail()
        front = self.front = FrontEndContext(
            s, self.hostname, ctx, _end_point(cert),
            _networks("server.plaintext_auth_networks", c.server.plaintext_auth_networks),
            _networks("smtp.trusted_networks", c.smtp.trusted_networks),
            Turnaround(s.queue, self.queue.outbound, self.queue.conclude, self.hostname),
            WebServices(health, s.metrics, client_config, s.admin, s.auth,
                        sessions=s.sessions, two_factor=s.two_factor,
                        app_passwords=s.app_passwords, own_account=s.own_account,
                        acme_challenges=self.challenges,
                        dashboard=dashboard, maillog=maillog, tokens=s.tokens,
                        webmail=self.webmail,
                        dav=s.dav if c.web.dav.enabled else None,
                        eas=s.eas if c.web.eas.enabled else None,
                        sieve_scripts=s.sieve_scripts if c.sieve.enabled else None),
            _networks("web.metrics_networks", c.web.metrics_networks))
        proxies = self.proxies = _networks("server.proxy_protocol_networks",
                                           c.server.proxy_protocol_networks)
        for sdef in self.registry:
            lc = sdef.config(c)
            if not lc.enabled:
                continue
            tls = None if lc.tls == "none" else ctx
            port = self._port(lc.port)
            per_ip = lc.connections_per_ip or c.limits.connections_per_ip
            most = lc.max_connections or c.limits.max_connections
            for host in lc.listen or c.server.listen:
                listener: TcpListener | HttpListener
                if sdef.kind == "asgi":
                    listener = HttpListener(HttpSpec(
                        sdef.label, host, port, lc.tls, tls, per_ip, most, sdef.note,
                        proxy_networks=proxies, on_connect=s.metrics.connection,
                        screen=s.screening.reason,
                        on_request=s.metrics.http_request, on_close=s.metrics.connection_closed,
                        keepalive_timeout=c.web.keepalive_timeout,
                        max_header_size=c.web.max_header_size,
                        handshake_timeout=c.tls.handshake_timeout),
                        self.apps[sdef.frontend](front, sdef))
                else:
                    service = self.frontends[sdef.frontend](front, sdef, tls)
                    self.live.append((sdef, service, tls))
                    listener = TcpListener(ListenerSpec(
                        service, sdef.label, host, port, lc.tls, tls, connections_per_ip=per_ip,
                        max_connections=most, proxy_networks=proxies,
                        handshake_timeout=c.tls.handshake_timeout, note=sdef.note,
                        screen=s.screening.reason, on_connect=s.metrics.connection,
                        on_close=s.metrics.connection_closed))
                try:
                    # bound (as root when ports < 1024 need it), accepting only after the
                    # privileges are dropped; nothing that writes files runs yet
                    with self.privileges.raised():
                        await listener.start(serve=False)
                except OSError as exc:
                    raise _bind_error(sdef.label, host, port, exc) from None
                if isinstance(listener, HttpListener):
                    self.http.append(listener)
                else:
                    self.tcp.append(listener)
        if c.minger.enabled:
            self.minger_settings = self._minger_settings()
            minger = MingerServer(self.minger_settings, s.submission.address_status)
            for host in c.minger.listen or c.server.listen:
                udp = UdpListener("minger", host, self._port(c.minger.port), minger.handle)
                try:
                    with self.privileges.raised():
                        await udp.start()
                except OSError as exc:
                    raise _bind_error("minger", host, udp.requested_port, exc) from None
                self.udp.append(udp)
        client_config.set_endpoints(self._client_endpoints())
        dashboard.open_connections_from(self.open_connections)
        dashboard.name_protocols({d.label: d.frontend for d in self.registry})
        self.privileges.drop()
        for tcp in self.tcp:
            await tcp.serve()
        for http in self.http:
            await http.serve()
        # the schedulers start last, as the unprivileged user: every file they write is its
        await self.queue.start()
        if c.multipop.enabled:
            self.collector = Collector(build_multipop(s, self.hostname))
            await self.collector.start()
        if c.odmr.collect:
            self.atrn = AtrnScheduler(build_atrn(s, self.hostname), s.locks)
            await self.atrn.start()
        if c.acme.enabled:
            await self._start_acme()

    async def _start_acme(self) -> None:
        """The ACME renewer (services/acme/manager.py): checks now, then periodically."""
        store = self.services.store

        async def domains() -> list[str]:
            return [d.name for d in await store.directory.list_domains()]

        web = self.cfg.web  # the listeners that answer each challenge type
        answerable = {"http-01": web.http.enabled, "tls-alpn-01": web.https.enabled}
        self.acme = CertificateManager(self.cfg.acme, AcmeFiles(self.cfg.data_path),
                                       self.hostname, domains, self.challenges,
                                       self.swap_certificate, answerable=frozenset(
                                           k for k, on in answerable.items() if on))
        await self.acme.start()

    def swap_certificate(self) -> None:
        """Load the current certificate into the live context, as a reload does: new
        handshakes on every listener get it, open connections keep theirs."""
        front = self.front
        if front is None:
            return
        cert, key = self._certificate()
        front.tls.load_cert_chain(cert, key)
        front.channel_binding = _end_point(cert)
        self._refresh_services()

    def open_connections(self) -> dict[str, int]:
        """Connections open now per listener label (the metrics gauge and the dashboard read it)."""
        out: dict[str, int] = {}
        for tcp in self.tcp:
            out[tcp.spec.label] = out.get(tcp.spec.label, 0) + len(tcp.conns)
        for http in self.http:
            out[http.spec.label] = out.get(http.spec.label, 0) + len(http.state.connections)
        return out

    def _client_endpoints(self) -> list[Endpoint]:
        """The bound listeners a mail client may use (with TLS), for autoconfiguration; the
        ports are the real ones, port_offset included."""
        out: list[Endpoint] = []
        for listener in self.tcp:
            sdef = next(d for d in self.registry if d.label == listener.spec.label)
            kind = CLIENT_KINDS.get(sdef.frontend)
            if kind is None or listener.spec.tls == "none" or \
                    any(e.port == listener.port for e in out):
                continue
            security = "implicit" if listener.spec.tls == "implicit" else "starttls"
            out.append(Endpoint(kind, listener.port, security))  # type: ignore[arg-type]
        return out

    def _certificate(self) -> tuple[Path, Path]:
        c = self.cfg
        acme = AcmeFiles(c.data_path)
        if c.acme.enabled and acme.current() is not None:
            return acme.live, acme.live  # key and chain in one file (services/acme/files.py)
        if c.tls.cert and c.tls.key:
            return Path(c.tls.cert), Path(c.tls.key)
        return ensure_self_signed(c.data_path / "tls", self.hostname,
                                  [self.domain] if self.domain else [])

    def _minger_settings(self) -> MingerSettings:
        m = self.cfg.minger
        return MingerSettings(m.secret, m.allow_anonymous,
                              _networks("minger.allowed_networks",
                                        m.allowed_networks or MINGER_LOOPBACK), m.rate_limit)

    def reload(self, new: Config) -> list[str]:
        """Take ``new`` (already checked) into the running server, without dropping a
        connection: the certificate and key (new handshakes use them), networks, limits,
        timeouts, the pipeline, the log, and every setting read at use. Sessions already
        open keep the settings they started with. Returns the changes only a restart can
        make (listeners, the data directory, the store, …), which are left as they were."""
        sections = [sdef.section for sdef in self.registry]
        held = lifecycle.hold_restart_only(self.cfg, new, lifecycle.restart_keys(sections))
        changed = lifecycle.apply_in_place(self.cfg, new)
        c, s, front = self.cfg, self.services, self.front
        if front is not None:
            cert, key = self._certificate()
            front.tls.load_cert_chain(cert, key)  # the same context: every listener has it
            front.tls.minimum_version = TLS_VERSIONS[c.tls.min_version]
            front.channel_binding = _end_point(cert)
            front.plaintext[:] = _networks("server.plaintext_auth_networks",
                                           c.server.plaintext_auth_networks)
            front.trusted[:] = _networks("smtp.trusted_networks", c.smtp.trusted_networks)
            self.proxies[:] = _networks("server.proxy_protocol_networks",
                                        c.server.proxy_protocol_networks)
            front.ops_networks[:] = _networks("web.metrics_networks", c.web.metrics_networks)
            if front.web is not None and front.web.maillog is not None:
                front.web.maillog.configure(c.log.file, c.web.operations)
            if front.web is not None and front.web.dashboard is not None:
                front.web.dashboard.storage_interval = c.web.operations.storage_interval
            self._refresh_services()
        specs: list[ListenerSpec | HttpSpec] = [*(t.spec for t in self.tcp),
                                                *(h.spec for h in self.http)]
        for spec in specs:
            sdef = next(d for d in self.registry if d.label == spec.label)
            lc = sdef.config(c)
            spec.connections_per_ip = lc.connections_per_ip or \
                c.limits.connections_per_ip
            spec.max_connections = lc.max_connections or c.limits.max_connections
            spec.handshake_timeout = c.tls.handshake_timeout
        if self.minger_settings is not None:
            vars(self.minger_settings).update(vars(self._minger_settings()))
        s.messages.max_message_size = c.limits.max_message_size
        s.submission.max_message_size = c.limits.max_message_size
        s.submission.max_header_size = c.limits.max_header_size
        self._build_checks()
        if s.learner is not None:  # learning itself is switched on or off at a restart
            s.learner.configure(c.pipeline.spamd)
        s.dkim_keys.cfg = c.dkim  # DKIM signing and BATV read these per message
        s.batv.cfg = c.batv
        s.throttle.threshold = c.limits.auth_failures_per_ip
        s.throttle.window = c.limits.auth_failure_window
        obs_log.setup(c.log.level, c.log.format, c.log.file)
        log.info("configuration reloaded", extra={"changed": ",".join(changed) or "-",
                                                  "needs_restart": len(held)})
        for item in held:
            log.warning("not applied until the server restarts: %s", item)
        if self.acme is not None:
            self.acme.wake()  # names, settings or 'postroom acme renew' may have changed
        elif c.acme.enabled and front is not None:
            self.challenges.attach(front.tls)
            asyncio.get_running_loop().create_task(self._start_acme())
        return held

    def _refresh_services(self) -> None:
        """Rebuild each TCP service's settings from the front-end context (new sessions)."""
        assert self.front is not None
        for sdef, service, tls in self.live:
            fresh = self.frontends[sdef.frontend](self.front, sdef, tls)
            for name, value in vars(fresh).items():  # settings and the like; new sessions
                if name not in ("name", "services"):
                    setattr(service, name, value)

    def _build_checks(self) -> None:
        """The pipeline's checks from the configuration, with this server's host name (the
        ``mailauth`` check's authserv-id: it must be the name the server uses everywhere,
        which only the server knows for sure). On start and on every reload. Replaced checks
        are not closed: a message in the middle of a stage may still be using one, and what
        they hold (idle worker threads) goes with them."""
        c, s = self.cfg, self.services
        s.submission.pipeline.checks[:] = build_checks(c.pipeline.checks, check_context(
            c, s.store, s.senders, s.spam_prefs, self.hostname))

    def table(self) -> list[ListenerRow]:
        rows = [ListenerRow(t.spec.label, t.spec.host, t.port, t.spec.tls, t.spec.note)
                for t in self.tcp]
        rows += [ListenerRow(h.spec.label, h.spec.host, h.port, h.spec.tls, h.spec.note)
                 for h in self.http]
        rows += [ListenerRow(u.label, u.host, u.port, "none (udp)", u.note) for u in self.udp]
        return rows

    def _webmail(self) -> Webmail | None:
        """Webmail's services (services/webmail/), when a public web listener serves it."""
        c, s = self.cfg, self.services
        if not c.web.webmail.enabled or not (c.web.https.enabled or c.web.alt.enabled):
            return None
        return build_webmail(WebmailContext(
            s.store, s.gate, s.directory, s.mailboxes, s.messages, s.acl, s.submission,
            s.senders, s.feed, s.multipop, s.learner, c.web.webmail, c.data_path,
            self.hostname, c.limits.max_message_size,
            authserv_id=settings_from(c, self.hostname).authserv_id,
            shared_compose=c.cluster.enabled), dav=s.dav)

    async def stop(self) -> None:
        grace = self.cfg.server.shutdown_grace
        if self.acme is not None:
            await self.acme.stop()
        if self.webmail is not None:
            await self.webmail.close()  # live streams end first, so listeners can drain
        if self.services.eas is not None:
            await self.services.eas.close()  # waiting Pings answer now, not at a heartbeat
        await asyncio.gather(*(t.stop(grace) for t in self.tcp),
                             *(h.stop(grace) for h in self.http),
                             *(u.stop(grace) for u in self.udp))
        if self.collector is not None:
            await self.collector.stop()
        if self.atrn is not None:
            await self.atrn.stop()
        if self.queue is not None:
            self.services.submission.direct = None
            await self.queue.stop()
            await self.services.indexer.stop()
        if self.nodes is not None:
            await self.nodes.leave()
        await self.services.close()


def _networks(key: str, items: list[str]) -> list[Network]:
    try:
        return parse_networks(items)
    except ValueError as exc:
        raise StartupError(f"{key}: {exc} (write networks as '192.0.2.0/24' or "
                           "'2001:db8::/32')") from None


def _end_point(cert: Path) -> bytes | None:
    """tls-server-end-point channel-binding data of our certificate (RFC 5929 §4)."""
    try:
        pem = cert.read_text()
        first = pem[pem.index("-----BEGIN CERTIFICATE-----"):]
        first = first[:first.index("-----END CERTIFICATE-----") + 25]
        return server_end_point(ssl.PEM_cert_to_DER_cert(first))
    except (OSError, ValueError):
        log.warning("no channel binding: cannot read %s", cert)
        return None


def _reloader(server: Server, source: Callable[[], Config] | None) -> Callable[[], None]:
    """SIGHUP: read the configuration again from where it came from, check it as ``config
    check`` does, and take it in; a configuration with problems is refused (logged) and the
    server goes on as it was. SIGHUP never stops the server."""
    def on_hup() -> None:
        if source is None:
            log.warning("SIGHUP: this server was not started from a configuration it can read "
                        "again; nothing to reload")
            return
        try:
            new = source()
            check_environment(new)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused, the server goes on unchanged: %s", problem)
            return
        except Exception:
            log.exception("reload failed; the server goes on unchanged")
            return
        server.reload(new)
    return on_hup


def tune_collector() -> None:
    """Python's cyclic garbage collector, tuned for a long-running server.

    What startup built (modules, config, services) lives for the whole process: ``gc.freeze``
    moves it out of every future collection. The young-generation threshold goes from 700 to
    50,000 allocations: a command that builds many objects at once (SORT or THREAD on 100,000
    messages, a FETCH of a large range) otherwise triggers hundreds of collections that each walk
    the growing heap; measured on SORT of 100,000 messages, building the sort items took 1.67 s
    with the defaults and 0.26 s without collections. Reference counting still frees almost
    everything at once; only cycles wait a little longer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


async def housekeeping(services: Services) -> None:
    """The periodic clean-up: blobs no row needs any more, what Sieve no longer needs to
    remember. Runs on one node of a cluster at a time (``gc_loop``)."""
    try:
        removed = await services.store.collect_garbage()
        if removed:
            log.info("blob garbage collected", extra={"removed": removed})
    except Exception:
        log.exception("blob garbage collection failed")
    try:  # what Sieve remembered and no longer needs (services/sieve/memory.py)
        await services.sieve_mail.memory.expire()
    except Exception:
        log.exception("expiring Sieve's memory failed")


async def run_server(cfg: Config, *, on_ready: Callable[[Server, str | None], None],
                     stop: asyncio.Event | None = None,
                     reload_config: Callable[[], Config] | None = None,
                     privileges: Privileges | None = None) -> int:
    """Start everything, call ``on_ready`` (prints the table), run until SIGTERM/SIGINT.

    With ``privileges`` (``server.user`` when started as root), the data directory is made
    or checked for that user and everything from the lock on runs as that user, except
    reading the TLS key and binding (privileges.py)."""
    os.umask(private.UMASK)
    privileges = privileges or Privileges(None)
    if privileges.target is not None:
        try:
            prepare_data_dir(cfg.data_path, privileges.target)
        except PrivilegeError as exc:
            raise StartupError(str(exc)) from None
        privileges.lower()
    lock = DataDirLock(cfg.data_path)
    try:
        lock.acquire()
    except DataDirInUse as exc:
        raise StartupError(str(exc)) from None
    try:
        return await _run(cfg, on_ready, stop, reload_config, privileges)
    finally:
        lock.release()


async def _run(cfg: Config, on_ready: Callable[[Server, str | None], None],
               stop: asyncio.Event | None,
               reload_config: Callable[[], Config] | None,
               privileges: Privileges) -> int:
    loose = private.looser_than_private(cfg.data_path)
    if loose:
        log.warning("data directory %s is readable by other users: %s; fix it with: chmod -R "
                    "go-rwx %s", cfg.data_path.resolve(), ", ".join(loose),
                    cfg.data_path.resolve())
    raise_open_files(cfg.limits.max_connections)
    services = build_services(cfg)
    hostname, domain = await server_names(services)
    password = await bootstrap(services, hostname)
    if domain is None:
        hostname, domain = await server_names(services)  # now that bootstrap made one
    if not qualified(hostname):
        log.warning("the host name %s is not fully qualified: other servers check the name "
                    "in greetings and Received lines; set server.hostname (e.g. "
                    "mail.example.com)", hostname)
    server = Server(cfg, services, hostname, domain, privileges=privileges)
    try:
        await server.start()
    except BaseException:
        await server.stop()
        raise
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reloader(server, reload_config))
    on_ready(server, password)
    tune_collector()

    async def gc_loop() -> None:
        while True:
            await asyncio.sleep(GC_INTERVAL)
            try:  # one node of a cluster at a time (core/locks.py)
                async with singleton(services.locks, "housekeeping") as mine:
                    if mine:
                        await housekeeping(services)
            except Exception:
                log.exception("housekeeping: cannot take its lock")

    gc_task = loop.create_task(gc_loop())
    await stop.wait()
    log.info("shutting down")
    gc_task.cancel()
    await server.stop()
    log.info("stopped")
    return 0

