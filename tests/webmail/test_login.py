"""Logging in to webmail: the same directory, throttle, second factor and app-password rules
as WebAdmin (issue 23), in a session realm of its own."""

from __future__ import annotations

from postroom.core.actor import Actor
from tests.support.browser import code
from tests.support.web import WebClient
from tests.support.webmail import PASSWORD, Webmail


def _principal_actor(mail: Webmail, address: str) -> Actor:
    services = mail.server.services
    rec = mail.server.call(services.directory.require_account(address))
    return Actor(mail.server.call(services.directory.principal_for(rec)),
                 Actor.operator().origin)


def test_the_session_is_webmail_s_own(mail: Webmail) -> None:
    web = WebClient(mail.port)
    web.get("/login")
    page = web.post("/login", {"username": mail.account("alice@example.test"),
                               "password": PASSWORD})
    assert page.status == 303 and page.location == "/webmail/"
    assert "__Host-postroom-webmail" in web.jar
    assert not any(name.startswith("__Host-postroom-webadmin") for name in web.jar)


def test_a_wrong_password_is_refused(mail: Webmail) -> None:
    web = WebClient(mail.port)
    web.get("/login")
    page = web.post("/login", {"username": mail.account("alice@example.test"),
                               "password": "wrong-password"})
    assert page.status == 403 and "Wrong user name or password." in page.text
    assert web.get("/webmail/tree").status == 303  # still logged out


def test_a_user_with_two_factor_gives_a_code(mail: Webmail) -> None:
    address = mail.account("tfa@example.test")
    services = mail.server.services
    actor = _principal_actor(mail, address)
    enrolment = mail.server.call(services.two_factor.begin(actor.principal))
    mail.server.call(services.two_factor.confirm(actor, code(enrolment.secret)))
    web = WebClient(mail.port)
    web.get("/login")
    page = web.post("/login", {"username": address, "password": PASSWORD})
    assert page.status == 303 and page.location.startswith("/login/code")
    web.follow(page)
    assert web.get("/webmail/tree").status == 303  # half a login is no session
    page = web.post("/login/code", {"code": code(enrolment.secret)})
    assert page.status == 303 and page.location == "/webmail/", page.text
    assert web.get("/webmail/tree").status == 200


def test_an_administrator_must_enrol_first(mail: Webmail) -> None:
    address = mail.account("boss@example.test")
    mail.server.call(mail.server.services.admin.roles.set(Actor.operator(), address, None,
                                                          True))
    web = WebClient(mail.port)
    web.get("/login")
    page = web.post("/login", {"username": address, "password": PASSWORD})
    assert page.status == 303 and page.location.startswith("/login/enrol")
    assert web.get("/webmail/tree").status == 303


def test_app_passwords_do_not_log_in_to_webmail(mail: Webmail) -> None:
    address = mail.account("apps@example.test")
    _, app_password = mail.server.call(mail.server.services.app_passwords.create(
        _principal_actor(mail, address), "phone"))
    web = WebClient(mail.port)
    web.get("/login")
    assert web.post("/login", {"username": address, "password": app_password}).status == 403


def test_account_pages_render_inside_webmail(mail: Webmail) -> None:
    """/me (password, second factor, app passwords) on the webmail listener, with the
    webmail navigation leading back."""
    web = mail.client(mail.account("alice@example.test"))
    page = web.get("/me")
    assert page.status == 200
    assert 'href="/webmail/"' in page.text and 'href="/users"' not in page.text
