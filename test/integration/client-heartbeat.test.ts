// The client's heartbeat with its scheduler (issue 12.6): a hung scheduler is lost as surely as a
// closed connection, and a busy cluster or a client that was itself blocked is not taken for one.
// A real scheduler process (stopped with SIGSTOP) and real TCP on 127.0.0.1.
import assert from "node:assert/strict";
import path from "node:path";
import { Client } from "../../src/index.js";
import { ROOT, startProcessCluster, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, exitWithin, spawnProc, waitFor } from "../helpers/proc.js";

/** The promise's rejection, or a failure if it settles otherwise or not within `ms`. */
async function rejectionWithin(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not rejected within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p.then((v) => assert.fail(`resolved with ${String(v)}`), (e: unknown) => e), late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("client heartbeat with a scheduler process (issue 12.6)", function () {
  this.timeout(90_000);
  const tmp = tempDir();
  afterEach(cleanupProcs);
  after(() => tmp.remove());

  // 12.6: a scheduler that hangs (SIGSTOP here; a deadlock or a network black hole alike) keeps
  // its connection open, and pending futures used to wait for it forever
  it("a stopped scheduler fails pending futures with SchedulerLostError naming the missed heartbeat", async () => {
    const c = await startProcessCluster(tmp.dir, { workers: 1, nanny: false });
    const client = await Client.connect({ schedulerFile: c.file, heartbeatInterval: 100, heartbeatTimeout: 3000, reconnectTimeout: 300 });
    const pid = c.scheduler.child.pid!;
    try {
      await client.waitForWorkers(1, { timeout: 30_000 });
      const address = client.schedulerAddress;
      const f = client.submit(() => new Promise((r) => setTimeout(r, 120_000)), { pure: false });
      await waitFor("the task to run", async () => (await client.story(f.key)).some((s) => s.to === "processing"), { timeoutMs: 20_000 });
      process.kill(pid, "SIGSTOP");
      const stoppedAt = Date.now();
      const err = await rejectionWithin(f.result(), 30_000);
      const waited = Date.now() - stoppedAt;
      assert.ok(err instanceof Error, `rejected: ${String(err)}`);
      assert.equal(err.name, "SchedulerLostError", err.stack);
      assert.ok(err.message.startsWith(`the scheduler at ${address} was lost (heartbeat missed: no message from the scheduler for `), err.message);
      assert.match(err.message, /\(heartbeatTimeout 3000 ms\); it may be hung or stopped, or the network drops its packets\)/);
      assert.match(err.message, /the client waited \d+ ms for it to come back \(reconnectTimeout 300 ms\)/);
      // silence is counted, not guessed: never before the timeout and the window
      assert.ok(waited >= 3000 + 300, `lost after ${waited} ms`);
      assert.throws(() => client.submit((x: number) => x, 1), { name: "SchedulerLostError", message: /heartbeat missed/ });
    } finally {
      process.kill(pid, "SIGCONT");
      await client.close();
    }
  });

  // no false losses: any message from the scheduler is a sign of life, an idle scheduler answers
  // heartbeats, and a client blocked for longer than the timeout (a long GC pause) does not count
  // the time it could not listen as the scheduler's silence
  it("a busy cluster, a blocked client and an idle cluster cause no loss with short heartbeat settings", async () => {
    const c = await startProcessCluster(tmp.dir, { workers: 2, nanny: false });
    const client = await Client.connect({ schedulerFile: c.file, heartbeatInterval: 100, heartbeatTimeout: 5000, reconnectTimeout: 0 });
    const pid = c.scheduler.child.pid!;
    try {
      await client.waitForWorkers(2, { timeout: 30_000 });
      for (let round = 0; round < 3; round++) {
        const xs = Array.from({ length: 3000 }, (_, i) => i * 10 + round);
        assert.deepEqual(await client.gather(client.map((x: number) => x * 2, xs)), xs.map((x) => x * 2));
      }
      // the scheduler quiet for a second (stopped), then this process blocked for 6 s (over the
      // 5 s timeout) at the end of an event-loop turn while the scheduler answers: the heartbeat's
      // timer runs before those answers are read, and must not add the 6 s to the second of
      // silence it heard (the timeout leaves 4 s for timers firing late on a loaded machine)
      process.kill(pid, "SIGSTOP");
      const quietFrom = Date.now();
      await waitFor("a second of silence", () => Date.now() - quietFrom >= 1000, { timeoutMs: 10_000 });
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          process.kill(pid, "SIGCONT");
          const until = Date.now() + 6000;
          while (Date.now() < until);
          resolve();
        }),
      );
      // idle for a few timeouts: only the answers to heartbeats come in
      const idleUntil = Date.now() + 2 * 5000;
      await waitFor("the idle time to pass", () => client.closed || Date.now() >= idleUntil, { timeoutMs: 30_000, intervalMs: 100 });
      assert.equal(client.closed, false, "the client gave up on a live scheduler");
      assert.equal(Object.keys((await client.schedulerInfo()).workers).length, 2);
    } finally {
      process.kill(pid, "SIGCONT");
      await client.close();
    }
  });

  // the heartbeat is not work: a program that is done exits without close(), even while its
  // heartbeats wait for answers from a scheduler that has stopped answering
  it("a finished program exits without close(), even with a silent scheduler", async () => {
    const c = await startProcessCluster(tmp.dir, { workers: 1, nanny: false });
    const index = path.join(ROOT, "dist/src/index.js");
    const script =
      `const { Client } = await import(${JSON.stringify(index)});` +
      `const client = await Client.connect({ schedulerFile: ${JSON.stringify(c.file)}, heartbeatInterval: 50, heartbeatTimeout: 120000 });` +
      `console.log(await client.submit((x) => x + 1, 41).result());` +
      `process.kill(${c.scheduler.child.pid}, "SIGSTOP");` +
      `await new Promise((r) => setTimeout(r, 500));` + // heartbeats are sent meanwhile, none is answered
      `console.log("done");`;
    const p = spawnProc(process.execPath, ["--input-type=module", "-e", script], { env: { DASK_MPI_TS_LOG_LEVEL: "warn" } });
    try {
      await waitFor("the program to finish its work", () => p.stdout.includes("done"), { timeoutMs: 30_000, proc: p });
      const { code } = await exitWithin(p, 10_000);
      assert.equal(code, 0, p.stderr);
      assert.equal(p.stdout, "42\ndone\n");
    } finally {
      process.kill(c.scheduler.child.pid!, "SIGCONT");
    }
  });
});
