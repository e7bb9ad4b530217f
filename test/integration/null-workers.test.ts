// The bench's null workers (bench/null-workers.ts) against a real scheduler over TCP: many in
// one process register, every task of a map (and of a map over its futures) comes back, and
// they leave the scheduler's table when closed. What the scale bench measures rests on this.
import assert from "node:assert/strict";
import { Client } from "../../src/index.js";
import { Scheduler } from "../../src/scheduler/server.js";
import { type NullWorker, startNullWorkers } from "../../bench/null-workers.js";

const secret = "test-secret-0123456789";
const N_WORKERS = 200;

describe("null workers (bench)", function () {
  this.timeout(120_000);
  let scheduler: Scheduler;
  let workers: NullWorker[];
  let client: Client;

  before(async () => {
    scheduler = await Scheduler.start({ secret, host: "127.0.0.1" });
    ({ workers } = await startNullWorkers({ address: scheduler.address, secret }, N_WORKERS, { concurrency: 16 }));
    client = await Client.connect(scheduler.address, { secret });
    await client.waitForWorkers(N_WORKERS, { timeout: 60_000 });
  });

  after(async () => {
    await client?.close();
    await Promise.all((workers ?? []).map((w) => w.close()));
    await scheduler?.close("test over");
  });

  // protects: the null worker speaks the protocol the scheduler expects (registration with its probe, names unique)
  it("registers all of them, each under its own name and address", () => {
    assert.equal(scheduler.state.workers.size, N_WORKERS);
    assert.equal(new Set(workers.map((w) => w.address)).size, N_WORKERS);
  });

  // protects: every compute-task is answered with a task-finished whose inline value reaches the client
  it("finishes every task of a map and of a map over its futures, spread over the workers", async () => {
    const before = workers.reduce((a, w) => a + w.finished, 0);
    const roots = client.map((x: number) => x + 1, Array.from({ length: 20_000 }, (_, i) => i));
    const deps = client.map((x: number) => x, roots);
    const values = await client.gather(deps);
    assert.equal(values.length, 20_000);
    assert.ok(values.every((v) => v === null));
    assert.equal(workers.reduce((a, w) => a + w.finished, 0) - before, 40_000);
    assert.ok(workers.filter((w) => w.finished > 0).length >= N_WORKERS / 2, "tasks spread over at least half the workers");
    for (const f of [...roots, ...deps]) f.release();
  });

  // protects: a closed null worker leaves the scheduler's table (its connection closes)
  it("leaves the scheduler when closed", async () => {
    await Promise.all(workers.slice(0, 10).map((w) => w.close()));
    const deadline = Date.now() + 30_000;
    while (scheduler.state.workers.size !== N_WORKERS - 10) {
      assert.ok(Date.now() < deadline, `still ${scheduler.state.workers.size} workers`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});
