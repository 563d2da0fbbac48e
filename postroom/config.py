"""Typed configuration loaded from TOML; the defaults are the embedded, zero-config mode.

Every key is a msgspec field with a description, so one definition gives validation
(``postroom config check``), the commented example (``postroom config example``) and the
``--set KEY=VALUE`` overrides. Unknown keys are errors: a misspelt key silently ignored is how
an administrator ends up with an open relay.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from postroom import config_rules
from postroom.config_acme import AcmeConfig
from postroom.config_base import Port, ServiceConfig, Tls
from postroom.config_cluster import BlobsConfig, ClusterConfig
from postroom.config_filters import ClamavConfig, SpamdConfig
from postroom.config_sieve import SieveConfig
from postroom.config_web import WebConfig


def _d(text: str) -> Meta:
    return Meta(description=text)


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    data_dir: Annotated[str, _d("Where the database, blobs, TLS certificate and queue live. "
                                "Also settable with --data-dir or POSTROOM_HOME.")] = "./var"
    hostname: Annotated[str, _d("Name used in greetings and Received headers; "
                                "empty = this machine's host name.")] = ""
    domain: Annotated[str, _d("Primary mail domain created on first run; empty = the host "
                              "name. Also settable with --domain.")] = ""
    listen: Annotated[list[str], _d("Addresses every listener binds to. The default is "
                                    "loopback only, so a first run exposes nothing; use "
                                    "[\"0.0.0.0\", \"::\"] in production.")] = msgspec.field(
        default_factory=lambda: ["127.0.0.1"])
    port_offset: Annotated[int, _d("Added to every port, for unprivileged or side-by-side "
                                   "runs (e.g. 10000 makes IMAP 10143)."),
                           Meta(ge=0, le=60000)] = 0
    plaintext_auth_networks: Annotated[list[str], _d(
        "Networks (CIDR) from which passwords may be sent without TLS. Default: none.")] = (
        msgspec.field(default_factory=list))
    proxy_protocol_networks: Annotated[list[str], _d(
        "Networks (CIDR) of load balancers that must send a PROXY v1/v2 header; "
        "connections from them are attributed to the address in that header.")] = (
        msgspec.field(default_factory=list))
    shutdown_grace: Annotated[float, _d("Seconds in-flight commands get to finish on SIGTERM."),
                              Meta(ge=0, le=300)] = 3.0
    login_domain: Annotated[str, _d(
        "Domain added to a login name without '@' on every protocol: with 'example.com', "
        "'alice' logs in as alice@example.com. Empty = logins give the full address.")] = ""
    user: Annotated[str, _d(
        "When started as root: the user to run as once the listeners are bound (ports below "
        "1024 need root; nothing else does), e.g. \"postroom\". The data directory must "
        "belong to that user. Empty = keep running as the user that started the server.")] = ""


class LoginConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Password checks on every protocol (directory/login_cache.py, directory/passwords.py)."""

    cache_ttl: Annotated[float, _d(
        "Seconds a successful password check is remembered (as a keyed HMAC, in memory only), "
        "so a client logging in again with the same password skips argon2id. A wrong password "
        "always pays the full check; changing the password voids the memory. 0 = off."),
                         Meta(ge=0, le=86400)] = 600.0
    cache_size: Annotated[int, _d("Accounts remembered at most (oldest dropped first)."),
                          Meta(ge=0, le=10_000_000)] = 100_000
    hash_workers: Annotated[int, _d(
        "Threads that run argon2id. 0 = one less than the CPU cores (at least one), so a "
        "login flood never takes the core the protocol sessions run on."),
                            Meta(ge=0, le=256)] = 0
    app_passwords_with_2fa: Annotated[bool, _d(
        "With two-factor authentication on, an account's own password no longer works for "
        "the mail protocols (IMAP, POP3, SMTP AUTH, ODMR; every SASL mechanism, and APOP), "
        "only its app passwords do. false = the account password works there too.")] = True
    max_app_passwords: Annotated[int, _d("App passwords one account may have."),
                                 Meta(ge=0, le=1000)] = 20


class StoreConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    backend: Annotated[Literal["sqlite", "postgresql"], _d(
        "Metadata store: the embedded SQLite database, or PostgreSQL.")] = "sqlite"
    dsn: Annotated[str, _d("PostgreSQL connection string, e.g. "
                           "'postgresql://postroom@127.0.0.1/postroom'.")] = ""
    group_commit_max: Annotated[int, _d("Most transactions the SQLite writer commits with one "
                                        "fsync."), Meta(ge=1, le=10000)] = 256
    pool_size: Annotated[int, _d("Database connections for readers (SQLite) or for all work "
                                 "(PostgreSQL)."), Meta(ge=1, le=256)] = 8
    io_workers: Annotated[int, _d("Threads that scan and fsync message files. Mostly waiting "
                                  "on the disk, so many more than cores help concurrent "
                                  "deliveries share group commits."), Meta(ge=1, le=512)] = 32
    index_delay: Annotated[float, _d(
        "Seconds between runs of the full-text indexer (SQLite). Delivery leaves the search "
        "index to it; SEARCH reads what it has not indexed yet directly, so new mail is "
        "found at once either way."), Meta(gt=0, le=3600)] = 1.0
    index_batch: Annotated[int, _d("Messages the full-text indexer adds in one transaction."),
                           Meta(ge=1, le=100000)] = 250
    index_batch_bytes: Annotated[int, _d(
        "Octets of text the full-text indexer takes in one transaction at most (at least one "
        "message): deliveries wait for the store's one writer, so this bounds their wait."),
                                 Meta(ge=4096, le=1 << 30)] = 1 << 20
    index_backlog: Annotated[int, _d(
        "While mail keeps arriving the indexer waits, up to this many unindexed messages; "
        "beyond it, it indexes as they come. SEARCH reads unindexed messages directly, so "
        "this bounds that extra work."), Meta(ge=0, le=1000000)] = 2000


class TlsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    cert: Annotated[str, _d("PEM certificate chain; empty = a self-signed certificate "
                            "generated once into <data_dir>/tls/.")] = ""
    key: Annotated[str, _d("PEM private key matching 'cert'.")] = ""
    min_version: Annotated[Literal["1.2", "1.3"], _d("Lowest TLS version accepted.")] = "1.2"
    handshake_timeout: Annotated[float, _d("Seconds a TLS handshake may take."),
                                 Meta(gt=0, le=300)] = 30.0


class LimitsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    connections_per_ip: Annotated[int, _d("Concurrent connections one client address may hold "
                                          "on one listener."), Meta(ge=1)] = 50
    max_connections: Annotated[int, _d("Concurrent connections per listener."),
                               Meta(ge=1)] = 20000
    idle_timeout: Annotated[float, _d("Seconds a connection may stay silent (IMAP IDLE uses "
                                      "its own 30-minute minimum per RFC 9051 §5.4)."),
                            Meta(gt=0)] = 300.0
    max_line_length: Annotated[int, _d("Longest command line accepted, in octets."),
                               Meta(ge=512, le=1048576)] = 65536
    max_message_size: Annotated[int, _d("Largest message accepted, in octets."),
                                Meta(ge=1024)] = 50 * 1024 * 1024
    max_header_size: Annotated[int, _d(
        "Largest header section of an incoming message, in octets (Postfix's "
        "header_size_limit); a longer one is refused with 552, so that every header field "
        "can be checked."), Meta(ge=1024, le=16 * 1024 * 1024)] = 256 * 1024
    auth_failures_per_ip: Annotated[int, _d("Failed logins one address may make per "
                                            "'auth_failure_window' before being delayed."),
                                    Meta(ge=1)] = 10
    auth_failure_window: Annotated[float, _d("Window for counting failed logins, seconds."),
                                   Meta(gt=0)] = 300.0


class MxListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    port: Port = 25


class SubmissionListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    port: Port = 587


class SubmissionsListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    port: Port = 465
    tls: Tls = "implicit"


class ImapListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    port: Port = 143


class ImapsListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    port: Port = 993
    tls: Tls = "implicit"


class Pop3Listener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    port: Port = 110


class Pop3sListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    port: Port = 995
    tls: Tls = "implicit"


class OutboundConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Remote delivery: DNS routing or a smart host, retries, DSNs (specs.md §4.3, §4.4)."""

    smart_host: Annotated[str, _d(
        "Send all remote mail through this host ('host' or 'host:port') instead of looking "
        "up MX records; empty = deliver directly by DNS.")] = ""
    smart_host_tls: Annotated[Literal["starttls", "implicit", "none"], _d(
        "TLS towards the smart host: 'starttls' (required), 'implicit' (port 465 style) or "
        "'none'.")] = "starttls"
    smart_host_user: Annotated[str, _d("Login at the smart host; empty = no AUTH.")] = ""
    smart_host_password: Annotated[str, _d("Password for smart_host_user.")] = ""
    port: Annotated[int, _d("TCP port of remote MX hosts. Always 25 on the Internet; other "
                            "values are for test set-ups."), Meta(ge=1, le=65535)] = 25
    dns_servers: Annotated[list[str], _d(
        "Resolvers to ask ('ip' or 'ip:port'); empty = the system's /etc/resolv.conf.")] = \
        msgspec.field(default_factory=list)
    retry_schedule: Annotated[list[int], _d(
        "Seconds to wait after the 1st, 2nd, ... failed attempt; the last value repeats.")] = \
        msgspec.field(default_factory=lambda: [300, 900, 1800, 3600, 7200, 14400])
    max_queue_time: Annotated[int, _d("Give up and bounce after this many seconds (5 days)."),
                              Meta(ge=60)] = 5 * 86400
    delay_warning: Annotated[int, _d("Send one delay notice after this many seconds; 0 = "
                                     "never."), Meta(ge=0)] = 4 * 3600
    max_connections: Annotated[int, _d("Outbound SMTP connections open at once."),
                               Meta(ge=1)] = 20
    per_destination: Annotated[int, _d("Outbound connections to one destination domain at "
                                       "once."), Meta(ge=1)] = 4
    messages_per_connection: Annotated[int, _d("Messages sent over one connection before it "
                                               "is closed."), Meta(ge=1)] = 100
    connect_timeout: Annotated[float, _d("Seconds to wait for a TCP connection."),
                               Meta(gt=0)] = 30.0
    command_timeout: Annotated[float, _d("Seconds to wait for a reply (RFC 5321 §4.5.3.2 "
                                         "asks for 5 minutes)."), Meta(gt=0)] = 300.0
    require_tls: Annotated[bool, _d("Refuse to send to hosts that do not offer STARTTLS "
                                    "(default: opportunistic, RFC 7435).")] = False


class SmtpConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    mx: MxListener = msgspec.field(default_factory=MxListener)
    submission: SubmissionListener = msgspec.field(default_factory=SubmissionListener)
    submissions: SubmissionsListener = msgspec.field(default_factory=SubmissionsListener)
    trusted_networks: Annotated[list[str], _d(
        "Networks allowed to relay without authentication. Default: none, not even "
        "loopback.")] = msgspec.field(default_factory=list)
    outbound: OutboundConfig = msgspec.field(default_factory=OutboundConfig)
    deliver_at_acceptance: Annotated[bool, _d(
        "Deliver mail whose recipients are all local in the same transaction that accepts "
        "it (one commit before the 250 instead of three through the queue). Mail that "
        "cannot be delivered at once (a full or frozen mailbox, an unknown recipient, "
        "NOTIFY=SUCCESS) goes through the queue as before; false = always queue.")] = True


class ImapConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    imap: ImapListener = msgspec.field(default_factory=ImapListener)
    imaps: ImapsListener = msgspec.field(default_factory=ImapsListener)
    idle_keepalive: Annotated[float, _d("Seconds between '* OK Still here' lines to a client "
                                        "in IDLE (RFC 2177), so that NAT boxes and firewalls "
                                        "keep the connection open."),
                              Meta(ge=1, le=1740)] = 120.0


class Pop3Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pop3: Pop3Listener = msgspec.field(default_factory=Pop3Listener)
    pop3s: Pop3sListener = msgspec.field(default_factory=Pop3sListener)
    autologout: Annotated[float, _d("Seconds a POP3 session may stay silent before it is "
                                    "closed without deleting anything (RFC 1939 §3 asks for "
                                    "at least 10 minutes)."), Meta(ge=600)] = 600.0
    apop: Annotated[bool, _d("Offer APOP (an MD5 challenge in the greeting). It works only "
                             "for accounts given an APOP secret with 'postroom user "
                             "apop-secret'.")] = False


class MultipopConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Collecting users' mail from remote POP3 mailboxes ('postroom multipop')."""

    enabled: Annotated[bool, _d("Run the collector inside the server.")] = True
    check_every: Annotated[float, _d("Seconds between looks for remote accounts that are "
                                     "due."), Meta(ge=1, le=3600)] = 5.0
    max_concurrent: Annotated[int, _d("Remote accounts collected at the same time."),
                              Meta(ge=1, le=256)] = 4
    timeout: Annotated[float, _d("Seconds one network step (connect, one reply, one "
                                 "message) may take."), Meta(gt=0, le=3600)] = 60.0
    max_per_run: Annotated[int, _d("Messages fetched from one remote account per run; the "
                                   "rest follow in the next run."), Meta(ge=1)] = 1000
    max_backoff: Annotated[int, _d("Longest wait, in seconds, between retries after "
                                   "failures."), Meta(ge=60)] = 6 * 3600


