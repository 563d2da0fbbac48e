"""The OpenAPI 3.1 document of ``/api/v1``, generated from the endpoint table and the msgspec
models (web/api/framework.py, web/api/models.py), never written by hand.

OpenAPI 3.1 uses JSON Schema 2020-12 for its schemas, which is what
``msgspec.json.schema_components`` produces; the schemas land in ``components/schemas`` and
every request, query parameter and response refers to them. Errors are RFC 9457 problem
details (``application/problem+json``) for every 4xx and 5xx status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from postroom import __version__
from postroom.web.api.framework import JSON, PREFIX, Endpoint, openapi_path, path_params
from postroom.web.problems import PROBLEM_TYPE

REF = "#/components/schemas/{name}"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Problem",
    "description": "RFC 9457 problem details; detail is the text the CLI prints",
    "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                   "status": {"type": "integer"}, "detail": {"type": "string"},
                   "instance": {"type": "string"}},
    "required": ["type", "title", "status"]}

DESCRIPTION = (
    "Postroom's administration API: the same services as the `postroom` command line, with "
    "the same checks, audit records and error messages. Authenticate with an API token "
    "(`Authorization: Bearer prt_...`, made with `postroom token create` or `POST "
    f"{PREFIX}/tokens`) or with a WebAdmin session cookie (then unsafe methods need the "
    "`X-CSRF-Token` header). Errors are RFC 9457 problem details. See docs/api.md.")


def document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    types: list[Any] = []
    for e in endpoints:
        for t in (e.body, e.query, None if e.raw else e.out):
            if t is not None and t not in types:
                types.append(t)
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    schema_of = dict(zip(map(repr, types), schemas, strict=True))
    components["Problem"] = PROBLEM_SCHEMA
    problem = {"description": "Problem details (RFC 9457)",
               "content": {PROBLEM_TYPE: {"schema": {"$ref": REF.format(name="Problem")}}}}
    paths: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for e in endpoints:
        assert e.operation_id not in seen, f"two operations named {e.operation_id}"
        seen.add(e.operation_id)
        op: dict[str, Any] = {"operationId": e.operation_id, "summary": e.summary,
                              "tags": [e.tag], "responses": {}}
        if e.cli:
            op["description"] = f"CLI: `{e.cli}`"
        params = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "integer", "minimum": 1} if name == "id"
                   else {"type": "string"}} for name, _ in path_params(e.path)]
        if e.query is not None:
            query = components[e.query.__name__]
            required = set(query.get("required", ()))
            params += [{"name": name, "in": "query", "required": name in required,
                        "schema": schema} for name, schema in query["properties"].items()]
        if params:
            op["parameters"] = params
        if e.body is not None:
            content: dict[str, Any] = {JSON: {"schema": schema_of[repr(e.body)]}}
            if e.csv:
                content["text/csv"] = {"schema": {"type": "string"}}
            op["requestBody"] = {"required": True, "content": content}
        elif e.upload:
            op["requestBody"] = {"required": True, "content": {
                media: {"schema": {"type": "string"}} for media in e.upload}}
        if e.out is None:
            op["responses"]["204"] = {"description": "Done"}
        else:
            schema = schema_of[repr(e.out)] if not e.raw else \
                {"type": "object"} if e.raw == JSON else {"type": "string"}
            op["responses"][str(e.status)] = {
                "description": "OK", "content": {e.raw or JSON: {"schema": schema}}}
            if e.location is not None:
                op["responses"][str(e.status)]["headers"] = {"Location": {
                    "description": "The new object (RFC 9110 §10.2.2)", "required": True,
                    "schema": {"type": "string"}}}
        op["responses"]["4XX"] = problem
        op["responses"]["5XX"] = problem
        if not e.auth:
            op["security"] = []
        paths.setdefault(openapi_path(e.path), {})[e.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Postroom administration API", "version": __version__,
                 "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [{"name": t} for t in dict.fromkeys(e.tag for e in endpoints)],
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {
                           "type": "http", "scheme": "bearer",
                           "description": "An API token (RFC 6750)"}}},
    }
