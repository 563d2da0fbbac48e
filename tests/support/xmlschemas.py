"""The client-autoconfiguration documents' schemas (tests/support/schemas/), checked with lxml.

The XSDs are ours, written from the published format descriptions (each file's header says
which); ``check`` fails a test with every validation error and its line, not just the first.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

SCHEMAS = Path(__file__).parent / "schemas"
FILES = {"thunderbird": "thunderbird-config-v1.1.xsd",
         "autodiscover": "autodiscover-response.xsd",
         "autodiscover-request": "autodiscover-request.xsd"}


@cache
def schema(kind: str) -> etree.XMLSchema:
    # parsed from the file, so that xs:import finds its neighbour by a relative schemaLocation
    return etree.XMLSchema(etree.parse(str(SCHEMAS / FILES[kind])))


def errors(kind: str, document: bytes) -> list[str]:
    """Every validation error of ``document`` against the ``kind`` schema (empty: valid)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    xsd = schema(kind)
    if xsd.validate(etree.fromstring(document, parser)):
        return []
    return [f"line {e.line}: {e.message}" for e in xsd.error_log]


def check(kind: str, document: bytes) -> None:
    problems = errors(kind, document)
    assert not problems, f"{kind} document does not validate:\n" + "\n".join(problems) + \
        "\n" + document.decode(errors="replace")