class OdmrConfig(ServiceConfig, forbid_unknown_fields=True, kw_only=True):
    """ODMR (RFC 2645): the provider side on port 366 (its listener keys are the ones every
    service has: enabled, port, listen, tls, …) and the customer side ('postroom atrn'),
    which collects our domains' mail from a provider on a schedule."""

    port: Annotated[int, _d("TCP port (before port_offset)."), Meta(ge=0, le=65535)] = 366
    auth_without_tls: Annotated[bool, _d(
        "Allow the challenge-response logins CRAM-MD5 and SCRAM-SHA-256 on the ODMR port "
        "before STARTTLS. They never send the password, but the session is not encrypted. "
        "fetchmail's ODMR mode needs this: it speaks CRAM-MD5 (RFC 2645) and no STARTTLS. "
        "CRAM-MD5 works for accounts given a secret with 'postroom user "
        "challenge-secret'.")] = False
    collect: Annotated[bool, _d("Run the scheduled ATRN collections ('postroom atrn') "
                                "inside the server.")] = True
    check_every: Annotated[float, _d("Seconds between looks for ATRN providers that are "
                                     "due."), Meta(ge=1, le=3600)] = 10.0
    timeout: Annotated[float, _d("Seconds one ODMR network step may take (a reply, a "
                                 "message)."), Meta(gt=0, le=3600)] = 120.0
    max_backoff: Annotated[int, _d("Longest wait, in seconds, between ATRN retries after "
                                   "failures."), Meta(ge=60)] = 6 * 3600


class MingerConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Minger address verification (draft-hathcock-minger-06): the UDP server, and the
    client settings domain gateways use to verify recipients."""

    enabled: Annotated[bool, _d("Answer Minger address-verification queries (UDP). Off by "
                                "default: answers reveal which addresses exist.")] = False
    port: Annotated[int, _d("UDP port (before port_offset)."), Meta(ge=0, le=65535)] = 4069
    listen: Annotated[list[str], _d("Addresses to bind; empty = server.listen.")] = \
        msgspec.field(default_factory=list)
    secret: Annotated[str, _d("Shared secret (1-50 visible characters; 16 or more "
                              "recommended) that queries prove with their digest; empty = "
                              "none."), Meta(pattern=r"^[!-~]{0,50}$")] = ""
    allow_anonymous: Annotated[bool, _d("Answer queries that carry no secret.")] = False
    allowed_networks: Annotated[list[str], _d("Source networks allowed to query; others are "
                                              "answered 1 (access denied). Empty = loopback "
                                              "only.")] = msgspec.field(default_factory=list)
    rate_limit: Annotated[int, _d("Queries per minute answered per source address; more "
                                  "get no answer at all."), Meta(ge=1)] = 120
    query_timeout: Annotated[float, _d("Client: seconds to wait for an answer before asking "
                                       "again (2 tries)."), Meta(gt=0, le=60)] = 3.0
    cache_positive: Annotated[int, _d("Client: seconds a 'exists' answer is remembered."),
                              Meta(ge=0)] = 3600
    cache_negative: Annotated[int, _d("Client: seconds a 'does not exist' or 'cannot "
                                      "receive' answer is remembered."), Meta(ge=0)] = 600


class GreylistConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Greylisting (the 'greylist' check, RFC 6647): the first message of a (client network,
    envelope sender, recipient) triplet is deferred with 451 4.7.1; a retry after 'delay' is
    accepted. State lives in the store, so it survives restarts."""

    delay: Annotated[float, _d("Seconds a new triplet must wait before a retry is accepted."),
                     Meta(ge=0, le=86400)] = 300.0
    unconfirmed_lifetime: Annotated[float, _d(
        "Seconds a triplet that was never retried is remembered; a retry later than this "
        "starts over."), Meta(gt=0)] = 2 * 86400.0
    confirmed_lifetime: Annotated[float, _d(
        "Seconds a triplet that passed (and a sender allowed by auto_allow_after) stays "
        "allowed after it was last used."), Meta(gt=0)] = 36 * 86400.0
    ipv4_prefix: Annotated[int, _d("IPv4 client addresses count by this network (24 = a "
                                   "/24, so a sender's pool of outbound hosts counts as "
                                   "one)."), Meta(ge=8, le=32)] = 24
    ipv6_prefix: Annotated[int, _d("IPv6 client addresses count by this network."),
                           Meta(ge=16, le=128)] = 64
    auto_allow_after: Annotated[int, _d(
        "After this many triplets of one (client network, sender domain) have passed, its "
        "mail is no longer greylisted; 0 = never."), Meta(ge=0)] = 5
    exempt_networks: Annotated[list[str], _d(
        "Client networks never greylisted (authenticated clients and "
        "smtp.trusted_networks never are).")] = msgspec.field(default_factory=list)
    spf_allow_domains: Annotated[list[str], _d(
        "Sender domains (and their subdomains) not greylisted when SPF passes for them; "
        "needs an SPF check before 'greylist' in pipeline.checks.")] = \
        msgspec.field(default_factory=list)


