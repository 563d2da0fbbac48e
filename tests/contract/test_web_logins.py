"""Web logins on both stores (services/websessions.py, services/twofactor.py,
services/apppasswords.py, store/repo/logins.py): sessions with idle and absolute expiry, realms,
revocation, ended by a password change, a disabled or removed account; TOTP enrolment and
codes that work once; recovery codes; app passwords; the administrators' reset."""

from __future__ import annotations

import hashlib
import hmac

import msgspec
import pyotp
import pytest

from postroom.app import Services
from postroom.config_web import WebConfig
from postroom.core.actor import Actor, Origin
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.services.twofactor import TwoFactor
from postroom.services.websessions import WebSessions, digest


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def web_config(**values: object) -> WebConfig:
    base: dict[str, object] = {"session_idle_timeout": 600, "session_lifetime": 3600,
                               "session_cache_seconds": 0, "login_step_timeout": 120}
    return msgspec.convert({**base, **values}, WebConfig)


async def account(services: Services, name: str = "alice") -> Principal:
    rec = await services.directory.add_account(f"{name}@example.com", "Pass-word-1234")
    return await services.directory.principal_for(rec)


@pytest.fixture
async def ready(services: Services) -> Services:
    await services.directory.add_domain("example.com")
    return services


def sessions_for(services: Services, clock: Clock, **cfg: object) -> WebSessions:
    return WebSessions(services.store.logins, services.directory, web_config(**cfg), clock)


async def test_session_lifecycle_idle_and_lifetime(ready: Services) -> None:
    clock = Clock()
    sessions = sessions_for(ready, clock)
    alice = await account(ready)
    token, resolved = await sessions.start(alice, "webadmin", "full", "192.0.2.1", "UA")
    rows = await ready.store.logins.sessions(alice.account_id or 0)
    assert [r.id_hash for r in rows] == [digest(token)]  # only the digest is stored
    assert token not in repr(rows)
    again = await sessions.resolve(token, "webadmin")
    assert again is not None and again.principal.address == "alice@example.com"
    assert again.csrf == resolved.csrf and len(again.csrf) >= 40
    assert await sessions.resolve(token, "webmail") is None  # another realm's cookie
    assert await sessions.resolve("x" * 43, "webadmin") is None
    clock.now += 599
    assert await sessions.resolve(token, "webadmin") is not None  # used: idle restarts
    clock.now += 599
    assert await sessions.resolve(token, "webadmin") is not None
    clock.now += 601  # idle too long
    assert await sessions.resolve(token, "webadmin") is None
    assert await ready.store.logins.sessions(alice.account_id or 0) == []  # row deleted

    token, _ = await sessions.start(alice, "webadmin", "full", "192.0.2.1", "UA")
    for _ in range(7):
        clock.now += 500
        assert await sessions.resolve(token, "webadmin") is not None  # 3500 s in use
    clock.now += 500
    assert await sessions.resolve(token, "webadmin") is None  # past the 3600 s lifetime


async def test_pending_stages_last_only_the_step_timeout(ready: Services) -> None:
    clock = Clock()
    sessions = sessions_for(ready, clock)
    alice = await account(ready)
    token, _ = await sessions.start(alice, "webadmin", "code", "192.0.2.1", "UA")
    found = await sessions.resolve(token, "webadmin")
    assert found is not None and found.stage == "code"
    full, _ = await sessions.start(alice, "webadmin", "full", "192.0.2.1", "UA", replaces=token)
    assert await sessions.resolve(token, "webadmin") is None  # replaced: a new id
    assert await sessions.resolve(full, "webadmin") is not None
    token, _ = await sessions.start(alice, "webadmin", "enrol", "192.0.2.1", "UA")
    clock.now += 121
    assert await sessions.resolve(token, "webadmin") is None
    assert await sessions.count_attempt(token) == 0  # gone


