"""The admin's Holds and retention screen in Chromium against the real API and store.

A span with nothing recorded is refused next to the cameras field; a span over the recorded
segment is held, listed and released with a reason; "Run now" runs a real retention pass and the
screen shows its time and counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.console.conftest import ConsoleSite, PageErrors, log_in
from tests.console.test_console import _local

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _reason(page: Any, title: str, reason: str) -> None:
    dialog = page.get_by_role("dialog", name=title)
    dialog.get_by_label("Reason (audited)").fill(reason)
    dialog.get_by_role("button", name="Apply").click()


def test_admin_holds_a_span_releases_it_and_runs_retention(
    page: Any, site: ConsoleSite, errors: PageErrors
) -> None:
    errors.allow_status(422)
    log_in(page, site, "admin")
    page.goto("/console/#/admin/retention")
    form = page.get_by_role("form", name="Place a legal hold")
    recorded = site.sightings[0]
    form.get_by_label("Cameras (comma separated)").fill(recorded.camera_id)
    # Years before anything was recorded: the API's 422 is shown by the cameras field.
    form.get_by_label("From").fill(_local(recorded.start - 3 * 365 * 86400))
    form.get_by_label("To").fill(_local(recorded.start - 3 * 365 * 86400 + 600))
    form.get_by_label("Reason (audited)").fill("Police request 2026-77")
    form.get_by_role("button", name="Place hold").click()
    refusal = form.get_by_role("alert")
    expect(refusal).to_contain_text(recorded.camera_id)
    table = page.get_by_role("table", name="Legal holds")
    expect(table.get_by_role("row").filter(has_text="Police request 2026-77")).to_have_count(0)
    # Over the recorded segment: placed and listed as active, the refusal gone.
    form.get_by_label("From").fill(_local(recorded.start - 30))
    form.get_by_label("To").fill(_local(recorded.start + 30))
    form.get_by_label("Reason (audited)").fill("Police request 2026-77")
    form.get_by_role("button", name="Place hold").click()
    row = table.get_by_role("row").filter(has_text="Police request 2026-77")
    expect(row).to_contain_text("active")
    expect(refusal).to_have_count(0)
    # Released by keyboard, with a reason: the row says who and why.
    row.get_by_role("button", name="Release").focus()
    page.keyboard.press("Enter")
    hold_title = page.get_by_role("dialog").get_by_role("heading").inner_text()
    assert hold_title.startswith("Release hold ")
    _reason(page, hold_title, "Case closed by the police")
    expect(row).to_contain_text("released by")
    expect(row).to_contain_text("Case closed by the police")
    expect(row.get_by_role("button", name="Release")).to_have_count(0)
    # Run now: a real pass; the latest run shown changes to it (its time, to the second) with counts.
    policy = page.get_by_label("Retention policy and last run")
    expect(policy).to_contain_text("Last run")
    shown = policy.inner_text()
    page.get_by_role("button", name="Run now").click()
    _reason(page, "Run retention now", "Disk check before the audit")
    expect(policy).not_to_have_text(shown)
    expect(policy).to_contain_text("Deleted")
    expect(policy).to_contain_text("Kept (protected)")
    expect(page.get_by_text("Retention ran.")).to_be_visible()


def test_admin_exports_a_case_bundle_and_holds_the_case(page: Any, site: ConsoleSite, tmp_path: Path) -> None:
    from vigil.services.evidence_verify import verify_bundle

    log_in(page, site, "admin")
    recorded = site.sightings[0]
    csrf = {"x-vigil-console": "1"}
    made = page.request.post(
        "/cases",
        data={
            "reason": "Missing child 2026-31",
            "sighting_id": recorded.id,
            "window_start": recorded.start - 600,
        },
        headers=csrf,
    )
    assert made.ok, made.text()
    case_id = made.json()["id"]
    confirmed = page.request.post(
        f"/cases/{case_id}/feedback", data={"sighting_id": recorded.id, "verdict": "confirm"}, headers=csrf
    )
    assert confirmed.ok, confirmed.text()
    page.goto(f"/console/#/cases/{case_id}")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Export case bundle").click()
        _reason(page, "Export case bundle", "Handover to the police")
    bundle = tmp_path / download.value.suggested_filename
    download.value.save_as(bundle)
    assert bundle.name == f"case-{case_id}.zip"
    report = verify_bundle(bundle)
    assert report.ok, [f.message for f in report.failures]
    expect(page.get_by_role("status").filter(has_text="manifest SHA-256")).to_contain_text(
        f"vigil verify {bundle.name}"
    )
    page.get_by_role("button", name="Place legal hold").click()
    _reason(page, "Place legal hold on this case", "Court order 2026-5")
    expect(page.get_by_role("status").filter(has_text="Legal hold")).to_contain_text("placed")
    # Listed on the admin screen as a case hold; released again so the site's data is as before.
    page.goto("/console/#/admin/retention")
    row = page.get_by_role("table", name="Legal holds").get_by_role("row").filter(has_text=f"case {case_id}")
    expect(row).to_contain_text("active")
    row.get_by_role("button", name="Release").click()
    _reason(page, page.get_by_role("dialog").get_by_role("heading").inner_text(), "Test over")
    expect(row).to_contain_text("released by")
