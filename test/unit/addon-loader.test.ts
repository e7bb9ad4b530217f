// The addon loader, argument validation and launcher-environment functions, without MPI.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AddonLoadError, ConfigError, MpiError } from "../../src/errors.js";
import {
  Mpi,
  addonCandidates,
  packageRoot,
  toMpiError,
  validateBcastData,
  validateExitCode,
  validateRoot,
  validateTimeout,
} from "../../src/mpi/addon.js";
import { checkWorldMatchesLauncher, describeMpi, detectLauncher, launcherEnvKeys, mpiFamily, slurmTasksOnNode } from "../../src/deploy/launcher-env.js";

const OMPI_VERSION = "Open MPI v4.1.4, package: Debian OpenMPI, ident: 4.1.4, repo rev: v4.1.4, May 26, 2022";
const MPICH_VERSION = "MPICH Version:\t4.0.2\nMPICH Release date:\tThu Apr  7 12:34:45 CDT 2022\nMPICH Device:\tch4:ucx";

describe("addon loader", function () {
  let tmp: string;
  const savedEnv = process.env.DASK_MPI_TS_ADDON;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dask-mpi-ts-loader-"))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  afterEach(() => {
    if (savedEnv === undefined) delete process.env.DASK_MPI_TS_ADDON;
    else process.env.DASK_MPI_TS_ADDON = savedEnv;
  });

  it("a missing override path: AddonLoadError listing it (ENOENT) and how to build", function () {
    const bad = path.join(tmp, "nope", "dask_mpi_ts.node");
    assert.throws(
      () => Mpi.load({ addonPath: bad }),
      (err: unknown) => {
        assert.ok(err instanceof AddonLoadError);
        assert.equal(err.code, "ERR_ADDON_LOAD");
        assert.deepEqual(err.tried, [bad]);
        assert.ok(err.message.includes(`${bad}: not found (ENOENT)`), err.message);
        assert.ok(err.message.includes("npm run build:addon"), err.message);
        assert.ok(err.message.includes("apt-get install openmpi-bin libopenmpi-dev"), err.message);
        return true;
      },
    );
  });

  it("the override from env DASK_MPI_TS_ADDON is tried alone, with no fallback to other builds", function () {
    const bad = path.join(tmp, "env-nope.node");
    process.env.DASK_MPI_TS_ADDON = bad;
    assert.deepEqual(addonCandidates(), [bad]);
    assert.throws(() => Mpi.load(), (err: unknown) => err instanceof AddonLoadError && err.message.includes(bad));
  });

  it("a file that is not a shared object: the dlopen error is in the message", function () {
    const junk = path.join(tmp, "junk.node");
    fs.writeFileSync(junk, "not an ELF file");
    assert.throws(
      () => Mpi.load({ addonPath: junk }),
      (err: unknown) => err instanceof AddonLoadError && err.message.includes(`${junk}: `) && /invalid ELF header|too short/.test(err.message),
    );
  });

  it("without an override tries the cmake-js and node-gyp build paths of the package", function () {
    delete process.env.DASK_MPI_TS_ADDON;
    const root = packageRoot();
    assert.ok(fs.existsSync(path.join(root, "binding.gyp")));
    assert.deepEqual(addonCandidates(), [
      path.join(root, "build", "Release", "dask_mpi_ts.node"),
      path.join(root, "build", "gyp", "Release", "dask_mpi_ts.node"),
    ]);
  });

  it("importing the package (src/index.ts) or the loader does not load the addon", function () {
    const index = path.join(packageRoot(), "dist", "src", "index.js");
    const loader = path.join(packageRoot(), "dist", "src", "mpi", "addon.js");
    const code = `
      import { createRequire } from "node:module";
      for (const m of process.argv.slice(1)) await import(m);
      const cache = Object.keys(createRequire(import.meta.url).cache);
      process.stdout.write(JSON.stringify({ native: cache.filter((k) => k.endsWith("dask_mpi_ts.node")), ucx: process.env.UCX_MEM_EVENTS ?? null }));`;
    const modules = [loader, ...(fs.existsSync(index) ? [index] : [])];
    const env = { ...process.env };
    delete env.UCX_MEM_EVENTS;
    const out = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", code, ...modules], { encoding: "utf8", env, timeout: 20_000 }));
    assert.deepEqual(out, { native: [], ucx: null });
  });
});