async def test_revocation_password_state_and_removal(ready: Services) -> None:
    clock = Clock()
    sessions = sessions_for(ready, clock)
    alice, bob = await account(ready), await account(ready, "bob")
    a1, _ = await sessions.start(alice, "webadmin", "full", "192.0.2.1", "UA")
    a2, _ = await sessions.start(alice, "webmail", "full", "192.0.2.2", "UA")
    b1, _ = await sessions.start(bob, "webadmin", "full", "192.0.2.3", "UA")
    assert len(await sessions.list(alice.account_id or 0)) == 2
    assert await sessions.end_all(alice.account_id or 0, keep_token=a1) == 1
    assert await sessions.resolve(a2, "webmail") is None
    assert await sessions.resolve(a1, "webadmin") is not None
    # a password changed anywhere ends the sessions; changed in a session, that one stays
    await ready.directory.set_password("alice@example.com", "Another-pass-1")
    assert await sessions.resolve(a1, "webadmin") is None
    a1, _ = await sessions.start(alice, "webadmin", "full", "192.0.2.1", "UA")
    a3, _ = await sessions.start(alice, "webadmin", "full", "192.0.2.1", "UA")
    await ready.directory.set_password("alice@example.com", "Third-pass-123")
    assert await sessions.password_changed(alice.account_id or 0, a1) == 1
    assert await sessions.resolve(a1, "webadmin") is not None
    assert await sessions.resolve(a3, "webadmin") is None
    await ready.directory.set_state("alice@example.com", "disabled")
    assert await sessions.resolve(a1, "webadmin") is None
    await ready.store.directory.remove_account("bob@example.com")
    assert await sessions.resolve(b1, "webadmin") is None
    assert await ready.store.logins.session(digest(b1)) is None  # cascade


async def test_the_cache_honours_local_revocation_at_once(ready: Services) -> None:
    clock = Clock()
    sessions = sessions_for(ready, clock, session_cache_seconds=30)
    alice = await account(ready)
    token, _ = await sessions.start(alice, "webadmin", "full", "192.0.2.1", "UA")
    assert await sessions.resolve(token, "webadmin") is not None
    await sessions.end_all(alice.account_id or 0)
    assert await sessions.resolve(token, "webadmin") is None
    token, _ = await sessions.start(alice, "webadmin", "full", "192.0.2.1", "UA")
    assert await sessions.resolve(token, "webadmin") is not None
    await ready.store.logins.end_session(digest(token))  # another node, or the CLI
    assert await sessions.resolve(token, "webadmin") is not None  # within the bound...
    clock.now += 31
    assert await sessions.resolve(token, "webadmin") is None  # ...and not after it


def two_factor(services: Services, clock: Clock, **cfg: object) -> TwoFactor:
    return TwoFactor(services.store.logins, services.secrets, services.audit, web_config(**cfg),
                     "Postroom test", clock)


