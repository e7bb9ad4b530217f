// Issue 18 points 2, 3 and 6 as text and pure functions: the pool a task counts for, the caps
// (reported once), Grid Engine's array rows, the OAR and HTCondor scripts, descriptions and
// command outputs (HTCondor: Debian 12 has no packages, so text only, as dask-jobqueue tests it).
import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../src/config/defaults.js";
import { hintFor } from "../../src/jobqueue/explain.js";
import { htcondor, submitDescription } from "../../src/jobqueue/htcondor.js";
import { renderJobScript } from "../../src/jobqueue/job-script.js";
import { oar } from "../../src/jobqueue/oar.js";
import { type AnyJobQueueOptions, resolveJobSpec } from "../../src/jobqueue/options.js";
import { SubmitLimits, poolFor } from "../../src/jobqueue/pools.js";
import { sge, sgeReason, sgeTasks } from "../../src/jobqueue/sge.js";
import { slurm } from "../../src/jobqueue/slurm.js";
import { type JobSystem, lookupJob, parseJobId } from "../../src/jobqueue/system.js";

const spec = (system: JobSystem, o: AnyJobQueueOptions) => resolveJobSpec(system.name, o, { config: DEFAULT_CONFIG, node: "/usr/bin/node", workerEntry: "/w.js", className: system.className });

