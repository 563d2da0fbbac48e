"""The spamd and clamav checks alone (services/pipeline/spamd.py, clamav.py), each judging a
``Message`` with the real daemon behind it, and their lines in the mail log."""

from __future__ import annotations

from postroom.config_filters import ClamavConfig, SpamdConfig
from postroom.core.envelope import Stage
from postroom.core.errors import Kind
from postroom.core.principal import Principal
from postroom.services.pipeline import BytesContent, Client, Message, Verdict, header_section
from postroom.services.pipeline import clamav as clamav_check
from postroom.services.pipeline import spamd as spamd_check
from tests.filters.test_clients import HAM, spam_message, with_attachment, zipped
from tests.support.daemons import EICAR, SIGNATURE, Clamd, Spamd, free_port
from tests.support.logs import server_log


def message(data: bytes, principal: Principal | None = None) -> Message:
    msg = Message(Client("192.0.2.10", "client.example", principal=principal),
                  "sender@example.net", ["rcpt@example.test"])
    msg.head = header_section(data)
    msg.size = len(data)
    msg.content = BytesContent(data)
    return msg


def spamd_cfg(spamd: Spamd, **kw: object) -> SpamdConfig:
    return SpamdConfig(address=spamd.address, **kw)  # type: ignore[arg-type]


# -- spamd -----------------------------------------------------------------------------------
async def test_gtube_is_filed_into_junk_with_the_spam_headers(spamd: Spamd) -> None:
    check = spamd_check.build(spamd_cfg(spamd), None)
    with server_log() as logged:
        j = await check.judge(Stage.CONTENT, message(spam_message()))
    assert j.verdict is Verdict.QUARANTINE
    assert j.annotations[0] == "X-Spam-Flag: YES"
    assert j.annotations[1].startswith("X-Spam-Status: Yes, score=")
    assert "GTUBE" in j.annotations[1]
    assert all(len(line) <= 78 for a in j.annotations for line in a.split("\r\n"))
    lines = [e.record for e in logged.since(0) if e.record.getMessage() == "filter"]
    assert [(r.check, r.verdict) for r in lines] == [("spamd", "junk")]  # type: ignore[attr-defined]


async def test_gtube_is_refused_over_the_reject_threshold(spamd: Spamd) -> None:
    check = spamd_check.build(spamd_cfg(spamd, reject_at=20.0), None)
    j = await check.judge(Stage.CONTENT, message(spam_message()))
    assert j.verdict is Verdict.REJECT and j.kind is Kind.SPAM
    assert "spam" in j.text


async def test_ham_passes_tagged_no(spamd: Spamd) -> None:
    check = spamd_check.build(spamd_cfg(spamd, reject_at=20.0), None)
    j = await check.judge(Stage.CONTENT, message(HAM))
    assert j.verdict is Verdict.CONTINUE
    assert j.annotations[0].startswith("X-Spam-Status: No, score=")
    assert j.annotations[1].startswith("X-Spam-Score: ")


async def test_authenticated_senders_are_not_scanned_unless_configured(spamd: Spamd) -> None:
    alice = Principal(1, "alice@example.test", 1)
    skip = spamd_check.build(spamd_cfg(spamd), None)
    j = await skip.judge(Stage.CONTENT, message(spam_message(), alice))
    assert j.verdict is Verdict.CONTINUE and not j.annotations
    scan = spamd_check.build(spamd_cfg(spamd, scan_authenticated=True), None)
    j = await scan.judge(Stage.CONTENT, message(spam_message(), alice))
    assert j.verdict is Verdict.QUARANTINE


async def test_larger_than_max_size_passes_unscanned(spamd: Spamd) -> None:
    check = spamd_check.build(spamd_cfg(spamd, max_size=1024), None)
    j = await check.judge(Stage.CONTENT, message(spam_message(b"y" * 2000)))
    assert j.verdict is Verdict.CONTINUE and not j.annotations


