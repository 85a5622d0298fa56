// @ts-check
/**
 * Backtest (admin): what a rule, configured or still a draft in the form, would have raised over
 * its camera's recordings. Start it over a window (reason audited), follow its progress, cancel
 * it; once done, its events with their crops (a clip of each can be exported), events or line
 * crossings per hour as bars (SVG), the parts of the window with no recording and the speed.
 * The API runs one backtest at a time and says which one runs when another is asked for.
 */
import { useEffect, useState } from "../../vendor/hooks.module.js";
import { api } from "../api.js";
import { duration, fromLocalInput, html, Notice, toLocalInput, when } from "../ui.js";
import { KINDS, measured } from "./alerts.js";
import { ExportDialog } from "./exports.js";

const POLL_MS = 700;
const FINISHED = ["done", "failed", "cancelled"];

/**
 * @param {{title: string, camera: string, begin: (window: object) => Promise<any>, onAnswer?: (refusal: string) => void}} props
 *   `begin` starts the job (POST) with the window, reason and options; `onAnswer` gets the API's
 *   refusal, or "" once the job started (a draft's field problems go next to the form's fields).
 */
export function Backtest({ title, camera, begin, onAnswer = () => {} }) {
  const now = Date.now() / 1000;
  const [from, setFrom] = useState(toLocalInput(Math.floor(now / 60) * 60 - 3600));
  const [to, setTo] = useState(toLocalInput(Math.ceil(now / 60) * 60));
  const [fps, setFps] = useState("");
  const [reason, setReason] = useState("");
  const [job, setJob] = useState(/** @type {any} */ (null));
  const [error, setError] = useState("");
  const [exporting, setExporting] = useState(/** @type {any} */ (null));
  const id = job?.job_id;
  const running = job && !FINISHED.includes(job.state);

  useEffect(() => {
    if (!running) return undefined;
    let stopped = false;
    const timer = window.setTimeout(async () => {
      try {
        const next = await api(`/rules/backtests/${encodeURIComponent(id)}`);
        if (!stopped) setJob(next);
      } catch (e) {
        if (!stopped) setError(`Progress could not be read: ${e.detail}`);
      }
    }, POLL_MS);
    return () => { stopped = true; window.clearTimeout(timer); };
  }, [job]);

  async function start(event) {
    event.preventDefault();
    setError("");
    try {
      const span = { start: String(fromLocalInput(from)), end: String(fromLocalInput(to)), reason };
      setJob(await begin(fps === "" ? span : { ...span, detect_fps: Number(fps) }));
      onAnswer("");
    } catch (e) {
      setError(e.detail);
      onAnswer(e.detail);
      if (e.status === 409) follow(e.detail);
    }
  }
  /** Another backtest runs (one at a time): show it here, so it can be followed or cancelled. */
  async function follow(detail) {
    try {
      const other = await api("/rules/backtests/latest");
      if (FINISHED.includes(other.state)) return;
      setJob(other);
      setError(`${detail} It is shown below: wait for it or cancel it.`);
    } catch {
      // The other one ended in between: starting again will do.
    }
  }
  async function cancel() {
    try {
      setJob(await api(`/rules/backtests/${encodeURIComponent(id)}`, { method: "DELETE" }));
    } catch (e) {
      setError(e.detail);
    }
  }

  return html`<section class="backtest" aria-label=${title}>
    <h2>${title}</h2>
    <p class="muted">Detection, tracking and the rule over ${camera}'s recordings: what it would have raised. Nothing is alerted or stored as an alert.</p>
    <form class="row" onSubmit=${start} aria-label=${`Window of ${title}`}>
      <label>From <input type="datetime-local" value=${from} required onChange=${(e) => setFrom(e.currentTarget.value)} /></label>
      <label>To <input type="datetime-local" value=${to} required onChange=${(e) => setTo(e.currentTarget.value)} /></label>
      <label>Frames per second <input type="number" step="any" min="0.1" max="30" value=${fps} placeholder="camera's"
        onInput=${(e) => setFps(e.currentTarget.value)} /></label>
      <label>Reason (audited) <input value=${reason} required minlength="3" maxlength="500" placeholder="tune before enabling"
        onInput=${(e) => setReason(e.currentTarget.value)} /></label>
      ${running
        ? html`<button type="button" class="danger" onClick=${cancel}>Cancel backtest</button>`
        : html`<button type="submit">Start backtest</button>`}
    </form>
    <${Notice} kind="error">${error}<//>
    ${job && html`<${Progress} job=${job} />`}
    ${job && job.state === "done" && html`<${Results} job=${job} onExport=${setExporting} />`}
    ${exporting && html`<${ExportDialog} cameraId=${job.camera_id} start=${exporting.clip_start} end=${exporting.clip_end}
      onClose=${() => setExporting(null)} />`}
  </section>`;
}

/** Recorded seconds of the window: its length less the parts with no recording. */
function recorded(job) {
  const missing = job.gaps.reduce((sum, g) => sum + Math.max(0, g.end - g.start), 0);
  return Math.max(0, job.window_end - job.window_start - missing);
}

