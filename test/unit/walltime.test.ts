// Walltime-aware job-queue clusters without a queue: walltimes in each system's format, the
// default margin, what each queue system says about a running job's time (outputs captured from
// the harness's SLURM 22.05 and Grid Engine 8.1.9; PBS from its documented qstat -f format, as
// Debian has no PBS), the margin in the job script, the learnt lead time and expiring jobs, and
// adapt's hysteresis and memory rule.
import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../src/config/defaults.js";
import { ConfigError } from "../../src/errors.js";
import { MEMORY_SCALE_UP, adaptStep, adaptiveTarget } from "../../src/jobqueue/adapt.js";
import { renderJobScript } from "../../src/jobqueue/job-script.js";
import { type AnyJobQueueOptions, resolveJobSpec } from "../../src/jobqueue/options.js";
import { LEAD, Renewal } from "../../src/jobqueue/renewal.js";
import { sge } from "../../src/jobqueue/sge.js";
import { slurm } from "../../src/jobqueue/slurm.js";
import type { JobSystem } from "../../src/jobqueue/system.js";
import {
  JobTimeParseError, defaultMarginMs, marginFlag, parseMarginFlag, pbsEnd, pbsTime, sgeEnd, sgeHardRuntime, sgeStart, slurmEnd, slurmTime, walltimeMs,
} from "../../src/jobqueue/walltime.js";
import { findJobEnd, retirementTime } from "../../src/jobqueue/job-end.js";
import type { Workload } from "../../src/scheduler/state.js";

const local = (y: number, mo: number, d: number, h: number, mi: number, s: number) => new Date(y, mo - 1, d, h, mi, s).getTime();

describe("walltimes and margins", () => {
  it("walltimeMs reads each system's format, and nothing it does not know", () => {
    assert.equal(walltimeMs("slurm", "30"), 30 * 60_000, "SLURM: a bare number is minutes");
    assert.equal(walltimeMs("slurm", "01:30"), 90_000, "SLURM: M:S");
    assert.equal(walltimeMs("slurm", "00:01:00"), 60_000);
    assert.equal(walltimeMs("slurm", "2-12"), (2 * 24 + 12) * 3_600_000, "SLURM: D-H");
    assert.equal(walltimeMs("slurm", "1-00:30"), 24 * 3_600_000 + 30 * 60_000, "SLURM: D-H:M");
    assert.equal(walltimeMs("slurm", "1-00:00:05"), 86_405_000);
    assert.equal(walltimeMs("sge", "90"), 90_000, "Grid Engine: seconds");
    assert.equal(walltimeMs("pbs", "02:00:00"), 7_200_000);
    assert.equal(walltimeMs("lsf", "01:30"), 90 * 60_000, "LSF: H:M");
    assert.equal(walltimeMs("lsf", "45"), 45 * 60_000, "LSF: minutes");
    assert.equal(walltimeMs("slurm", "soon"), undefined);
    assert.equal(walltimeMs("pbs", "1h"), undefined);
  });

  it("the default margin is a tenth of the walltime, 10 s to 5 minutes, at most half the walltime", () => {
    assert.equal(defaultMarginMs(60_000), 10_000);
    assert.equal(defaultMarginMs(30 * 60_000), 180_000);
    assert.equal(defaultMarginMs(24 * 3_600_000), 300_000);
    assert.equal(defaultMarginMs(12_000), 6000, "never more than half a (very short) walltime");
  });

  it("walltimeMargin becomes the workers' --walltime-margin; a margin as long as the walltime, or a bad one, fails naming it", () => {
    assert.equal(marginFlag(undefined, "slurm", "00:30:00"), null);
    assert.equal(marginFlag(false, "slurm", "00:30:00"), "none");
    assert.equal(marginFlag(15, "slurm", "00:01:00"), "15s");
    assert.equal(marginFlag("2m", "sge", "01:00:00"), "120s");
    assert.throws(() => marginFlag(60, "slurm", "00:01:00"), (e: ConfigError) => e.code === "ERR_CONFIG" && /walltimeMargin 60 must be shorter than the walltime "00:01:00"/.test(e.message));
    assert.throws(() => marginFlag("soonish", "slurm", null), /walltimeMargin must be a duration like 30s, 5m or 2h, got "soonish"/);
    assert.throws(() => marginFlag(0, "slurm", null), /walltimeMargin must be more than 0 seconds \(or false for none\), got 0/);
    assert.throws(() => marginFlag(-5, "slurm", null), /got -5/);
    assert.deepEqual(["auto", "none", "90s", " 2m "].map(parseMarginFlag), ["auto", "none", 90_000, 120_000]);
    assert.throws(() => parseMarginFlag("0"), /--walltime-margin must be auto, none or a duration more than 0, got "0"/);
    assert.throws(() => parseMarginFlag("later"), /--walltime-margin must be a duration/);
  });

  it("the job script passes the margin (or none) to the workers; without the option it says nothing (their default)", () => {
    const script = (system: JobSystem, o: AnyJobQueueOptions) =>
      renderJobScript(system, resolveJobSpec(system.name, o, { config: DEFAULT_CONFIG, node: "/n", workerEntry: "/w.js", className: system.className }), { schedulerFile: "/s.json" });
    assert.match(script(slurm, { cores: 1, memory: "1GB", walltime: "00:01:00", walltimeMargin: 15 }), /--nanny --death-timeout 60 --walltime-margin 15s\n$/);
    assert.match(script(sge, { cores: 1, memory: "1GB", walltimeMargin: false }), /--death-timeout 60 --walltime-margin none\n$/);
    assert.doesNotMatch(script(slurm, { cores: 1, memory: "1GB" }), /walltime-margin/);
    assert.throws(() => script(slurm, { cores: 1, memory: "1GB", walltime: "00:01:00", walltimeMargin: "1m" }), /must be shorter than the walltime/);
  });
});

