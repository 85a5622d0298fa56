// @ts-check
/**
 * The camera wall: every camera's latest snapshot (refreshing), its health and why, filters by
 * state and group; AI cameras show the boxes of their latest analysed frame.
 */
import { useEffect, useMemo, useState } from "../../vendor/hooks.module.js";
import { api, query } from "../api.js";
import { ago, Dialog, html, Notice, StateBadge } from "../ui.js";

const LIST_EVERY_MS = 10000;
const SNAPSHOT_EVERY_S = 15;
const LIVE_EVERY_MS = 2500;
const STATES = ["online", "degraded", "offline", "unknown"];

/** Periodic: call `load` now and every `ms` while the page is visible. */
export function usePoll(load, ms, deps = []) {
  useEffect(() => {
    let stopped = false;
    let timer = 0;
    async function tick() {
      if (!document.hidden) await load().catch(() => {});
      if (!stopped) timer = window.setTimeout(tick, ms);
    }
    tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, deps);
}

export function Wall({ user = null }) {
  const [cameras, setCameras] = useState(/** @type {any[] | null} */ (null));
  const [error, setError] = useState("");
  const [state, setState] = useState("");
  const [group, setGroup] = useState("");
  const [text, setText] = useState("");
  const [open, setOpen] = useState(/** @type {any} */ (null));
  const [tick, setTick] = useState(0);

  usePoll(async () => {
    try {
      const list = await api("/cameras?limit=500");
      setCameras(list.items);
      setError("");
      if (!performance.getEntriesByName("vigil:wall").length) performance.mark("vigil:wall");
    } catch (e) {
      setError(`Cameras could not be loaded: ${e.detail || e}`);
    }
    setTick(Math.floor(Date.now() / 1000 / SNAPSHOT_EVERY_S));
  }, LIST_EVERY_MS);

  const groups = useMemo(() => [...new Set((cameras || []).map((c) => c.group).filter(Boolean))].sort(), [cameras]);
  const shown = (cameras || []).filter((c) => {
    const s = c.health?.state || "unknown";
    if (state && s !== state) return false;
    if (group && c.group !== group) return false;
    if (text && !`${c.id} ${c.name}`.toLowerCase().includes(text.toLowerCase())) return false;
    return true;
  });
  const counts = Object.fromEntries(STATES.map((s) => [s, (cameras || []).filter((c) => (c.health?.state || "unknown") === s).length]));

  return html`<section class="wall" aria-labelledby="wall-title">
    <header class="toolbar">
      <h1 id="wall-title">Cameras</h1>
      <span class="counts" aria-live="polite">
        ${STATES.map((s) => html`<span class=${`badge state-${s}`}>${counts[s]} ${s}</span>`)}
      </span>
      <label>State <select value=${state} onChange=${(e) => setState(e.currentTarget.value)}>
        <option value="">all</option>${STATES.map((s) => html`<option value=${s}>${s}</option>`)}
      </select></label>
      <label>Group <select value=${group} onChange=${(e) => setGroup(e.currentTarget.value)}>
        <option value="">all</option>${groups.map((g) => html`<option value=${g}>${g}</option>`)}
      </select></label>
      <label>Find <input type="search" value=${text} placeholder="id or name" onInput=${(e) => setText(e.currentTarget.value)} /></label>
    </header>
    <${Notice} kind="error">${error}<//>
    ${cameras === null && !error && html`<p aria-busy="true">Loading cameras…</p>`}
    <ul class="tiles" aria-label="Camera tiles">
      ${shown.map((c) => html`<li key=${c.id}><${Tile} camera=${c} tick=${tick} live=${shown.length <= 30} onOpen=${() => setOpen(c)} /></li>`)}
    </ul>
    ${cameras && shown.length === 0 && html`<p class="muted">No camera matches these filters.</p>`}
    ${open && html`<${Dialog} title=${`${open.name || open.id} (${open.id})`} onClose=${() => setOpen(null)}>
      <${Tile} camera=${open} tick=${tick} live=${true} large=${true} />
      ${user && ["operator", "mediator", "admin"].includes(user.role) && html`<p>
        <a class="button" href=${`#/cases/new/${encodeURIComponent(open.id)}`}>Search for a missing person last seen here</a></p>`}
    <//>`}
  </section>`;
}

/** One camera: snapshot or live frame with boxes, name, health badge and reason. */
export function Tile({ camera, tick, live, large = false, onOpen = undefined }) {
  const [frame, setFrame] = useState(/** @type {any} */ (null));
  const [broken, setBroken] = useState(false);
  // Only what exists is asked for: a camera not opened yet costs no failing request.
  const liveUrl = live && camera.live_at !== null && camera.live_url;
  usePoll(async () => {
    if (!liveUrl) return;
    try {
      setFrame(await api(liveUrl));
    } catch {
      setFrame(null);
    }
  }, LIVE_EVERY_MS, [liveUrl]);

  const health = camera.health;
  const src = frame ? frame.image_url : camera.picture_at !== null ? `${camera.snapshot_url}?t=${tick}` : null;
  const label = `${camera.name || camera.id}, ${health?.state || "not opened yet"}`;
  return html`<article class=${large ? "tile large" : "tile"} aria-label=${label}>
    <div class="frame">
      ${src && !broken
        ? html`<img src=${src} alt=${`Latest picture of ${camera.name || camera.id}`} onError=${() => setBroken(true)} onLoad=${() => setBroken(false)} />`
        : html`<div class="noimage">${broken ? "picture unreadable" : "no picture yet"}</div>`}
      ${frame && html`<svg class="boxes" viewBox=${`0 0 ${frame.width} ${frame.height}`} preserveAspectRatio="none" aria-hidden="true">
        ${frame.boxes.map((b) => html`<rect x=${b.box[0]} y=${b.box[1]} width=${b.box[2] - b.box[0]} height=${b.box[3] - b.box[1]} />`)}
      </svg>`}
      ${frame && html`<span class="livecount">${frame.boxes.length} ${frame.boxes.length === 1 ? "person" : "people"}</span>`}
    </div>
    <footer>
      ${onOpen
        ? html`<button class="link" onClick=${onOpen} aria-label=${`Open camera ${camera.name || camera.id}`}>${camera.name || camera.id}</button>`
        : html`<strong>${camera.name || camera.id}</strong>`}
      <span class="muted">${camera.id}${camera.role === "ai" ? " · AI" : ""}${camera.ptz ? " · PTZ" : ""}</span>
      <${StateBadge} state=${health?.state} reason=${health?.reason} />
      ${health && health.state !== "online" && html`<span class="reason">${health.reason}</span>`}
      ${large && health && html`<span class="muted">last frame ${ago(health.last_frame_at)} · ${health.reconnects} reconnects</span>`}
    </footer>
  </article>`;
}
