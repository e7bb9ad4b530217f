// Shipping task functions end to end: remote() module exports imported on the workers,
// import() of installed packages from shipped source, and the closed-over-variable error.
import assert from "node:assert/strict";
import { Client, RemoteTaskError, type Future } from "../../src/index.js";
import { Scheduler } from "../../src/scheduler/server.js";
import { Worker } from "../../src/worker/worker.js";
import { pack } from "msgpackr";
import { remote } from "../../src/protocol/functions.js";

const secret = "test-secret-0123456789";
const tasks = new URL("./fixtures/tasks.js", import.meta.url);

describe("shipping task functions (in-process cluster)", function () {
  this.timeout(30_000);
  let scheduler: Scheduler;
  let workers: Worker[];
  let client: Client;

  before(async () => {
    scheduler = await Scheduler.start({ secret, host: "127.0.0.1" });
    workers = await Promise.all(["a", "b"].map((name) => Worker.start({ schedulerAddress: scheduler.address, secret, name, host: "127.0.0.1", nthreads: 2 })));
    client = await Client.connect(scheduler.address, { secret });
    await client.waitForWorkers(2, { timeout: 5000 });
  });

  after(async () => {
    await client.close();
    await Promise.all(workers.map((w) => w.close("test over")));
    await scheduler.close("test over");
  });

  it("runs a remote() module export, typed, by submit and map", async () => {
    const fit = remote<[number[]], number>(tasks, "fit");
    const f: Future<number> = client.submit(fit, [1, 2, 3]);
    assert.match(f.key, /^fit-/);
    assert.equal(await f.result(), 6);
    assert.deepEqual(await client.gather(client.map(fit, [[1], [2, 3]])), [1, 5]);
    // the module imports a package itself and keeps its state between tasks
    assert.equal(await client.submit(remote<[unknown], number>(tasks, "packedLength"), { a: 1 }).result(), pack({ a: 1 }).length);
    const counts = await client.gather(client.map(remote<[], number>(tasks, "countCalls"), [1, 2, 3, 4, 5, 6], { workers: ["a"] }));
    assert.ok(Math.max(...counts) > 1, `module state carried over between tasks: ${counts}`);
  });

  it("a missing export fails with the module's exports listed", async () => {
    // needs the worker to receive the module reference (encodeFunction/resolveFunction wired in)
    const f = client.submit(remote(tasks, "nope"));
    await assert.rejects(f.result(), (err: unknown) => {
      assert.ok(err instanceof RemoteTaskError);
      assert.equal(err.remoteName, "TypeError");
      assert.equal(err.remoteMessage, `module ${tasks.href} has no export "nope": its exports are: countCalls, fit, notAFunction, packedLength`);
      return true;
    });
  });

  it("a shipped function can import() an installed package", async () => {
    const f = client.submit(async (x: number) => {
      const { pack, unpack } = await import("msgpackr");
      return unpack(pack([x, x])) as number[];
    }, 7);
    assert.deepEqual(await f.result(), [7, 7]);
  });

  it("a shipped function using a closed-over variable fails saying so; globals are fine", async () => {
    const offset = 100;
    const f = client.submit((x: number) => x + offset, 1);
    await assert.rejects(f.result(), (err: unknown) => {
      assert.ok(err instanceof RemoteTaskError);
      assert.equal(err.remoteName, "ReferenceError");
      assert.equal(
        err.remoteMessage,
        'task function uses "offset", which is not defined on the worker: shipped functions must be self-contained (pass "offset" as an argument, or use remote())',
      );
      return true;
    });
    const g = client.submit(() => [Math.sqrt(16), Buffer.byteLength("abc"), typeof process.hrtime.bigint()]);
    assert.deepEqual(await g.result(), [4, 3, "bigint"]);
  });
});
