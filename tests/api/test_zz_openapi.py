"""The OpenAPI 3.1 document: valid (openapi-spec-validator), generated from the same table
the routes come from, every operation naming its CLI equivalent; and, after the other API
test modules ran (this file sorts last), every operation was answered with a 2xx by some
test. Each answer of the suite was already checked against the document by the client."""

from __future__ import annotations

from pathlib import Path

import pytest
from openapi_spec_validator import validate

from tests.api.conftest import Clients

# API-only operations: no CLI command does these
API_ONLY = {"me", "openapi", "list_folders_own", "create_folder_own", "rename_folder_own",
            "delete_folder_own", "get_acl_own", "set_acl_own", "delete_acl_own",
            "list_remotes_own", "add_remote_own", "show_remote_own",
            "set_remote_own", "remove_remote_own", "list_app_passwords",
            "create_app_password", "revoke_app_password", "my_devices", "wipe_my_device"}


def operations(api: Clients) -> list[tuple[str, str, dict[str, object]]]:
    return [(method.upper(), path, op) for path, item in api.spec.doc["paths"].items()
            for method, op in item.items()]


def test_the_document_is_valid_openapi_3_1(api: Clients) -> None:
    doc = api.spec.doc
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    ids = [op["operationId"] for _, _, op in operations(api)]
    assert len(ids) == len(set(ids)) >= 100
    for method, path, op in operations(api):
        assert op["operationId"] in API_ONLY or "CLI: `postroom" in str(
            op.get("description", "")), (method, path)
        assert "4XX" in op["responses"], (method, path)  # type: ignore[operator]


def test_every_operation_was_exercised(api: Clients, exercised: set[tuple[str, str]],
                                       request: pytest.FixtureRequest) -> None:
    modules = {Path(str(item.fspath)).name for item in request.session.items}
    wanted = {p.name for p in Path(__file__).parent.glob("test_*.py")}
    if not wanted <= modules:
        pytest.skip("only with every tests/api module in the run")
    missing = sorted({(m, p) for m, p, op in operations(api)} - exercised
                     - {("GET", "/api/v1/openapi.json")})
    assert not missing, missing


def test_docs_list_every_endpoint(api: Clients) -> None:
    text = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    for method, path, _ in operations(api):
        assert f"`{method} {path}`" in text, (method, path)


def test_answers_are_not_cached(api: Clients) -> None:
    for client, path in ((api.root, "/api/v1/me"), (api.anon, "/api/v1/me")):
        assert client.get(path).headers["Cache-Control"] == "no-store"
