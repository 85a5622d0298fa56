"""The console's Rules screen, counting lines and the alert inbox's severity and groups, in Chromium.

A line drawn in the zone editor is saved to the site YAML; a rule made in the Rules form runs
as `alerts.build_rules` builds it from that file, over a person walking across the line
towards the arrow; its real alert and counts go through the site's bus and show in the inbox
and the counts bars.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

import pytest
import yaml

from alerts import build_rules
from alerts.lines import LineCrossing
from config.loader import load_config
from tests.console.conftest import ConsoleSite, PageErrors, log_in, screenshot
from tests.db.test_store import make_alert
from tests.factories import make_detections
from vigil.core.events import Topic
from vigil.core.types import AlertKind, AlertPhase, AlertSeverity

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _arrow_tip_y(page: Any) -> float:
    points = page.locator("g.shape.line polygon.arrow").get_attribute("points")
    return float(points.split(" ")[2].split(",")[1])


def _draw_line(page: Any, site: ConsoleSite) -> None:
    page.goto("/console/#/admin/zones/gate")
    area = page.get_by_role("application", name="Zone drawing area: click to add points")
    area.wait_for()
    page.get_by_label("counting line").check()
    page.get_by_role("button", name="Draw line").click()
    box = area.bounding_box()
    for fx in (0.2, 0.8):  # left to right across the middle
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + 0.5 * box["height"])
    page.get_by_role("button", name="Finish line").click()
    assert _arrow_tip_y(page) < 0.5  # 'left' of a left-to-right line is the upper part
    page.get_by_role("button", name="Flip the in side").click()
    assert _arrow_tip_y(page) > 0.5
    page.get_by_label("Name").fill("gate-line")
    page.get_by_label("Words for in").fill("into the old town")
    page.get_by_role("button", name="Save zones").click()
    reason = page.get_by_role("dialog", name="Save zones of gate")
    reason.get_by_label("Reason (audited)").fill("Count the gate")
    reason.get_by_role("button", name="Apply").click()
    page.get_by_role("status").filter(has_text="1 lines").wait_for()
    gate = next(c for c in yaml.safe_load(site.config_path.read_text())["cameras"] if c["id"] == "gate")
    assert gate["lines"][0]["name"] == "gate-line"
    assert gate["lines"][0]["in_side"] == "right"


def _make_rule(page: Any, site: ConsoleSite) -> None:
    page.get_by_role("link", name="Rules").click()
    page.get_by_text("No rule yet").wait_for()
    page.get_by_role("button", name="New rule").click()
    form = page.get_by_role("form", name="New rule")
    form.get_by_label("Name").fill("gate-count")
    form.get_by_label("Type").select_option("line_crossing")
    form.get_by_label("Camera").select_option("gate")
    form.get_by_role("combobox", name=re.compile("^Line")).select_option("gate-line")
    form.get_by_label("in", exact=True).check()
    form.get_by_label("Hysteresis (fraction of frame height)").fill("0.9")
    form.get_by_label("Reason (audited)").fill("Count people at the gate")
    form.get_by_role("button", name="Add rule").click()
    # The API's refusal is shown next to the field it names, and the field is marked invalid.
    hysteresis = form.get_by_label("Hysteresis (fraction of frame height)")
    form.locator("#rule-error-hysteresis").filter(has_text="0.5").wait_for()
    assert hysteresis.get_attribute("aria-invalid") == "true"
    assert "rules" not in yaml.safe_load(site.config_path.read_text())
    hysteresis.fill("0.05")
    form.get_by_role("button", name="Add rule").click()
    row = page.get_by_role("table", name="Rules").get_by_role("row").filter(has_text="gate-count")
    row.get_by_text("active").wait_for()
    assert "Line crossing" in row.inner_text() and "gate-line" in row.inner_text()
    rule = yaml.safe_load(site.config_path.read_text())["rules"][0]
    assert (rule["line"], rule["alert_on"], rule["hysteresis"]) == ("gate-line", ["in"], 0.05)


def _walk_across(site: ConsoleSite) -> float:
    """The rule as the site builds it, over two people crossing; its alert and counts onto the bus."""
    rule = build_rules(load_config(site.config_path))["gate"][0]
    assert isinstance(rule, LineCrossing)
    start = math.floor((time.time() - 1800) / 60) * 60 + 1
    alerts = []
    for k in range(11):  # track 7 walks down (towards the arrow: in), track 8 up (out)
        y7, y8 = 0.3 + 0.04 * k, 0.7 - 0.04 * k
        boxes = [[200, y7 * 270 - 60, 230, y7 * 270], [300, y8 * 270 - 60, 330, y8 * 270]]
        tracked = make_detections(xyxy=boxes, tracker_id=[7, 8])
        alerts += rule.evaluate(tracked, (480, 270), start + 0.5 * k)
    assert [a.direction.value if a.direction else None for a in alerts] == ["in"]
    counts = rule.drain_counts(time.time())
    assert [(c.count_in, c.count_out) for c in counts] == [(1, 1)]
    site.publish(Topic.ALERTS, "gate", alerts[0])
    site.publish(Topic.CROSSING_COUNTS, "gate", counts[0])
    return start


def _keyboard_disable(page: Any, site: ConsoleSite) -> None:
    """Tab to Disable, Enter, type the reason, Enter: no mouse."""
    page.get_by_role("heading", name="Rules").click()
    for _ in range(40):
        page.keyboard.press("Tab")
        if (
            page.evaluate("() => document.activeElement.getAttribute('aria-label')")
            == "Disable rule gate-count"
        ):
            break
    else:
        pytest.fail("Disable rule gate-count is not reachable with Tab")
    page.keyboard.press("Enter")
    page.get_by_role("dialog", name="Disable rule gate-count").wait_for()
    page.keyboard.type("Closed for the night market")
    page.keyboard.press("Enter")
    row = page.get_by_role("table", name="Rules").get_by_role("row").filter(has_text="gate-count")
    row.get_by_text("disabled").wait_for()
    assert yaml.safe_load(site.config_path.read_text())["rules"][0]["enabled"] is False


def test_admin_draws_a_line_makes_a_rule_and_sees_its_counts(
    page: Any, site: ConsoleSite, errors: PageErrors
) -> None:
    errors.allow_status(422)  # the hysteresis above 0.5
    log_in(page, site, "admin")
    _draw_line(page, site)
    _make_rule(page, site)
    _walk_across(site)
    _keyboard_disable(page, site)
    page.get_by_role("button", name="Enable rule gate-count").click()
    page.get_by_role("dialog", name="Enable rule gate-count").get_by_label("Reason (audited)").fill(
        "Open again"
    )
    page.get_by_role("button", name="Apply").click()
    row = page.get_by_role("table", name="Rules").get_by_role("row").filter(has_text="gate-count")
    row.get_by_text("active").wait_for()

    page.get_by_role("button", name="Edit rule gate-count").click()
    form = page.get_by_role("form", name="Edit rule gate-count")
    form.get_by_label("Severity").select_option("critical")
    form.get_by_label("Reason (audited)").fill("The gate matters more")
    form.get_by_role("button", name="Save rule").click()
    row.get_by_text("critical").wait_for()
    assert yaml.safe_load(site.config_path.read_text())["rules"][0]["severity"] == "critical"

    page.get_by_role("button", name="Counts of rule gate-count").click()
    view = page.get_by_role("region", name="Counts of gate-count")
    view.get_by_text("in (into the old town): 1").wait_for()
    view.get_by_text("out: 1").wait_for()
    bars = view.locator("svg.bars rect.in")
    heights = [float(h) for h in bars.evaluate_all("rs => rs.map(r => r.getAttribute('height'))")]
    assert sum(1 for h in heights if h > 0) == 1 and max(heights) == pytest.approx(38)
    screenshot(page, "rules-counts")

    page.get_by_role("button", name="Remove rule gate-count").click()
    page.get_by_role("dialog", name="Remove rule gate-count").get_by_label("Reason (audited)").fill("Done")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("No rule yet").wait_for()
    assert yaml.safe_load(site.config_path.read_text()).get("rules", []) == []

    # The crossing's alert in the inbox: its severity in words, its kind and direction.
    page.get_by_role("link", name="Alerts").click()
    crossing = page.get_by_role("table", name="Alert inbox").get_by_role("row").filter(has_text="gate-line")
    crossing.get_by_text("crossed in").wait_for()
    assert "line crossing" in crossing.inner_text()


def test_inbox_severity_kind_groups_and_deep_link(page: Any, site: ConsoleSite) -> None:
    now = time.time()
    crowd = [
        make_alert(
            "bridge",
            now - 30 + i,
            kind=AlertKind.OCCUPANCY,
            rule="bridge-crowd",
            message="crowd on the bridge",
            severity=AlertSeverity.CRITICAL,
            value=14.0 + i,
            phase=AlertPhase.START if i == 0 else None,
        )
        for i in range(3)
    ]
    for alert in crowd:
        site.publish(Topic.ALERTS, "bridge", alert)
    log_in(page, site, "operator")
    page.get_by_role("link", name="Alerts").click()
    inbox = page.get_by_role("table", name="Alert inbox")
    inbox.get_by_role("row").filter(has_text="crowd on the bridge").nth(2).wait_for()
    first = inbox.get_by_role("row").filter(has_text="14 people")
    assert "▲ critical" in first.inner_text() and "started" in first.inner_text()

    page.get_by_label("Severity").select_option("critical")
    page.wait_for_function("() => document.querySelectorAll('.inbox tbody tr').length === 3")
    page.get_by_text("3 alerts", exact=True).wait_for()  # the API's count of critical ones
    page.get_by_label("Severity").select_option("")
    page.get_by_label("Kind").select_option("occupancy")
    page.wait_for_function("() => document.querySelectorAll('.inbox tbody tr').length === 3")

    # Grouped: one row for the three (the site grouped them as they arrived), opened in place.
    page.get_by_label("Group similar").check()
    page.wait_for_function("() => document.querySelectorAll('.inbox tbody tr').length === 1")
    page.get_by_role("button", name=f"Show the 3 alerts of the group of alert {crowd[2].id}").click()
    page.wait_for_function("() => document.querySelectorAll('.inbox tbody tr.member').length === 2")
    screenshot(page, "alerts-grouped")

    page.goto(f"/console/#/alerts/{crowd[1].id}")  # a deep link opens that alert
    dialog = page.get_by_role("dialog", name="Alert")
    dialog.get_by_text("15 people").wait_for()
    dialog.get_by_role("button", name="Close dialog").click()
    page.wait_for_function("() => location.hash === '#/alerts'")


WALKWAY = {"name": "walkway", "polygon": [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}
"""Where the sample clip's passers-by walk (the lower 70 % of the picture)."""


