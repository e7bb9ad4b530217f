// Coordination primitives (issue 14, point 5) on a real cluster: scheduler, 2 workers and the
// client in this process over TCP, so that tasks on the workers' threads connect their own
// clients to the scheduler; one holder is a separate process, killed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Client, CommClosedError, CoordinationError, Event, Lock, Pub, Queue, Semaphore, Sub, TimeoutError, Variable } from "../../src/index.js";
import { type InprocCluster, type ProcessClusterHandle, ROOT, withCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/proc.js";
import { setDefaultClient } from "../../src/client/default.js";

type Api = typeof import("../../src/index.js");
/** The package entry as a task imports it (tasks are shipped as source: they get it as an argument). */
const INDEX = pathToFileURL(path.join(ROOT, "dist/src/index.js")).href;

describe("coordination primitives (real cluster, tasks with their own clients)", function () {
  this.timeout(120_000);
  let c: InprocCluster;
  const others: Client[] = [];

  before(async () => {
    c = await withCluster({ mode: "inproc", workers: 2, nthreads: 3, protocol: "tcp" });
  });
  afterEach(async () => {
    await Promise.all(others.splice(0).map((o) => o.close()));
  });
  after(async () => c?.cleanup());

  const another = async () => {
    const o = await Client.connect(c.address, { secret: c.secret });
    others.push(o);
    return o;
  };

  // Protects: a Lock excludes holders across tasks on different workers. Each task reads a
  // shared Variable, sleeps, and writes it back plus one: without mutual exclusion increments
  // are lost (and the overlap check sees two holders at once).
  it("Lock: mutual exclusion under contention from tasks on several workers", async () => {
    const count = new Variable<number>("lock-count", { client: c.client });
    await count.set(0);
    const inside = new Variable<number>("lock-inside", { client: c.client });
    await inside.set(0);
    const task = async (index: string, address: string, secret: string) => {
      const { Client, Lock, Variable } = (await import(index)) as Api;
      const client = await Client.connect(address, { secret });
      try {
        const lock = new Lock("counter", { client });
        let overlaps = 0;
        for (let k = 0; k < 3; k++) {
          if (!(await lock.acquire({ timeout: 60_000 }))) throw new Error("lock not granted in 60 s");
          try {
            const inside = new Variable<number>("lock-inside", { client });
            if ((await inside.get({ timeout: 10_000 })) !== 0) overlaps++;
            await inside.set(1);
            const v = new Variable<number>("lock-count", { client });
            const n = await v.get({ timeout: 10_000 });
            await new Promise((r) => setTimeout(r, 5));
            await v.set(n + 1);
            await inside.set(0);
          } finally {
            await lock.release();
          }
        }
        return overlaps;
      } finally {
        await client.close();
      }
    };
    const fs = Array.from({ length: 6 }, (_, i) => c.client.submit(task, INDEX, c.address, c.secret, { key: `locker-${i}` }));
    const overlaps = await c.client.gather(fs, { timeout: 100_000 });
    assert.deepEqual(overlaps, [0, 0, 0, 0, 0, 0], "never two holders at once");
    assert.equal(await count.get(), 18, "no increment lost");
    assert.equal(await new Lock("counter", { client: c.client }).locked(), false);
  });

  // Protects: acquire with a timeout answers false (Dask's acquire(timeout=...)), release by a
  // non-holder is an error naming the lock, and a lease ends a holder's hold by itself.
  it("Lock: timeout, release errors, locked() and an expiring lease", async () => {
    const a = new Lock("l2", { client: c.client });
    const b = new Lock("l2", { client: await another() });
    assert.equal(await a.acquire(), true);
    assert.equal(await a.locked(), true);
    assert.equal(await b.acquire({ timeout: 100 }), false);
    assert.equal(await b.acquire({ timeout: 0 }), false);
    await assert.rejects(b.release(), (e: Error) => e instanceof CoordinationError && /Lock "l2": released, but this object holds no lease/.test(e.message));
    await a.release();
    await assert.rejects(a.release(), CoordinationError);
    assert.equal(await a.locked(), false);
    // a lease of 300 ms: the holder never releases, the other gets it after it runs out
    assert.equal(await a.acquire({ lease: 300 }), true);
    assert.equal(await b.acquire({ timeout: 20_000 }), true);
    await b.release();
    await assert.rejects(a.release(), CoordinationError, "its lease ran out: it holds nothing");
    await assert.rejects(a.acquire({ timeout: -1 }), /Lock "l2": timeout must be a number of milliseconds >= 0, got -1/);
  });

  // Protects: a holder that dies does not hold the lock forever: a client process killed with
  // SIGKILL (no release, no goodbye) loses its lock when its connection drops.
  it("Lock: a killed holder's lock goes to the next waiter", async () => {
    const script =
      `const { Client, Lock } = await import(${JSON.stringify(INDEX)});` +
      `const client = await Client.connect(${JSON.stringify(c.address)}, { secret: ${JSON.stringify(c.secret)} });` +
      `await new Lock("killed", { client }).acquire(); console.log("held"); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      await waitFor("the child to hold the lock", () => out.includes("held"), { timeoutMs: 30_000 });
      const lock = new Lock("killed", { client: c.client });
      assert.equal(await lock.acquire({ timeout: 0 }), false, "the child holds it");
      const waiting = lock.acquire({ timeout: 60_000 });
      child.kill("SIGKILL");
      assert.equal(await waiting, true, "granted once the holder died");
      await lock.release();
    } finally {
      child.kill("SIGKILL");
    }
  });

  // Protects: a waiter whose client goes is cleaned up: the lock is not granted to it (which
  // would leave it held forever) but stays free for the next one.
  it("Lock: a gone waiter is not granted the lock", async () => {
    const holder = new Lock("l3", { client: c.client });
    await holder.acquire();
    const o = await another();
    const waiting = new Lock("l3", { client: o }).acquire({ timeout: 60_000 });
    await new Promise((r) => setTimeout(r, 100)); // let its request reach the scheduler
    await o.close();
    await assert.rejects(waiting, CommClosedError);
    await holder.release();
    // the scheduler hears of the close on its own time: the lock must come free (it is never granted to the gone waiter)
    const next = new Lock("l3", { client: c.client });
    assert.equal(await next.acquire({ timeout: 20_000 }), true);
    await next.release();
    assert.equal(await next.locked(), false);
  });

  // Protects: a semaphore grants at most maxLeases at once, and its leases come back.
  it("Semaphore: max leases", async () => {
    const o = await another();
    const s1 = new Semaphore({ maxLeases: 2, name: "sem", client: c.client });
    const s2 = new Semaphore({ maxLeases: 2, name: "sem", client: o });
    const s3 = new Semaphore({ maxLeases: 2, name: "sem", client: c.client });
    assert.equal(await s1.acquire(), true);
    assert.equal(await s2.acquire(), true);
    assert.equal(await s1.getValue(), 2);
    assert.equal(await s3.acquire({ timeout: 100 }), false, "a third lease is refused");
    const third = s3.acquire({ timeout: 20_000 });
    await o.close(); // s2's client goes: its lease comes back
    assert.equal(await third, true);
    await s1.release();
    await s3.release();
    assert.equal(await s1.getValue(), 0);
    const wide = new Semaphore({ maxLeases: 3, name: "sem", client: c.client });
    assert.equal(await wide.acquire(), true);
    await assert.rejects(s1.acquire(), (e: Error) => e instanceof CoordinationError && /Semaphore "sem" has maxLeases 3, got 2/.test(e.message));
    await wide.release();
    assert.throws(() => new Semaphore({ maxLeases: 0 }), /Semaphore maxLeases must be an integer >= 1, got 0/);
  });

  // Protects: futures travel through a queue: the queue keeps their keys alive while queued
  // (the putter let go of its own), the getter in another client gets futures of its own, and
  // the key is forgotten once the getter releases it.
  it("Queue: futures as items, kept alive while queued, released after", async () => {
    const q = new Queue("futures", { client: c.client });
    const f = c.client.submit((x: number) => x * 10, 4, { key: "queued-40" });
    await q.put(f);
    await q.put({ plain: [1, 2] });
    f.release();
    assert.equal(await q.qsize(), 2);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(c.scheduler.state.tasks.has("queued-40"), "the queue keeps the key alive");
    const o = await another();
    const got = await new Queue("futures", { client: o }).get({ timeout: 10_000 });
    assert.equal((got as { key: string }).key, "queued-40");
    assert.equal(await (got as { result(): Promise<number> }).result(), 40);
    assert.deepEqual(await new Queue("futures", { client: o }).get({ batch: true }), [{ plain: [1, 2] }]);
    (got as { release(): void }).release();
    await waitFor("the key to be forgotten", () => !c.scheduler.state.tasks.has("queued-40"), { timeoutMs: 20_000 });
  });

  // Found by reading (session 12): a future handed over by a get came back cancelled when the
  // getter's own release of the same key crossed the reply: wants were a set, so the release
  // undid the hand-over's want, and the key was forgotten before the client adopted it.
  it("Queue: a get whose reply crosses the getter's release of the same key hands over a live future", async () => {
    const q = new Queue("crossing", { client: c.client });
    const f = c.client.submit((x: number) => x * 10, 5, { key: "crossing-50" });
    assert.equal(await f.result(), 50);
    await q.put(f);
    const got = q.get({ timeout: 10_000 }); // goes first: the scheduler hands the key over, then reads the release
    f.release();
    const item = (await got) as { result(o?: { timeout?: number }): Promise<number>; release(): void };
    assert.equal(await item.result({ timeout: 10_000 }), 50);
    item.release();
    await waitFor("the key to be forgotten", () => !c.scheduler.state.tasks.has("crossing-50"), { timeoutMs: 20_000 });
  });

  // Found by reading (session 21): a hand the client never adopted held the key for that client
  // till it left: when an item's value failed to decode (the adoption came from the decode), and
  // when the reply came after the request had timed out (it was dropped). Now each item's key
  // list is adopted whatever the decode does, and a late reply's items are given back
  // (dropShared, what the request's `late` calls). The bytes below are no msgpack value the
  // client decodes; the scheduler never decodes values, so it queues them.
  it("Queue: an item that fails to decode, or comes in a late reply, does not keep its key for the getter", async () => {
    const f = c.client.submit((x: number) => x * 10, 6, { key: "undecodable-60" });
    assert.equal(await f.result(), 60);
    const bad = { value: [new Uint8Array([0x92, 0x01])], keys: [f.key] }; // an array of 2 that ends after 1
    await c.client.request({ op: "queue-put", name: "undecodable", maxsize: 0, timeout: 0, ...bad });
    await c.client.request({ op: "queue-put", name: "undecodable", maxsize: 0, timeout: 0, ...bad });
    const o = await another();
    await assert.rejects(new Queue("undecodable", { client: o }).get({ timeout: 10_000 }), /Unexpected end/);
    // the second item as a reply nobody takes (a request that timed out), then given back
    const reply = await o.request<{ items: Array<{ value: Uint8Array[]; keys: string[] }> }>({ op: "queue-get", name: "undecodable", batch: 0, timeout: 0 });
    assert.equal(reply.items.length, 1);
    const { dropShared } = await import("../../src/client/shared.js");
    dropShared(o, reply.items);
    f.release();
    await waitFor("the key to be forgotten", () => !c.scheduler.state.tasks.has("undecodable-60"), { timeoutMs: 20_000 });
  });

  // Protects: a queue's waits end: get on an empty queue and put on a full one are TimeoutErrors
  // naming the queue; a waiting get is served by a later put (from a task), batches come whole.
  it("Queue: timeouts, maxsize, batches, a waiting get served by a task's put", async () => {
    const q = new Queue<number>("small", { client: c.client, maxsize: 1 });
    await assert.rejects(q.get({ timeout: 100 }), (e: Error) => e instanceof TimeoutError && /Queue "small": get \(no item came\) timed out after 100 ms/.test(e.message));
    await q.put(1);
    await assert.rejects(q.put(2, { timeout: 100 }), (e: Error) => e instanceof TimeoutError && /Queue "small": put/.test(e.message));
    assert.equal(await q.get(), 1);
    const waiting = new Queue<number>("from-task", { client: c.client }).get({ timeout: 30_000 });
    const put = async (index: string, address: string, secret: string) => {
      const { Client, Queue } = (await import(index)) as Api;
      const client = await Client.connect(address, { secret });
      try {
        for (const x of [7, 8, 9]) await new Queue("from-task", { client }).put(x);
      } finally {
        await client.close();
      }
    };
    await c.client.submit(put, INDEX, c.address, c.secret).result();
    assert.equal(await waiting, 7);
    assert.deepEqual(await new Queue("from-task", { client: c.client }).get({ batch: 2, timeout: 10_000 }), [8, 9]);
    await assert.rejects(q.get({ batch: 0 as never }), /batch must be true, false or an integer >= 1, got 0/);
  });

  // Protects: Variable set/get/delete with a future, and get waiting for a set.
  it("Variable: set, get (waiting for it), delete; futures kept alive while set", async () => {
    const v = new Variable("var-f", { client: c.client });
    await assert.rejects(v.get({ timeout: 50 }), (e: Error) => e instanceof TimeoutError && /Variable "var-f": get \(it was not set\) timed out/.test(e.message));
    const later = new Variable<number>("var-late", { client: await another() }).get({ timeout: 20_000 });
    await new Variable("var-late", { client: c.client }).set(5);
    assert.equal(await later, 5);
    const f = c.client.submit((x: number) => x + 1, 41, { key: "var-42" });
    await v.set({ f });
    f.release();
    const o = await another();
    const got = (await new Variable<{ f: { result(): Promise<number> } }>("var-f", { client: o }).get()).f;
    assert.equal(await got.result(), 42);
    await v.delete();
    await assert.rejects(v.get({ timeout: 0 }), TimeoutError);
  });

  // Protects: Event wait/set/clear from a task, and a wait that times out answers false.
  it("Event: a task waits until the client sets it; wait with a timeout answers false", async () => {
    const ev = new Event("go", { client: c.client });
    assert.equal(await ev.isSet(), false);
    assert.equal(await ev.wait({ timeout: 50 }), false);
    const waiter = async (index: string, address: string, secret: string) => {
      const { Client, Event } = (await import(index)) as Api;
      const client = await Client.connect(address, { secret });
      try {
        return await new Event("go", { client }).wait({ timeout: 30_000 });
      } finally {
        await client.close();
      }
    };
    const f = c.client.submit(waiter, INDEX, c.address, c.secret);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(f.status, "pending", "the task waits");
    await ev.set();
    assert.equal(await f.result(), true);
    assert.equal(await ev.isSet(), true);
    await ev.clear();
    assert.equal(await ev.isSet(), false);
  });

  // Protects: pub/sub from tasks to the client, consumed with for await; leaving the loop unsubscribes.
  it("Pub/Sub: tasks publish, the client iterates; a Sub gets only what came after it", async () => {
    new Pub("events", { client: c.client }).put("before anyone listens");
    const sub = new Sub<{ i: number }>("events", { client: c.client });
    const pub = async (index: string, address: string, secret: string, i: number) => {
      const { Client, Pub } = (await import(index)) as Api;
      const client = await Client.connect(address, { secret });
      new Pub("events", { client }).put({ i });
      await client.close();
    };
    const fs = [0, 1, 2, 3].map((i) => c.client.submit(pub, INDEX, c.address, c.secret, i));
    await c.client.gather(fs);
    const seen: number[] = [];
    for await (const m of sub) {
      seen.push(m.i);
      if (seen.length === 4) break;
    }
    assert.deepEqual(seen.sort(), [0, 1, 2, 3]);
    await assert.rejects(sub.get({ timeout: 10 }), /Sub "events": closed/);
    const s2 = new Sub("events", { client: c.client });
    await assert.rejects(s2.get({ timeout: 100 }), (e: Error) => e instanceof TimeoutError && /Sub "events": get \(nothing was published\) timed out after 100 ms/.test(e.message));
    s2.close();
    assert.throws(() => new Pub("events", { client: c.client }).put(c.client.submit((x: number) => x, 1)), /Pub "events": a published value cannot hold futures/);
  });

  // Protects: a primitive used after its client closed is a clear error naming it.
  it("a primitive of a closed client says so, naming the primitive", async () => {
    const o = await another();
    await o.close();
    await assert.rejects(new Lock("after", { client: o }).acquire(), (e: Error) => e instanceof CommClosedError && /Lock "after": its client Client-.* is closed/.test(e.message));
    await assert.rejects(new Queue("after", { client: o }).put(1), (e: Error) => e instanceof CommClosedError && /Queue "after"/.test(e.message));
    assert.throws(() => new Sub("after", { client: o }), /Sub "after": its client/);
    assert.throws(() => new Lock("no-client"), /Lock "no-client": no client given and no default client/);
    // without { client }, the program's default client (getClient()) is used
    setDefaultClient(c.client);
    try {
      const lock = new Lock("default-client");
      assert.equal(lock.client, c.client);
      assert.equal(await lock.acquire({ timeout: 1000 }), true);
      await lock.release();
    } finally {
      setDefaultClient(undefined);
    }
  });
});

describe("coordination primitives: a holder's worker dies (real processes)", function () {
  this.timeout(180_000);
  let c: ProcessClusterHandle | undefined;
  afterEach(async () => c?.cleanup());

  // Protects: a semaphore lease held by a task is released when the task's worker process
  // dies (SIGKILL: no release, no goodbye); the primitive's state, on the scheduler, survives.
  it("a lease held by a task comes back when its worker is killed", async () => {
    c = await withCluster({ mode: "process", workers: 2, nanny: false, nthreads: 1 });
    const hold = async (index: string, address: string, secret: string) => {
      const { Client, Semaphore } = (await import(index)) as Api;
      const client = await Client.connect(address, { secret });
      await new Semaphore({ maxLeases: 1, name: "held-by-a-task", client }).acquire();
      await new Promise(() => {}); // holds it until its worker dies
    };
    const sem = new Semaphore({ maxLeases: 1, name: "held-by-a-task", client: c.client });
    // pinned to w0, never elsewhere: once w0 is dead the task waits for it and does not take the lease again
    void c.client.submit(hold, INDEX, c.address, c.secret, { workers: ["w0"], allowOtherWorkers: false });
    await waitFor("the task to hold the lease", async () => (await sem.getValue()) === 1, { timeoutMs: 60_000 });
    assert.equal(await sem.acquire({ timeout: 0 }), false);
    const waiting = sem.acquire({ timeout: 60_000 });
    c.workers[0]!.child.kill("SIGKILL");
    assert.equal(await waiting, true, "granted once the holder's worker died");
    await sem.release();
  });
});
