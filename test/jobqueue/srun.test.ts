// `srun dask-mpi-ts --no-mpi`: roles from srun's task ids in one allocation, without MPI, the
// tasks meeting through the scheduler file; srun's status is the script's.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { BIN, ROOT, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, exitWithin, spawnProc } from "../helpers/proc.js";
import { ensureSlurm } from "../helpers/queues.js";
import { skipIf } from "../helpers/skip.js";

const SCRIPT = path.join(ROOT, "dist/test/jobqueue/fixtures/srun-script.js");

describe("srun dask-mpi-ts --no-mpi (real SLURM) [jobqueue]", function () {
  this.timeout(90_000);
  const tmp = tempDir("dask-mpi-ts-srun-");
  before(function () {
    this.timeout(900_000);
    skipIf(this, ensureSlurm());
  });
  afterEach(cleanupProcs);
  after(() => tmp.remove());

  // -O: four tasks on the node's two CPUs
  const srun = (n: number, file: string, rest: string[]) =>
    spawnProc("srun", ["-O", "-n", String(n), "--chdir", tmp.dir, process.execPath, BIN("dask-mpi-ts"), "--no-mpi", "--scheduler-file", file, "--interface", "lo", ...rest], {
      env: { DASK_MPI_TS_LOG_LEVEL: "warn" },
    });

  it("task 0 schedules, task 1 runs the script, tasks 2.. work; srun exits with the script's status", async () => {
    const file = path.join(tmp.dir, "ok.json");
    const ok = srun(4, file, [SCRIPT, "a"]);
    const r = await exitWithin(ok, 60_000);
    assert.equal(r.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout.trim()), { doubled: [2, 4, 6], workers: ["2", "3"], argv: ["a"] });
    assert.ok(!existsSync(file), "the scheduler removed its file");
    const failing = srun(4, path.join(tmp.dir, "fail.json"), [SCRIPT, "3"]);
    assert.equal((await exitWithin(failing, 60_000)).code, 3, failing.stderr);
  });

  it("too few tasks, or no srun, fail with the reason", async () => {
    const small = srun(2, path.join(tmp.dir, "small.json"), [SCRIPT]);
    assert.equal((await exitWithin(small, 60_000)).code, 1);
    assert.match(small.stderr, /srun dask-mpi-ts --no-mpi SCRIPT needs at least 3 tasks, got 2: run with srun -n 3 or more/);
    const plain = spawnProc(process.execPath, [BIN("dask-mpi-ts"), "--no-mpi", "--scheduler-file", path.join(tmp.dir, "x.json")], { env: { SLURM_PROCID: "" } });
    assert.equal((await exitWithin(plain, 20_000)).code, 1);
    assert.match(plain.stderr, /--no-mpi takes the roles from srun \(SLURM_PROCID, SLURM_NTASKS\)/);
  });
});
