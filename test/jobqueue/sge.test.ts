// Job-queue clusters on a real single-node Grid Engine (Son of Grid Engine 8.1.9): scale up,
// compute, scale down, close, and a job qsub rejects.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client, JobQueueError, SGECluster } from "../../src/index.js";
import { tempDir } from "../helpers/cluster.js";
import { TAG_VAR, taggedPids, waitFor } from "../helpers/proc.js";
import { ensureSge, qstatIds } from "../helpers/queues.js";
import { skipIf } from "../helpers/skip.js";

const gone = (ids: string[]) => () => !qstatIds().some((id) => ids.includes(id));

describe("job-queue clusters on real Grid Engine [jobqueue]", function () {
  this.timeout(90_000);
  const tmp = tempDir("dask-mpi-ts-sge-");
  let tag = "";
  let cluster: SGECluster | undefined;

  before(function () {
    this.timeout(900_000);
    skipIf(this, ensureSge());
  });

  beforeEach(() => {
    tag = randomUUID();
    process.env[TAG_VAR] = tag;
  });

  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
    delete process.env[TAG_VAR];
    await waitFor("the jobs' processes to end", () => taggedPids(tag).length === 0, { timeoutMs: 15_000 });
  });

  after(() => tmp.remove());

  // Grid Engine does not hand the submit environment on: the test's tag goes with -v
  const create = (extra: Parameters<typeof SGECluster.create>[0] = {}) =>
    SGECluster.create({
      cores: 1, memory: "512MiB", interface: "lo", deathTimeout: 10, logDirectory: tmp.dir, sharedTempDirectory: tmp.dir, jobStatusInterval: 300,
      jobExtraDirectives: [`-v ${TAG_VAR}`], ...extra,
    });

  it("scale({ jobs: 2 }): two jobs, two workers join and compute; scale(1) ends one job, close() the other, none left in qstat", async () => {
    cluster = await create();
    assert.match(cluster.jobScript(), /^#\$ -N dask-worker\n#\$ -l h_rt=00:30:00\n/m);
    await cluster.scale({ jobs: 2 });
    const ids = cluster.jobs().map((j) => j.id);
    assert.equal(ids.length, 2);
    const client = await Client.connect(cluster);
    try {
      await client.waitForWorkers(2, { timeout: 60_000 });
      const names = Object.values((await client.schedulerInfo()).workers).map((w) => w.name).sort();
      assert.deepEqual(names, ids.map((id) => `dask-worker-${id}`).sort());
      assert.ok(taggedPids(tag).length >= 4, "the leak check sees the jobs' processes");
      assert.deepEqual(await client.gather(client.map((x: number) => x + 1, [1, 2, 3, 4, 5])), [2, 3, 4, 5, 6]);
      await cluster.scale(1);
      await waitFor("one job left", () => qstatIds().filter((id) => ids.includes(id)).length === 1, { timeoutMs: 30_000 });
    } finally {
      await client.close();
    }
    const c = cluster;
    cluster = undefined;
    await c.close();
    assert.ok(gone(ids)(), `no job left in qstat, got ${qstatIds().join(", ")}`);
  });

  it("jobArray: scale({ jobs: 3 }) submits one array job (qsub -t 1-3 -tc 1); workers are named after their tasks; explain() gives qstat -j's throttle message", async () => {
    cluster = await create({ jobArray: true, jobArrayThrottle: 1 });
    await cluster.scale({ jobs: 3 });
    const ids = cluster.jobs().map((j) => j.id).sort();
    const array = ids[0]!.split(".")[0]!;
    assert.deepEqual(ids, [1, 2, 3].map((i) => `${array}.${i}`));
    const client = await Client.connect(cluster);
    try {
      await client.waitForWorkers(1, { timeout: 60_000 });
      const names = Object.values((await client.schedulerInfo()).workers).map((w) => w.name);
      assert.ok(names.length === 1 && ids.includes(names[0]!.slice("dask-worker-".length)), `a worker named after its array task: ${names}`);
      const why = await waitFor("qstat -j's reason", async () => {
        const r = await cluster!.explain();
        return r.queue?.jobs.some((j) => /max_aj_instances/.test(j.reason ?? "")) ? r : undefined;
      }, { timeoutMs: 30_000 });
      assert.ok(why.answer.some((l) => /^sge: job \d+\.\d \(pool default\) is pending: not all array tasks may be started due to 'max_aj_instances' \(the array's throttle/.test(l)), why.answer.join("\n"));
      assert.equal(await client.submit((x: number) => x + 1, 1).result(), 2);
    } finally {
      await client.close();
    }
    const c = cluster;
    cluster = undefined;
    await c.close();
    assert.ok(gone(ids)(), `no task left in qstat, got ${qstatIds().join(", ")}`);
  });

  it("an array job the site refuses (max_aj_tasks 1): the cluster falls back to single jobs; refused both ways, scale() fails with qsub's error", async () => {
    // the site's cap on array tasks, for this test only (restored after it)
    const conf = execFileSync("qconf", ["-sconf", "global"], { encoding: "utf8" });
    const dir = mkdtempSync(path.join(tmpdir(), "sge-conf-"));
    const set = (text: string) => {
      writeFileSync(path.join(dir, "global"), text);
      execFileSync("qconf", ["-Mconf", "global"], { cwd: dir, stdio: "ignore" });
    };
    set(conf.replace(/^max_aj_tasks\s+\d+$/m, "max_aj_tasks 1"));
    try {
      cluster = await create({ jobArray: true });
      await cluster.scale({ jobs: 2 });
      const ids = cluster.jobs().map((j) => j.id);
      assert.equal(ids.length, 2);
      assert.ok(ids.every((id) => /^\d+$/.test(id)), `single jobs, not array tasks: ${ids}`);
      const why = await cluster.explain();
      assert.ok(why.answer.includes("sge: pool default: the queue refused its array jobs; it submits single jobs"), why.answer.join("\n"));
      await cluster.close();
      cluster = await create({ jobArray: true, queue: "no-such.q" });
      const err = await cluster.scale({ jobs: 2 }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof JobQueueError, `got ${err}`);
      assert.match(err.message, /^job submission failed: `qsub -t 1-2 \S+job-array\.sh` exited with code 1: Unable to run job: /);
      assert.deepEqual(cluster.jobs(), []);
    } finally {
      set(conf);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a job qsub rejects fails scale() with the command, exit code and qsub's error", async () => {
    cluster = await create({ queue: "no-such.q" });
    const err = await cluster.scale(1).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof JobQueueError, `got ${err}`);
    assert.equal(err.exitCode, 1);
    assert.match(err.message, /^job submission failed: `qsub \S+job\.sh` exited with code 1: Unable to run job: Job was rejected because job requests unknown queue "no-such.q"/);
  });
});
