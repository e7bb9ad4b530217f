// The runtime in one process over real TCP on 127.0.0.1: scheduler, workers, client.
import assert from "node:assert/strict";
import net from "node:net";
import { Client, RemoteTaskError } from "../../src/index.js";
import { Scheduler } from "../../src/scheduler/server.js";
import { Worker } from "../../src/worker/worker.js";
import { connect } from "../../src/comm/connect.js";
import { parseAddress } from "../../src/comm/address.js";

const secret = "test-secret-0123456789";

describe("runtime over TCP (in-process)", function () {
  this.timeout(30_000);
  let scheduler: Scheduler;
  let workers: Worker[];
  let client: Client;

  beforeEach(async () => {
    scheduler = await Scheduler.start({ secret, host: "127.0.0.1" });
    workers = await Promise.all(["a", "b"].map((name) => Worker.start({ schedulerAddress: scheduler.address, secret, name, host: "127.0.0.1", nthreads: 2 })));
    client = await Client.connect(scheduler.address, { secret });
    await client.waitForWorkers(2, { timeout: 5000 });
  });

  afterEach(async () => {
    await client.close();
    await Promise.all(workers.map((w) => w.close("test over")));
    await scheduler.close("test over");
  });

  it("submits, maps and gathers", async () => {
    assert.equal(await client.submit((a: number, b: number) => a + b, 1, 2).result(), 3);
    assert.deepEqual(await client.gather(client.map((x: number) => x + 1, [1, 2, 3])), [2, 3, 4]);
    const f = client.submit(async (s: string) => s.toUpperCase(), "abc", { key: "upper-1" });
    assert.equal(f.key, "upper-1");
    assert.equal(await f.result(), "ABC");
    // method shorthand, as Function.prototype.toString gives it for object methods
    const obj = { double(x: number) { return 2 * x; } };
    assert.equal(await client.submit(obj.double, 21).result(), 42);
  });

  it("pins tasks to a worker by name", async () => {
    const info = await client.schedulerInfo();
    const b = Object.entries(info.workers).find(([, w]) => w.name === "b")![0];
    const keys = client.map((x: number) => x, [1, 2, 3, 4, 5, 6], { workers: ["b"] });
    await client.gather(keys);
    const bWorker = workers.find((w) => w.address === b)!;
    for (const f of keys) assert.ok(bWorker.data.has(f.key), `${f.key} not on worker b`);
  });

  it("a task error arrives as RemoteTaskError with remote message, stack and key", async () => {
    const f = client.submit(function failing() {
      throw new RangeError("out of range: 7");
    });
    await assert.rejects(f.result(), (err: unknown) => {
      assert.ok(err instanceof RemoteTaskError);
      assert.equal(err.code, "ERR_REMOTE_TASK");
      assert.equal(err.key, f.key);
      assert.equal(err.remoteName, "RangeError");
      assert.equal(err.remoteMessage, "out of range: 7");
      assert.match(err.remoteStack, /RangeError: out of range: 7/);
      assert.match(f.key, /^failing-/);
      return true;
    });
  });

  it("a CPU-bound task does not block the worker's event loop", async () => {
    const spin = client.submit(() => {
      const end = Date.now() + 1500;
      while (Date.now() < end);
      return "spun";
    });
    // while it spins, the same worker pool still answers quickly
    await client.waitForWorkers(2, { timeout: 1000 });
    const t0 = Date.now();
    assert.equal(await client.submit((x: number) => x * 2, 4).result(), 8);
    assert.ok(Date.now() - t0 < 1000, "a second task on a free thread finished while the first spun");
    assert.equal(await spin.result(), "spun");
  });

  it("released results are freed on the workers", async () => {
    const f = client.submit((x: number) => x, 5);
    await f.result();
    const holder = workers.find((w) => w.data.has(f.key))!;
    f.release();
    const deadline = Date.now() + 5000;
    while (holder.data.has(f.key) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(holder.data.has(f.key), false);
  });

  it("refuses connections that do not know the secret and keeps serving others", async () => {
    await assert.rejects(connect(scheduler.address, "wrong-secret", 5000), { code: "ERR_HANDSHAKE" });
    // a client with the wrong secret is told so at once, not after its connect timeout
    await assert.rejects(Client.connect(scheduler.address, { secret: "wrong", timeout: 30_000 }), {
      code: "ERR_HANDSHAKE",
      message: /closed the connection after checking our proof of the cluster secret/,
    });
    // garbage instead of a handshake: the connection is closed by the scheduler
    const { host, port } = parseAddress(scheduler.address);
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port }, () => s.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])));
      s.on("close", () => resolve(true));
      s.on("error", () => {});
      s.resume();
      setTimeout(() => resolve(false), 8000).unref();
    });
    assert.ok(closed, "the scheduler closed the garbage connection");
    // the worker port is guarded as well
    const w = Object.keys((await client.schedulerInfo()).workers)[0]!;
    await assert.rejects(connect(w, "wrong-secret", 5000), { code: "ERR_HANDSHAKE" });
    assert.equal(await client.submit((x: number) => x + 1, 1).result(), 2);
  });
});
