// dask-mpi parity (issue 14, point 8): which rank does what (mpi/layout.ts), the minimum world
// sizes and their messages, execute()'s rank options, and the dask-mpi-ts flags
// --scheduler-rank, --inclusive-workers, --worker-options, --protocol. Pure: no MPI here
// (test/mpi/execute.test.ts runs them under mpirun).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseDaskMpiArgs, type DaskMpiArgs } from "../../src/cli/dask-mpi.js";
import { clusterConfig, workerSettings } from "../../src/deploy/settings.js";
import { layoutOf } from "../../src/mpi/execute.js";
import { checkWorldSize, minWorldSize, roleName, rolesOf } from "../../src/mpi/layout.js";

function args(argv: string[]): DaskMpiArgs {
  const a = parseDaskMpiArgs(argv);
  assert.ok(a !== "help");
  return a;
}

describe("MPI rank layout (execute, --scheduler-rank, --inclusive-workers)", () => {
  // protects: every named rank exists, and there is a worker, as dask-mpi's formula plus one worker
  it("computes the minimum world size of each layout", () => {
    const cases: Array<[Parameters<typeof minWorldSize>[0], number]> = [
      [{ schedulerRank: 0, clientRank: 1, exclusiveWorkers: true }, 3], // execute()/initialize() defaults
      [{ schedulerRank: 0, exclusiveWorkers: true }, 2], // dask-mpi-ts
      [{ schedulerRank: 2, exclusiveWorkers: true }, 3], // dask-mpi-ts --scheduler-rank 2 (as dask-mpi: 1 + max(2, 1))
      [{ schedulerRank: 0, exclusiveWorkers: false }, 1], // --inclusive-workers: rank 0 is scheduler and worker
      [{ schedulerRank: 1, clientRank: 1, exclusiveWorkers: true }, 2], // scheduler and client share rank 1; rank 0 works
      [{ schedulerRank: 1, clientRank: 1, exclusiveWorkers: false }, 2],
      [{ schedulerRank: 0, clientRank: 0, exclusiveWorkers: false }, 1],
      [{ schedulerRank: 4, clientRank: 1, exclusiveWorkers: false }, 5],
    ];
    for (const [layout, needed] of cases) assert.equal(minWorldSize(layout), needed, JSON.stringify(layout));
  });

  // protects: a too small world names the sizes and where each role goes (never a hang)
  it("names the sizes and the layout when the world is too small", () => {
    const e = checkWorldSize({ schedulerRank: 0, clientRank: 1, exclusiveWorkers: true }, 2, "execute()");
    assert.equal(e?.code, "ERR_WORLD_TOO_SMALL");
    assert.equal(e?.message, "execute() needs at least 3 MPI ranks, got 2 (scheduler on rank 0, client on rank 1, and at least one rank for workers): run with mpirun -np 3 or more");
    const out = checkWorldSize({ schedulerRank: 5, exclusiveWorkers: true }, 4, "dask-mpi-ts");
    assert.equal(out?.message, "dask-mpi-ts needs at least 6 MPI ranks, got 4 (scheduler on rank 5, and at least one rank for workers): run with mpirun -np 6 or more");
    assert.equal(checkWorldSize({ schedulerRank: 0, clientRank: 1, exclusiveWorkers: true }, 3, "execute()"), undefined);
  });

  it("gives each rank its roles; without exclusive workers every rank runs a worker", () => {
    const excl = { schedulerRank: 2, clientRank: 0, exclusiveWorkers: true };
    assert.deepEqual([0, 1, 2, 3].map((r) => roleName(rolesOf(r, excl))), ["client", "worker", "scheduler", "worker"]);
    const incl = { schedulerRank: 1, clientRank: 1, exclusiveWorkers: false };
    assert.deepEqual([0, 1].map((r) => roleName(rolesOf(r, incl))), ["worker", "scheduler+client+worker"]);
  });

  it("execute(): rank options default to scheduler 0, client 1, exclusive workers; bad ones are named", () => {
    assert.deepEqual(layoutOf({}), { schedulerRank: 0, clientRank: 1, exclusiveWorkers: true });
    assert.deepEqual(layoutOf({ schedulerRank: 2, clientRank: 2, exclusiveWorkers: false }), { schedulerRank: 2, clientRank: 2, exclusiveWorkers: false });
    assert.throws(() => layoutOf({ clientRank: -1 }), { code: "ERR_CONFIG", message: "clientRank must be a rank number (a non-negative integer), got -1" });
    assert.throws(() => layoutOf({ schedulerRank: 1.5 }), { message: "schedulerRank must be a rank number (a non-negative integer), got 1.5" });
    assert.throws(() => layoutOf({ exclusiveWorkers: "no" as unknown as boolean }), { message: 'exclusiveWorkers must be true or false, got "no"' });
  });
});

