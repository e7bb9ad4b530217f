// Actors (issue 14, point 6): client.submit(Class, { actor: true }) makes the object on one
// worker; the future's result is a proxy whose method calls and attribute reads go straight to
// that worker, run one at a time in order, and fail clearly (missing method, released actor,
// dead worker). Real roles over TCP in this process, and real processes for a worker killed.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { type Actor, CommClosedError, RemoteTaskError, actorOf, remote } from "../../src/index.js";
import { type InprocCluster, type ProcessClusterHandle, tempDir, withCluster } from "../helpers/cluster.js";

class Counter {
  n: number;
  log: string[] = [];
  constructor(start = 0) {
    this.n = start;
  }
  increment(by = 1) {
    this.n += by;
    return this.n;
  }
  /** async, and slower the earlier it is called: interleaving would reorder the log */
  async append(item: string, ms: number) {
    await new Promise((r) => setTimeout(r, ms));
    this.log.push(item);
    return this.log.length;
  }
  /** never settles: a call pending until its worker dies */
  block() {
    return new Promise(() => {});
  }
}

describe("actors", function () {
  this.timeout(120_000);

  describe("on a cluster of two workers", () => {
    let c: InprocCluster;
    before(async () => {
      c = await withCluster({ mode: "inproc", protocol: "tcp", workers: 2, nthreads: 1 });
    });
    after(async () => c?.cleanup());

    // Protects: the Dask spelling (submit(Class, actor) -> result() is the proxy); methods return
    // promises of their results, awaited members are attribute reads; the object lives on one worker.
    it("makes the object on one worker; methods return promises, awaited attributes their values", async () => {
      const future = c.client.submit(Counter, 10, { actor: true });
      const counter: Actor<Counter> = await future.result({ timeout: 30_000 });
      const info = actorOf(counter)!;
      assert.equal(info.key, future.key);
      assert.equal(info.className, "Counter");
      assert.ok(c.workers.some((w) => w.address === info.worker), `${info.worker} is one of the workers`);
      assert.equal(await counter.increment(), 11);
      assert.equal(await counter.increment(5), 16);
      assert.equal(await counter.n, 16);
      // the same actor through a second result() of the same future
      const again = await future.result();
      assert.equal(await again.n, 16);
      // not thenable itself: awaiting the proxy gives the proxy
      assert.equal(await Promise.resolve(counter), counter);
    });

    // Protects: calls of one actor run one at a time in the order made, async methods too (the
    // first call sleeps longest: interleaved, the log would come out reversed).
    it("runs the calls of one actor one at a time, in order, async methods included", async () => {
      const counter = await c.client.submit(Counter, { actor: true }).result();
      const counts = await Promise.all([counter.append("a", 150), counter.append("b", 50), counter.append("c", 0), counter.increment()]);
      assert.deepEqual(counts, [1, 2, 3, 1]);
      assert.deepEqual(await counter.log, ["a", "b", "c"]);
    });

    // Protects: bad calls are clear errors naming the member and the actor, never a hang, and the
    // actor goes on serving after them.
    it("names a method that does not exist, an attribute that does not, and a call of a non-method", async () => {
      const counter = await c.client.submit(Counter, { actor: true }).result();
      const key = actorOf(counter)!.key;
      const dyn = counter as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
      await assert.rejects(dyn.decrement!(), (err: unknown) => err instanceof RemoteTaskError && /has no method "decrement"/.test(err.message) && err.message.includes(key));
      await assert.rejects(Promise.resolve(dyn.size), /has no attribute "size"/);
      await assert.rejects(dyn.n!(), /"n" of actor .* is not a method \(it is number\)/);
      await assert.rejects(Promise.resolve(dyn.increment), /"increment" of actor .* is a method: call it/);
      assert.throws(() => ((counter as unknown as Record<string, number>).n = 3), /attributes are set by its methods/);
      assert.equal(await counter.increment(), 1);
    });

    // Protects: the actor lives while a future or proxy of it lives: the proxy alone keeps it
    // after its future is released; cancelling the key drops it on its worker, and a call then
    // says the actor is gone.
    it("lives while a future or proxy of it lives, and is dropped with its key", async () => {
      const future = c.client.submit(Counter, { actor: true });
      const counter = await future.result();
      future.release();
      assert.equal(await counter.increment(), 1, "the proxy's own hold keeps the actor");
      await c.client.cancel(future);
      const f2 = c.client.submit(Counter, { actor: true });
      const other = await f2.result();
      // the key was still held by the proxy's future: cancel drops it for everyone
      await assert.rejects(counter.increment(), /is not on this worker/);
      assert.equal(await other.increment(), 1);
    });

    // Protects: actors may be used from tasks: a task given the actor's future gets a proxy and
    // calls it through its thread's client.
    it("is usable from a task that gets its future as an argument", async () => {
      const future = c.client.submit(Counter, 100, { actor: true });
      const counter = await future.result();
      const viaTask = c.client.submit(
        async (actor: Actor<Counter>) => {
          await import("dask-mpi-ts");
          return actor.increment(7);
        },
        future as never,
      );
      assert.equal(await viaTask.result({ timeout: 30_000 }), 107);
      // the proxy itself travels too (as its handle), and calls the same actor
      const viaProxy = c.client.submit(
        async (actor: Actor<Counter>) => {
          await import("dask-mpi-ts");
          return actor.increment(3);
        },
        counter,
      );
      assert.equal(await viaProxy.result({ timeout: 30_000 }), 110);
      assert.equal(await counter.n, 110);
    });

    // Protects: an actor's class may be a remote() module export (imported on the worker).
    it("makes an actor of a remote() class export", async () => {
      const tmp = tempDir();
      try {
        const file = path.join(tmp.dir, "acc.mjs");
        writeFileSync(file, "export class Acc { total = 0; add(x) { return (this.total += x); } }\n");
        const Acc = remote(file, "Acc") as unknown as new () => { total: number; add(x: number): number };
        const acc = await c.client.submit(Acc, { actor: true }).result({ timeout: 30_000 });
        assert.equal(actorOf(acc)!.className, "Acc");
        assert.equal(await acc.add(2), 2);
        assert.equal(await acc.add(3), 5);
        assert.equal(await acc.total, 5);
      } finally {
        tmp.remove();
      }
    });

    // Protects: what cannot be an actor is refused at submit, naming it.
    it("refuses a function as an actor, and a class as a task", () => {
      assert.throws(() => c.client.submit((x: number) => x, 1, { actor: true } as never), /an actor must be a class/);
      assert.throws(() => c.client.submit(Counter as never), /cannot ship class "Counter"/);
    });
  });

  describe("whose worker dies", () => {
    let c: ProcessClusterHandle | undefined;
    after(async () => c?.cleanup());

    // Protects: a dead worker's actor rejects its pending and later calls with an error naming the
    // actor and the worker, instead of hanging.
    it("rejects pending and later calls with an error naming the actor and its worker", async () => {
      c = await withCluster({ mode: "process", workers: 1, nthreads: 1, nanny: false });
      const counter = await c.client.submit(Counter, { actor: true }).result({ timeout: 60_000 });
      const { key, worker } = actorOf(counter)!;
      assert.equal(await counter.increment(), 1);
      const pending = counter.block();
      c.workers[0]!.child.kill("SIGKILL");
      const named = (err: unknown) => err instanceof CommClosedError && err.message.includes(key) && err.message.includes(worker) && /Counter/.test(err.message);
      await assert.rejects(pending, named);
      await assert.rejects(counter.increment(), named);
    });
  });
});
