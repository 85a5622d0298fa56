// @ts-check
/** The login screen: the site's users (`vigil user add`), a session cookie, never a token in the page. */
import { useState } from "../../vendor/hooks.module.js";
import { login } from "../api.js";
import { html, Notice } from "../ui.js";

export function Login({ site, ended, onLogin }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError("");
    try {
      onLogin(await login(String(form.get("username")), String(form.get("password"))));
    } catch (e) {
      setError(e.status === 429 ? e.detail : e.status === 401 ? "Wrong user name or password." : e.detail);
    } finally {
      setBusy(false);
    }
  }

  // Over an open page (session ended) it is a dialog, not the page's main content.
  const Root = ended ? "div" : "main";
  return html`<${Root} class=${ended ? "login overlay" : "login"} role=${ended ? "dialog" : undefined}
    aria-modal=${ended ? "true" : undefined} aria-label=${ended ? "Session ended" : undefined}>
    <form onSubmit=${submit} aria-label="Log in">
      <h1>${site}</h1>
      <p class="muted">Vigil control room</p>
      ${ended && html`<${Notice} kind="error">Your session ended, and what you just did was not saved. Log in again to go on where you were.<//>`}
      <label>User name <input name="username" autocomplete="username" required autofocus /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <${Notice} kind="error">${error}<//>
      <button type="submit" disabled=${busy}>Log in</button>
    </form>
  <//>`;
}
