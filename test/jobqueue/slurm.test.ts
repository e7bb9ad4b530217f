// Job-queue clusters on a real single-node SLURM: scale up and compute, scale down, adapt to
// a burst and back to nothing, close, a job SLURM rejects, and jobs never outliving their
// program (exit hook; death timeout when the program is killed).
import assert from "node:assert/strict";
import { Client, JobQueueError, SLURMCluster } from "../../src/index.js";
import { ROOT, tempDir } from "../helpers/cluster.js";
import { TAG_VAR, cleanupProcs, spawnProc, taggedPids, waitFor } from "../helpers/proc.js";
import { ensureSlurm, squeueIds } from "../helpers/queues.js";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { skipIf } from "../helpers/skip.js";

const gone = (ids: string[]) => () => !squeueIds().some((id) => ids.includes(id));

describe("job-queue clusters on real SLURM [jobqueue]", function () {
  this.timeout(90_000);
  const tmp = tempDir("dask-mpi-ts-slurm-");
  let tag = "";
  let cluster: SLURMCluster | undefined;

  before(function () {
    this.timeout(900_000);
    skipIf(this, ensureSlurm());
  });

  // every worker process of a test's jobs carries its tag (sbatch hands the environment on)
  beforeEach(() => {
    tag = randomUUID();
    process.env[TAG_VAR] = tag;
  });

  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
    delete process.env[TAG_VAR];
    await waitFor("the jobs' processes to end", () => taggedPids(tag).length === 0, { timeoutMs: 15_000 });
    await cleanupProcs();
  });

  after(() => tmp.remove());

  const create = (extra: Parameters<typeof SLURMCluster.create>[0] = {}) =>
    SLURMCluster.create({ cores: 1, memory: "512MB", interface: "lo", deathTimeout: 10, logDirectory: tmp.dir, sharedTempDirectory: tmp.dir, jobStatusInterval: 300, ...extra });

  it("scale(2): two jobs, two workers join and compute a map; scale(1) retires one keeping its results; scale(0): the jobs leave squeue", async () => {
    cluster = await create();
    assert.match(cluster.jobScript(), /^#SBATCH --mem=489M$/m);
    await cluster.scale(2);
    const ids = cluster.jobs().map((j) => j.id);
    assert.equal(ids.length, 2);
    assert.ok(ids.every((id) => squeueIds().includes(id)), "both jobs are in squeue");
    const client = await Client.connect(cluster);
    try {
      await client.waitForWorkers(2, { timeout: 60_000 });
      const names = Object.values((await client.schedulerInfo()).workers).map((w) => w.name).sort();
      assert.deepEqual(names, ids.map((id) => `dask-worker-${id}`).sort(), "each worker is named after its job");
      assert.ok(taggedPids(tag).length >= 4, "the leak check sees the jobs' processes (2 nannies, 2 workers)");
      const squares = client.map((x: number) => x * x, Array.from({ length: 20 }, (_, i) => i));
      assert.deepEqual(await client.gather(squares), Array.from({ length: 20 }, (_, i) => i * i));
      // scale(1) retires one worker gracefully: the results it held move to the other one
      const keys = squares.map((f) => f.key);
      const state = cluster.scheduler.state;
      assert.equal(new Set(Object.values(state.whoHas(keys)).flat()).size, 2, "both workers hold results");
      await cluster.scale(1);
      assert.equal(cluster.jobs().filter((j) => j.state !== "closing").length, 1);
      assert.ok(keys.every((k) => state.tasks.get(k)?.state === "memory"), "no result was lost (none is being recomputed)");
      assert.equal(new Set(Object.values(state.whoHas(keys)).flat()).size, 1, "the worker that stays holds them all");
      assert.deepEqual(await client.gather(squares, { timeout: 10_000 }), Array.from({ length: 20 }, (_, i) => i * i));
      await waitFor("one job left", () => squeueIds().filter((id) => ids.includes(id)).length === 1, { timeoutMs: 30_000 });
      await cluster.scale(0);
      await waitFor("the jobs to leave squeue", gone(ids), { timeoutMs: 30_000 });
      await waitFor("the cluster to forget them", () => cluster!.jobs().length === 0, { timeoutMs: 10_000 });
    } finally {
      await client.close();
    }
  });

  it("adapt({ minimum: 0, maximum: 2 }) grows under a burst of slow tasks, never past 2 jobs, and shrinks to 0 when idle", async () => {
    cluster = await create();
    cluster.adapt({ minimum: 0, maximum: 2, interval: 300, targetDuration: 1, waitCount: 3 });
    const seen = new Set<string>();
    const watch = setInterval(() => cluster!.jobs().forEach((j) => seen.add(j.id)), 100);
    try {
      const client = await Client.connect(cluster);
      let most = 0;
      try {
        const fs = client.map((x: number) => {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
          return x + 1;
        }, [1, 2, 3, 4, 5, 6, 7, 8]);
        const counting = setInterval(() => (most = Math.max(most, cluster!.jobs().filter((j) => j.workers.length).length)), 100);
        assert.deepEqual(await client.gather(fs, { timeout: 60_000 }), [2, 3, 4, 5, 6, 7, 8, 9]);
        clearInterval(counting);
      } finally {
        // with no client, nothing is stored: every worker is idle and may go
        await client.close();
      }
      assert.equal(most, 2, "two workers ran the burst");
      assert.ok(seen.size === 2, `adapt submitted exactly 2 jobs, got ${[...seen].join(", ")}`);
      await waitFor("adapt to shrink to 0 jobs", () => cluster!.jobs().length === 0, { timeoutMs: 30_000 });
      await waitFor("the jobs to leave squeue", gone([...seen]), { timeoutMs: 30_000 });
    } finally {
      clearInterval(watch);
    }
  });

  it("close() cancels every job, pending or running, and leaves none in squeue", async () => {
    cluster = await create();
    await cluster.scale(3); // 2 cores: the third job stays pending
    const ids = cluster.jobs().map((j) => j.id);
    const c = cluster;
    cluster = undefined;
    await c.close();
    assert.ok(gone(ids)(), `no job left in squeue, got ${squeueIds().join(", ")}`);
  });

  it("a job SLURM rejects fails scale() with the command, exit code and sbatch's error", async () => {
    cluster = await create({ queue: "no-such-partition" });
    const err = await cluster.scale(1).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof JobQueueError, `got ${err}`);
    assert.equal(err.code, "ERR_JOB_QUEUE");
    assert.equal(err.exitCode, 1);
    assert.match(err.command, /^sbatch --parsable \S+job\.sh$/);
    assert.match(err.message, /^job submission failed: `sbatch --parsable \S+` exited with code 1: sbatch: error: invalid partition specified: no-such-partition/);
    assert.match(err.stderr, /Invalid partition name specified/);
    assert.deepEqual(cluster.jobs(), []);
  });

  it("jobs do not outlive their program: cancelled at exit, and workers exit on their death timeout when it is killed", async () => {
    const child = (mode: string) => spawnProc(process.execPath, [path.join(ROOT, "dist/test/jobqueue/fixtures/cluster-child.js"), mode, tmp.dir], { env: { DASK_MPI_TS_LOG_LEVEL: "warn" } });
    const exiting = child("exit");
    const exitJob = (await waitFor("the job to run", () => /job (\d+)/.exec(exiting.stdout)?.[1], { timeoutMs: 60_000, proc: exiting }));
    await exiting.exited;
    await waitFor("the exit hook to cancel the job", gone([exitJob]), { timeoutMs: 60_000 });
    const killed = child("wait");
    const killedJob = await waitFor("the job to run", () => /job (\d+)/.exec(killed.stdout)?.[1], { timeoutMs: 60_000, proc: killed });
    killed.child.kill("SIGKILL");
    await killed.exited;
    // death timeout 3 s, then the worker and its job end by themselves
    await waitFor("the orphaned job to end", gone([killedJob]), { timeoutMs: 30_000 });
  });
});
