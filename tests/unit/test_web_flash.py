"""Flash messages (web/flash.py): sealed in a cookie by this process, never read from a URL;
a value anyone else wrote is not shown."""

from __future__ import annotations

from postroom.web import flash


def test_round_trip_keeps_any_text() -> None:
    text = "Account ünï@example.test added; 3 folders; a=b&c"
    assert flash.unseal(flash.seal(text)) == text


def test_forged_or_altered_values_are_dropped() -> None:
    sealed = flash.seal("Domain a.test added.")
    body, _, mac = sealed.partition(".")
    forged = flash.seal("x").split(".")[0]
    assert flash.unseal(f"{forged}.{mac}") == ""  # another text under this text's MAC
    assert flash.unseal(body) == ""  # no MAC
    altered = mac[:-1] + ("E" if mac[-1] == "A" else "A")  # one MAC character changed
    assert flash.unseal(f"{body}.{altered}") == ""
    assert flash.unseal("Re-enter your password at evil.example") == ""
    assert flash.unseal("." * 5000) == ""


def test_long_messages_are_cut() -> None:
    assert len(flash.unseal(flash.seal("x" * 10_000))) == flash.MAX_TEXT


def test_redirect_sets_a_host_cookie_and_no_query() -> None:
    response = flash.redirect("/me", "Done.")
    assert response.status_code == 303 and response.headers["location"] == "/me"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{flash.COOKIE}=")
    for part in ("Path=/", "Secure", "HttpOnly", "SameSite=Strict", f"Max-Age={flash.MAX_AGE}"):
        assert part in cookie
    assert "Domain" not in cookie
    assert "set-cookie" not in flash.redirect("/me").headers  # nothing to say: no cookie
