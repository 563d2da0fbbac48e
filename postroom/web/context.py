"""What every web front-end is given: the services it may call and the listener's settings.

Kept apart from web/app.py, which assembles the applications from the areas (web/auth/,
web/pages/, web/api/, web/session.py): those areas need these types, and app.py needs them,
so the types live below both and no import cycle forms (tests/unit/test_import_rules.py).
Front-ends get services only, never the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from postroom.config import MingerConfig
from postroom.config_web import WebOperationsConfig
from postroom.net.listener import Network
from postroom.obs.metrics import Metrics
from postroom.services.acme.challenges import ChallengeStore
from postroom.services.admin import Admin
from postroom.services.apitokens import ApiTokens
from postroom.services.apppasswords import AppPasswords
from postroom.services.auth import AuthService
from postroom.services.clientconfig import ClientConfig
from postroom.services.dashboard import Dashboard
from postroom.services.dav import Dav
from postroom.services.eas import Eas
from postroom.services.health import Health
from postroom.services.maillog_search import MailLogSearch
from postroom.services.ownaccount import OwnAccount
from postroom.services.sieve.scripts import SieveScripts
from postroom.services.twofactor import TwoFactor
from postroom.services.webmail import Webmail
from postroom.services.websessions import WebSessions


@dataclass(frozen=True, slots=True)
class WebServices:
    health: Health
    metrics: Metrics
    client_config: ClientConfig
    admin: Admin  # every administrative operation (services/admin/), with an Actor
    auth: AuthService  # logins: passwords, throttle, screening, the login log line
    sessions: WebSessions  # web sessions (services/websessions.py)
    two_factor: TwoFactor  # TOTP and recovery codes (services/twofactor.py)
    app_passwords: AppPasswords  # a user's app passwords (services/apppasswords.py)
    own_account: OwnAccount  # a user's own password change (services/ownaccount.py)
    acme_challenges: ChallengeStore | None = None  # pending ACME HTTP-01 answers
    dashboard: Dashboard | None = None  # WebAdmin's live figures (services/dashboard.py)
    maillog: MailLogSearch | None = None  # the mail-log search (services/maillog_search.py)
    tokens: ApiTokens | None = None  # API bearer tokens (services/apitokens.py)
    webmail: Webmail | None = None  # webmail's services (services/webmail/); None: no webmail
    dav: Dav | None = None  # CalDAV/CardDAV/WebDAV's services (services/dav/); None: no DAV
    eas: Eas | None = None  # ActiveSync's services (services/eas/); None: no ActiveSync
    sieve_scripts: SieveScripts | None = None  # Sieve scripts (services/sieve/); None: no Sieve


@dataclass(frozen=True, slots=True)
class WebSettings:
    hostname: str
    tls: bool  # this listener speaks TLS: HSTS is sent
    max_body: int
    hsts_max_age: int
    ops_networks: Sequence[Network]
    https_port: int  # where plain HTTP redirects to (0: no HTTPS listener; use 443)
    users_page_size: int = 50  # WebAdmin's user list: default rows per page (config_web.py)
    users_page_max: int = 200  # ... and the most one page may show
    operations: WebOperationsConfig | None = None  # WebAdmin's operations pages (web.operations)
    minger: MingerConfig | None = None  # shown read-only on the gateways page
    form_max_field: int = 4096  # web.form_max_field: longest text field of a posted form
    form_max_fields: int = 200  # web.form_max_fields: most fields of one posted form
    # server.plaintext_auth_networks: where HTTP Basic (DAV) is accepted without TLS, as IMAP
    # and POP3 accept a password there (the live list: a reload updates it in place)
    plaintext_networks: Sequence[Network] = ()
