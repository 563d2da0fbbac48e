"""Space for attachments being written (security review of issue 23, finding 5): one user's
staged attachments are bounded over all their messages (``max_staged_size``), uploads running
at once count as their bytes arrive (not after they are written), and a refused upload leaves
nothing on disk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.services.webmail.compose import Composer
from tests.support.server import RunningServer, server_config
from tests.support.webmail import WEBMAIL, Webmail
from tests.support.webmail_compose import start, upload

CAP = 150_000
CONFIG = [f"web.webmail.max_staged_size={CAP}", "web.webmail.max_upload_size=100000",
          "limits.max_message_size=10000000"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("staging")),
                                      extra=WEBMAIL + CONFIG))
    try:
        yield srv
    finally:
        srv.stop()


def _composer(mail: Webmail) -> Composer:
    webmail = mail.server.server.webmail
    assert webmail is not None
    return webmail.compose


def _principal(mail: Webmail, address: str) -> Principal:
    services = mail.server.services

    async def find() -> Principal:
        rec = await services.directory.require_account(address)
        return await services.directory.principal_for(rec)
    return mail.server.call(find())


def test_one_user_s_staged_attachments_are_bounded_over_all_messages(mail: Webmail) -> None:
    address = mail.account("stager@example.test")
    web = mail.client(address)
    first, second = start(web), start(web)
    assert upload(web, first, "one.bin", bytes(100_000)).status == 201
    page = upload(web, second, "two.bin", bytes(60_000))
    assert page.status == 409 and "may take at most" in page.text, page.text
    composer = _composer(mail)
    account = _principal(mail, address).account_id
    assert account is not None
    assert composer.staging.usage(account) < CAP
    assert list(composer.staging.dir(account, second).glob("*")) != []  # its state only
    assert not list(composer.staging.dir(account, second).glob("*.part"))


def test_uploads_at_once_count_as_their_bytes_arrive(mail: Webmail) -> None:
    address = mail.account("racer@example.test")
    principal = _principal(mail, address)
    composer = _composer(mail)
    account = principal.account_id
    assert account is not None
    written: list[int] = []

    async def slow(total: int) -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            await asyncio.sleep(0.01)
            written.append(sum(p.stat().st_size for p in
                               (composer.staging.root / str(account)).rglob("*.part")))
            yield bytes(10_000)
            sent += 10_000

    async def race() -> list[object]:
        cid = await composer.start(principal)
        return await asyncio.gather(*(composer.upload(principal, cid, f"f{n}.bin",
                                                      "application/octet-stream", slow(70_000))
                                      for n in range(3)), return_exceptions=True)
    results = mail.server.call(race())
    refused = [r for r in results if isinstance(r, MailError)]
    assert refused and all(r.kind is Kind.LIMIT for r in refused), results
    assert len(refused) < 3  # what fits was kept
    assert max(written) <= CAP + 3 * 10_000  # never much past the cap, even meanwhile
    assert composer.staging.usage(account) <= CAP
    assert not [p for p in (composer.staging.root / str(account)).rglob("*.part")
                if not p.with_suffix(".json").is_file()]  # no half-written upload is left
