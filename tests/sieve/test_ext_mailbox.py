"""RFC 5490: mailboxexists, fileinto :create, metadata/metadataexists,
servermetadata/servermetadataexists, with the RFC's examples."""

from __future__ import annotations

import pytest

from postroom.sieve import compile_script
from postroom.sieve.errors import SieveSyntaxError
from tests.support.sieve import DictEnvironment, run_script, summary

MESSAGE = "From: partner@example.net\nTo: me@example.org\nSubject: Offer\n\nhello\n"


@pytest.mark.parametrize(("mailboxes", "expected"), [
    ({"INBOX", "Partners"}, ["fileinto Partners"]),
    ({"INBOX"}, ["reject This message was not accepted by the Mailstore"]),
])
async def test_rfc_5490_section_3_1_example(mailboxes: set[str], expected: list[str]) -> None:
    script = ('require ["fileinto", "reject", "mailbox"];\n'
              'if mailboxexists "Partners" {\n'
              '   fileinto "Partners";\n'
              '} else {\n'
              '   reject "This message was not accepted by the Mailstore";\n'
              '}')
    result = await run_script(script, MESSAGE, env=DictEnvironment(mailboxes=mailboxes))
    assert summary(result) == expected


async def test_mailboxexists_needs_every_folder() -> None:
    env = DictEnvironment(mailboxes={"INBOX", "A"})
    script = 'require "mailbox";\nif mailboxexists ["A", "B"] { discard; }'
    assert summary(await run_script(script, MESSAGE, env=env)) == ["implicit keep"]
    env.mailboxes.add("B")
    assert summary(await run_script(script, MESSAGE, env=env)) == ["discard"]


async def test_fileinto_create() -> None:
    result = await run_script('require ["fileinto", "mailbox"];\n'
                              'fileinto :create "Lists/New";', MESSAGE)
    assert summary(result) == ["fileinto Lists/New :create"]


async def test_create_needs_require_mailbox() -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script('require "fileinto";\nfileinto :create "X";')
    assert "mailbox" in caught.value.message
    assert (caught.value.line, caught.value.column) == (2, 10)


VACATION_EXAMPLE = """\
require ["mboxmetadata", "vacation"];
if metadata :is "INBOX"
   "/private/vendor/vendor.isode/auto-replies" "on" {
    vacation text:
I'm away on holidays till March 2009.
Expect a delay.
.
;
}
"""


@pytest.mark.parametrize(("value", "replies"), [("on", True), ("off", False), (None, False)])
async def test_rfc_5490_section_3_3_example(value: str | None, replies: bool) -> None:
    metadata = {} if value is None else \
        {("INBOX", "/private/vendor/vendor.isode/auto-replies"): value}
    env = DictEnvironment(metadata_values=metadata)
    result = await run_script(VACATION_EXAMPLE, MESSAGE, env=env)
    assert summary(result) == (["vacation", "implicit keep"] if replies
                               else ["implicit keep"])
    if replies:
        assert result.actions[0].reason == \
            "I'm away on holidays till March 2009.\r\nExpect a delay.\r\n"  # type: ignore


async def test_metadataexists_and_server_metadata() -> None:
    env = DictEnvironment(mailboxes={"INBOX", "Lists"}, metadata_values={
        ("Lists", "/shared/comment"): "mailing lists",
        ("Lists", "/private/color"): "blue",
        (None, "/shared/admin"): "mailto:admin@example.org",
    })
    script = ('require ["mboxmetadata", "servermetadata", "fileinto", "variables"];\n'
              'if metadataexists "Lists" ["/shared/comment", "/private/color"] '
              '{ fileinto "both"; }\n'
              'if metadataexists "Lists" ["/shared/comment", "/private/none"] '
              '{ fileinto "wrong"; }\n'
              'if metadata :contains "Lists" "/shared/comment" "list" { fileinto "contains"; }\n'
              'if servermetadataexists "/shared/admin" { fileinto "server"; }\n'
              'if servermetadata :matches "/shared/admin" "mailto:*" { fileinto "${1}"; }\n'
              'if metadata "Missing" "/shared/comment" "" { fileinto "missing"; }')
    result = await run_script(script, MESSAGE, env=env)
    assert summary(result) == ["fileinto both", "fileinto contains", "fileinto server",
                               "fileinto admin@example.org"]


async def test_servermetadata_rfc_example_sets_the_uri() -> None:
    env = DictEnvironment(metadata_values={
        (None, "/private/vendor/vendor.isode/notification-uri"): "none"})
    script = ('require ["servermetadata", "variables", "fileinto"];\n'
              'if servermetadata :matches\n'
              '   "/private/vendor/vendor.isode/notification-uri" "*" {\n'
              '    set "notif_uri" "${0}";\n'
              '}\n'
              'if not string :is "${notif_uri}" "none" { fileinto "notify"; }')
    assert summary(await run_script(script, MESSAGE, env=env)) == ["implicit keep"]


@pytest.mark.parametrize("name", ["private/x", "/public/x", "/shared/", "/shared//x",
                                  "/shared/a*", "/private/%", "/friep"])
async def test_bad_annotation_names_are_false_not_errors(name: str) -> None:
    env = DictEnvironment(metadata_values={("INBOX", name): "1", (None, name): "1"})
    script = ('require ["mboxmetadata", "servermetadata", "fileinto"];\n'
              f'if metadataexists "INBOX" "{name}" {{ fileinto "a"; }}\n'
              f'if metadata :contains "INBOX" "{name}" "" {{ fileinto "b"; }}\n'
              f'if servermetadataexists "{name}" {{ fileinto "c"; }}\n'
              f'if servermetadata :contains "{name}" "" {{ fileinto "d"; }}\n')
    result = await run_script(script, MESSAGE, env=env)
    assert summary(result) == ["implicit keep"]
    assert sum("annotation name" in note for note in result.log) == 4
    assert not any(call[0] == "metadata" for call in env.calls)  # never asked


async def test_metadataexists_rejects_one_bad_name_among_good_ones() -> None:
    env = DictEnvironment(metadata_values={("INBOX", "/shared/frop"): "1",
                                           ("INBOX", "/private/frml"): "1"})
    script = ('require "mboxmetadata";\n'
              'if metadataexists "INBOX" ["/shared/frop", "/friep", "/private/frml"] '
              '{ discard; }')
    assert summary(await run_script(script, MESSAGE, env=env)) == ["implicit keep"]


async def test_tests_need_their_capability() -> None:
    for source in ('if mailboxexists "A" { }', 'if metadataexists "A" "/shared/x" { }',
                   'if servermetadataexists "/shared/x" { }'):
        with pytest.raises(SieveSyntaxError):
            compile_script(source)
