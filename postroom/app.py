"""Composition root: config → store → directory → access gate → services → listeners.

The only module that names concrete backends (checked by tests/unit/test_import_rules.py).
Everything is built through constructors, so a test can build a whole server on port 0 with a
temporary data directory and no globals.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from postroom.access.gate import AccessGate
from postroom.config import Config, ConfigError
from postroom.config_cluster import node_name
from postroom.core import private
from postroom.core.address import normalize_domain
from postroom.core.locks import LocalLocks, Locks
from postroom.directory.login_cache import LoginCache
from postroom.directory.secretbox import KEY_FILE, SecretBox
from postroom.directory.service import Directory
from postroom.directory.throttle import AuthThrottle
from postroom.mta.atrn import Atrn, Provider
from postroom.mta.multipop import Multipop
from postroom.net.spamd import SpamdClient
from postroom.obs.metrics import Metrics
from postroom.protocols.smtp.odmr import collect
from postroom.services.acl import AclService
from postroom.services.admin import Admin
from postroom.services.admin.imports import ImportJobs
from postroom.services.admin.logins import LoginsAdmin
from postroom.services.admin.signing import SigningAdmin
from postroom.services.apitokens import ApiTokens
from postroom.services.apppasswords import AppPasswords
from postroom.services.atrn import AtrnProviders
from postroom.services.audit import AuditLog
from postroom.services.auth import AuthService
from postroom.services.batv import Batv
from postroom.services.cluster import ClusterView
from postroom.services.dav import Dav, build_dav
from postroom.services.dav.context import DavContext
from postroom.services.delivery import DeliveryService
from postroom.services.dkimkeys import DkimKeys
from postroom.services.eas import Eas, build_eas
from postroom.services.eas.context import EasContext
from postroom.services.frontdoor import MailServices
from postroom.services.gateways import Gateways
from postroom.services.indexer import TextIndexer
from postroom.services.mailboxes import MailboxService
from postroom.services.maildrop import MaildropService
from postroom.services.messages import MessageService
from postroom.services.multipop import MultipopAccounts
from postroom.services.notify import ChangeFeed
from postroom.services.ownaccount import OwnAccount
from postroom.services.pipeline import Pipeline
from postroom.services.pipeline.checks import CheckContext, FilterSettings, build_checks
from postroom.services.pipeline.signing import DkimSigner
from postroom.services.queue import QueueService
from postroom.services.screening import Screening
from postroom.services.senders import SenderRules
from postroom.services.sieve.filter import SieveFilter
from postroom.services.sieve.memory import SieveMemory
from postroom.services.sieve.scripts import SieveScripts
from postroom.services.sieve.sending import SieveMail
from postroom.services.spamlearn import SpamLearner
from postroom.services.spamprefs import SpamPreferences
from postroom.services.submission import SubmissionService
from postroom.services.twofactor import TwoFactor
from postroom.services.websessions import WebSessions
from postroom.store.blobs import FileBlobStore
from postroom.store.engine import Engine
from postroom.store.migrations import migrate
from postroom.store.postgres.blobs import PgBlobStore
from postroom.store.postgres.engine import PostgresEngine
from postroom.store.postgres.feed import FeedRelay, PgBroadcast
from postroom.store.postgres.locks import PgLocks
from postroom.store.s3.blobs import S3BlobStore
from postroom.store.s3.client import S3Client
from postroom.store.spool import BlobStore
from postroom.store.sqlite.engine import SqliteEngine
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.app")

ADMIN_PASSWORD_FILE = "initial-admin-password"


class StartupError(Exception):
    """The server cannot start; the message says why and what to do."""




def open_store(cfg: Config, migrate_to: int | None = None) -> SqlStore:
    """Open (creating and migrating as needed) the store the configuration names."""
    data_dir = cfg.data_path
    private.make_dir(data_dir)
    engine: Engine
    if cfg.store.backend == "postgresql":
        if not cfg.store.dsn:
            raise ConfigError('store.dsn: required when store.backend = "postgresql"')
        engine = PostgresEngine(cfg.store.dsn, pool_size=cfg.store.pool_size)
    else:
        engine = SqliteEngine(data_dir / "postroom.db",
                              group_commit_max=cfg.store.group_commit_max,
                              readers=cfg.store.pool_size)
    migrate(engine, migrate_to)
    return SqlStore(engine, open_blobs(cfg, engine))


def open_blobs(cfg: Config, engine: Engine) -> BlobStore:
    """The blob backend ``[blobs]`` names (docs/cluster.md "Blobs")."""
    b = cfg.blobs
    staging = cfg.data_path / "tmp"
    if b.backend == "postgresql":
        if not isinstance(engine, PostgresEngine):
            raise ConfigError('blobs.backend: "postgresql" needs store.backend = "postgresql"')
        return PgBlobStore(engine, staging, b.chunk_size)
    if b.backend == "s3":
        try:
            secret = Path(b.s3.secret_key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"blobs.s3.secret_key_file: cannot read {b.s3.secret_key_file}: "
                              f"{exc.strerror}") from None
        try:
            client = S3Client(b.s3.endpoint, b.s3.region, b.s3.bucket, b.s3.access_key, secret,
                              b.s3.timeout, b.s3.ca_file)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return S3BlobStore(client, staging, b.s3.prefix)
    return FileBlobStore(Path(b.path) if b.path else cfg.data_path / "blobs")


@dataclass
class Services:
    """Everything the composition root built. Front-ends get only ``front`` (the services,
    never the store); the MTA engines and the CLI get what they need from here."""

    cfg: Config
    store: SqlStore
    feed: ChangeFeed
    directory: Directory
    gate: AccessGate
    audit: AuditLog
    auth: AuthService
    mailboxes: MailboxService
    messages: MessageService
    acl: AclService
    throttle: AuthThrottle
    maildrops: MaildropService
    secrets: SecretBox
    queue: QueueService
    gateways: Gateways
    submission: SubmissionService
    delivery: DeliveryService
    multipop: MultipopAccounts
    atrn: AtrnProviders
    admin: Admin
    front: MailServices
    senders: SenderRules
    indexer: TextIndexer
    screening: Screening
    dkim_keys: DkimKeys
    batv: Batv
    metrics: Metrics
    sessions: WebSessions  # web logins (services/websessions.py)
    two_factor: TwoFactor
    app_passwords: AppPasswords
    own_account: OwnAccount  # a user's own password change (services/ownaccount.py)
    spam_prefs: SpamPreferences | None = None
    learner: SpamLearner | None = None  # reports Junk moves to spamd (services/spamlearn.py)
    tokens: ApiTokens | None = None  # the JSON API's bearer tokens (services/apitokens.py)
    dav: Dav | None = None  # groupware: CalDAV/CardDAV/WebDAV, import/export (services/dav/)
    eas: Eas | None = None  # Exchange ActiveSync (services/eas/)
    relay: FeedRelay | None = None  # cluster mode: other nodes' changes (store/postgres/feed.py)
    # one job at a time across the cluster, slots per destination (core/locks.py)
    locks: Locks = field(default_factory=LocalLocks)
    cluster: ClusterView = field(init=False)  # nodes and their leases (services/cluster.py)
    # stored Sieve scripts (services/sieve/scripts.py): ManageSieve, the CLI, the API, webmail
    sieve_scripts: SieveScripts = field(init=False)
    # what Sieve sends and remembers: SRS, vacation replies (services/sieve/sending.py)
    sieve_mail: SieveMail = field(init=False)

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.close()
        await self.locks.close()
        if self.learner is not None:
            await self.learner.close()
        await self.screening.close()
        await self.admin.imports.close()  # running web imports stop (each batch is atomic)
        self.messages.close()
        self.delivery.close()
        if self.eas is not None:
            self.eas.stop_workers()
        self.directory.close()
        await self.store.close()


def cluster_feed(cfg: Config, store: SqlStore, feed: ChangeFeed) -> FeedRelay | None:
    """Cluster mode: this process's commits go out by NOTIFY, and a relay (started by the
    server, not by CLI commands) brings the other nodes' into ``feed`` (docs/cluster.md).
    The sender is the node's name and the process id, so that a CLI command run on a node
    is heard by that node's server like any other writer."""
    engine = store.engine
    if not cfg.cluster.enabled or not isinstance(engine, PostgresEngine):
        return None
    sender = f"{node_name(cfg.cluster)}/{os.getpid()}"
    engine.notify_as(sender)
    return FeedRelay(cfg.store.dsn, sender, feed.publish, feed.resync_all,
                     heartbeat=cfg.cluster.heartbeat_seconds, timeout=cfg.cluster.feed_timeout,
                     events=PgBroadcast(engine, sender))


