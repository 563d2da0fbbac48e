"""Check one HTTP answer against the OpenAPI 3.1 document: the path and method are an
operation of the document (or the answer is a problem+json error), the status is one the
operation lists (exactly, or as ``4XX``/``5XX``), the media type is one it lists for that
status, and the body validates against the schema with ``jsonschema`` (JSON Schema 2020-12,
the dialect of OpenAPI 3.1)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from jsonschema import Draft202012Validator

PROBLEM = "application/problem+json"


class Spec:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.components = doc.get("components", {})
        self.routes: list[tuple[re.Pattern[str], re.Pattern[str], str]] = []
        # a folder or network parameter may hold slashes: when no template matches with
        # one-segment parameters, the most specific (longest literal) template that matches
        # with a last parameter of several segments wins
        by_literal = sorted(doc.get("paths", {}),
                            key=lambda t: -len(re.sub(r"\{\w+\}", "", t)))
        for template in by_literal:
            parts = re.split(r"(\{\w+\})", template)
            last = max((i for i, p in enumerate(parts) if p.startswith("{")), default=-1)
            narrow = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
            wide = "".join((".+" if i == last else "[^/]+") if p.startswith("{")
                           else re.escape(p) for i, p in enumerate(parts))
            self.routes.append((re.compile(narrow + "$"), re.compile(wide + "$"), template))
        self._validators: dict[str, Draft202012Validator] = {}
        self.seen: set[tuple[str, str]] = set()  # (method, template) answered with 2xx

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            root = {**schema, "components": self.components}
            self._validators[key] = Draft202012Validator(root)
        return self._validators[key]

    def template(self, path: str) -> str | None:
        for narrow, _, template in self.routes:
            if narrow.match(path):
                return template
        for _, wide, template in self.routes:
            if wide.match(path):
                return template
        return None

    def check(self, method: str, url: str, status: int, content_type: str, body: bytes,
              headers: Mapping[str, str] | None = None) -> None:
        path = unquote(urlsplit(url).path)
        media = content_type.split(";")[0].strip()
        template = self.template(path)
        operation = self.doc["paths"][template].get(method.lower()) if template else None
        if operation is None:
            # no such operation: the router's own 404 or 405, as problem details
            assert status in (404, 405), (method, path, status)
            self._problem(media, body)
            return
        if status < 300:
            self.seen.add((method.upper(), template or ""))
        responses = operation["responses"]
        key = str(status) if str(status) in responses else f"{status // 100}XX"
        assert key in responses, f"{method} {path}: status {status} is not in the document"
        response = responses[key]
        for name, header in response.get("headers", {}).items():
            if header.get("required"):
                assert headers is not None and headers.get(name), \
                    f"{method} {path} {status}: no {name} header"
        if "content" not in response:
            assert not body, f"{method} {path}: {status} should have no body"
            return
        assert media in response["content"], \
            f"{method} {path}: {media} not among {list(response['content'])}"
        schema = response["content"][media]["schema"]
        if media.endswith("json"):
            errors = sorted(self.validator(schema).iter_errors(json.loads(body)), key=str)
            assert not errors, f"{method} {path} {status}: {errors[0].message}"

    def _problem(self, media: str, body: bytes) -> None:
        assert media == PROBLEM, media
        schema = {"$ref": "#/components/schemas/Problem"}
        self.validator(schema).validate(json.loads(body))
