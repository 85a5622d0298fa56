"""The audit log is append-only through the API: no route can change or remove a row."""

from __future__ import annotations

from pathlib import Path

from tests.api.test_api import make_site

WRITES = {"put", "patch", "delete", "post"}


def test_no_route_updates_or_deletes_audit_rows(tmp_path: Path) -> None:
    site = make_site(tmp_path, role=None)
    try:
        paths: dict[str, dict[str, object]] = site.client.get("/openapi.json").json()["paths"]
    finally:
        site.store.close()
    audit_routes = {path: set(methods) for path, methods in paths.items() if "audit" in path}
    assert audit_routes, "expected at least the read route /cases/{case_id}/audit"
    # Reads only: a new route that writes to the audit log by path fails here.
    assert {path: methods & WRITES for path, methods in audit_routes.items()} == dict.fromkeys(
        audit_routes, set()
    )