def cluster_locks(cfg: Config) -> Locks:
    """PostgreSQL advisory locks in cluster mode, in-process ones otherwise."""
    if cfg.cluster.enabled and cfg.store.backend == "postgresql":
        return PgLocks(cfg.store.dsn, node_name(cfg.cluster), cfg.cluster.feed_timeout)
    return LocalLocks(node_name(cfg.cluster))


def build_services(cfg: Config, store: SqlStore | None = None) -> Services:
    store = store or open_store(cfg)
    feed = ChangeFeed()
    store.add_commit_listener(feed.publish)
    relay = cluster_feed(cfg, store, feed)
    secrets = SecretBox(cfg.data_path / KEY_FILE)
    directory = Directory(store, hash_workers=cfg.login.hash_workers, secrets=secrets,
                          login_domain=cfg.server.login_domain,
                          login_cache=LoginCache(cfg.login),
                          app_passwords_with_2fa=cfg.login.app_passwords_with_2fa)
    gate = AccessGate(store.mailboxes)
    audit = AuditLog(store)
    throttle = AuthThrottle(cfg.limits.auth_failures_per_ip, cfg.limits.auth_failure_window)
    screening = Screening(store.screening, cfg.screening)
    metrics = Metrics()
    metrics.store_latency_from(store.engine.latency.read, store.engine.latency.write)
    auth = AuthService(directory, throttle, screening, metrics)
    mailboxes = MailboxService(store, gate)
    messages = MessageService(store, gate, mailboxes, workers=cfg.store.io_workers,
                              max_message_size=cfg.limits.max_message_size)
    acl = AclService(store, gate, mailboxes, audit)
    maildrops = MaildropService(store, mailboxes, messages)
    locks = cluster_locks(cfg)
    if relay is not None and relay.events is not None:  # cluster mode (docs/cluster.md)
        throttle.share(relay.events)  # failed logins counted across nodes
        screening.share(relay.events)  # offences and blocks too
        maildrops.locks = locks  # one POP3 session per maildrop on the whole cluster
    queue = QueueService(store)
    if cfg.cluster.enabled:  # claims are leases other nodes take over (store/repo/queue.py)
        store.queue.use_leases(node_name(cfg.cluster), cfg.cluster.lease_seconds)
    gateways = Gateways(store, directory, queue, cfg, secrets)
    senders = SenderRules(store, directory)
    spam_prefs = SpamPreferences(store, directory)
    dkim_keys = DkimKeys(store, secrets, cfg.dkim)
    batv = Batv(store, secrets, directory, cfg.batv)
    # The checks, then the transforms; DKIM signing stays the last transform, so that it
    # signs what the others left. The server rebuilds the checks with its own host name.
    pipeline = Pipeline(build_checks(cfg.pipeline.checks, check_context(
        cfg, store, senders, spam_prefs,
        cfg.server.hostname or default_hostname(cfg.server.domain or None))),
        [DkimSigner(dkim_keys)])
    learner = spam_learner(cfg, store)
    if learner is not None:
        messages.copy_listeners.append(learner.copied)
    submission = SubmissionService(store, directory, messages, gateways, queue, pipeline,
                                   cfg.limits.max_message_size, cfg.limits.max_header_size)
    submission.screening = screening
    submission.batv = batv
    # SRS for redirects and at RCPT, vacation replies, the memory (services/sieve/sending.py)
    sieve_mail = SieveMail(store, cfg.sieve, cfg.data_path, directory, queue, submission)
    delivery = DeliveryService(store, directory, gate, queue, workers=cfg.store.io_workers)
    multipop = MultipopAccounts(store, directory, queue, secrets)
    atrn = AtrnProviders(store, secrets)
    sessions = WebSessions(store.logins, directory, cfg.web)
    two_factor = TwoFactor(store.logins, secrets, audit, cfg.web, "Postroom " + (
        cfg.server.hostname or default_hostname(cfg.server.domain or None)))
    app_passwords = AppPasswords(store.logins, audit, cfg.login.max_app_passwords)
    admin = Admin(store, directory, mailboxes, acl, queue, gateways, multipop, atrn, audit,
                  screening, SigningAdmin(store, directory, audit, dkim_keys, batv, cfg),
                  LoginsAdmin(store, directory, audit, sessions, two_factor), cfg=cfg)
    admin.imports = ImportJobs(admin.users, batch=cfg.web.import_batch,
                               max_running=cfg.web.import_max_running,
                               keep_seconds=cfg.web.import_keep_seconds)
    front = MailServices(auth, mailboxes, messages, acl, feed, maildrops, submission, gateways,
                         screening, metrics)
    hostname = cfg.server.hostname or default_hostname(cfg.server.domain or None)
    dav = build_dav(DavContext(store, gate, directory, mailboxes, messages, acl, submission,
                               feed, cfg.web.dav, hostname, cfg.limits.max_message_size))
    delivery.delivered.append(dav.scheduling.delivered)  # incoming iMIP (RFC 6047)
    eas = build_eas(EasContext(store, gate, directory, mailboxes, messages, acl, submission,
                               feed, dav, audit, cfg.web.eas, hostname,
                               cfg.limits.max_message_size, shared=cfg.cluster.enabled))
    if relay is not None and relay.events is not None:
        eas.push.share(relay.events)  # one Ping wait per device on the whole cluster
    sieve_scripts = SieveScripts(store, cfg.sieve, audit, mailboxes)
    # users' and administrators' scripts run at delivery (services/sieve/filter.py)
    delivery.sieve = SieveFilter(store, cfg.sieve, sieve_scripts, mailboxes, directory,
                                 hostname)
    delivery.sieve.memory = SieveMemory(store, cfg.sieve)  # the duplicate test (RFC 7352)
    services = Services(cfg, store, feed, directory, gate, audit, auth, mailboxes, messages, acl,
                        throttle, maildrops, secrets, queue, gateways, submission, delivery,
                        multipop, atrn, admin, front, senders,
                        TextIndexer(store, cfg.store.index_delay, cfg.store.index_batch,
                                    cfg.store.index_backlog, cfg.store.index_batch_bytes),
                        screening,
                        dkim_keys=dkim_keys, batv=batv, metrics=metrics, sessions=sessions,
                        two_factor=two_factor, app_passwords=app_passwords,
                        own_account=OwnAccount(directory, sessions, audit), spam_prefs=spam_prefs,
                        learner=learner,
                        tokens=ApiTokens(store, directory, audit, cfg.web.api_token_cache),
                        dav=dav, eas=eas, relay=relay, locks=locks)
    services.sieve_scripts = sieve_scripts
    services.cluster = ClusterView(store, cfg.cluster, cfg.cluster.enabled, audit)
    admin.cluster = services.cluster  # GET /api/v1/cluster
    services.sieve_mail = sieve_mail
    return services


