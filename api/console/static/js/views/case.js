// @ts-check
/**
 * The case workspace: her description and photos, the ranked candidates with why each ranks,
 * confirm / reject (one click or one key), the trail on the site map with the cameras she could
 * reach next, live case alerts while the page is open, back-scan of record-only cameras, close.
 *
 * Keys (on the candidate grid): j / ArrowRight next, k / ArrowLeft previous, c confirm, r reject.
 */
import { useEffect, useRef, useState } from "../../vendor/hooks.module.js";
import { api, live } from "../api.js";
import { can } from "../app.js";
import { Chip, Dialog, duration, html, Notice, ScoreBar, when } from "../ui.js";
import { PhotoDrop, uploadPhoto } from "./cases.js";
import { useReason } from "./admin.js";
import { ExportDialog } from "./exports.js";
import { SiteMap } from "./map.js";

const BACKSCAN_POLL_MS = 2000;

export function CaseWorkspace({ caseId, user }) {
  const [item, setItem] = useState(/** @type {any} */ (null));
  const [candidates, setCandidates] = useState(/** @type {any[] | null} */ (null));
  const [decided, setDecided] = useState(/** @type {Record<string, string>} */ ({}));
  const [focus, setFocus] = useState(0);
  const [map, setMap] = useState(/** @type {any} */ (null));
  const [suggestions, setSuggestions] = useState(/** @type {any[]} */ ([]));
  const [liveAlerts, setLiveAlerts] = useState(/** @type {any[]} */ ([]));
  const [feed, setFeed] = useState("connecting");
  const [error, setError] = useState("");
  const [info, setInfo] = useState("");
  const [photo, setPhoto] = useState(/** @type {File | null} */ (null));
  const [exporting, setExporting] = useState(/** @type {any} */ (null));
  const [similarTo, setSimilarTo] = useState(/** @type {any} */ (null));
  const [enlarged, setEnlarged] = useState(/** @type {any} */ (null));
  const [order, setOrder] = useState("score");
  const grid = useRef(/** @type {HTMLElement | null} */ (null));
  const [ask, reasonDialog] = useReason();
  const path = `/cases/${encodeURIComponent(caseId)}`;

  async function loadCase() {
    try {
      setItem(await api(path));
      setSuggestions(await api(`${path}/suggestions`));
    } catch (e) {
      setError(e.status === 404 ? `No case ${caseId}.` : e.detail);
    }
  }
  async function loadCandidates() {
    try {
      const list = await api(`${path}/candidates?limit=60`);
      setCandidates(list.items);
      if (!performance.getEntriesByName("vigil:candidates").length) performance.mark("vigil:candidates");
    } catch (e) {
      setError(e.status === 429 ? `Searching too often: ${e.detail}` : `Candidates could not be loaded: ${e.detail}`);
    }
  }

  useEffect(() => {
    loadCase();
    loadCandidates();
    api("/site/map").then(setMap).catch(() => setMap({ cameras: [], links: [], bounds: {} }));
    const socket = live(`${path}/watch`, (alert) => {
      setLiveAlerts((list) => [alert, ...list].slice(0, 20));
      loadCandidates();
    }, setFeed);
    return () => socket.close();
  }, [caseId]);

  const confirmed = new Set((item?.trail || []).map((s) => s.id));
  const shown = order === "time" ? [...(candidates || [])].sort((a, b) => a.sighting.start - b.sighting.start) : candidates || [];

  async function verdict(candidate, value, override = false) {
    const id = candidate.sighting.id;
    try {
      setItem(await api(`${path}/feedback`, { json: { sighting_id: id, verdict: value, override } }));
      setDecided((d) => ({ ...d, [id]: value }));
      setInfo(`${value === "confirm" ? "Confirmed" : "Rejected"} the sighting on ${candidate.sighting.camera_id} at ${when(candidate.sighting.start)}.`);
      setSuggestions(await api(`${path}/suggestions`).catch(() => suggestions));
      if (value === "confirm") loadCandidates();
    } catch (e) {
      if (e.status === 409) {
        // Another operator decided this candidate the other way: show whose verdict it is.
        loadCase();
        if (confirm(`${e.detail}\n\nReplace their verdict with yours?`)) return verdict(candidate, value, true);
        setError(`Not changed: ${e.detail}`);
        return;
      }
      setError(e.detail);
    }
  }

  function onKey(event) {
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
    const move = (to) => {
      const next = Math.max(0, Math.min(shown.length - 1, to));
      setFocus(next);
      /** @type {HTMLElement | null | undefined} */ (grid.current?.querySelectorAll(".candidate")[next])?.focus();
    };
    const current = shown[focus];
    if (event.key === "j" || event.key === "ArrowRight") move(focus + 1);
    else if (event.key === "k" || event.key === "ArrowLeft") move(focus - 1);
    else if (event.key === "c" && current) verdict(current, "confirm");
    else if (event.key === "r" && current) { verdict(current, "reject"); move(focus + 1); }
    else return;
    event.preventDefault();
  }

  /** The whole case as one signed bundle (confirmed sightings' clips, crops, trail, audit rows). */
  async function exportBundle() {
    const reason = await ask("Export case bundle");
    if (!reason) return;
    setInfo("Exporting the case bundle…");
    try {
      const response = await api(`${path}/bundle`, { json: { reason }, raw: true });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await response.blob());
      link.download = `case-${caseId}.zip`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
      setInfo(`Saved ${link.download}: ${response.headers.get("x-vigil-clips")} clips, manifest SHA-256 `
        + `${response.headers.get("x-vigil-manifest-sha256")}. Check it: vigil verify ${link.download} --public-key site.pem`);
    } catch (e) {
      setInfo("");
      setError(e.detail);
    }
  }

  /** A legal hold on the case: its window on every camera is kept from retention until released. */
  async function holdCase() {
    const reason = await ask("Place legal hold on this case");
    if (!reason) return;
    try {
      const hold = await api("/holds", { json: { case_id: caseId, reason } });
      setInfo(`Legal hold ${hold.id} placed: release it under Admin › Holds and retention.`);
    } catch (e) {
      setError(e.detail);
    }
  }

  if (error && !item) return html`<${Notice} kind="error">${error}<//>`;
  if (!item) return html`<p aria-busy="true">Loading case…</p>`;
  const open = item.status === "open";
  return html`<section class="case" aria-labelledby="case-title">
    <header class="toolbar">
      <h1 id="case-title">${item.reason}</h1>
      <span class=${`badge case-${item.status}`}>${item.status}</span>
      <span class="muted">opened ${when(item.opened_at, { date: "always" })} by ${item.opened_by} · search from ${when(item.window_start)}</span>
      <span class=${`feed feed-${feed}`} role="status">${feed === "live" ? "live alerts on" : "live alerts reconnecting…"}</span>
      ${open && html`<button class="danger" onClick=${async () => {
        if (!confirm("Close this case? Live alerts for it stop.")) return;
        try { setItem(await api(`${path}/close`, { method: "POST" })); } catch (e) { setError(e.detail); }
      }}>Close case</button>`}
      ${can(user, "mediator") && html`<button onClick=${exportBundle}>Export case bundle</button>`}
      ${can(user, "admin") && html`<button onClick=${holdCase}>Place legal hold</button>`}
    </header>
    <${Notice} kind="error">${error}<//>
    <${Notice}>${info}<//>
    <div class="case-grid">
      <aside class="case-side" aria-label="Description and trail">
        <h2>Looks like</h2>
        <p>Upper: ${item.upper.map((c) => html`<${Chip} colour=${c} />`)}${!item.upper.length && "—"}</p>
        <p>Lower: ${item.lower.map((c) => html`<${Chip} colour=${c} />`)}${!item.lower.length && "—"}</p>
        <p>Size: ${item.size || "not given"} · ${item.photos} photo${item.photos === 1 ? "" : "s"}</p>
        ${open && html`<details><summary>Add a photo</summary>
          <${PhotoDrop} file=${photo} onFile=${setPhoto} />
          <button disabled=${!photo} onClick=${async () => {
            try {
              const read = await uploadPhoto(caseId, photo);
              setInfo(`Photo added: upper ${read.upper_colours.join(", ") || "?"}, lower ${read.lower_colours.join(", ") || "?"}.`);
              setPhoto(null);
              loadCase();
              loadCandidates();
            } catch (e) { setError(`Photo refused: ${e.detail}`); }
          }}>Upload photo</button>
        </details>`}
        <h2>Trail</h2>
        <${SiteMap} map=${map} trail=${item.trail} suggestions=${suggestions} />
        <ol class="trail" aria-label="Confirmed sightings in time order">
          ${item.trail.map((s) => html`<li>
            ${s.crop_url && html`<img class="crop small" src=${s.crop_url} alt=${`Confirmed sighting on ${s.camera_id}`} />`}
            <span>${s.camera_id} · ${when(s.start)}–${when(s.end)}</span>
            ${can(user, "mediator") && html`<button class="link" onClick=${() => setExporting(s)} aria-label=${`Export clip of sighting on ${s.camera_id} at ${when(s.start)}`}>Export clip</button>`}
          </li>`)}
        </ol>
        ${!item.trail.length && html`<p class="muted">Confirm a candidate to start her trail.</p>`}
        <h2>Where next</h2>
        <ol class="suggestions" aria-label="Suggested next cameras">
          ${suggestions.slice(0, 8).map((s) => html`<li>${s.camera_id} <span class="muted">${duration(s.walk_s)} walk</span></li>`)}
        </ol>
        ${!suggestions.length && html`<p class="muted">Suggestions follow from a confirmed sighting or her last-seen camera.</p>`}
        ${open && html`<${Backscan} path=${path} onFound=${loadCandidates} />`}
        <h2>Live case alerts</h2>
        <ul class="live-alerts" aria-live="polite" aria-label="Live case alerts">
          ${liveAlerts.map((a) => html`<li><time>${when(a.timestamp)}</time> ${a.camera_id}: ${a.message}</li>`)}
        </ul>
        ${!liveAlerts.length && html`<p class="muted">A new sighting that matches her raises an alert here.</p>`}
      </aside>
      <div class="case-main">
        <header class="toolbar">
          <h2>Candidates</h2>
          <label>Order <select value=${order} onChange=${(e) => setOrder(e.currentTarget.value)}>
            <option value="score">best match first</option><option value="time">earliest first</option></select></label>
          <span class="muted">keys: j/k move, c confirm, r reject</span>
          <button onClick=${loadCandidates}>Search again</button>
        </header>
        ${candidates === null && html`<p aria-busy="true">Ranking sightings…</p>`}
        ${candidates && !candidates.length && html`<p class="muted">No sighting in the case window yet.</p>`}
        <ul class="candidates" ref=${grid} onKeyDown=${onKey} aria-label="Candidates" aria-keyshortcuts="j k c r">
          ${shown.map((c, i) => html`<${Candidate} key=${c.sighting.id} candidate=${c} index=${i} focused=${i === focus}
            state=${confirmed.has(c.sighting.id) ? "confirm" : decided[c.sighting.id]} open=${open}
            onFocus=${() => setFocus(i)} onVerdict=${(v) => verdict(c, v)} onSimilar=${() => setSimilarTo(c.sighting)}
            onEnlarge=${() => setEnlarged(c.sighting)} />`)}
        </ul>
      </div>
    </div>
    ${enlarged && html`<${Dialog} title=${`Sighting on ${enlarged.camera_id} at ${when(enlarged.start)}`} onClose=${() => setEnlarged(null)}>
      <img class="crop huge" src=${enlarged.crop_url} alt=${`Enlarged crop of the sighting on ${enlarged.camera_id}`} />
    <//>`}
    ${similarTo && html`<${Similar} sighting=${similarTo} reason=${item.reason} onClose=${() => setSimilarTo(null)} />`}
    ${exporting && html`<${ExportDialog} cameraId=${exporting.camera_id} start=${exporting.start - 10} end=${exporting.end + 10}
      caseId=${caseId} user=${user} onClose=${() => setExporting(null)} />`}
    ${reasonDialog}
  </section>`;
}

/** Stored sightings that look like this one (an audited search under the case's reason). */
function Similar({ sighting, reason, onClose }) {
  const [found, setFound] = useState(/** @type {any} */ (null));
  const [error, setError] = useState("");
  useEffect(() => {
    api(`/sightings/${encodeURIComponent(sighting.id)}/similar?limit=24&reason=${encodeURIComponent(reason)}`)
      .then(setFound).catch((e) => setError(e.detail));
  }, [sighting.id]);
  return html`<${Dialog} title=${`Looks like the sighting on ${sighting.camera_id} at ${when(sighting.start)}`} onClose=${onClose}>
    <${Notice} kind="error">${error}<//>
    ${!found && !error && html`<p aria-busy="true">Comparing…</p>`}
    ${found && html`<p class="muted">${found.count} of ${found.compared} sightings compared, most alike first.</p>
      <ul class="similar" aria-label="Similar sightings">${found.items.map((x) => html`<li>
        ${x.sighting.crop_url ? html`<img class="crop" src=${x.sighting.crop_url} alt=${`Crop of ${x.sighting.camera_id} at ${when(x.sighting.start)}`} />` : html`<div class="crop noimage">no crop</div>`}
        <span>${x.sighting.camera_id} · ${when(x.sighting.start)}</span>
        <${ScoreBar} label="similarity" value=${x.score} />
      </li>`)}</ul>`}
  <//>`;
}

