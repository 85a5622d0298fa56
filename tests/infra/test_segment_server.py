"""Recordings across nodes: an edge node's segment server and central's fetcher, over real HTTP.

Real SQLite databases on both sides, a real `SegmentServer` on a local port, real MP4 footage;
the bus is the in-process one (the two-process Kafka test is `tests/kafka/test_edge_recordings.py`).
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from ingest.clips import export_clip
from ingest.record_worker import Gap
from tests.conftest import PERSON_CLIP
from tests.services.test_retention import Seg
from vigil.core.errors import EdgeRecordingError
from vigil.core.events import Topic
from vigil.core.types import RecordedGap, RecordedSegment
from vigil.infra.db.recordings import RecordingIndex
from vigil.infra.db.store import Store
from vigil.infra.segment_server import EdgeSegmentFetcher, SegmentAnnouncer, SegmentServer
from vigil.services.legal_hold import LegalHoldService
from vigil.services.retention import RetentionPolicy, RetentionService, enforce

TOKEN = "s3cret-node-token"
T0 = 1_800_000_000.0


@dataclass
class Site:
    """An edge node (its index, its server, its announcements) and a central index fed by them."""

    edge_root: Path
    edge: RecordingIndex
    server: SegmentServer
    central: RecordingIndex
    fetcher: EdgeSegmentFetcher
    cache: Path
    announced: list[RecordedSegment]

    def record(self, name: str, start: float, source: Path = PERSON_CLIP) -> Path:
        """Write a segment on the edge, index and announce it, and index it centrally."""
        path = self.edge_root / "cam1" / "2027-01-15" / "08" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        with av.open(str(path)) as container:
            duration = float(container.duration or 0) / av.time_base
        seen = len(self.announced)
        bus = _Bus(self.announced)
        announcer = SegmentAnnouncer(self.edge, bus, "edge1", self.edge_root, self.server.url)
        announcer.add_segments([Seg("cam1", path, start, start + duration, path.stat().st_size)])
        self.central.add_remote_segments(self.announced[seen:], self.cache)
        return path


class _Bus:
    def __init__(self, into: list[RecordedSegment], gaps: list[RecordedGap] | None = None) -> None:
        self.into = into
        self.gaps = gaps if gaps is not None else []

    def publish(self, topic: str, key: str, event: object) -> None:
        if topic == Topic.RECORDING_GAPS:
            assert isinstance(event, RecordedGap) and key == event.camera_id
            self.gaps.append(event)
            return
        assert topic == Topic.SEGMENTS and isinstance(event, RecordedSegment) and key == event.camera_id
        self.into.append(event)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with Store.open(tmp_path / "edge.db") as edge_store, Store.open(tmp_path / "central.db") as central_store:
        edge = RecordingIndex.for_store(edge_store)
        server = SegmentServer(edge, tmp_path / "edge-rec", TOKEN, "127.0.0.1", 0)
        server.start()
        fetcher = EdgeSegmentFetcher(TOKEN, timeout_s=5)
        central_store.segment_fetch = fetcher
        try:
            yield Site(
                tmp_path / "edge-rec", edge, server, RecordingIndex.for_store(central_store), fetcher,
                tmp_path / "central-rec" / "edges", [],
            )  # fmt: skip
        finally:
            server.stop()


def test_central_cuts_a_clip_from_segments_fetched_from_the_edge_that_recorded_them(
    site: Site, tmp_path: Path
) -> None:
    original = site.record("cam1-a.mp4", T0)
    announced = site.announced[0]
    assert (announced.node, announced.path) == ("edge1", "cam1/2027-01-15/08/cam1-a.mp4")

    manifest = export_clip(site.central, "cam1", T0 + 1, T0 + 4, tmp_path / "clip.mp4")

    copy = site.cache / "edge1" / announced.path
    assert copy.read_bytes() == original.read_bytes() and site.fetcher.fetched == 1
    assert manifest.segments[0].path == str(copy) and manifest.covered_end > manifest.covered_start
    site.central.segments("cam1", T0, T0 + 5)  # the copy is here now: not fetched again
    assert site.fetcher.fetched == 1


def test_the_server_wants_the_token_and_serves_only_indexed_segments(site: Site) -> None:
    site.record("cam1-a.mp4", T0)
    (site.edge_root / "secret.txt").write_text("not a recording")

    def get(path: str, token: str | None = TOKEN) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(site.server.url + path, headers=headers)) as r:
                return int(r.status)
        except urllib.error.HTTPError as error:
            return error.code

    assert get("/segments/cam1/2027-01-15/08/cam1-a.mp4") == 200
    assert get("/segments/cam1/2027-01-15/08/cam1-a.mp4", token=None) == 401
    assert get("/segments/cam1/2027-01-15/08/cam1-a.mp4", token="guess") == 401
    assert get("/segments/secret.txt") == 404  # a file under the root that is not an indexed segment
    assert get("/segments/..%2F..%2Fedge.db") == 404
    assert get("/etc/passwd") == 404


def test_an_edge_node_that_is_down_is_a_clear_error_and_leaves_nothing_half_written(site: Site) -> None:
    site.record("cam1-a.mp4", T0)
    site.server.stop()

    with pytest.raises(EdgeRecordingError, match="edge node 'edge1'.*unreachable.*retry") as caught:
        site.central.segments("cam1", T0, T0 + 5)

    assert caught.value.retry
    assert not site.cache.exists() or not any(p.is_file() for p in site.cache.rglob("*"))


def test_a_segment_the_edge_no_longer_has_or_a_wrong_token_or_size_is_refused(site: Site) -> None:
    path = site.record("cam1-a.mp4", T0)

    path.unlink()  # the edge's retention deleted it
    with pytest.raises(EdgeRecordingError, match="no longer has it") as gone:
        site.central.segments("cam1", T0, T0 + 5)
    assert not gone.value.retry

    site.record("cam1-b.mp4", T0 + 100)
    site.fetcher.token = "another-site"
    with pytest.raises(EdgeRecordingError, match="refused central's token"):
        site.central.segments("cam1", T0 + 100, T0 + 105)

    site.fetcher.token = TOKEN
    bad = site.announced[-1]
    site.central.add_remote_segments(
        [RecordedSegment("cam1", "edge1", bad.path.replace("-b", "-c"), T0 + 200, T0 + 205, 7, 1, bad.url)],
        site.cache,
    )
    with pytest.raises(EdgeRecordingError, match="bytes arrived, 7 were announced"):
        site.central.segments("cam1", T0 + 200, T0 + 205)
    assert not list(site.cache.rglob("*.part"))


def test_a_node_that_serves_no_recordings_is_named_with_what_to_set(site: Site) -> None:
    site.central.add_remote_segments(
        [RecordedSegment("cam1", "edge2", "cam1/x.mp4", T0, T0 + 5, 10, 1, None)], site.cache
    )
    with pytest.raises(EdgeRecordingError, match="edge2.*serves no recordings; set VIGIL_NODE_TOKEN"):
        site.central.segments("cam1", T0, T0 + 5)


def test_central_disk_pressure_never_drops_the_rows_of_segments_an_edge_node_holds(
    site: Site, tmp_path: Path
) -> None:
    site.record("cam1-a.mp4", T0)
    local = tmp_path / "central-rec" / "cam1" / "own.mp4"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"own recording")
    site.central.add_segments([Seg("cam1", local, T0 - 100, T0 - 90, local.stat().st_size)])

    deleted = enforce(site.central, RetentionPolicy(), now=T0 + 60, free_percent=lambda: 1.0)

    assert [Path(s.path) for s in deleted] == [local] and not local.exists()
    assert [s.node for s in site.central.segments("cam1", 0, T0 + 1e6)] == ["edge1"]  # fetched, kept


def test_central_copies_the_edge_segments_under_a_hold_placed_here_and_retries_a_node_that_is_down(
    site: Site, tmp_path: Path
) -> None:
    site.record("cam1-a.mp4", T0)
    site.record("cam1-b.mp4", T0 + 1000)  # the sample is 139 s long
    copies = [site.cache / "edge1" / s.path for s in site.announced]
    with Store.open(tmp_path / "central.db") as central_store:
        central_store.segment_fetch = site.fetcher
        retention = RetentionService(
            central_store, RetentionPolicy(), tmp_path, tmp_path / "central-rec", free_percent=lambda: 100.0
        )
        LegalHoldService(central_store, ["cam1"]).hold_span(
            ["cam1"], T0 + 999, T0 + 1001, user="root", reason="court order 2027-1"
        )
        site.server.stop()
        assert retention.preserve_held_remote() == 0  # the edge is down: logged, tried again later
        site.server = SegmentServer(site.edge, site.edge_root, TOKEN, "127.0.0.1", _port(site.announced[1]))
        site.server.start()

        retention.check_recordings(now=T0 + 1300)

    assert [c.exists() for c in copies] == [False, True]  # only the held span is copied
    assert retention.preserved_total == 1


def _port(segment: RecordedSegment) -> int:
    assert segment.url is not None
    return int(segment.url.split(":")[2].split("/")[0])


def test_a_gap_the_edge_recorded_reaches_central_with_its_reason(site: Site, tmp_path: Path) -> None:
    site.record("cam1-a.mp4", T0)
    site.record("cam1-b.mp4", T0 + 200)  # 139 s of footage each: 61 s unrecorded between them
    gaps: list[RecordedGap] = []
    announcer = SegmentAnnouncer(site.edge, _Bus([], gaps), "edge1", site.edge_root, site.server.url)
    announcer.add_gaps([Gap("cam1", T0 + 139.4, T0 + 200, "stream lost: connection refused")])
    site.central.add_gaps(gaps)
    site.central.add_gaps(gaps)  # the bus redelivers: recorded once

    assert len(site.central.gaps("cam1", T0, T0 + 300)) == 1
    manifest = export_clip(site.central, "cam1", T0 + 130, T0 + 210, tmp_path / "clip.mp4")

    assert [g.reason for g in manifest.gaps] == ["stream lost: connection refused"]
    assert [g.node for g in gaps] == ["edge1"] and site.edge.gaps("cam1", T0, T0 + 300)
