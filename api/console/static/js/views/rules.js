// @ts-check
/**
 * Rules (admin): every alert rule of the site with its type, camera, severity, schedule and
 * whether it runs now; switch one on or off, create or edit one (the fields of its type), remove
 * one, and a line rule's counts per direction as bars (SVG). Every change asks for a reason; the
 * API validates it as a whole site config and its message is shown next to the field it names
 * (e.g. "rules[3].line: camera 'gate' has no line 'x'" under Line).
 */
import { useEffect, useState } from "../../vendor/hooks.module.js";
import { api, query } from "../api.js";
import { html, Notice, when } from "../ui.js";
import { SeverityBadge } from "./alerts.js";
import { useReason } from "./admin.js";
import { Backtest } from "./backtest.js";

const TYPES = {
  zone_intrusion: "Zone intrusion",
  line_crossing: "Line crossing (counts)",
  dwell: "Dwell (loitering)",
  occupancy: "Occupancy (crowding)",
  person_down: "Person down",
};
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/**
 * The fields of each rule type beyond the common ones: [key, label, input, default shown].
 * Inputs: "zone" / "line" pick one of the camera's, "directions" the alerting directions, else a number.
 */
const FIELDS = {
  zone_intrusion: [["zone", "Zone", "zone"], ["min_frames", "Frames inside before alerting", "number", 2]],
  line_crossing: [
    ["line", "Line", "line"], ["alert_on", "Alert on crossings", "directions"],
    ["count_interval_s", "Count interval (s)", "number", 60], ["hysteresis", "Hysteresis (fraction of frame height)", "number", 0.02],
    ["max_speed_mps", "Alert above speed (m/s, needs calibration)", "number", ""],
  ],
  dwell: [
    ["zone", "Zone", "zone"], ["min_seconds", "Seconds inside before alerting", "number", 60],
    ["grace_s", "Grace when out of sight (s)", "number", 3], ["max_speed_mps", "Only slower than (m/s, needs calibration)", "number", ""],
  ],
  occupancy: [
    ["zone", "Zone", "zone"], ["max_people", "More people than", "number", ""], ["min_people", "Fewer people than", "number", ""],
    ["max_density_per_m2", "Density above (people/m², needs calibration)", "number", ""],
    ["min_seconds", "Seconds the condition holds", "number", 10],
    ["hold_s", "Still counted after last seen (s)", "number", 1],
  ],
  person_down: [
    ["zone", "Zone (empty: anywhere)", "zone"], ["min_seconds", "Seconds lying before alerting", "number", 10],
    ["min_lying_score", "Lying score from (0–1)", "number", 0.6], ["grace_s", "Grace (s)", "number", 3],
  ],
};

