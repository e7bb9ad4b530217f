// The runtime in one process: scheduler, workers and client over inproc:// (the logic), and
// the guarded ports over real TCP on 127.0.0.1.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { Client, RemoteTaskError } from "../../src/index.js";
import { connect } from "../../src/comm/connect.js";
import { parseAddress } from "../../src/comm/address.js";
import type { Worker } from "../../src/worker/worker.js";
import { type InprocCluster, tempDir, withCluster } from "../helpers/cluster.js";

describe("runtime (in-process over inproc://)", function () {
  this.timeout(30_000);
  let cluster: InprocCluster;
  let workers: Worker[];
  let client: Client;

  beforeEach(async () => {
    cluster = await withCluster({ mode: "inproc", workers: 2, nthreads: 2 });
    ({ workers, client } = cluster);
  });

  afterEach(() => cluster.cleanup());

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
    const b = Object.entries(info.workers).find(([, w]) => w.name === "w1")![0];
    assert.match(b, /^inproc:\/\//);
    const keys = client.map((x: number) => x, [1, 2, 3, 4, 5, 6], { workers: ["w1"] });
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

  // protects: a CPU-bound task holds only its own thread: the worker (and the pool's other
  // thread) still take and finish work. Proved by order, not time: the spinning task cannot end
  // before the second task's result is in, because it spins until the test opens its gate then.
  it("a CPU-bound task does not block the worker's event loop", async () => {
    const tmp = tempDir();
    try {
      const gate = path.join(tmp.dir, "gate");
      const spin = client.submit((g: string) => {
        const fs = process.getBuiltinModule("node:fs") as typeof import("node:fs");
        const end = Date.now() + 60_000; // bounded: a broken test still ends
        while (!fs.existsSync(g) && Date.now() < end); // busy: no await, the thread is held
        return fs.existsSync(g) ? "spun" : "gate never opened";
      }, gate);
      await client.waitForWorkers(2, { timeout: 10_000 });
      assert.equal(await client.submit((x: number) => x * 2, 4).result(), 8);
      assert.equal(spin.status, "pending", "the second task finished while the first still spun");
      writeFileSync(gate, "");
      assert.equal(await spin.result(), "spun");
    } finally {
      tmp.remove();
    }
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

});

describe("runtime: guarded ports (in-process over real TCP)", function () {
  this.timeout(30_000);
  let cluster: InprocCluster;

  before(async () => {
    cluster = await withCluster({ mode: "inproc", workers: 1, protocol: "tcp" });
  });
  after(() => cluster.cleanup());

  // what a stranger on the network can do to a scheduler's or worker's TCP port: nothing
  it("refuses connections that do not know the secret and keeps serving others", async () => {
    const { scheduler, client } = cluster;
    assert.match(scheduler.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
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
