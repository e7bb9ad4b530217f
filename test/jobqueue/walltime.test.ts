// Walltime-aware job-queue clusters on the real SLURM and Grid Engine of the harness: workers
// learn their job's end from the queue system and register their retirement; worker jobs with a
// 1-minute walltime run a 4-minute workload with replacements submitted ahead of retirements;
// scale() replaces a job whose worker died at its walltime; a walltime the queue rejects fails
// with the command, exit code and stderr. Every job is cancelled by id by close() (the jobs carry
// a job name of this file's own too).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { userInfo } from "node:os";
import { Client, ConfigError, JobQueueError, SGECluster, SLURMCluster } from "../../src/index.js";
import { sgeStart } from "../../src/jobqueue/walltime.js";
import { tempDir } from "../helpers/cluster.js";
import { TAG_VAR, taggedPids, waitFor } from "../helpers/proc.js";
import { ensureSge, ensureSlurm, squeueIds } from "../helpers/queues.js";
import { skipIf } from "../helpers/skip.js";

const JOB_NAME = "dmt-walltime-test";
const gone = (ids: string[]) => () => !squeueIds().some((id) => ids.includes(id));

/** SLURM's EndTime of a job (local time, as squeue prints it), ms since the epoch. */
function slurmEndTime(id: string): number {
  const text = execFileSync("squeue", ["--noheader", "--jobs", id, "--format=%e"], { encoding: "utf8" }).trim();
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)$/.exec(text);
  assert.ok(m, `squeue's end time: ${text}`);
  return new Date(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!).getTime();
}

