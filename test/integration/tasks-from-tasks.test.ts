// Tasks that submit tasks (issue 14, point 1): getClient() inside a task, secede()/rejoin() and
// workerClient(), on real roles over TCP in this process (a task thread cannot reach inproc://).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { ConfigError, rejoin, secede, workerClient } from "../../src/index.js";
import { type InprocCluster, tempDir, withCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/proc.js";
import { makeCerts } from "../helpers/certs.js";

/** fib(n) through tasks: each level submits the two below it and waits seceded (workerClient). */
async function fib(n: number): Promise<number> {
  if (n < 2) return n;
  const { workerClient } = await import("dask-mpi-ts");
  return workerClient(async (client) => {
    const [a, b] = await client.gather([client.submit(fib, n - 1), client.submit(fib, n - 2)]);
    return a! + b!;
  });
}

/** The same with getClient(), secede() and rejoin() spelled out. */
async function fibExplicit(n: number): Promise<number> {
  if (n < 2) return n;
  const { getClient, secede, rejoin } = await import("dask-mpi-ts");
  const client = getClient();
  const futures = [client.submit(fibExplicit, n - 1), client.submit(fibExplicit, n - 2)];
  secede();
  const [a, b] = await client.gather(futures);
  await rejoin();
  return a! + b!;
}

describe("tasks that submit tasks (getClient, secede, rejoin, workerClient)", function () {
  this.timeout(180_000);
  let c: InprocCluster | undefined;

  afterEach(async () => {
    await c?.cleanup();
    c = undefined;
  });

  // Protects: a recursive computation through tasks cannot deadlock a ONE-thread worker: every
  // waiting level secedes (its promise waits on the thread while the levels below run there).
  it("computes fib(20) through tasks on one worker with one thread (workerClient)", async () => {
    c = await withCluster({ mode: "inproc", protocol: "tcp", workers: 1, nthreads: 1 });
    assert.equal(await c.client.submit(fib, 20).result({ timeout: 150_000 }), 6765);
    // every level rejoined and ended: the worker's and the scheduler's slots are all free again
    await waitFor("the worker's slots to be free", () => c!.workers[0]!.state.executing === 0, { timeoutMs: 10_000 });
    assert.equal(c.scheduler.state.occupancy(c.workers[0]!.address), 0);
  });

  // Protects: getClient() in a task is synchronous (Dask's get_client) and the same client for
  // every task on the thread; secede()/rejoin() spelled out work the same way.
  it("computes fib(12) with getClient(), secede() and rejoin(); the task thread has one client", async () => {
    c = await withCluster({ mode: "inproc", protocol: "tcp", workers: 1, nthreads: 1 });
    const before = c.scheduler.state.clients.size;
    assert.equal(await c.client.submit(fibExplicit, 12).result({ timeout: 60_000 }), 144);
    // the test's client plus exactly one for the task thread, reused by all 12 waiting levels
    assert.equal(c.scheduler.state.clients.size, before + 1);
    // the thread's client goes with its worker: nothing left connected once the worker closed
    await c.workers[0]!.close("test: worker closes");
    await waitFor("the task thread's client to leave the scheduler", () => c!.scheduler.state.clients.size === before, { timeoutMs: 20_000 });
  });

  // Protects: a seceded task gives its slot away: on a one-thread worker another task runs while
  // it waits (without secede the second task could never start and the first would time out),
  // and after rejoin() it holds a slot again, counted again by nobody twice.
  it("lets another task run on a one-thread worker while one is seceded, then rejoins", async () => {
    c = await withCluster({ mode: "inproc", protocol: "tcp", workers: 1, nthreads: 1 });
    const tmp = tempDir();
    try {
      const flag = path.join(tmp.dir, "b-ran");
      const waiter = c.client.submit(
        async (file: string) => {
          const { secede, rejoin } = await import("dask-mpi-ts");
          const { existsSync } = await import("node:fs");
          secede();
          const deadline = Date.now() + 60_000;
          while (!existsSync(file)) {
            if (Date.now() > deadline) throw new Error("the other task never ran while this one was seceded");
            await new Promise((r) => setTimeout(r, 20));
          }
          await rejoin();
          return "rejoined";
        },
        flag,
        { key: "waiter" },
      );
      // the scheduler heard that it seceded: it no longer occupies the worker's thread
      await waitFor("the waiter to be long-running", () => c!.scheduler.state.occupancy(c!.workers[0]!.address) === 0 && c!.scheduler.state.tasks.get("waiter")?.state === "processing", { timeoutMs: 30_000 });
      assert.equal(c.workers[0]!.state.tasks.get("waiter")?.state, "long-running");
      const other = c.client.submit(
        async (file: string) => {
          const { writeFileSync } = await import("node:fs");
          writeFileSync(file, "x");
          return "b";
        },
        flag,
        { key: "other" },
      );
      assert.equal(await other.result({ timeout: 60_000 }), "b");
      assert.equal(await waiter.result({ timeout: 60_000 }), "rejoined");
      assert.ok(existsSync(flag));
      await waitFor("the worker's slots to be free", () => c!.workers[0]!.state.executing === 0, { timeoutMs: 10_000 });
      assert.equal(c.scheduler.state.occupancy(c.workers[0]!.address), 0);
    } finally {
      tmp.remove();
    }
  });

  // Protects: rejoin() waits for the thread's slot: a task that rejoins while another task holds
  // the one slot resumes only once that task has ended (files mark each step; no timing).
  it("rejoin() waits until the task holding the slot has ended", async () => {
    c = await withCluster({ mode: "inproc", protocol: "tcp", workers: 1, nthreads: 1 });
    const tmp = tempDir();
    try {
      const [started, rejoining, ended] = ["started", "rejoining", "ended"].map((f) => path.join(tmp.dir, f));
      const poll = async (file: string) => {
        const { existsSync } = await import("node:fs");
        const deadline = Date.now() + 60_000;
        while (!existsSync(file)) {
          if (Date.now() > deadline) throw new Error(`${file} never appeared`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      const waiter = c.client.submit(
        async (pollSource: string, started: string, rejoining: string, ended: string) => {
          const { secede, rejoin } = await import("dask-mpi-ts");
          const { existsSync, writeFileSync } = await import("node:fs");
          const wait = (0, eval)(pollSource) as (f: string) => Promise<void>;
          secede();
          await wait(started);
          writeFileSync(rejoining, "");
          await rejoin();
          return existsSync(ended) ? "after the other task" : "while the other task held the slot";
        },
        poll.toString(), started, rejoining, ended, { key: "waiter" },
      );
      const holder = c.client.submit(
        async (pollSource: string, started: string, rejoining: string, ended: string) => {
          const { writeFileSync } = await import("node:fs");
          const wait = (0, eval)(pollSource) as (f: string) => Promise<void>;
          writeFileSync(started, "");
          await wait(rejoining);
          writeFileSync(ended, "");
          return "held";
        },
        poll.toString(), started, rejoining, ended, { key: "holder" },
      );
      assert.deepEqual(await c.client.gather([waiter, holder], { timeout: 90_000 }), ["after the other task", "held"]);
    } finally {
      tmp.remove();
    }
  });

  // Protects: the task thread's client uses its worker's TLS files and secret: on a tls://
  // cluster (no plain connection accepted) tasks still submit tasks.
  it("connects the task thread's client with the worker's TLS files on a tls:// cluster", async () => {
    const tmp = tempDir();
    try {
      c = await withCluster({ mode: "inproc", protocol: "tls", tls: makeCerts(tmp.dir, "cluster"), workers: 1, nthreads: 1 });
      assert.match(c.address, /^tls:\/\//);
      assert.equal(await c.client.submit(fib, 6).result({ timeout: 60_000 }), 8);
    } finally {
      await c?.cleanup();
      tmp.remove();
    }
  });

  // Protects: the same on real dask-worker-ts processes under nannies (the worker's settings
  // reach its task threads through the CLI's start path too).
  it("computes fib(10) through tasks on a real one-thread worker process", async () => {
    const p = await withCluster({ mode: "process", workers: 1, nthreads: 1 });
    try {
      assert.equal(await p.client.submit(fib, 10).result({ timeout: 90_000 }), 55);
    } finally {
      await p.cleanup();
    }
  });

  // Protects: outside a task, secede/rejoin/workerClient fail at once with errors naming the call.
  it("secede(), rejoin() and workerClient() outside a task are clear errors", async () => {
    assert.throws(() => secede(), /secede\(\) was called outside a task/);
    await assert.rejects(rejoin(), /rejoin\(\) was called outside a task/);
    await assert.rejects(workerClient(async () => 1), (err: unknown) => err instanceof ConfigError && /workerClient\(\) was called outside a task/.test(err.message));
  });

  // Protects: a task on an inproc:// cluster gets a clear error naming the address, not a hang.
  it("getClient() in a task of an inproc:// cluster names the unreachable address", async () => {
    c = await withCluster({ mode: "inproc", workers: 1, nthreads: 1 });
    const f = c.client.submit(async () => {
      const { getClient } = await import("dask-mpi-ts");
      return getClient().id;
    });
    await assert.rejects(f.result({ timeout: 30_000 }), /inproc:\/\/ is not reachable from a task thread/);
  });
});

