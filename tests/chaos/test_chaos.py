"""The chaos suite's short versions (`vigil chaos`), one test per scenario.

Each runs real components (simulator RTSP server, recorder, SQLite); a scenario that cannot run
here (no GStreamer, no permission to mount a tmpfs) is skipped with its reason.
"""

from __future__ import annotations

import pytest

from vigil.chaos.runner import SCENARIOS, run_scenario

pytestmark = [pytest.mark.chaos, pytest.mark.rtsp, pytest.mark.slow]


@pytest.fixture(autouse=True, scope="module")
def _simulator_available() -> None:
    from ingest.sim import check_dependencies
    from vigil.core.errors import DependencyError

    try:
        check_dependencies()
    except DependencyError as error:
        pytest.skip(f"GStreamer RTSP server unavailable: {error}")


@pytest.mark.parametrize(
    "name",
    [
        "kill-9",  # SIGKILL mid-segment: DB opens, cut segment closed, acknowledged sightings kept
        "disk-full",  # tmpfs filled: oldest unprotected go first, then pause with a reason, resume
        "db-locked",  # BEGIN EXCLUSIVE held past the busy timeout: writers retry, nothing lost
        "rtsp-flapping",  # server restarted every 5 s for 40 s: reconnects, no fd/thread growth
        "clock-jump",  # wall clock +1 h / -1 h: no false stall, jumps recorded, retention fine
        "garbage",  # random bytes and a corrupt file as cameras: clear reasons, good camera records
    ],
)
def test_scenario_keeps_its_invariants(name: str) -> None:
    assert name in SCENARIOS
    outcome = run_scenario(name)
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    assert outcome.ok, "\n".join(outcome.broken)
