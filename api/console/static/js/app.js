// @ts-check
/**
 * The console's root: who is logged in, which screen is open (the URL hash), the navigation.
 *
 * Screens: #/wall (cameras), #/alerts (inbox) and #/alerts/ID (one alert), #/cases and #/cases/ID (missing-person search),
 * #/exports (evidence), #/rules (alert rules and line counts), #/admin (zones, lines, cameras, users). The role decides which are offered;
 * the API enforces the same roles, so hiding is a courtesy, not the protection.
 */
import { render } from "../vendor/preact.module.js";
import { useEffect, useState } from "../vendor/hooks.module.js";
import { api, logout, onSessionLost } from "./api.js";
import { html, setTimeZone } from "./ui.js";
import { Login } from "./views/login.js";
import { Wall } from "./views/wall.js";
import { Alerts } from "./views/alerts.js";
import { Cases } from "./views/cases.js";
import { CaseWorkspace } from "./views/case.js";
import { Exports } from "./views/exports.js";
import { Admin } from "./views/admin.js";
import { Rules } from "./views/rules.js";

const RANK = { viewer: 0, operator: 1, mediator: 2, admin: 3 };

/** @param {{role: string} | null} user @param {keyof typeof RANK} role */
export function can(user, role) {
  return user !== null && RANK[user.role] >= RANK[role];
}

const SCREENS = [
  { path: "wall", label: "Cameras", role: "viewer", key: "1" },
  { path: "alerts", label: "Alerts", role: "viewer", key: "2" },
  { path: "cases", label: "Missing persons", role: "operator", key: "3" },
  { path: "exports", label: "Evidence", role: "mediator", key: "4" },
  { path: "rules", label: "Rules", role: "admin", key: "5" },
  { path: "admin", label: "Admin", role: "admin", key: "6" },
];

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return hash.replace(/^#\/?/, "").split("/").filter(Boolean);
}

function App() {
  const [settings, setSettings] = useState({ site: "Vigil", timezone: "UTC", version: "" });
  const [user, setUser] = useState(/** @type {{name: string, role: string} | null | undefined} */ (undefined));
  const [sessionEnded, setSessionEnded] = useState(false);
  const route = useHash();

  useEffect(() => {
    api("/console/settings.json").then((s) => {
      setTimeZone(s.timezone);
      setSettings(s);
      document.title = `Vigil — ${s.site}`;
    }).catch(() => {});
    api("/auth/session").then((s) => setUser(s.user ? { name: s.user, role: s.role } : null)).catch(() => setUser(null));
    // The session ended under an open page (expired, logged out elsewhere, password reset):
    // log in again over the page, which keeps its state; the refused action was not saved.
    onSessionLost(() => setSessionEnded(true));
  }, []);

  useEffect(() => {
    // How long the first screen took, for people and for the browser tests (performance marks).
    if (user !== undefined && !performance.getEntriesByName("vigil:first-screen").length) performance.mark("vigil:first-screen");
  }, [user]);

  if (user === undefined) return html`<main class="loading" aria-busy="true">Loading…</main>`;
  const loggedIn = (/** @type {{user: string, role: string}} */ s) => {
    setSessionEnded(false);
    performance.mark("vigil:logged-in");
    if (!user || user.name !== s.user || user.role !== s.role) setUser({ name: s.user, role: s.role });
  };
  if (user === null) return html`<${Login} site=${settings.site} onLogin=${loggedIn} />`;
  const offered = SCREENS.filter((s) => can(user, /** @type {any} */ (s.role)));
  const screen = offered.find((s) => s.path === route[0]) ? route[0] : "wall";
  return html`<div class="shell">
    <header class="topbar">
      <span class="brand" aria-label="Vigil site">${settings.site}</span>
      <nav aria-label="Screens">
        ${offered.map((s) => html`<a href=${`#/${s.path}`} aria-current=${screen === s.path ? "page" : undefined}
          aria-keyshortcuts=${`Alt+${s.key}`}>${s.label}</a>`)}
      </nav>
      <span class="who">${user.name} <span class="role">${user.role}</span></span>
      <button class="ghost" onClick=${async () => {
        await logout().catch(() => {});
        setSessionEnded(false);
        setUser(null);
      }}>Log out</button>
    </header>
    <main id="main" inert=${sessionEnded}>${view(screen, route, user)}</main>
    ${sessionEnded && html`<div class="backdrop"><${Login} site=${settings.site} ended=${true} onLogin=${loggedIn} /></div>`}
  </div>`;
}

/** @param {string} screen @param {string[]} route @param {{name: string, role: string}} user */
function view(screen, route, user) {
  switch (screen) {
    case "alerts": return html`<${Alerts} user=${user} alertId=${route[1] ? decodeURIComponent(route[1]) : ""} />`;
    case "cases":
      if (route[1] === "new") return html`<${Cases} user=${user} newAt=${route[2] || ""} />`;
      return route[1] ? html`<${CaseWorkspace} key=${route[1]} caseId=${route[1]} user=${user} />` : html`<${Cases} user=${user} />`;
    case "exports": return html`<${Exports} user=${user} />`;
    case "rules": return html`<${Rules} user=${user} />`;
    case "admin": return html`<${Admin} user=${user} section=${route[1]} cameraId=${route[2]} />`;
    default: return html`<${Wall} user=${user} />`;
  }
}

addEventListener("keydown", (event) => {
  if (!event.altKey || event.ctrlKey || event.metaKey) return;
  const screen = SCREENS.find((s) => s.key === event.key);
  if (screen) {
    location.hash = `#/${screen.path}`;
    event.preventDefault();
  }
});

render(html`<${App} />`, /** @type {HTMLElement} */ (document.getElementById("app")));