async def test_totp_enrolment_codes_once_and_recovery(ready: Services) -> None:
    clock = Clock()
    tf = two_factor(ready, clock)
    alice = await account(ready)
    actor = Actor(alice, Origin("webadmin", "192.0.2.1"))
    account_id = alice.account_id or 0
    assert not await tf.enabled(account_id)
    enrolment = await tf.begin(alice)
    assert (await tf.begin(alice)).secret == enrolment.secret  # a reload shows the same
    sealed = await ready.store.logins.totp(account_id)
    assert sealed is not None and enrolment.secret not in sealed.secret  # sealed at rest
    oracle = pyotp.TOTP(enrolment.secret)
    with pytest.raises(MailError):
        await tf.confirm(actor, "000000" if oracle.at(clock.now) != "000000" else "111111")
    codes = await tf.confirm(actor, oracle.at(clock.now))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert await tf.enabled(account_id)
    with pytest.raises(MailError) as exc:
        await tf.begin(alice)
    assert exc.value.kind is Kind.EXISTS
    assert await tf.verify(account_id, oracle.at(clock.now)) is None  # used at confirm
    clock.now += 30
    code = oracle.at(clock.now)
    assert await tf.verify(account_id, code) == "totp"
    assert await tf.verify(account_id, code) is None  # never twice
    assert await tf.verify(account_id, oracle.at(clock.now - 30)) is None  # nor older
    clock.now += 30
    assert await tf.verify(account_id, oracle.at(clock.now + 30)) == "totp"  # drift +1
    assert await tf.verify(account_id, codes[0].upper().replace("-", " ")) == "recovery"
    assert await tf.verify(account_id, codes[0]) is None  # spent
    assert (await tf.status(account_id)).recovery_left == 9
    clock.now += 60
    fresh = await tf.regenerate(actor, oracle.at(clock.now))
    assert await tf.verify(account_id, codes[1]) is None  # the old ones are void
    assert await tf.verify(account_id, fresh[1]) == "recovery"
    clock.now += 30
    with pytest.raises(MailError) as wrong:
        await tf.regenerate(actor, "12345x")
    assert wrong.value.kind is Kind.AUTH_FAILED  # a guess: the web page counts it as a login
    with pytest.raises(MailError) as wrong:
        await tf.disable(actor, "123")
    assert wrong.value.kind is Kind.AUTH_FAILED
    await tf.disable(actor, oracle.at(clock.now))
    assert not await tf.enabled(account_id)
    assert await tf.verify(account_id, fresh[2]) is None
    actions = [r.action for r in await ready.audit.list(limit=10)]
    assert {"user.2fa.enable", "user.2fa.recovery-codes", "user.2fa.disable"} <= set(actions)


async def test_totp_policy(ready: Services) -> None:
    clock = Clock()
    admin = Principal(1, "a@example.com", 1, global_admin=True)
    domain_admin = Principal(2, "d@example.com", 1, admin_domain_ids=frozenset({1}))
    user = Principal(3, "u@example.com", 1)
    tf = two_factor(ready, clock)
    assert [tf.policy(p) for p in (admin, domain_admin, user)] == \
        ["required", "required", "optional"]
    tf = two_factor(ready, clock, totp_admins="optional", totp_users="off")
    assert [tf.policy(p) for p in (admin, user)] == ["optional", "off"]
    alice = await account(ready)
    with pytest.raises(MailError) as exc:
        await tf.begin(alice)  # users may not enrol
    assert exc.value.kind is Kind.NO_PERM


async def test_app_passwords_and_mail_logins(ready: Services) -> None:
    clock = Clock()
    alice = await account(ready)
    actor = Actor(alice, Origin("webadmin", "192.0.2.1"))
    d = ready.directory
    rec, secret = await ready.app_passwords.create(actor, "  my   phone ")
    assert rec.name == "my phone" and len(secret) == 24 and secret.count("-") == 4
    assert secret.replace("-", "") not in rec.password_hash
    listed = await ready.app_passwords.list(actor)
    assert [a.name for a in listed] == ["my phone"] and listed[0].last_used is None
    # without a second factor, both passwords work for mail; only the own one on the web
    assert await d.authenticate("alice@example.com", "Pass-word-1234") is not None
    assert await d.authenticate("alice@example.com", secret) is not None
    assert await d.authenticate("alice@example.com", secret.upper().replace("-", " ")) \
        is not None
    assert await d.authenticate("alice@example.com", secret, web=True) is None
    # with it on, the own password no longer works for mail, app passwords do
    tf = two_factor(ready, clock)
    enrolment = await tf.begin(alice)
    await tf.confirm(actor, pyotp.TOTP(enrolment.secret).at(clock.now))
    assert await d.authenticate("alice@example.com", "Pass-word-1234") is None
    assert await d.authenticate("alice@example.com", "Pass-word-1234", web=True) is not None
    assert await d.authenticate("alice@example.com", secret) is not None
    assert await d.scram_lookup("alice@example.com") is None
    await ready.app_passwords.revoke(actor, rec.id)
    assert await d.authenticate("alice@example.com", secret) is None  # at once (cache too)
    with pytest.raises(MailError):
        await ready.app_passwords.revoke(actor, rec.id)
    with pytest.raises(MailError):
        await ready.app_passwords.create(actor, "   ")
    d.app_passwords_with_2fa = False
    assert await d.authenticate("alice@example.com", "Pass-word-1234") is not None


