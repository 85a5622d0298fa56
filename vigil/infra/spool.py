"""`Spool`: a bounded on-disk FIFO of byte records, the edge node's buffer for broker outages.

Layout of a spool directory::

    000000000001.seg   append-only segment files of framed records
    000000000002.seg
    head               "<segment> <offset>": where the oldest unacknowledged record starts
    lock               flock'ed while a process has the spool open (one owner at a time)

A record is framed as ``length (u32 LE) | crc32(length bytes + payload) (u32 LE) | payload``.
Records are appended with one ``write`` each and removed only from the front: `read` hands
records out in order without removing them, `commit(n)` removes the ``n`` oldest handed-out
records (the caller calls it once the broker has acknowledged them) and rewrites ``head``
by an atomic rename. A segment file is deleted once every record in it is committed.

Crash safety:

- A process crash loses nothing that `append` returned for: each record is in the page
  cache as soon as its ``write`` returns.
- fsync policy (``fsync_interval_s``): 0 fsyncs the segment after every append and the head
  after every commit; a positive value fsyncs the segment at most that often (on the next
  append or `sync` call), so a power cut loses at most that many seconds of events. The
  head is never fsynced under the interval policy: after a power cut it may point at
  records already acknowledged, which are then sent again (at-least-once; the central
  store ignores an event id it already holds).
- On open, every record from the head on is checked. A torn record (a short frame, a
  length beyond what the file holds, a checksum that does not match: a crash or power cut
  mid-write) is logged, and the segment is truncated there; the spool opens normally.

When full (``max_bytes`` of unacknowledged records), `append` refuses the new record and
counts it in `dropped`: the oldest events are kept, the newest refused. A control room
wants it this way round because the start of an outage is the part that matters most
(a cut cable or a tampered switch is often the incident itself), the refused tail is
still on the edge node's own recordings (a back-scan finds those people again), and the
events that do arrive keep one unbroken stretch per camera instead of losing their
beginning while they drain. Disk use stays below ``max_bytes`` plus one segment (the
partly committed head segment).

No library was a good fit: persist-queue's file queue and queuelib's disk queues have no
checksums, no byte bound and no read-without-remove; their SQLite queues would bring a
second database for what is an append-only log.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vigil.core.errors import ServiceError, ValidationError

log = logging.getLogger(__name__)

FRAME = struct.Struct("<II")
"""Record header: payload length, crc32 of the packed length followed by the payload."""
MAX_RECORD = 64 * 1024 * 1024
"""Largest payload `append` takes; a longer length field on disk is treated as torn."""
SEGMENT_SUFFIX = ".seg"


@dataclass(frozen=True)
class SpoolStats:
    """How full the buffer is and what went through it (health and metrics read this).

    Attributes:
        records: Events waiting in the spool (not yet acknowledged by the brokers).
        bytes: Their size on disk, framing included.
        max_bytes: The bound; past it new events are refused.
        spooled: Events written to the spool since start.
        replayed: Events the brokers acknowledged out of the spool since start.
        dropped: Events refused because the spool was full, since start.
    """

    records: int
    bytes: int
    max_bytes: int
    spooled: int
    replayed: int
    dropped: int

    @property
    def fill(self) -> float:
        """Fraction of ``max_bytes`` in use, 0 to 1."""
        return min(1.0, self.bytes / self.max_bytes) if self.max_bytes else 0.0


def _frame(payload: bytes) -> bytes:
    length = struct.pack("<I", len(payload))
    return length + struct.pack("<I", zlib.crc32(payload, zlib.crc32(length))) + payload


def _segment_path(directory: Path, seq: int) -> Path:
    return directory / f"{seq:012d}{SEGMENT_SUFFIX}"


def _read_record(handle: BinaryIO, available: int) -> bytes | None:
    """The next record at the handle's position, or None if it is torn (incomplete or corrupt)."""
    header = handle.read(FRAME.size)
    if len(header) < FRAME.size:
        return None
    length, crc = FRAME.unpack(header)
    if length == 0 or length > MAX_RECORD or FRAME.size + length > available:
        return None  # zeros left by a power cut read as length 0
    payload = handle.read(length)
    if len(payload) < length or zlib.crc32(payload, zlib.crc32(header[:4])) != crc:
        return None
    return payload


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """A bounded FIFO of byte records in append-only segment files; thread-safe.

    Open with `Spool.open`. Producers `append`; one consumer `read`s records in order and
    `commit`s them once they are safe elsewhere. Records read but not committed when the
    process stops are read again after the next open.
    """

    def __init__(
        self, directory: Path, max_bytes: int, segment_bytes: int, fsync_interval_s: float, lock: int
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._fsync_interval_s = fsync_interval_s
        self._lock_fd = lock
        self._lock = threading.Lock()
        self._sizes: dict[int, int] = {}
        """Valid bytes of each segment file still on disk, by segment number."""
        self._head = (1, 0)
        self._cursor = (1, 0)
        self._handed: deque[tuple[int, int, int]] = deque()
        """(segment, end offset, framed size) of each record read but not committed."""
        self._bytes = 0
        self._records = 0
        self._unread = 0
        self._writer: BinaryIO | None = None
        self._reader: BinaryIO | None = None
        self._reader_seq = 0
        self._synced_at = time.monotonic()
        self._dirty = False
        self.appended = 0
        """Records appended since open."""
        self.committed = 0
        """Records committed (removed) since open."""
        self.dropped = 0
        """Records refused because the spool was full, since open."""
        self.torn = 0
        """Torn records found and dropped when the spool was opened."""

    @classmethod
    def open(
        cls,
        directory: Path,
        max_bytes: int,
        *,
        segment_bytes: int = 16 * 1024 * 1024,
        fsync_interval_s: float = 1.0,
    ) -> Spool:
        """Open (or create) the spool in `directory` and check what it holds.

        Args:
            directory: Folder of the segment files; created if missing. One process at a time.
            max_bytes: Unacknowledged records beyond this are refused (`append` returns False).
            segment_bytes: Size at which a new segment file starts. Raising it means fewer
                files but up to that much disk still held by a partly committed segment.
            fsync_interval_s: 0 fsyncs every append; otherwise at most this often (see module).

        Raises:
            ValidationError: A bound is not positive.
            ServiceError: Another process has the spool open.
        """
        if max_bytes <= 0 or segment_bytes <= 0 or fsync_interval_s < 0:
            raise ValidationError(
                f"Spool: max_bytes and segment_bytes must be > 0 and fsync_interval_s >= 0, got "
                f"{max_bytes}, {segment_bytes}, {fsync_interval_s}"
            )
        directory.mkdir(parents=True, exist_ok=True)
        lock = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(lock)
            raise ServiceError(f"spool {directory} is open in another process: {error}") from error
        spool = cls(directory, max_bytes, segment_bytes, fsync_interval_s, lock)
        spool._recover()
        return spool

    # -- public API -----------------------------------------------------------------------

    @property
    def records(self) -> int:
        """Records not yet committed (read or not)."""
        return self._records

    @property
    def size(self) -> int:
        """Framed size in bytes of the records not yet committed."""
        return self._bytes

    @property
    def unread(self) -> int:
        """Records not yet handed out by `read`."""
        return self._unread

    def append(self, payload: bytes) -> bool:
        """Add a record at the tail; False (and counted in `dropped`) when the spool is full.

        Raises:
            ValidationError: The payload is empty or longer than `MAX_RECORD`.
        """
        if not 0 < len(payload) <= MAX_RECORD:
            raise ValidationError(
                f"Spool.append: payload of 1 to {MAX_RECORD} bytes expected, got {len(payload)}"
            )
        framed = _frame(payload)
        with self._lock:
            if self._bytes + len(framed) > self.max_bytes:
                self.dropped += 1
                return False
            writer = self._writable(len(framed))
            writer.write(framed)
            seq = max(self._sizes)
            self._sizes[seq] += len(framed)
            self._bytes += len(framed)
            self._records += 1
            self._unread += 1
            self.appended += 1
            self._dirty = True
            self._maybe_sync(writer)
        return True

    def read(self, limit: int) -> list[bytes]:
        """Hand out up to `limit` of the oldest records not handed out yet, in order."""
        out: list[bytes] = []
        with self._lock:
            while len(out) < limit and self._unread:
                seq, offset = self._cursor
                if offset >= self._sizes[seq]:
                    self._cursor = (self._next_segment(seq), 0)  # the unread records lie further on
                    continue
                reader = self._reader_at(seq, offset)
                payload = _read_record(reader, self._sizes[seq] - offset)
                if payload is None:
                    raise ServiceError(f"spool {self.directory}: record at {seq}:{offset} changed on disk")
                size = FRAME.size + len(payload)
                self._cursor = (seq, offset + size)
                self._handed.append((seq, offset + size, size))
                self._unread -= 1
                out.append(payload)
        return out

    def commit(self, count: int) -> None:
        """Remove the `count` oldest records handed out by `read` (they are safe elsewhere)."""
        if count <= 0:
            return
        with self._lock:
            if count > len(self._handed):
                raise ValidationError(f"Spool.commit: {len(self._handed)} records handed out, asked {count}")
            for _ in range(count):
                seq, end, size = self._handed.popleft()
                self._bytes -= size
            self._records -= count
            self.committed += count
            self._head = (seq, end)
            self._drop_consumed()
            self._write_head()

    def sync(self) -> None:
        """fsync the tail segment if the interval policy owes it one."""
        with self._lock:
            if self._writer is not None:
                self._maybe_sync(self._writer)

    def close(self) -> None:
        """fsync and close the files and release the lock; records not committed stay."""
        with self._lock:
            if self._writer is not None:
                os.fsync(self._writer.fileno())
                self._writer.close()
                self._writer = None
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            if self._lock_fd >= 0:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = -1

    # -- internals ------------------------------------------------------------------------

    def _recover(self) -> None:
        """Read head, drop segments before it, check every record after it, truncate torn ones."""
        segments = sorted(
            int(path.stem) for path in self.directory.glob(f"*{SEGMENT_SUFFIX}") if path.stem.isdigit()
        )
        head_seq, head_offset = self._read_head(segments)
        for seq in segments:
            path = _segment_path(self.directory, seq)
            if seq < head_seq:
                path.unlink()
                continue
            start, records, valid = self._check_segment(path, head_offset if seq == head_seq else 0)
            if seq == head_seq:
                head_offset = start
            self._sizes[seq] = valid
            self._records += records
            self._bytes += valid - start
        self._unread = self._records
        if not self._sizes:
            self._sizes[head_seq] = 0
            head_offset = 0
        first = min(self._sizes)
        self._head = (first, head_offset if first == head_seq else 0)
        self._cursor = self._head
        if self._records:
            log.info(
                "spool %s: %d records (%d bytes) left from the last run",
                self.directory,
                self._records,
                self._bytes,
            )

    def _read_head(self, segments: list[int]) -> tuple[int, int]:
        default = (segments[0] if segments else 1, 0)
        try:
            seq_text, offset_text = (self.directory / "head").read_text().split()
            return int(seq_text), int(offset_text)
        except FileNotFoundError:
            return default
        except ValueError:
            log.warning("spool %s: unreadable head file, reading from the first segment", self.directory)
            return default

    def _check_segment(self, path: Path, start: int) -> tuple[int, int, int]:
        """(start, records, valid end offset) of a segment read from `start` (clamped to its
        size: a power cut may have lost data the head had moved past); truncates a torn tail."""
        size = path.stat().st_size
        start = min(start, size)
        records, offset = 0, start
        with path.open("rb") as handle:
            handle.seek(start)
            while offset < size:
                payload = _read_record(handle, size - offset)
                if payload is None:
                    self.torn += 1
                    log.warning(
                        "spool %s: dropped a torn record at byte %d (%d bytes after it), "
                        "left by a crash mid-write",
                        path,
                        offset,
                        size - offset,
                    )
                    break
                records += 1
                offset += FRAME.size + len(payload)
        if offset < size:
            os.truncate(path, offset)
        return start, records, offset

    def _writable(self, framed: int) -> BinaryIO:
        """The tail segment's writer, rolling to a new segment when this record would overflow it."""
        seq = max(self._sizes)
        if self._writer is not None and self._sizes[seq] and self._sizes[seq] + framed > self._segment_bytes:
            os.fsync(self._writer.fileno())  # a closed segment is complete on disk
            self._writer.close()
            self._writer = None
            seq += 1
            self._sizes[seq] = 0
            self._drop_consumed()
        if self._writer is None:
            path = _segment_path(self.directory, seq)
            self._writer = path.open("ab", buffering=0)
            _fsync_directory(self.directory)
        return self._writer

    def _maybe_sync(self, writer: BinaryIO) -> None:
        now = time.monotonic()
        if self._dirty and now - self._synced_at >= self._fsync_interval_s:
            os.fsync(writer.fileno())
            self._synced_at = now
            self._dirty = False

    def _reader_at(self, seq: int, offset: int) -> BinaryIO:
        if self._reader is None or self._reader_seq != seq:
            if self._reader is not None:
                self._reader.close()
            self._reader = _segment_path(self.directory, seq).open("rb")
            self._reader_seq = seq
        self._reader.seek(offset)
        return self._reader

    def _drop_consumed(self) -> None:
        """Delete segments wholly committed; the tail segment stays (it is being appended to)."""
        tail = max(self._sizes)
        seq, offset = self._head
        if seq < tail and offset >= self._sizes[seq]:
            seq, offset = self._next_segment(seq), 0
        for done in [s for s in self._sizes if s < seq]:
            if self._reader is not None and self._reader_seq == done:
                self._reader.close()
                self._reader = None
            _segment_path(self.directory, done).unlink(missing_ok=True)
            del self._sizes[done]
        self._head = (seq, offset)

    def _next_segment(self, seq: int) -> int:
        return min(s for s in self._sizes if s > seq)

    def _write_head(self) -> None:
        path, temp = self.directory / "head", self.directory / "head.tmp"
        seq, offset = self._head
        with temp.open("w") as handle:
            handle.write(f"{seq} {offset}\n")
            if self._fsync_interval_s == 0:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
