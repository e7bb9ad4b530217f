// Data put on a worker directly (scatter, replication) while a task there waits to fetch it:
// a real scheduler, worker and client over TCP, and one stalled peer that holds the task's input
// but never answers a fetch.
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { Client } from "../../src/index.js";
import { Scheduler } from "../../src/scheduler/server.js";
import { Worker } from "../../src/worker/worker.js";
import { connect, listen } from "../../src/comm/connect.js";
import { Rpc } from "../../src/comm/rpc.js";
import type { Listener } from "../../src/comm/types.js";
import type { Message } from "../../src/protocol/messages.js";
import { Op } from "../../src/protocol/ops.js";
import { versions } from "../../src/version.js";
import { waitFor } from "../helpers/proc.js";

const secret = "test-secret-put-data-0123456789";

describe("put-data on a worker", function () {
  this.timeout(60_000);
  let scheduler: Scheduler | undefined;
  let worker: Worker | undefined;
  let client: Client | undefined;
  let stalled: Listener | undefined;
  const closers: Array<() => void> = [];

  afterEach(async () => {
    for (const c of closers.splice(0)) c();
    await client?.close();
    await worker?.close("test over");
    await stalled?.close();
    await scheduler?.close("test over");
    [client, worker, stalled, scheduler] = [undefined, undefined, undefined, undefined];
  });

  // Regression (issue 13): put-data that gives a waiting task its last input starts the task at
  // once. The worker's state machine used to keep that execute until the next, unrelated event
  // (here: the stalled fetch timing out after 30 s), so the task sat ready but never ran.
  it("runs a task it makes runnable, without any further event", async () => {
    scheduler = await Scheduler.start({ secret, host: "127.0.0.1", workerTtlMs: null });
    worker = await Worker.start({ schedulerAddress: scheduler.address, secret, name: "a", host: "127.0.0.1", nthreads: 1 });

    // a peer that takes scattered data and never answers a fetch
    const fetches: string[][] = [];
    let scattered: Record<string, Buffer[]> = {};
    stalled = await listen({ host: "127.0.0.1" }, secret, (comm) => {
      closers.push(() => comm.close("test over"));
      new Rpc(comm, {
        [Op.getData]: (m: Message) => {
          fetches.push(m.keys as string[]);
          return new Promise(() => {}); // never answers
        },
        [Op.putData]: (m: Message) => {
          scattered = m.data as Record<string, Buffer[]>;
          return { nbytes: Object.fromEntries(Object.entries(scattered).map(([k, v]) => [k, v.reduce((n, b) => n + b.length, 0)])) };
        },
      });
    });
    const toScheduler = await connect(scheduler.address, secret, 10_000);
    closers.push(() => toScheduler.close("test over"));
    const asWorker = new Rpc(toScheduler, {});
    await asWorker.request(
      { op: Op.registerWorker, address: stalled.address, name: "stalled", host: hostname(), nthreads: 1, memoryLimit: 0, pid: process.pid, resources: {}, versions: versions() },
      10_000,
    );

    client = await Client.connect(scheduler.address, { secret });
    await client.waitForWorkers(2, { timeout: 10_000 });
    const x = await client.scatter(41, { workers: ["stalled"] });
    const y = client.submit((v: number) => v + 1, x, { workers: ["a"] });
    await waitFor("worker a to fetch x from the stalled peer", () => fetches.some((keys) => keys.includes(x.key)), { timeoutMs: 20_000 });

    // x arrives by put-data (as a scatter or a replication would bring it); the fetch stays stalled
    const toWorker = await connect(worker.address, secret, 10_000);
    closers.push(() => toWorker.close("test over"));
    const peer = new Rpc(toWorker, {});
    const reply = await peer.request<{ nbytes: Record<string, number> }>({ op: Op.putData, data: { [x.key]: scattered[x.key] } }, 10_000);
    assert.deepEqual(Object.keys(reply.nbytes), [x.key]);

    // well inside the 30 s after which the stalled fetch fails (the event the old code waited for)
    assert.equal(await y.result({ timeout: 15_000 }), 42);

    // the worker's story of y: made ready by that put-data, and run by it
    const story = await peer.request<Array<{ stimulusId: string; from: string; to: string }>>({ op: Op.story, key: y.key }, 10_000);
    const byPut = story.filter((e) => e.stimulusId.startsWith("put-data-")).map((e) => `${e.from}->${e.to}`);
    assert.deepEqual(byPut, ["fetching->ready", "ready->executing"]);
    assert.deepEqual(story.at(-1)?.to, "memory");
  });

  // protects: a put-data value that is not a list of byte parts is refused with an error naming
  // the key and what came; nothing is stored (it used to be stored as it was, to fail later in
  // whichever task or peer took it)
  it("refuses a malformed value, naming its key", async () => {
    scheduler = await Scheduler.start({ secret, host: "127.0.0.1" });
    worker = await Worker.start({ schedulerAddress: scheduler.address, secret, name: "a", host: "127.0.0.1", nthreads: 1 });
    const toWorker = await connect(worker.address, secret, 10_000);
    closers.push(() => toWorker.close("test over"));
    const peer = new Rpc(toWorker, {});
    await assert.rejects(peer.request({ op: Op.putData, data: { k: 5 } }, 10_000), /put-data: the value of "k" must be a list of byte parts, got number/);
    await assert.rejects(peer.request({ op: Op.putData, data: { k: ["text"] } }, 10_000), /got a list of string/);
    assert.equal(worker.data.has("k"), false);
    const ok = await peer.request<{ nbytes: Record<string, number> }>({ op: Op.putData, data: { k: [Buffer.from([0xc0])] } }, 10_000);
    assert.deepEqual(ok.nbytes, { k: 1 }, "the connection still serves");
  });
});