async def test_app_password_limit(ready: Services) -> None:
    alice = await account(ready)
    actor = Actor(alice, Origin("webadmin", "192.0.2.1"))
    ready.app_passwords.most = 2
    await ready.app_passwords.create(actor, "one")
    await ready.app_passwords.create(actor, "two")
    with pytest.raises(MailError) as exc:
        await ready.app_passwords.create(actor, "three")
    assert exc.value.kind is Kind.LIMIT


async def test_admin_reset_and_logout_everywhere(ready: Services) -> None:
    await ready.directory.add_domain("other.com")
    alice = await account(ready)
    actor = Actor(alice, Origin("webadmin", "192.0.2.1"))
    enrolment = await ready.two_factor.begin(alice)
    await ready.two_factor.confirm(actor, pyotp.TOTP(enrolment.secret).now())
    token, _ = await ready.sessions.start(alice, "webadmin", "full", "192.0.2.1", "UA")
    other = await ready.directory.add_account("eve@other.com", "Pass-word-1234")
    await ready.store.directory.set_admin("eve@other.com", "other.com", True)
    eve = Actor(await ready.directory.principal_for(other), Origin("api", "192.0.2.9"))
    with pytest.raises(MailError) as exc:
        await ready.admin.logins.reset_two_factor(eve, "alice@example.com")
    # another domain's account reads as missing to a domain administrator (issue 22: 404)
    assert exc.value.kind is Kind.NOT_FOUND
    assert await ready.admin.logins.reset_two_factor(Actor.operator(), "alice@example.com")
    assert not await ready.two_factor.enabled(alice.account_id or 0)
    assert await ready.sessions.resolve(token, "webadmin") is None
    assert not await ready.admin.logins.reset_two_factor(Actor.operator(), "alice@example.com")
    token, _ = await ready.sessions.start(alice, "webadmin", "full", "192.0.2.1", "UA")
    assert await ready.admin.logins.end_sessions(Actor.operator(), "alice@example.com") == 1
    assert await ready.sessions.resolve(token, "webadmin") is None
    actions = [r.action for r in await ready.audit.list(limit=10)]
    assert "user.2fa.reset" in actions and "user.logout-everywhere" in actions


async def test_challenge_secrets_are_closed_by_two_factor(ready: Services) -> None:
    """APOP and CRAM-MD5 use a secret that stands beside the password: with TOTP on (and
    login.app_passwords_with_2fa) they are refused too."""
    alice = await account(ready)
    await ready.directory.set_apop_secret("alice@example.com", "Challenge-secret-1")
    digest_ = hashlib.md5(b"<1.2@x>Challenge-secret-1").hexdigest()
    cram = hmac.new(b"Challenge-secret-1", b"<3.4@x>", hashlib.md5).hexdigest()
    assert await ready.directory.apop("alice@example.com", "<1.2@x>", digest_) is not None
    assert await ready.directory.cram_md5("alice@example.com", "<3.4@x>", cram) is not None
    actor = Actor(alice, Origin("webadmin", "192.0.2.1"))
    enrolment = await ready.two_factor.begin(alice)
    await ready.two_factor.confirm(actor, pyotp.TOTP(enrolment.secret).now())
    assert await ready.directory.apop("alice@example.com", "<1.2@x>", digest_) is None
    assert await ready.directory.cram_md5("alice@example.com", "<3.4@x>", cram) is None
