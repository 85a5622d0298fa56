"""Alert crops: the pipeline saves the triggering box (with margin, privacy masks kept) per alert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.db.test_store import make_alert
from tests.test_pipeline import BrightDetector, pipeline_for, site, walker
from vigil.core.types import Frame
from vigil.pipeline import ALERT_CROP_MAX_HEIGHT, alert_crop_path, mask_frame, save_alert_crop


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return np.asarray(image)


def test_pipeline_saves_a_crop_for_each_alert_from_the_masked_frame(tmp_path: Path) -> None:
    pipeline = pipeline_for(site(tmp_path), BrightDetector())
    alerts = []
    for i in range(25):  # a person walks right across cam1 into the zone on its right half
        frame = walker("cam1", i, 1000.0 + 0.2 * i, 20 + 10 * i)
        # A privacy mask over the person's head, as the detect worker applies it before the pipeline.
        masked = mask_frame(frame, [[(0.0, 0.0), (1.0, 0.0), (1.0, 0.3), (0.0, 0.3)]])
        alerts += [alert for output in pipeline.step([masked]) for alert in output.alerts]
    (alert,) = alerts
    crop = _read(tmp_path / alert_crop_path(alert.id))
    assert alert.box is not None
    x1, y1, x2, y2 = alert.box
    assert (y1, y2) == (73.0, 180.0)  # the detector saw the body below the mask (rows 72 up are black)
    # 20 % margin each side, in whole pixels.
    top = int(np.floor(y1 - 0.2 * (y2 - y1)))
    assert crop.shape[:2] == (int(np.ceil(y2 + 0.2 * (y2 - y1))) - top, 43)
    assert crop[: 72 - top - 2].max() < 40  # the masked band above the body stays black (JPEG noise aside)
    assert crop[40:100, 10:30].min() > 200  # the person's bright body is in it
    assert list((tmp_path / "alert-crops").iterdir()) == [tmp_path / alert_crop_path(alert.id)]  # no .part


@pytest.mark.parametrize(
    ("box", "size", "expected"),
    [
        ((100.0, 100.0, 200.0, 300.0), (640, 480), (ALERT_CROP_MAX_HEIGHT, 128)),  # tall: scaled to 256
        ((10.0, 10.0, 30.0, 50.0), (640, 480), (56, 28)),  # small: 20 % margin, not scaled
        ((-50.0, -50.0, 10.0, 10.0), (640, 480), (22, 22)),  # off the top-left: clipped
    ],
)
def test_crop_geometry(
    tmp_path: Path, box: tuple[float, ...], size: tuple[int, int], expected: tuple[int, int]
) -> None:
    width, height = size
    image = np.full((height, width, 3), 200, np.uint8)
    path = save_alert_crop(tmp_path, make_alert(box=box, id="a1"), image)
    assert path == tmp_path / "alert-crops" / "a1.jpg"
    assert _read(path).shape[:2] == expected


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"box": None}, "no box"),
        ({"box": (700.0, 10.0, 800.0, 50.0)}, "box outside the image"),
        ({"box": (1.0, 1.0, 5.0, 5.0), "id": "../escape"}, "an id that is a path"),
    ],
)
def test_no_crop(tmp_path: Path, overrides: dict[str, Any], why: str) -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    assert save_alert_crop(tmp_path, make_alert(**overrides), image) is None, why
    assert not (tmp_path / "alert-crops").exists() or not any((tmp_path / "alert-crops").iterdir())


def test_unwritable_directory_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "alert-crops").write_text("a file where the directory should be")
    frame = Frame("cam1", 0, 1.0, np.zeros((100, 100, 3), np.uint8))
    assert save_alert_crop(tmp_path, make_alert(box=(1.0, 1.0, 50.0, 50.0), id="a1"), frame.image) is None
    assert "crop of alert a1 not saved" in caplog.text