describe("argument validation before the native layer", function () {
  it("root", function () {
    assert.equal(validateRoot(2, 3), 2);
    assert.throws(() => validateRoot(3, 3), { name: "RangeError", message: "root must be an integer in [0, 3), got 3" });
    assert.throws(() => validateRoot(-1, 3), { message: "root must be an integer in [0, 3), got -1" });
    assert.throws(() => validateRoot(1.5, 3), { message: "root must be an integer in [0, 3), got 1.5" });
    assert.throws(() => validateRoot("0", 3), { message: 'root must be an integer in [0, 3), got "0"' });
  });

  it("abort code", function () {
    assert.equal(validateExitCode(0), 0);
    assert.equal(validateExitCode(255), 255);
    assert.throws(() => validateExitCode(256), { name: "RangeError", message: "abort code must be an integer from 0 to 255, got 256" });
    assert.throws(() => validateExitCode(-1), { message: "abort code must be an integer from 0 to 255, got -1" });
    assert.throws(() => validateExitCode(NaN), { message: "abort code must be an integer from 0 to 255, got NaN" });
  });

  it("timeout", function () {
    assert.equal(validateTimeout(10), 10);
    assert.throws(() => validateTimeout(0), { name: "RangeError", message: "timeoutMs must be a positive number of milliseconds, got 0" });
    assert.throws(() => validateTimeout(-5, "bcast timeoutMs"), { message: "bcast timeoutMs must be a positive number of milliseconds, got -5" });
    assert.throws(() => validateTimeout(Infinity), { message: "timeoutMs must be a positive number of milliseconds, got Infinity" });
  });

  it("bcast data: required on the root, bounded, ignored elsewhere", function () {
    assert.equal(validateBcastData(null, false, 0, 8), null);
    assert.equal(validateBcastData(Buffer.from("ignored"), false, 0, 8), null);
    const u8 = new Uint8Array([1, 2, 3, 4]).subarray(1, 3);
    const b = validateBcastData(u8, true, 0, 8)!;
    assert.ok(Buffer.isBuffer(b));
    assert.deepEqual([...b], [2, 3]);
    assert.equal(b.buffer, u8.buffer, "no copy");
    assert.throws(() => validateBcastData(null, true, 2, 8), { name: "TypeError", message: "bcast data must be a Uint8Array on the root rank 2, got null" });
    assert.throws(() => validateBcastData("text", true, 0, 8), { message: 'bcast data must be a Uint8Array on the root rank 0, got "text"' });
    assert.throws(() => validateBcastData(Buffer.alloc(9), true, 0, 8), { name: "RangeError", message: "bcast data must be at most 8 bytes, got 9" });
  });
});

describe("native errors become MpiError", function () {
  const native = (fields: Record<string, unknown>) => Object.assign(new Error("native"), fields) as never;

  it("Open MPI: the class name is not repeated", function () {
    const err = toMpiError(native({ mpiFunction: "MPI_Ibcast", mpiClass: 8, mpiClassName: "MPI_ERR_ROOT", mpiString: "MPI_ERR_ROOT: invalid root", rank: 2 }));
    assert.ok(err instanceof MpiError);
    assert.equal(err.code, "ERR_MPI");
    assert.equal(err.message, "MPI_Ibcast failed on rank 2: MPI_ERR_ROOT: invalid root (class 8)");
    assert.equal(err.mpiClass, 8);
    assert.equal(err.mpiString, "MPI_ERR_ROOT: invalid root");
    assert.equal(err.rank, 2);
    assert.ok(err.cause instanceof Error);
  });

  it("MPICH: the message keeps the first phrase, mpiString the error stack", function () {
    const stack = "Invalid root, error stack:\ninternal_Ibcast(115): MPI_Ibcast(...) failed\ninternal_Ibcast(62).: Invalid root (value given was 8)";
    const err = toMpiError(native({ mpiFunction: "MPI_Ibcast", mpiClass: 7, mpiClassName: "MPI_ERR_ROOT", mpiString: stack, rank: 0 }));
    assert.equal(err.message, "MPI_Ibcast failed on rank 0: MPI_ERR_ROOT: Invalid root (class 7)");
    assert.equal(err.mpiString, stack);
  });
});

