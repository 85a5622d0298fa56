"""vigil.core stays pure: every module imports only the standard library, NumPy and vigil.core.

import-linter keeps the layers above out of core; this keeps third-party packages out
(orjson, pydantic, SQLAlchemy...), so core can be read and tested on its own.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "vigil" / "core"
ALLOWED = {"numpy"}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, at any depth; relative
    imports come back as ``.name`` (they stay inside the package)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def foreign_imports(source: str) -> list[str]:
    """The imports in `source` that are not stdlib, NumPy, vigil.core or relative."""
    return [
        f"line {line}: {name}"
        for line, name in imported_modules(source)
        if not name.startswith(".")
        and name.split(".")[0] not in sys.stdlib_module_names | ALLOWED
        and name != "vigil.core"
        and not name.startswith("vigil.core.")
    ]


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: p.name)
def test_core_imports_only_stdlib_and_numpy(path: Path) -> None:
    assert foreign_imports(path.read_text()) == []


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("import orjson", ["line 1: orjson"]),  # a third-party package
        ("def f():\n    from pydantic import BaseModel", ["line 2: pydantic"]),  # a deferred import
        ("from vigil.infra import codec", ["line 1: vigil.infra"]),  # a layer above
        ("import json, numpy.typing\nfrom vigil.core.errors import ValidationError", []),  # allowed
        ("from . import errors", []),  # relative: inside core
    ],
)
def test_the_check_flags_foreign_imports(source: str, flagged: list[str]) -> None:
    assert foreign_imports(source) == flagged
