"""The JSON API's request and response bodies, as msgspec Structs.

Requests (``In``) refuse unknown fields; every string and number has an explicit bound, so a
huge value is a 422 from the decoder before any service sees it. Responses (``Out``) omit
fields left at their default. Times are Unix seconds (UTC); sizes are octets. The OpenAPI
document's schemas are generated from these classes (web/api/openapi.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from postroom.services.admin import imports
from postroom.web.api.framework import In, Out

T = TypeVar("T")
Text = Annotated[str, Meta(max_length=1000)]
Name = Annotated[str, Meta(max_length=320)]  # an address, a domain, an identifier
Secret = Annotated[str, Meta(max_length=1024)]
Octets = Annotated[int, Meta(ge=0, le=1 << 62)]
Seconds = Annotated[int, Meta(ge=0, le=10 * 366 * 86400)]
Port = Annotated[int, Meta(ge=1, le=65535)]
Names = Annotated[list[Name], Meta(max_length=10_000)]
MAX_IMPORT = imports.MAX_IMPORT  # accounts per import request, JSON or CSV


# -- common ------------------------------------------------------------------------------------
class Done(Out):
    """What an action did, in the words the CLI prints."""

    message: str


class Count(Out):
    count: int


# -- domains -----------------------------------------------------------------------------------
class DomainIn(In):
    domain: Name


class DomainOut(Out):
    domain: str
    display: str  # the domain in Unicode (IDNA U-labels)
    accounts: int
    aliases: int
    groups: int
    admins: list[str] | None = None  # with ``GET /domains/{domain}`` only


# -- users ------------------------------------------------------------------------------------
class UsersQuery(In):
    """One domain's objects, or all the caller administers; ``offset``/``limit`` page
    through them in address order."""

    domain: Name | None = None
    offset: Annotated[int, Meta(ge=0, le=1 << 31)] = 0
    limit: Annotated[int, Meta(ge=1, le=1 << 31)] | None = None

    def page(self, items: list[T]) -> list[T]:
        end = None if self.limit is None else self.offset + self.limit
        return items[self.offset:end]


class UserIn(In):
    address: Name
    password: Secret
    name: Text = ""
    quota: Octets | None = None  # None: unlimited


class UserPatch(In):
    """Change what is given. ``quota``: a number of octets, or null for unlimited; left out,
    it stays as it is."""

    name: Text | None = None
    quota: Octets | UnsetType | None = UNSET
    state: Literal["active", "disabled", "frozen"] | None = None
    spam_filter: bool | None = None


class PasswordIn(In):
    password: Secret


class SecretIn(In):
    secret: Secret | None  # None clears it


class UserOut(Out):
    address: str
    name: str
    state: str
    quota: int | None
    used: int
    created: int
    last_login: int | None


class UserDetail(Out):
    address: str
    name: str
    state: str
    quota: int | None
    used: int
    created: int
    last_login: int | None
    admin: str | None
    groups: list[str]
    spam_filter: bool


class Holdings(Out):
    address: str
    folders: int
    messages: int
    octets: int


class SendAsOut(Out):
    address: str
    send_as: list[str]


class ImportItem(In):
    address: Name
    password: Secret
    name: Text = ""
    quota: Octets | None = None


class ImportIn(In):
    accounts: Annotated[list[ImportItem], Meta(min_length=1, max_length=MAX_IMPORT)]


class ImportOut(Out):
    imported: int
    addresses: list[str]


# -- aliases, groups, administrators -------------------------------------------------------------
class AliasIn(In):
    alias: Name
    targets: Annotated[list[Name], Meta(min_length=1, max_length=1000)]


class AliasOut(Out):
    alias: str
    targets: list[str]


class GroupIn(In):
    group: Name
    members: Names = msgspec.field(default_factory=list)
    name: Text = ""


class GroupOut(Out):
    group: str
    name: str
    members: list[str]
    acl_identifier: str


class RoleOut(Out):
    address: str
    scope: str  # "global" or a domain


# -- folders and ACLs ----------------------------------------------------------------------------
FolderKind = Literal["mail", "calendar", "contacts", "tasks", "notes", "journal",
                     "documents"]


class FolderIn(In):
    name: Name
    type: FolderKind = "mail"
    address: Name | None = None  # public folders: an address delivering into it


class RenameIn(In):
    name: Name  # the new name


class FolderOut(Out):
    folder: str
    type: str
    special_use: str | None
    messages: int
    size: int
    address: str | None
    uidvalidity: int


class AclEntryOut(Out):
    identifier: str
    rights: str


class AclOut(Out):
    folder: str
    entries: list[AclEntryOut]


class AclSet(In):
    identifier: Name
    rights: Annotated[str, Meta(max_length=40)]  # "lrs", "+w", "-t" (RFC 4314 letters)
    apply_to_subfolders: bool = False


class AclDelete(In):
    identifier: Name
    apply_to_subfolders: bool = False


class AclChanged(Out):
    identifier: str
    rights: str  # the stored rights; "" = the entry was removed
    subfolders: int | None = None  # with apply_to_subfolders: how many got the ACL


# -- queue ---------------------------------------------------------------------------------------
class QueueOut(Out):
    id: int
    state: str
    sender: str
    recipients: list[str]
    size: int
    destination: str
    attempts: int
    queued: int
    next_attempt: int
    last_error: str


class QueueDetail(QueueOut, kw_only=True):
    """One entry as ``postroom queue show`` prints it: the list's fields and more."""

    notice: bool
    dsn: dict[str, str]
    body: str
    blob: str


