// Cancelling on a cluster of real processes (scheduler and a nanny-supervised worker over TCP).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CancelledError, Client } from "../../src/index.js";
import { ROOT, startProcessCluster, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, waitFor } from "../helpers/proc.js";

interface Files {
  started: string;
  gate: string;
  done: string;
  ranB: string;
}

/** Runs until the test creates `gate`; marks its start and its end with files. */
async function slowA(f: Files): Promise<number> {
  const fs = await import("node:fs");
  fs.writeFileSync(f.started, "");
  while (!fs.existsSync(f.gate)) await new Promise((r) => setTimeout(r, 20));
  fs.writeFileSync(f.done, "");
  return 41;
}

/** Marks that it ran at all (it must not, once A is cancelled). */
async function dependentB(a: number, f: Files): Promise<number> {
  const fs = await import("node:fs");
  fs.appendFileSync(f.ranB, `${a}\n`);
  return a + 1;
}

describe("cancel on real processes", function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let client: Client | undefined;

  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await cleanupProcs();
    tmp.remove();
  });

  // Regression (issue 12, point 2): cancelling a running task used to leave its dependent
  // waiting for it; the cancelled task then finished and the dependent ran on its value and
  // ended "finished". Cancelling must cancel the dependents too, drop the cancelled task's
  // result, and never hand a value computed from it to anyone.
  it("cancelling a running task cancels its dependents; its result is dropped, never used", async () => {
    const c = await startProcessCluster(tmp.dir, { workers: 1, nthreads: 2 });
    client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
    await client.waitForWorkers(1, { timeout: 20_000 });
    const f: Files = {
      started: path.join(tmp.dir, "a-started"),
      gate: path.join(tmp.dir, "a-gate"),
      done: path.join(tmp.dir, "a-done"),
      ranB: path.join(tmp.dir, "b-ran"),
    };
    const a = client.submit(slowA, f, { key: "slow-a" });
    const b = client.submit(dependentB, a, f, { key: "dependent-b" });
    await waitFor("task A running on the worker", () => existsSync(f.started), { timeoutMs: 30_000, proc: c.workers[0] });
    await a.cancel();
    assert.equal(a.status, "cancelled");

    // let A's computation finish: its result must go nowhere
    writeFileSync(f.gate, "");
    await waitFor("task A's computation to end", () => existsSync(f.done), { timeoutMs: 30_000, proc: c.workers[0] });
    await assert.rejects(b.result({ timeout: 30_000 }), (err: Error) => {
      assert.ok(err instanceof CancelledError, `B must be cancelled, got ${String(err)}`);
      assert.equal(err.message, `future "dependent-b" was cancelled: it depends on "slow-a", which was cancelled`);
      return true;
    });
    assert.equal(b.status, "cancelled");
    await assert.rejects(client.gather([a, b]), CancelledError);
    await assert.rejects(a.result(), CancelledError);

    // the worker is done with A (its thread came back) and holds nothing: A's value was dropped
    await waitFor(
      "the worker to have finished A's thread",
      async () => Object.values((await client!.schedulerInfo()).workers).every((w) => w.metrics.executing === 0),
      { timeoutMs: 30_000, proc: c.workers[0] },
    );
    const info = Object.values((await client.schedulerInfo()).workers)[0]!;
    assert.equal(info.metrics.inMemory, 0, "no worker keeps the cancelled result");
    assert.deepEqual(await client.runOnScheduler((s: { scheduler: { state: { whoHas: (k: string[]) => unknown } } }) => s.scheduler.state.whoHas(["slow-a"])), { "slow-a": [] });
    assert.equal(existsSync(f.ranB), false, "B never ran");

    // the stories say so: A was released by the cancel while processing, never reached memory
    const storyA = await client.story("slow-a");
    assert.ok(!storyA.some((e) => e.to === "memory"), `A never in memory: ${JSON.stringify(storyA)}`);
    const cancelA = storyA.find((e) => e.from === "processing" && e.to === "released");
    assert.ok(cancelA, `A released while processing: ${JSON.stringify(storyA)}`);
    assert.match(cancelA.stimulusId, /^cancel-\d+$/);
    assert.equal(cancelA.reason, `${client.id} cancelled it`);
    // a result that came back after all (the worker finished before the free arrived) was dropped
    for (const e of storyA.slice(storyA.indexOf(cancelA) + 1)) {
      assert.ok(e.to === "forgotten" || /^result from .* dropped/.test(e.reason ?? ""), `after the cancel: ${JSON.stringify(e)}`);
    }
    const storyB = await client.story("dependent-b");
    const cancelB = storyB.find((e) => e.to === "released");
    assert.ok(cancelB && cancelB.stimulusId === cancelA.stimulusId, `B released by the same cancel: ${JSON.stringify(storyB)}`);
    assert.equal(cancelB.reason, `it depends on "slow-a", which was cancelled`);

    // a task submitted later on the cancelled future is cancelled too, never run on a stale value
    const late = client.submit(dependentB, a, f, { key: "late-b" });
    await assert.rejects(late.result({ timeout: 30_000 }), (err: Error) => {
      assert.ok(err instanceof CancelledError, `got ${String(err)}`);
      assert.match(err.message, /^future "late-b" was cancelled: it depends on "slow-a", which the scheduler does not know/);
      return true;
    });
    assert.equal(late.status, "cancelled");
    assert.equal(existsSync(f.ranB), false, "no dependent ever ran");

    // and the cluster goes on working
    const kept = client.submit((x: number) => x * 2, 21);
    assert.equal(await kept.result(), 42);
    // restart cancels every future, saying why
    await client.restart();
    assert.equal(kept.status, "cancelled");
    await assert.rejects(kept.result(), { name: "CancelledError", message: `future ${JSON.stringify(kept.key)} was cancelled: the cluster was restarted` });
  });

  // Regression (issue 12, point 2): a future cancelled while the news of its result was already
  // on its way to the client used to turn "finished" again when that news arrived, and gather()
  // returned the value. Once cancelled, a future stays cancelled and gives no value.
  it("gather() of a future cancelled while its result was on its way rejects with CancelledError", async () => {
    const c = await startProcessCluster(tmp.dir, { workers: 1 });
    client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
    await client.waitForWorkers(1, { timeout: 20_000 });
    const gate = path.join(tmp.dir, "gate");
    const a = client.submit(
      async (g: string) => {
        const fs = await import("node:fs");
        while (!fs.existsSync(g)) await new Promise((r) => setTimeout(r, 20));
        return 41;
      },
      gate,
      { key: "on-its-way" },
    );
    await waitFor("the scheduler to have the task", async () => (await client!.story("on-its-way")).some((e) => e.to === "processing"), { timeoutMs: 30_000 });
    writeFileSync(gate, "");
    // This process's event loop is held (a synchronous child) until the scheduler has the result
    // in memory: its key-in-memory news is then already sent to this client, not yet read.
    const watcher = `
      import { Client } from ${JSON.stringify(path.join(ROOT, "dist/src/index.js"))};
      const c = await Client.connect({ schedulerFile: ${JSON.stringify(c.file)}, timeout: 20000 });
      while (!(await c.story("on-its-way")).some((e) => e.to === "memory")) await new Promise((r) => setTimeout(r, 20));
      await c.close();`;
    execFileSync(process.execPath, ["--input-type=module", "-e", watcher], { timeout: 60_000, stdio: "pipe" });
    assert.equal(a.status, "pending", "the news has not been read yet");
    // the scheduler is stopped, so its own key-cancelled cannot come before gather looks
    const scheduler = c.scheduler.child.pid!;
    process.kill(scheduler, "SIGSTOP");
    try {
      await a.cancel();
      // turns of the event loop (not time): their I/O phases read the news that was waiting
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      await assert.rejects(client.gather([a], { timeout: 5000 }), CancelledError);
      assert.equal(a.status, "cancelled");
    } finally {
      process.kill(scheduler, "SIGCONT");
    }
    await assert.rejects(a.result(), CancelledError);
    assert.equal(a.status, "cancelled");
  });
});
