// Submitting a cancelled key again, on a cluster of real processes (scheduler and a
// nanny-supervised worker with one thread, over TCP).
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { CancelledError, Client } from "../../src/index.js";
import { type ProcessCluster, startProcessCluster, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, waitFor } from "../helpers/proc.js";

interface Files {
  runs: string;
  gate: string;
}

/** Notes each start in `runs`, then runs until the test creates `gate`. */
async function gated(f: Files): Promise<number> {
  const fs = await import("node:fs");
  fs.appendFileSync(f.runs, "run\n");
  while (!fs.existsSync(f.gate)) await new Promise((r) => setTimeout(r, 20));
  return 41;
}

async function plusOne(a: number): Promise<number> {
  return a + 1;
}

const runs = (f: Files) => (existsSync(f.runs) ? readFileSync(f.runs, "utf8").split("\n").filter(Boolean).length : 0);

describe("resubmitting a cancelled key on real processes", function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let cluster: ProcessCluster;
  let client: Client;
  let other: Client | undefined;
  let n = 0;
  let current: Files | undefined;
  const files = (): Files => (current = { runs: path.join(tmp.dir, `runs-${++n}`), gate: path.join(tmp.dir, `gate-${n}`) });

  before(async () => {
    tmp = tempDir();
    cluster = await startProcessCluster(tmp.dir, { workers: 1, nthreads: 1 });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000 });
    await client.waitForWorkers(1, { timeout: 20_000 });
  });
  afterEach(async () => {
    await other?.close();
    other = undefined;
    // a failed test leaves no task waiting for its gate on the one thread the next test needs
    if (current) writeFileSync(current.gate, "");
    current = undefined;
    await waitFor(
      "the worker to be idle",
      async () => Object.values((await client.schedulerInfo()).workers).every((w) => w.metrics.executing === 0 && w.processing === 0),
      { timeoutMs: 60_000, proc: cluster.workers[0] },
    );
  });
  after(async () => {
    await client?.close();
    await cleanupProcs();
    tmp.remove();
  });

  // Regression (issue 12, after point 2): a pure call cancelled while it ran and submitted again
  // got a future that was cancelled at once and stayed so forever. As in Dask, the computation
  // starts again and its result comes; the scheduler's news of the first cancel, which arrives
  // after the new submission, concerns the old incarnation and must not cancel the new one.
  it("a running pure task, cancelled and submitted again at once, computes again", async () => {
    const f = files();
    const a = client.submit(gated, f);
    const b = client.submit(plusOne, a);
    await waitFor("the task running on the worker", () => runs(f) === 1, { timeoutMs: 30_000, proc: cluster.workers[0] });
    const cancelling = a.cancel();
    const again = client.submit(gated, f);
    assert.equal(again.key, a.key, "the same call gives the same key");
    await cancelling;
    assert.equal(a.status, "cancelled");
    assert.equal(a.done(), true, "a cancelled future is done, as in Dask");
    // the dependent was cancelled with it (the cascade still works)
    await assert.rejects(b.result({ timeout: 30_000 }), (err: Error) => {
      assert.ok(err instanceof CancelledError, `got ${String(err)}`);
      assert.equal(err.message, `future ${JSON.stringify(b.key)} was cancelled: it depends on ${JSON.stringify(a.key)}, which was cancelled`);
      return true;
    });
    assert.equal(b.done(), true);
    // a round trip after the cancel: the scheduler's key-cancelled for the old incarnation is in
    await client.story(a.key);
    assert.equal(again.status, "pending", "the new submission is not cancelled by the old one's news");
    assert.equal(again.done(), false);

    writeFileSync(f.gate, "");
    assert.equal(await again.result({ timeout: 60_000 }), 41);
    assert.equal(runs(f), 2, "the computation ran again");
    assert.equal(await client.submit(plusOne, again).result({ timeout: 60_000 }), 42);
    // the old future stays cancelled, saying who cancelled it, and letting it go does not release the new one
    await assert.rejects(a.result(), { name: "CancelledError", message: `future ${JSON.stringify(a.key)} was cancelled: ${client.id} cancelled it` });
    a.release();
    await client.story(a.key);
    assert.equal(await client.runOnScheduler((k: string, s: { scheduler: { state: { tasks: Map<string, { state: string }> } } }) => s.scheduler.state.tasks.get(k)?.state, a.key), "memory");
    assert.equal(await again.result(), 41);
  });

  // Regression (issue 12, after point 2): resubmitting after the cancel's news arrived gives a
  // live future again, and that future is still cancelled when another client cancels the key
  // (or a dependency of it): only news of this client's own, earlier cancel is ignored.
  it("a resubmitted key is still cancelled by another client's cancel, with its dependents", async () => {
    const f = files();
    const a = client.submit(gated, f);
    await waitFor("the task running on the worker", () => runs(f) === 1, { timeoutMs: 30_000, proc: cluster.workers[0] });
    await a.cancel();
    await client.story(a.key);
    const again = client.submit(gated, f);
    const dependent = client.submit(plusOne, again);
    // (its new run waits on the worker until the freed one, still at the gate, ended)
    await waitFor("the scheduler to send it to the worker again", async () => (await client.story(a.key)).filter((e) => e.to === "processing").length === 2, {
      timeoutMs: 30_000,
    });
    assert.equal(again.status, "pending");

    other = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000 });
    const theirs = other.submit(gated, f);
    assert.equal(theirs.key, a.key);
    await theirs.cancel();
    await assert.rejects(again.result({ timeout: 30_000 }), (err: Error) => {
      assert.ok(err instanceof CancelledError, `got ${String(err)}`);
      assert.equal(err.message, `future ${JSON.stringify(a.key)} was cancelled: ${other!.id} cancelled it`);
      return true;
    });
    await assert.rejects(dependent.result({ timeout: 30_000 }), CancelledError);
    assert.equal(again.done(), true);
    writeFileSync(f.gate, "");
  });

  // Regression (issue 12, after point 2): a key cancelled while it ran and submitted again with
  // another function must give the new function's value, never the old run's, which the worker
  // may still be computing: it starts the new run only after the freed one ended.
  it("an explicit key submitted again with another function gives the new value", async () => {
    const f = files();
    const old = client.submit(gated, f, { key: "reused" });
    await waitFor("the old task running", () => runs(f) === 1, { timeoutMs: 30_000, proc: cluster.workers[0] });
    void old.cancel();
    const fresh = client.submit((x: number) => x * 100, 5, { key: "reused" });
    await client.story("reused");
    writeFileSync(f.gate, "");
    assert.equal(await fresh.result({ timeout: 60_000 }), 500);
    await assert.rejects(old.result(), CancelledError);
  });
  // Found by reading (session 12): the scheduler's key-in-memory for a released incarnation,
  // read after the key was submitted again, was taken for the new one, so a user-named key
  // submitted again with another function got the old result (a small one rides inline with the
  // news). Here that news is on its way, unread, when the key is released and submitted again:
  // this client's event loop is held until a second client, in a thread of its own, sees the
  // old result in the scheduler's memory.
  it("a named key released and submitted again with another function gives the new value, whatever news of the old run was on its way", async () => {
    const f = files();
    const old = client.submit(gated, f, { key: "named-x" });
    await waitFor("the task running on the worker", () => runs(f) === 1, { timeoutMs: 30_000, proc: cluster.workers[0] });
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const watcher = new Worker(
      `const { workerData: d } = require("node:worker_threads");
      import(d.index).then(async ({ Client }) => {
        const c = await Client.connect({ schedulerFile: d.file, timeout: 20000 });
        const end = Date.now() + 60000;
        while (Date.now() < end && !("named-x" in (await c.whoHas()))) await new Promise((r) => setTimeout(r, 20));
        Atomics.store(d.flag, 0, 1);
        Atomics.notify(d.flag, 0);
        await c.close();
      });`,
      { eval: true, workerData: { file: cluster.file, flag, index: new URL("../../src/index.js", import.meta.url).href } },
    );
    try {
      writeFileSync(f.gate, "");
      // held: the scheduler's news of the old result reaches this client's socket, unread
      assert.equal(Atomics.wait(flag, 0, 0, 60_000), "ok", "the second client saw the old result in memory");
      old.release();
      const again = client.submit(() => 2, { key: "named-x" });
      assert.equal(await again.result({ timeout: 30_000 }), 2, "the new function's value, not the released run's 41");
    } finally {
      await watcher.terminate();
    }
  });
});