export function Rules() {
  const [rules, setRules] = useState(/** @type {any[] | null} */ (null));
  const [cameras, setCameras] = useState(/** @type {any[]} */ ([]));
  const [error, setError] = useState("");
  const [info, setInfo] = useState("");
  const [editing, setEditing] = useState(/** @type {any} */ (null));
  const [counting, setCounting] = useState(/** @type {string | null} */ (null));
  const [trying, setTrying] = useState(/** @type {any} */ (null));
  const [ask, reasonDialog] = useReason();
  const load = () => api("/rules").then((l) => setRules(l.items)).catch((e) => setError(`Rules could not be loaded: ${e.detail}`));
  useEffect(() => {
    load();
    api("/cameras?limit=500").then((l) => setCameras(l.items)).catch(() => {});
  }, []);

  async function act(title, call) {
    const reason = await ask(title);
    if (!reason) return;
    try {
      await call(reason);
      setInfo(`${title}: done, applied without restarting any camera.`);
      setError("");
      load();
    } catch (e) {
      setError(e.detail);
    }
  }
  const path = (name) => `/rules/${encodeURIComponent(name)}`;
  return html`<section aria-labelledby="rules-title">
    <header class="toolbar">
      <h1 id="rules-title">Rules</h1>
      <button onClick=${() => setEditing({})} aria-expanded=${editing !== null && !editing.name}>New rule</button>
      <span class="muted">${rules ? `${rules.length} ${rules.length === 1 ? "rule" : "rules"}` : ""}</span>
    </header>
    <${Notice} kind="error">${error}<//>
    <${Notice}>${info}<//>
    ${editing && html`<${RuleForm} key=${editing.name || "new"} current=${editing.rule || null} cameras=${cameras}
      onCancel=${() => setEditing(null)}
      onSaved=${(saved) => { setEditing(null); setInfo(`Rule ${saved.name} saved; its camera runs it from the next frame on.`); setError(""); load(); }} />`}
    ${rules === null && !error && html`<p aria-busy="true">Loading rules…</p>`}
    ${rules && rules.length === 0 && html`<p class="muted">No rule yet: add one with New rule.</p>`}
    ${rules && rules.length > 0 && html`<table aria-label="Rules">
      <thead><tr><th>Rule</th><th>Type</th><th>Camera</th><th>Watches</th><th>Severity</th><th>Schedule</th><th>Now</th><th>Actions</th></tr></thead>
      <tbody>${rules.map((r) => html`<tr key=${r.name}>
        <td>${r.name}</td>
        <td>${TYPES[r.type] || r.type}</td>
        <td>${r.camera}</td>
        <td>${r.target || html`<span class="muted">whole picture</span>`}</td>
        <td><${SeverityBadge} severity=${r.severity} /></td>
        <td>${schedule(r.schedule)}</td>
        <td><span class=${`badge ${r.active_now ? "state-online" : ""}`}>${!r.enabled ? "disabled" : r.active_now ? "active" : "off schedule"}</span></td>
        <td class="actions">
          ${r.enabled
            ? html`<button onClick=${() => act(`Disable rule ${r.name}`, (reason) => api(`${path(r.name)}/disable`, { json: { reason } }))}
                aria-label=${`Disable rule ${r.name}`}>Disable</button>`
            : html`<button onClick=${() => act(`Enable rule ${r.name}`, (reason) => api(`${path(r.name)}/enable`, { json: { reason } }))}
                aria-label=${`Enable rule ${r.name}`}>Enable</button>`}
          <button onClick=${() => setEditing(r)} aria-label=${`Edit rule ${r.name}`}>Edit</button>
          ${r.type === "line_crossing" && html`<button onClick=${() => setCounting(counting === r.name ? null : r.name)}
            aria-pressed=${counting === r.name} aria-label=${`Counts of rule ${r.name}`}>Counts</button>`}
          <button onClick=${() => setTrying(trying?.name === r.name ? null : r)} aria-pressed=${trying?.name === r.name}
            aria-label=${`Backtest rule ${r.name}`}>Backtest</button>
          <button class="danger" onClick=${() => act(`Remove rule ${r.name}`, (reason) => api(`${path(r.name)}${query({ reason })}`, { method: "DELETE" }))}
            aria-label=${`Remove rule ${r.name}`}>Remove</button>
        </td>
      </tr>`)}</tbody>
    </table>`}
    ${counting && html`<${Counts} key=${counting} name=${counting} />`}
    ${trying && html`<${Backtest} key=${trying.name} title=${`Backtest of ${trying.name}`} camera=${trying.camera}
      begin=${(span) => api(`${path(trying.name)}/backtest`, { json: span })} />`}
    ${reasonDialog}
  </section>`;
}

/** Active periods in words: "always", "fri, sat 20:00–06:00". */
function schedule(periods) {
  if (!periods || !periods.length) return "always";
  return periods.map((p) => `${p.days.length === 7 ? "daily" : p.days.join(", ")} ${p.start}–${p.end}`).join("; ");
}

// -- create / edit -------------------------------------------------------------------------

/** The form's state from a rule's settings (or a new rule's): every value as the input shows it. */
function draftOf(rule) {
  const r = rule || {};
  const values = {
    name: r.name || "", type: r.type || "zone_intrusion", camera: r.camera || "", severity: r.severity || "warning",
    enabled: r.enabled !== false, cooldown_s: r.cooldown_s ?? "", min_score: r.filters?.min_score ?? "",
    min_height_px: r.filters?.min_height_px ?? "", classes: [...(r.filters?.classes || [])], schedule: (r.schedule || []).map((p) => ({ ...p, days: [...p.days] })),
  };
  for (const fields of Object.values(FIELDS)) {
    for (const [key, , input] of fields) {
      if (input === "directions") values[key] = [...(r[key] || [])];
      else values[key] = r[key] ?? "";
    }
  }
  return values;
}

