/**
 * The dashboard page: one self-contained HTML document (no CDN, no build step). It opens
 * `/api/events` (Server-Sent Events, one snapshot a second) and redraws: cluster totals,
 * workers with their memory, progress per task group, and the task stream of the last 10 s.
 */
export const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dask-mpi-ts dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --fg:#1d2330; --muted:#6b7385; --line:#e3e6ec; --done:#3b7dd8; --mem:#46a35a; --proc:#e0a21b; --wait:#c9ced8; --err:#d64545; --spill:#8e5bd0; }
  body { font: 14px/1.4 system-ui, sans-serif; color: var(--fg); margin: 0; background: #f7f8fa; }
  header { display:flex; gap:2rem; align-items:baseline; padding: .8rem 1.2rem; background:#fff; border-bottom:1px solid var(--line); }
  header h1 { font-size: 1.1rem; margin: 0; }
  #status { color: var(--muted); }
  main { display:grid; grid-template-columns: 1fr 1fr; gap: 1rem; padding: 1rem 1.2rem; }
  section { background:#fff; border:1px solid var(--line); border-radius:6px; padding:.7rem .9rem; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: .95rem; margin: 0 0 .5rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align:left; padding: .2rem .4rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { color: var(--muted); font-weight: 500; }
  .bar { position:relative; height: 12px; background:#eef0f4; border-radius:3px; overflow:hidden; min-width: 120px; }
  .bar span { position:absolute; top:0; bottom:0; }
  .paused { color: var(--proc); font-weight:600; } .closing { color: var(--muted); }
  .totals { display:flex; gap:1.6rem; flex-wrap: wrap; }
  .totals div b { display:block; font-size:1.2rem; }
  canvas { width:100%; height: 220px; display:block; }
  .legend span { display:inline-block; width:10px; height:10px; margin: 0 .3rem 0 .8rem; border-radius:2px; }
</style></head>
<body>
<header><h1>dask-mpi-ts</h1><span id="address"></span><span id="status">connecting...</span></header>
<main>
  <section class="wide"><h2>Cluster</h2><div class="totals" id="totals"></div></section>
  <section class="wide"><h2>Workers</h2><table id="workers"><thead><tr>
    <th>name</th><th>host</th><th>threads</th><th>memory (used / limit)</th><th>spilled</th><th>status</th><th>processing</th><th>in memory</th><th>CPU</th>
  </tr></thead><tbody></tbody></table></section>
  <section><h2>Progress by task group</h2>
    <div class="legend"><span style="background:var(--done)"></span>done<span style="background:var(--mem)"></span>in memory<span style="background:var(--proc)"></span>processing<span style="background:var(--wait)"></span>waiting<span style="background:var(--err)"></span>erred</div>
    <table id="groups"><thead><tr><th>group</th><th></th><th>done</th><th>memory</th><th>processing</th><th>waiting</th><th>erred</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Task stream (last 10 s, sampled)</h2><canvas id="stream"></canvas></section>
  <section class="wide"><h2>Pending jobs and why</h2><ul id="why"></ul><table id="jobs"><thead><tr>
    <th>job</th><th>pool</th><th>state</th><th>workers</th><th>why it waits</th></tr></thead><tbody></tbody></table></section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const bytes = (n) => { const u = ["B","KiB","MiB","GiB","TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i ? n.toFixed(1) : n) + " " + u[i]; };
const colors = new Map();
const palette = ["#3b7dd8","#46a35a","#e0a21b","#8e5bd0","#d6457a","#2aa5a5","#a36b3b","#5b6bd0"];
const colorOf = (g) => { if (!colors.has(g)) colors.set(g, palette[colors.size % palette.length]); return colors.get(g); };

function render(s) {
  document.title = "dask-mpi-ts: " + s.totals.workers + " workers";
  const t = s.totals;
  const tasks = Object.entries(t.tasks).map(([k, v]) => v + " " + k).join(", ") || "none";
  $("totals").innerHTML = [["workers", t.workers], ["threads", t.threads], ["memory", bytes(t.memory) + (t.memoryLimit ? " / " + bytes(t.memoryLimit) : "")],
    ["tasks done", t.finished], ["erred", t.erred], ["tasks now", tasks]].map(([k, v]) => "<div>" + esc(k) + "<b>" + esc(v) + "</b></div>").join("");
  $("workers").tBodies[0].innerHTML = s.workers.map((w) => {
    const limit = w.memoryLimit || Math.max(w.memory, 1);
    const used = Math.min(100, 100 * w.memory / limit), spilled = Math.min(100 - used, 100 * w.spilled / limit);
    const bar = '<div class="bar" title="' + bytes(w.memory) + ' of ' + (w.memoryLimit ? bytes(w.memoryLimit) : 'no limit') + '"><span style="left:0;width:' + used + '%;background:' + (w.status === "paused" ? "var(--proc)" : "var(--mem)") + '"></span><span style="left:' + used + '%;width:' + spilled + '%;background:var(--spill)"></span></div>';
    return "<tr data-worker='" + esc(w.name) + "'><td>" + esc(w.name) + "</td><td>" + esc(w.host) + "</td><td>" + w.nthreads + "</td><td>" + bar + " " + bytes(w.memory) + (w.memoryLimit ? " / " + bytes(w.memoryLimit) : "") +
      "</td><td>" + bytes(w.spilled) + "</td><td class='" + w.status + "'>" + w.status + "</td><td class='processing'>" + w.processing + "</td><td>" + w.inMemory + "</td><td>" + Math.round(w.cpu) + "%</td></tr>";
  }).join("");
  $("groups").tBodies[0].innerHTML = s.groups.map((g) => {
    const total = Math.max(1, g.done + g.processing + g.waiting + g.erred + Math.max(0, g.memory - g.done));
    let left = 0; const seg = (n, c) => { const w = 100 * n / total; const h = '<span style="left:' + left + '%;width:' + w + '%;background:' + c + '"></span>'; left += w; return h; };
    return "<tr data-group='" + esc(g.name) + "'><td>" + esc(g.name) + "</td><td><div class='bar'>" + seg(g.done, "var(--done)") + seg(g.processing, "var(--proc)") + seg(g.waiting, "var(--wait)") + seg(g.erred, "var(--err)") +
      "</div></td><td class='done'>" + g.done + "</td><td>" + g.memory + "</td><td>" + g.processing + "</td><td>" + g.waiting + "</td><td>" + g.erred + "</td></tr>";
  }).join("");
  drawStream(s);
}

let stream = [];
function drawStream(s) {
  stream = stream.concat(s.stream).filter((e) => e.stop >= s.time - 10000);
  const c = $("stream"), ctx = c.getContext("2d");
  const w = c.width = c.clientWidth * devicePixelRatio, h = c.height = c.clientHeight * devicePixelRatio;
  ctx.clearRect(0, 0, w, h);
  const names = s.workers.map((x) => x.address);
  const rowH = h / Math.max(1, names.length), end = s.time, span = 10000, x = (t) => w * (1 - (end - t) / span);
  ctx.font = (11 * devicePixelRatio) + "px system-ui"; ctx.fillStyle = "#6b7385";
  s.workers.forEach((wk, i) => ctx.fillText(wk.name, 4, i * rowH + 12 * devicePixelRatio));
  for (const e of stream) {
    const row = names.indexOf(e.worker); if (row < 0) continue;
    ctx.fillStyle = colorOf(e.group);
    ctx.fillRect(x(e.start), row * rowH + 16 * devicePixelRatio, Math.max(1, x(e.stop) - x(e.start)), rowH - 20 * devicePixelRatio);
  }
}

function renderPending(p) {
  $("why").innerHTML = p.answer.map((l) => "<li>" + esc(l) + "</li>").join("");
  const jobs = p.queue ? p.queue.jobs : [];
  $("jobs").tBodies[0].innerHTML = jobs.map((j) => "<tr data-job='" + esc(j.id) + "'><td>" + esc(j.id) + "</td><td>" + esc(j.pool) + "</td><td>" + esc(j.state) + "</td><td>" + j.workers.length +
    "</td><td class='reason'>" + esc(j.reason || "") + (j.hint ? " (" + esc(j.hint) + ")" : "") + "</td></tr>").join("");
}
const pending = () => fetch("api/pending").then((r) => r.ok ? r.json() : null).then((p) => p && renderPending(p), () => {});
pending(); setInterval(pending, 5000);
const events = new EventSource("api/events");
events.onmessage = (m) => { const s = JSON.parse(m.data); $("status").textContent = "live, " + new Date(s.time).toLocaleTimeString(); render(s); };
events.onerror = () => { $("status").textContent = "disconnected, retrying..."; };
fetch("api/info").then((r) => r.json()).then((i) => { $("address").textContent = i.address; });
</script>
</body></html>
`;
