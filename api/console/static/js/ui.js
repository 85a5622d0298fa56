// @ts-check
/** Shared view pieces: the `html` template tag, site-time formatting, small components. */
import { h } from "../vendor/preact.module.js";
import htm from "../vendor/htm.module.js";
import { useEffect, useRef } from "../vendor/hooks.module.js";

export const html = htm.bind(h);

let timeZone = "UTC";

/** Times are shown in the site's time zone (config `timezone`), whatever the browser's is. */
export function setTimeZone(zone) {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: zone });
    timeZone = zone;
  } catch {
    console.warn(`unknown time zone ${zone}; showing UTC`);
  }
}

export function siteTimeZone() {
  return timeZone;
}

/** Epoch seconds -> "14:03:27" (today) or "3 Dec 14:03" in the site's time zone. */
export function when(epoch, { seconds = true, date = "auto" } = {}) {
  if (epoch === null || epoch === undefined) return "—";
  const at = new Date(epoch * 1000);
  const sameDay = dayKey(at) === dayKey(new Date());
  /** @type {Intl.DateTimeFormatOptions} */
  const options = { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (seconds) options.second = "2-digit";
  if (date === "always" || (date === "auto" && !sameDay)) Object.assign(options, { day: "numeric", month: "short" });
  return new Intl.DateTimeFormat("en-GB", options).format(at);
}

function dayKey(date) {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
}

/** Epoch seconds -> the value of an <input type="datetime-local"> in the site's time zone. */
export function toLocalInput(epoch) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", {
      timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(new Date(epoch * 1000)).map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** The value of an <input type="datetime-local"> read in the site's time zone -> epoch seconds. */
export function fromLocalInput(value) {
  if (!value) return null;
  const guess = Date.parse(`${value}:00Z`) / 1000; // as if UTC, then correct by the zone's offset there
  const shown = Date.parse(`${toLocalInput(guess)}:00Z`) / 1000;
  return guess - (shown - guess);
}

/** Seconds -> "45 s", "3 min", "2 h 05 min". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${String(Math.round((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** Epoch seconds -> "12 s ago", "5 min ago". */
export function ago(epoch, now = Date.now() / 1000) {
  if (epoch === null || epoch === undefined) return "never";
  return `${duration(Math.max(0, now - epoch))} ago`;
}

/** A message line: kind "error" is announced to screen readers at once, "info" politely. */
export function Notice({ kind = "info", children }) {
  if (!children) return null;
  return html`<p class=${`notice ${kind}`} role=${kind === "error" ? "alert" : "status"}>${children}</p>`;
}

/** One score part as a labelled bar (an ARIA meter: a screen reader reads "colours 0.82"). */
export function ScoreBar({ label, value, negative = false }) {
  const known = value !== null && value !== undefined;
  const fraction = known ? Math.max(0, Math.min(1, value)) : 0;
  const text = known ? value.toFixed(2) : "n/a";
  // A meter needs a value: an unknown part reads as "not known" at 0.
  return html`<div class="scorebar" role="meter" aria-label=${label} aria-valuemin="0" aria-valuemax="1"
      aria-valuenow=${fraction} aria-valuetext=${known ? `${label} ${text}` : `${label} not known`}>
    <span class="scorebar-label">${label}</span>
    <span class="scorebar-track"><span class=${negative ? "scorebar-fill negative" : "scorebar-fill"}
      style=${{ width: `${fraction * 100}%` }}></span></span>
    <span class="scorebar-value">${text}</span>
  </div>`;
}

/** The named clothing colours of the API (`Colour` in api/schemas.py) and how to draw them. */
export const COLOURS = {
  black: "#111111", white: "#f5f5f5", grey: "#8a8a8a", red: "#d32f2f", orange: "#f57c00", yellow: "#fbc02d",
  green: "#388e3c", blue: "#1976d2", purple: "#7b1fa2", pink: "#ec6fa8", brown: "#795548",
};

/** A colour name with its swatch. */
export function Chip({ colour }) {
  return html`<span class="chip"><span class="swatch" style=${{ background: COLOURS[colour] || "transparent" }}></span>${colour}</span>`;
}

/** Health state -> a word and a class for the badge. */
export function StateBadge({ state, reason }) {
  const value = state || "unknown";
  return html`<span class=${`badge state-${value}`} title=${reason || ""}>${value}</span>`;
}

/**
 * A modal dialog: focus moves into it (its [autofocus] field, else its first field or button) and
 * back to where it was when it closes; Escape closes it.
 */
export function Dialog({ title, onClose, children }) {
  const box = useRef(/** @type {HTMLElement | null} */ (null));
  useEffect(() => {
    const before = /** @type {HTMLElement | null} */ (document.activeElement);
    const inside = box.current;
    const first = inside && (inside.querySelector("[autofocus]")
      || inside.querySelector("input, select, textarea, .dialog > :not(header) button")
      || inside.querySelector("button"));
    /** @type {HTMLElement | null} */ (first)?.focus();
    return () => { if (before && before.isConnected) before.focus(); };
  }, []);
  return html`<div class="backdrop" onClick=${(e) => e.target === e.currentTarget && onClose()}>
    <div class="dialog" role="dialog" aria-modal="true" aria-label=${title} ref=${box}
      onKeyDown=${(e) => e.key === "Escape" && onClose()}>
      <header><h2>${title}</h2><button class="ghost" aria-label="Close dialog" onClick=${onClose}>✕</button></header>
      ${children}
    </div>
  </div>`;
}
