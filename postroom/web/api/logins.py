"""``/api/v1`` for logging in: an administrator resets an account's second factor or ends
its web sessions (``postroom user 2fa-reset``, ``postroom user logout-everywhere``), and a
user manages their own app passwords (the API face of ``/me/app-passwords``). The services
(services/admin/logins.py, services/apppasswords.py) check who may act and write the audit
log."""

from __future__ import annotations

from postroom.core.logins import AppPasswordRec
from postroom.web.api import models as m
from postroom.web.api.framework import Api, Call

USERS, ME = "users", "self-service"


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
             "the password is in this answer only", tag=ME, body=m.AppPasswordIn,
             out=m.AppPasswordCreated, status=201)
    async def create_app_password(c: Call) -> m.AppPasswordCreated:
        rec, password = await app_passwords.create(c.actor, c.body_as(m.AppPasswordIn).name)
        return m.AppPasswordCreated(password=password, id=rec.id, name=rec.name,
                                    created=rec.created_at)

    @api.add("DELETE", "/me/app-passwords/{id}", summary="Revoke an app password (it stops "
             "at once)", tag=ME)
    async def revoke_app_password(c: Call) -> None:
        await app_passwords.revoke(c.actor, c.int_param("id"))
