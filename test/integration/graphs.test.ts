// Task graphs on a cluster of real processes (scheduler and nanny-supervised workers).
import assert from "node:assert/strict";
import http from "node:http";
import { type Client, KilledWorkerError, type Future } from "../../src/index.js";
import { type ProcessClusterHandle, withCluster } from "../helpers/cluster.js";
import { exitWithin, waitFor } from "../helpers/proc.js";

/** Pairwise sums, layer by layer, down to one future. */
function treeSum(client: Client, leaves: Array<Future<number>>): Future<number> {
  let layer = leaves;
  while (layer.length > 1) {
    const next: Array<Future<number>> = [];
    for (let i = 0; i < layer.length; i += 2) {
      next.push(i + 1 < layer.length ? client.submit((a: number, b: number) => a + b, layer[i]!, layer[i + 1]!) : layer[i]!);
    }
    layer = next;
  }
  return layer[0]!;
}

describe("task graphs on real processes", function () {
  this.timeout(120_000);
  let current: ProcessClusterHandle | undefined;

  afterEach(async () => {
    await current?.cleanup();
    current = undefined;
  });

  async function cluster(workers = 2, nthreads = 1, workerArgs?: (i: number) => string[], schedulerEnv?: NodeJS.ProcessEnv) {
    current = await withCluster({ mode: "process", workers, nthreads, workerArgs, schedulerEnv });
    return current;
  }

  it("a 10,000-leaf tree reduction equals its closed form", async () => {
    const { client: c } = await cluster(2);
    const n = 10_000;
    const leaves = c.map((x: number) => x, Array.from({ length: n }, (_, i) => i + 1));
    assert.equal(await treeSum(c, leaves).result(), (n * (n + 1)) / 2);
  });

  it("mixes map, reduce, scatter and futures nested in arguments", async () => {
    const { client: c } = await cluster(2);
    const weights = await c.scatter(new Float64Array([1, 2, 3, 4]));
    const parts = c.map((i: number) => i * 10, [0, 1, 2, 3]);
    // futures inside an object and an array, and a scattered typed array
    const total = c.submit(
      (spec: { w: Float64Array; xs: number[] }) => spec.xs.reduce((acc, x, i) => acc + x * spec.w[i]!, 0),
      { w: weights, xs: parts },
    );
    assert.equal(await total.result(), 0 * 1 + 10 * 2 + 20 * 3 + 30 * 4);
    const graph = c.submitGraph({ a: [(x: number) => x + 1, 1], b: [(x: number, y: number) => x * y, total, 2] });
    assert.deepEqual(await c.gather([graph.a!, graph.b!]), [2, 400]);
  });

  it("moves a 64 MiB Float64Array worker to worker intact, not through the scheduler", async () => {
    const { client: c } = await cluster(2);
    const n = 8 * 1024 * 1024; // 64 MiB of float64
    const big = c.submit(
      (len: number) => {
        const a = new Float64Array(len);
        for (let i = 0; i < len; i++) a[i] = i % 1000;
        return a;
      },
      n,
      { workers: ["w0"] },
    );
    const check = c.submit(
      (a: Float64Array) => {
        let s = 0;
        for (let i = 0; i < a.length; i++) s += a[i]!;
        return { length: a.length, sum: s, isFloat64: a instanceof Float64Array };
      },
      big,
      { workers: ["w1"] },
    );
    let expected = 0;
    for (let i = 0; i < n; i++) expected += i % 1000;
    assert.deepEqual(await check.result(), { length: n, sum: expected, isFloat64: true });
    // the bytes went from w0 to w1 directly: their counters say so (heartbeats carry them)
    const metrics = await waitFor(
      "heartbeats with the transfer counters",
      async () => {
        const ws = Object.values((await c.schedulerInfo()).workers);
        const w0 = ws.find((w) => w.name === "w0")?.metrics as { sentToPeers?: number } | undefined;
        const w1 = ws.find((w) => w.name === "w1")?.metrics as { receivedFromPeers?: number } | undefined;
        return (w0?.sentToPeers ?? 0) >= n * 8 && (w1?.receivedFromPeers ?? 0) >= n * 8 ? { w0, w1 } : undefined;
      },
      { timeoutMs: 10_000 },
    );
    assert.ok(metrics);
    const story = await c.story(big.key);
    assert.deepEqual(story.map((s) => s.to).slice(-2), ["processing", "memory"]);
  });

  it("survives kill -9 of workers every few hundred milliseconds during a 5,000-task graph", async () => {
    // this test is about recomputing lost work: on a loaded machine a restarted worker's first
    // task can be the one running at several kills in a row, so KilledWorker (tested on its
    // own below) must not end it early
    const { client: c } = await cluster(3, 1, undefined, { DASK_MPI_TS_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES: "20" });
    const n = 5000;
    const leaves = c.map(
      (x: number) => {
        const end = Date.now() + 1; // a little work each, so the graph takes a while
        while (Date.now() < end);
        return x;
      },
      Array.from({ length: n }, (_, i) => i + 1),
    );
    const total = treeSum(c, leaves);
    let kills = 0;
    let stop = false;
    const killer = (async () => {
      while (!stop && kills < 8) {
        await new Promise((r) => setTimeout(r, 300));
        const ws = Object.values((await c.schedulerInfo()).workers);
        const victim = ws[kills % Math.max(1, ws.length)];
        if (victim) {
          try {
            process.kill(victim.pid, "SIGKILL");
            kills++;
          } catch {
            // already gone
          }
        }
      }
    })();
    const result = await total.result({ timeout: 100_000 });
    stop = true;
    await killer;
    assert.equal(result, (n * (n + 1)) / 2);
    assert.ok(kills >= 2, `killed ${kills} workers while it ran`);
  });

  it("a task that always kills its worker ends as KilledWorkerError after 3 deaths; the cluster goes on", async () => {
    const { client: c } = await cluster(2);
    const bad = c.submit(() => process.kill(process.pid, "SIGKILL"));
    await assert.rejects(bad.result({ timeout: 60_000 }), (err: unknown) => {
      assert.ok(err instanceof KilledWorkerError, String(err));
      assert.equal(err.code, "ERR_KILLED_WORKER");
      assert.match(err.message, /was running on 3 workers that died/);
      return true;
    });
    await c.waitForWorkers(2, { timeout: 20_000 });
    assert.equal(await c.submit((x: number) => x + 1, 1).result(), 2);
  });

  it("runOnScheduler starts an HTTP server next to the scheduler that the test reaches", async () => {
    const { client: c } = await cluster(1);
    const where = await c.runOnScheduler(async (ctx: { scheduler: { address: string } }) => {
      const { createServer } = await import("node:http");
      const server = createServer((_req, res) => res.end("hello from the scheduler's node"));
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      return { port: (server.address() as { port: number }).port, scheduler: ctx.scheduler.address };
    });
    assert.match(where.scheduler, /^tcp:\/\/127\.0\.0\.1:/);
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ host: "127.0.0.1", port: where.port }, (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve(text));
      }).on("error", reject);
    });
    assert.equal(body, "hello from the scheduler's node");
  });

  it("run, retireWorkers (data moves first), cancel, priorities and versions", async () => {
    const { client: c } = await cluster(2);
    const pids = await c.run(() => process.pid);
    assert.equal(Object.keys(pids).length, 2);
    const kept = c.submit((x: number) => x * 3, 7, { workers: ["w1"] });
    assert.equal(await kept.result(), 21);
    assert.deepEqual((await c.retireWorkers(["w1"])).length, 1);
    assert.equal(Object.keys((await c.schedulerInfo()).workers).length, 1);
    assert.equal(await kept.result(), 21, "the result survived its worker's retirement");
    const slow = c.submit(() => new Promise((r) => setTimeout(r, 60_000)), { pure: false });
    await slow.cancel();
    assert.equal(slow.status, "cancelled");
    const v = await c.getVersions({ check: true });
    assert.equal(v.scheduler.node, process.version);
  });

  it("tasks needing a resource run only where it is offered (--resources GPU=1)", async () => {
    const { client: c } = await cluster(2, 2, (i) => (i === 1 ? ["--resources", "GPU=1"] : []));
    const info = await c.schedulerInfo();
    const gpuWorker = Object.values(info.workers).find((w) => w.name === "w1")!;
    const pids = await c.gather(c.map((i: number) => [i, process.pid], [1, 2, 3, 4], { resources: { GPU: 1 } }));
    for (const [, pid] of pids) assert.equal(pid, gpuWorker.pid);
  });

  it("workers exit after --death-timeout once the scheduler is gone", async () => {
    const c = (current = await withCluster({ mode: "process", workers: 1, nanny: false, workerArgs: () => ["--death-timeout", "2s"] }));
    c.scheduler.child.kill("SIGKILL");
    const { code, ms } = await exitWithin(c.workers[0]!, 15_000);
    assert.notEqual(code, 0, "a worker that lost its scheduler exits non-zero");
    assert.ok(ms < 12_000, `exited after ${ms} ms`);
    assert.match(c.workers[0]!.stderr, /could not register with the scheduler/);
  });
});