def check_context(cfg: Config, store: SqlStore, senders: SenderRules,
                  spam_prefs: SpamPreferences | None, hostname: str) -> CheckContext:
    """What the pipeline's checks are built from; also used when a reload rebuilds them.
    ``hostname`` is the name the server uses everywhere (mailauth's authserv-id)."""
    return CheckContext(cfg.limits.max_message_size, senders, cfg.limits.max_header_size,
                        config=cfg, hostname=hostname, greylist=store.greylist,
                        filters=FilterSettings(cfg.pipeline.spamd, cfg.pipeline.clamav,
                                               spam_prefs))


def spam_learner(cfg: Config, store: SqlStore) -> SpamLearner | None:
    """The Junk-folder learner, when spamd is a check and learning is on."""
    spamd = cfg.pipeline.spamd
    if "spamd" not in cfg.pipeline.checks or not spamd.learn:
        return None
    client = SpamdClient(spamd.address, spamd.timeout, spamd.connect_timeout, spamd.user)
    return SpamLearner(store, client, spamd.max_size, spamd.learn_concurrency,
                       spamd.learn_backlog)


def build_atrn(services: Services, hostname: str) -> Atrn:
    """One ATRN collection with its network runner: the protocol front-end that becomes an SMTP
    server after the turnaround. Shared by the server's scheduler and ``postroom atrn
    run-now``."""
    cfg = services.cfg

    async def runner(provider: Provider) -> int:
        return await collect(services.front, provider, hostname, cfg.limits.max_message_size,
                             cfg.odmr.timeout)
    return Atrn(services.atrn, cfg.odmr, runner)


