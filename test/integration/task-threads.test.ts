// A task that ends its task thread (process.exit, an uncaught error): the task that ran fails,
// its neighbours in the thread's batch run on the replacement thread (real task threads, one
// worker with one thread, so every task shares that thread's batches).
import assert from "node:assert/strict";
import { RemoteTaskError } from "../../src/index.js";
import { type InprocCluster, withCluster } from "../helpers/cluster.js";

describe("task threads that die", function () {
  this.timeout(60_000);
  let cluster: InprocCluster;

  beforeEach(async () => {
    cluster = await withCluster({ mode: "inproc", workers: 1, nthreads: 1 });
  });
  afterEach(() => cluster.cleanup());

  /** The map's outcome per item: its value, or the error's remote message. */
  async function outcomes(futures: Array<{ result(o: { timeout: number }): Promise<unknown> }>): Promise<Array<{ value?: unknown; error?: string }>> {
    const settled = await Promise.allSettled(futures.map((f) => f.result({ timeout: 30_000 })));
    return settled.map((s) => {
      if (s.status === "fulfilled") return { value: s.value };
      assert.ok(s.reason instanceof RemoteTaskError, `not a task error: ${String(s.reason)}`);
      return { error: `${s.reason.remoteName}: ${s.reason.remoteMessage}` };
    });
  }

  // Protects: a thread's death failed every task of its batch (up to 64), though only one ran:
  // the other 27-63 never started and came back as "task thread exited with code 3"
  it("process.exit in one task of a map fails that task only; the rest of its batch runs on the replacement thread", async () => {
    const { client } = cluster;
    const xs = Array.from({ length: 200 }, (_, i) => i);
    const got = await outcomes(
      client.map((x: number) => {
        if (x === 50) process.exit(3);
        return x * 2;
      }, xs),
    );
    const failed = got.flatMap((g, i) => (g.error === undefined ? [] : [[i, g.error] as const]));
    assert.deepEqual(failed, [[50, "WorkerThreadError: task thread exited with code 3 while this task ran"]]);
    for (const [i, g] of got.entries()) if (i !== 50) assert.equal(g.value, i * 2, `item ${i}`);
    // the worker goes on with a new thread
    assert.equal(await client.submit((x: number) => x + 1, 41).result({ timeout: 30_000 }), 42);
  });

  // Protects: the pool settled a dead thread's tasks at its 'error' event, before it had read
  // the results the thread posted before the error; and it blamed the batch's first task, not
  // the one running (an async task holds the thread while it awaits)
  it("an uncaught error while an async task awaits fails that task with the error; the tasks before and after it keep their values", async () => {
    const { client } = cluster;
    const xs = Array.from({ length: 100 }, (_, i) => i);
    const got = await outcomes(
      client.map(async (x: number) => {
        if (x === 30) {
          await new Promise((resolve) => {
            setTimeout(() => {
              throw new Error(`stray error from ${x}`);
            }, 20);
            setTimeout(resolve, 5_000);
          });
        }
        return x + 1000;
      }, xs),
    );
    const failed = got.flatMap((g, i) => (g.error === undefined ? [] : [[i, g.error] as const]));
    assert.deepEqual(failed, [[30, "WorkerThreadError: task thread failed: stray error from 30 while this task ran"]]);
    for (const [i, g] of got.entries()) if (i !== 30) assert.equal(g.value, i + 1000, `item ${i}`);
  });
});
