// The dashboard of a real cluster (dask-scheduler-ts + workers as processes): its endpoints,
// Prometheus metrics that match the work done, port fallback, --no-dashboard, and the live
// page in a real headless Chromium.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { Client } from "../../src/index.js";
import { BIN, ROOT, freePort, tempDir } from "../helpers/cluster.js";
import { browserUnavailable, launchBrowser } from "../helpers/browser.js";
import { cleanupProcs, type Proc, spawnProc, waitFor } from "../helpers/proc.js";
import { skipIf } from "../helpers/skip.js";

type Services = { address: string; services: { dashboard?: string } };

/** Prometheus text format: every line a comment or `name{labels} value`; samples by series. */
function parseProm(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    assert.ok(m, `not Prometheus text: ${JSON.stringify(line)}`);
    samples.set(m[1]!, Number(m[2]));
  }
  return samples;
}

describe("dashboard (real processes)", function () {
  this.timeout(120_000);
  const tmp = tempDir();
  afterEach(cleanupProcs);
  after(() => tmp.remove());

  async function cluster(name: string, schedulerArgs: string[], workers = 2): Promise<{ scheduler: Proc; file: string; info: Services }> {
    const file = path.join(tmp.dir, `${name}.json`);
    const env = { DASK_MPI_TS_LOG_LEVEL: "info" };
    const scheduler = spawnProc(process.execPath, [BIN("dask-scheduler-ts"), "--scheduler-file", file, "--interface", "lo", ...schedulerArgs], { env });
    await waitFor("the scheduler file", () => existsSync(file), { timeoutMs: 15_000, proc: scheduler });
    for (let i = 0; i < workers; i++) spawnProc(process.execPath, [BIN("dask-worker-ts"), "--scheduler-file", file, "--interface", "lo", "--name", `w${i}`, "--no-nanny"], { env });
    return { scheduler, file, info: JSON.parse(readFileSync(file, "utf8")) as Services };
  }

  it("serves /health, the page, JSON, and /metrics whose counters match the work done; the link is in the file and the client", async () => {
    const { file, info } = await cluster("metrics", ["--dashboard-address", "127.0.0.1:0"]);
    const url = info.services.dashboard!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/status$/);
    const client = await Client.connect({ schedulerFile: file });
    try {
      assert.equal(client.dashboardLink, url);
      await client.waitForWorkers(2, { timeout: 20_000 });
      const base = url.replace(/\/status$/, "");
      assert.equal(await (await fetch(`${base}/health`)).text(), "ok\n");
      const page = await fetch(url);
      assert.match(page.headers.get("content-type")!, /text\/html/);
      assert.ok(!/https?:\/\/(?!127)/.test(await page.text()), "the page loads nothing from elsewhere");
      const squares = client.map((x: number) => x * x, Array.from({ length: 300 }, (_, i) => i));
      const bad = client.submit(() => {
        throw new Error("on purpose");
      });
      await client.gather(squares);
      await bad.whenDone();
      // a made result moved worker to worker
      const a = client.submit(() => new Uint8Array(100_000).fill(1), { workers: ["w0"] });
      // held until the end: a future dropped here may be collected and released, and the memory gauge would count 301
      const length = client.submit((x: Uint8Array) => x.length, a, { workers: ["w1"] });
      assert.equal(await length.result(), 100_000);
      await waitFor("heartbeats with the transfer", async () => {
        const m = parseProm(await (await fetch(`${base}/metrics`)).text());
        const rss = (w: string) => m.get(`dask_worker_memory_bytes{worker="${w}",kind="rss"}`) ?? 0;
        return m.get('dask_worker_transfer_bytes_total{direction="received"}')! >= 100_000 && rss("w0") > 0 && rss("w1") > 0 && m;
      }, { timeoutMs: 10_000 });
      const m = parseProm(await (await fetch(`${base}/metrics`)).text());
      if (m.get("dask_scheduler_tasks_finished_total") !== 302) {
        // a counter that misses a path is a defect: name the keys whose story is not the plain one
        const odd: string[] = [];
        for (const f of [...squares, a]) {
          const story = await client.story(f.key);
          const path = story.map((e) => `${e.from}->${e.to}(${e.stimulusId}${e.reason ? `: ${e.reason}` : ""})`).join(" ");
          if (story.filter((e) => e.from === "processing" && e.to === "memory").length !== 1) odd.push(`${f.key}: ${path}`);
        }
        assert.fail(`finished_total ${m.get("dask_scheduler_tasks_finished_total")}, memory ${m.get('dask_scheduler_tasks{state="memory"}')}; keys without exactly one processing->memory:\n${odd.join("\n")}`);
      }
      assert.equal(m.get("dask_scheduler_tasks_erred_total"), 1);
      assert.equal(m.get('dask_scheduler_tasks{state="memory"}'), 302);
      assert.equal(m.get('dask_scheduler_tasks{state="erred"}'), 1);
      assert.equal(m.get('dask_scheduler_workers{status="running"}'), 2);
      assert.ok(m.get('dask_worker_memory_bytes{worker="w0",kind="rss"}')! > 10e6);
      assert.ok(m.has('dask_scheduler_event_loop_delay_seconds{stat="p99"}'));
      const snap = (await (await fetch(`${base}/api/snapshot`)).json()) as { workers: Array<{ name: string }>; groups: Array<{ name: string; done: number }> };
      assert.deepEqual(snap.workers.map((w) => w.name), ["w0", "w1"]);
      assert.equal(snap.groups.find((g) => g.name === "lambda")?.done, 302);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
      assert.equal(length.status, "finished");
    } finally {
      await client.close();
    }
  });

  it("a taken port falls back to a free one with a warning; --no-dashboard listens on nothing but the scheduler", async () => {
    const taken = await freePort();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(taken, "127.0.0.1", r));
    try {
      const { scheduler, info } = await cluster("taken", ["--dashboard-address", `127.0.0.1:${taken}`], 0);
      const url = info.services.dashboard!;
      assert.ok(!url.includes(`:${taken}/`), url);
      assert.equal(await (await fetch(url.replace("/status", "/health"))).text(), "ok\n");
      await waitFor("the warning", () => /dashboard port is taken/.test(scheduler.stderr) && new RegExp(`"wanted":${taken}`).test(scheduler.stderr), { timeoutMs: 5000 });
    } finally {
      blocker.close();
    }
    const { scheduler, info } = await cluster("none", ["--no-dashboard"], 0);
    assert.equal(info.services.dashboard, undefined);
    const listening = execFileSync("ss", ["-ltnpH"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(`pid=${scheduler.child.pid},`));
    assert.equal(listening.length, 1, `the scheduler listens on one port only:\n${listening.join("\n")}`);
  });

  it("a real browser sees worker rows and progress move while a computation runs (screenshot in test-output/)", async function () {
    skipIf(this, browserUnavailable());
    const { file, info } = await cluster("browser", ["--dashboard-address", "127.0.0.1:0"]);
    const client = await Client.connect({ schedulerFile: file });
    const browser = await launchBrowser();
    try {
      await client.waitForWorkers(2, { timeout: 20_000 });
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(info.services.dashboard!, { timeout: 20_000 });
      await page.waitForSelector("#workers tr[data-worker='w1']", { timeout: 20_000 });
      // slow tasks, so that progress is seen moving, not only finished
      const work = client.map((x: number) => {
        const t = Date.now();
        while (Date.now() - t < 15);
        return x;
      }, Array.from({ length: 400 }, (_, i) => i));
      const done = async () => Number((await page.textContent("#groups tr[data-group='lambda'] td.done", { timeout: 20_000 })) ?? "0");
      await page.waitForSelector("#groups tr[data-group='lambda']", { timeout: 20_000 });
      const first = await done();
      await waitFor("progress to move on the page", async () => (await done()) > first, { timeoutMs: 20_000 });
      assert.ok((await page.$$("#workers tbody tr")).length === 2, "two worker rows");
      assert.match((await page.textContent("#status")) ?? "", /^live/);
      mkdirSync(path.join(ROOT, "test-output"), { recursive: true });
      const shot = path.join(ROOT, "test-output", "dashboard.png");
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(readFileSync(shot).length > 10_000, "a screenshot was written");
      await client.gather(work);
      await waitFor("the page to show all 400 done", async () => (await done()) === 400, { timeoutMs: 20_000 });
    } finally {
      await browser.close();
      await client.close();
    }
  });
});
