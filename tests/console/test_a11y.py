"""axe-core's accessibility rules on every console screen, for every role.

axe-core is fetched by ``vigil.sh setup`` (npm) into build/npm and injected into each page; the
page's CSP allows no injected script, so these contexts bypass it (the other browser tests keep
it). Serious and critical violations fail the test; all violations are printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import ConsoleSite, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = Path(__file__).resolve().parents[2] / "build" / "npm" / "axe-core-4.14.1" / "axe.min.js"
SCREENS = {
    "viewer": ["wall", "alerts"],
    "operator": ["cases", "alerts"],
    "mediator": ["exports"],
    "admin": ["rules", "admin/zones/gate", "admin/cameras", "admin/users", "admin/retention"],
}
FAILING_IMPACTS = {"serious", "critical"}


@pytest.fixture
def axe_page(browser: Any, site: ConsoleSite) -> Any:
    if not AXE.is_file():
        pytest.skip(f"{AXE} missing: ./vigil.sh setup fetches it with npm")
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, base_url=site.url, bypass_csp=True
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _violations(page: Any, screen: str) -> list[str]:
    """axe-core's serious and critical violations on what the page shows now (all printed)."""
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in result["violations"]:
        nodes = [n["target"] for n in violation["nodes"]][:3]
        line = f"{screen}: {violation['impact']} {violation['id']}: {violation['help']} {json.dumps(nodes)}"
        print(line)
        if violation["impact"] in FAILING_IMPACTS:
            found.append(line)
    return found


def _rules_opened(page: Any) -> None:
    """The Rules screen with a line rule's counts, its backtest and the edit form of a zone rule open."""
    calls: list[tuple[str, str, dict[str, Any]]] = [
        (
            "PUT",
            "/cameras/gate/zones",
            {
                "zones": [{"name": "quay-edge", "polygon": [[0.1, 0.6], [0.5, 0.6], [0.5, 0.9]]}],
                "lines": [{"name": "gate-line", "points": [[0.1, 0.5], [0.9, 0.5]]}],
            },
        ),
        (
            "POST",
            "/rules",
            {"rule": {"name": "a11y-count", "type": "line_crossing", "camera": "gate", "line": "gate-line"}},
        ),
        (
            "POST",
            "/rules",
            {"rule": {"name": "a11y-zone", "type": "zone_intrusion", "camera": "gate", "zone": "quay-edge"}},
        ),
    ]
    for method, path, body in calls:
        response = page.request.fetch(
            path,
            method=method,
            data={**body, "reason": "accessibility check"},
            headers={"x-vigil-console": "1"},
        )
        assert response.ok, response.text()
    page.goto("/console/#/rules")
    page.get_by_role("button", name="Counts of rule a11y-count").click()
    page.get_by_role("region", name="Counts of a11y-count").locator("svg").wait_for()
    page.get_by_role("button", name="Backtest rule a11y-count").click()
    page.get_by_role("button", name="Edit rule a11y-zone").click()
    page.get_by_role("button", name="Backtest this draft").click()
    page.get_by_role("region", name="Backtest of the draft a11y-zone").wait_for()


@pytest.mark.parametrize("role", sorted(SCREENS))
def test_axe_finds_no_serious_violation(axe_page: Any, site: ConsoleSite, role: str) -> None:
    page = axe_page
    log_in(page, site, role)
    screens = list(SCREENS[role])
    if role == "operator":  # the case workspace, with candidates
        opened = page.request.post(
            "/cases",
            data={"reason": "accessibility check", "upper": ["black"], "last_seen_camera": "gate"},
            headers={"x-vigil-console": "1"},
        )
        assert opened.ok, opened.text()
        screens.append(f"cases/{opened.json()['id']}")
    found: list[str] = []
    for screen in screens:
        page.goto(f"/console/#/{screen}")
        page.get_by_role("main").locator("h1").first.wait_for()
        found += _violations(page, screen)
    if role == "admin":
        _rules_opened(page)
        found += _violations(page, "rules (counts, backtest, rule form and draft backtest open)")
    assert found == [], "axe-core: serious or critical violations\n" + "\n".join(found)
