"""The form's rules model (services/sieve/rules.py): every rule kind generates a script that
compiles, reads back the same, and does what the form says over real messages (the test
harness's interpreter); the vacation's dates in a zone and as instants; refusals by field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from postroom.core.errors import MailError
from postroom.services.sieve.rules import (
    Condition,
    Rule,
    Rules,
    Vacation,
    check,
    is_pristine,
    move_rule,
    parse_generated,
    put_rule,
    remove_rule,
    to_sieve,
)
from postroom.sieve import compile_script
from postroom.sieve.actions import Vacation as VacationAction
from tests.support.sieve import DictEnvironment, run_script, summary

LIST_MAIL = """\
From: "Ann Example" <ann@lists.example>
To: me@example.org
Cc: team@example.org
Subject: [dev] weekly build
List-Id: Developers <dev.lists.example>

body
"""

PLAIN = """\
From: Bob <bob@example.net>
To: me@example.org
Subject: lunch?

hi
"""


def rules(*items: Rule, vacation: Vacation | None = None) -> Rules:
    return Rules(tuple(items), vacation or Vacation())


def cond(field: str, op: str, value: str) -> Condition:
    return Condition(field, op, value)


KINDS: dict[str, Rule] = {
    "from-folder": Rule("from", conditions=(cond("from", "contains", "lists.example"),),
                        folder="Lists"),
    "from-is": Rule(conditions=(cond("from", "is", "ann@lists.example"),), folder="Ann"),
    "subject": Rule(conditions=(cond("subject", "contains", "[dev]"),), folder="Dev"),
    "to": Rule(conditions=(cond("to", "is", "team@example.org"),), folder="Team"),
    "list": Rule(conditions=(cond("list", "is", "dev.lists.example"),), folder="Lists/dev"),
    "list-contains": Rule(conditions=(cond("list", "contains", "dev.lists"),), folder="L"),
    "read": Rule(conditions=(cond("subject", "contains", "build"),), mark_read=True),
    "flag-folder": Rule(conditions=(cond("from", "contains", "ann"),), folder="F",
                        mark_read=True, flag=True),
    "forward-copy": Rule(conditions=(cond("from", "contains", "ann"),),
                         forward="ann@elsewhere.example"),
    "forward-only": Rule(conditions=(cond("from", "contains", "ann"),),
                         forward="ann@elsewhere.example", keep_copy=False),
    "discard": Rule(conditions=(cond("subject", "contains", "weekly"),), discard=True),
    "not": Rule(conditions=(cond("subject", "not_contains", "lunch"),), folder="NotLunch"),
    "any": Rule(match="any", conditions=(cond("subject", "is", "nothing"),
                                          cond("to", "contains", "team@")), folder="Any"),
    "all-miss": Rule(match="all", conditions=(cond("subject", "is", "nothing"),
                                               cond("to", "contains", "team@")), folder="No"),
    "every": Rule(folder="Everything"),
    "stop": Rule(conditions=(cond("list", "contains", "dev"),), folder="Lists", stop=True),
}

# what each rule does to LIST_MAIL, alone
EXPECTED: dict[str, list[str]] = {
    "from-folder": ["fileinto Lists"],
    "from-is": ["fileinto Ann"],
    "subject": ["fileinto Dev"],
    "to": ["fileinto Team"],
    "list": ["fileinto Lists/dev"],
    "list-contains": ["fileinto L"],
    "read": ["implicit keep :flags \\Seen"],
    "flag-folder": ["fileinto F :flags \\Seen \\Flagged"],
    "forward-copy": ["redirect ann@elsewhere.example :copy", "implicit keep"],
    "forward-only": ["redirect ann@elsewhere.example"],
    "discard": ["discard"],
    "not": ["fileinto NotLunch"],
    "any": ["fileinto Any"],
    "all-miss": ["implicit keep"],
    "every": ["fileinto Everything"],
    "stop": ["fileinto Lists"],
}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_every_rule_kind_compiles_round_trips_and_runs(kind: str) -> None:
    model = check(rules(KINDS[kind]))
    text = to_sieve(model)
    compile_script(text)
    assert parse_generated(text) == model
    assert is_pristine(text, model)
    env = DictEnvironment(mailboxes={"INBOX", "Lists", "Ann", "Dev", "Team", "Lists/dev", "L",
                                     "F", "NotLunch", "Any", "No", "Everything"})
    assert summary(await run_script(text, LIST_MAIL, env=env)) == EXPECTED[kind]


async def test_rules_run_in_order_and_stop_ends_them() -> None:
    model = rules(KINDS["stop"], KINDS["subject"])
    assert summary(await run_script(to_sieve(model), LIST_MAIL)) == ["fileinto Lists"]
    model = rules(KINDS["list-contains"], KINDS["subject"])
    assert summary(await run_script(to_sieve(model), LIST_MAIL)) == ["fileinto L",
                                                                     "fileinto Dev"]
    # a plain message matches none of them: kept
    assert summary(await run_script(to_sieve(model), PLAIN)) == ["implicit keep"]


async def test_a_disabled_rule_is_kept_in_the_marker_only() -> None:
    off = Rule("off", enabled=False, folder="Dev")
    model = rules(off)
    text = to_sieve(model)
    assert "fileinto" not in text.split("\n", 1)[1]
    assert parse_generated(text) == model
    assert summary(await run_script(text, LIST_MAIL)) == ["implicit keep"]


def test_the_script_is_readable() -> None:
    text = to_sieve(rules(KINDS["list"], KINDS["forward-copy"]))
    body = text.split("\n", 3)[3]
    assert body.startswith('require ["copy", "fileinto"];'), body
    assert 'header :matches "list-id" ["dev.lists.example", "*<dev.lists.example>"]' in body
    assert 'redirect :copy "ann@elsewhere.example";' in body
    assert "# Rule 1" in body and "# Rule 2" in body


def test_quotes_and_wildcards_are_escaped() -> None:
    rule = Rule(conditions=(cond("subject", "contains", 'say "hi" \\ *now*'),
                            cond("list", "is", "a*b?.example")), folder='My "F"')
    text = to_sieve(rules(rule))
    compile_script(text)
    assert 'header :contains "subject" "say \\"hi\\" \\\\ *now*"' in text
    assert '"a\\\\*b\\\\?.example"' in text
    assert parse_generated(text) == rules(rule)


async def test_escaped_values_still_match() -> None:
    rule = Rule(conditions=(cond("subject", "contains", 'say "hi"'),), folder="Q")
    mail = 'From: a@b.example\nSubject: we say "hi" here\n\nx\n'
    env = DictEnvironment(mailboxes={"INBOX", "Q"})
    assert summary(await run_script(to_sieve(rules(rule)), mail, env=env)) == ["fileinto Q"]


def test_a_hand_edit_is_noticed() -> None:
    model = rules(KINDS["subject"])
    text = to_sieve(model)
    edited = text.replace('fileinto "Dev"', 'fileinto "Other"')
    assert parse_generated(edited) == model
    assert not is_pristine(edited, model)
    assert is_pristine(text.replace("\n", "\r\n"), model)
    assert parse_generated("require \"fileinto\";\nfileinto \"x\";\n") is None
    assert parse_generated("# postroom-rules v1 {not json\nkeep;\n") is None
    assert parse_generated('# postroom-rules v1 {"rules":[{"match":"some"}]}\n') is None


# -- vacation ----------------------------------------------------------------------------------
VAC = Vacation(True, "2026-12-20", "2027-01-05", "Europe/Paris", "Away", "I am away.\nBack "
               "in January.", days=3, addresses=("me@alias.example",))


async def test_vacation_with_dates_in_a_zone() -> None:
    text = to_sieve(rules(vacation=VAC))
    assert 'currentdate :zone "+0100" :value "ge" "date" "2026-12-20"' in text
    assert 'currentdate :zone "+0100" :value "le" "date" "2027-01-05"' in text
    compile_script(text)
    assert parse_generated(text) == rules(vacation=VAC)

    async def at(when: datetime) -> list[str]:
        env = DictEnvironment(clock=when)
        return summary(await run_script(text, PLAIN, env=env))
    assert await at(datetime(2026, 12, 19, 22, 59, tzinfo=UTC)) == ["implicit keep"]
    assert await at(datetime(2026, 12, 19, 23, 0, tzinfo=UTC)) == ["vacation", "implicit keep"]
    assert await at(datetime(2027, 1, 5, 22, 59, tzinfo=UTC)) == ["vacation", "implicit keep"]
    assert await at(datetime(2027, 1, 5, 23, 0, tzinfo=UTC)) == ["implicit keep"]
    env = DictEnvironment(clock=datetime(2026, 12, 25, tzinfo=UTC))
    result = await run_script(text, PLAIN, env=env)
    action = next(a for a in result.actions if isinstance(a, VacationAction))
    assert action.subject == "Away" and action.seconds == 3 * 86400
    assert action.reason == "I am away.\r\nBack in January."
    assert action.addresses == ("me@alias.example",)


def test_a_summer_day_has_the_summer_offset() -> None:
    text = to_sieve(rules(vacation=Vacation(True, "2026-07-01", "", "Europe/Paris", text="x")))
    assert 'currentdate :zone "+0200" :value "ge" "date" "2026-07-01"' in text
    assert '"le"' not in text
    compile_script(text)


async def test_vacation_with_instants_and_without_dates() -> None:
    vac = Vacation(True, "2026-12-20T08:00:00Z", "2026-12-24T17:30:00Z", text="Away")
    text = to_sieve(rules(vacation=vac))
    assert 'currentdate :zone "+0000" :value "lt" "iso8601" "2026-12-24T17:30:00Z"' in text
    for when, answered in ((datetime(2026, 12, 20, 7, 59, 59, tzinfo=UTC), False),
                           (datetime(2026, 12, 20, 8, tzinfo=UTC), True),
                           (datetime(2026, 12, 24, 17, 29, 59, tzinfo=UTC), True),
                           (datetime(2026, 12, 24, 17, 30, tzinfo=UTC), False)):
        got = summary(await run_script(text, PLAIN, env=DictEnvironment(clock=when)))
        assert ("vacation" in got) is answered, (when, got)
    always = to_sieve(rules(vacation=Vacation(True, text="Away")))
    assert "currentdate" not in always and "date" not in always.split("\n")[3]
    assert summary(await run_script(always, PLAIN)) == ["vacation", "implicit keep"]
    off = to_sieve(rules(vacation=Vacation(False, text="Away")))
    assert "vacation" not in off.split("\n", 1)[1]


async def test_an_html_vacation_is_a_mime_part() -> None:
    vac = Vacation(True, text="<p>Loin du bureau – à bientôt</p>", html=True)
    text = to_sieve(rules(vacation=vac))
    compile_script(text)
    result = await run_script(text, PLAIN)
    action = next(a for a in result.actions if isinstance(a, VacationAction))
    assert action.mime and "Content-Type: text/html; charset=utf-8" in action.reason
    assert "quoted-printable" in action.reason
    assert is_pristine(text, rules(vacation=vac)) and "\r" not in text
    crlf = Vacation(True, text="<p>a</p>\r\n<p>b</p>", html=True)
    assert is_pristine(to_sieve(rules(vacation=crlf)), rules(vacation=crlf))


async def test_vacation_comes_before_rules_that_stop_or_discard() -> None:
    model = rules(KINDS["discard"], vacation=Vacation(True, text="Away"))
    got = summary(await run_script(to_sieve(model), LIST_MAIL))
    assert got == ["vacation", "discard"]


def test_vacation_window_and_state() -> None:
    start, end = VAC.window()
    assert start == datetime(2026, 12, 19, 23, tzinfo=UTC)
    assert end == datetime(2027, 1, 5, 23, tzinfo=UTC)
    assert VAC.state(datetime(2026, 12, 1, tzinfo=UTC)) == "scheduled"
    assert VAC.state(datetime(2027, 2, 1, tzinfo=UTC)) == "over"
    assert Vacation(True, text="x").state() == "on"
    assert Vacation(False).state() == "off"


# -- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("model, word", [
    (rules(Rule(conditions=(cond("from", "contains", "x"),))), "actions:"),
    (rules(Rule(conditions=(cond("size", "contains", "x"),), folder="F")), "field:"),
    (rules(Rule(conditions=(cond("from", "regex", "x"),), folder="F")), "op:"),
    (rules(Rule(conditions=(cond("from", "contains", "  "),), folder="F")), "value:"),
    (rules(Rule(folder="F", discard=True)), "discard:"),
    (rules(Rule(forward="not an address")), "forward:"),
    (rules(Rule(folder="a\nb")), "folder:"),
    (rules(vacation=Vacation(True, text="")), "text:"),
    (rules(vacation=Vacation(True, "2026-13-01", text="x")), "start:"),
    (rules(vacation=Vacation(True, "20.12.2026", text="x")), "start:"),
    (rules(vacation=Vacation(True, "2026-12-20", "2026-12-19", text="x")), "end:"),
    (rules(vacation=Vacation(True, text="x", days=0)), "days:"),
    (rules(vacation=Vacation(True, text="x", zone="Mars/Olympus")), "zone:"),
    (rules(vacation=Vacation(True, text="x", subject="a\nb")), "subject:"),
    (rules(vacation=Vacation(True, text="x", addresses=("nope",))), "addresses:"),
])
def test_bad_values_are_refused_by_field(model: Rules, word: str) -> None:
    with pytest.raises(MailError) as exc:
        check(model)
    assert exc.value.text.startswith(word), exc.value.text


def test_editing_the_list() -> None:
    a, b, c = (Rule(str(n), folder=str(n)) for n in range(3))
    model = put_rule(put_rule(put_rule(Rules(), a, None), b, None), c, None)
    assert [r.name for r in model.rules] == ["0", "1", "2"]
    assert [r.name for r in move_rule(model, 2, -1).rules] == ["0", "2", "1"]
    assert [r.name for r in move_rule(model, 0, -1).rules] == ["0", "1", "2"]
    assert [r.name for r in move_rule(model, 0, 1).rules] == ["1", "0", "2"]
    assert [r.name for r in remove_rule(model, 1).rules] == ["0", "2"]
    assert put_rule(model, Rule("x", folder="x"), 1).rules[1].name == "x"
    with pytest.raises(MailError):
        remove_rule(model, 3)
    with pytest.raises(MailError):
        put_rule(model, Rule("y"), None)  # no action