function Progress({ job }) {
  const total = recorded(job);
  const fraction = FINISHED.includes(job.state) ? 1 : total > 0 ? Math.min(1, job.video_seconds / total) : 0;
  return html`<div class="backtest-progress">
    <label>Progress <progress max="1" value=${fraction} aria-valuetext=${`${Math.round(fraction * 100)} %`}></progress></label>
    <p role="status"><strong>${job.state}</strong> (${job.draft ? "draft " : ""}${job.rule} on ${job.camera_id}): ${duration(job.video_seconds)} of ${duration(total)} recorded
      (${job.segments_done}/${job.segments_total} segments, ${job.frames} frames at ${job.detect_fps} fps)
      in ${duration(job.elapsed_s)}${job.speed ? `, ${job.speed}× real time` : ""}; ${job.events.length} events${FINISHED.includes(job.state) ? "" : " so far"}.</p>
    ${job.message && html`<p class="muted">${job.message}</p>`}
    ${job.gaps.length > 0 && html`<p class="muted">No recording: ${job.gaps.map((g) => `${when(g.start, { seconds: false })}–${when(g.end, { seconds: false })}${g.reason ? ` (${g.reason})` : ""}`).join("; ")}.</p>`}
    ${job.errors.length > 0 && html`<p class="notice error">Skipped ${job.errors.length} segments that could not be decoded: ${job.errors.map((s) => `${when(s.start)} ${s.error}`).join("; ")}</p>`}
  </div>`;
}

function Results({ job, onExport }) {
  const line = job.crossings_in !== null;
  const crop = (e) => `/rules/backtests/${encodeURIComponent(job.job_id)}/events/${encodeURIComponent(e.id)}/crop.jpg`;
  return html`<div class="backtest-results">
    <p>${job.events.length} events${line ? html`; crossings <span class="key in"></span>in <strong>${job.crossings_in}</strong>,
      <span class="key out"></span>out <strong>${job.crossings_out}</strong>` : ""}.${" "}
      <span class="muted">Time: decode ${duration(job.split.decode)}, detect ${duration(job.split.detect)}, track ${duration(job.split.track)}, rule ${duration(job.split.rule)}.</span></p>
    <${HourBars} hours=${job.hours} line=${line} rule=${job.rule} />
    ${job.events.length === 0
      ? html`<p class="muted">The rule would have raised nothing in this window.</p>`
      : html`<table aria-label=${`Backtest events of ${job.rule}`}>
        <thead><tr><th>Crop</th><th>Time</th><th>Kind</th><th>What</th><th>Track</th><th>Clip</th></tr></thead>
        <tbody>${job.events.map((e) => html`<tr key=${e.id}>
          <td>${e.crop ? html`<img class="crop small" src=${crop(e)} alt=${`Crop of the event at ${when(e.at)}`} />` : html`<span class="muted">—</span>`}</td>
          <td><time>${when(e.at, { date: "always" })}</time></td>
          <td>${KINDS[e.kind] || e.kind}</td>
          <td>${e.message}${measured(e) && html`<br /><span class="measured">${measured(e)}</span>`}</td>
          <td>${e.track ?? "—"}</td>
          <td><button class="link" onClick=${() => onExport(e)} aria-label=${`Export the clip of the event at ${when(e.at)}`}>Export clip</button></td>
        </tr>`)}</tbody>
      </table>`}
  </div>`;
}

/** Events (or, for a line rule, crossings in and out) per hour of the window as bars. */
function HourBars({ hours, line, rule }) {
  if (!hours.length) return null;
  const series = line ? [["in", "count_in"], ["out", "count_out"]] : [["in", "events"]];
  const top = Math.max(1, ...hours.flatMap((h) => series.map(([, key]) => h[key])));
  const width = 100 / hours.length;
  const bar = width * (0.8 / series.length);
  const words = line ? "crossings in and out" : "events";
  return html`<figure class="hours">
    <svg class="bars" viewBox="0 0 100 40" preserveAspectRatio="none" role="img"
      aria-label=${`Backtest ${words} of ${rule} per hour: ${hours.map((h) => `${when(h.start, { seconds: false })} ${series.map(([, key]) => h[key]).join("/")}`).join(", ")}`}>
      ${hours.map((h, i) => series.map(([cls, key], j) => {
        const height = (h[key] / top) * 38;
        return html`<rect class=${cls} x=${i * width + width * 0.1 + j * bar} y=${40 - height} width=${bar} height=${height}>
          <title>${when(h.start, { seconds: false })}: ${h[key]} ${line ? cls : "events"}</title></rect>`;
      }))}
    </svg>
    <figcaption class="muted axis"><span>${when(hours[0].start, { seconds: false })}</span><span>per hour: ${words}</span>
      <span>${when(hours[hours.length - 1].start, { seconds: false })}</span></figcaption>
  </figure>`;
}