def _add_walkway(page: Any) -> None:
    """The zone through the console's own API call (session cookie and CSRF header)."""
    response = page.request.put(
        "/cameras/gate/zones",
        data={"zones": [GATE_ZONE, WALKWAY], "privacy_masks": [], "reason": "Backtest the walkway"},
        headers={"x-vigil-console": "1"},
    )
    assert response.ok, response.text()


GATE_ZONE = {"name": "quay-edge", "polygon": [[0.1, 0.6], [0.5, 0.6], [0.5, 0.9]]}


def _backtest_draft(page: Any, site: ConsoleSite) -> None:
    """A dwell draft tried on gate's recording before it is added: refused field first, then events."""
    page.get_by_role("link", name="Rules").click()
    page.get_by_role("button", name="New rule").click()
    form = page.get_by_role("form", name="New rule")
    form.get_by_label("Name").fill("walkway-dwell")
    form.get_by_label("Type").select_option("dwell")
    form.get_by_label("Camera").select_option("gate")
    form.get_by_role("combobox", name=re.compile("^Zone")).select_option("walkway")
    seconds = form.get_by_label("Seconds inside before alerting")
    seconds.fill("0")
    form.get_by_role("button", name="Backtest this draft").click()
    panel = page.get_by_role("region", name="Backtest of the draft walkway-dwell")
    panel.get_by_label("Frames per second").fill("1")
    panel.get_by_label("Reason (audited)").fill("Tune the walkway dwell")
    panel.get_by_role("button", name="Start backtest").click()
    # The draft's problem is shown next to its field in the form, as a save's would be.
    form.locator("#rule-error-min_seconds").filter(has_text="greater than 0").wait_for()
    assert seconds.get_attribute("aria-invalid") == "true"
    seconds.fill("3")
    panel.get_by_role("button", name="Start backtest").click()
    panel.get_by_role("status").filter(has_text=re.compile(r"^done")).wait_for(timeout=90_000)
    events = panel.get_by_role("table", name="Backtest events of walkway-dwell").locator("tbody tr")
    assert events.count() >= 1
    assert "stayed" in events.first.inner_text() and "dwell" in events.first.inner_text()
    crop = events.first.get_by_role("img")
    crop.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=crop.element_handle())
    heights = panel.locator("svg.bars rect").evaluate_all(
        "rs => rs.map(r => Number(r.getAttribute('height')))"
    )
    assert max(heights) == pytest.approx(38)  # the busiest hour is the full bar
    assert not (site.config_path.read_text().count("walkway-dwell"))  # a draft is not configured
    assert form.locator(".field-error").count() == 0  # started: the form's old problems are gone
    screenshot(page, "rules-backtest")
    form.get_by_label("Reason (audited)").fill("Walkway dwell after the backtest")
    form.get_by_role("button", name="Add rule").click()
    page.get_by_role("table", name="Rules").get_by_role("row").filter(has_text="walkway-dwell").wait_for()


