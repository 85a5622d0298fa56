// @ts-check
/**
 * The alert inbox: alerts pushed live over /alerts/live, with crop, camera, rule and time, their
 * severity (a word and a colour, never the colour alone), kind, direction / measured value and
 * phase (start / end of a condition); triage (acknowledge, resolve with a note, assign) with its
 * history; filters (state, camera, rule, severity, kind, time).
 */
import { useEffect, useRef, useState } from "../../vendor/hooks.module.js";
import { api, live, query } from "../api.js";
import { can } from "../app.js";
import { Dialog, duration, fromLocalInput, html, Notice, when } from "../ui.js";
import { ExportDialog } from "./exports.js";

const STATES = { open: ["new", "acknowledged"], new: ["new"], acknowledged: ["acknowledged"], resolved: ["resolved"], all: [] };
export const SEVERITIES = ["info", "warning", "critical"];
export const KINDS = {
  zone_intrusion: "zone intrusion", line_crossing: "line crossing", dwell: "dwell (loitering)",
  occupancy: "occupancy (crowding)", person_down: "person down", case_match: "case match",
};

/** Severity as a badge: its word and its colour (the word is what screen readers and colour-blind eyes get). */
export function SeverityBadge({ severity }) {
  const value = severity || "warning";
  return html`<span class=${`badge severity-${value}`}>${value === "critical" ? "▲ " : value === "warning" ? "● " : "○ "}${value}</span>`;
}

/** What the rule measured, in words: "in · 12 s", "start · 14 people", "end". */
export function measured(alert) {
  const parts = [];
  if (alert.direction) parts.push(`crossed ${alert.direction}`);
  if (alert.value !== null && alert.value !== undefined) {
    const v = alert.value;
    if (alert.kind === "dwell") parts.push(`stayed ${duration(v)}`);
    else if (alert.kind === "occupancy") parts.push(`${Math.round(v * 100) / 100} ${v === 1 ? "person" : "people"}`);
    else if (alert.kind === "person_down") parts.push(`lying ${duration(v)}`);
    else if (alert.kind === "line_crossing") parts.push(`${v.toFixed(1)} m/s`);
    else parts.push(String(Math.round(v * 100) / 100));
  }
  if (alert.phase) parts.push(alert.phase === "start" ? "started" : "ended");
  return parts.join(" · ");
}

