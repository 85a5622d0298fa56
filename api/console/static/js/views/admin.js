// @ts-check
/**
 * Admin: the zone, counting-line and privacy-mask editor on a camera's snapshot (a line shows an
 * arrow towards its 'in' side), cameras (add, disable, remove,
 * config reload), users (add, disable, reset password) and legal holds and retention. Every change asks for a reason: the
 * API applies it without restarting other cameras, persists the config and writes an audit row.
 */
import { useEffect, useRef, useState } from "../../vendor/hooks.module.js";
import { api, query } from "../api.js";
import { ago, Dialog, html, Notice, StateBadge } from "../ui.js";
import { Retention } from "./retention.js";

export function Admin({ section = "zones", cameraId }) {
  const tabs = [["zones", "Zones, lines and masks"], ["cameras", "Cameras"], ["users", "Users"], ["retention", "Holds and retention"]];
  return html`<section aria-labelledby="admin-title">
    <header class="toolbar">
      <h1 id="admin-title">Admin</h1>
      <nav aria-label="Admin sections">${tabs.map(([path, label]) => html`<a href=${`#/admin/${path}`}
        aria-current=${section === path ? "page" : undefined}>${label}</a>`)}</nav>
    </header>
    ${section === "retention" ? html`<${Retention} />` : section === "users" ? html`<${Users} />` : section === "cameras" ? html`<${Cameras} />` : html`<${ZoneEditor} cameraId=${cameraId} />`}
  </section>`;
}

/** A reason prompt for an admin change (audited); resolves to the reason or null. */
function ReasonDialog({ title, onDone }) {
  const [reason, setReason] = useState("");
  return html`<${Dialog} title=${title} onClose=${() => onDone(null)}>
    <form onSubmit=${(e) => { e.preventDefault(); onDone(reason); }}>
      <label>Reason (audited) <input value=${reason} required minlength="3" maxlength="500" autofocus onInput=${(e) => setReason(e.currentTarget.value)} /></label>
      <button type="submit">Apply</button>
    </form>
  <//>`;
}

export function useReason() {
  const [asking, setAsking] = useState(/** @type {any} */ (null));
  const ask = (title) => new Promise((resolve) => setAsking({ title, resolve }));
  const dialog = asking && html`<${ReasonDialog} title=${asking.title} onDone=${(r) => { setAsking(null); asking.resolve(r); }} />`;
  return [ask, dialog];
}

// -- zone editor ---------------------------------------------------------------------------