describe("job-queue pools, arrays, caps, OAR and HTCondor (text) [unit]", () => {
  it("poolFor: a task counts for the pool offering what it needs with the fewest other resources; none when no pool offers it", () => {
    const pools: Array<{ name: string; resources: Record<string, number> | null }> = [{ name: "default", resources: null }, { name: "gpu", resources: { GPU: 1 } }, { name: "big", resources: { GPU: 2, MEM: 1 } }];
    assert.equal(poolFor(undefined, pools), "default");
    assert.equal(poolFor({ GPU: 1 }, pools), "gpu");
    assert.equal(poolFor({ GPU: 2 }, pools), "big");
    assert.equal(poolFor({ FPGA: 1 }, pools), undefined);
  });

  it("SubmitLimits: maxJobs and maxQueuedJobs hold submissions back, reported once until a call they do not hold back", () => {
    const l = new SubmitLimits(3, 2);
    assert.deepEqual(l.allow(4, 0, 0), { n: 2, capped: "maxQueuedJobs 2 (0 pending)", holding: true });
    assert.deepEqual(l.allow(2, 2, 2), { n: 0, holding: true }, "the second time: not reported again");
    assert.deepEqual(l.allow(2, 2, 0), { n: 1, holding: true });
    assert.deepEqual(l.allow(0, 3, 0), { n: 0, holding: false }, "nothing held back: the hold ends");
    assert.equal(l.allow(1, 3, 0).capped, "maxJobs 3 (3 in the queue)", "a new hold is reported again");
  });

  it("array commands: sbatch --array=0-N%K, qsub -t 1-N -tc K; task ids as the listings give them; array scripts name workers after their task", () => {
    const s = spec(slurm, { cores: 1, memory: "1GB", jobArray: true, jobArrayThrottle: 2 });
    assert.deepEqual(slurm.submitArray!("/j.sh", s, 4, 2).argv, ["sbatch", "--parsable", "--array=0-3%2", "/j.sh"]);
    assert.deepEqual(slurm.arrayTaskIds!("77", 2), ["77_0", "77_1"]);
    assert.match(renderJobScript(slurm, s, { schedulerFile: "/s.json", array: true }), /--name dask-worker-\$\{SLURM_ARRAY_JOB_ID\}_\$\{SLURM_ARRAY_TASK_ID\} /);
    assert.deepEqual(sge.submitArray!("/j.sh", s, 3, 1).argv, ["qsub", "-t", "1-3", "-tc", "1", "/j.sh"]);
    assert.equal(parseJobId('Your job-array 45.1-3:1 ("dask-worker") has been submitted', sge.jobIdPattern), "45");
    assert.deepEqual(sge.arrayTaskIds!("45", 3), ["45.1", "45.2", "45.3"]);
  });

  it("Grid Engine's listing with array tasks: ranges expanded, each task its own id; a task id never matches another task", () => {
    assert.deepEqual(sgeTasks("1-7:2"), [1, 3, 5, 7]);
    assert.deepEqual(sgeTasks("2,3"), [2, 3]);
    const out = [
      "job-ID  prior   name       user         state submit/start at     queue                          slots ja-task-ID ",
      "-----------------------------------------------------------------------------------------------------------------",
      "      1 0.50000 i18probe   root         r     12/02/2026 13:34:39 all.q@vm                           1 1",
      "      1 0.00000 i18probe   root         qw    12/02/2026 13:34:39                                    1 2,3",
      "      2 0.00000 plain      root         qw    12/02/2026 13:34:40                                    1",
    ].join("\n");
    const listing = sge.parseStatus(out);
    assert.deepEqual([...listing], [["1.1", "running"], ["1.2", "pending"], ["1.3", "pending"], ["2", "pending"]]);
    assert.equal(lookupJob(listing, "1.4"), undefined);
    assert.equal(sgeReason("job_number: 1\nscheduling info:            not all array tasks may be started due to 'max_aj_instances'\n"), "not all array tasks may be started due to 'max_aj_instances'");
    assert.match(hintFor("sge", "not all array tasks may be started due to 'max_aj_instances'")!, /jobArrayThrottle/);
    assert.match(hintFor("slurm", "QOSMaxJobsPerUserLimit")!, /set maxJobs/);
  });

  it("OAR: #OAR directives (name, queue, project, cores and walltime), oarsub -S, OAR_JOB_ID, oarstat rows and messages", () => {
    const s = spec(oar, { cores: 4, memory: "8GB", queue: "default", account: "proj", walltime: "01:00:00", logDirectory: "/logs" });
    const script = renderJobScript(oar, s, { schedulerFile: "/s.json" });
    assert.match(script, /^#!\/usr\/bin\/env bash\n\n#OAR -n dask-worker\n#OAR -q default\n#OAR --project proj\n#OAR -l \/nodes=1\/core=4,walltime=01:00:00\n#OAR --stdout \/logs\/dask-worker-%jobid%\.out\n#OAR --stderr \/logs\/dask-worker-%jobid%\.err\n/);
    assert.match(script, /--name dask-worker-\$OAR_JOB_ID /);
    assert.deepEqual(oar.submit("/j.sh", script, s).argv, ["oarsub", "-S", "/j.sh"]);
    assert.equal(parseJobId("[ADMISSION RULE] Set default walltime to 7200.\n[ADMISSION RULE] Modify resource description with type constraints\nOAR_JOB_ID=12\n", oar.jobIdPattern), "12");
    const rows = [
      "Job id    S User     Duration   System message",
      "--------- - -------- ---------- ------------------------------------------------",
      "12        R root        0:00:04 R=1,W=0:5:0,J=B,N=dask-worker (Karma=0.000,quota_ok)",
      "13        W root        0:00:00 R=1,W=0:5:0,J=B,N=dask-worker",
      "14        F root        0:01:00 R=1,W=0:5:0,J=B,N=dask-worker",
    ].join("\n");
    assert.deepEqual([...oar.parseStatus(rows)], [["12", "running"], ["13", "pending"], ["14", "ending"]]);
    const reasons = oar.parseReasons!(["Job_Id: 13\n    job_array_id = 13\n    state = Waiting\n    message = R=4,W=1:0:0,J=B (Karma=0.000,quota_ok)\n"], ["13"]);
    assert.equal(reasons.get("13"), "Waiting: R=4,W=1:0:0,J=B (Karma=0.000,quota_ok)");
  });

  it("HTCondor: a plain script, the submit description (cores, memory, walltime as periodic_remove, extra lines, queue N), condor_submit -terse ids, condor_q states", () => {
    const s = spec(htcondor, { cores: 2, memory: "4GiB", walltime: "00:10:00", jobExtraDirectives: ['requirements = (OpSys == "LINUX")'] });
    const script = renderJobScript(htcondor, s, { schedulerFile: "/s.json" });
    assert.doesNotMatch(script, /requirements/, "the extra directives go to the description, not the script");
    assert.match(script, /^#!\/usr\/bin\/env bash\n\n\/usr\/bin\/node \/w\.js --scheduler-file \/s\.json --nthreads 1 --nworkers 2 --memory-limit 2GiB --name dask-worker-\$DASK_JOBQUEUE_JOB_ID /);
    assert.equal(
      submitDescription("/j.sh", s, 3),
      [
        "universe = vanilla", "executable = /j.sh", "batch_name = dask-worker", "request_cpus = 2", "request_memory = 4096MB", "getenv = True",
        'environment = "DASK_JOBQUEUE_JOB_ID=$(ClusterId).$(ProcId)"', "periodic_remove = (JobStatus == 2) && (time() - EnteredCurrentStatus > 600)",
        'requirements = (OpSys == "LINUX")', "queue 3",
      ].join("\n") + "\n",
    );
    const cmd = htcondor.submit("/j.sh", script, s);
    assert.deepEqual(cmd.argv, ["condor_submit", "-terse"]);
    assert.match(cmd.stdin!, /\nqueue 1\n$/);
    assert.equal(parseJobId("12.0 - 12.0\n", htcondor.jobIdPattern), "12.0");
    assert.deepEqual(htcondor.arrayTaskIds!("12.0", 3), ["12.0", "12.1", "12.2"]);
    assert.deepEqual([...htcondor.parseStatus("12.0 2\n12.1 1\n12.2 5\n12.3 4\n")], [["12.0", "running"], ["12.1", "pending"], ["12.2", "pending"], ["12.3", "ending"]]);
    assert.equal(htcondor.parseReasons!(["12.1 undefined no match found\n"], ["12.1"]).get("12.1"), "no match found");
  });
});
