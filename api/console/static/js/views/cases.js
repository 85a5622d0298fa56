// @ts-check
/** Missing-person cases: the list, and opening a case (reason, description, photo). */
import { useEffect, useState } from "../../vendor/hooks.module.js";
import { api } from "../api.js";
import { Chip, COLOURS, fromLocalInput, html, Notice, toLocalInput, when } from "../ui.js";

/** @param {{newAt?: string}} props newAt: open the form with this last-seen camera (from the wall) */
export function Cases({ newAt = undefined }) {
  const [cases, setCases] = useState(/** @type {any[] | null} */ (null));
  const [error, setError] = useState("");
  const [opening, setOpening] = useState(newAt !== undefined);
  useEffect(() => {
    api("/cases").then((l) => setCases(l.items)).catch((e) => setError(`Cases could not be loaded: ${e.detail}`));
  }, []);
  const open = (cases || []).filter((c) => c.status === "open");
  const closed = (cases || []).filter((c) => c.status !== "open");
  return html`<section aria-labelledby="cases-title">
    <header class="toolbar">
      <h1 id="cases-title">Missing-person cases</h1>
      <button onClick=${() => setOpening(!opening)} aria-expanded=${opening}>Open case</button>
    </header>
    <${Notice} kind="error">${error}<//>
    ${opening && html`<${CaseForm} camera=${newAt || ""} />`}
    <h2>Active cases (${open.length})</h2>
    <${CaseTable} cases=${open} />
    ${closed.length > 0 && html`<h2>Closed cases (${closed.length})</h2><${CaseTable} cases=${closed} />`}
  </section>`;
}

function CaseTable({ cases }) {
  if (!cases.length) return html`<p class="muted">None.</p>`;
  return html`<table aria-label="Cases"><thead><tr><th>Case</th><th>Description</th><th>Opened</th><th>Last confirmed</th><th>Trail</th></tr></thead>
    <tbody>${cases.map((c) => html`<tr>
      <td><a href=${`#/cases/${c.id}`}>${c.reason}</a></td>
      <td>${c.upper.map((x) => html`<${Chip} colour=${x} />`)} ${c.lower.length ? "/" : ""} ${c.lower.map((x) => html`<${Chip} colour=${x} />`)} ${c.size || ""}</td>
      <td>${when(c.opened_at, { date: "always" })} by ${c.opened_by}</td>
      <td>${c.last_confirmed_camera ? `${c.last_confirmed_camera} at ${when(c.last_confirmed_at)}` : "—"}</td>
      <td>${c.trail.length} sightings</td>
    </tr>`)}</tbody></table>`;
}

/** Up to three colours, as toggle buttons a keyboard and a screen reader can work. */
export function ColourPicker({ label, value, onChange }) {
  const toggle = (colour) => {
    if (value.includes(colour)) onChange(value.filter((c) => c !== colour));
    else if (value.length < 3) onChange([...value, colour]);
  };
  return html`<fieldset class="colours">
    <legend>${label} <span class="muted">(up to 3)</span></legend>
    ${Object.keys(COLOURS).map((colour) => html`<button type="button" class="colour" aria-pressed=${value.includes(colour)}
      aria-label=${`${label}: ${colour}`} onClick=${() => toggle(colour)}>
      <span class="swatch" style=${{ background: COLOURS[colour] }}></span>${colour}</button>`)}
  </fieldset>`;
}

/** A photo by drag and drop or by the file picker (on a phone: the camera). */
export function PhotoDrop({ file, onFile }) {
  const [over, setOver] = useState(false);
  const [preview, setPreview] = useState("");
  useEffect(() => {
    if (!file) return setPreview("");
    const url = URL.createObjectURL(file);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);
  return html`<div class=${over ? "drop over" : "drop"}
    onDragOver=${(e) => { e.preventDefault(); setOver(true); }} onDragLeave=${() => setOver(false)}
    onDrop=${(e) => { e.preventDefault(); setOver(false); const f = e.dataTransfer.files[0]; if (f) onFile(f); }}>
    ${preview ? html`<img src=${preview} alt="Photo to upload" />` : html`<span>Drop a photo of her here, or</span>`}
    <label class="button">Choose photo<input class="sr-only" type="file" accept="image/jpeg,image/png" capture="environment"
      onChange=${(e) => { const f = e.currentTarget.files[0]; if (f) onFile(f); }} /></label>
  </div>`;
}

/** Upload a photo file to a case; returns the colours read from it. */
export function uploadPhoto(caseId, file) {
  return api(`/cases/${encodeURIComponent(caseId)}/photos`, { method: "POST", body: file, headers: { "Content-Type": file.type || "image/jpeg" } });
}

function CaseForm({ camera: lastSeen = "" }) {
  const [reason, setReason] = useState("");
  const [upper, setUpper] = useState(/** @type {string[]} */ ([]));
  const [lower, setLower] = useState(/** @type {string[]} */ ([]));
  const [size, setSize] = useState("");
  const [camera, setCamera] = useState(lastSeen);
  const [seenAt, setSeenAt] = useState(toLocalInput(Date.now() / 1000 - 600));
  const [file, setFile] = useState(/** @type {File | null} */ (null));
  const [cameras, setCameras] = useState(/** @type {any[]} */ ([]));
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => { api("/cameras?limit=500").then((l) => setCameras(l.items)).catch(() => {}); }, []);

  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      const created = await api("/cases", { json: {
        reason, upper, lower, size: size || null, last_seen_camera: camera || null, last_seen_at: fromLocalInput(seenAt),
      } });
      if (file) {
        try {
          await uploadPhoto(created.id, file);
        } catch (e) {
          setError(`The case is open, but the photo was refused: ${e.detail}`);
        }
      }
      location.hash = `#/cases/${created.id}`;
    } catch (e) {
      setError(e.detail);
    } finally {
      setBusy(false);
    }
  }

  return html`<form class="case-form" onSubmit=${submit} aria-label="New case">
    <label class="wide">Reason (audited: who asked, why) <input value=${reason} required minlength="3" maxlength="2000"
      onInput=${(e) => setReason(e.currentTarget.value)} placeholder="e.g. Child lost near the bridge, reported by her mother" /></label>
    <${ColourPicker} label="Upper body" value=${upper} onChange=${setUpper} />
    <${ColourPicker} label="Lower body" value=${lower} onChange=${setLower} />
    <fieldset><legend>Size</legend>
      ${[["child", "Child"], ["adult", "Adult"], ["", "Not sure"]].map(([v, l]) => html`<label class="inline">
        <input type="radio" name="size" value=${v} checked=${size === v} onChange=${() => setSize(v)} /> ${l}</label>`)}
    </fieldset>
    <label>Last seen at camera <select value=${camera} onChange=${(e) => setCamera(e.currentTarget.value)}>
      <option value="">unknown</option>${cameras.map((c) => html`<option value=${c.id} selected=${c.id === camera}>${c.name || c.id} (${c.id})</option>`)}
    </select></label>
    <label>Last seen at <input type="datetime-local" value=${seenAt} onChange=${(e) => setSeenAt(e.currentTarget.value)}
      aria-describedby="seen-at-hint" />
      <span id="seen-at-hint" class="muted">Filled in as 10 minutes ago; the search starts 15 minutes before it.</span></label>
    <div class="wide"><span class="label">Photo (optional)</span><${PhotoDrop} file=${file} onFile=${setFile} /></div>
    <${Notice} kind="error">${error}<//>
    <button type="submit" disabled=${busy}>${busy ? "Opening…" : "Open case and search"}</button>
  </form>`;
}
