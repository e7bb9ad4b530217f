// A worker whose batch job ends (WorkerOptions.jobEnd, as dask-worker-ts sets it from the queue
// system) retires a margin before the end: it registers its retirement, its results move to a
// worker that stays, and a task still running when half the margin is spent is handed over to
// another worker (rescheduled without counting against it) instead of dying with the job.
import assert from "node:assert/strict";
import { BIN, type InprocCluster, withCluster } from "../helpers/cluster.js";
import { cleanupProcs, exitWithin, spawnProc, waitFor } from "../helpers/proc.js";

describe("a worker retiring before its job's end", function () {
  this.timeout(120_000);
  let c: InprocCluster | undefined;

  afterEach(async () => {
    await c?.cleanup();
    c = undefined;
    await cleanupProcs();
  });

  it("dask-worker-ts refuses a bad --walltime-margin before starting, naming it", async () => {
    const p = spawnProc(process.execPath, [BIN("dask-worker-ts"), "--walltime-margin", "soon", "--scheduler-file", "/nonexistent/sched.json"]);
    const { code } = await exitWithin(p, 20_000);
    assert.equal(code, 1);
    assert.match(p.stderr, /dask-worker-ts: error: --walltime-margin must be a duration like 30s, 5m or 2h, got "soon"/);
  });

  it("registers its retirement, moves its results, and hands a task still running after half the margin over to another worker", async () => {
    const start = Date.now();
    // w0's job ends in 18 s; it retires 12 s before (at +6 s) and gives running tasks 6 s; w2 is in
    // the same job (it retires then too), w1 in none (seconds, not less: a loaded machine needs
    // them to start the cluster and place the tasks before the retirement)
    c = await withCluster({ mode: "inproc", workers: 3, worker: (i) => (i !== 1 ? { jobEnd: { at: start + 18_000, marginMs: 12_000 } } : {}) });
    const { client, scheduler } = c;
    const w0 = [...scheduler.state.workers.values()].find((w) => w.name === "w0")!;
    const w1 = [...scheduler.state.workers.values()].find((w) => w.name === "w1")!;
    assert.ok(w0.retiresAt !== undefined && Math.abs(w0.retiresAt - (start + 6000)) < 500, `w0 retires at +${(w0.retiresAt ?? NaN) - start} ms`);
    assert.equal(w1.retiresAt, undefined, "a worker outside any job has no end");
    function addOne(x: number): number {
      return x + 1;
    }
    function slowDouble(x: number): number {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 14_000);
      return x * 2;
    }
    function bigText(n: number): string {
      return "x".repeat(n);
    }
    // w1 holds more bytes than w2: results still go to w1, which stays, not to w2, which retires with w0
    const big = client.submit(bigText, 100_000, { workers: ["w1"] });
    assert.equal((await big.result()).length, 100_000);
    const quick = client.submit(addOne, 41, { workers: ["w0"] });
    assert.equal(await quick.result(), 42);
    const slow = client.submit(slowDouble, 21, { workers: ["w0"], allowOtherWorkers: true });
    await waitFor("the slow task to run on w0", () => scheduler.state.tasks.get(slow.key)?.processingOn === w0.address, { timeoutMs: 15_000 });
    assert.ok(Date.now() < w0.retiresAt! - 1000, `the set-up took until +${Date.now() - start} ms: too late for w0's retirement at +6 s`);
    await waitFor("w0 to retire", () => !scheduler.state.workers.has(w0.address), { timeoutMs: 30_000 });
    const gone = Date.now() - start;
    // it left after the 6-s drain, before its job's end
    assert.ok(gone >= 11_000 && gone < 18_000, `w0 left at +${gone} ms`);
    assert.deepEqual(Object.values(scheduler.state.whoHas([quick.key])), [[w1.address]], "its result moved to the worker that stays, not to the other one of its job");
    assert.equal(await slow.result({ timeout: 60_000 }), 42);
    const t = scheduler.state.tasks.get(slow.key)!;
    assert.equal(t.suspicious, 0, "handed over, not counted as a worker it killed");
    assert.deepEqual([...t.whoHas], [w1.address]);
    assert.equal(scheduler.state.finishedByPrefix.get("addOne"), 1, "the quick result was not recomputed");
    assert.equal(scheduler.state.finishedByPrefix.get("slowDouble"), 1, "the slow task finished once, on w1");
  });
});
