// Campaigns longer than a walltime (issue 16): a program under mpirun with --journal is killed
// mid-campaign (its batch job's end), started again unchanged, and finishes from the checkpoints:
// no step done in the first run is computed again.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { BIN, FIXTURE, tempDir } from "../helpers/cluster.js";
import { launcherFromEnv } from "../helpers/mpi.js";
import { cleanupProcs, exitWithin, killTagged, spawnProc, waitFor } from "../helpers/proc.js";

/** How many checkpoint records (msgpack ["k", key]: 0x92 0xa1 "k") the journal has on disk. */
function checkpointRecords(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".log"))) {
    const b = readFileSync(path.join(dir, f));
    for (let at = b.indexOf("\x92\xa1k", 0, "latin1"); at >= 0; at = b.indexOf("\x92\xa1k", at + 1, "latin1")) n++;
  }
  return n;
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : []);

for (const launcher of launcherFromEnv()) {
  describe(`a resubmitted program finishes from its checkpoints (${launcher.name})`, function () {
    this.timeout(180_000);
    let tmp: ReturnType<typeof tempDir>;
    beforeEach(() => (tmp = tempDir()));
    afterEach(async () => {
      await cleanupProcs();
      tmp.remove();
    });

    it("the second batch job loads what the first one checkpointed and computes only the rest", async () => {
      const journal = path.join(tmp.dir, "journal");
      const log = path.join(tmp.dir, "steps.log");
      const gate = path.join(tmp.dir, "gate");
      // a short grace: the first job's worker will not come back
      const env = { DASK_MPI_TS_DISTRIBUTED__SCHEDULER__JOURNAL__TAKE_OVER_GRACE: "1s" };
      const run = () =>
        spawnProc(launcher.command, [...launcher.args(3, { env }), process.execPath, BIN("dask-mpi-ts"), "--interface", "lo", "--no-dashboard", "--journal", journal, "--local-directory", tmp.dir, FIXTURE("campaign-client"), log, gate]);
      const first = run();
      await waitFor("the first ten steps and their checkpoints", () => lines(log).length >= 10 && readdirSync(path.join(journal, "checkpoints")).filter((f) => !f.endsWith(".tmp")).length >= 10, { timeoutMs: 60_000, proc: first });
      // their records too (a group sync after each result), so the lost checkpoint below is known to the journal
      await waitFor("the checkpoints' records in the journal", () => checkpointRecords(journal) >= 10, { timeoutMs: 30_000, proc: first });
      // the walltime: the whole job dies at once
      killTagged(first.tag, "SIGKILL");
      await first.exited;
      assert.deepEqual(lines(log).map(Number).sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => i));

      // one checkpoint is lost between the jobs: that step is computed again (and the scheduler says so)
      const cps = readdirSync(path.join(journal, "checkpoints")).filter((f) => !f.endsWith(".tmp"));
      rmSync(path.join(journal, "checkpoints", cps[0]!));
      writeFileSync(gate, "");
      const second = run();
      const { code } = await exitWithin(second, 120_000);
      assert.equal(code, 0, second.stderr.slice(-3000));
      const out = second.stdout.split("\n").find((l) => l.startsWith("{"));
      assert.deepEqual(JSON.parse(out ?? "{}"), { total: Array.from({ length: 20 }, (_, i) => i * i).reduce((a, b) => a + b, 0) });
      // every step ran once over the two jobs, but the one whose checkpoint was lost: the other
      // nine of the first ten were loaded from their checkpoints
      const steps = lines(log).map(Number);
      assert.deepEqual([...new Set(steps)].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i), `steps run: ${steps.join(" ")}`);
      const twice = steps.filter((s, i) => steps.indexOf(s) !== i);
      assert.equal(twice.length, 1, `steps run: ${steps.join(" ")}`);
      assert.ok(twice[0]! < 10);
      assert.equal((second.stderr.match(/result loaded from its checkpoint/g) ?? []).length, 9);
      assert.match(second.stderr, /checkpoint file missing: computing the result again/);
    });
  });
}