/** The rule as the API takes it: only the fields with a value (the rest keep their defaults). */
function ruleOf(draft) {
  const body = { name: draft.name.trim(), type: draft.type, camera: draft.camera, severity: draft.severity, enabled: draft.enabled };
  if (draft.cooldown_s !== "") body.cooldown_s = Number(draft.cooldown_s);
  const filters = {};
  if (draft.min_score !== "") filters.min_score = Number(draft.min_score);
  if (draft.min_height_px !== "") filters.min_height_px = Number(draft.min_height_px);
  if (draft.classes.length) filters.classes = draft.classes;
  if (Object.keys(filters).length) body.filters = filters;
  body.schedule = draft.schedule;
  for (const [key, , input] of FIELDS[draft.type]) {
    const value = draft[key];
    if (input === "directions") body[key] = value;
    else if (value === "" || value === null) continue;
    else body[key] = input === "number" ? Number(value) : value;
  }
  return body;
}

/**
 * The API's refusal split by the field it names: "rule.dwell.min_seconds: Input should be ≥ 0;
 * rules[3].line: camera 'gate' has no line 'x'" -> {min_seconds: [...], line: [...]}; a problem
 * naming no field of the form is under "" (shown above the buttons).
 * @param {string} detail @param {Set<string>} known
 */
export function problemsOf(detail, known) {
  /** @type {Record<string, string[]>} */
  const out = {};
  // A draft's backtest says "draft rule: " before its list of problems.
  for (const problem of String(detail).replace(/^draft rule: /, "").split(/; (?=[\w.[\]-]+: )/)) {
    const match = problem.match(/^([\w.[\]-]+): ([\s\S]*)$/);
    const parts = match ? match[1].split(/[.[\]]+/).filter(Boolean) : [];
    const field = [...parts].reverse().find((part) => known.has(part)) || "";
    (out[field] ||= []).push(match && field ? match[2].replace(/^Value error, /, "") : problem);
  }
  return out;
}