class DnsblZone(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    zone: Annotated[str, _d("The list's DNS zone, e.g. 'zen.spamhaus.org'.")]
    weight: Annotated[float, _d("Added to the score when the client is listed; negative for "
                                "an allow list (DNSWL).")] = 1.0
    codes: Annotated[list[str], _d(
        "Answers (127.0.0.x) that count as listed; empty = any 127.0.0.0/8 answer except "
        "127.255.255.x, which lists use for errors.")] = msgspec.field(default_factory=list)
    allow: Annotated[bool, _d(
        "An allow list (DNSWL): a client it lists is let through whatever the score, and is "
        "not greylisted.")] = False


class DnsblConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """DNS block and allow lists (the 'dnsbl' check, RFC 5782), asked in parallel at MAIL FROM
    through the resolvers of smtp.outbound.dns_servers."""

    zones: Annotated[list[DnsblZone], _d(
        "The lists, e.g. [{zone = \"zen.spamhaus.org\", weight = 10}, {zone = "
        "\"list.dnswl.org\", weight = -5}], asked through the resolvers of "
        "smtp.outbound.dns_servers.")] = msgspec.field(default_factory=list)
    threshold: Annotated[float, _d("Refuse with 554 5.7.1 when the listed zones' weights "
                                   "add up to this or more."), Meta(gt=0)] = 10.0
    timeout: Annotated[float, _d("Seconds to wait for the lists; a list that has not "
                                 "answered by then is skipped (never refused for)."),
                       Meta(gt=0, le=60)] = 3.0
    cache_ttl: Annotated[float, _d("Seconds a client's result is remembered."),
                         Meta(ge=0, le=86400)] = 300.0
    exempt_networks: Annotated[list[str], _d(
        "Client networks never looked up (authenticated clients and smtp.trusted_networks "
        "never are).")] = msgspec.field(default_factory=list)


class ScreeningConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Dynamic screening: a client address that keeps failing to log in or abusing a protocol
    (SMTP, IMAP, POP3, ODMR) is refused at connect for a while ('postroom screening')."""

    enabled: Annotated[bool, _d("Count offences and block. Blocks made by hand ('postroom "
                                "screening block') are enforced either way.")] = True
    auth_failures: Annotated[int, _d("Failed logins from one address within 'window' that "
                                     "block it; 0 = not counted."), Meta(ge=0)] = 20
    bad_sessions: Annotated[int, _d("Sessions closed for too many bad commands within "
                                    "'window' that block the address; 0 = not counted."),
                            Meta(ge=0)] = 5
    unknown_recipients: Annotated[int, _d(
        "Recipients refused as unknown (550 5.1.1) within 'window' that block the address "
        "(address harvesting); 0 = not counted."), Meta(ge=0)] = 50
    window: Annotated[float, _d("Seconds over which offences are counted."),
                      Meta(gt=0)] = 600.0
    block_for: Annotated[float, _d("Seconds an automatic block lasts."), Meta(gt=0)] = 3600.0
    ipv6_prefix: Annotated[int, _d("IPv6 addresses are counted and blocked by this network "
                                   "(a host usually owns a whole /64)."),
                           Meta(ge=16, le=128)] = 64
    exempt_networks: Annotated[list[str], _d(
        "Networks never counted nor blocked automatically.")] = msgspec.field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    refresh: Annotated[float, _d("Seconds between looks at the store for blocks made or "
                                 "lifted elsewhere (the CLI, another node)."),
                       Meta(gt=0, le=3600)] = 2.0


DkimAlgorithm = Literal["ed25519", "rsa"]


class DkimConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """DKIM signing of mail from authenticated and trusted senders (docs/signing.md)."""

    sign: Annotated[bool, _d(
        "Sign mail from authenticated submitters and smtp.trusted_networks whose From: "
        "domain has keys ('postroom dkim generate DOMAIN').")] = True
    algorithms: Annotated[list[DkimAlgorithm], _d(
        "Key types made by 'postroom dkim generate/rotate' and used to sign; each gives one "
        "DKIM-Signature field. Ed25519 (RFC 8463) is small and fast, RSA (RFC 6376) is what "
        "every verifier knows.")] = msgspec.field(default_factory=lambda: ["ed25519", "rsa"])
    rsa_bits: Annotated[int, _d("Size of new RSA keys (RFC 8301: at least 1024; 2048 is "
                                "what most DNS hosting takes in one TXT record)."),
                        Meta(ge=1024, le=4096)] = 2048
    selector_prefix: Annotated[str, _d(
        "New selectors are <prefix><yyyymm>e (Ed25519) or <prefix><yyyymm>r (RSA)."),
        Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")] = "pr"
    headers: Annotated[list[str], _d(
        "Header fields signed when present (RFC 6376 §5.4.1); From is always signed.")] = \
        msgspec.field(default_factory=lambda: [
            "From", "Sender", "Reply-To", "Subject", "Date", "Message-ID", "To", "Cc",
            "In-Reply-To", "References", "MIME-Version", "Content-Type",
            "Content-Transfer-Encoding", "Content-ID", "Content-Description", "Resent-Date",
            "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc", "Resent-Message-ID",
            "List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post",
            "List-Subscribe", "List-Post", "List-Owner", "List-Archive"])
    oversign: Annotated[list[str], _d(
        "Fields signed once more than they occur (also when absent), so that adding one "
        "more later breaks the signature (RFC 6376 §8.15).")] = msgspec.field(
        default_factory=lambda: ["From", "Sender", "Reply-To", "Subject", "Date", "To",
                                 "Cc"])
    expire_after: Annotated[int, _d("Seconds a signature is valid (the x= tag); 0 = no "
                                    "expiry."), Meta(ge=0)] = 0
    rotation_delay: Annotated[int, _d(
        "'postroom dkim rotate': seconds between publishing the new keys and signing with "
        "them, for the DNS records to be published and cached (3 days; 'postroom dkim "
        "activate' switches at once)."), Meta(ge=0)] = 3 * 86400
    retire_after: Annotated[int, _d(
        "Seconds a replaced key stays published after its successor starts signing, so mail "
        "signed with it and still queued somewhere verifies (7 days; longer than "
        "smtp.outbound.max_queue_time)."), Meta(ge=0)] = 7 * 86400


class BatvConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Bounce address tag validation (draft-levine-smtp-batv, the prvs= scheme;
    docs/signing.md)."""

    enabled: Annotated[bool, _d(
        "Sign the envelope sender of remote mail from our domains (prvs=KDDDSSSSSS=user@"
        "domain) and refuse bounces (MAIL FROM:<>) to our addresses that carry no valid "
        "tag. Off by default: it changes the return path others see, and refuses null-sender "
        "mail sent to a plain address, such as read receipts (RFC 8098).")] = False
    valid_days: Annotated[int, _d(
        "Days a tag stays valid: longer than the time a bounce can take to come back "
        "(other servers retry for up to 5 days)."), Meta(ge=1, le=30)] = 7


class DnsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What 'postroom dns DOMAIN' advises to publish."""

    spf: Annotated[str, _d("The SPF record (RFC 7208) of each domain.")] = "v=spf1 mx -all"
    dmarc_policy: Annotated[Literal["none", "quarantine", "reject"], _d(
        "p= of the DMARC record (RFC 7489 §6.3). Start with 'none', read the reports, then "
        "raise it.")] = "none"
    dmarc_reports: Annotated[str, _d(
        "Local part (or whole address) that receives DMARC aggregate reports (rua=); "
        "'postmaster' means postmaster@DOMAIN.")] = "postmaster"
    ttl: Annotated[int, _d("TTL written on the printed records, seconds."),
                   Meta(ge=60, le=604800)] = 3600


class MailAuthConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """SPF, DKIM, DMARC and ARC on incoming mail (the 'mailauth' check, docs/mailauth.md)."""

    spf: Annotated[bool, _d("Check SPF (RFC 7208) for the MAIL FROM identity.")] = True
    spf_helo: Annotated[bool, _d("Also check SPF for the HELO/EHLO name.")] = True
    dkim: Annotated[bool, _d("Verify every DKIM signature (RFC 6376).")] = True
    dmarc: Annotated[bool, _d("Apply DMARC (RFC 7489) from the SPF and DKIM results.")] = True
    arc: Annotated[bool, _d("Verify the ARC chain (RFC 8617).")] = True
    authserv_id: Annotated[str, _d(
        "Name in our Authentication-Results fields; incoming ones with this name are "
        "removed. Empty = server.hostname.")] = ""
    spf_fail: Annotated[Literal["annotate", "quarantine", "reject"], _d(
        "What an SPF 'fail' alone does: 'annotate' (record it; DMARC decides), "
        "'quarantine' (file in Junk) or 'reject' (550 5.7.1 at RCPT).")] = "annotate"
    spf_temperror: Annotated[Literal["tempfail", "annotate"], _d(
        "SPF 'temperror' (DNS failure): 'tempfail' answers MAIL FROM with 451 so the "
        "sender retries; 'annotate' accepts and records it.")] = "tempfail"
    dmarc_action: Annotated[Literal["reject", "quarantine", "annotate"], _d(
        "The most DMARC may do: 'reject' honours p=reject (550 5.7.1) and p=quarantine "
        "(Junk); 'quarantine' files both in Junk; 'annotate' only records the result.")] = \
        "reject"
    dmarc_temperror: Annotated[Literal["tempfail", "annotate"], _d(
        "The DMARC record could not be fetched (DNS failure): 'annotate' accepts and "
        "records dmarc=temperror (RFC 7489 asks for no deferral); 'tempfail' answers DATA "
        "with 451.")] = "annotate"
    dns_servers: Annotated[list[str], _d(
        "Resolvers for these checks ('ip' or 'ip:port'); empty = "
        "smtp.outbound.dns_servers.")] = msgspec.field(default_factory=list)
    dns_timeout: Annotated[float, _d("Seconds one DNS question may take."),
                           Meta(gt=0, le=60)] = 5.0
    dns_cache: Annotated[int, _d("DNS answers these checks keep for their TTL (0 = none)."),
                         Meta(ge=0, le=10_000_000)] = 10000
    spf_time_limit: Annotated[float, _d("Seconds one whole SPF check may take "
                                        "(RFC 7208 §4.6.4 suggests 20)."),
                              Meta(gt=0, le=300)] = 20.0
    spf_dns_lookups: Annotated[int, _d("SPF terms that ask DNS, per check (RFC 7208: 10)."),
                               Meta(ge=1, le=100)] = 10
    spf_void_lookups: Annotated[int, _d("SPF lookups with empty answers, per check "
                                        "(RFC 7208: 2)."), Meta(ge=0, le=100)] = 2
    spf_address_lookups: Annotated[int, _d("Names one SPF mx or ptr may look up "
                                           "(RFC 7208: 10)."), Meta(ge=1, le=100)] = 10
    dkim_max_signatures: Annotated[int, _d("DKIM signatures verified per message; more "
                                           "are reported 'policy'."), Meta(ge=1, le=100)] = 10
    dkim_min_key_bits: Annotated[int, _d("Shortest RSA key accepted (RFC 8301: 1024)."),
                                 Meta(ge=512, le=16384)] = 1024
    verify_timeout: Annotated[float, _d("Seconds DKIM or ARC verification of one message "
                                        "may take (the keys already fetched)."),
                              Meta(gt=0, le=300)] = 10.0
    max_verify_size: Annotated[int, _d("Larger messages are not DKIM/ARC verified "
                                       "(reported 'policy')."), Meta(ge=1024)] = \
        25 * 1024 * 1024
    inline_verify_size: Annotated[int, _d(
        "Messages up to this size are DKIM/ARC verified on the event loop (cheaper than a "
        "thread for small mail); larger ones in the worker threads."),
        Meta(ge=0, le=16 * 1024 * 1024)] = 64 * 1024
    skip_networks: Annotated[list[str], _d(
        "Client networks (CIDR) whose mail is not checked: local injection. Authenticated "
        "and smtp.trusted_networks clients are never checked.")] = msgspec.field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    workers: Annotated[int, _d("Threads for DKIM/ARC cryptography."),
                       Meta(ge=1, le=64)] = 2


CheckName = Literal["size", "smuggling", "loop", "sender", "mailauth", "greylist", "dnsbl",
                    "spamd", "clamav"]


class PipelineConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The checks every incoming message passes (services/pipeline), in this order."""

    checks: Annotated[list[CheckName], _d(
        "Checks run on every message, in order: 'size' (limits.max_message_size), "
        "'smuggling' (bare CR/LF), 'loop' (too many Received lines), 'sender' (authenticated "
        "senders use their own addresses in MAIL FROM and From:), 'mailauth' (SPF, DKIM, "
        "DMARC, ARC: see [mailauth]), 'greylist' (greylisting: [greylisting]), 'dnsbl' (DNS "
        "block lists: [dnsbl]), 'spamd' (SpamAssassin: pipeline.spamd), 'clamav' (antivirus: "
        "pipeline.clamav). 'size' and 'smuggling' cannot be left out.")] = msgspec.field(
        default_factory=lambda: ["size", "smuggling", "loop", "sender", "mailauth"])
    spamd: SpamdConfig = msgspec.field(default_factory=SpamdConfig)
    clamav: ClamavConfig = msgspec.field(default_factory=ClamavConfig)


class LogConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    level: Annotated[Literal["debug", "info", "warning", "error"], _d("Log level.")] = "info"
    format: Annotated[Literal["text", "json"], _d("'text' (key=value) or one JSON object per "
                                                  "line.")] = "text"
    file: Annotated[str, _d("Log file; empty = standard error.")] = ""


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    login: LoginConfig = msgspec.field(default_factory=LoginConfig)
    tls: TlsConfig = msgspec.field(default_factory=TlsConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    smtp: SmtpConfig = msgspec.field(default_factory=SmtpConfig)
    imap: ImapConfig = msgspec.field(default_factory=ImapConfig)
    pop3: Pop3Config = msgspec.field(default_factory=Pop3Config)
    multipop: MultipopConfig = msgspec.field(default_factory=MultipopConfig)
    odmr: OdmrConfig = msgspec.field(default_factory=OdmrConfig)
    minger: MingerConfig = msgspec.field(default_factory=MingerConfig)
    pipeline: PipelineConfig = msgspec.field(default_factory=PipelineConfig)
    greylisting: GreylistConfig = msgspec.field(default_factory=GreylistConfig)
    dnsbl: DnsblConfig = msgspec.field(default_factory=DnsblConfig)
    screening: ScreeningConfig = msgspec.field(default_factory=ScreeningConfig)
    dkim: DkimConfig = msgspec.field(default_factory=DkimConfig)
    batv: BatvConfig = msgspec.field(default_factory=BatvConfig)
    dns: DnsConfig = msgspec.field(default_factory=DnsConfig)
    mailauth: MailAuthConfig = msgspec.field(default_factory=MailAuthConfig)
    web: WebConfig = msgspec.field(default_factory=WebConfig)
    acme: AcmeConfig = msgspec.field(default_factory=AcmeConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    sieve: SieveConfig = msgspec.field(default_factory=SieveConfig)
    cluster: ClusterConfig = msgspec.field(default_factory=ClusterConfig)
    blobs: BlobsConfig = msgspec.field(default_factory=BlobsConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir)


class ConfigError(Exception):
    """Configuration problems, worded for the administrator: one line each, naming the key
    (and the file). ``problems`` holds every one found."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def _format_msgspec_error(exc: msgspec.ValidationError) -> str:
    """Reword msgspec's message so that it starts with the dotted key, as admins write it."""
    text = str(exc)
    msg, _, path = text.partition(" - at `$")
    path = path.rstrip("`").lstrip(".")
    if msg.startswith("Object contains unknown field"):
        key = msg.split("`")[1]
        return f"{path + '.' if path else ''}{key}: unknown key"
    if msg.startswith("Object missing required field"):
        key = msg.split("`")[1]
        return f"{path + '.' if path else ''}{key}: required key missing"
    return f"{path or '(top level)'}: {msg[0].lower() + msg[1:]}"


def parse_set(items: list[str]) -> dict[str, Any]:
    """Turn ``KEY=VALUE`` overrides into a nested dict; VALUE is read as TOML, else as a string."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. minger.enabled=true")
        try:
            parsed: Any = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: '{part}' is not a section")
        node[parts[-1]] = parsed
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None,
         ) -> Config:
    """Load a config file (or the defaults) and apply ``--set`` overrides; raise ConfigError."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if overrides:
        data = _merge(data, parse_set(overrides))
    where = f"{path}: " if path else ""
    problems, valid = config_rules.type_errors(data, Config)
    try:
        cfg = msgspec.convert(valid, Config)
    except msgspec.ValidationError as exc:  # type_errors let a bad value through: a bug
        raise ConfigError(where + _format_msgspec_error(exc)) from None
    problems += config_rules.rules(cfg)
    if problems:
        raise ConfigError([where + p for p in problems])
    return cfg


def check_environment(cfg: Config, path: str | os.PathLike[str] | None = None) -> None:
    """What ``serve`` needs of this machine (config_rules.environment); ``config check`` and
    ``serve`` both run it."""
    problems = config_rules.environment(cfg)
    if problems:
        where = f"{path}: " if path else ""
        raise ConfigError([where + p for p in problems])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def example() -> str:
    """A commented TOML file with every key at its default."""
    lines = ["# Postroom configuration. Every key is shown with its default value.",
             "# Check a file with: postroom config check FILE", ""]

    def walk(struct: msgspec.Struct, prefix: str) -> None:
        info = msgspec.inspect.type_info(type(struct))
        assert isinstance(info, msgspec.inspect.StructType)
        scalars = [f for f in info.fields
                   if not isinstance(getattr(struct, f.name), msgspec.Struct)]
        nested = [f for f in info.fields if isinstance(getattr(struct, f.name), msgspec.Struct)]
        if scalars and prefix:
            lines.append(f"[{prefix}]")
        for f in scalars:
            desc = _description(f.type)
            if desc:
                lines.extend(f"# {line}" for line in _wrap(desc))
            lines.append(f"{f.name} = {_toml_value(getattr(struct, f.name))}")
        if scalars:
            lines.append("")
        for f in nested:
            walk(getattr(struct, f.name), f"{prefix}.{f.name}" if prefix else f.name)

    walk(Config(), "")
    return "\n".join(lines)


def _description(t: msgspec.inspect.Type) -> str:
    if isinstance(t, msgspec.inspect.Metadata):
        schema = t.extra_json_schema or {}
        return str(schema.get("description", "")) or _description(t.type)
    return ""


def _wrap(text: str, width: int = 96) -> list[str]:
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        out.append(line)
    return out
