// dask-mpi parity (issue 14, point 8) under real launchers: execute() (every rank calls it,
// fn runs on the client rank, its return or its error ends the job), and the dask-mpi-ts flags
// --scheduler-rank, --inclusive-workers, --worker-options. The end protocol's exit codes differ
// per launcher, so execute()'s two endings run under each; the placement cases under one.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { Client } from "../../src/index.js";
import { BIN, FIXTURE, tempDir } from "../helpers/cluster.js";
import { type Launcher, launcherFromEnv } from "../helpers/mpi.js";
import { cleanupProcs, exitWithin, spawnProc, waitFor } from "../helpers/proc.js";

function jsonOut(text: string): Array<Record<string, unknown>> {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{") && !l.includes('"level"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const launchers = launcherFromEnv();

for (const [i, launcher] of launchers.entries()) {
  describe(`execute() and dask-mpi parity flags under ${launcher.name}`, function () {
    this.timeout(60_000);
    let client: Client | undefined;
    let tmp: ReturnType<typeof tempDir>;
    beforeEach(() => {
      tmp = tempDir();
    });
    afterEach(async () => {
      await client?.close();
      client = undefined;
      await cleanupProcs();
      tmp.remove();
    });

    const app = (l: Launcher, np: number, mode: string) => spawnProc(l.command, [...l.args(np), process.execPath, FIXTURE("execute-app"), mode]);
    const cli = (l: Launcher, np: number, flags: string[]) =>
      spawnProc(l.command, [...l.args(np), process.execPath, BIN("dask-mpi-ts"), "--interface", "lo", "--no-dashboard", "--local-directory", tmp.dir, ...flags]);

    // protects: fn's return ends the job (upstream: send_close_signal) with status 0, and
    // execute() resolves with fn's value on the client rank only
    it("fn's return value comes back on the client rank and mpirun exits 0", async () => {
      const proc = app(launcher, 3, "ok");
      const { code } = await exitWithin(proc, 45_000);
      assert.equal(code, 0, proc.stderr);
      assert.deepEqual(jsonOut(proc.stdout), [{ rank: 1, sum: 30 }]);
      assert.doesNotMatch(proc.stderr, /"level":(50|60)/, "no error-level log lines on a normal run");
    });

    // protects: unlike upstream (where the job hangs), an error in fn ends every rank non-zero, fast
    it("fn throwing ends the job non-zero within seconds, the error printed", async () => {
      const proc = app(launcher, 3, "throw");
      const { code, ms } = await exitWithin(proc, 45_000);
      assert.notEqual(code, 0, proc.stdout);
      assert.ok(ms < 20_000, `took ${ms} ms`);
      assert.match(proc.stderr, /execute\(\): the client function failed on rank 1; ending the job with status 1\nError: deliberate failure in the client function/);
      assert.deepEqual(jsonOut(proc.stdout), [], "execute() did not resolve after a failure");
    });

    if (i > 0) return; // the placement cases do not depend on the launcher: one run each

    // protects: a too small world fails on every rank with the sizes named, not a hang
    it("too small a world: the sizes named and a non-zero exit", async () => {
      const proc = app(launcher, 2, "ok");
      const { code } = await exitWithin(proc, 30_000);
      assert.notEqual(code, 0);
      assert.match(proc.stderr, /execute\(\) needs at least 3 MPI ranks, got 2 \(scheduler on rank 0, client on rank 1, and at least one rank for workers\)/);
    });

    // protects: schedulerRank === clientRank with exclusiveWorkers false (upstream allows it): one rank hosts scheduler, client and a worker
    it("scheduler and client on one rank, a worker on every rank", async () => {
      const proc = app(launcher, 2, "shared");
      const { code } = await exitWithin(proc, 45_000);
      assert.equal(code, 0, proc.stderr);
      const [out] = jsonOut(proc.stdout);
      assert.ok(out, proc.stdout + proc.stderr);
      assert.equal(out.rank, 1);
      assert.deepEqual(out.names, ["0", "1"]);
      assert.equal(out.schedulerPid, out.clientPid, "the scheduler runs in the client rank's process");
      assert.equal(out.sum, 14);
    });

    // protects: --scheduler-rank moves the scheduler (the bootstrap broadcast's root), --inclusive-workers
    // adds a worker on its rank, and --worker-options win over the flags
    it("--scheduler-rank 2 --inclusive-workers --worker-options: the scheduler on rank 2 with a worker beside it", async () => {
      const file = path.join(tmp.dir, "sched.json");
      const flags = ["--scheduler-file", file, "--scheduler-rank", "2", "--inclusive-workers", "--no-nanny", "--nthreads", "1", "--worker-options", '{"nthreads": 2}'];
      const proc = cli(launcher, 3, flags);
      await waitFor("the scheduler file", () => existsSync(file), { timeoutMs: 30_000, proc });
      client = await Client.connect({ schedulerFile: file, timeout: 20_000 });
      await client.waitForWorkers(3, { timeout: 20_000 });
      assert.equal(await client.submit((x: number) => x + 1, 10).result(), 11);
      const info = await client.schedulerInfo();
      const byName = Object.fromEntries(Object.values(info.workers).map((w) => [w.name, w]));
      assert.deepEqual(Object.keys(byName).sort(), ["0", "1", "2"]);
      const scheduler = await client.runOnScheduler(() => ({ pid: process.pid, rank: process.env.OMPI_COMM_WORLD_RANK ?? process.env.PMI_RANK }));
      assert.equal(scheduler.rank, "2");
      assert.equal(byName["2"]!.pid, scheduler.pid, "worker 2 runs in the scheduler's rank (--no-nanny)");
      for (const w of Object.values(byName)) assert.equal(w.nthreads, 2, "--worker-options nthreads wins over --nthreads");
      await client.shutdown();
      assert.equal((await exitWithin(proc, 30_000)).code, 0, proc.stderr);
    });

    // protects: a bad worker option is named (key, source, a suggestion) on start-up, and the job ends non-zero
    it("--worker-options with a bad key fails clearly", async () => {
      const proc = cli(launcher, 2, ["--worker-options", '{"nthread": 2}']);
      const { code } = await exitWithin(proc, 30_000);
      assert.notEqual(code, 0);
      assert.match(proc.stderr, /dask-mpi-ts: error: unknown config key "distributed\.worker\.nthread" \(from --worker-options\); did you mean "distributed\.worker\.nthreads"\?/);
    });
  });
}
