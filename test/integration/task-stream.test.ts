// Issue 14, point 7 on a real in-process cluster: the task stream records each task's key,
// group, worker, thread, start/stop and the transfers of its dependencies; getTaskStream filters
// by time and count and refuses bad options by name; performanceReport writes one self-contained
// HTML file that names the tasks run, loads nothing from the network, and opens in a real
// Chromium without console errors, showing the number of tasks.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { performanceReport } from "../../src/index.js";
import { browserUnavailable, launchBrowser } from "../helpers/browser.js";
import { type InprocCluster, tempDir, withCluster } from "../helpers/cluster.js";
import { skipIf } from "../helpers/skip.js";

describe("task stream and performance report (issue 14)", function () {
  this.timeout(120_000);
  const tmp = tempDir();
  let c: InprocCluster;
  before(async () => {
    c = await withCluster({ mode: "inproc", workers: 2, nthreads: 2 });
  });
  after(async () => {
    await c.cleanup();
    tmp.remove();
  });

  /** 20 small tasks spread over both workers, then a 200 kB value on w0 used by a task on w1 (a transfer). */
  async function work(tag: string): Promise<string[]> {
    const squares = c.client.map((x: number) => x * x, Array.from({ length: 20 }, (_, i) => i), { key: `square-${tag}` });
    const big = c.client.submit((n: number) => new Uint8Array(n).fill(1), 200_000, { key: `big-${tag}`, workers: ["w0"] });
    const sum = c.client.submit((a: Uint8Array) => a.reduce((s, v) => s + v, 0), big, { key: `sum-${tag}`, workers: ["w1"] });
    assert.equal(await sum.result(), 200_000);
    await c.client.gather(squares);
    return [...squares.map((f) => f.key), big.key, sum.key];
  }

  // protects: the records carry what the issue lists (key, group, worker, thread, start, stop, transfers with source and bytes)
  it("getTaskStream returns each task's key, group, worker, thread, times and transfers", async () => {
    const t0 = Date.now();
    const keys = await work("a");
    const recs = await c.client.getTaskStream({ start: t0 });
    assert.deepEqual(recs.map((r) => r.key).sort(), [...keys].sort());
    const [w0, w1] = c.workers.map((w) => w.address);
    for (const r of recs) {
      assert.ok([w0, w1].includes(r.worker), r.worker);
      assert.ok(r.thread === 0 || r.thread === 1, `thread index of a 2-thread worker: ${r.thread}`);
      assert.ok(r.start <= r.stop && r.start >= t0 - 1000 && r.stop <= Date.now() + 1000, `times of ${r.key}: ${r.start}..${r.stop}`);
    }
    assert.deepEqual(new Set(recs.map((r) => r.group)), new Set(["square", "big", "sum"]));
    const sum = recs.find((r) => r.key === "sum-a")!;
    assert.equal(sum.worker, w1);
    assert.equal(sum.transfers.length, 1, "the big value was fetched from w0 for it");
    const [t] = sum.transfers;
    assert.deepEqual([t!.source, t!.keys], [w0, ["big-a"]]);
    assert.ok(t!.nbytes >= 200_000 && t!.start <= t!.stop, JSON.stringify(t));
    assert.equal(recs.find((r) => r.key === "big-a")!.transfers.length, 0);
    assert.ok(recs.every((r) => r.status === "memory" && r.nbytes > 0));
    assert.ok(recs.find((r) => r.key === "big-a")!.nbytes >= 200_000);
    // an erred task is in the stream too, with its error's name
    const bad = c.client.submit(() => {
      throw new RangeError("no");
    }, { key: "bad-a" });
    await bad.whenDone();
    const erred = await c.client.getTaskStream({ count: 1 }); // the latest
    assert.deepEqual(erred.map((r) => [r.key, r.group, r.status, r.error]), [["bad-a", "bad", "erred", "RangeError"]]);
    // count keeps the most recent; a start after everything gives nothing
    assert.equal((await c.client.getTaskStream({ count: 3 })).length, 3);
    assert.deepEqual(await c.client.getTaskStream({ start: new Date(Date.now() + 60_000) }), []);
    await assert.rejects(c.client.getTaskStream({ count: -1 }), { name: "TypeError", message: "getTaskStream's count must be an integer >= 0, got -1" });
    await assert.rejects(c.client.getTaskStream({ start: "-10s" as unknown as number }), { name: "TypeError", message: /start must be a time in ms since the epoch or a Date, got "-10s"/ });
  });

  // protects: the report is one offline file naming the tasks of its span (not earlier ones), and the callback's value comes back
  it("performanceReport writes one self-contained HTML file of the callback's tasks", async () => {
    await work("before"); // not in the span
    const file = path.join(tmp.dir, "report.html");
    let keys: string[] = [];
    const out = await performanceReport(file, async () => {
      keys = await work("b");
      return "value";
    }, { client: c.client });
    assert.equal(out, "value");
    assert.ok(existsSync(file));
    const html = readFileSync(file, "utf8");
    for (const k of keys) assert.ok(html.includes(k), `the report names ${k}`);
    assert.ok(!html.includes("sum-before"), "tasks before the span are left out");
    assert.doesNotMatch(html, /https?:\/\//, "nothing to load from the network");
    assert.doesNotMatch(html, /<(script|link|img)[^>]*\s(src|href)=/i, "no external script, style sheet or image");
    assert.match(html, /<b id="ntasks">22<\/b> tasks/);
    assert.match(html, /<td><span class="swatch"[^>]*><\/span>square<\/td><td>20<\/td>/, "per-group timings: 20 squares");
    assert.match(html, /<table id="transfers">.*<td>inproc:\/\/[^<]+ → inproc:\/\/[^<]+<\/td><td>1<\/td><td>200\.\d kB<\/td><td>[\d.]+<\/td><td>[\d.]+ MB\/s<\/td>/s, "transfer bandwidth of the one transfer");
    // a failing callback: the report is still written, and the error is the callback's
    const failed = path.join(tmp.dir, "failed.html");
    await assert.rejects(performanceReport(failed, () => Promise.reject(new RangeError("inside")), { client: c.client }), { name: "RangeError", message: "inside" });
    assert.ok(existsSync(failed));
    await assert.rejects(performanceReport("", async () => 1, { client: c.client }), { name: "TypeError", message: 'performanceReport needs a file name, got ""' });
  });

  // protects: the file really opens offline in a browser without errors and shows the number of tasks
  it("the report opens in a real Chromium without console errors and shows the task count", async function () {
    skipIf(this, browserUnavailable());
    const file = path.join(tmp.dir, "browser.html");
    await performanceReport(file, () => work("c"), { client: c.client });
    const browser = await launchBrowser();
    try {
      const context = await browser.newContext({ offline: true });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("request", (r) => {
        if (!r.url().startsWith("file:")) errors.push(`requested ${r.url()}`);
      });
      await page.goto(pathToFileURL(file).href, { timeout: 20_000 });
      assert.equal(await page.textContent("#ntasks"), "22");
      assert.equal((await page.$$("#stream rect.task")).length, 22);
      await page.hover("#stream rect.task >> nth=0");
      assert.match((await page.textContent("#hover")) ?? "", /on .* thread \d: /, "hovering a task names it");
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});