describe("walltime-aware job-queue clusters on real SLURM [jobqueue]", function () {
  this.timeout(120_000);
  const tmp = tempDir("dask-mpi-ts-walltime-");
  let tag = "";
  let cluster: SLURMCluster | undefined;

  before(function () {
    this.timeout(900_000);
    skipIf(this, ensureSlurm());
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

  const create = (extra: Parameters<typeof SLURMCluster.create>[0] = {}) =>
    SLURMCluster.create({
      cores: 1, memory: "512MB", interface: "lo", deathTimeout: 10, logDirectory: tmp.dir, sharedTempDirectory: tmp.dir, jobStatusInterval: 300, jobName: JOB_NAME, ...extra,
    });

  it("a worker learns its job's end from squeue and registers its retirement: the end minus the default margin (a tenth of 10 minutes)", async () => {
    cluster = await create({ walltime: "00:10:00" });
    await cluster.scale(1);
    const id = cluster.jobs()[0]!.id;
    const ws = await waitFor("the worker to join", () => [...cluster!.scheduler.state.workers.values()][0], { timeoutMs: 60_000 });
    const expected = slurmEndTime(id) - 60_000;
    assert.ok(ws.retiresAt !== undefined, "the worker registered when it retires");
    // squeue's times have whole seconds, and the time left counts from when the worker asked for
    // it (squeue can take seconds on a loaded machine)
    assert.ok(Math.abs(ws.retiresAt - expected) <= 5000, `retires at ${new Date(ws.retiresAt).toISOString()}, expected ${new Date(expected).toISOString()}`);
    const client = await Client.connect(cluster);
    try {
      const info = Object.values((await client.schedulerInfo()).workers)[0]!;
      assert.equal(info.retiresAt, ws.retiresAt, "schedulerInfo() shows it");
    } finally {
      await client.close();
    }
  });

  it("a walltime sbatch rejects fails scale() with the command, exit code and stderr; a margin as long as the walltime fails at create", async () => {
    cluster = await create({ walltime: "soon" });
    const err = await cluster.scale(1).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof JobQueueError, `got ${err}`);
    assert.equal(err.exitCode, 255);
    assert.match(err.command, /^sbatch --parsable \S+job\.sh$/);
    assert.match(err.stderr, /Invalid --time specification/);
    assert.match(err.message, /^job submission failed: `sbatch --parsable \S+` exited with code 255: sbatch: error: Invalid --time specification/);
    assert.deepEqual(cluster.jobs(), []);
    const bad = await create({ walltime: "00:01:00", walltimeMargin: 60 }).then(() => undefined, (e: unknown) => e);
    assert.ok(bad instanceof ConfigError, `got ${bad}`);
    assert.match(bad.message, /walltimeMargin 60 must be shorter than the walltime "00:01:00"/);
    assert.throws(() => cluster!.adapt({ minimumIdle: "a while" }), /minimumIdle must be a duration like 30s, 5m or 2h, got "a while"/);
    assert.throws(() => cluster!.adapt({ minimumIdle: -1 }), (e: ConfigError) => e.code === "ERR_CONFIG" && /adapt minimumIdle must be at least 0, got -1/.test(e.message));
  });

  it("scale(1) replaces a job whose worker died at its walltime (workers told to ignore it: walltimeMargin false)", async function () {
    this.timeout(200_000);
    cluster = await create({ walltime: "00:01:00", walltimeMargin: false });
    await cluster.scale(1);
    const first = cluster.jobs()[0]!.id;
    const ws = await waitFor("the first worker to join", () => [...cluster!.scheduler.state.workers.values()][0], { timeoutMs: 60_000 });
    assert.equal(ws.retiresAt, undefined, "no retirement planned");
    await waitFor("the first job to end at its walltime", gone([first]), { timeoutMs: 120_000, intervalMs: 500 });
    const next = await waitFor("a replacement job", () => cluster!.jobs().find((j) => j.id !== first), { timeoutMs: 30_000 });
    await waitFor("its worker to join", () => [...cluster!.scheduler.state.workers.values()].some((w) => w.name === `${JOB_NAME}-${next.id}`), { timeoutMs: 60_000 });
    assert.equal(cluster.jobs().length, 1, "one job, as scale(1) asked");
  });

  it("worker jobs with a 1-minute walltime run a 4-minute workload of 2-s tasks (under scale(N), then adapt): no failed task, no lost result, never fewer than N-1 workers after warm-up, replacements submitted before retirements", async function () {
    this.timeout(600_000);
    // N = 2 single-thread workers in one job. The node has 2 SLURM CPUs and a replacement must run
    // beside the job it replaces: each job takes one CPU (jobCpu: 1); the tasks wait, they do not burn.
    const N = 2;
    // 2-s tasks on 2 threads (4 while a replacement overlaps the job it replaces): about 4 minutes
    const TASKS = 280;
    cluster = await create({ cores: 2, processes: 2, jobCpu: 1, memory: "1GB", walltime: "00:01:00", walltimeMargin: 15 });
    const c = cluster;
    const state = c.scheduler.state;
    const submitted = new Map<string, number>(); // job id -> first seen (just after sbatch returned)
    const retiresAt = new Map<string, number>(); // job id -> when its first worker retires, as it registered
    const left = new Set<string>(); // jobs whose workers joined and all left
    const joined = new Set<string>();
    let warm = false;
    let warmSince = 0;
    let adaptingSince = Infinity; // halfway, adapt({ minimum: 0, maximum: N }) takes over from scale(N)
    let fewest = Infinity;
    let samples = 0;
    const jobOf = (name: string) => name.slice(JOB_NAME.length + 1).replace(/-\d+$/, "");
    // the harness's SLURM may be shared (other test runs): their jobs take the node's 2 CPUs and
    // delay replacements, which then come too late; failures name them
    const others = new Set<string>();
    let ticks = 0;
    const watch = setInterval(() => {
      const now = Date.now();
      if (ticks++ % 20 === 0) {
        for (const line of execFileSync("squeue", ["--noheader", "--format=%i %j %T"], { encoding: "utf8" }).split("\n")) {
          const [id, name, st] = line.trim().split(/\s+/);
          if (id && name !== JOB_NAME) others.add(`${id} ${name} ${st}`);
        }
      }
      for (const j of c.jobs()) if (!submitted.has(j.id)) submitted.set(j.id, now);
      let active = 0;
      const present = new Set<string>();
      for (const w of state.workers.values()) {
        joined.add(w.name);
        const job = jobOf(w.name);
        present.add(job);
        if (w.retiresAt !== undefined) retiresAt.set(job, Math.min(retiresAt.get(job) ?? Infinity, w.retiresAt));
        if (!w.closing) active++;
      }
      for (const job of retiresAt.keys()) if (!present.has(job)) left.add(job);
      if (!warm && active >= N) [warm, warmSince] = [true, now];
      if (adaptingSince === Infinity && state.finished >= TASKS / 2) {
        adaptingSince = now;
        c.adapt({ minimum: 0, maximum: N, interval: 500 });
      }
      if (warm) {
        fewest = Math.min(fewest, active);
        samples++;
      }
    }, 100);
    const client = await Client.connect(c);
    try {
      await c.scale(N);
      const waitTwoSeconds = (i: number) => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
        return i * 3;
      };
      const t0 = Date.now();
      const fs = client.map(waitTwoSeconds, Array.from({ length: TASKS }, (_, i) => i));
      const values = await client.gather(fs, { timeout: 540_000 });
      const workloadS = Math.round((Date.now() - t0) / 1000);
      clearInterval(watch);
      const shared = others.size ? ` (other jobs on the node meanwhile: ${[...others].join(", ")})` : "";
      assert.deepEqual(values, Array.from({ length: TASKS }, (_, i) => i * 3), "every result, correct");
      assert.equal(state.failed, 0, "no task failed");
      assert.equal(state.finished, TASKS, `each task ran once: no result was lost and recomputed, no task was killed${shared}`);
      // jobs whose workers retired (their time came) and left, in the order they retired
      const retired = [...left].map((job) => [job, retiresAt.get(job)!] as const).sort((a, b) => a[1] - b[1]);
      assert.ok(retired.length >= 4, `jobs retired at their walltime: ${retired.length}`);
      const underAdapt = retired.filter(([, at]) => at > adaptingSince).length;
      assert.ok(underAdapt >= 2 && retired.length - underAdapt >= 2, `retirements under scale() and under adapt(): ${retired.length - underAdapt}, ${underAdapt}`);
      // every 100 ms when the machine is idle; a loaded one delays the timer (3-4 a second seen), so
      // what counts is that the workers were watched throughout: at least once a second
      const warmS = (Date.now() - warmSince) / 1000;
      assert.ok(warm && samples >= warmS, `sampled after warm-up: ${samples} times in ${Math.round(warmS)} s`);
      assert.ok(fewest >= N - 1, `never fewer than ${N - 1} workers after warm-up; fewest ${fewest}${shared}`);
      // every retirement came after the submission of the job taking its place: at the i-th, i + 1
      // jobs have retired and one more must have been submitted
      retired.forEach(([job, at], i) => {
        const before = [...submitted.values()].filter((t) => t < at).length;
        assert.ok(before >= i + 2, `job ${job} retired at ${new Date(at).toISOString()} with only ${before} jobs submitted before (${i + 1} retired by then)${shared}`);
      });
      process.stdout.write(`      (${workloadS} s, ${submitted.size} jobs, ${retired.length} retired (${underAdapt} under adapt), ${joined.size} workers joined, fewest active ${fewest}, queue waits ${JSON.stringify(c.queueWaits())} ms)\n`);
    } finally {
      clearInterval(watch);
      await client.close();
    }
  });
});