describe("dask-mpi-ts flags of dask-mpi parity", () => {
  it("--scheduler-rank and --inclusive-workers place the roles; a SCRIPT takes rank 1", () => {
    assert.deepEqual(args([]).layout, { schedulerRank: 0, exclusiveWorkers: true });
    assert.deepEqual(args(["--scheduler-rank", "2", "--inclusive-workers"]).layout, { schedulerRank: 2, exclusiveWorkers: false });
    assert.deepEqual(args(["--scheduler-rank=1", "app.js"]).layout, { schedulerRank: 1, clientRank: 1, exclusiveWorkers: true });
  });

  it("refuses bad ranks and modes without a scheduler rank to place", () => {
    assert.throws(() => parseDaskMpiArgs(["--scheduler-rank", "first"]), { code: "ERR_CONFIG", message: '--scheduler-rank must be a rank number (a non-negative integer), got "first"' });
    assert.throws(() => parseDaskMpiArgs(["--scheduler-rank", "-1"]), /--scheduler-rank must be a rank number .* got "-1"/);
    assert.throws(() => parseDaskMpiArgs(["--scheduler-rank", "2", "--no-scheduler", "--scheduler-file", "f"]), { message: "--scheduler-rank 2 places the scheduler's rank, and --no-scheduler starts none: drop one" });
    assert.throws(() => parseDaskMpiArgs(["--inclusive-workers", "--no-mpi", "--scheduler-file", "f"]), /--inclusive-workers is for MPI jobs/);
  });

  it("--worker-options takes a JSON object; bad JSON or a non-object is named", () => {
    assert.deepEqual(args(["--worker-options", '{"nthreads": 2, "memory": {"target": 0.5}}']).cluster.workerOptions, { nthreads: 2, memory: { target: 0.5 } });
    assert.throws(() => parseDaskMpiArgs(["--worker-options", "{nthreads: 2}"]), /^ConfigError: --worker-options must be a JSON object, got "\{nthreads: 2\}": /);
    assert.throws(() => parseDaskMpiArgs(["--worker-options", "[1, 2]"]), { message: `--worker-options must be a JSON object of distributed.worker settings (e.g. '{"nthreads": 2}'), got "[1, 2]"` });
  });

  it("--protocol is tcp or tls, and must agree with the TLS files", () => {
    assert.equal(args(["--protocol", "tcp"]).cluster.protocol, "tcp");
    const certs = ["--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-ca", "ca.pem"];
    assert.equal(args(["--protocol", "tls", ...certs]).cluster.protocol, "tls");
    assert.throws(() => parseDaskMpiArgs(["--protocol", "udp"]), { message: 'protocol must be tcp or tls, got "udp"' });
    assert.throws(() => parseDaskMpiArgs(["--protocol", "tls"]), /protocol tls needs the cluster's certificates: --tls-cert, --tls-key and --tls-ca/);
    assert.throws(() => parseDaskMpiArgs(["--protocol", "tcp", ...certs]), /protocol tcp contradicts the TLS certificates given/);
  });
});

describe("worker options merged last (--worker-options, execute's workerOptions)", () => {
  let home: string;
  const node = { workersOnNode: 1 };
  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), "dask-mpi-ts-wo-"));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  // protects: dask-mpi's "merged last": worker options win over the flags, and only where they say something
  it("win over the flags and the configuration, key by key", async () => {
    const given = { nthreads: 1, memory: { target: 0.3, pause: 0.5 }, localDirectory: "/flag/dir" };
    const env = { DASK_MPI_TS_DISTRIBUTED__WORKER__RESOURCES: "{GPU: 1}" };
    const { config, opts } = await clusterConfig({ ...given, workerOptions: { nthreads: 4, memory: { target: 0.4 }, "memory_limit": "2GB" } }, "--worker-options", { home, env });
    const w = workerSettings(config, opts, node).worker;
    assert.equal(w.nthreads, 4);
    assert.equal(w.memory.target, 0.4);
    assert.equal(w.memory.pause, 0.5, "a flag the worker options do not mention stays");
    assert.equal(w.memoryLimit, 2e9);
    assert.equal(w.localDirectory, "/flag/dir");
    assert.deepEqual(w.resources, { GPU: 1 }, "the configuration's other keys stay");
    assert.equal(config.origins["distributed.worker.nthreads"], "--worker-options");
  });

  it("without worker options: the configuration and the options as they were", async () => {
    const { config, opts } = await clusterConfig({ nthreads: 2 }, "--worker-options", { home, env: {} });
    assert.equal(workerSettings(config, opts, node).worker.nthreads, 2);
  });

  // protects: a bad key or value fails naming it and where it came from, before any rank starts
  it("a bad key or value is a ConfigError naming it and the source", async () => {
    await assert.rejects(clusterConfig({ workerOptions: { nthread: 2 } }, "--worker-options", { home, env: {} }), {
      code: "ERR_CONFIG",
      message: 'unknown config key "distributed.worker.nthread" (from --worker-options); did you mean "distributed.worker.nthreads"?',
    });
    await assert.rejects(clusterConfig({ workerOptions: { memory: { target: 2 } } }, "workerOptions", { home, env: {} }), {
      message: "distributed.worker.memory.target must be a fraction between 0 and 1 or false, got 2 (from workerOptions)",
    });
    await assert.rejects(clusterConfig({ workerOptions: [] as unknown as Record<string, unknown> }, "workerOptions", { home, env: {} }), /workerOptions must be an object of distributed.worker settings/);
  });
});