function Candidate({ candidate, index, focused, state, open, onFocus, onVerdict, onSimilar, onEnlarge }) {
  const s = candidate.sighting;
  const label = `Candidate ${index + 1}: ${s.camera_id} at ${when(s.start)}, score ${candidate.score.toFixed(2)}${state ? `, ${state}ed` : ""}`;
  return html`<li class=${`candidate ${state || ""}`} tabindex=${focused ? 0 : -1} aria-label=${label} onFocus=${onFocus}>
    ${s.crop_url
      ? html`<button class="crop-button" onClick=${onEnlarge} aria-label=${`Enlarge candidate ${index + 1}`}>
          <img class="crop" src=${s.crop_url} alt=${`Crop of candidate ${index + 1}`} loading="lazy" /></button>`
      : html`<div class="crop noimage">no crop</div>`}
    <div class="candidate-body">
      <strong>${candidate.score.toFixed(2)}</strong> <span>${s.camera_id} · ${when(s.start)}</span>
      <div class="why" role="group" aria-label="Why it ranks">
        <${ScoreBar} label="appearance" value=${candidate.appearance} />
        <${ScoreBar} label="colours" value=${candidate.colours} />
        <${ScoreBar} label="size" value=${candidate.size} />
        <${ScoreBar} label="place and time" value=${candidate.place_time} />
        ${candidate.penalty > 0 && html`<${ScoreBar} label="like rejected" value=${candidate.penalty} negative=${true} />`}
      </div>
      <div class="chips"><span class="muted">top</span> ${candidate.upper_colours.map((c) => html`<${Chip} colour=${c} />`)}
        <span class="muted">bottom</span> ${candidate.lower_colours.map((c) => html`<${Chip} colour=${c} />`)}</div>
      ${open && html`<div class="verdict">
        <button class="confirm" onClick=${() => onVerdict("confirm")} aria-pressed=${state === "confirm"} aria-label="Confirm" aria-keyshortcuts="c"
          aria-describedby=${`cand-${s.id}`}>Confirm</button>
        <button class="reject" onClick=${() => onVerdict("reject")} aria-pressed=${state === "reject"} aria-label="Reject" aria-keyshortcuts="r"
          aria-describedby=${`cand-${s.id}`}>Reject</button>
        <span id=${`cand-${s.id}`} class="sr-only">${label}</span>
      </div>`}
      <button class="link" onClick=${onSimilar} aria-label=${`Find similar to candidate ${index + 1}`}>Find similar</button>
    </div>
  </li>`;
}

