// @ts-check
/**
 * Evidence: export a signed evidence bundle or the clip alone (reason required; audited, its span
 * held from retention), see its manifest SHA-256, key fingerprint and how to verify it; the list
 * of exports made (mediators).
 */
import { useEffect, useState } from "../../vendor/hooks.module.js";
import { api, query } from "../api.js";
import { can } from "../app.js";
import { Dialog, duration, fromLocalInput, html, Notice, toLocalInput, when } from "../ui.js";

/** What an export's response headers say about it (the clip, the signed manifest, the key). */
function manifestOf(response, bytes) {
  const header = (name) => response.headers.get(`x-vigil-${name}`);
  return {
    sha256: header("clip-sha256"),
    manifest_sha256: header("manifest-sha256"),
    fingerprint: header("key-fingerprint"),
    masking: header("masking"),
    covered_start: Number(header("clip-covered-start")),
    covered_end: Number(header("clip-covered-end")),
    segments: Number(header("clip-segments")),
    gaps: Number(header("clip-gaps")),
    bytes,
  };
}

/**
 * Export one camera's recording between start and end: the signed evidence bundle (the main
 * action) or the MP4 alone; either way the signed manifest's SHA-256 and the key's fingerprint.
 */
export function ExportDialog({ cameraId, start, end, caseId = null, user = null, onClose }) {
  const [from, setFrom] = useState(toLocalInput(start));
  const [to, setTo] = useState(toLocalInput(Math.ceil(end / 60) * 60));
  const [reason, setReason] = useState("");
  const [manifest, setManifest] = useState(/** @type {any} */ (null));
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState("");
  const [unmasked, setUnmasked] = useState(false);

  const params = () => ({ start: fromLocalInput(from), end: fromLocalInput(to), reason, case: caseId, unmasked: unmasked || null });

  async function exportEvidence(event) {
    event.preventDefault();
    const bundle = event.submitter?.name !== "mp4";
    setBusy(true);
    setError("");
    try {
      const file = bundle ? "evidence.zip" : "clip.mp4";
      const response = await api(`/cameras/${encodeURIComponent(cameraId)}/${file}${query(params())}`, { raw: true });
      const blob = await response.blob();
      setManifest({ ...manifestOf(response, blob.size), bundle });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `${cameraId}-${Math.round(params().start || 0)}${bundle ? "-evidence.zip" : ".mp4"}`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
      setSaved(link.download);
    } catch (e) {
      setError(e.detail);
    } finally {
      setBusy(false);
    }
  }

  return html`<${Dialog} title=${`Export clip from ${cameraId}`} onClose=${onClose}>
    <form onSubmit=${exportEvidence} class="export-form">
      <label>From <input type="datetime-local" value=${from} onChange=${(e) => setFrom(e.currentTarget.value)} required /></label>
      <label>To <input type="datetime-local" value=${to} onChange=${(e) => setTo(e.currentTarget.value)} required /></label>
      <label>Reason (audited) <input value=${reason} minlength="3" maxlength="500" required onInput=${(e) => setReason(e.currentTarget.value)}
        placeholder="e.g. mediation request 2026-114" /></label>
      ${caseId && html`<p class="muted">For case ${caseId}.</p>`}
      ${can(user, "admin") && html`<label><input type="checkbox" checked=${unmasked} onChange=${(e) => setUnmasked(e.currentTarget.checked)} />
        Export without privacy masks</label>`}
      ${unmasked && html`<p class="notice warning" role="status">Without masks the clip shows what the privacy masks hide (neighbours' windows, gardens).
        Only for a court or police order: it is audited as an unmasked export with your name and reason, and the manifest says unmasked.</p>`}
      <${Notice} kind="error">${error}<//>
      <button type="submit" name="bundle" disabled=${busy}>${busy ? "Exporting…" : "Download signed bundle"}</button>
      <button type="submit" name="mp4" class="secondary" disabled=${busy}>MP4 only</button>
    </form>
    ${manifest && html`<${Manifest} manifest=${manifest} saved=${saved} />`}
  <//>`;
}

function Manifest({ manifest, saved }) {
  const file = manifest.bundle ? saved : "evidence.zip";
  return html`<section class="manifest" aria-label="Clip manifest">
    <h3>Signed manifest</h3>
    <dl>
      <dt>Covered</dt><dd>${when(manifest.covered_start, { date: "always" })} – ${when(manifest.covered_end)} (${duration(manifest.covered_end - manifest.covered_start)})</dd>
      <dt>Segments</dt><dd>${manifest.segments}, ${manifest.gaps} gaps</dd>
      <dt>Size</dt><dd>${(manifest.bytes / 1e6).toFixed(1)} MB</dd>
      <dt>Privacy masks</dt><dd>${manifest.masking === "burned_in" ? "burned in" : manifest.masking}</dd>
      <dt>Clip SHA-256</dt><dd><code class="hash clip-sha">${manifest.sha256}</code></dd>
      <dt>Manifest SHA-256</dt><dd><code class="hash manifest-sha">${manifest.manifest_sha256}</code></dd>
      <dt>Signing key</dt><dd><code class="hash fingerprint">${manifest.fingerprint}</code></dd>
    </dl>
    <p>How to check it: <code>vigil verify ${file} --public-key site.pem</code> with the
      <a href="/evidence/public-key" download="site.pem">site's public key</a>; its fingerprint must match the one above.</p>
    ${saved && html`<${Notice}>Saved as ${saved}. The export is in the audit log with your name and reason.<//>`}
  </section>`;
}

export function Exports({ user }) {
  const [items, setItems] = useState(/** @type {any[] | null} */ (null));
  const [error, setError] = useState("");
  const [cameras, setCameras] = useState(/** @type {any[]} */ ([]));
  const [exporting, setExporting] = useState(/** @type {any} */ (null));
  const [filters, setFilters] = useState({ user: "", case_id: "", camera_id: "" });

  async function load() {
    try {
      const page = await api(`/exports${query({ ...filters, limit: 200 })}`);
      setItems(page.items);
      setError("");
    } catch (e) {
      setError(`Exports could not be loaded: ${e.detail}`);
    }
  }
  useEffect(() => { load(); }, [filters]);
  useEffect(() => { api("/cameras?limit=500").then((l) => setCameras(l.items)).catch(() => {}); }, []);

  const now = Date.now() / 1000;
  return html`<section aria-labelledby="exports-title">
    <header class="toolbar">
      <h1 id="exports-title">Evidence</h1>
      <label>Camera <select value=${filters.camera_id} onChange=${(e) => setFilters({ ...filters, camera_id: e.currentTarget.value })}>
        <option value="">all</option>${cameras.map((c) => html`<option value=${c.id}>${c.name || c.id}</option>`)}
      </select></label>
      <label>User <input value=${filters.user} size="10" onChange=${(e) => setFilters({ ...filters, user: e.currentTarget.value })} /></label>
      <label>Case <input value=${filters.case_id} size="10" onChange=${(e) => setFilters({ ...filters, case_id: e.currentTarget.value })} /></label>
      <button onClick=${() => setExporting({ cameraId: filters.camera_id || cameras[0]?.id, start: now - 300, end: now - 60 })}
        disabled=${!cameras.length}>New export</button>
    </header>
    <${Notice} kind="error">${error}<//>
    ${items && items.length === 0 && html`<p class="muted">No clip has been exported yet.</p>`}
    <table aria-label="Exports">
      <thead><tr><th>When</th><th>Who</th><th>Camera</th><th>Span</th><th>Case</th><th>Reason</th><th>SHA-256</th></tr></thead>
      <tbody>${(items || []).map((x) => html`<tr>
        <td>${when(x.at, { date: "always" })}</td><td>${x.user}</td><td>${x.camera_id}</td>
        <td>${when(x.start, { date: "always" })} – ${when(x.end)}</td><td>${x.case_id || "—"}</td><td>${x.reason}</td>
        <td><code class="hash" title=${x.sha256}>${(x.sha256 || "").slice(0, 16)}…</code></td>
      </tr>`)}</tbody>
    </table>
    ${exporting && html`<${CameraExport} cameras=${cameras} initial=${exporting} user=${user} onClose=${() => { setExporting(null); load(); }} />`}
  </section>`;
}

function CameraExport({ cameras, initial, user, onClose }) {
  const [cameraId, setCameraId] = useState(initial.cameraId);
  return html`<div>
    <label class="floating">Export from camera <select value=${cameraId} onChange=${(e) => setCameraId(e.currentTarget.value)}>
      ${cameras.map((c) => html`<option value=${c.id}>${c.name || c.id}</option>`)}
    </select></label>
    <${ExportDialog} key=${cameraId} cameraId=${cameraId} start=${initial.start} end=${initial.end} user=${user} onClose=${onClose} />
  </div>`;
}
