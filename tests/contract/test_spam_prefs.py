"""Per-account spam-filter opt-out (schema version 15) on both backends: the repository, the
preference service the spamd check asks, and the admin operation behind
``postroom user set --spam-filter``."""

from __future__ import annotations

import pytest

from postroom.app import Services
from postroom.core.actor import Actor
from postroom.core.errors import Kind, MailError


async def test_opt_out_is_per_account_and_audited(services: Services) -> None:
    await services.directory.add_domain("spam.example")
    alice = await services.directory.add_account("alice@spam.example", "pw-123456789")
    await services.directory.add_account("bob@spam.example", "pw-123456789")
    await services.directory.add_alias("all@spam.example", ["alice@spam.example"])
    prefs = services.spam_prefs
    assert prefs is not None
    users, op = services.admin.users, Actor.operator()
    assert await users.spam_filter(op, "alice@spam.example")
    assert await users.set_spam_filter(op, "alice@spam.example", False)
    assert not await users.set_spam_filter(op, "alice@spam.example", False)  # no change
    assert not await users.spam_filter(op, "alice@spam.example")
    assert not await prefs.filtering(alice.id)
    # only accounts addressed directly have a preference; an alias to one is filtered
    assert await prefs.opted_out(["alice@spam.example", "bob@spam.example",
                                  "all@spam.example", "nobody@spam.example"]) == {
        "alice@spam.example"}
    assert await users.set_spam_filter(op, "alice@spam.example", True)
    assert await prefs.opted_out(["alice@spam.example"]) == set()
    actions = [r.action for r in await services.admin.audit(op, limit=10)]
    assert actions.count("user.spam-filter") == 3
    with pytest.raises(MailError) as exc:
        await users.set_spam_filter(op, "ghost@spam.example", False)
    assert exc.value.kind is Kind.NOT_FOUND


async def test_opt_out_goes_with_its_account(services: Services) -> None:
    await services.directory.add_domain("gone.example")
    rec = await services.directory.add_account("carol@gone.example", "pw-123456789")
    await services.store.spam.set_opt_out(rec.id, True)
    assert await services.store.spam.opted_out([rec.id]) == {rec.id}
    await services.store.directory.remove_account("carol@gone.example")
    assert await services.store.spam.opted_out([rec.id]) == set()