describe("launcher environment", function () {
  it("plain node: no launcher", function () {
    assert.deepEqual(detectLauncher({ PATH: "/usr/bin", HOME: "/root" }), { launcher: "none" });
  });

  it("Open MPI mpirun", function () {
    const env = { OMPI_COMM_WORLD_RANK: "2", OMPI_COMM_WORLD_SIZE: "4", OMPI_COMM_WORLD_LOCAL_RANK: "0", OMPI_COMM_WORLD_LOCAL_SIZE: "2", PMIX_RANK: "2" };
    assert.deepEqual(detectLauncher(env), { launcher: "openmpi", rank: 2, size: 4, localRank: 0, localSize: 2 });
  });

  it("MPICH hydra", function () {
    const env = { PMI_RANK: "1", PMI_SIZE: "4", PMI_FD: "6", MPI_LOCALRANKID: "1", MPI_LOCALNRANKS: "4", HYDRA_CONTROL_FD: "5" };
    assert.deepEqual(detectLauncher(env), { launcher: "hydra", rank: 1, size: 4, localRank: 1, localSize: 4 });
  });

  it("hydra inside a Slurm job (proxies started by srun) is still hydra", function () {
    const env = { PMI_RANK: "3", PMI_SIZE: "8", MPI_LOCALRANKID: "3", MPI_LOCALNRANKS: "4", SLURM_PROCID: "0", SLURM_STEP_ID: "1", SLURM_NTASKS: "2" };
    assert.equal(detectLauncher(env).launcher, "hydra");
    assert.equal(detectLauncher(env).size, 8);
  });

  it("Slurm srun (also with --mpi=pmix / pmi2 variables)", function () {
    const base = { SLURM_PROCID: "5", SLURM_NTASKS: "16", SLURM_STEP_NUM_TASKS: "8", SLURM_STEP_ID: "0", SLURM_LOCALID: "1" };
    assert.deepEqual(detectLauncher(base), { launcher: "slurm", rank: 5, size: 8, localRank: 1 });
    // srun --no-mpi divides "auto" memory among this node's tasks
    assert.equal(detectLauncher({ ...base, SLURM_STEP_TASKS_PER_NODE: "3(x2),2", SLURM_NODEID: "2" }).localSize, 2);
    assert.deepEqual([0, 1, 2, 3].map((n) => slurmTasksOnNode("3(x2),2", n)), [3, 3, 2, undefined]);
    assert.equal(slurmTasksOnNode("4", 0), 4);
    assert.equal(slurmTasksOnNode("garbage", 0), undefined);
    assert.equal(detectLauncher({ ...base, PMIX_RANK: "5" }).launcher, "slurm");
    assert.equal(detectLauncher({ ...base, PMI_RANK: "5", PMI_SIZE: "8", PMI_FD: "7" }).launcher, "slurm");
  });

  it("a Slurm batch script (no job step) is a single process, not a launched rank", function () {
    assert.deepEqual(detectLauncher({ SLURM_PROCID: "0", SLURM_NTASKS: "16", SLURM_JOB_ID: "42" }), { launcher: "none" });
  });

  it("launcherEnvKeys: the variables a forked child must not inherit", function () {
    const env = {
      PATH: "/usr/bin",
      OMPI_COMM_WORLD_RANK: "1",
      OMPI_MCA_btl: "self",
      PMIX_RANK: "1",
      PMI_FD: "6",
      PMI_RANK: "1",
      HYDRA_CONTROL_FD: "5",
      MPI_LOCALRANKID: "0",
      MPI_LOCALNRANKS: "2",
      MPI_OTHER: "keep",
      SLURM_PROCID: "0",
      DASK_MPI_TS_ADDON: "/x.node",
    };
    assert.deepEqual(launcherEnvKeys(env).sort(), [
      "HYDRA_CONTROL_FD",
      "MPI_LOCALNRANKS",
      "MPI_LOCALRANKID",
      "OMPI_COMM_WORLD_RANK",
      "OMPI_MCA_btl",
      "PMIX_RANK",
      "PMI_FD",
      "PMI_RANK",
    ]);
  });

  it("names the MPI from its library version", function () {
    assert.equal(describeMpi(OMPI_VERSION), "Open MPI v4.1.4");
    assert.equal(describeMpi(MPICH_VERSION), "MPICH 4.0.2");
    assert.equal(mpiFamily(OMPI_VERSION), "openmpi");
    assert.equal(mpiFamily(MPICH_VERSION), "mpich");
    assert.equal(mpiFamily("Something MPI 1.0"), "other");
  });

  it("an Open MPI addon under hydra with 4 ranks: ConfigError saying so, and how to fix it", function () {
    const launcher = detectLauncher({ PMI_RANK: "0", PMI_SIZE: "4", MPI_LOCALRANKID: "0" });
    assert.throws(
      () => checkWorldMatchesLauncher({ size: 1, libraryVersion: OMPI_VERSION, addonPath: "/p/build/Release/dask_mpi_ts.node" }, launcher),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.code, "ERR_CONFIG");
        assert.equal(
          err.message,
          "MPI reports a world of 1 rank but the hydra launcher started 4: the addon was built against Open MPI v4.1.4 " +
            "(/p/build/Release/dask_mpi_ts.node) — rebuild it for this MPI with MPICC=mpicc.mpich npm run build:addon " +
            "(or point DASK_MPI_TS_ADDON at such a build), or launch with that MPI's mpirun.openmpi",
        );
        return true;
      },
    );
  });

  it("an MPICH addon under Open MPI's mpirun: the hint names mpicc.openmpi and mpiexec.hydra", function () {
    const launcher = detectLauncher({ OMPI_COMM_WORLD_RANK: "0", OMPI_COMM_WORLD_SIZE: "2" });
    assert.throws(() => checkWorldMatchesLauncher({ size: 1, libraryVersion: MPICH_VERSION }, launcher), {
      message:
        "MPI reports a world of 1 rank but the Open MPI launcher started 2: the addon was built against MPICH 4.0.2 — " +
        "rebuild it for this MPI with MPICC=mpicc.openmpi npm run build:addon (or point DASK_MPI_TS_ADDON at such a build), " +
        "or launch with that MPI's mpiexec.hydra",
    });
  });

  it("a matching world, or no launcher, passes", function () {
    checkWorldMatchesLauncher({ size: 4, libraryVersion: OMPI_VERSION }, { launcher: "openmpi", rank: 0, size: 4 });
    checkWorldMatchesLauncher({ size: 1, libraryVersion: OMPI_VERSION }, { launcher: "none" });
    checkWorldMatchesLauncher({ size: 1, libraryVersion: OMPI_VERSION }, { launcher: "hydra", size: 1 });
  });
});