# -- gateways, ATRN, MultiPOP, screening ---------------------------------------------------------
class GatewayIn(In):
    domain: Name
    deliver_to: Name = ""
    verify: Literal["none", "static", "minger"] = "none"
    minger_host: Name = ""
    minger_secret: Secret | None = None
    unverifiable: Literal["defer", "accept"] = "defer"
    recipients: Names = msgspec.field(default_factory=list)
    atrn_users: Names = msgspec.field(default_factory=list)


class GatewayPatch(In):
    deliver_to: Name | None = None  # "" = hold for ATRN again
    verify: Literal["none", "static", "minger"] | None = None
    minger_host: Name | None = None
    minger_secret: Secret | None = None  # "" = ask anonymously
    unverifiable: Literal["defer", "accept"] | None = None
    add_recipients: Names = msgspec.field(default_factory=list)
    remove_recipients: Names = msgspec.field(default_factory=list)
    add_atrn_users: Names = msgspec.field(default_factory=list)
    remove_atrn_users: Names = msgspec.field(default_factory=list)


class ForceQuery(In):
    force: bool = False


class GatewayOut(Out):
    domain: str
    deliver_to: str
    verify: str
    minger_host: str
    minger_secret: bool  # whether one is set (never the secret)
    unverifiable: str
    recipients: list[str]
    atrn_users: list[str]
    created: int
    queued_messages: int | None = None
    queued_octets: int | None = None


class ProviderIn(In):
    name: Name
    host: Name
    user: Name
    password: Secret
    port: Port | None = None
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    verify_tls: bool = True
    domains: Names = msgspec.field(default_factory=list)
    interval: Annotated[int, Meta(ge=0, le=366 * 86400)] = 600
    enabled: bool = True


class ProviderPatch(In):
    host: Name | None = None
    user: Name | None = None
    password: Secret | None = None
    port: Port | None = None
    tls: Literal["starttls", "implicit", "none"] | None = None
    verify_tls: bool | None = None
    domains: Names | None = None
    interval: Annotated[int, Meta(ge=0, le=366 * 86400)] | None = None
    enabled: bool | None = None


class ProviderOut(Out):
    name: str
    host: str
    port: int
    tls: str
    verify_tls: bool
    user: str
    domains: list[str]
    interval: int
    enabled: bool
    next_run: int
    failures: int
    last_success: int | None
    last_error: str
    last_error_at: int | None
    last_received: int
    created: int


class RemoteIn(In):
    host: Name
    user: Name
    password: Secret
    port: Port | None = None
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    verify_tls: bool = True
    leave_on_server: bool = False
    delete_after_days: Annotated[int, Meta(ge=0, le=36600)] | None = None
    interval: Annotated[int, Meta(ge=0, le=366 * 86400)] = 600
    folder: Name = "INBOX"
    enabled: bool = True


class RemotePatch(In):
    password: Secret | None = None
    interval: Annotated[int, Meta(ge=0, le=366 * 86400)] | None = None
    folder: Name | None = None
    enabled: bool | None = None
    leave_on_server: bool | None = None
    delete_after_days: Annotated[int, Meta(ge=0, le=36600)] | None = None


