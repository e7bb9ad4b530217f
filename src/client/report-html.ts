/**
 * performanceReport's HTML (pure: records in, one string out). Self-contained: inline CSS, SVG
 * and a few lines of script; nothing is loaded from anywhere, so the file opens offline. Every
 * string from the cluster (keys, groups, addresses) is escaped.
 */
import type { TaskStreamRecord } from "../protocol/messages-task-stream.js";

export interface ReportInput {
  records: TaskStreamRecord[];
  /** the recorded span, ms since the epoch */
  start: number;
  stop: number;
  scheduler: string;
}

const WIDTH = 1000;
const LANE = 18;
const LABEL = 230;

const esc = (s: string | number): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** Colours for the groups, by name: hues a golden angle apart, so neighbours differ. */
function palette(groups: Iterable<string>): (group: string) => string {
  const hue = new Map([...new Set(groups)].sort().map((g, i) => [g, (i * 137.5 + 120) % 360]));
  return (g) => `hsl(${hue.get(g) ?? 0} 60% 55%)`;
}

const ms = (x: number) => (x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(0));
const bytes = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`);

export function renderReport(r: ReportInput): string {
  const recs = [...r.records].sort((a, b) => a.start - b.start);
  const t0 = recs.reduce((a, x) => x.transfers.reduce((b, t) => Math.min(b, t.start), Math.min(a, x.start)), r.start);
  const t1 = recs.reduce((a, x) => Math.max(a, x.stop), Math.max(r.stop, t0 + 1));
  const x = (t: number) => LABEL + ((t - t0) / (t1 - t0)) * (WIDTH - LABEL - 40);
  const lanes = [...new Set(recs.map((x) => `${x.worker} #${x.thread}`))].sort();
  const lane = new Map(lanes.map((l, i) => [l, i]));
  const colour = palette(recs.map((t) => t.group));
  const groups = new Map<string, { n: number; total: number; min: number; max: number }>();
  const links = new Map<string, { n: number; bytes: number; ms: number }>();
  const shapes: string[] = [];
  for (const rec of recs) {
    const y = lane.get(`${rec.worker} #${rec.thread}`)! * LANE + 4;
    const d = rec.stop - rec.start;
    const g = groups.get(rec.group) ?? { n: 0, total: 0, min: Infinity, max: 0 };
    groups.set(rec.group, { n: g.n + 1, total: g.total + d, min: Math.min(g.min, d), max: Math.max(g.max, d) });
    for (const t of rec.transfers) {
      const link = `${t.source} → ${rec.worker}`;
      const l = links.get(link) ?? { n: 0, bytes: 0, ms: 0 };
      links.set(link, { n: l.n + 1, bytes: l.bytes + t.nbytes, ms: l.ms + (t.stop - t.start) });
      shapes.push(
        `<rect class="transfer" x="${x(t.start).toFixed(1)}" y="${y}" width="${Math.max(1, x(t.stop) - x(t.start)).toFixed(1)}" height="${LANE - 6}"><title>transfer for ${esc(rec.key)} from ${esc(t.source)}: ${esc(t.keys.join(", "))} (${esc(bytes(t.nbytes))}, ${ms(t.stop - t.start)} ms)</title></rect>`,
      );
    }
    shapes.push(
      `<rect class="task${rec.status === "erred" ? " erred" : ""}" data-group="${esc(rec.group)}" fill="${colour(rec.group)}" x="${x(rec.start).toFixed(1)}" y="${y}" width="${Math.max(1, x(rec.stop) - x(rec.start)).toFixed(1)}" height="${LANE - 6}"><title>${esc(rec.key)} (${esc(rec.group)}) on ${esc(rec.worker)} thread ${rec.thread}: ${ms(d)} ms${rec.status === "erred" ? `, erred: ${esc(rec.error ?? "")}` : ""}</title></rect>`,
    );
  }
  const labels = lanes.map((l, i) => `<text x="4" y="${i * LANE + 15}">${esc(l)}</text>`).join("");
  const axisY = Math.max(1, lanes.length) * LANE + 6;
  const ticks = Array.from({ length: 6 }, (_, i) => t0 + ((t1 - t0) * i) / 5)
    .map((t) => `<line class="tick" x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="0" y2="${axisY}"/><text x="${x(t).toFixed(1)}" y="${axisY + 14}" text-anchor="middle">${((t - t0) / 1000).toFixed(2)} s</text>`)
    .join("");
  const height = axisY + 20;
  const moved = [...links.values()].reduce((a, l) => ({ bytes: a.bytes + l.bytes, ms: a.ms + l.ms }), { bytes: 0, ms: 0 });
  const rate = (b: number, t: number) => (t > 0 ? `${((b / 1e6) / (t / 1000)).toFixed(2)} MB/s` : "–");
  const groupRows = [...groups]
    .sort((a, b) => b[1].total - a[1].total)
    .map(([g, s]) => `<tr><td><span class="swatch" style="background:${colour(g)}"></span>${esc(g)}</td><td>${s.n}</td><td>${(s.total / 1000).toFixed(3)}</td><td>${ms(s.total / s.n)}</td><td>${ms(s.min)}</td><td>${ms(s.max)}</td></tr>`)
    .join("");
  const linkRows = [...links]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .map(([k, l]) => `<tr><td>${esc(k)}</td><td>${l.n}</td><td>${esc(bytes(l.bytes))}</td><td>${ms(l.ms)}</td><td>${rate(l.bytes, l.ms)}</td></tr>`)
    .join("");
  const taskRows = recs
    .map((t) => `<tr><td>${esc(t.key)}</td><td>${esc(t.group)}</td><td>${esc(t.worker)}</td><td>${t.thread}</td><td>${ms(t.start - t0)}</td><td>${ms(t.stop - t.start)}</td><td>${t.status === "erred" ? `erred: ${esc(t.error ?? "")}` : esc(bytes(t.nbytes))}</td></tr>`)
    .join("");
  const workers = new Set(recs.map((t) => t.worker)).size;
  const erred = recs.filter((t) => t.status === "erred").length;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dask-mpi-ts performance report</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}
