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

  // Protects: a value over the client's frame cap was asked for again every 20 ms until the
  // gather's timeout (a day by default), each time bringing the whole frame, which the client
  // refused; and values that fitted one by one but not together were never gathered
  it("values that fit one by one but not in one frame are gathered one by one; one that fits in no frame fails at once with FrameTooLargeError", async () => {
    const small = await Client.connect(scheduler.address, { secret, maxFrameSize: 1 << 20 });
    try {
      const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);
      const pair = [small.submit(bytes, 700 * 1024, 1, { workers: ["a"], pure: false }), small.submit(bytes, 700 * 1024, 2, { workers: ["a"], pure: false })];
      const got = await small.gather(pair, { timeout: 30_000 });
      assert.deepEqual(got.map((a) => [a.length, a[0], a[a.length - 1]]), [[700 * 1024, 1, 1], [700 * 1024, 2, 2]]);
      const huge = small.submit(bytes, 2 << 20, 3, { pure: false });
      // before, this was a TimeoutError after 30 s of asking again
      await assert.rejects(huge.result({ timeout: 30_000 }), (err: Error) => {
        assert.equal(err.name, "FrameTooLargeError");
        assert.match(err.message, new RegExp(`^the value of "${huge.key}" on tcp://\\S+ is \\d+ bytes as one frame, over this client's largest frame \\(1048576 bytes\\): connect with a larger maxFrameSize`));
        return true;
      });
      // the client goes on
      assert.equal(await small.submit((x: number) => x + 1, 1, { pure: false }).result({ timeout: 10_000 }), 2);
      await assert.rejects(Client.connect(scheduler.address, { secret, maxFrameSize: 100 }), { name: "TypeError", message: /^maxFrameSize must be a whole number of bytes from 65536 to 4294967295, got 100$/ });
    } finally {
      await small.close();
    }
  });
});
