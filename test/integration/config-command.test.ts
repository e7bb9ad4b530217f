// `dask-mpi-ts config`: the merged configuration and where each value came from.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { BIN, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, exitWithin, spawnProc } from "../helpers/proc.js";

describe("dask-mpi-ts config", function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(async () => {
    await cleanupProcs();
    tmp.remove();
  });

  it("prints each key with its source: file, then environment over it", async () => {
    mkdirSync(path.join(tmp.dir, ".config/dask-mpi-ts"), { recursive: true });
    const file = path.join(tmp.dir, ".config/dask-mpi-ts/worker.yaml");
    writeFileSync(file, "distributed:\n  worker:\n    nthreads: 4\n    memory:\n      spill: 0.75\n");
    const proc = spawnProc(process.execPath, [BIN("dask-mpi-ts"), "config"], {
      env: { HOME: tmp.dir, DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__SPILL: "false" },
    });
    assert.equal((await exitWithin(proc, 20_000)).code, 0, proc.stderr);
    assert.match(proc.stdout, new RegExp(`distributed\\.worker\\.nthreads = 4 +\\(${file.replace(/[.]/g, "\\.")}\\)`));
    assert.match(proc.stdout, /distributed\.worker\.memory\.spill = false +\(env DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__SPILL\)/);
    assert.match(proc.stdout, /distributed\.worker\.memory\.target = 0\.6 +\(default\)/);
  });

  it("a bad value fails naming the key, the value and its source", async () => {
    const proc = spawnProc(process.execPath, [BIN("dask-mpi-ts"), "config"], {
      env: { HOME: tmp.dir, DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__TARGET: "1.5" },
    });
    const { code } = await exitWithin(proc, 20_000);
    assert.equal(code, 2);
    assert.match(proc.stderr, /distributed\.worker\.memory\.target must be a fraction between 0 and 1 or false, got 1\.5 \(from env DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__TARGET\)/);
  });
});
