"""The on-disk spool: order, commit, bounds, reopening, torn tails after a crash."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from vigil.core.errors import ServiceError, ValidationError
from vigil.infra.spool import FRAME, Spool


def make_records(count: int, size: int = 100) -> list[bytes]:
    """`count` distinct payloads of `size` bytes."""
    return [f"{i:08d}".encode().ljust(size, b".") for i in range(count)]


def open_spool(path: Path, max_bytes: int = 1 << 20, segment_bytes: int = 1024) -> Spool:
    return Spool.open(path, max_bytes, segment_bytes=segment_bytes, fsync_interval_s=0)


def segments(path: Path) -> list[Path]:
    return sorted(path.glob("*.seg"))


@pytest.mark.parametrize(
    ("appends", "reads", "commits", "left"),
    [
        (0, 5, 0, 0),  # empty: nothing to read
        (10, 10, 10, 0),  # all read and committed
        (10, 4, 4, 6),  # part committed
        (10, 10, 3, 7),  # read ahead of what is committed
        (50, 50, 20, 30),  # several 1 KiB segments, the head one partly committed
    ],
)
def test_records_come_out_in_order_and_only_commits_remove(
    tmp_path: Path, appends: int, reads: int, commits: int, left: int
) -> None:
    spool = open_spool(tmp_path)
    records = make_records(appends)
    assert all(spool.append(record) for record in records)
    assert spool.read(reads) == records[:reads]
    spool.commit(commits)
    assert (spool.records, spool.unread) == (left, max(0, appends - reads))
    assert spool.size == left * (FRAME.size + 100)
    spool.close()
    reopened = open_spool(tmp_path)
    assert reopened.read(1000) == records[commits:]  # read but uncommitted records come back
    reopened.close()


def test_committed_segments_are_deleted(tmp_path: Path) -> None:
    spool = open_spool(tmp_path, segment_bytes=1024)
    for record in make_records(50):
        spool.append(record)
    assert len(segments(tmp_path)) >= 5
    spool.commit(len(spool.read(50)))
    spool.append(b"x" * 1000)  # rolls to a new segment: the committed ones go
    assert len(segments(tmp_path)) == 1
    assert spool.records == 1
    spool.close()


def test_reopen_and_continue_appending(tmp_path: Path) -> None:
    records = make_records(30)
    spool = open_spool(tmp_path)
    for record in records[:20]:
        spool.append(record)
    spool.commit(len(spool.read(5)))
    spool.close()
    spool = open_spool(tmp_path)
    for record in records[20:]:
        spool.append(record)
    assert spool.records == 25
    assert spool.read(100) == records[5:]
    spool.commit(25)
    spool.close()
    assert open_spool(tmp_path).records == 0


def _truncate_last(cut: int) -> Callable[[Path], None]:
    def damage(segment: Path) -> None:
        data = segment.read_bytes()
        segment.write_bytes(data[: len(data) - cut])

    return damage


def _flip_last_byte(segment: Path) -> None:
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF
    segment.write_bytes(bytes(data))


def _append_zeros(segment: Path) -> None:
    with segment.open("ab") as handle:
        handle.write(b"\0" * 64)


@pytest.mark.parametrize(
    ("damage", "kept"),
    [
        (_truncate_last(1), 9),  # crash mid-payload of the last record
        (_truncate_last(100 + FRAME.size - 3), 9),  # crash mid-header of the last record
        (_flip_last_byte, 9),  # last payload written wrong: checksum mismatch
        (_append_zeros, 10),  # power cut left zeros after the last record
    ],
)
def test_torn_tail_is_dropped_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], None], kept: int
) -> None:
    records = make_records(10)
    spool = open_spool(tmp_path, segment_bytes=1 << 20)
    for record in records:
        spool.append(record)
    spool.close()
    damage(segments(tmp_path)[-1])
    with caplog.at_level(logging.WARNING, logger="vigil.infra.spool"):
        spool = open_spool(tmp_path, segment_bytes=1 << 20)
    assert "torn record" in caplog.text
    assert (spool.records, spool.torn) == (kept, 1)
    spool.append(b"after the crash")  # appends land after the truncated tail
    assert spool.read(100) == [*records[:kept], b"after the crash"]
    spool.close()


def test_full_spool_refuses_new_records_and_counts_them(tmp_path: Path) -> None:
    framed = FRAME.size + 100
    spool = open_spool(tmp_path, max_bytes=10 * framed)
    records = make_records(15)
    accepted = [spool.append(record) for record in records]
    assert accepted == [True] * 10 + [False] * 5
    assert (spool.records, spool.dropped, spool.size) == (10, 5, 10 * framed)
    spool.commit(len(spool.read(3)))  # acknowledged records make room again
    assert spool.append(records[10])
    assert spool.read(100) == records[3:11]
    spool.close()


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"", ValidationError),  # an empty record could not be told from zeros on disk
    ],
)
def test_append_rejects_bad_payloads(tmp_path: Path, payload: bytes, error: type[Exception]) -> None:
    spool = open_spool(tmp_path)
    with pytest.raises(error):
        spool.append(payload)
    spool.close()


def test_one_process_at_a_time(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    with pytest.raises(ServiceError, match="another process"):
        open_spool(tmp_path)
    spool.close()
    open_spool(tmp_path).close()


def test_commit_more_than_read_is_refused(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.append(b"one")
    with pytest.raises(ValidationError):
        spool.commit(1)
    spool.close()
