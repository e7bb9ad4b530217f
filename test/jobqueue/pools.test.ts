// Issue 18 points 2-4 on a real single-node SLURM with two partitions (debug, the default, and
// batch; .ci/slurm-setup.sh): pools with their own partition and resources, adapt sizing each
// pool by the tasks needing what it offers, job arrays with a throttle, the caps on
// submissions, and "why pending?" merging the scheduler's reasons with SLURM's. At most two
// jobs run at once (CI's node has 2 CPUs); held jobs (--hold) stay pending and take none.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { Client, ConfigError, JobQueueError, SLURMCluster } from "../../src/index.js";
import { ROOT, tempDir } from "../helpers/cluster.js";
import { TAG_VAR, cleanupProcs, spawnProc, taggedPids, waitFor } from "../helpers/proc.js";
import { ensureSlurm, squeueIds } from "../helpers/queues.js";
import { skipIf } from "../helpers/skip.js";
import { CHROMIUM, browserUnavailable, launchBrowser } from "../helpers/browser.js";

const gone = (ids: string[]) => () => !squeueIds().some((id) => ids.some((j) => id === j || id.startsWith(`${j.split("_")[0]}_`)));
/** job id -> partition, as squeue lists this user's jobs (array tasks one a line) */
const partitions = () =>
  new Map(execFileSync("squeue", ["--noheader", "--array", "--format=%i %P"], { encoding: "utf8" }).split("\n").filter(Boolean).map((l) => l.trim().split(/\s+/) as [string, string]));