/** Start, follow and cancel the case's back-scan of record-only cameras near her last-seen place. */
function Backscan({ path, onFound }) {
  const [job, setJob] = useState(/** @type {any} */ (null));
  const [maxCameras, setMaxCameras] = useState(10);
  const [error, setError] = useState("");
  const found = useRef(0);

  useEffect(() => {
    let stopped = false;
    let timer = 0;
    async function poll() {
      try {
        const [progress] = await api(`${path}/backscans`);
        if (!progress) return;
        setJob(progress);
        if (progress.sightings !== found.current) {
          found.current = progress.sightings;
          onFound();
        }
        if (!stopped && !["done", "failed", "cancelled"].includes(progress.state)) timer = window.setTimeout(poll, BACKSCAN_POLL_MS);
      } catch (e) {
        if (e.status !== 404 && e.status !== 503) setError(e.detail);
        if (e.status === 503) setJob({ unavailable: true });
      }
    }
    poll();
    return () => { stopped = true; window.clearTimeout(timer); };
  }, [job === null || ["done", "failed", "cancelled"].includes(job?.state) ? 0 : job.job_id]);

  const running = job && (job.state === "queued" || job.state === "running");
  if (job?.unavailable) return null;
  return html`<section class="backscan" aria-label="Back-scan">
    <h2>Back-scan</h2>
    <p class="muted">Detection over the recordings of record-only cameras nearest her last-seen place, over the case window.</p>
    ${job && !job.unavailable && html`<div>
      <label>Progress <progress max=${job.segments_total || 1} value=${job.segments_done + job.segments_skipped}></progress></label>
      <span>${job.state}: ${job.cameras_done}/${job.cameras_total} cameras, ${job.segments_done + job.segments_skipped}/${job.segments_total} segments,
        ${job.sightings} sightings${job.current_camera ? `, now ${job.current_camera}` : ""}</span>
      ${job.message && html`<p class="muted">${job.message}</p>`}
    </div>`}
    <${Notice} kind="error">${error}<//>
    ${running
      ? html`<button class="danger" onClick=${async () => { try { setJob(await api(`${path}/backscan`, { method: "DELETE" })); } catch (e) { setError(e.detail); } }}>Cancel back-scan</button>`
      : html`<label>Cameras <input type="number" min="1" max="500" value=${maxCameras} onInput=${(e) => setMaxCameras(Number(e.currentTarget.value))} /></label>
        <button onClick=${async () => {
          setError("");
          try { setJob(await api(`${path}/backscan`, { json: { max_cameras: maxCameras } })); } catch (e) { setError(e.detail); }
        }}>Start back-scan</button>`}
  </section>`;
}