async def test_spamd_down_accepts_unchecked_or_tempfails() -> None:
    down = f"127.0.0.1:{free_port()}"
    accept = spamd_check.build(SpamdConfig(address=down, connect_timeout=1), None)
    j = await accept.judge(Stage.CONTENT, message(HAM))
    assert j.verdict is Verdict.CONTINUE and "Unchecked" in j.annotations[0]
    strict = spamd_check.build(SpamdConfig(address=down, connect_timeout=1,
                                           on_error="tempfail"), None)
    j = await strict.judge(Stage.CONTENT, message(HAM))
    assert j.verdict is Verdict.TEMPFAIL and j.kind is Kind.TEMPORARY


# -- clamav ----------------------------------------------------------------------------------
async def test_eicar_is_refused_naming_the_signature(clamd_up: Clamd) -> None:
    check = clamav_check.build(ClamavConfig(address=clamd_up.address))
    for content in (EICAR, with_attachment(EICAR, "e.com"), with_attachment(zipped(EICAR),
                                                                              "e.zip")):
        j = await check.judge(Stage.CONTENT, message(content))
        assert j.verdict is Verdict.REJECT and j.kind is Kind.VIRUS
        assert SIGNATURE in j.text


async def test_eicar_quarantined_when_configured(clamd_up: Clamd) -> None:
    check = clamav_check.build(ClamavConfig(address=clamd_up.socket,
                                            on_infected="quarantine"))
    j = await check.judge(Stage.CONTENT, message(with_attachment(EICAR, "e.com")))
    assert j.verdict is Verdict.QUARANTINE
    assert j.annotations == (f"X-Virus-Status: Infected ({SIGNATURE}.UNOFFICIAL)",)


async def test_clean_mail_passes(clamd_up: Clamd) -> None:
    check = clamav_check.build(ClamavConfig(address=clamd_up.address, chunk_size=1024))
    j = await check.judge(Stage.CONTENT, message(HAM))
    assert j.verdict is Verdict.CONTINUE and j.annotations == ("X-Virus-Status: Clean",)


async def test_clamd_down_tempfails_or_accepts_unchecked() -> None:
    down = f"127.0.0.1:{free_port()}"
    strict = clamav_check.build(ClamavConfig(address=down, connect_timeout=1,
                                             retry_delay=0.1))
    j = await strict.judge(Stage.CONTENT, message(HAM))
    assert j.verdict is Verdict.TEMPFAIL
    lax = clamav_check.build(ClamavConfig(address=down, connect_timeout=1, retries=0,
                                          on_error="accept"))
    j = await lax.judge(Stage.CONTENT, message(HAM))
    assert j.verdict is Verdict.CONTINUE and j.annotations[0].startswith(
        "X-Virus-Status: Unchecked")


async def test_too_large_for_clamd(clamd_up: Clamd) -> None:
    data = HAM + b"z" * 4096
    lax = clamav_check.build(ClamavConfig(address=clamd_up.address, max_stream=2048))
    j = await lax.judge(Stage.CONTENT, message(data))
    assert j.verdict is Verdict.CONTINUE and "too large" in j.annotations[0]
    strict = clamav_check.build(ClamavConfig(address=clamd_up.address, max_stream=2048,
                                             oversize="reject"))
    j = await strict.judge(Stage.CONTENT, message(data))
    assert j.verdict is Verdict.REJECT and j.kind is Kind.LIMIT


async def test_a_restarting_clamd_is_retried(clamd_up: Clamd) -> None:
    """Refused once (clamd stopped), up again within the retry delay: the scan succeeds."""
    import asyncio
    check = clamav_check.build(ClamavConfig(address=clamd_up.address, retry_delay=3.0))
    clamd_up.stop()
    loop = asyncio.get_running_loop()
    restart = loop.run_in_executor(None, clamd_up.start)
    j = await check.judge(Stage.CONTENT, message(EICAR))
    await restart
    assert j.verdict is Verdict.REJECT and j.kind is Kind.VIRUS