def test_admin_backtests_a_draft_then_cancels_a_configured_rules_backtest(
    page: Any, site: ConsoleSite, errors: PageErrors
) -> None:
    errors.allow_status(422)  # the draft's min_seconds of 0
    errors.allow_status(409)  # a second backtest while one runs
    log_in(page, site, "admin")
    _add_walkway(page)
    _backtest_draft(page, site)

    # The configured rule's own backtest, cancelled while it runs (5 fps over 139 s of video).
    page.get_by_role("button", name="Backtest rule walkway-dwell").click()
    panel = page.get_by_role("region", name="Backtest of walkway-dwell")
    panel.get_by_label("Frames per second").fill("5")
    panel.get_by_label("Reason (audited)").fill("How often would it fire")
    panel.get_by_role("button", name="Start backtest").click()
    panel.get_by_role("status").filter(has_text=re.compile(r"^running")).wait_for()
    # One backtest at a time: the form's draft backtest shows the running one, to follow or cancel.
    page.get_by_role("button", name="Edit rule walkway-dwell").click()
    page.get_by_role("button", name="Backtest this draft").click()
    draft = page.get_by_role("region", name="Backtest of the draft walkway-dwell")
    draft.get_by_label("Reason (audited)").fill("Another try")
    draft.get_by_role("button", name="Start backtest").click()
    draft.get_by_role("alert").filter(has_text="wait for it or cancel it").wait_for()
    draft.get_by_role("status").filter(has_text="running (walkway-dwell on gate)").wait_for()
    draft.get_by_role("button", name="Cancel backtest").click()
    draft.get_by_role("status").filter(has_text=re.compile(r"^cancelled")).wait_for()
    panel.get_by_role("status").filter(has_text=re.compile(r"^cancelled")).wait_for()  # the same job
    panel.get_by_role("button", name="Start backtest").wait_for()