function RuleForm({ current, cameras, onCancel, onSaved }) {
  const [draft, setDraft] = useState(() => draftOf(current));
  const [reason, setReason] = useState("");
  const [problems, setProblems] = useState(/** @type {Record<string, string[]>} */ ({}));
  const [trying, setTrying] = useState(false);
  const editing = current !== null;
  const known = new Set([...Object.keys(draft), "reason", "filters"]);
  const set = (key, value) => setDraft({ ...draft, [key]: value });
  const ai = cameras.filter((c) => c.role === "ai");
  const camera = cameras.find((c) => c.id === draft.camera);

  async function submit(event) {
    event.preventDefault();
    try {
      const json = { rule: ruleOf(draft), reason };
      const saved = editing
        ? await api(`/rules/${encodeURIComponent(current.name)}`, { method: "PUT", json })
        : await api("/rules", { json });
      onSaved(saved);
    } catch (e) {
      setProblems(problemsOf(e.detail, known));
    }
  }
  /** The API's words next to field `key`, and the attributes that tie them to its input. */
  const said = (key) => problems[key] && html`<span class="field-error" id=${`rule-error-${key}`}>${problems[key].join("; ")}</span>`;
  const marks = (key) => (problems[key] ? { "aria-invalid": "true", "aria-describedby": `rule-error-${key}` } : {});
  const fieldCount = Object.keys(problems).filter((k) => k).length;

  const input = ([key, label, kind, shown]) => {
    if (kind === "zone" || kind === "line") {
      const options = (kind === "zone" ? camera?.zones : camera?.lines) || [];
      return html`<label>${label} <select value=${draft[key]} onChange=${(e) => set(key, e.currentTarget.value)} required=${!label.includes("empty")} ...${marks(key)}>
        <option value="">${kind === "zone" ? "choose a zone…" : "choose a line…"}</option>
        ${options.map((o) => html`<option value=${o.name}>${o.name}</option>`)}
      </select>${said(key)}</label>`;
    }
    if (kind === "directions") {
      return html`<fieldset><legend>${label}</legend>
        ${["in", "out"].map((d) => html`<label class="inline"><input type="checkbox" checked=${draft[key].includes(d)}
          onChange=${(e) => set(key, e.currentTarget.checked ? [...draft[key], d] : draft[key].filter((x) => x !== d))} /> ${d}</label>`)}
        <span class="muted">none: only count</span>${said(key)}
      </fieldset>`;
    }
    return html`<label>${label} <input type="number" step="any" value=${draft[key]} placeholder=${shown === "" ? "none" : String(shown)}
      onInput=${(e) => set(key, e.currentTarget.value)} ...${marks(key)} />${said(key)}</label>`;
  };
  const period = (p, i) => {
    const change = (patch) => set("schedule", draft.schedule.map((q, j) => (j === i ? { ...q, ...patch } : q)));
    return html`<li class="period">
      <fieldset><legend>Period ${i + 1}</legend>
        ${DAYS.map((d) => html`<label class="inline"><input type="checkbox" checked=${p.days.includes(d)}
          onChange=${(e) => change({ days: e.currentTarget.checked ? DAYS.filter((x) => x === d || p.days.includes(x)) : p.days.filter((x) => x !== d) })} /> ${d}</label>`)}
        <label>From <input value=${p.start} size="5" pattern="[0-2][0-9]:[0-5][0-9]" placeholder="20:00" required onInput=${(e) => change({ start: e.currentTarget.value })} /></label>
        <label>To <input value=${p.end} size="5" pattern="[0-2][0-9]:[0-5][0-9]" placeholder="06:00" required onInput=${(e) => change({ end: e.currentTarget.value })} /></label>
        <button type="button" class="ghost" onClick=${() => set("schedule", draft.schedule.filter((_, j) => j !== i))}
          aria-label=${`Remove period ${i + 1}`}>Remove</button>
      </fieldset>
    </li>`;
  };
  return html`<form class="rule-form" aria-label=${editing ? `Edit rule ${current.name}` : "New rule"} onSubmit=${submit}>
    <div class="row">
      <label>Name <input value=${draft.name} required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}" readonly=${editing}
        title="letters, digits, _ . -; starts with a letter or digit" onInput=${(e) => set("name", e.currentTarget.value)} ...${marks("name")} />${said("name")}</label>
      <label>Type <select value=${draft.type} onChange=${(e) => {
        const type = e.currentTarget.value;
        // A new person_down rule starts off, as in the config: its posture cue is not validated on real falls.
        setDraft({ ...draft, type, ...(editing ? {} : { enabled: type !== "person_down" }) });
      }}>
        ${Object.entries(TYPES).map(([k, label]) => html`<option value=${k}>${label}</option>`)}</select></label>
      <label>Camera <select value=${draft.camera} required onChange=${(e) => set("camera", e.currentTarget.value)}>
        <option value="">choose an AI camera…</option>${ai.map((c) => html`<option value=${c.id}>${c.name || c.id} (${c.id})</option>`)}</select>${said("camera")}</label>
      <label>Severity <select value=${draft.severity} onChange=${(e) => set("severity", e.currentTarget.value)}>
        ${["info", "warning", "critical"].map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
      <label class="inline"><input type="checkbox" checked=${draft.enabled} onChange=${(e) => set("enabled", e.currentTarget.checked)} /> enabled</label>
    </div>
    <div class="row">${FIELDS[draft.type].map(input)}</div>
    ${draft.type === "person_down" && html`<p class="muted">Person down is off unless switched on: its posture cue has not been
      validated on real fallen people. Backtest it on your own recordings first.</p>`}
    <div class="row">
      <label>Cooldown (s) <input type="number" step="any" min="0" value=${draft.cooldown_s} placeholder="60" onInput=${(e) => set("cooldown_s", e.currentTarget.value)} ...${marks("cooldown_s")} />${said("cooldown_s")}</label>
      <label>Minimum score <input type="number" step="any" min="0" max="1" value=${draft.min_score} placeholder="0" onInput=${(e) => set("min_score", e.currentTarget.value)} ...${marks("min_score")} />${said("min_score")}</label>
      <label>Minimum box height (px) <input type="number" step="any" min="0" value=${draft.min_height_px} placeholder="0" onInput=${(e) => set("min_height_px", e.currentTarget.value)} ...${marks("min_height_px")} />${said("min_height_px")}</label>
    </div>
    <div>
      <h2>Schedule <span class="muted">(site time; none: always active)</span></h2>
      <ul class="periods" aria-label="Active periods">${draft.schedule.map(period)}</ul>${said("schedule")}
      <button type="button" onClick=${() => set("schedule", [...draft.schedule, { days: [...DAYS], start: "20:00", end: "06:00" }])}>Add period</button>
    </div>
    <label>Reason (audited) <input value=${reason} required minlength="3" maxlength="500" onInput=${(e) => setReason(e.currentTarget.value)} ...${marks("reason")} />${said("reason")}</label>
    <${Notice} kind="error">${[...(problems[""] || []), fieldCount ? `${fieldCount === 1 ? "A field says" : `${fieldCount} fields say`} what is wrong.` : ""].filter(Boolean).join(" ")}<//>
    <div class="row">
      <button type="submit">${editing ? "Save rule" : "Add rule"}</button>
      <button type="button" onClick=${() => setTrying(!trying)} aria-pressed=${trying}>Backtest this draft</button>
      <button type="button" class="ghost" onClick=${onCancel}>Cancel</button>
    </div>
  </form>
  ${trying && html`<${Backtest} title=${`Backtest of the draft ${draft.name || "rule"}`} camera=${draft.camera || "its camera"}
    begin=${(span) => api("/rules/backtest", { json: { ...span, draft: { rule: ruleOf(draft) }, camera: draft.camera || null } })}
    onAnswer=${(detail) => {
      // The draft's own problems go next to its fields; the window's stay in the backtest's notice.
      const { "": _, ...fields } = problemsOf(detail, known);
      setProblems(fields);
    }} />`}`;
}

