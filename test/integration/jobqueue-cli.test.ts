// `dask-jobqueue-ts job-script`: the script users submit by hand, with repeatable list flags,
// the configuration's defaults, and errors naming the bad value.
import assert from "node:assert/strict";
import path from "node:path";
import { BIN, ROOT, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, exitWithin, spawnProc } from "../helpers/proc.js";
import { writeFileSync } from "node:fs";

const cli = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const p = spawnProc(process.execPath, [BIN("dask-jobqueue-ts"), ...args], { env });
  const { code } = await exitWithin(p, 20_000);
  return { code, stdout: p.stdout, stderr: p.stderr };
};

describe("dask-jobqueue-ts job-script", function () {
  this.timeout(30_000);
  const tmp = tempDir();
  afterEach(cleanupProcs);
  after(() => tmp.remove());

  it("prints a SLURM script with absolute paths, repeated list flags and the scheduler file", async () => {
    const r = await cli(["job-script", "slurm", "--cores", "8", "--memory", "28GB", "--queue", "regular", "--job-extra-directives", "--exclusive",
      "--job-extra-directives=--qos=high", "--job-script-prologue", "module load node", "--scheduler-file", path.join(tmp.dir, "s.json")]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `#!/usr/bin/env bash

#SBATCH -J dask-worker
#SBATCH -p regular
#SBATCH -n 1
#SBATCH --cpus-per-task=8
#SBATCH --mem=27G
#SBATCH -t 00:30:00
#SBATCH --exclusive
#SBATCH --qos=high
module load node
${process.execPath} ${path.join(ROOT, "bin/dask-worker-ts.js")} --scheduler-file ${path.join(tmp.dir, "s.json")} --nthreads 2 --nworkers 4 --memory-limit 7GB --name dask-worker-$SLURM_JOB_ID --nanny --death-timeout 60
`,
    );
  });

  it("takes cores and memory from the configuration's jobqueue section", async () => {
    const file = path.join(tmp.dir, "c.yaml");
    writeFileSync(file, "jobqueue:\n  pbs:\n    cores: 2\n    memory: 4GiB\n    queue: cfgq\n");
    const r = await cli(["job-script", "pbs"], { DASK_MPI_TS_CONFIG: file });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /#PBS -q cfgq\n#PBS -l select=1:ncpus=2:mem=4096MB\n/);
  });

  it("fails naming the system, or the missing cores and memory", async () => {
    const a = await cli(["job-script", "torque"]);
    assert.equal(a.code, 1);
    assert.match(a.stderr, /job-script needs a queue system, one of slurm, pbs, sge, lsf, oar, htcondor, got "torque"/);
    const b = await cli(["job-script", "sge", "--cores", "2"]);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /SGECluster needs cores and memory per job/);
  });
});