# The API's refusal -> the form's field it is shown next to ("" is above the buttons).
PROBLEMS = [
    # a pydantic field error of the body: the union's tag in the path
    ("rule.line_crossing.hysteresis: Input should be less than or equal to 0.5", {"hysteresis": 1}),
    # a whole-config cross-check names the YAML path
    ("rules[3].line: camera 'gate' has no line 'x' (rule 'gate-count')", {"line": 1}),
    # filters and schedule are nested; the innermost known part wins
    ("rule.dwell.filters.min_score: Input should be less than or equal to 1", {"min_score": 1}),
    ("rule.dwell.schedule.0.start: expected 'HH:MM', got '25:00'", {"schedule": 1}),
    # a draft's backtest prefixes its list; two problems, two fields
    (
        "draft rule: rule.min_seconds: Input should be greater than 0; rule.zone: Field required",
        {"min_seconds": 1, "zone": 1},
    ),
    # a model-level check names no field: above the buttons, whole
    ("rule.occupancy: Value error, give at least one of max_people, min_people", {"": 1}),
    ("rule 'gate-count' already exists", {"": 1}),
]


def test_api_problems_go_to_the_field_they_name(page: Any, site: ConsoleSite) -> None:
    page.goto("/console/")
    known = ["name", "camera", "line", "zone", "hysteresis", "min_seconds", "min_score", "schedule", "reason"]
    split = page.evaluate(
        """async ([rows, known]) => {
            const { problemsOf } = await import("/console/js/views/rules.js");
            return rows.map((detail) => problemsOf(detail, new Set(known)));
        }""",
        [[detail for detail, _ in PROBLEMS], known],
    )
    for (detail, expected), got in zip(PROBLEMS, split, strict=True):
        assert {field: len(messages) for field, messages in got.items()} == expected, detail
    assert split[0]["hysteresis"] == ["Input should be less than or equal to 0.5"]
    assert split[5][""] == [PROBLEMS[5][0]]  # unsplit, so nothing is lost
