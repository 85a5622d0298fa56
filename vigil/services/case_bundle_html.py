"""The case bundle's ``index.html``: one static page, relative links, no script, site-local times.

It opens from the unpacked bundle in any browser without a network or a server: the crops are
``<img>`` of ``crops/``, the clips links to ``clips/`` (a browser plays MP4 in a ``<video>``
element without script), every time is in the site's time zone with its abbreviation and UTC
offset. Every value that came from the database is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.clips import ClipManifest
from vigil.core.types import Sighting
from vigil.infra.db.cases import CaseRecord
from vigil.services.evidence import Masking


@dataclass(frozen=True)
class TrailItem:
    """One confirmed sighting in the bundle: the sighting, its clip and crop inside the bundle."""

    sighting: Sighting
    clip: str
    clip_offset_s: float
    crop: str | None


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #111; max-width: 70rem; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2rem; }
th, td { border: 1px solid #bbb; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #eee; }
img { max-height: 8rem; }
video { max-width: 32rem; }
.note { color: #444; }
"""


def render_index(
    *,
    case: CaseRecord,
    trail: Sequence[TrailItem],
    clips: Sequence[ClipManifest],
    audit: Sequence[Mapping[str, Any]],
    site: tuple[str, str, Mapping[str, str]],
    custody: tuple[str, str, float],
    masking: Masking,
) -> str:
    """The page (UTF-8 HTML5).

    Args:
        case / trail / clips / audit: What the bundle holds.
        site: (site name, IANA time zone, camera id to name).
        custody: (exporter, reason, export time epoch seconds).
        masking: Which cameras had their privacy masks burned in.
    """
    name, timezone, cameras = site
    zone = zoneinfo.ZoneInfo(timezone)
    user, reason, at = custody

    def when(t: float) -> str:
        return _local(t, zone)

    def camera(camera_id: str) -> str:
        label = cameras.get(camera_id) or ""
        return _e(f"{label} ({camera_id})" if label else camera_id)

    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Case {_e(case.id)}: evidence bundle</title><style>{_STYLE}</style></head><body>",
        f"<h1>Case {_e(case.id)}</h1>",
        _custody_table(case, name, timezone, (user, reason, when(at))),
        f"<h2>Confirmed sightings ({len(trail)})</h2>",
        _trail_table(trail, when, camera),
        f"<h2>Clips ({len(clips)})</h2>",
        _clips_table(clips, when, camera, masking),
        f"<h2>Audit log of the case ({len(audit)} rows, up to this export)</h2>",
        _audit_table(audit, when),
        '<p class="note">Check this bundle with <code>vigil verify BUNDLE.zip --public-key '
        "site.pem</code> (the site's key is served at <code>/evidence/public-key</code>): it checks the "
        "signature over manifest.json and the SHA-256 of every file here, this page included.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _custody_table(case: CaseRecord, site: str, timezone: str, custody: tuple[str, str, str]) -> str:
    user, reason, at = custody
    rows = [
        ("Site", site),
        ("Case reason", case.reason),
        ("Case opened by", case.opened_by),
        ("Case status", case.status.value),
        ("Exported by", user),
        ("Export reason", reason),
        ("Exported at", at),
        ("Times shown in", timezone),
    ]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _trail_table(trail: Sequence[TrailItem], when: Any, camera: Any) -> str:
    head = "<tr><th>#</th><th>Seen</th><th>Camera</th><th>For</th><th>Crop</th><th>In clip</th></tr>"
    rows = []
    for n, item in enumerate(trail, start=1):
        s = item.sighting
        crop = f'<img src="{_e(item.crop)}" alt="crop of sighting {n}">' if item.crop else "no crop kept"
        rows.append(
            f"<tr><td>{n}</td><td>{_e(when(s.start))}</td><td>{camera(s.camera_id)}</td>"
            f"<td>{s.end - s.start:.1f} s</td><td>{crop}</td>"
            f'<td><a href="{_e(item.clip)}">{_e(item.clip)}</a> at {_clock(item.clip_offset_s)}</td></tr>'
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _clips_table(clips: Sequence[ClipManifest], when: Any, camera: Any, masking: Masking) -> str:
    head = (
        "<tr><th>Clip</th><th>Camera</th><th>From</th><th>To</th><th>Gaps</th><th>Privacy masks</th>"
        "<th>Bystanders</th></tr>"
    )
    states = {
        "burned_in": "burned in (re-encoded)",
        "unmasked": "LEFT OUT by an admin (audited)",
        "none": "none on this camera",
    }
    rows = []
    for clip in clips:
        path = f"clips/{clip.file}"
        gaps = "; ".join(f"{when(g.start)} .. {when(g.end)}: {g.reason}" for g in clip.gaps) or "none"
        rows.append(
            f'<tr><td><a href="{_e(path)}">{_e(clip.file)}</a><br>'
            f'<video controls preload="none" src="{_e(path)}"></video></td>'
            f"<td>{camera(clip.camera_id)}</td><td>{_e(when(clip.covered_start))}</td>"
            f"<td>{_e(when(clip.covered_end))}</td><td>{_e(gaps)}</td>"
            f"<td>{_e(states[masking.state(clip.camera_id)])}</td><td>{_e(_bystanders(clip))}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _bystanders(clip: ClipManifest) -> str:
    """What bystander redaction did in this clip, in words."""
    report = (clip.reencode or {}).get("redaction")
    if not report:
        return "not redacted"
    shown = report["subject_shown"]
    return (
        f"blurred: {report['people_hidden']} person box(es) in {report['samples']} samples; "
        f"subject shown in {shown}" + ("" if shown else " (no sure match: everyone blurred)")
    )


def _audit_table(audit: Sequence[Mapping[str, Any]], when: Any) -> str:
    head = "<tr><th>Row</th><th>When</th><th>User</th><th>Action</th><th>Reason</th><th>Row hash</th></tr>"
    rows = [
        f"<tr><td>{_e(row['id'])}</td><td>{_e(when(float(row['at'])))}</td><td>{_e(row['user'])}</td>"
        f"<td>{_e(row['action'])}</td><td>{_e(row['reason'])}</td>"
        f"<td><code>{_e(str(row['row_hash'])[:16])}</code></td></tr>"
        for row in audit
    ]
    return f"<table>{head}{''.join(rows)}</table>"


def _local(t: float, zone: zoneinfo.ZoneInfo) -> str:
    moment = dt.datetime.fromtimestamp(t, tz=zone)
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z (UTC%z)")


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)
