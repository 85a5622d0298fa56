"""The site benchmark's arithmetic and tables: measured costs, cores a site needs, the text report.

`cores_needed` extrapolates measured parts linearly: per AI sub-stream (decode), per camera
(recording, the ingest supervisor), per analysed frame (every stage of the detect thread, the
store and bus) and a fixed remainder (main thread, API, retention, search). Each part is what
this run measured divided by what it served, times what the target site serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.site_probe import STAGES

PER_FRAME = (*STAGES, "handover", "store_bus")
"""Parts that scale with analysed frames: the detect thread's stages, its hand-over, the store."""
SPLIT_ORDER = ("ingest_decode", "record_shards", "ingest_supervisor", *PER_FRAME, "other")


def quantiles(values: Sequence[float], scale: float = 1.0, digits: int = 3) -> dict[str, float | None]:
    """``{"p50": .., "p95": .., "n": ..}`` of `values` x `scale`; None for no values."""
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    p50, p95 = np.percentile(np.asarray(values, dtype=np.float64) * scale, [50, 95])
    return {"p50": round(float(p50), digits), "p95": round(float(p95), digits), "n": len(values)}


@dataclass(frozen=True)
class Target:
    """The site the extrapolation is for."""

    cameras: int = 141
    ai_cameras: int = 23
    detect_fps: float = 5.0

    @property
    def frames_per_s(self) -> float:
        return self.ai_cameras * self.detect_fps


def unit_costs(
    split_cores: dict[str, float], wall_s: float, cameras: int, ai: int, analysed: int
) -> dict[str, float]:
    """CPU-seconds per unit: per AI stream-second, per camera-second, per analysed frame; fixed cores.

    Args:
        split_cores: Measured cores (CPU-s per wall-s) per part (`SPLIT_ORDER`).
        wall_s: The measured window.
        cameras: Cameras the run ingested.
        ai: AI cameras among them.
        analysed: Frames the pipeline analysed in the window.
    """
    frames = max(analysed, 1)
    costs = {
        "ingest_decode_per_ai_stream": split_cores["ingest_decode"] / max(ai, 1),
        "record_per_camera": split_cores["record_shards"] / cameras,
        "ingest_supervisor_per_camera": split_cores["ingest_supervisor"] / cameras,
        "other_fixed": split_cores["other"],
    }
    for part in PER_FRAME:
        costs[f"{part}_per_frame"] = split_cores[part] * wall_s / frames
    return costs


def cores_needed(
    costs: dict[str, float], target: Target, detection_per_frame: float | None = None
) -> dict[str, Any]:
    """Cores the target site needs, per part and in all, from `unit_costs`.

    Args:
        costs: `unit_costs` of the run.
        target: The site to extrapolate to.
        detection_per_frame: Replaces the measured detection CPU-s per analysed frame (a
            candidate detector's estimate); None keeps the measured one.
    """
    parts = {
        "ingest_decode": costs["ingest_decode_per_ai_stream"] * target.ai_cameras,
        "record_shards": costs["record_per_camera"] * target.cameras,
        "ingest_supervisor": costs["ingest_supervisor_per_camera"] * target.cameras,
    }
    for part in PER_FRAME:
        per_frame = costs[f"{part}_per_frame"]
        if part == "detection" and detection_per_frame is not None:
            per_frame = detection_per_frame
        parts[part] = per_frame * target.frames_per_s
    parts["other"] = costs["other_fixed"]
    return {"total": round(sum(parts.values()), 2), "parts": {k: round(v, 3) for k, v in parts.items()}}


def assumptions(target: Target, inferred_fraction: float, detector: str) -> list[str]:
    return [
        f"{target.ai_cameras} AI cameras analysed at {target.detect_fps:g} fps each "
        f"({target.frames_per_s:g} frames/s), {target.cameras} cameras recorded",
        "each part costs what it cost per unit in this run (per AI sub-stream decoded, per camera "
        "recorded, per analysed frame, plus a fixed remainder), linearly",
        f"scenes as busy as the simulator's footage: the detector ({detector}) looked at "
        f"{100 * inferred_fraction:.0f} % of analysed frames (motion gating skipped the rest) and "
        "the same people per frame",
        "100 % of a core usable: no headroom for bursts, the operating system or the API under load",
        "the camera simulator's CPU is not counted (real cameras encode themselves)",
    ]


# -- text report -----------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def camera_table(cameras: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"{'camera':<8}{'analysed':>9}{'inferred':>9}{'dropped':>8}{'frame ms p50/p95':>18}"
        f"{'live s p50/p95':>16}{'stored s p50/p95':>18}{'sightings':>10}{'decode %':>9}{'record %':>9}"
        f"{'pipeline %':>11}"
    ]
    for cam in cameras:
        frame, live, stored = (
            cam["frame_latency_ms"],
            cam["live_sighting_latency_s"],
            cam["sighting_latency_s"],
        )
        lines.append(
            f"{cam['camera']:<8}{cam['analysed_fraction']:>9.2f}{cam['inferred_fraction']:>9.2f}"
            f"{cam['dropped_frames']:>8}"
            f"{_fmt(frame['p50'], '.0f') + ' / ' + _fmt(frame['p95'], '.0f'):>18}"
            f"{_fmt(live['p50']) + ' / ' + _fmt(live['p95']):>16}"
            f"{_fmt(stored['p50']) + ' / ' + _fmt(stored['p95']):>18}{stored['n']:>10}"
            f"{cam['cpu_percent']['ingest_decode']:>9.1f}{cam['cpu_percent']['record']:>9.1f}"
            f"{cam['cpu_percent']['pipeline']:>11.1f}"
        )
    return lines


