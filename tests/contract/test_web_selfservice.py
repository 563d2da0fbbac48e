"""Services behind WebAdmin's directory pages (both stores): background CSV imports and the
ACL editor's presets."""

from __future__ import annotations

import asyncio

import pytest

from postroom.access import presets
from postroom.app import Services
from postroom.core.actor import Actor, Origin
from postroom.core.errors import Kind, MailError
from postroom.services.admin.imports import ImportJobs, parse_accounts_csv
from tests.support.factory import account

WEB = Origin("webadmin", "198.51.100.9")


def test_csv_format_is_the_clis() -> None:
    items = parse_accounts_csv("\ufeffaddress,password,name,quota\n"
                               "Ann@A.example,pw-123456789,Ann Example,10M\n"
                               "\n"
                               "bob@a.example,pw-987654321\n")
    assert [(i.address, i.display_name, i.quota_bytes) for i in items] == [
        ("ann@a.example", "Ann Example", 10 * 1024 * 1024), ("bob@a.example", "", None)]
    for text, where in (("ann@a.example\n", "upload:1"),
                        ("ann@a.example,pw-123456789\nann@a.example,pw-123456789\n",
                         "upload:2"),
                        ("not an address,pw-123456789\n", "upload:1"),
                        ("ann@a.example,pw-123456789,Ann,lots\n", "upload:1")):
        with pytest.raises(MailError) as exc:
            parse_accounts_csv(text, "upload")
        assert exc.value.kind is Kind.INVALID and exc.value.text.startswith(where)


async def _wait(job_state: object, check: object) -> None:
    for _ in range(400):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"import did not finish: {job_state}")


async def test_background_import_reports_progress_to_its_owner_only(
        services: Services) -> None:
    admin = services.admin
    op = Actor.operator()
    await admin.domains.add(op, "a.example")
    await admin.domains.add(op, "b.example")
    await account(services, "boss@a.example")
    await admin.roles.set(op, "boss@a.example", "a.example", True)
    boss = Actor(await services.directory.principal_for(
        await services.directory.require_account("boss@a.example")), WEB)
    text = "".join(f"u{i}@a.example,pw-secret-{i:04d}\n" for i in range(5))
    job = await admin.imports.start(boss, parse_accounts_csv(text))
    assert job.total == 5
    await _wait(job, lambda: admin.imports.get(boss, job.id).state != "running")
    assert admin.imports.get(boss, job.id).as_dict() == {
        "id": job.id, "total": 5, "done": 5, "state": "done", "error": ""}
    assert (await admin.users.search(boss, text="u3@")).total == 1
    with pytest.raises(MailError) as exc:  # someone else's job is as good as none
        admin.imports.get(op, job.id)
    assert exc.value.kind is Kind.NOT_FOUND
    with pytest.raises(MailError) as exc:  # another domain: refused before anything is made
        await admin.imports.start(boss, parse_accounts_csv("x@b.example,pw-123456789\n"))
    assert exc.value.kind in (Kind.NO_PERM, Kind.NOT_FOUND)
    with pytest.raises(MailError) as exc:
        await admin.imports.start(boss, [])
    assert exc.value.kind is Kind.INVALID


async def test_failed_batch_is_reported_in_the_job(services: Services) -> None:
    admin = services.admin
    op = Actor.operator()
    await admin.domains.add(op, "a.example")
    await account(services, "taken@a.example")
    job = await admin.imports.start(op, parse_accounts_csv(
        "new@a.example,pw-123456789\ntaken@a.example,pw-123456789\n"))
    await _wait(job, lambda: job.state != "running")
    assert job.state == "failed" and "taken@a.example already exists" in job.error


def test_presets_and_words() -> None:
    assert presets.rights_for("read-write", "") == "lrswipkxte"
    assert presets.rights_for("custom", "lrc") == "lrkx"
    assert presets.preset_of("srl") == "read" and presets.preset_of("lr") is None
    assert presets.explain("lrsip") == ("see the folder, read messages, keep read/unread "
                                        "state, add messages, post to the folder's address")
    with pytest.raises(MailError):
        presets.rights_for("custom", "lrZ")


