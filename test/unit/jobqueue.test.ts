// Job-queue clusters without a queue: job scripts as exact text for every system and option
// combination, memory in each system's units, job ids and status listings parsed from real
// outputs, option resolution (explicit > configuration > defaults), and the scaling decisions.
import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../src/config/defaults.js";
import type { Config } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { adaptStep, adaptiveTarget, jobOfWorker, planScale } from "../../src/jobqueue/adapt.js";
import { renderJobScript } from "../../src/jobqueue/job-script.js";
import { lsf, lsfMemory } from "../../src/jobqueue/lsf.js";
import { type AnyJobQueueOptions, nprocesses, resolveJobSpec } from "../../src/jobqueue/options.js";
import { pbs, pbsMemory } from "../../src/jobqueue/pbs.js";
import { sge } from "../../src/jobqueue/sge.js";
import { slurm, slurmMemory } from "../../src/jobqueue/slurm.js";
import { type JobSystem, lookupJob, parseJobId } from "../../src/jobqueue/system.js";
import type { Workload } from "../../src/scheduler/state.js";

const script = (system: JobSystem, o: AnyJobQueueOptions, config: Config = DEFAULT_CONFIG) =>
  renderJobScript(system, resolveJobSpec(system.name, o, { config, node: "/usr/bin/node", workerEntry: "/opt/dmt/bin/dask-worker-ts.js", className: system.className }), {
    schedulerFile: "/home/me/sched.json",
  });
const W = "/usr/bin/node /opt/dmt/bin/dask-worker-ts.js --scheduler-file /home/me/sched.json";

