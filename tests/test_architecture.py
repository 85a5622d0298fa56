"""The layers hold: import-linter's contracts (pyproject.toml) on the whole code base.

Layers, top to bottom: CLI, composition (runtime, roles), API, services, the per-frame
pipeline, stages and infrastructure side by side, config, core (ARCHITECTURE.md).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.fail("lint-imports not found: pip install -e '.[dev]'", pytrace=False)
    result = subprocess.run([lint, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert ", 0 broken" in result.stdout, result.stdout[-4000:]