async def test_import_limits(services: Services) -> None:
    """At most ``max_running`` imports at once; a finished one is forgotten after
    ``keep_seconds`` (web.import_max_running, web.import_keep_seconds)."""
    op = Actor.operator()
    await services.admin.domains.add(op, "a.example")
    jobs = ImportJobs(services.admin.users, batch=1, max_running=1, keep_seconds=0)
    first = await jobs.start(op, parse_accounts_csv(
        "".join(f"n{i}@a.example,pw-secret-{i:04d}\n" for i in range(6))))
    with pytest.raises(MailError) as exc:
        await jobs.start(op, parse_accounts_csv("m@a.example,pw-123456789\n"))
    assert exc.value.kind is Kind.LIMIT
    await _wait(first, lambda: first.state != "running")
    assert first.state == "done" and first.done == 6
    await asyncio.sleep(0.01)
    with pytest.raises(MailError) as exc:
        jobs.get(op, first.id)
    assert exc.value.kind is Kind.NOT_FOUND
    await jobs.close()


async def test_closing_stops_running_imports(services: Services) -> None:
    op = Actor.operator()
    await services.admin.domains.add(op, "a.example")
    jobs = ImportJobs(services.admin.users, batch=1)
    job = await jobs.start(op, parse_accounts_csv(
        "".join(f"c{i}@a.example,pw-secret-{i:04d}\n" for i in range(50))))
    await jobs.close()
    assert job.state == "failed" and job.error == "the server stopped during the import"
    assert job.done < 50
    assert (await services.admin.users.search(op, text="c")).total == job.done


async def test_alias_targets_replaced_in_place(services: Services) -> None:
    admin = services.admin
    op = Actor.operator()
    await account(services, "ann@a.example")
    await account(services, "bob@a.example")
    await admin.aliases.add(op, "info@a.example", ["ann@a.example"])
    rec = await admin.aliases.set_targets(op, "Info@A.example", ["bob@a.example",
                                                                 "ann@a.example"])
    assert rec.targets == ("bob@a.example", "ann@a.example")
    assert (await services.store.directory.get_alias("info@a.example")) == rec
    for targets in ([], ["info@a.example"], ["ghost@a.example"]):
        with pytest.raises(MailError) as exc:
            await admin.aliases.set_targets(op, "info@a.example", targets)
        assert exc.value.kind in (Kind.INVALID, Kind.NOT_FOUND)
    with pytest.raises(MailError) as exc:
        await admin.aliases.set_targets(op, "nothing@a.example", ["ann@a.example"])
    assert exc.value.kind is Kind.NOT_FOUND
    pleb = Actor(await account(services, "pleb@b.example"), WEB)
    with pytest.raises(MailError) as exc:
        await admin.aliases.set_targets(pleb, "info@a.example", ["ann@a.example"])
    assert exc.value.kind in (Kind.NOT_FOUND, Kind.NO_PERM)
    assert (await admin.audit(op, limit=1))[0].action == "alias.set"


def test_one_import_holds_at_most_max_import_accounts() -> None:
    """Review finding: the import page had no cap on its rows (the API had one); the parser
    the CLI, the page and the API share refuses more than MAX_IMPORT for the page and API."""
    from postroom.services.admin.imports import MAX_IMPORT
    text = "".join(f"u{i}@a.example,pw-123456789\n" for i in range(MAX_IMPORT + 1))
    with pytest.raises(MailError) as exc:
        parse_accounts_csv(text, "big.csv", MAX_IMPORT)
    assert exc.value.kind is Kind.INVALID and "split the import" in exc.value.text
    assert len(parse_accounts_csv(text.split("\n", 1)[1], most=MAX_IMPORT)) == MAX_IMPORT
    assert len(parse_accounts_csv(text)) == MAX_IMPORT + 1  # the operator's CLI: no cap


async def test_an_import_stops_when_its_role_is_revoked_and_one_per_owner(
        services: Services) -> None:
    """Review finding: a job kept the rights it started with, so a domain administrator whose
    role was revoked went on adding accounts; and one administrator could hold every import
    slot. Each batch now runs with the rights of the moment, and an owner runs one at a time."""
    admin = services.admin
    op = Actor.operator()
    await admin.domains.add(op, "a.example")
    await account(services, "boss@a.example")
    await admin.roles.set(op, "boss@a.example", "a.example", True)
    boss = Actor(await services.directory.principal_for(
        await services.directory.require_account("boss@a.example")), WEB)
    jobs = ImportJobs(admin.users, batch=1, max_running=5)
    job = await jobs.start(boss, parse_accounts_csv(
        "".join(f"r{i}@a.example,pw-secret-{i:04d}\n" for i in range(400))))
    with pytest.raises(MailError) as exc:  # the same owner: one import at a time
        await jobs.start(boss, parse_accounts_csv("z@a.example,pw-123456789\n"))
    assert exc.value.kind is Kind.LIMIT and "still running" in exc.value.text
    await admin.roles.set(op, "boss@a.example", "a.example", False)
    await _wait(job, lambda: job.state != "running")
    assert job.state == "failed" and job.done < 400
    await jobs.close()
