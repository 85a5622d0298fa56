"""Recordings across nodes: an edge node serves its segments, central fetches the ones it needs.

In the Kafka layout (`vigil.roles`) each edge node records its cameras to its own disk and
announces every closed segment on the ``segments`` topic (`SegmentAnnouncer`); central indexes
them (`vigil.infra.db.recordings.RecordingIndex.add_remote_segments`). When a clip, a case bundle
or a back-scan reads a span, the index asks `EdgeSegmentFetcher` to bring the segments' files
from the node that holds them into central's cache; after that they are ordinary local files
(an export holds its span, so its copies stay).

The edge side is `SegmentServer`: plain HTTP, ``GET /segments/<path>`` with ``Authorization:
Bearer <node token>``. It serves only files its own recording index lists (a path that is not
indexed is a 404 whatever it names), so the token grants recordings, not the file system. The
token is one shared secret, ``VIGIL_NODE_TOKEN`` in the environment of central and every edge
node; without it an edge node announces its segments but serves none, and central says so when
it needs one. Run it on the site's private network (or behind TLS termination): the token
travels in clear over plain HTTP.
"""

from __future__ import annotations

import hmac
import logging
import os
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

from vigil.core.errors import EdgeRecordingError
from vigil.core.events import Topic
from vigil.core.types import RecordedGap, RecordedSegment
from vigil.infra.db.recordings import GapLike, RecordingIndex, SegmentLike, SegmentRecord

log = logging.getLogger(__name__)

TOKEN_ENV = "VIGIL_NODE_TOKEN"
"""Environment variable holding the node token, the same on central and every edge node."""
ROUTE = "/segments/"
CHUNK = 1 << 20


class _Publisher(Protocol):
    def publish(self, topic: str, key: str, event: object) -> None: ...