th{background:#f3f3f3}.swatch{display:inline-block;width:10px;height:10px;margin-right:6px}
svg text{font:11px monospace;fill:#444}line.tick{stroke:#e4e4e4}rect.transfer{fill:#d33;opacity:.7}rect.task.dim{opacity:.2}rect.task.erred{stroke:#000;stroke-width:2}
#hover{min-height:1.4em;font-family:monospace}
</style></head><body>
<h1>Performance report</h1>
<p><b id="ntasks">${recs.length}</b> tasks${erred ? ` (<b id="nerred">${erred}</b> erred)` : ""} on ${workers} workers in ${((r.stop - r.start) / 1000).toFixed(3)} s
(from ${esc(new Date(r.start).toISOString())}); scheduler ${esc(r.scheduler)}.
Transfers: ${esc(bytes(moved.bytes))} at ${rate(moved.bytes, moved.ms)}.</p>
<h2>Task stream</h2>
<p id="hover">hover a task</p>
<svg id="stream" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="task stream">${ticks}${labels}${shapes.join("")}</svg>
<h2>Task groups</h2>
<table id="groups"><tr><th>group</th><th>tasks</th><th>total s</th><th>mean ms</th><th>min ms</th><th>max ms</th></tr>${groupRows}</table>
<h2>Transfers</h2>
<table id="transfers"><tr><th>from → to</th><th>transfers</th><th>bytes</th><th>ms</th><th>bandwidth</th></tr>${linkRows || '<tr><td colspan="5">none</td></tr>'}</table>
<h2>Tasks</h2>
<details><summary>all ${recs.length} tasks</summary>
<table id="tasks"><tr><th>key</th><th>group</th><th>worker</th><th>thread</th><th>start ms</th><th>duration ms</th><th>result</th></tr>${taskRows}</table>
</details>
<script>
(function () {
  var svg = document.getElementById("stream"), hover = document.getElementById("hover");
  var rects = svg.querySelectorAll("rect.task");
  svg.addEventListener("mouseover", function (e) {
    var t = e.target;
    if (!t.classList || !t.classList.contains("task")) return;
    hover.textContent = t.querySelector("title").textContent;
    var g = t.getAttribute("data-group");
    for (var i = 0; i < rects.length; i++) rects[i].classList.toggle("dim", rects[i].getAttribute("data-group") !== g);
  });
  svg.addEventListener("mouseleave", function () {
    for (var i = 0; i < rects.length; i++) rects[i].classList.remove("dim");
  });
})();
</script>
</body></html>
`;
}