describe("walltime-aware job-queue clusters on real Grid Engine [jobqueue]", function () {
  this.timeout(90_000);
  const tmp = tempDir("dask-mpi-ts-walltime-sge-");
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

  it("a worker learns its job's end from h_rt and the start qstat shows: the end minus the default margin (30 s of 5 minutes)", async () => {
    cluster = await SGECluster.create({
      cores: 1, memory: "512MiB", interface: "lo", deathTimeout: 10, logDirectory: tmp.dir, sharedTempDirectory: tmp.dir, jobStatusInterval: 300,
      jobName: JOB_NAME, walltime: "00:05:00", jobExtraDirectives: [`-v ${TAG_VAR}`],
    });
    await cluster.scale(1);
    const id = cluster.jobs()[0]!.id;
    const ws = await waitFor("the worker to join", () => [...cluster!.scheduler.state.workers.values()][0], { timeoutMs: 60_000 });
    const start = sgeStart(execFileSync("qstat", ["-u", userInfo().username], { encoding: "utf8" }), id);
    const expected = start + 300_000 - 30_000;
    assert.ok(ws.retiresAt !== undefined, "the worker registered when it retires");
    assert.ok(Math.abs(ws.retiresAt - expected) <= 3000, `retires at ${new Date(ws.retiresAt).toISOString()}, expected ${new Date(expected).toISOString()}`);
  });
});