def node_token() -> str | None:
    """The node token from the environment, None when unset or blank."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    return token or None


# -- edge: index locally, announce, serve ----------------------------------------------------


class SegmentAnnouncer:
    """The edge node's recording index sink: segments and gaps indexed locally, then announced on the bus.

    Local first: the node's own retention and event tier work from its index even while the
    brokers are away (the bus buffers the announcements, `vigil.infra.spool`).

    Args:
        index: The edge node's own recording index.
        bus: Where announcements go (topic ``segments``, keyed by camera).
        node: This node's name (central keeps its copies under it).
        root: The recording root; announced paths are relative to it.
        url: This node's segment server (``http://host:port``), None when it serves none.
    """

    def __init__(
        self, index: RecordingIndex, bus: _Publisher, node: str, root: Path, url: str | None
    ) -> None:
        self.index = index
        self.bus = bus
        self.node = node
        self.root = root.resolve()
        self.url = url.rstrip("/") if url else None

    def add_segments(self, segments: Sequence[SegmentLike]) -> None:
        self.index.add_segments(segments)
        for segment in segments:
            relative = self._relative(Path(segment.path))
            if relative is None:
                log.warning("segment %s is outside %s: not announced", segment.path, self.root)
                continue
            url = f"{self.url}{ROUTE}{urllib.parse.quote(relative)}" if self.url else None
            announced = RecordedSegment(
                segment.camera_id, self.node, relative, segment.start, segment.end,
                segment.size, segment.packets, url,
            )  # fmt: skip
            self.bus.publish(Topic.SEGMENTS, segment.camera_id, announced)

    def add_gaps(self, gaps: Sequence[GapLike]) -> None:
        self.index.add_gaps(gaps)
        for gap in gaps:
            announced = RecordedGap(gap.camera_id, self.node, gap.start, gap.end, gap.reason)
            self.bus.publish(Topic.RECORDING_GAPS, gap.camera_id, announced)

    def _relative(self, path: Path) -> str | None:
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return None


class SegmentServer:
    """Serves an edge node's indexed segments to central over HTTP (see the module docstring).

    Args:
        index: The node's recording index: only files it lists are served.
        root: The recording root that request paths are relative to.
        token: The node token every request must carry.
        host / port: Where to listen (port 0: any free port; `url` says which).
        advertise: The host central reaches this node by (default: `host`).
    """

    def __init__(
        self, index: RecordingIndex, root: Path, token: str, host: str = "0.0.0.0", port: int = 8765,
        advertise: str | None = None,
    ) -> None:  # fmt: skip
        if not token:
            raise ValueError("SegmentServer: a node token is required")
        handler = _handler(index, root, token)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._advertise = advertise or host
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://<advertised host>:<port>``."""
        return f"http://{self._advertise}:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="segment-server", daemon=True)
        self._thread.start()
        log.info("serving recorded segments on %s", self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _handler(index: RecordingIndex, root: Path, token: str) -> type[BaseHTTPRequestHandler]:
    expected = f"Bearer {token}".encode()
    # The index holds paths as ingest wrote them: under the root as configured (maybe relative).
    roots = list(dict.fromkeys([root, root.resolve()]))

    def indexed(relative: str) -> SegmentRecord | None:
        if not relative or "\x00" in relative:
            return None
        return next(filter(None, (index.segment_at(r / relative) for r in roots)), None)

    class Handler(BaseHTTPRequestHandler):
        server_version = "vigil-segments"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            given = self.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                self._refuse(HTTPStatus.UNAUTHORIZED, "a valid node token is required (VIGIL_NODE_TOKEN)")
                return
            if not self.path.startswith(ROUTE):
                self._refuse(HTTPStatus.NOT_FOUND, f"only {ROUTE}<path> is served")
                return
            relative = urllib.parse.unquote(self.path.removeprefix(ROUTE).split("?", 1)[0])
            segment = indexed(relative)
            path = Path(segment.path) if segment is not None else None
            if path is None or not path.is_file():
                self._refuse(HTTPStatus.NOT_FOUND, f"no recorded segment {relative!r} on this node")
                return
            with path.open("rb") as source:
                size = os.fstat(source.fileno()).st_size
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                shutil.copyfileobj(source, self.wfile, CHUNK)

        def _refuse(self, code: HTTPStatus, message: str) -> None:
            body = message.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
            log.debug("segment server: " + format, *args)

    return Handler


# -- central: fetch what a read needs ---------------------------------------------------------


class EdgeSegmentFetcher:
    """Brings remote segments' files into central's cache (`Store.segment_fetch`).

    A file is written beside its place and renamed into it only once whole and of the announced
    size, so a failed or interrupted fetch leaves nothing half-written to be read later.

    Args:
        token: The node token (None: every remote segment not yet here is refused, saying why).
        timeout_s: Per connection and read.
    """

    def __init__(self, token: str | None, timeout_s: float = 30.0) -> None:
        self.token = token
        self.timeout_s = timeout_s
        self.fetched = 0
        """Files fetched so far."""
        self._lock = threading.Lock()

    def __call__(self, segments: Sequence[SegmentRecord]) -> None:
        for segment in segments:
            if segment.node is not None and not Path(segment.path).is_file():
                with self._lock:  # two readers of one span fetch each file once
                    if not Path(segment.path).is_file():
                        self._fetch(segment)

    def _fetch(self, segment: SegmentRecord) -> None:
        what = f"camera {segment.camera_id!r} segment {_span(segment)} on edge node {segment.node!r}"
        if segment.source_url is None:
            raise EdgeRecordingError(
                f"{what}: that node serves no recordings; set {TOKEN_ENV} (the same secret on central "
                "and every edge node) on it and restart it",
                retry=True,
            )
        if self.token is None:
            raise EdgeRecordingError(
                f"{what}: central has no node token to fetch it with; set {TOKEN_ENV} here", retry=True
            )
        target = Path(segment.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f"{target.name}.{os.getpid()}.part")
        headers = {"Authorization": f"Bearer {self.token}"}
        request = urllib.request.Request(segment.source_url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response, part.open("wb") as out:
                shutil.copyfileobj(response, out, CHUNK)
            size = part.stat().st_size
            if size != segment.size:
                raise EdgeRecordingError(
                    f"{what}: {size} bytes arrived, {segment.size} were announced; retry later", retry=True
                )
            os.replace(part, target)
        except urllib.error.HTTPError as error:
            raise _refused(what, error) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise EdgeRecordingError(
                f"{what}: the node is unreachable at {segment.source_url} ({reason}); retry when it is back",
                retry=True,
            ) from None
        finally:
            part.unlink(missing_ok=True)
        self.fetched += 1


def _refused(what: str, error: urllib.error.HTTPError) -> EdgeRecordingError:
    if error.code == HTTPStatus.NOT_FOUND:
        return EdgeRecordingError(
            f"{what}: the node no longer has it (deleted by its retention), leaving a gap", retry=False
        )
    if error.code == HTTPStatus.UNAUTHORIZED:
        return EdgeRecordingError(
            f"{what}: the node refused central's token; set the same {TOKEN_ENV} on both", retry=False
        )
    answer = f"{error.code} {error.reason}"
    return EdgeRecordingError(f"{what}: the node answered {answer}; retry later", retry=True)


def _span(segment: SegmentRecord) -> str:
    times = (segment.start, segment.end)
    return " .. ".join(datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds") for t in times)