describe("a job's end, as its queue system reports it", () => {
  const now = local(2026, 12, 2, 8, 45, 50);

  it("SLURM: squeue's time left (%L) and limit (%l)", () => {
    assert.deepEqual([slurmTime("0:59"), slurmTime("1:00"), slurmTime("1:02:03"), slurmTime("2-00:00:01"), slurmTime("UNLIMITED")], [59, 60, 3723, 172_801, null]);
    assert.throws(() => slurmTime("INVALID"), JobTimeParseError);
    // squeue --noheader --jobs 18 --format=%L|%l, in a job of 1 minute (SLURM 22.05)
    assert.deepEqual(slurmEnd.parse(["0:58|1:00\n"], now, "18", {}), { endsAt: now + 58_000, limitMs: 60_000 });
    assert.equal(slurmEnd.parse(["UNLIMITED|UNLIMITED\n"], now, "18", {}), null, "no time limit: no end");
    assert.throws(() => slurmEnd.parse([""], now, "18", {}), /cannot read the job's time left from ""/);
    assert.deepEqual(slurmEnd.commands("18", {}, "me"), [{ argv: ["squeue", "--noheader", "--jobs", "18", "--format=%L|%l"] }]);
    assert.equal(slurmEnd.jobId({ SLURM_JOB_ID: "18" }), "18");
    assert.equal(slurmEnd.jobId({}), undefined, "outside a job: no end");
  });

  it("Grid Engine: h_rt from qstat -j, the start from the qstat -u listing (local time)", () => {
    // qstat -j 14 (Grid Engine 8.1.9), abridged
    const qstatJ = `==============================================================
job_number:                 14
exec_file:                  job_scripts/14
submission_time:            Wed Dec  2 08:45:14 2026
owner:                      root
hard resource_list:         h_rt=90
mail_list:                  root@vm
job_name:                   i18a-probe-sge
scheduling info:            There are no messages available
`;
    const listing = `job-ID  prior   name       user         state submit/start at     queue                          slots ja-task-ID 
-----------------------------------------------------------------------------------------------------------------
     15 0.50000 i18a-probe root         r     12/02/2026 08:45:55 all.q@vm                           1        
     14 0.50000 i18a-probe root         r     12/02/2026 08:45:15 all.q@vm                           1        
     16 0.00000 i18a-probe root         qw    12/02/2026 08:45:50                                    1        
`;
    assert.equal(sgeHardRuntime(qstatJ), 90);
    assert.equal(sgeHardRuntime(qstatJ.replace("h_rt=90", "h_vmem=4G,h_rt=01:00:00")), 3600);
    assert.equal(sgeHardRuntime(qstatJ.replace("hard resource_list:         h_rt=90\n", "")), null, "no h_rt: no end");
    assert.throws(() => sgeHardRuntime("error: job 99 does not exist\n"), JobTimeParseError);
    assert.equal(sgeStart(listing, "14"), local(2026, 12, 2, 8, 45, 15));
    assert.throws(() => sgeStart(listing, "16"), /cannot read a running job 16/, "a pending job has not started");
    const env = { JOB_ID: "14", SGE_ROOT: "/var/lib/gridengine", SGE_TASK_ID: "undefined" };
    assert.equal(sgeEnd.jobId(env), "14");
    assert.equal(sgeEnd.jobId({ JOB_ID: "14" }), undefined, "JOB_ID alone is not Grid Engine's");
    assert.deepEqual(sgeEnd.parse([qstatJ, listing], now, "14", env), { endsAt: local(2026, 12, 2, 8, 46, 45), limitMs: 90_000 });
    assert.deepEqual(sgeEnd.commands("14", env, "me"), [{ argv: ["qstat", "-j", "14"] }, { argv: ["qstat", "-u", "me"] }]);
    // array tasks: the row of this task
    const tasks = `     20 0.50000 dask-worke root         r     12/02/2026 09:00:00 all.q@vm                           1 1
     20 0.50000 dask-worke root         r     12/02/2026 09:00:07 all.q@vm                           1 2
`;
    assert.equal(sgeStart(tasks, "20", "2"), local(2026, 12, 2, 9, 0, 7));
  });

  it("PBS: Torque's Walltime.Remaining; else Resource_List.walltime from stime or start_time; else minus resources_used.walltime", () => {
    const pro = `Job Id: 1234.pbsserver
    Job_Name = dask-worker
    job_state = R
    Resource_List.ncpus = 36
    Resource_List.walltime = 01:00:00
    resources_used.walltime = 00:05:00
    stime = Wed Dec  2 08:45:14 2026
`;
    assert.deepEqual(pbsTime(pro, now), { endsAt: local(2026, 12, 2, 9, 45, 14), limitMs: 3_600_000 });
    const torque = `Job Id: 77.torque
    Resource_List.walltime = 00:30:00
    start_time = 1796201100
    Walltime.Remaining = 1700
`;
    assert.deepEqual(pbsTime(torque, now), { endsAt: now + 1_700_000, limitMs: 1_800_000 });
    assert.deepEqual(pbsTime(torque.replace(/ {4}Walltime.Remaining.*\n/, ""), now), { endsAt: (1796201100 + 1800) * 1000, limitMs: 1_800_000 });
    assert.deepEqual(pbsTime(pro.replace(/ {4}stime.*\n/, ""), now), { endsAt: now + 55 * 60_000, limitMs: 3_600_000 }, "coarse, from the time used");
    assert.equal(pbsTime("Job Id: 5.s\n    Job_Name = x\n", now), null, "no walltime: no end");
    assert.deepEqual(pbsTime("Job Id: 5.s\n    start_time = 1796201100\n", now, { PBS_WALLTIME: "600" }), { endsAt: 1796201700_000, limitMs: 600_000 }, "Torque's PBS_WALLTIME");
    assert.throws(() => pbsTime(pro.replace(/stime = .*/, "stime = yesterday"), now), /cannot read stime from "yesterday"/);
    assert.throws(() => pbsTime("qstat: Unknown Job Id 5.s\n", now), JobTimeParseError);
    assert.equal(pbsEnd.jobId({ PBS_JOBID: "1234.pbsserver" }), "1234.pbsserver");
  });

  it("a worker outside any batch job has no end (no queue command is run), nor one told to ignore it", async () => {
    assert.equal(await findJobEnd({ HOME: "/root", JOB_ID: "3" }), undefined);
    assert.equal(await retirementTime(undefined, {}), undefined);
    assert.equal(await retirementTime("none", { SLURM_JOB_ID: "1" }), undefined, "none: squeue is not even asked");
  });
});

describe("replacing jobs ahead of their retirement (renewal)", () => {
  it("learns queue waits from submission to the last worker joining; the lead is twice the longest recent wait (at least 10 s) plus the check interval", () => {
    const r = new Renewal();
    assert.equal(r.leadMs(1000), LEAD.minMs + 1000, "no wait seen yet");
    r.submitted("1", 0, 2);
    assert.deepEqual(r.observe(new Map([["1", [{ joinedAt: 4000 }]]]), 5000, 1000), []);
    assert.deepEqual(r.waits, [], "one of its two workers: not started yet");
    r.observe(new Map([["1", [{ joinedAt: 4000 }, { joinedAt: 8000 }]]]), 9000, 1000);
    assert.deepEqual(r.waits, [8000]);
    assert.equal(r.leadMs(1000), 17_000);
    r.observe(new Map([["1", [{ joinedAt: 4000 }, { joinedAt: 8000 }]]]), 10_000, 1000);
    assert.deepEqual(r.waits, [8000], "each job once");
    for (let i = 2; i < 14; i++) {
      r.submitted(String(i), 0, 2);
      r.observe(new Map([[String(i), [{ joinedAt: 1000 }, { joinedAt: 1000 }]]]), 2000, 0);
    }
    assert.equal(r.waits.length, LEAD.samples, "recent waits only");
    assert.equal(r.leadMs(0), LEAD.minMs, "the long first wait was forgotten");
  });

  it("a job expires (once) when its first worker retires within the lead time; left() tells whether it ever ran", () => {
    const r = new Renewal();
    r.submitted("1", 0, 1);
    r.submitted("2", 0, 1);
    r.submitted("3", 0, 1);
    const seen = (retiresAt?: number) => [{ joinedAt: 2000, ...(retiresAt === undefined ? {} : { retiresAt }) }];
    const jobs = new Map([["1", seen(60_000)], ["2", seen(30_000)], ["3", seen()]]);
    // lead: 2 x 2 s -> the 10 s floor, + 1 s
    assert.deepEqual(r.observe(jobs, 18_000, 1000), []);
    assert.deepEqual(r.observe(jobs, 19_000, 1000), ["2"]);
    assert.deepEqual(r.observe(jobs, 20_000, 1000), [], "once");
    assert.equal(r.expiring("2"), true);
    assert.equal(r.expiring("1"), false);
    assert.deepEqual(r.observe(jobs, 1e9, 1000), ["1"], "a worker without an end never expires");
    r.submitted("4", 0, 1);
    assert.equal(r.left("4"), false, "no worker of it ever joined");
    assert.equal(r.left("3"), true);
    assert.equal(r.left("3"), undefined);
  });
});

describe("adapt without thrashing", () => {
  const work = (w: Partial<Workload>): Workload => ({
    queuedTasks: 0, queuedSeconds: 0, processingTasks: 0, processingSeconds: 0, workers: 0, nthreads: 0, nbytes: 0, memoryLimit: 0, unlimited: 0, idleWorkers: [], ...w,
  });

  it("scales down only after waitCount recommendations that held for minimumIdle without a break", () => {
    const o = { minimum: 0, maximum: 4, waitCount: 3, minimumIdleMs: 10_000 };
    let m = { downCount: 0 } as Parameters<typeof adaptStep>[3];
    // a pause: 8 s of "none needed", then work again
    for (let t = 0; t <= 8000; t += 1000) {
      const s = adaptStep(0, 4, o, m, t);
      assert.equal(s.scaleTo, null, `nothing released at ${t} ms`);
      m = s.memory;
    }
    const back = adaptStep(4, 4, o, m, 9000);
    assert.deepEqual(back, { scaleTo: null, memory: { downCount: 0 } }, "wanted again: the streak ends");
    // a real end: released once the recommendation held for 10 s
    m = back.memory;
    for (let t = 20_000; t < 30_000; t += 1000) {
      const s = adaptStep(1, 4, o, m, t);
      assert.equal(s.scaleTo, null);
      m = s.memory;
    }
    assert.equal(adaptStep(1, 4, o, m, 30_000).scaleTo, 1);
    // minimumIdle 0: Dask's waitCount alone
    assert.equal(adaptStep(0, 4, { ...o, minimumIdleMs: 0 }, { downCount: 2, downSince: 0 }, 0).scaleTo, 0);
  });

  it("Dask's memory rule: results filling more than 60 % of the workers' memory call for twice the workers", () => {
    const t = { targetDurationS: 5, threadsPerWorker: 1 };
    const busy = (nbytes: number, unlimited = 0) => work({ workers: 3, nthreads: 3, processingTasks: 3, processingSeconds: 1, nbytes, memoryLimit: 3e9, unlimited });
    assert.equal(MEMORY_SCALE_UP, 0.6);
    assert.equal(adaptiveTarget(busy(1.7e9), t), 3);
    assert.equal(adaptiveTarget(busy(1.9e9), t), 6);
    assert.equal(adaptiveTarget(busy(1.9e9, 1), t), 3, "a worker without a limit has room");
  });
});