def build_multipop(services: Services, hostname: str) -> Multipop:
    """One MultiPOP collection run; shared by the server's collector and ``postroom multipop
    run-now``."""
    cfg = services.cfg
    return Multipop(services.multipop, services.queue, cfg.multipop,
                    cfg.limits.max_message_size, hostname)


def qualified(name: str) -> bool:
    """A fully qualified host name: dotted, and not one of the names that mean "this box"."""
    name = name.lower().rstrip(".")
    return "." in name and not name.startswith("localhost") and \
        not name.endswith((".localdomain", ".local", ".internal", ".lan"))


def default_hostname(domain: str | None = None) -> str:
    """The name the server calls itself when ``server.hostname`` is empty: this machine's
    fully qualified name, or ``mail.<primary domain>`` when the machine has none (a container
    or a laptop says "localhost" or a bare name, and that must never reach a greeting, a
    Received line or a certificate)."""
    name = (socket.getfqdn() or socket.gethostname() or "").lower().rstrip(".")
    if qualified(name):
        return name
    if domain:
        return f"mail.{domain}"
    return name or "localhost"


async def server_names(services: Services) -> tuple[str, str | None]:
    """(host name, primary domain) of this server: the configured ones, else derived."""
    domains = await services.store.directory.list_domains()
    domain = services.cfg.server.domain or (domains[0].name if domains else None)
    if domain is not None:
        domain = normalize_domain(domain)
    return services.cfg.server.hostname or default_hostname(domain), domain