// -- counts --------------------------------------------------------------------------------

const SPANS = { "1h": [3600, 300, "5 min"], "24h": [86400, 3600, "hour"], "7d": [7 * 86400, 86400, "day"] };

/** A line rule's crossings per interval, in and out side by side (SVG bars, numbers in a table). */
export function Counts({ name }) {
  const [span, setSpan] = useState("24h");
  const [counts, setCounts] = useState(/** @type {any} */ (null));
  const [error, setError] = useState("");
  useEffect(() => {
    const [seconds, interval] = SPANS[span];
    const until = Math.ceil(Date.now() / 1000 / interval) * interval;
    api(`/rules/${encodeURIComponent(name)}/counts${query({ since: until - seconds, until, interval })}`)
      .then((c) => { setCounts(c); setError(""); })
      .catch((e) => setError(e.detail));
  }, [name, span]);
  const inWord = counts?.in_label ? `in (${counts.in_label})` : "in";
  const outWord = counts?.out_label ? `out (${counts.out_label})` : "out";
  const buckets = counts?.buckets || [];
  const top = Math.max(1, ...buckets.map((b) => Math.max(b.count_in, b.count_out)));
  const width = 100 / Math.max(1, buckets.length);
  return html`<section class="counts-view" aria-labelledby="counts-title">
    <header class="toolbar">
      <h2 id="counts-title">Counts of ${name}</h2>
      <label>Period <select value=${span} onChange=${(e) => setSpan(e.currentTarget.value)}>
        <option value="1h">last hour, per 5 min</option><option value="24h">last 24 h, per hour</option><option value="7d">last 7 days, per day</option>
      </select></label>
      ${counts && html`<span><span class="key in"></span>${inWord}: <strong>${counts.total_in}</strong>
        <span class="key out"></span>${outWord}: <strong>${counts.total_out}</strong></span>`}
    </header>
    <${Notice} kind="error">${error}<//>
    ${counts && html`<svg class="bars" viewBox="0 0 100 40" preserveAspectRatio="none" role="img"
        aria-label=${`Crossings of ${name} per ${SPANS[span][2]}: ${counts.total_in} ${inWord}, ${counts.total_out} ${outWord}`}>
      ${buckets.map((b, i) => {
        const hIn = (b.count_in / top) * 38;
        const hOut = (b.count_out / top) * 38;
        return html`<g>
          <rect class="in" x=${i * width + width * 0.1} y=${40 - hIn} width=${width * 0.4} height=${hIn}><title>${when(b.start)}: ${b.count_in} ${inWord}</title></rect>
          <rect class="out" x=${i * width + width * 0.5} y=${40 - hOut} width=${width * 0.4} height=${hOut}><title>${when(b.start)}: ${b.count_out} ${outWord}</title></rect>
        </g>`;
      })}
    </svg>
    <p class="muted axis"><span>${when(counts.since, { seconds: false })}</span><span>${when(counts.until, { seconds: false })}</span></p>
    <details><summary>Numbers</summary>
      <table aria-label=${`Counts of ${name}`}>
        <thead><tr><th>From</th><th>${inWord}</th><th>${outWord}</th></tr></thead>
        <tbody>${buckets.filter((b) => b.count_in || b.count_out).map((b) => html`<tr><td>${when(b.start, { seconds: false })}</td><td>${b.count_in}</td><td>${b.count_out}</td></tr>`)}</tbody>
      </table>
    </details>`}
    <p class="muted">The crossings of the interval the rule is counting now appear when it closes (at the end of each of the rule's count intervals) or when its camera stops.</p>
  </section>`;
}
