"""The parsing and arithmetic the DAV bench relies on (bench/dav.py, bench/radicale.py):
counting multistatus responses, Server-Timing, percentiles and medians, ratios, finding a
collection's href, the generated data, Radicale's configuration, and the Makefile's package
list agreeing with the bench's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import dav
from bench.radicale import PACKAGES, Radicale, collection_props, config_text
from postroom.pim import ical, vcard

ROOT = Path(__file__).resolve().parents[2]

MULTISTATUS = b"""<?xml version="1.0"?>
<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a/</D:href><D:propstat><D:prop>
<D:displayname>Calendar</D:displayname></D:prop></D:propstat></D:response>
<D:response ><D:href>/b/</D:href><D:propstat><D:prop><D:displayname>Contacts</D:displayname>
</D:prop></D:propstat></D:response><D:responsedescription>x</D:responsedescription>
</D:multistatus>"""


def test_responses_are_counted_with_any_prefix() -> None:
    assert dav.responses(MULTISTATUS) == 2
    assert dav.responses(b'<multistatus xmlns="DAV:"><response><href>/x</href></response>'
                         b'<response><href>/y</href></response></multistatus>') == 2
    assert dav.responses(b"<d:multistatus xmlns:d='DAV:'/>") == 0


def test_find_href_by_displayname() -> None:
    assert dav.find_href(MULTISTATUS, "Contacts") == "/b/"
    assert dav.find_href(MULTISTATUS, "Calendar") == "/a/"
    with pytest.raises(SystemExit):
        dav.find_href(MULTISTATUS, "Tasks")


@pytest.mark.parametrize(("header", "expected"), [
    ("app;dur=12.5", {"app": 12.5}),
    ("db;dur=3, app;dur=7;desc=\"all\"", {"db": 3.0, "app": 7.0}),
    ("app;dur=x, app;dur=4", {"app": 4.0}),
    ("", {}),
    ("app", {}),
])
def test_server_timing(header: str, expected: dict[str, float]) -> None:
    assert dav.server_timing(header) == expected


def test_percentiles_medians_ratios() -> None:
    assert dav.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert dav.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.95) == 5.0
    rounds = [{"p50_ms": 10.0, "responses": 97, "status": 207},
              {"p50_ms": 30.0, "responses": 97, "status": 207},
              {"p50_ms": 20.0, "responses": 97, "status": 207}]
    merged = dav.median_summaries(rounds)
    assert merged == {"p50_ms": 20.0, "responses": 97, "status": 207}
    assert isinstance(merged["responses"], int)
    assert dav.ratio({"p50_ms": 30.0}, {"p50_ms": 10.0}) == 3.0
    assert dav.ratio({}, {"p50_ms": 10.0}) is None


def test_generated_data_is_valid_and_spread() -> None:
    months = set()
    for i in range(0, 400, 7):
        name, data = dav.event(i)
        index = ical.index_calendar(data)
        assert name == f"{index.uid}.ics" and index.component == "VEVENT"
        assert index.recurring == (i % 20 == 0)
        months.add(re.search(rb"DTSTART[^:]*:2026(\d\d)", data).group(1))  # type: ignore[union-attr]
    assert len(months) == 12
    name, data = dav.card(120)
    assert vcard.index_card(data).summary == "Person 120" and name.endswith(".vcf")
    joined = b"".join(dav.ics_stream(30))
    assert joined.count(b"BEGIN:VEVENT") == 30 and joined.count(b"BEGIN:VCALENDAR") == 1
    hits = [i for i in range(1000) if dav.SEARCH_TEXT in f"person {i}"]
    assert len(hits) == 11
    assert dav._month_day(0) == (1, 1) and dav._month_day(364) == (12, 31)
    assert dav._month_day(59) == (3, 1)


def test_workloads_name_their_collections() -> None:
    side = dav.Side("x", "127.0.0.1", 1, False, "/cal/", "/book/")
    for name in dav.WORKLOADS:
        path, body, depth = dav.workload(side, name)
        assert path == ("/book/" if name == "search" else "/cal/")
        assert body.startswith("<?xml") and depth in ("0", "1")
    assert "calendar-data" in dav.workload(side, "month+data")[1]
    assert "calendar-data" not in dav.workload(side, "month")[1]


def test_radicale_layout_and_config(tmp_path: Path) -> None:
    text = config_text(5232, tmp_path)
    assert "hosts = 127.0.0.1:5232" in text and "htpasswd_encryption = plain" in text
    assert str(tmp_path / "collections") in text
    rd = Radicale(tmp_path)
    rd.add_user("dav@bench.test", "pw")
    path = rd.collection("dav@bench.test", "calendar", "calendar", "Calendar",
                         [dav.event(1), dav.event(2)])
    assert path == "/dav@bench.test/calendar/"
    folder = tmp_path / "collections" / "collection-root" / "dav@bench.test" / "calendar"
    assert json.loads((folder / ".Radicale.props").read_text())["tag"] == "VCALENDAR"
    assert len(list(folder.glob("*.ics"))) == 2
    assert collection_props("contacts", "C") == {"tag": "VADDRESSBOOK", "D:displayname": "C"}
    assert (tmp_path / "users").read_text() == "dav@bench.test:pw\n"


def test_makefile_installs_the_bench_packages() -> None:
    text = (ROOT / "Makefile").read_text()
    line = re.search(r"^DEB_BENCH_DAV_PACKAGES\s*:?=\s*(.*)$", text, re.MULTILINE)
    assert line is not None and line.group(1).split() == PACKAGES