describe("job-queue job scripts (exact text)", () => {
  it("SLURM: defaults, one worker per core up to 4 cores, memory in SLURM's units", () => {
    assert.equal(
      script(slurm, { cores: 1, memory: "2GB" }),
      `#!/usr/bin/env bash

#SBATCH -J dask-worker
#SBATCH -n 1
#SBATCH --cpus-per-task=1
#SBATCH --mem=2G
#SBATCH -t 00:30:00
${W} --nthreads 1 --memory-limit 2GB --name dask-worker-$SLURM_JOB_ID --nanny --death-timeout 60
`,
    );
  });

  it("SLURM: every option", () => {
    assert.equal(
      script(slurm, {
        cores: 8, memory: "28GB", processes: 1, queue: "regular", account: "P48500028", walltime: "02:00:00", interface: "ib0",
        jobExtraDirectives: ["--exclusive", "--constraint=haswell"], jobDirectivesSkip: ["-t "], jobScriptPrologue: ["module load node", "export X=1"],
        localDirectory: "$TMPDIR", workerExtraArgs: ["--resources", "GPU=1"], shebang: "#!/bin/bash -l", name: "w", jobName: "analysis",
        deathTimeout: 120, logDirectory: "/scratch/logs", nanny: false, jobCpu: 9, jobMem: "30G",
      }),
      `#!/bin/bash -l

#SBATCH -J analysis
#SBATCH -e /scratch/logs/analysis-%J.err
#SBATCH -o /scratch/logs/analysis-%J.out
#SBATCH -p regular
#SBATCH -A P48500028
#SBATCH -n 1
#SBATCH --cpus-per-task=9
#SBATCH --mem=30G
#SBATCH --exclusive
#SBATCH --constraint=haswell
module load node
export X=1
${W} --nthreads 8 --memory-limit 28GB --name w-$SLURM_JOB_ID --no-nanny --death-timeout 120 --local-directory $TMPDIR --resources GPU=1 --interface ib0
`,
    );
  });

  it("PBS: select statement with ncpus and mem in PBS units, or the resource spec given", () => {
    assert.equal(
      script(pbs, { cores: 36, memory: "100GB", queue: "premium", account: "P1", walltime: "02:00:00", logDirectory: "/l" }),
      `#!/usr/bin/env bash

#PBS -N dask-worker
#PBS -q premium
#PBS -A P1
#PBS -l select=1:ncpus=36:mem=94GB
#PBS -l walltime=02:00:00
#PBS -e /l/
#PBS -o /l/
${W} --nthreads 6 --nworkers 6 --memory-limit 16666666666 --name dask-worker-$PBS_JOBID --nanny --death-timeout 60
`,
    );
    assert.equal(
      script(pbs, { cores: 4, memory: "8GiB", processes: 1, resourceSpec: "nodes=1:ppn=4", jobDirectivesSkip: ["walltime"], jobExtraDirectives: ["-V"] }),
      `#!/usr/bin/env bash

#PBS -N dask-worker
#PBS -l nodes=1:ppn=4
#PBS -V
${W} --nthreads 4 --memory-limit 8GiB --name dask-worker-$PBS_JOBID --nanny --death-timeout 60
`,
    );
  });

  it("SGE: project, resource spec, h_rt, joined output in the working directory", () => {
    assert.equal(
      script(sge, { cores: 2, memory: "4GB", queue: "all.q", project: "proj", resourceSpec: "h_vmem=4G", jobExtraDirectives: ["-pe smp 2"] }),
      `#!/usr/bin/env bash

#$ -N dask-worker
#$ -q all.q
#$ -P proj
#$ -l h_vmem=4G
#$ -l h_rt=00:30:00
#$ -cwd
#$ -j y
#$ -pe smp 2
${W} --nthreads 1 --nworkers 2 --memory-limit 2GB --name dask-worker-$JOB_ID --nanny --death-timeout 60
`,
    );
  });

  it("LSF: -n with span for more than one core, -M in the cluster's units, quoted project", () => {
    const base = { cores: 15, memory: "25GB", processes: 3, queue: "general", project: "DaskOnLSF", lsfUnits: "mb" as const, logDirectory: "/l", walltime: "01:00" };
    assert.equal(
      script(lsf, base),
      `#!/usr/bin/env bash

#BSUB -J dask-worker
#BSUB -e /l/dask-worker-%J.err
#BSUB -o /l/dask-worker-%J.out
#BSUB -q general
#BSUB -P "DaskOnLSF"
#BSUB -n 15
#BSUB -R "span[hosts=1]"
#BSUB -M 25000
#BSUB -W 01:00
${W} --nthreads 5 --nworkers 3 --memory-limit 8333333333 --name dask-worker-$LSB_JOBID --nanny --death-timeout 60
`,
    );
    // one core: no span; -M defaults to kb; ncpus and mem override
    assert.match(script(lsf, { cores: 1, memory: "1GB" }), /#BSUB -n 1\n#BSUB -M 1000000\n#BSUB -W 00:30\n/);
    assert.match(script(lsf, { cores: 2, memory: "1GB", ncpus: 4, mem: "2GB", lsfUnits: "gb" }), /#BSUB -n 4\n#BSUB -R "span\[hosts=1\]"\n#BSUB -M 2\n/);
  });

  it("paths and names with shell-special characters are quoted; the job id is still expanded", () => {
    const spec = resolveJobSpec("slurm", { cores: 1, memory: "1GB", name: "my w" }, { config: DEFAULT_CONFIG, node: "/opt/node js/node", workerEntry: "/w.js", className: "SLURMCluster" });
    assert.match(renderJobScript(slurm, spec, { schedulerFile: "/a b/s.json" }), /^'\/opt\/node js\/node' \/w.js --scheduler-file '\/a b\/s.json' .* --name 'my w'-\$SLURM_JOB_ID /m);
  });

  it("configuration fills what the options leave out; options win", () => {
    const config = structuredClone(DEFAULT_CONFIG);
    Object.assign(config.jobqueue.slurm, { cores: 4, memory: 8e9, queue: "cfgq", "job-extra-directives": ["--qos=low"], "death-timeout": 30_000, name: "cfgname" });
    const text = script(slurm, { queue: "mine" }, config);
    assert.match(text, /#SBATCH -J cfgname\n#SBATCH -p mine\n/);
    assert.match(text, /--mem=8G\n/);
    assert.match(text, /#SBATCH --qos=low\n/);
    assert.match(text, /--nthreads 1 --nworkers 4 --memory-limit 2GB --name cfgname-\$SLURM_JOB_ID --nanny --death-timeout 30\n/);
  });

  it("bad options fail naming the option and the value", () => {
    assert.throws(() => script(slurm, {}), (e: ConfigError) => e.code === "ERR_CONFIG" && /SLURMCluster needs cores and memory per job/.test(e.message));
    assert.throws(() => script(slurm, { cores: 0, memory: "1GB" }), /cores must be a positive integer, got 0/);
    assert.throws(() => script(slurm, { cores: 2, memory: "lots" }), /memory must be a size like 10GB.*got "lots"/);
    assert.throws(() => script(slurm, { cores: 2, memory: "1GB", processes: 3 }), /processes must be at most cores \(2\), got 3/);
    // dask-worker-ts refuses several workers in one process (issue 12, point 8): fail at create, not in every job
    assert.throws(() => script(slurm, { cores: 2, memory: "1GB", processes: 2, nanny: false }), /processes 2 cannot be used with nanny: false/);
    assert.throws(() => script(slurm, { cores: 2, memory: "1GB", jobIdPattern: "\\d+" }), /jobIdPattern needs a group around the id/);
  });

  it("memory units: SLURM KiB/MiB/GiB rounded up, PBS the same under 10 units, LSF decimal", () => {
    assert.deepEqual([slurmMemory(1), slurmMemory(1234), slurmMemory(12345678), slurmMemory(1234567890), slurmMemory(15e9)], ["1K", "2K", "12M", "2G", "14G"]);
    assert.deepEqual([pbsMemory(1234), pbsMemory(12345678), pbsMemory(1234567890), pbsMemory(15e9)], ["1234B", "12MB", "1178MB", "14GB"]);
    assert.equal(lsfMemory(1234567890, "mb"), "1235");
    assert.deepEqual([1, 4, 6, 8, 9, 12, 36, 7].map(nprocesses), [1, 4, 3, 4, 3, 4, 6, 7]);
  });
});

describe("job-queue command output", () => {
  it("job ids: sbatch --parsable with banners and a cluster name, qsub (PBS, SGE), bsub, a custom pattern", () => {
    assert.equal(parseJobId("Welcome to Cluster 9!\nQuota: 100 hours\n12345\n", slurm.jobIdPattern), "12345");
    assert.equal(parseJobId("12345;cluster2\n", slurm.jobIdPattern), "12345");
    assert.equal(parseJobId("1234.pbsserver01\n", pbs.jobIdPattern), "1234.pbsserver01");
    assert.equal(parseJobId('Your job 42 ("dask-worker") has been submitted\n', sge.jobIdPattern), "42");
    assert.equal(parseJobId("Job <7766> is submitted to queue <normal>.\n", lsf.jobIdPattern), "7766");
    assert.equal(parseJobId("Submitted batch job 99\n", /batch job (\d+)/), "99");
    assert.equal(parseJobId("no id here", slurm.jobIdPattern), undefined);
  });

  it("status listings: pending, running and ending jobs of each system", () => {
    assert.deepEqual([...slurm.parseStatus("12 PENDING\n13 RUNNING\n14 COMPLETING\n15 CONFIGURING\n")], [["12", "pending"], ["13", "running"], ["14", "ending"], ["15", "pending"]]);
    const qstat = `job-ID  prior   name       user         state submit/start at     queue                          slots ja-task-ID
-----------------------------------------------------------------------------------------------------------------
      7 0.55500 dask-worke root         r     12/01/2026 10:00:01 all.q@vm                           1
      8 0.00000 dask-worke root         qw    12/01/2026 10:00:00                                    1
      9 0.55500 dask-worke root         dr    12/01/2026 10:00:01 all.q@vm                           1
`;
    assert.deepEqual([...sge.parseStatus(qstat)], [["7", "running"], ["8", "pending"], ["9", "ending"]]);
    const pbsOut = `
pbsserver:
                                                            Req'd  Req'd   Elap
Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S Time
--------------- -------- -------- ---------- ------ --- --- ------ ----- - -----
1234.pbsserver  me       workq    dask-worke  12345   1  36   94gb 02:00 R 00:01
1235.pbsserver  me       workq    dask-worke    --    1  36   94gb 02:00 Q   --
`;
    assert.deepEqual([...pbs.parseStatus(pbsOut)], [["1234.pbsserver", "running"], ["1235.pbsserver", "pending"]]);
    const bjobs = `JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME
7766    me      RUN   normal     login1      node12      dask-worker Dec  1 10:00
7767    me      PEND  normal     login1                  dask-worker Dec  1 10:00
`;
    assert.deepEqual([...lsf.parseStatus(bjobs)], [["7766", "running"], ["7767", "pending"]]);
    assert.equal(lsf.noJobs!("No unfinished job found\n"), true);
    assert.equal(lookupJob(new Map([["1234.pbsserver", "running"]]), "1234"), "running");
  });
});

describe("job-queue scaling decisions", () => {
  const work = (w: Partial<Workload>): Workload => ({
    queuedTasks: 0, queuedSeconds: 0, processingTasks: 0, processingSeconds: 0, workers: 0, nthreads: 0, nbytes: 0, memoryLimit: 0, unlimited: 0, idleWorkers: [], ...w,
  });
  const t = { targetDurationS: 5, threadsPerWorker: 1 };

  it("adaptiveTarget: expected seconds over the target duration, capped by the tasks, in workers", () => {
    assert.equal(adaptiveTarget(work({}), t), 0);
    assert.equal(adaptiveTarget(work({ queuedTasks: 1, queuedSeconds: 0.5 }), t), 1, "at least one worker while tasks wait and none is there");
    assert.equal(adaptiveTarget(work({ queuedTasks: 100, queuedSeconds: 50 }), t), 10);
    assert.equal(adaptiveTarget(work({ queuedTasks: 3, queuedSeconds: 3000 }), t), 3, "a few long tasks ask for no more than one thread each");
    assert.equal(adaptiveTarget(work({ queuedTasks: 100, queuedSeconds: 50 }), { targetDurationS: 5, threadsPerWorker: 4 }), 3);
    assert.equal(adaptiveTarget(work({ queuedTasks: 100, queuedSeconds: 50, workers: 2, nthreads: 8 }), t), 3, "the threads of the workers there");
    const idle = (name: string, nbytes = 0, memoryLimit = 1e9) => ({ name, nbytes, memoryLimit });
    assert.equal(adaptiveTarget(work({ processingTasks: 2, processingSeconds: 0.2, workers: 4, nthreads: 4, memoryLimit: 4e9, idleWorkers: [idle("a"), idle("b")] }), t), 2, "only idle workers go");
  });

  it("adaptiveTarget: idle workers holding results go only while the others have twice the room for them", () => {
    const idle = (name: string, nbytes = 0, memoryLimit = 1e9) => ({ name, nbytes, memoryLimit });
    const held = (nbytes: number, limits: number[]) =>
      adaptiveTarget(work({ workers: limits.length, nthreads: limits.length, nbytes, memoryLimit: limits.reduce((a, b) => a + b, 0), unlimited: limits.filter((l) => l === 0).length, idleWorkers: limits.map((l, i) => idle(`w${i}`, nbytes / limits.length, l)) }), t);
    assert.equal(held(0, [1e9, 1e9, 1e9]), 0);
    assert.equal(held(100, [1e9, 1e9, 1e9]), 1, "the last worker keeps the results (else they would be lost and recomputed)");
    assert.equal(held(0.8e9, [1e9, 1e9, 1e9]), 2, "2 x 0.8 GB needs two 1 GB workers");
    assert.equal(held(100, [0, 0]), 1, "workers without a limit: one stays");
  });

  it("adaptStep: up at once (to at most maximum), down only after waitCount recommendations in a row", () => {
    const o = { minimum: 0, maximum: 2, waitCount: 3 };
    assert.deepEqual(adaptStep(5, 0, o, { downCount: 0 }), { scaleTo: 2, memory: { downCount: 0 } });
    assert.deepEqual(adaptStep(5, 2, o, { downCount: 0 }), { scaleTo: null, memory: { downCount: 0 } }, "pending jobs count: no second submission");
    let m = { downCount: 0 };
    for (let i = 0; i < 2; i++) {
      const s = adaptStep(0, 2, o, m);
      assert.equal(s.scaleTo, null);
      m = s.memory;
    }
    assert.deepEqual(adaptStep(0, 2, o, m), { scaleTo: 0, memory: { downCount: 0 } });
    assert.deepEqual(adaptStep(0, 2, o, { downCount: 2 }).scaleTo, 0);
    assert.deepEqual(adaptStep(1, 2, o, { downCount: 1 }).scaleTo, null);
    assert.deepEqual(adaptStep(2, 2, o, { downCount: 2 }), { scaleTo: null, memory: { downCount: 0 } }, "a steady recommendation resets the count");
    assert.equal(adaptStep(0, 0, { minimum: 1, maximum: 2, waitCount: 3 }, { downCount: 0 }).scaleTo, 1, "minimum holds");
  });

  it("planScale: submit the missing jobs; close jobs without workers first, then idle ones, then the newest", () => {
    const jobs = [
      { id: "1", state: "running" as const, workers: ["w-1"], seq: 1 },
      { id: "2", state: "running" as const, workers: ["w-2"], seq: 2 },
      { id: "3", state: "pending" as const, workers: [], seq: 3 },
      { id: "4", state: "running" as const, workers: ["w-4"], seq: 4 },
    ];
    assert.deepEqual(planScale(jobs, 6, []), { submit: 2, close: [] });
    assert.deepEqual(planScale(jobs, 4, []), { submit: 0, close: [] });
    assert.deepEqual(planScale(jobs, 3, ["w-1"]), { submit: 0, close: ["3"] });
    assert.deepEqual(planScale(jobs, 1, ["w-2", "w-1"]), { submit: 0, close: ["3", "2", "1"] });
    assert.deepEqual(planScale(jobs, 1, []), { submit: 0, close: ["3", "4", "2"] });
  });

  it("jobOfWorker: worker names carry their job id", () => {
    assert.equal(jobOfWorker("dask-worker-123", "dask-worker", 1), "123");
    assert.equal(jobOfWorker("dask-worker-123-2", "dask-worker", 3), "123");
    assert.equal(jobOfWorker("dask-worker-1234.pbsserver", "dask-worker", 1), "1234.pbsserver");
    assert.equal(jobOfWorker("other-1", "dask-worker", 1), undefined);
  });
});