function ZoneEditor({ cameraId }) {
  const [cameras, setCameras] = useState(/** @type {any[]} */ ([]));
  const [shapes, setShapes] = useState(/** @type {any[]} */ ([]));
  const [selected, setSelected] = useState(-1);
  const [drawing, setDrawing] = useState(/** @type {number[][] | null} */ (null));
  const [kind, setKind] = useState("zone");
  const [dragging, setDragging] = useState(/** @type {[number, number] | null} */ (null));
  const [error, setError] = useState("");
  const [info, setInfo] = useState("");
  const [ask, reasonDialog] = useReason();
  const svg = useRef(/** @type {SVGSVGElement | null} */ (null));

  useEffect(() => { api("/cameras?limit=500").then((l) => setCameras(l.items)).catch((e) => setError(e.detail)); }, []);
  const camera = cameras.find((c) => c.id === cameraId) || null;
  useEffect(() => {
    if (!camera) return;
    setShapes([
      ...(camera.zones || []).map((z) => ({ kind: "zone", name: z.name, polygon: z.polygon })),
      ...(camera.privacy_masks || []).map((z) => ({ kind: "mask", name: z.name, polygon: z.polygon })),
      ...(camera.lines || []).map((l) => ({
        kind: "line", name: l.name, polygon: l.points, in_side: l.in_side, in_label: l.in_label, out_label: l.out_label,
      })),
    ]);
    setSelected(-1);
    setDrawing(null);
  }, [camera?.id]);

  /** Pointer position as normalised [0, 1] image coordinates. */
  function point(event) {
    const box = /** @type {SVGSVGElement} */ (svg.current).getBoundingClientRect();
    const clamp = (v) => Math.round(Math.max(0, Math.min(1, v)) * 1000) / 1000;
    return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
  }

  function finish() {
    if (kind === "line" && (!drawing || drawing.length < 2)) return setError("A line needs at least 2 points.");
    if (kind !== "line" && (!drawing || drawing.length < 3)) return setError("A polygon needs at least 3 points.");
    const base = kind;
    let n = shapes.length + 1;
    while (shapes.some((s) => s.name === `${base}${n}`)) n++;
    const extra = kind === "line" ? { in_side: "left", in_label: "", out_label: "" } : {};
    setShapes([...shapes, { kind, name: `${base}${n}`, polygon: drawing, ...extra }]);
    setSelected(shapes.length);
    setDrawing(null);
    setError("");
  }

  async function save() {
    const reason = await ask(`Save zones of ${camera.id}`);
    if (!reason) return;
    const pick = (k) => shapes.filter((s) => s.kind === k).map((s) => ({ name: s.name, polygon: s.polygon }));
    const lines = shapes.filter((s) => s.kind === "line").map((s) => ({
      name: s.name, points: s.polygon, in_side: s.in_side, in_label: s.in_label, out_label: s.out_label,
    }));
    try {
      await api(`/cameras/${encodeURIComponent(camera.id)}/zones`, { method: "PUT", json: { zones: pick("zone"), privacy_masks: pick("mask"), lines, reason } });
      setInfo(`Saved ${pick("zone").length} zones, ${pick("mask").length} privacy masks and ${lines.length} lines on ${camera.id}; applied without restarting other cameras.`);
      setError("");
      const list = await api("/cameras?limit=500");
      setCameras(list.items);
    } catch (e) {
      setError(e.detail);
    }
  }

  const shape = shapes[selected];
  return html`<div class="zone-editor">
    <label>Camera <select value=${cameraId || ""} onChange=${(e) => { location.hash = `#/admin/zones/${e.currentTarget.value}`; }}>
      <option value="">choose…</option>${cameras.map((c) => html`<option value=${c.id}>${c.name || c.id} (${c.id})</option>`)}
    </select></label>
    <${Notice} kind="error">${error}<//>
    <${Notice}>${info}<//>
    ${camera && html`<div class="editor">
      <div class="canvas">
        ${camera.picture_at !== null
          ? html`<img src=${`${camera.snapshot_url}?t=${Math.floor(Date.now() / 60000)}`} alt=${`Snapshot of ${camera.id}`} />`
          : html`<p class="noimage">No picture of this camera yet: draw on the empty frame, or wait for its first snapshot.</p>`}
        <svg ref=${svg} viewBox="0 0 1 1" preserveAspectRatio="none" role="application" aria-label="Zone drawing area: click to add points"
          onClick=${(e) => { if (drawing) setDrawing([...drawing, point(e)]); }}
          onDblClick=${(e) => { e.preventDefault(); finish(); }}
          onPointerMove=${(e) => {
            if (!dragging) return;
            const [si, pi] = dragging;
            const p = point(e);
            setShapes(shapes.map((s, i) => (i === si ? { ...s, polygon: s.polygon.map((q, j) => (j === pi ? p : q)) } : s)));
          }}
          onPointerUp=${() => setDragging(null)}>
          ${shapes.map((s, i) => html`<g class=${`shape ${s.kind}${i === selected ? " selected" : ""}`}>
            ${s.kind === "line"
              ? html`<polyline points=${s.polygon.map((p) => p.join(",")).join(" ")} onClick=${(e) => { if (!drawing) { e.stopPropagation(); setSelected(i); } }}><title>line ${s.name}</title></polyline>
                <polygon class="arrow" points=${arrow(s.polygon, s.in_side)}><title>${s.in_label ? `in: ${s.in_label}` : "in"}</title></polygon>`
              : html`<polygon points=${s.polygon.map((p) => p.join(",")).join(" ")} onClick=${(e) => { if (!drawing) { e.stopPropagation(); setSelected(i); } }}><title>${s.kind} ${s.name}</title></polygon>`}
            ${i === selected && s.polygon.map((p, j) => html`<circle class="handle" cx=${p[0]} cy=${p[1]} r="0.012"
              onPointerDown=${(e) => { e.stopPropagation(); e.currentTarget.setPointerCapture?.(e.pointerId); setDragging([i, j]); }} />`)}
          </g>`)}
          ${drawing && html`<polyline class="drawing" points=${drawing.map((p) => p.join(",")).join(" ")} />`}
          ${drawing && drawing.map((p) => html`<circle class="handle" cx=${p[0]} cy=${p[1]} r="0.01" />`)}
        </svg>
      </div>
      <div class="tools">
        <fieldset><legend>New shape</legend>
          <label class="inline"><input type="radio" name="kind" checked=${kind === "zone"} onChange=${() => setKind("zone")} /> detection zone</label>
          <label class="inline"><input type="radio" name="kind" checked=${kind === "mask"} onChange=${() => setKind("mask")} /> privacy mask</label>
          <label class="inline"><input type="radio" name="kind" checked=${kind === "line"} onChange=${() => setKind("line")} /> counting line</label>
          ${drawing
            ? html`<button onClick=${finish}>${kind === "line" ? "Finish line" : "Finish polygon"}</button> <button class="ghost" onClick=${() => setDrawing(null)}>Cancel drawing</button>
              <p class="muted">${drawing.length} points; click on the picture to add, double-click or Finish to ${kind === "line" ? "end the line" : "close"}.</p>`
            : html`<button onClick=${() => { setDrawing([]); setSelected(-1); }}>${kind === "line" ? "Draw line" : "Draw polygon"}</button>`}
        </fieldset>
        <h2>Shapes</h2>
        <ul class="shapes" aria-label="Zones, lines and masks">
          ${shapes.map((s, i) => html`<li class=${i === selected ? "selected" : ""}>
            <button class="link" onClick=${() => setSelected(i)} aria-pressed=${i === selected}>${{ zone: "Zone", mask: "Mask", line: "Line" }[s.kind]} ${s.name}</button>
            <span class="muted">${s.polygon.length} points</span>
          </li>`)}
        </ul>
        ${shape && html`<div class="shape-tools">
          <label>Name <input value=${shape.name} maxlength="64" onInput=${(e) => setShapes(shapes.map((s, i) => (i === selected ? { ...s, name: e.currentTarget.value } : s)))} /></label>
          ${shape.kind === "line" && html`<p class="muted">The arrow points to the 'in' side: a person crossing towards it counts in.</p>
            <button onClick=${() => setShapes(shapes.map((s, i) => (i === selected ? { ...s, in_side: s.in_side === "left" ? "right" : "left" } : s)))}>Flip the in side</button>
            <label>Words for in <input value=${shape.in_label} maxlength="80" placeholder="into the old town" onInput=${(e) => setShapes(shapes.map((s, i) => (i === selected ? { ...s, in_label: e.currentTarget.value } : s)))} /></label>
            <label>Words for out <input value=${shape.out_label} maxlength="80" placeholder="towards the harbour" onInput=${(e) => setShapes(shapes.map((s, i) => (i === selected ? { ...s, out_label: e.currentTarget.value } : s)))} /></label>`}
          <p class="muted">Drag a ${shape.kind === "line" ? "point" : "corner"} on the picture to move it.</p>
          <button class="danger" onClick=${() => { setShapes(shapes.filter((_, i) => i !== selected)); setSelected(-1); }}>Delete shape</button>
        </div>`}
        <button onClick=${save}>Save zones</button>
      </div>
    </div>`}
    ${reasonDialog}
  </div>`;
}

/**
 * The arrow of a line: a triangle at the middle of its middle segment pointing to its 'in' side
 * (left or right of the line walked from its first point, on the screen; the picture is 16:9).
 * @param {number[][]} points @param {string} side
 */
export function arrow(points, side) {
  const k = Math.floor((points.length - 1) / 2);
  const [a, b] = [points[k], points[k + 1] || points[k]];
  const aspect = 16 / 9;
  const dx = (b[0] - a[0]) * aspect, dy = b[1] - a[1];
  const length = Math.hypot(dx, dy) || 1;
  const sign = side === "right" ? -1 : 1;
  // Left of the direction (dx, dy) on a y-down screen is (dy, -dx).
  const nx = (sign * dy) / length, ny = (sign * -dx) / length;
  const ux = dx / length, uy = dy / length;
  const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  const at = (along, across) => [mid[0] + (ux * along + nx * across) / aspect, mid[1] + uy * along + ny * across];
  return [at(-0.02, 0.01), at(0.02, 0.01), at(0, 0.06)].map((p) => p.map((v) => v.toFixed(4)).join(",")).join(" ");
}

// -- cameras -------------------------------------------------------------------------------

const EMPTY_CAMERA = { id: "", name: "", url: "", role: "record", group: "", enabled: true, x: "", y: "" };

function Cameras() {
  const [cameras, setCameras] = useState(/** @type {any[]} */ ([]));
  const [error, setError] = useState("");
  const [info, setInfo] = useState("");
  const [adding, setAdding] = useState(false);
  const [form, setForm] = useState(EMPTY_CAMERA);
  const [ask, reasonDialog] = useReason();
  const load = () => api("/cameras?limit=500").then((l) => setCameras(l.items)).catch((e) => setError(e.detail));
  useEffect(() => { load(); }, []);

  async function act(title, call) {
    const reason = await ask(title);
    if (!reason) return;
    try {
      const result = await call(reason);
      setInfo(`${title}: done.${result && result.added ? ` Added ${result.added.length}, removed ${result.removed.length}, changed ${result.changed.length}.` : ""}`);
      setError("");
      load();
    } catch (e) {
      setError(e.detail);
    }
  }

  const camera = () => {
    const body = { id: form.id, name: form.name, url: form.url, role: form.role, enabled: form.enabled };
    if (form.group) body.group = form.group;
    if (form.x !== "" && form.y !== "") body.position = { x: Number(form.x), y: Number(form.y) };
    return body;
  };
  const field = (key, label, props = {}) => html`<label>${label} <input value=${form[key]} ...${props}
    onInput=${(e) => setForm({ ...form, [key]: e.currentTarget.value })} /></label>`;

  return html`<div>
    <div class="toolbar">
      <button onClick=${() => setAdding(!adding)} aria-expanded=${adding}>Add camera</button>
      <button onClick=${() => act("Reload config", (reason) => api("/config/reload", { json: { reason } }))}>Reload config</button>
    </div>
    <${Notice} kind="error">${error}<//>
    <${Notice}>${info}<//>
    ${adding && html`<form class="camera-form" aria-label="New camera" onSubmit=${(e) => {
      e.preventDefault();
      act(`Add camera ${form.id}`, (reason) => api("/cameras", { json: { camera: camera(), reason } })).then(() => setForm(EMPTY_CAMERA));
    }}>
      ${field("id", "Id", { required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}", title: "letters, digits, _ . -; starts with a letter or digit", maxlength: 64 })}
      ${field("name", "Name")}
      ${field("url", "Stream URL", { required: true, placeholder: "rtsp://..." })}
      <label>Role <select value=${form.role} onChange=${(e) => setForm({ ...form, role: e.currentTarget.value })}>
        <option value="record">record only</option><option value="ai">AI (detect and track)</option></select></label>
      ${field("group", "Group")}
      ${field("x", "Map x (m)", { type: "number", step: "any" })}
      ${field("y", "Map y (m)", { type: "number", step: "any" })}
      <button type="submit">Save camera</button>
    </form>`}
    <table aria-label="Cameras">
      <thead><tr><th>Camera</th><th>Role</th><th>Group</th><th>State</th><th>Last frame</th><th>Actions</th></tr></thead>
      <tbody>${cameras.map((c) => html`<tr>
        <td>${c.name || c.id} <span class="muted">${c.id}</span></td><td>${c.role}</td><td>${c.group || "—"}</td>
        <td>${c.enabled ? html`<${StateBadge} state=${c.health?.state} reason=${c.health?.reason} />` : "disabled"}</td>
        <td>${ago(c.health?.last_frame_at)}</td>
        <td class="actions">
          <a href=${`#/admin/zones/${c.id}`}>Zones</a>
          ${c.enabled
            ? html`<button onClick=${() => act(`Disable ${c.id}`, (reason) => api(`/cameras/${encodeURIComponent(c.id)}/disable`, { json: { reason } }))}
                aria-label=${`Disable camera ${c.id}`}>Disable</button>`
            : html`<button onClick=${() => act(`Enable ${c.id}`, (reason) => api(`/cameras/${encodeURIComponent(c.id)}/enable`, { json: { reason } }))}
                aria-label=${`Enable camera ${c.id}`}>Enable</button>`}
          <button class="danger" onClick=${() => act(`Remove ${c.id}`, (reason) => api(`/cameras/${encodeURIComponent(c.id)}${query({ reason })}`, { method: "DELETE" }))}
            aria-label=${`Remove camera ${c.id}`}>Remove</button>
        </td>
      </tr>`)}</tbody>
    </table>
    ${reasonDialog}
  </div>`;
}

// -- users ---------------------------------------------------------------------------------

function Users() {
  const [users, setUsers] = useState(/** @type {any[]} */ ([]));
  const [error, setError] = useState("");
  const [info, setInfo] = useState("");
  const [form, setForm] = useState({ name: "", role: "operator", password: "" });
  const [resetting, setResetting] = useState(/** @type {string | null} */ (null));
  const [password, setPassword] = useState("");
  const load = () => api("/users").then((l) => setUsers(l.items)).catch((e) => setError(e.detail));
  useEffect(() => { load(); }, []);

  async function call(message, request) {
    try {
      await request();
      setInfo(message);
      setError("");
      load();
      return true;
    } catch (e) {
      setError(e.detail);
      return false;
    }
  }

  return html`<div>
    <form class="user-form" aria-label="New user" onSubmit=${async (e) => {
      e.preventDefault();
      if (await call(`User ${form.name} added.`, () => api("/users", { json: form }))) setForm({ name: "", role: "operator", password: "" });
    }}>
      <label>Name <input value=${form.name} required maxlength="64" onInput=${(e) => setForm({ ...form, name: e.currentTarget.value })} /></label>
      <label>Role <select value=${form.role} onChange=${(e) => setForm({ ...form, role: e.currentTarget.value })}>
        ${["viewer", "operator", "mediator", "admin"].map((r) => html`<option value=${r}>${r}</option>`)}</select></label>
      <label>Password <input type="password" autocomplete="new-password" value=${form.password} required
        onInput=${(e) => setForm({ ...form, password: e.currentTarget.value })} /></label>
      <button type="submit">Add user</button>
    </form>
    <${Notice} kind="error">${error}<//>
    <${Notice}>${info}<//>
    <table aria-label="Users">
      <thead><tr><th>User</th><th>Role</th><th>State</th><th>Last login</th><th>Actions</th></tr></thead>
      <tbody>${users.map((u) => html`<tr>
        <td>${u.name}</td><td>${u.role}</td><td>${u.enabled ? "active" : "disabled"}</td><td>${ago(u.last_login_at)}</td>
        <td class="actions">
          ${u.enabled
            ? html`<button onClick=${() => call(`${u.name} disabled.`, () => api(`/users/${encodeURIComponent(u.name)}/disable`, { method: "POST" }))} aria-label=${`Disable user ${u.name}`}>Disable</button>`
            : html`<button onClick=${() => call(`${u.name} enabled.`, () => api(`/users/${encodeURIComponent(u.name)}/enable`, { method: "POST" }))} aria-label=${`Enable user ${u.name}`}>Enable</button>`}
          <button onClick=${() => setResetting(u.name)} aria-label=${`Reset password of ${u.name}`}>Reset password</button>
        </td>
      </tr>`)}</tbody>
    </table>
    ${resetting && html`<${Dialog} title=${`New password for ${resetting}`} onClose=${() => setResetting(null)}>
      <form onSubmit=${async (e) => {
        e.preventDefault();
        if (await call(`Password of ${resetting} reset; her earlier sessions ended.`, () => api(`/users/${encodeURIComponent(resetting)}/password`, { json: { password } }))) {
          setResetting(null);
          setPassword("");
        }
      }}>
        <label>New password <input type="password" autocomplete="new-password" value=${password} required autofocus onInput=${(e) => setPassword(e.currentTarget.value)} /></label>
        <button type="submit">Set password</button>
      </form>
    <//>`}
  </div>`;
}