def split_table(result: dict[str, Any]) -> list[str]:
    split, costs, cores = result["cpu_split_cores"], result["unit_costs"], result["site_cores_needed"]
    lines = [f"{'part':<20}{'measured cores':>15}{'unit cost':>24}{'site cores':>12}"]
    units = {
        "ingest_decode": ("ingest_decode_per_ai_stream", 1.0, "cores/AI stream"),
        "record_shards": ("record_per_camera", 1.0, "cores/camera"),
        "ingest_supervisor": ("ingest_supervisor_per_camera", 1.0, "cores/camera"),
        "other": ("other_fixed", 1.0, "cores fixed"),
    }
    for part in SPLIT_ORDER:
        key, scale, unit = units.get(part, (f"{part}_per_frame", 1000.0, "CPU-ms/frame"))
        site = cores["parts"][part]
        lines.append(f"{part:<20}{split[part]:>15.3f}{costs[key] * scale:>10.3f} {unit:<13}{site:>12.3f}")
    lines.append(f"{'total':<20}{sum(split.values()):>15.3f}{'':>24}{cores['total']:>12.2f}")
    return lines


def text_report(result: dict[str, Any]) -> str:
    run, target = result["run"], result["target"]
    frame, stored = result["frame_latency_ms"], result["sighting_latency_s"]
    lines = [
        f"vigil bench site: {run['cameras']} cameras ({run['ai_cameras']} AI) against vigil sim for "
        f"{run['seconds']:.0f} s, detector {run['detector']} ({run['detector_threads']} threads), "
        f"{run['record_shards']} record shard(s), {run['cameras_online_at_end']} cameras online; "
        f"load average {run['load_average_before']} before, {run['load_average_after']} after, "
        f"{run['cpu_count']} CPUs",
        "",
        *camera_table(result["per_camera"]),
        "",
        f"site: {result['analysed_fraction']:.2f} of due frames analysed ({result['analysed_frames']} "
        f"frames, {result['inferred_fraction']:.2f} of them inferred); frame-to-result "
        f"{_fmt(frame['p50'], '.0f')} / {_fmt(frame['p95'], '.0f')} ms p50/p95; finished sighting "
        f"stored {_fmt(stored['p50'])} / {_fmt(stored['p95'])} s after its last frame (includes the "
        f"{result['sighting_wait_s']:g} s wait before a lost track is finished)",
        keep_up_line(result),
        "",
        f"CPU split and cores needed for {target['cameras']} cameras, {target['ai_cameras']} AI at "
        f"{target['detect_fps']:g} fps:",
        *split_table(result),
        "",
        f"site_cores_needed: {result['site_cores_needed']['total']:.2f} cores; assumptions:",
        *[f"  - {text}" for text in result["assumptions"]],
    ]
    lines += baseline_lines(result)
    return "\n".join(lines)


def keep_up_line(result: dict[str, Any]) -> str:
    keep = result.get("keep_up")
    if not keep:
        return "per-frame costs below: from the site window (it kept up, or no keep-up window was run)"
    frame = keep["frame_latency_ms"]
    used = "are" if result["per_frame_costs_from"] == "keep_up" else "are NOT (it fell behind too)"
    return (
        f"keep-up window: {keep['ai_cameras_in_pipeline']} AI camera(s) left in the pipeline for "
        f"{keep['seconds']:.0f} s (ingest of every camera unchanged): {keep['analysed_fraction']:.2f} of due "
        f"frames analysed, {keep['inferred_fraction']:.2f} inferred, frame-to-result "
        f"{_fmt(frame['p50'], '.0f')} / {_fmt(frame['p95'], '.0f')} ms; the per-frame costs below {used} "
        "from it"
    )


def baseline_lines(result: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    baseline = result.get("baseline")
    if baseline:
        lines += [
            "",
            f"baseline (naive loop: OpenCV decodes and the detector sees every frame of a sub-stream, "
            f"{baseline['frames']} frames): {1000 * baseline['cpu_s_per_frame']:.1f} CPU-ms per frame; "
            f"analysing {baseline['ai_cameras']} cameras at {baseline['source_fps']:g} fps needs "
            f"{baseline['analysis_cores']:.2f} cores against Vigil's {baseline['vigil_analysis_cores']:.2f} "
            f"(decode + pipeline + store): {baseline['ratio']:.2f}x",
        ]
    candidates = result.get("candidate_detectors") or []
    if candidates:
        lines += [
            "",
            f"{'detector':<14}{'whole-frame CPU-ms':>20}{'per analysed frame':>20}{'site cores':>12}",
        ]
        for row in candidates:
            if "error" in row:
                lines.append(f"{row['detector']:<14}  {row['error']}")
                continue
            lines.append(
                f"{row['detector']:<14}{1000 * row['whole_frame_cpu_s']:>20.1f}"
                f"{1000 * row['detection_per_frame_s']:>20.1f}{row['site_cores_needed']:>12.2f}"
            )
    return lines
