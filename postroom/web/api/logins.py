"""``/api/v1`` for logging in: an administrator resets an account's second factor or ends
its web sessions (``postroom user 2fa-reset``, ``postroom user logout-everywhere``), and a
user manages their own app passwords (the API face of ``/me/app-passwords``). The services
(services/admin/logins.py, services/apppasswords.py) check who may act and write the audit
log."""

from __future__ import annotations

from postroom.core.errors import Kind, MailError
from postroom.core.logins import AppPasswordRec
from postroom.web.api import models as m
from postroom.web.api.framework import Api, Call

USERS, ME = "users", "self-service"


async def prove_owner(api: Api, c: Call, proof: m.Proof) -> None:
    """For a caller with the session cookie, the account's current password (and a code when
    it has a second factor) before a new token or app password: a stolen cookie must not be
    turned into a credential that outlives the session and skips the second factor. A bearer
    token is itself a credential its owner made, and is not asked. Every wrong try is a failed
    login (the throttle's wait first, then the log line, screening and throttle)."""
    if getattr(c.request.state, "api_token", None) is not None:
        return
    p = c.actor.principal
    if p.account_id is None or p.address is None:
        return  # no account behind it (not reachable through a session)
    auth, ip = api.services.auth, c.actor.origin.address
    await auth.before(ip, p.address)
    found = None
    if proof.password:
        try:
            found = await auth.web_password(p.address, proof.password)
        except MailError:  # disabled or frozen meanwhile: no proof
            found = None
    ok = found is not None and found.account_id == p.account_id
    if ok and await api.services.two_factor.enabled(p.account_id):
        ok = await api.services.two_factor.verify(p.account_id, proof.code or "") is not None
    if not ok:
        await auth.failed("api", ip, p.address)
        raise MailError(Kind.AUTH_FAILED, "give your current password (and a code from your "
                                          "authenticator app when two-factor authentication is "
                                          "on) to make a token or an app password")


def app_password_out(r: AppPasswordRec) -> m.AppPasswordOut:
    return m.AppPasswordOut(id=r.id, name=r.name, created=r.created_at, last_used=r.last_used)


def register(api: Api) -> None:
    logins = api.services.admin.logins
    app_passwords = api.services.app_passwords

    @api.add("DELETE", "/users/{address}/two-factor",
             summary="Turn the account's second factor off (recovery codes too) and end its "
             "web sessions; it enrols again at its next login where policy requires it",
             tag=USERS, cli="postroom user 2fa-reset", out=m.TwoFactorReset)
    async def reset_two_factor(c: Call) -> m.TwoFactorReset:
        return m.TwoFactorReset(
            had_two_factor=await logins.reset_two_factor(c.actor, c.param("address")))

    @api.add("POST", "/users/{address}/logout-everywhere",
             summary="End every web session of the account", tag=USERS,
             cli="postroom user logout-everywhere", out=m.SessionsEnded)
    async def logout_everywhere(c: Call) -> m.SessionsEnded:
        return m.SessionsEnded(sessions=await logins.end_sessions(c.actor, c.param("address")))

    @api.add("GET", "/me/app-passwords", summary="The caller's app passwords (never the "
             "passwords themselves)", tag=ME, out=list[m.AppPasswordOut])
    async def list_app_passwords(c: Call) -> list[m.AppPasswordOut]:
        return [app_password_out(r) for r in await app_passwords.list(c.actor)]

    @api.add("POST", "/me/app-passwords", summary="Make an app password for a mail program; "
             "the password is in this answer only (with the session cookie: give the current "
             "password, and a code when 2FA is on)", tag=ME, body=m.AppPasswordIn,
             out=m.AppPasswordCreated, status=201)
    async def create_app_password(c: Call) -> m.AppPasswordCreated:
        body = c.body_as(m.AppPasswordIn)
        await prove_owner(api, c, body)
        rec, password = await app_passwords.create(c.actor, body.name)
        return m.AppPasswordCreated(password=password, id=rec.id, name=rec.name,
                                    created=rec.created_at)

    @api.add("DELETE", "/me/app-passwords/{id}", summary="Revoke an app password (it stops "
             "at once)", tag=ME)
    async def revoke_app_password(c: Call) -> None:
        await app_passwords.revoke(c.actor, c.int_param("id"))
