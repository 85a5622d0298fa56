// @ts-check
/**
 * The site map as SVG: cameras at their config positions (metres), walking links, her trail
 * (confirmed sightings in time order, numbered, with arrows) and the cameras she could reach next.
 */
import { html } from "../ui.js";

const PAD = 30;

/**
 * @param {{map: any, trail: any[], suggestions: any[], onCamera?: (id: string) => void}} props
 *   map: GET /site/map; trail: confirmed sightings in time order; suggestions: [{camera_id, walk_s}]
 */
export function SiteMap({ map, trail, suggestions, onCamera }) {
  if (!map || !map.cameras.length) return html`<p class="muted">No camera has a position on the site map (config: cameras[].position).</p>`;
  const { min_x, min_y, max_x, max_y } = map.bounds;
  const spanX = Math.max(max_x - min_x, 1);
  const spanY = Math.max(max_y - min_y, 1);
  const width = 800;
  const height = Math.max(240, Math.min(600, (width * spanY) / spanX));
  const scale = Math.min((width - 2 * PAD) / spanX, (height - 2 * PAD) / spanY);
  const at = new Map(map.cameras.map((c) => [c.id, [PAD + (c.x - min_x) * scale, height - PAD - (c.y - min_y) * scale]]));
  const suggested = new Map(suggestions.map((s, i) => [s.camera_id, i]));
  const visited = new Set(trail.map((s) => s.camera_id));
  const steps = trail.filter((s) => at.has(s.camera_id));
  const legs = [];
  for (let i = 1; i < steps.length; i++) {
    if (steps[i].camera_id !== steps[i - 1].camera_id) legs.push([at.get(steps[i - 1].camera_id), at.get(steps[i].camera_id), i]);
  }
  const description = steps.length
    ? `Trail: ${steps.map((s) => s.camera_id).join(" → ")}. Next: ${suggestions.slice(0, 3).map((s) => s.camera_id).join(", ") || "none"}.`
    : "No confirmed sighting yet.";
  return html`<figure class="sitemap">
    <svg viewBox=${`0 0 ${width} ${height}`} role="img" aria-label=${`Site map. ${description}`}>
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
        <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" /></marker></defs>
      ${(map.links || []).filter((l) => at.has(l.from) && at.has(l.to)).map((l) => {
        const [a, b] = [at.get(l.from), at.get(l.to)];
        return html`<line class="link" x1=${a[0]} y1=${a[1]} x2=${b[0]} y2=${b[1]}><title>${l.from} – ${l.to}: ${Math.round(l.walk_s)} s walk</title></line>`;
      })}
      ${legs.map(([a, b, i]) => html`<line class="leg" x1=${a[0]} y1=${a[1]} x2=${b[0]} y2=${b[1]} marker-end="url(#arrow)"><title>step ${i}</title></line>`)}
      ${map.cameras.map((c) => {
        const [x, y] = at.get(c.id);
        const kind = visited.has(c.id) ? "visited" : suggested.has(c.id) ? "suggested" : c.role === "ai" ? "ai" : "record";
        return html`<g class=${`cam ${kind}`} transform=${`translate(${x} ${y})`} onClick=${() => onCamera && onCamera(c.id)}>
          <circle r=${kind === "visited" || kind === "suggested" ? 9 : 5} />
          <text y="-12" text-anchor="middle">${c.id}</text>
          <title>${c.name || c.id}${suggested.has(c.id) ? ` — suggested next (${suggestions[suggested.get(c.id)].walk_s.toFixed(0)} s walk)` : ""}</title>
        </g>`;
      })}
      ${steps.map((s, i) => {
        const [x, y] = at.get(s.camera_id);
        return html`<text class="step" x=${x + 10} y=${y + 16 + 12 * (steps.slice(0, i).filter((p) => p.camera_id === s.camera_id).length)}>${i + 1}</text>`;
      })}
    </svg>
    <figcaption>${description}
      <span class="legend"><span class="dot visited"></span>trail <span class="dot suggested"></span>suggested next <span class="dot ai"></span>AI camera <span class="dot record"></span>record-only</span>
    </figcaption>
  </figure>`;
}