def primary_domain(cfg: Config, hostname: str) -> str:
    """The domain a first run creates: ``server.domain``, else the host name when it is
    qualified, else ``<name>.localdomain`` with a warning."""
    if cfg.server.domain:
        return normalize_domain(cfg.server.domain)
    if qualified(hostname):
        return normalize_domain(hostname)
    candidate = f"{hostname.partition('.')[0] or 'mail'}.localdomain"
    log.warning("host name %s has no domain part; the primary domain is %s (set --domain)",
                hostname, candidate)
    return normalize_domain(candidate)


async def bootstrap(services: Services, hostname: str) -> str | None:
    """First run only (no domain yet): create the domain and a global admin ``postmaster``.

    Returns the generated password (shown once) or None when the store was already set up."""
    if await services.store.directory.list_domains():
        return None
    domain = primary_domain(services.cfg, hostname)
    await services.directory.add_domain(domain)
    password = secrets.token_urlsafe(18)
    account = await services.directory.add_account(f"postmaster@{domain}", password,
                                                   display_name="Postmaster")
    await services.mailboxes.ensure_defaults(account.id, account.domain_id)
    await services.store.directory.set_admin(account.address, None, True)
    path = services.cfg.data_path / ADMIN_PASSWORD_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"postmaster@{domain} {password}\n")
    return password
