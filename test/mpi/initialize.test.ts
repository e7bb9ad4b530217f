// `mpirun -np N node app.js` where app.js calls initialize().
import assert from "node:assert/strict";
import { FIXTURE } from "../helpers/cluster.js";
import { GIVE_UP_AT_FIRST_DEATH, assertGaveUpOutput } from "../helpers/give-up.js";
import { type Launcher, launcherFromEnv } from "../helpers/mpi.js";
import { cleanupProcs, exitWithin, spawnProc } from "../helpers/proc.js";

function launch(l: Launcher, np: number, mode: string) {
  return spawnProc(l.command, [...l.args(np), process.execPath, FIXTURE("init-app"), mode]);
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{") && !l.includes('"level"'))
    .map((l) => JSON.parse(l));
}

for (const launcher of launcherFromEnv()) {
  describe(`initialize() under ${launcher.name}`, function () {
    this.timeout(60_000);
    afterEach(cleanupProcs);

    it("rank 1 gets a client with workers 2 and 3; a pinned task runs on 2; exit 0", async () => {
      const proc = launch(launcher, 4, "ok");
      const { code } = await exitWithin(proc, 30_000);
      assert.equal(code, 0, proc.stderr);
      const [out] = jsonLines(proc.stdout);
      assert.ok(out, proc.stdout + proc.stderr);
      assert.deepEqual(out.names, ["2", "3"]);
      assert.equal(out.ranOn, out.worker2);
    });

    it("an uncaught error on rank 1 ends the job non-zero within 10 s", async () => {
      const proc = launch(launcher, 4, "throw");
      const { code, ms } = await exitWithin(proc, 30_000);
      assert.notEqual(code, 0);
      assert.ok(ms < 15_000, `took ${ms} ms`);
      assert.match(proc.stderr, /deliberate failure on the client rank/);
    });

    it("process.exit(3) on rank 1 makes the launcher exit 3", async () => {
      const proc = launch(launcher, 4, "exit-3");
      const { code } = await exitWithin(proc, 30_000);
      assert.equal(code, 3, proc.stderr);
    });

    // protects: -1 reached MPI_Abort unchanged; the addon's check (0..255) threw a RangeError
    // inside the exit path, and the launcher reported its own generic code
    it("process.exit(-1) on rank 1 makes the launcher exit 255, as a shell reports it", async () => {
      const proc = launch(launcher, 4, "exit-minus-1");
      const { code } = await exitWithin(proc, 30_000);
      assert.equal(code, 255, proc.stderr);
      assert.doesNotMatch(proc.stderr, /RangeError/);
    });

    it("exit: false lets ranks 0, 2, 3 go on after shutdown (one more MPI barrier)", async () => {
      const proc = launch(launcher, 4, "exit-false");
      const { code } = await exitWithin(proc, 30_000);
      assert.equal(code, 0, proc.stderr);
      const ranks = jsonLines(proc.stdout)
        .filter((o) => "afterBarrier" in o)
        .map((o) => o.afterBarrier)
        .sort();
      assert.deepEqual(ranks, [0, 1, 2, 3]);
    });

    // issue 12, point 9: a worker rank whose nanny gives up stays in the job, idle, and takes
    // part in the end protocol; the graph completes on the other worker; exit 0
    it("a worker whose nanny gives up leaves the cluster; rank 1's graph completes and the job exits 0", async () => {
      const proc = spawnProc(launcher.command, [...launcher.args(4, { env: GIVE_UP_AT_FIRST_DEATH }), process.execPath, FIXTURE("give-up-client"), "init"]);
      const { code } = await exitWithin(proc, 50_000);
      assert.equal(code, 0, proc.stderr);
      assertGaveUpOutput(proc.stdout, proc.stderr);
    });

    it("two ranks are too few: every rank says so and the job exits non-zero", async () => {
      const proc = launch(launcher, 2, "ok");
      const { code } = await exitWithin(proc, 15_000);
      assert.notEqual(code, 0);
      assert.match(proc.stderr, /initialize\(\) needs at least 3 MPI ranks, got 2/);
    });
  });
}