export function Alerts({ user, alertId }) {
  const [filters, setFilters] = useState({ state: "open", camera_id: "", rule: "", severity: "", kind: "", since: "", until: "", grouped: false });
  const [alerts, setAlerts] = useState(/** @type {any[] | null} */ (null));
  const [count, setCount] = useState(0);
  const [error, setError] = useState("");
  const [feed, setFeed] = useState("connecting");
  const [fresh, setFresh] = useState(/** @type {Set<string>} */ (new Set()));
  const [open, setOpen] = useState(/** @type {Record<string, any[]>} */ ({}));
  const [assignable, setAssignable] = useState(/** @type {any[]} */ ([]));
  const [cameras, setCameras] = useState(/** @type {any[]} */ ([]));
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  async function load() {
    const f = filtersRef.current;
    try {
      const page = await api(`/alerts${query({ ...apiFilters(f), grouped: f.grouped ? "true" : "", limit: 200 })}`);
      setAlerts(page.items);
      setCount(page.count);
      setOpen({});
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
      if (!alert || (message.type === "alert" && !matches(alert, filtersRef.current))) return;
      if (message.type === "alert") setFresh((s) => new Set(s).add(alert.id));
      // Grouped, a new alert may join a row's group: the API counts the groups again.
      if (filtersRef.current.grouped) return void load();
      if (message.type === "alert") {
        setAlerts((list) => (list ? [alert, ...list.filter((a) => a.id !== alert.id)] : [alert]));
        setCount((n) => n + 1);
      } else changed(alert);
    }, setFeed);
    return () => socket.close();
  }, []);

  /** A changed alert: replaced in place, or dropped when it no longer matches the filters (resolved). */
  const changed = (updated) => {
    const keep = (list) => list && (matches(updated, filtersRef.current)
      ? list.map((x) => (x.id === updated.id ? { ...updated, group_size: x.group_size } : x))
      : list.filter((x) => x.id !== updated.id));
    setAlerts(keep);
    setOpen((groups) => Object.fromEntries(Object.entries(groups).map(([g, items]) => [g, keep(items)])));
  };
  /** Show or hide the alerts of a group (GET /alerts?group_id=, the same filters). */
  async function toggle(group) {
    if (open[group]) return setOpen(({ [group]: _, ...rest }) => rest);
    try {
      const page = await api(`/alerts${query({ ...apiFilters(filtersRef.current), group_id: group, limit: 200 })}`);
      setOpen((groups) => ({ ...groups, [group]: page.items }));
    } catch (e) {
      setError(`The group could not be loaded: ${e.detail}`);
    }
  }
  const set = (key) => (e) => setFilters({ ...filters, [key]: e.currentTarget.value });
  const rules = [...new Set((alerts || []).map((a) => a.rule))].sort();
  const row = (a, member = false) => html`<${AlertRow} key=${member ? `m-${a.id}` : a.id} alert=${a} user=${user} member=${member}
    fresh=${fresh.has(a.id)} assignable=${assignable} onChanged=${changed}
    expanded=${Boolean(open[groupOf(a)])} onToggle=${filters.grouped && !member ? () => toggle(groupOf(a)) : null} />`;
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
      <label>Severity <select value=${filters.severity} onChange=${set("severity")}>
        <option value="">all</option>${SEVERITIES.map((s) => html`<option value=${s}>${s}</option>`)}
      </select></label>
      <label>Kind <select value=${filters.kind} onChange=${set("kind")}>
        <option value="">all</option>${Object.entries(KINDS).map(([k, label]) => html`<option value=${k}>${label}</option>`)}
      </select></label>
      <datalist id="alert-rules">${rules.map((r) => html`<option value=${r} />`)}</datalist>
      <label>From <input type="datetime-local" value=${filters.since} onChange=${set("since")} /></label>
      <label>To <input type="datetime-local" value=${filters.until} onChange=${set("until")} /></label>
      <label class="inline"><input type="checkbox" checked=${filters.grouped}
        onChange=${(e) => setFilters({ ...filters, grouped: e.currentTarget.checked })} /> Group similar</label>
      <span class="muted">${count} ${filters.grouped ? (count === 1 ? "group" : "groups") : count === 1 ? "alert" : "alerts"}</span>
    </header>
    <${Notice} kind="error">${error}<//>
    ${alerts === null && !error && html`<p aria-busy="true">Loading alerts…</p>`}
    ${alerts && alerts.length === 0 && html`<p class="muted">No alert matches these filters.</p>`}
    <table class="inbox" aria-label="Alert inbox">
      <thead><tr><th>${can(user, "operator") ? "Crop" : html`<span class="sr-only">Crop</span>`}</th><th>Time</th><th>Severity</th><th>Camera</th><th>Rule</th><th>Kind</th><th>What</th><th>State</th><th>Assigned</th><th>Actions</th></tr></thead>
      <tbody>
        ${(alerts || []).flatMap((a) => [row(a), ...(open[groupOf(a)] || []).filter((m) => m.id !== a.id).map((m) => row(m, true))])}
      </tbody>
    </table>
    ${alertId && html`<${AlertDetail} key=${alertId} id=${alertId} user=${user} assignable=${assignable}
      onClose=${() => { location.hash = "#/alerts"; }} onChanged=${changed} />`}
  </section>`;
}

/** The API's filters of the inbox (grouping is asked apart). */
function apiFilters(f) {
  return {
    state: STATES[f.state], camera_id: f.camera_id, rule: f.rule, kind: f.kind, severity: f.severity,
    since: fromLocalInput(f.since), until: fromLocalInput(f.until),
  };
}

/** A group's id: its first alert's id, which the others carry as group_id. */
const groupOf = (alert) => alert.group_id || alert.id;

/** One inbox row; in the grouped view a group's row shows its size and opens its members below it. */
function AlertRow({ alert: a, user, member, fresh, assignable, onChanged, expanded, onToggle }) {
  const size = a.group_size || 1;
  return html`<tr class=${`${fresh ? "fresh" : ""}${member ? " member" : ""}`} aria-label=${`Alert ${a.rule} at ${when(a.timestamp)}`}>
    <td>${a.crop_url && can(user, "operator") ? html`<img class="crop" src=${a.crop_url} alt=${`Crop of alert ${a.rule}`} />` : html`<span class="muted">—</span>`}</td>
    <td><time>${when(a.timestamp)}</time>${member && html`<br /><span class="muted">in the group</span>`}</td>
    <td><${SeverityBadge} severity=${a.severity} /></td>
    <td>${a.camera_id}</td>
    <td>${a.rule}</td>
    <td>${KINDS[a.kind] || a.kind}</td>
    <td>${a.message}${measured(a) && html`<br /><span class="measured">${measured(a)}</span>`}</td>
    <td><span class=${`badge alert-${a.state}`}>${a.state}</span></td>
    <td>${a.assignee || html`<span class="muted">nobody</span>`}</td>
    <td class="actions">
      ${onToggle && size > 1 && html`<button class="group-size" onClick=${onToggle} aria-expanded=${expanded}
        aria-label=${`${expanded ? "Hide" : "Show"} the ${size} alerts of the group of alert ${a.id}`}>×${size}</button>`}
      <a class="link" href=${`#/alerts/${encodeURIComponent(a.id)}`} aria-label=${`Details of alert ${a.id}`}>Details</a>
      ${can(user, "operator") && html`<${Triage} alert=${a} assignable=${assignable} compact=${true} onChanged=${onChanged} />`}
    </td>
  </tr>`;
}

function matches(alert, f) {
  if (STATES[f.state].length && !STATES[f.state].includes(alert.state)) return false;
  if (f.camera_id && alert.camera_id !== f.camera_id) return false;
  if (f.rule && alert.rule !== f.rule) return false;
  if (f.severity && alert.severity !== f.severity) return false;
  if (f.kind && alert.kind !== f.kind) return false;
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
        <dt>Severity</dt><dd><${SeverityBadge} severity=${alert.severity} /></dd>
        <dt>Kind</dt><dd>${KINDS[alert.kind] || alert.kind}${measured(alert) ? ` · ${measured(alert)}` : ""}</dd>
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
