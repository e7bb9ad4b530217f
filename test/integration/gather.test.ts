// Gather asks the holder directly: the scheduler names the worker holding a result in its
// key-in-memory news, so gathering a result too large to travel with that news (> 1 KiB) goes
// straight to that worker, with no who-has round trip to the scheduler (issue 13). Real scheduler, worker and TCP on 127.0.0.1.
import assert from "node:assert/strict";
import { Client } from "../../src/index.js";
import { Scheduler } from "../../src/scheduler/server.js";
import { Worker } from "../../src/worker/worker.js";

const secret = "test-secret-0123456789";

describe("gather", function () {
  this.timeout(60_000);
  let scheduler: Scheduler;
  let workers: Worker[];
  let client: Client;
  /** who-has questions the scheduler answered */
  let whoHasAsked = 0;

  before(async () => {
    scheduler = await Scheduler.start({ secret, host: "127.0.0.1" });
    const state = scheduler.state as { whoHas(keys: string[]): Record<string, string[]> };
    const whoHas = state.whoHas.bind(state);
    state.whoHas = (keys) => {
      whoHasAsked++;
      return whoHas(keys);
    };
    workers = await Promise.all(["a", "b"].map((name) => Worker.start({ schedulerAddress: scheduler.address, secret, name, host: "127.0.0.1", nthreads: 1 })));
    client = await Client.connect(scheduler.address, { secret });
    await client.waitForWorkers(2, { timeout: 10_000 });
  });

  after(async () => {
    await client.close();
    await Promise.all(workers.map((w) => w.close("test over")));
    await scheduler.close("test over");
  });

  // protects: gather of a computed result uses the holder the scheduler already named (no who-has)
  it("fetches a > 1 KiB result from the worker named in key-in-memory, sending no who-has", async () => {
    whoHasAsked = 0;
    const big = client.submit((n: number) => "x".repeat(n), 64 * 1024, { key: "big-result" });
    const many = client.map((i: number) => new Array(512).fill(i * 100_000), [1, 2, 3, 4]);
    assert.equal((await big.result()).length, 64 * 1024);
    assert.deepEqual((await client.gather(many)).map((a) => a[0]), [1, 2, 3, 4].map((i) => i * 100_000));
    assert.equal(whoHasAsked, 0, "gather asked the scheduler who has keys it had already been told about");
  });

});
