// @ts-check
/**
 * The alert inbox: alerts pushed live over /alerts/live, with crop, camera, rule and time;
 * triage (acknowledge, resolve with a note, assign) with its history; filters.
 */
import { useEffect, useRef, useState } from "../../vendor/hooks.module.js";
import { api, live, query } from "../api.js";
import { can } from "../app.js";
import { Dialog, fromLocalInput, html, Notice, when } from "../ui.js";
import { ExportDialog } from "./exports.js";

const STATES = { open: ["new", "acknowledged"], new: ["new"], acknowledged: ["acknowledged"], resolved: ["resolved"], all: [] };

export function Alerts({ user }) {
  const [filters, setFilters] = useState({ state: "open", camera_id: "", rule: "", since: "", until: "" });
  const [alerts, setAlerts] = useState(/** @type {any[] | null} */ (null));
  const [count, setCount] = useState(0);
  const [error, setError] = useState("");
  const [feed, setFeed] = useState("connecting");
  const [selected, setSelected] = useState(/** @type {string | null} */ (null));
  const [fresh, setFresh] = useState(/** @type {Set<string>} */ (new Set()));
  const [assignable, setAssignable] = useState(/** @type {any[]} */ ([]));
  const [cameras, setCameras] = useState(/** @type {any[]} */ ([]));
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  async function load() {
    const f = filtersRef.current;
    try {
      const page = await api(`/alerts${query({
        state: STATES[f.state], camera_id: f.camera_id, rule: f.rule,
        since: fromLocalInput(f.since), until: fromLocalInput(f.until), limit: 200,
      })}`);
      setAlerts(page.items);
      setCount(page.count);
      setError("");
    } catch (e) {
      setError(`Alerts could not be loaded: ${e.detail}`);
    }
  }

  useEffect(() => { load(); }, [filters]);
  useEffect(() => {
    api("/cameras?limit=500").then((l) => setCameras(l.items)).catch(() => {});
    if (can(user, "operator")) api("/users/assignable").then(setAssignable).catch(() => {});
    const socket = live("/alerts/live", (message) => {
      const alert = message.alert;
      if (!alert) return;
      if (message.type === "alert") {
        if (!matches(alert, filtersRef.current)) return;
        setAlerts((list) => (list ? [alert, ...list.filter((a) => a.id !== alert.id)] : [alert]));
        setCount((n) => n + 1);
        setFresh((s) => new Set(s).add(alert.id));
      } else {
        setAlerts((list) => list && (matches(alert, filtersRef.current)
          ? list.map((a) => (a.id === alert.id ? alert : a))
          : list.filter((a) => a.id !== alert.id)));
      }
    }, setFeed);
    return () => socket.close();
  }, []);

  /** A changed alert: replaced in place, or dropped when it no longer matches the filters (resolved). */
  const changed = (updated) => setAlerts((list) => list && (matches(updated, filtersRef.current)
    ? list.map((x) => (x.id === updated.id ? updated : x))
    : list.filter((x) => x.id !== updated.id)));
  const set = (key) => (e) => setFilters({ ...filters, [key]: e.currentTarget.value });
  const rules = [...new Set((alerts || []).map((a) => a.rule))].sort();
  return html`<section class="alerts" aria-labelledby="alerts-title">
    <header class="toolbar">
      <h1 id="alerts-title">Alerts</h1>
      <span class=${`feed feed-${feed}`} role="status">${feed === "live" ? "live" : feed === "down" ? "reconnecting…" : "connecting…"}</span>
      <label>State <select value=${filters.state} onChange=${set("state")}>
        ${Object.keys(STATES).map((s) => html`<option value=${s}>${s}</option>`)}
      </select></label>
      <label>Camera <select value=${filters.camera_id} onChange=${set("camera_id")}>
        <option value="">all</option>${cameras.map((c) => html`<option value=${c.id}>${c.name || c.id}</option>`)}
      </select></label>
      <label>Rule <input list="alert-rules" value=${filters.rule} onChange=${set("rule")} size="12" /></label>
      <datalist id="alert-rules">${rules.map((r) => html`<option value=${r} />`)}</datalist>
      <label>From <input type="datetime-local" value=${filters.since} onChange=${set("since")} /></label>
      <label>To <input type="datetime-local" value=${filters.until} onChange=${set("until")} /></label>
      <span class="muted">${count} alerts</span>
    </header>
    <${Notice} kind="error">${error}<//>
    ${alerts === null && !error && html`<p aria-busy="true">Loading alerts…</p>`}
    ${alerts && alerts.length === 0 && html`<p class="muted">No alert matches these filters.</p>`}
    <table class="inbox" aria-label="Alert inbox">
      <thead><tr><th>${can(user, "operator") ? "Crop" : html`<span class="sr-only">Crop</span>`}</th><th>Time</th><th>Camera</th><th>Rule</th><th>What</th><th>State</th><th>Assigned</th><th>Actions</th></tr></thead>
      <tbody>
        ${(alerts || []).map((a) => html`<tr key=${a.id} class=${fresh.has(a.id) ? "fresh" : ""} aria-label=${`Alert ${a.rule} at ${when(a.timestamp)}`}>
          <td>${a.crop_url && can(user, "operator") ? html`<img class="crop" src=${a.crop_url} alt=${`Crop of alert ${a.rule}`} />` : html`<span class="muted">—</span>`}</td>
          <td><time>${when(a.timestamp)}</time></td>
          <td>${a.camera_id}</td>
          <td>${a.rule}</td>
          <td>${a.message}</td>
          <td><span class=${`badge alert-${a.state}`}>${a.state}</span></td>
          <td>${a.assignee || html`<span class="muted">nobody</span>`}</td>
          <td class="actions">
            <button class="link" onClick=${() => setSelected(a.id)} aria-label=${`Details of alert ${a.id}`}>Details</button>
            ${can(user, "operator") && html`<${Triage} alert=${a} assignable=${assignable} compact=${true} onChanged=${changed} />`}
          </td>
        </tr>`)}
      </tbody>
    </table>
    ${selected && html`<${AlertDetail} id=${selected} user=${user} assignable=${assignable} onClose=${() => setSelected(null)}
      onChanged=${changed} />`}
  </section>`;
}