class RemoteOut(Out):
    id: int
    address: str
    host: str
    port: int
    tls: str
    verify_tls: bool
    user: str
    leave_on_server: bool
    delete_after_days: int | None
    interval: int
    folder: str
    enabled: bool
    next_run: int
    failures: int
    last_success: int | None
    last_error: str
    last_error_at: int | None
    last_fetched: int
    created: int
    uidls_recorded: int | None = None


class BlockIn(In):
    network: Annotated[str, Meta(max_length=64)]
    seconds: Annotated[int, Meta(ge=1, le=10 * 366 * 86400)] | None = None
    reason: Text = ""


class BlockOut(Out):
    network: str
    created: int
    expires: int | None
    reason: str
    source: str


class Unblocked(Out):
    unblocked: list[str]


# -- DKIM, DNS, BATV -----------------------------------------------------------------------------
Algorithm = Literal["ed25519", "rsa"]


class DkimQuery(In):
    domain: Name | None = None


class DkimGenerate(In):
    algorithms: Annotated[list[Algorithm], Meta(max_length=2)] | None = None
    selector: Annotated[str, Meta(max_length=63)] | None = None


class DkimRotate(In):
    algorithms: Annotated[list[Algorithm], Meta(max_length=2)] | None = None
    selector: Annotated[str, Meta(max_length=63)] | None = None
    delay: Seconds | None = None


class DkimKeyOut(Out):
    domain: str
    selector: str
    algorithm: str
    state: str
    created: int
    activates: int
    published_until: int | None
    record_name: str
    record: str


class PrivateKeyOut(Out):
    domain: str
    selector: str
    pem: str


class DnsRecordOut(Out):
    name: str
    type: str
    ttl: int
    value: str
    comment: str


class DnsOut(Out):
    domain: str
    records: list[DnsRecordOut]
    notes: list[str]


class BatvRotate(In):
    drop_old: bool = False


class BatvKeyOut(Out):
    key: int
    state: str
    created: int
    retired: int | None


# -- audit, status, me, tokens -------------------------------------------------------------------
class AuditQuery(In):
    limit: Annotated[int, Meta(ge=1, le=10_000)] = 100
    since: Annotated[int, Meta(ge=0, le=1 << 40)] | None = None
    actor: Name | None = None
    action: Name | None = None
    target: Name | None = None


class AuditOut(Out):
    id: int
    at: int
    actor: str
    origin: str
    action: str
    target: str
    detail: dict[str, Any]


class DaemonOut(Out):
    name: str
    check: str
    enabled: bool
    address: str
    state: str
    engine: str
    signatures: str
    detail: str


class StatusOut(Out):
    version: str
    checks: list[str]
    daemons: list[DaemonOut]


class NodeOut(Out):
    name: str
    state: str  # up, down, stopped
    version: str
    schema_version: int
    address: str
    pid: int
    heartbeat_age: float
    lag_ms: float | None
    queue_claims: int
    locks: int


class ClusterOut(Out):
    enabled: bool
    schema_version: int
    nodes: list[NodeOut]
    multipop_leases: int
    problems: list[str]


class MeOut(Out):
    address: str
    name: str
    role: Literal["global", "domain", "user"]
    admin: str | None
    state: str
    quota: int | None
    used: int
    groups: list[str]


class TokensQuery(In):
    owner: Name | None = None  # global administrators: another account's tokens


class Proof(In, kw_only=True):
    """Asked of a caller authenticated by the WebAdmin session cookie (not by a bearer token)
    before it makes a credential that outlives the session: the account's current password,
    and a code when it has a second factor; a copied cookie alone is not enough."""

    password: Secret | None = None
    code: Annotated[str, Meta(max_length=64)] | None = None


class TokenIn(Proof, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    scope: Annotated[str, Meta(max_length=330)] = "self"
    expires_in: Seconds | None = None


class TokenOut(Out):
    id: int
    owner: str
    name: str
    scope: str
    created: int
    expires: int | None
    last_used: int | None
    revoked: int | None


class TokenCreated(Out):
    token: str  # shown once: only its SHA-256 is kept
    id: int
    owner: str
    name: str
    scope: str
    created: int
    expires: int | None


class AppPasswordIn(Proof, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=100)]  # the device or program


class AppPasswordOut(Out):
    id: int
    name: str
    created: int
    last_used: int | None = None


class AppPasswordCreated(Out):
    password: str  # shown in this answer only
    id: int
    name: str
    created: int


class TwoFactorReset(Out):
    had_two_factor: bool  # False: the account had none (its sessions ended anyway)


class SessionsEnded(Out):
    sessions: int  # how many web sessions were ended
