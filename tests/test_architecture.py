"""The layers hold: import-linter's contracts (pyproject.toml) on the whole code base.

Layers, top to bottom: CLI, composition (runtime, roles), API, services, the per-frame
pipeline, stages and infrastructure side by side, config, core (ARCHITECTURE.md).
"""

from __future__ import annotations

import ast
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


PACKAGES = ("vigil", "api", "alerts", "config", "detectors", "ingest", "tracker")
MAX_FUNCTION_LINES = 60
LONG_ALLOWED = {
    # Model conversion and quantization: run once at setup, read top to bottom as one recipe.
    ("detectors/ssdlite_onnx.py", "build_onnx_model"),
    ("detectors/ssdlite_onnx.py", "ensure_int8_model"),
}


def test_no_function_is_longer_than_a_screen() -> None:
    long = []
    for path in sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES and (relative, node.name) not in LONG_ALLOWED:
                    long.append(f"{relative}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over 60 lines (split them into named steps):\n" + "\n".join(long)