function matches(alert, f) {
  if (STATES[f.state].length && !STATES[f.state].includes(alert.state)) return false;
  if (f.camera_id && alert.camera_id !== f.camera_id) return false;
  if (f.rule && alert.rule !== f.rule) return false;
  return true;
}

/** Acknowledge / resolve (note required) / assign / reopen buttons for one alert. */
export function Triage({ alert, assignable, onChanged, compact = false }) {
  const [resolving, setResolving] = useState(false);
  const [note, setNote] = useState("");
  const [error, setError] = useState("");

  async function act(action, body) {
    try {
      onChanged(await api(`/alerts/${encodeURIComponent(alert.id)}/${action}`, { json: body }));
      setError("");
      return true;
    } catch (e) {
      setError(e.detail);
      return false;
    }
  }

  return html`<span class="triage">
    ${alert.state === "new" && html`<button onClick=${() => act("acknowledge", {})} aria-label=${compact ? `Acknowledge alert ${alert.id}` : "Acknowledge"}>Acknowledge</button>`}
    ${alert.state !== "resolved" && html`<button onClick=${() => setResolving(true)} aria-label=${compact ? `Resolve alert ${alert.id}` : "Resolve"}>Resolve</button>`}
    ${alert.state === "resolved" && html`<button class="ghost" onClick=${() => act("reopen", { note: null })} aria-label=${compact ? `Reopen alert ${alert.id}` : "Reopen"}>Reopen</button>`}
    <label class="assign">
      <span class="sr-only">Assign alert ${alert.id} to</span>
      <select aria-label=${compact ? `Assign alert ${alert.id}` : "Assign to"} value=${alert.assignee || ""}
        onChange=${(e) => act("assign", { user: e.currentTarget.value || null })}>
        <option value="">nobody</option>
        ${assignable.map((u) => html`<option value=${u.name}>${u.name}</option>`)}
        ${alert.assignee && !assignable.some((u) => u.name === alert.assignee) && html`<option value=${alert.assignee}>${alert.assignee}</option>`}
      </select>
    </label>
    <${Notice} kind="error">${error}<//>
    ${resolving && html`<${Dialog} title="Resolve alert" onClose=${() => setResolving(false)}>
      <form onSubmit=${async (e) => {
        e.preventDefault();
        if (await act("resolve", { note })) setResolving(false);
      }}>
        <label>What was done (note) <textarea required minlength="1" maxlength="2000" value=${note} onInput=${(e) => setNote(e.currentTarget.value)} autofocus></textarea></label>
        <${Notice} kind="error">${error}<//>
        <button type="submit">Resolve with note</button>
      </form>
    <//>`}
  </span>`;
}

function AlertDetail({ id, user, assignable, onClose, onChanged }) {
  const [alert, setAlert] = useState(/** @type {any} */ (null));
  const [error, setError] = useState("");
  const [exporting, setExporting] = useState(false);
  useEffect(() => {
    api(`/alerts/${encodeURIComponent(id)}`).then(setAlert).catch((e) => setError(e.detail));
  }, [id]);
  const changed = (updated) => {
    setAlert(updated);
    onChanged(updated);
  };
  return html`<${Dialog} title="Alert" onClose=${onClose}>
    <${Notice} kind="error">${error}<//>
    ${alert && html`<div class="alert-detail">
      ${alert.crop_url && can(user, "operator") && html`<img class="crop large" src=${alert.crop_url} alt="Crop of the alert" />`}
      <dl>
        <dt>Rule</dt><dd>${alert.rule}${alert.zone ? ` · zone ${alert.zone}` : ""}</dd>
        <dt>Camera</dt><dd>${alert.camera_id}</dd>
        <dt>Time</dt><dd>${when(alert.timestamp, { date: "always" })}</dd>
        <dt>What</dt><dd>${alert.message}</dd>
        <dt>State</dt><dd>${alert.state}${alert.assignee ? `, assigned to ${alert.assignee}` : ""}</dd>
      </dl>
      ${can(user, "operator") && html`<${Triage} alert=${alert} assignable=${assignable} onChanged=${changed} />`}
      ${can(user, "mediator") && html`<button onClick=${() => setExporting(true)}>Export clip</button>`}
      ${exporting && html`<${ExportDialog} cameraId=${alert.camera_id} start=${alert.timestamp - 30} end=${alert.timestamp + 30}
        onClose=${() => setExporting(false)} />`}
      <h3>History</h3>
      <ol class="history" aria-label="Alert history">
        ${(alert.history || []).map((h) => html`<li><time>${when(h.at, { date: "always" })}</time> ${h.user}: ${h.action}${h.note ? ` — ${h.note}` : ""}</li>`)}
        ${(alert.history || []).length === 0 && html`<li class="muted">No action yet.</li>`}
      </ol>
    </div>`}
  <//>`;
}