describe("job-queue pools, job arrays, caps and why pending on real SLURM [jobqueue]", function () {
  this.timeout(120_000);
  const tmp = tempDir("dask-mpi-ts-pools-");
  let tag = "";
  let cluster: SLURMCluster | undefined;
  let client: Client | undefined;

  before(function () {
    this.timeout(900_000);
    skipIf(this, ensureSlurm());
  });

  beforeEach(() => {
    tag = randomUUID();
    process.env[TAG_VAR] = tag;
  });

  afterEach(async () => {
    await client?.close();
    client = undefined;
    const ids = cluster?.jobs().map((j) => j.id) ?? [];
    await cluster?.close();
    cluster = undefined;
    delete process.env[TAG_VAR];
    await waitFor("the jobs to leave squeue", gone(ids), { timeoutMs: 30_000 });
    await waitFor("the jobs' processes to end", () => taggedPids(tag).length === 0, { timeoutMs: 15_000 });
    await cleanupProcs();
  });

  after(() => tmp.remove());

  const create = (extra: Parameters<typeof SLURMCluster.create>[0] = {}) =>
    SLURMCluster.create({ cores: 1, memory: "256MB", interface: "lo", deathTimeout: 10, logDirectory: tmp.dir, sharedTempDirectory: tmp.dir, jobStatusInterval: 300, ...extra });

  it("adapt sizes each pool by its demand: GPU tasks bring a job of the GPU pool only (partition batch), plain tasks one of the default pool (partition debug)", async () => {
    cluster = await create({ queue: "debug" });
    const script = cluster.addPool("gpu", { queue: "batch", resources: { GPU: 1 } });
    assert.match(script, /^#SBATCH -p batch$/m);
    assert.match(script, /--name dask-worker-gpu-\$SLURM_JOB_ID .*--resources GPU=1/);
    assert.deepEqual(cluster.pools(), ["default", "gpu"]);
    cluster.adapt({ minimum: 0, maximum: 1, interval: 300, waitCount: 3, minimumIdle: 0 });
    client = await Client.connect(cluster);
    const gpu = client.map((x: number) => x * 10, [1, 2, 3], { resources: { GPU: 1 } });
    assert.deepEqual(await client.gather(gpu, { timeout: 60_000 }), [10, 20, 30]);
    const jobs = cluster.jobs();
    assert.ok(jobs.length >= 1 && jobs.every((j) => j.pool === "gpu"), `only the GPU pool got jobs: ${JSON.stringify(jobs)}`);
    const gpuJob = jobs[0]!.id;
    assert.equal(partitions().get(gpuJob), "batch", "the GPU pool's job runs in its own partition");
    assert.deepEqual(jobs[0]!.workers, [`dask-worker-gpu-${gpuJob}`]);
    const plain = client.map((x: number) => x + 1, [1, 2, 3]);
    assert.deepEqual(await client.gather(plain, { timeout: 60_000 }), [2, 3, 4]);
    const plainJob = cluster.jobs().find((j) => j.pool === "default")?.id;
    // the plain tasks may have run on the GPU worker (it takes any task); adapt asked the default pool for them
    if (plainJob !== undefined && partitions().has(plainJob)) assert.equal(partitions().get(plainJob), "debug");
    await client.close();
    client = undefined;
    await waitFor("adapt to release both pools' jobs", () => cluster!.jobs().length === 0, { timeoutMs: 60_000 });
  });

  it("scale({ pool, n }) scales one pool; whyPending names the missing resource, the pool to add, and SLURM's reason for a held job; so does the dashboard (Chromium)", async () => {
    const noBrowser = browserUnavailable();
    cluster = await create({ schedulerOptions: { dashboardAddress: "127.0.0.1:0" } });
    cluster.addPool("held", { queue: "batch", resources: { GPU: 1 }, jobExtraDirectives: ["--hold"] });
    await cluster.scale({ pool: "held", n: 1 });
    const [job] = cluster.jobs();
    assert.equal(job?.pool, "held");
    client = await Client.connect(cluster);
    const f = client.submit((x: number) => x, 1, { resources: { GPU: 1 } });
    const fpga = client.submit((x: number) => x, 2, { resources: { FPGA: 1 } });
    const why = await waitFor("SLURM's reason for the held job", async () => {
      const w = await client!.whyPending(f.key);
      return w.queue?.jobs.find((j) => j.id === job!.id)?.reason === "JobHeldUser" ? w : undefined;
    }, { timeoutMs: 30_000 });
    assert.equal(why.state, "queued");
    assert.match(why.scheduler[0]!, /^no worker (is connected|offers resource GPU=1)/);
    assert.ok(why.answer.some((l) => l.startsWith(`slurm: job ${job!.id} (pool held) is pending: JobHeldUser (it is held: release it with scontrol release)`)), why.answer.join("\n"));
    const whyFpga = await cluster.explain(fpga.key);
    assert.ok(whyFpga.answer.some((l) => /no pool of the cluster offers FPGA=1: add one with cluster\.addPool/.test(l)), whyFpga.answer.join("\n"));
    const overall = await cluster.explain();
    assert.equal(overall.key, undefined);
    assert.ok(overall.scheduler.some((r) => /^2 queued task\(s\): no worker is connected$/.test(r)), overall.scheduler.join("\n"));
    // the command-line form asks the same scheduler through its scheduler file
    const cli = spawnProc(process.execPath, [path.join(ROOT, "bin/dask-jobqueue-ts.js"), "why", f.key, "--scheduler-file", cluster.schedulerFile]);
    await cli.exited;
    assert.match(cli.stdout, new RegExp(`^task ${f.key}: queued\\n  scheduler: no worker is connected\\n  slurm: job ${job!.id} \\(pool held\\) is pending: JobHeldUser`), cli.stdout + cli.stderr);
    if (noBrowser || !CHROMIUM) return;
    // the dashboard's page lists the pending job and SLURM's reason
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(cluster.scheduler.services.dashboard!, { timeout: 20_000 });
      const row = page.locator(`#jobs tr[data-job="${job!.id}"] td.reason`);
      await row.waitFor({ timeout: 20_000 });
      assert.match((await row.textContent()) ?? "", /^JobHeldUser \(it is held/);
      assert.match((await page.textContent("#why")) ?? "", /no worker is connected/);
    } finally {
      await browser.close();
    }
  });

  it("jobArray: scale(3) submits one array job of 3 tasks, throttled to 1 at a time (SLURM says JobArrayTaskLimit); its workers are named after their tasks", async () => {
    cluster = await create({ jobArray: true, jobArrayThrottle: 1 });
    await cluster.scale(3);
    const ids = cluster.jobs().map((j) => j.id).sort();
    const array = ids[0]!.split("_")[0]!;
    assert.deepEqual(ids, [0, 1, 2].map((i) => `${array}_${i}`));
    client = await Client.connect(cluster);
    await client.waitForWorkers(1, { timeout: 60_000 });
    const names = Object.values((await client.schedulerInfo()).workers).map((w) => w.name);
    assert.ok(names.every((n) => /^dask-worker-\d+_\d$/.test(n)) && names.some((n) => ids.includes(n.slice("dask-worker-".length))), `workers named after array tasks: ${names}`);
    const why = await waitFor("SLURM's throttle reason", async () => {
      const r = await cluster!.explain();
      return r.queue?.jobs.some((j) => j.reason === "JobArrayTaskLimit") ? r : undefined;
    }, { timeoutMs: 30_000 });
    assert.ok(why.answer.some((l) => /is pending: JobArrayTaskLimit \(the array's throttle \(jobArrayThrottle\)/.test(l)), why.answer.join("\n"));
    assert.ok(cluster.jobs().filter((j) => j.workers.length).length <= 1, "the throttle lets one task run");
    assert.equal(await client.submit((x: number) => x * 2, 21).result(), 42);
  });

  it("maxJobs and maxQueuedJobs cap submissions: scale(4) keeps 2 in the queue, the rest follow as jobs leave; explain() says so", async () => {
    cluster = await create({ maxJobs: 3, maxQueuedJobs: 2, jobExtraDirectives: ["--hold"] });
    await cluster.scale(4);
    assert.equal(cluster.jobs().length, 2, "maxQueuedJobs 2: two held jobs");
    const first = cluster.jobs().map((j) => j.id);
    const why = await cluster.explain();
    assert.ok(why.answer.some((l) => /held back by the cluster's caps \(maxJobs 3, maxQueuedJobs 2\)/.test(l)), why.answer.join("\n"));
    // one job leaves the queue (here: released and cancelled by hand): the cluster submits another
    execFileSync("scancel", [first[0]!]);
    await waitFor("a job in its place", () => cluster!.jobs().length === 2 && !cluster!.jobs().some((j) => j.id === first[0]), { timeoutMs: 30_000 });
  });

  it("a cap that holds submissions back is logged once, not at every status poll (logs of a cluster program)", async () => {
    const child = spawnProc(process.execPath, [path.join(ROOT, "dist/test/jobqueue/fixtures/capped-child.js"), tmp.dir], { env: { DASK_MPI_TS_LOG_LEVEL: "info" } });
    const first = await waitFor("its first job", () => /^jobs (\d+)$/m.exec(child.stdout)?.[1], { timeoutMs: 60_000, proc: child });
    execFileSync("scancel", [first]);
    await waitFor("the replacement and close", () => /^closed$/m.test(child.stdout), { timeoutMs: 90_000, proc: child });
    await child.exited;
    const capped = child.stderr.split("\n").filter((l) => l.includes('"msg":"job submissions capped"'));
    assert.equal(capped.length, 1, `logged once:\n${capped.join("\n")}`);
    assert.match(capped[0]!, /"wanted":3,"submitting":1,.*"reason":"the cap maxQueuedJobs 1 \(0 pending\) is reached; the rest follow as jobs leave"/);
    assert.match(child.stdout, /^replaced \d+$/m, "one job at a time under the cap");
  });

  it("bad input: a pool whose partition SLURM rejects fails scale({ pool }) with sbatch's error; bad pool names and unknown pools fail at once", async () => {
    cluster = await create();
    cluster.addPool("bad", { queue: "no-such-partition" });
    const err = await cluster.scale({ pool: "bad", n: 1 }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof JobQueueError, `got ${err}`);
    assert.equal(err.exitCode, 1);
    assert.match(err.message, /^job submission failed: `sbatch --parsable \S+job-bad\.sh` exited with code 1: sbatch: error: invalid partition specified: no-such-partition/);
    assert.throws(() => cluster!.addPool("bad"), (e: unknown) => e instanceof ConfigError && /already has a pool "bad"/.test(e.message));
    assert.throws(() => cluster!.addPool("a b"), /a pool name must be letters/);
    assert.throws(() => cluster!.addPool("gpu", { resources: { GPU: 0 } }), /resources\.GPU must be a number more than 0, got 0/);
    assert.throws(() => cluster!.scale({ pool: "nope", n: 1 }), /the cluster has no pool "nope" \(it has default, bad\)/);
    assert.deepEqual(cluster.jobs(), []);
  });
});
