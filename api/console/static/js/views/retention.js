// @ts-check
/**
 * Admin › Holds and retention: legal holds (place one on a span of cameras, list them, release
 * one with a reason; the API's refusals shown by the field they concern) and retention (the
 * policy, the latest run's deleted and kept counts, "Run now" with a reason). Audited by the API.
 */
import { useEffect, useState } from "../../vendor/hooks.module.js";
import { api, query } from "../api.js";
import { fromLocalInput, html, Notice, toLocalInput, when } from "../ui.js";
import { useReason } from "./admin.js";

export function Retention() {
  const [holds, setHolds] = useState(/** @type {any[] | null} */ (null));
  const [retention, setRetention] = useState(/** @type {any} */ (null));
  const [error, setError] = useState("");
  const [info, setInfo] = useState("");
  const [ask, reasonDialog] = useReason();

  async function load() {
    try {
      setHolds((await api(`/holds${query({ limit: 200 })}`)).items);
      setRetention(await api("/retention"));
    } catch (e) {
      setError(e.detail);
    }
  }
  useEffect(() => { load(); }, []);

  async function release(hold) {
    const reason = await ask(`Release hold ${hold.id}`);
    if (!reason) return;
    try {
      await api(`/holds/${encodeURIComponent(hold.id)}/release`, { json: { reason } });
      setInfo(`Hold ${hold.id} released: what it held expires by policy again.`);
      load();
    } catch (e) {
      setError(e.detail);
    }
  }

  async function runNow() {
    const reason = await ask("Run retention now");
    if (!reason) return;
    try {
      await api("/retention/run", { json: { reason } });
      setInfo("Retention ran.");
      load();
    } catch (e) {
      setError(e.detail);
    }
  }

  return html`<div>
    <${Notice} kind="error">${error}<//>
    <${Notice}>${info}<//>
    <section aria-labelledby="holds-title">
      <h2 id="holds-title">Legal holds</h2>
      <${HoldForm} onPlaced=${(h) => { setInfo(`Hold ${h.id} placed.`); load(); }} />
      ${holds && holds.length === 0 && html`<p class="muted">No legal hold has been placed.</p>`}
      <table aria-label="Legal holds">
        <thead><tr><th>Held</th><th>Span</th><th>Reason</th><th>Placed</th><th>State</th><th></th></tr></thead>
        <tbody>${(holds || []).map((h) => html`<tr>
          <td>${h.case_id ? `case ${h.case_id}` : h.cameras.join(", ")}</td>
          <td>${when(h.start, { date: "always" })} – ${when(h.end, { date: "always" })}</td>
          <td>${h.reason}</td><td>${h.placed_by}, ${when(h.placed_at, { date: "always" })}</td>
          <td>${h.active ? "active" : `released by ${h.released_by}: ${h.release_reason}`}</td>
          <td>${h.active && html`<button class="link" onClick=${() => release(h)} aria-label=${`Release hold ${h.id}`}>Release</button>`}</td>
        </tr>`)}</tbody>
      </table>
    </section>
    <section aria-labelledby="retention-title">
      <h2 id="retention-title">Retention</h2>
      ${retention && html`<${Policy} retention=${retention} />`}
      <button onClick=${runNow}>Run now</button>
    </section>
    ${reasonDialog}
  </div>`;
}

/** A hold on a span: cameras (comma separated), from, to, reason; errors by the field. */
function HoldForm({ onPlaced }) {
  const now = Date.now() / 1000;
  const [cameras, setCameras] = useState("");
  const [from, setFrom] = useState(toLocalInput(now - 3600));
  const [to, setTo] = useState(toLocalInput(now));
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState(/** @type {Record<string, string>} */ ({}));

  async function place(event) {
    event.preventDefault();
    const ids = cameras.split(",").map((c) => c.trim()).filter(Boolean);
    try {
      const hold = await api("/holds", { json: { cameras: ids, start: String(fromLocalInput(from)), end: String(fromLocalInput(to)), reason } });
      setErrors({});
      setReason("");
      onPlaced(hold);
    } catch (e) {
      setErrors({ [fieldOf(e.detail)]: e.detail });
    }
  }
  const error = (field) => errors[field] && html`<span class="field-error" role="alert">${errors[field]}</span>`;

  return html`<form onSubmit=${place} class="hold-form" aria-label="Place a legal hold">
    <label>Cameras (comma separated) <input value=${cameras} required onInput=${(e) => setCameras(e.currentTarget.value)} /></label>${error("cameras")}
    <label>From <input type="datetime-local" value=${from} required onChange=${(e) => setFrom(e.currentTarget.value)} /></label>${error("start")}
    <label>To <input type="datetime-local" value=${to} required onChange=${(e) => setTo(e.currentTarget.value)} /></label>${error("end")}
    <label>Reason (audited) <input value=${reason} required minlength="3" maxlength="500" onInput=${(e) => setReason(e.currentTarget.value)} /></label>${error("reason")}
    <button type="submit">Place hold</button>
  </form>`;
}

/** Which field an API refusal is about: camera problems by the cameras, times by theirs. */
function fieldOf(detail) {
  const text = String(detail).toLowerCase();
  if (text.includes("reason")) return "reason";
  if (text.includes("start")) return "start";
  if (text.includes("end")) return "end";
  return "cameras";
}

function Policy({ retention }) {
  const run = retention.last_run;
  const counts = (o) => Object.entries(o).map(([k, v]) => `${v} ${k.replace("_", " ")}`).join(", ") || "nothing";
  return html`<dl aria-label="Retention policy and last run">
    <dt>Recordings</dt><dd>continuous ${retention.continuous_days} days, events ${retention.event_days} days</dd>
    <dt>Sightings / alerts / case photos</dt><dd>${retention.sightings_days} / ${retention.alerts_days} / ${retention.case_photos_days} days</dd>
    <dt>Crossing counts / health events</dt><dd>${retention.crossing_counts_days} / ${retention.health_events_days} days</dd>
    <dt>Last run</dt><dd>${run ? when(run.at, { date: "always" }) : "not run yet"}</dd>
    ${run && html`<dt>Deleted</dt><dd>${counts(run.deleted)}; ${run.files} files, ${(run.bytes_freed / 1e6).toFixed(1)} MB</dd>
      <dt>Kept (protected)</dt><dd>${counts(run.kept)}</dd>`}
  </dl>`;
}
