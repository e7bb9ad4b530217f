// Memory limits on real worker processes: pause above `pause`, the nanny's restart above
// `terminate` (and KilledWorkerError for a task that always does that).
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, truncateSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Client, KilledWorkerError } from "../../src/index.js";
import { startProcessCluster, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, exitWithin, waitFor } from "../helpers/proc.js";

let tmp: ReturnType<typeof tempDir>;
let client: Client | undefined;

describe("worker memory (real processes)", function () {
  this.timeout(120_000);
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await cleanupProcs();
    tmp.remove();
  });

  describe("memory limits", function () {
    it("a task that grows past terminate is restarted by the nanny and ends as KilledWorkerError; others finish", async () => {
      // w0 has a 300 MB limit (terminate at 95%); w1 has no limit
      const c = await startProcessCluster(tmp.dir, { workers: 2, workerArgs: (i) => ["--memory-limit", i === 0 ? "300MB" : "0"] });
      client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
      await client.waitForWorkers(2, { timeout: 20_000 });
      const hog = client.submit(
        async () => {
          const b = Buffer.alloc(400e6, 1); // resident: zero-filled, then written
          await new Promise((r) => setTimeout(r, 3000));
          return b.length;
        },
        { workers: ["w0"] },
      );
      const others = client.map((x: number) => x * 2, [1, 2, 3], { workers: ["w1"] });
      assert.deepEqual(await client.gather(others), [2, 4, 6]);
      await assert.rejects(hog.result({ timeout: 90_000 }), (err: unknown) => {
        assert.ok(err instanceof KilledWorkerError, String(err));
        return true;
      });
      assert.match(c.workers[0]!.stderr, /memory above the terminate threshold/);
      await client.waitForWorkers(2, { timeout: 20_000 });
    });

    it("--no-nanny above terminate: the worker tells the scheduler, which reschedules at once, and exits non-zero saying why", async () => {
      // w0 (no nanny, 300 MB limit) is the only one where the task grows; w1 has no limit
      const c = await startProcessCluster(tmp.dir, {
        workers: 2,
        nanny: false,
        workerArgs: (i) => ["--memory-limit", i === 0 ? "300MB" : "0"],
        workerEnv: (i) => (i === 0 ? { DASK_MPI_TS_TEST_HOG: "1" } : {}),
      });
      client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
      await client.waitForWorkers(2, { timeout: 20_000 });
      const t0 = Date.now();
      const f = client.submit(
        async () => {
          if (process.env.DASK_MPI_TS_TEST_HOG) {
            const b = Buffer.alloc(400e6, 1);
            await new Promise((r) => setTimeout(r, 60_000)); // holds it: only leaving frees it
            return b.length;
          }
          return process.pid;
        },
        { workers: ["w0"], allowOtherWorkers: true },
      );
      const pid = await f.result({ timeout: 30_000 });
      const w1 = Object.values((await client.schedulerInfo()).workers).find((w) => w.name === "w1")!;
      assert.equal(pid, w1.pid, "the task was rescheduled to w1");
      // promptly: not after a heartbeat timeout (30 s) nor after the task's minute
      assert.ok(Date.now() - t0 < 15_000, `rescheduled after ${Date.now() - t0} ms`);
      assert.deepEqual(Object.values((await client.schedulerInfo()).workers).map((w) => w.name), ["w1"]);
      const { code } = await exitWithin(c.workers[0]!, 10_000);
      assert.equal(code, 1);
      const why = /memory use \d+ bytes is above the terminate threshold \(0\.95 of the 300000000-byte limit\), and there is no nanny to restart the worker/;
      assert.match(c.workers[0]!.stderr, why);
      assert.match(c.scheduler.stderr, /"msg":"worker removed"/);
      assert.match(c.scheduler.stderr, why);
    });

    it("a worker above its pause threshold is paused: the scheduler sends work elsewhere", async () => {
      // w0: 1 GB limit, pause at 20% (200 MB), terminate off
      const c = await startProcessCluster(tmp.dir, {
        workers: 2,
        workerArgs: (i) => (i === 0 ? ["--memory-limit", "1GB", "--memory-pause", "0.2", "--memory-terminate", "false"] : ["--memory-limit", "0"]),
      });
      client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
      await client.waitForWorkers(2, { timeout: 20_000 });
      const big = client.submit(() => Buffer.alloc(300e6, 1), { workers: ["w0"] });
      await big.whenDone({ timeout: 30_000 });
      await waitFor(
        "w0 to report itself paused",
        async () => Object.values((await client!.schedulerInfo()).workers).find((w) => w.name === "w0")?.status === "paused",
        { timeoutMs: 15_000 },
      );
      assert.match(c.workers[0]!.stderr, /pausing: memory above the pause threshold/);
      // loose restriction: prefers w0, but w0 is paused, so w1 does it
      const pid = await client.submit(() => process.pid, { workers: ["w0"], allowOtherWorkers: true }).result({ timeout: 20_000 });
      const w1 = Object.values((await client.schedulerInfo()).workers).find((w) => w.name === "w1")!;
      assert.equal(pid, w1.pid);
    });
  });

  describe("spilling to the local directory", function () {
    const make = (i: number) => new Float64Array(4 * 1024 * 1024).fill(i); // 32 MiB each

    /** A metric of the worker named `name`, as its last heartbeat told the scheduler (0 before one). */
    const metric = async (c: Client, name: string, field: string): Promise<number> =>
      Number(Object.values((await c.schedulerInfo()).workers).find((w) => w.name === name)?.metrics[field] ?? 0);

    /** w0 spills past 5 % of 2 GB into `local`; w1 (no limit) fetches from it; a client connected (closed after the test). */
    async function spilling() {
      const local = path.join(tmp.dir, "local");
      const c = await startProcessCluster(tmp.dir, {
        workers: 2,
        workerArgs: (i) =>
          i === 0
            ? ["--memory-limit", "2GB", "--memory-target", "0.05", "--memory-spill", "false", "--memory-pause", "false", "--memory-terminate", "false", "--local-directory", local]
            : ["--memory-limit", "0"],
      });
      const connected = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
      client = connected;
      await connected.waitForWorkers(2, { timeout: 20_000 });
      return { c, local, client: connected };
    }

    it("results past target spill to files, come back intact (to clients, tasks and peers at once), and the files go with the worker", async () => {
      const { c, local, client } = await spilling();
      const parts = client.map(make, [1, 2, 3, 4, 5, 6], { workers: ["w0"] }); // 192 MiB held, target is 100 MB
      await Promise.all(parts.map((p) => p.whenDone()));
      const files = await waitFor(
        "spill files",
        () => {
          const dirs = existsSync(local) ? readdirSync(local) : [];
          const n = dirs.reduce((acc, d) => acc + readdirSync(path.join(local, d)).length, 0);
          return n >= 2 ? n : undefined;
        },
        { timeoutMs: 10_000 },
      );
      assert.ok(files >= 2, `${files} files spilled`);
      // read back (asynchronously) by two clients' gathers, tasks on w0 and a peer, all at once:
      // reads of one key are shared, and each gets the right bytes
      // every element, not a sample: a reader that lost the middle of a part must fail here
      const check = (back: Float64Array[]) =>
        back.forEach((a, i) => assert.ok(a.length === 4 * 1024 * 1024 && a.every((v) => v === i + 1), `part ${i}`));
      const [back1, back2, here, there] = await Promise.all([
        client.gather(parts),
        client.gather(parts),
        client.gather(client.map((a: Float64Array) => a[7]! * 2, parts, { workers: ["w0"] })),
        // another function, so another key: computed on w1, which fetches the parts from w0
        client.gather(client.map((a: Float64Array) => 2 * a[a.length - 1]!, parts, { workers: ["w1"] })),
      ]);
      check(back1);
      check(back2);
      assert.deepEqual(here, [2, 4, 6, 8, 10, 12]);
      assert.deepEqual(there, [2, 4, 6, 8, 10, 12]);
      await waitFor("w1 to report the parts it fetched from w0", async () => (await metric(client, "w1", "receivedFromPeers")) >= 6 * 32 * 2 ** 20, { timeoutMs: 10_000 });
      await client.shutdown();
      await exitWithin(c.workers[0]!, 15_000);
      assert.deepEqual(readdirSync(local), [], "spill directory removed on clean exit");
    });

    // Protects: a spill file cut short after its write made every task that needed its value err
    // ("spill file ... changed after it was written"), and a gather of it asked its worker for
    // good; the value can be computed again, so it is
    it("a spill file damaged after its write: the value is computed again for a gather, a task there and a peer, and never read wrong", async () => {
      const { c, local, client } = await spilling();
      const log = path.join(tmp.dir, "runs.log");
      const makeLogged = async (spec: { i: number; log: string }) => {
        const { appendFileSync } = await import("node:fs");
        appendFileSync(spec.log, `${spec.i}\n`);
        return new Float64Array(4 * 1024 * 1024).fill(spec.i); // 32 MiB
      };
      const parts = client.map(makeLogged, [1, 2, 3, 4, 5, 6].map((i) => ({ i, log })), { workers: ["w0"] });
      await Promise.all(parts.map((p) => p.whenDone()));
      // 192 MiB held against a 100 MB target: three parts go to disk, in one monitor tick each,
      // and no more is written once they are (so no file is truncated while it is written)
      await waitFor("w0 to spill three parts", async () => (await metric(client, "w0", "spilledBytes")) >= 3 * 32 * 2 ** 20, { timeoutMs: 20_000 });
      const files = readdirSync(local).flatMap((d) => readdirSync(path.join(local, d)).map((f) => path.join(local, d, f)));
      assert.ok(files.length >= 3, `${files.length} spill files`);
      for (const f of files) truncateSync(f, 1000); // the header and some of the first part
      const check = (back: Float64Array[]) => back.forEach((a, i) => assert.ok(a.length === 4 * 1024 * 1024 && a.every((v) => v === i + 1), `part ${i + 1}`));
      const [back, here, there] = await Promise.all([
        client.gather(parts, { timeout: 60_000 }),
        client.gather(client.map((a: Float64Array) => a[a.length - 1]! * 2, parts, { workers: ["w0"] }), { timeout: 60_000 }),
        client.gather(client.map((a: Float64Array) => a[7]! * 3, parts, { workers: ["w1"] }), { timeout: 60_000 }),
      ]);
      check(back);
      assert.deepEqual(here, [2, 4, 6, 8, 10, 12]);
      assert.deepEqual(there, [3, 6, 9, 12, 15, 18]);
      const runs = readFileSync(log, "utf8").trim().split("\n").map(Number).sort((a, b) => a - b);
      const again = runs.filter((i, k) => runs.indexOf(i) !== k);
      assert.equal(again.length, files.length, `each damaged part computed once more (runs: ${runs.join(",")})`);
      assert.match(c.workers[0]!.stderr, /a spilled value could not be read back: it is lost here/);
      // the same lines through the client (Dask's get_worker_logs, get_scheduler_logs)
      const logs = await client.getWorkerLogs({ workers: ["w0"] });
      const w0 = Object.keys((await client.schedulerInfo()).workers).find((a) => (logs[a] ?? []).length > 0);
      assert.deepEqual(Object.keys(logs), [w0], "only w0 asked");
      const lost = logs[w0!]!.filter((l) => l.msg.startsWith("a spilled value could not be read back"));
      assert.equal(lost.length, files.length);
      assert.ok(lost.every((l) => l.level === "error" && typeof l.key === "string" && typeof l.time === "number" && l.component === "worker"));
      assert.equal((await client.getWorkerLogs({ n: 1 }))[w0!]!.length, 1);
      const written = c.scheduler.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => (JSON.parse(l) as { msg: string }).msg);
      assert.deepEqual((await client.getSchedulerLogs()).map((l) => l.msg).slice(0, written.length), written, "the lines the scheduler wrote, in order");
      await assert.rejects(client.getWorkerLogs({ n: -1 }), { name: "TypeError", message: "getWorkerLogs: n must be an integer >= 0, got the number -1" });
      await assert.rejects(client.getWorkerLogs({ workers: ["nobody"] }), /nobody/);
    });

    it("with spilling off and an unwritable local directory: nothing is written, the worker pauses, resumes once results go, and the work finishes", async () => {
      // unwritable even for root: its parent is a regular file
      const notADir = path.join(tmp.dir, "not-a-directory");
      writeFileSync(notADir, "");
      // pause at 30% of 1 GB; with nowhere to spill, pause is what protects the worker
      const c = await startProcessCluster(tmp.dir, {
        workers: 1,
        workerArgs: () => [
          "--memory-limit", "1GB", "--memory-target", "false", "--memory-spill", "false", "--memory-pause", "0.3", "--memory-terminate", "false",
          "--local-directory", path.join(notADir, "sub"),
        ],
      });
      client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
      await client.waitForWorkers(1, { timeout: 20_000 });
      const status = async () => Object.values((await client!.schedulerInfo()).workers)[0]?.status;
      const parts = client.map(make, [1, 2, 3]); // 96 MiB: below pause
      assert.deepEqual((await client.gather(parts)).map((a) => a[0]), [1, 2, 3]);

      // a 400 MB result takes it over pause: the scheduler hears that it paused
      const big = client.submit(() => Buffer.alloc(400e6, 1));
      await big.whenDone({ timeout: 30_000 });
      await waitFor("the worker to pause", async () => (await status()) === "paused", { timeoutMs: 15_000, proc: c.workers[0] });
      // work submitted now waits on the scheduler (queued, never sent to the paused worker)
      const later = client.map(() => Date.now(), [1, 2, 3], { pure: false });
      await waitFor(
        "the scheduler to queue the new tasks",
        async () => (await Promise.all(later.map((f) => client!.story(f.key)))).every((s) => s.at(-1)?.to === "queued"),
        { timeoutMs: 10_000 },
      );
      assert.equal(await status(), "paused");

      // the client lets go of the big result: freed, the worker is below pause again and resumes
      const released = Date.now();
      big.release();
      // promptly: a paused worker collects garbage (V8 alone may hold freed memory for many seconds)
      await waitFor("the worker to resume", async () => (await status()) === "running", { timeoutMs: 20_000, proc: c.workers[0] });
      const ran = await client.gather(later, { timeout: 20_000 });
      for (const at of ran) assert.ok(at >= released, "a task ran while the worker was paused");
      assert.deepEqual((await client.gather(parts)).map((a) => a[0]), [1, 2, 3]);
      assert.match(c.workers[0]!.stderr, /pausing: memory above the pause threshold/);
      assert.match(c.workers[0]!.stderr, /resuming: memory below the pause threshold/);
      assert.doesNotMatch(c.workers[0]!.stderr, /not writable|spill directory/);
      assert.equal(existsSync(path.join(notADir, "sub")), false);
      // and it leaves cleanly: its nanny has no spill directory to remove
      await client.shutdown();
      client = undefined;
      assert.equal((await exitWithin(c.workers[0]!, 15_000)).code, 0, c.workers[0]!.stderr);
    });

    it("with spilling on, an unwritable local directory is a clear start-up error", async () => {
      const notADir = path.join(tmp.dir, "not-a-directory");
      writeFileSync(notADir, "");
      const c = await startProcessCluster(tmp.dir, {
        workers: 1,
        workerArgs: () => ["--no-nanny", "--memory-limit", "2GB", "--local-directory", path.join(notADir, "sub")],
      });
      const { code } = await exitWithin(c.workers[0]!, 15_000);
      assert.notEqual(code, 0);
      assert.match(c.workers[0]!.stderr, /local directory .*not-a-directory\/sub cannot be used \(ENOTDIR/);
    });
  });

  describe("worker lifetimes", function () {
    it("--lifetime 3s --lifetime-stagger 1s --lifetime-restart: results survive, nothing runs twice", async () => {
      const c = await startProcessCluster(tmp.dir, {
        workers: 3,
        workerArgs: () => ["--lifetime", "3s", "--lifetime-stagger", "1s", "--lifetime-restart", "--log-level", "info"],
      });
      client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
      await client.waitForWorkers(3, { timeout: 20_000 });
      const log = path.join(tmp.dir, "executions.log");
      const futures = client.map(
        async (spec: { i: number; log: string }) => {
          const { appendFileSync } = await import("node:fs");
          appendFileSync(spec.log, `${spec.i}\n`);
          const end = Date.now() + 120;
          while (Date.now() < end);
          return spec.i * spec.i;
        },
        Array.from({ length: 200 }, (_, i) => ({ i, log })),
      );
      const values = await client.gather(futures, { timeout: 90_000 });
      assert.deepEqual(values, Array.from({ length: 200 }, (_, i) => i * i));
      const runs = readFileSync(log, "utf8").trim().split("\n").map(Number);
      const twice = runs.filter((i, k) => runs.indexOf(i) !== k);
      assert.deepEqual(twice, [], "no task ran twice");
      assert.equal(runs.length, 200);
      // workers did come and go meanwhile: at least one restarted (a new process under the same name)
      assert.match(c.workers.map((w) => w.stderr).join(""), /retiring/); // an info line: see --log-level above
      await client.waitForWorkers(3, { timeout: 20_000 });
    });
  });
});
