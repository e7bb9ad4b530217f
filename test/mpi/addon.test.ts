// Real MPI jobs against the native addon, under every available launcher (test/helpers/mpi.ts;
// select with DASK_MPI_TS_TEST_MPI=openmpi|mpich|all). Needs the addon builds:
//   node scripts/build-addon.mjs                                      # Open MPI, cmake-js
//   MPICC=mpicc.mpich node scripts/build-addon.mjs --out build/mpich  # MPICH, cmake-js
// The node-gyp builds are checked by the last suite, by hand the same way:
//   MPICC=mpicc.mpich node scripts/build-addon.mjs --gyp --out /tmp/gyp-mpich
//   DASK_MPI_TS_ADDON=/tmp/gyp-mpich/Release/dask_mpi_ts.node mpiexec.hydra -np 3 node dist/test/mpi/fixtures/addon-basic.js
// Run: npx tsc -p . && npx mocha dist/test/unit/addon-loader.test.js dist/test/mpi/addon.test.js
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  bcastPayload,
  fixture,
  killStartedJobs,
  launcherFromEnv,
  repoRoot,
  results,
  runMpi,
  runTagged,
  type Launcher,
  type RunResult,
} from "../helpers/mpi.js";
import { skipIf } from "../helpers/skip.js";

const launchers = launcherFromEnv();
const node = process.execPath;

interface BasicResult {
  rank: number;
  size: number;
  localRank: number;
  localSize: number;
  processorName: string;
  libraryVersion: string;
  alreadyInitialized: boolean;
  threadLevel: number;
  addonPath: string;
  yieldsWhenIdle: boolean | null;
  bigLength: number;
  bigSha256: string;
  small: string;
  syncBcast: string | null;
  syncBarrierBytes: number | null;
  pendingRequests: number;
  finalized: boolean;
  loadMs: number;
  initMs: number;
}

function explain(r: RunResult): string {
  return `exit ${r.code} signal ${r.signal}${r.timedOut ? " (timed out)" : ""} after ${r.ms} ms\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** Asserts the 3-rank output of fixtures/addon-basic. */
function checkBasic(launcher: Launcher, r: RunResult, addonPath: string | undefined): BasicResult[] {
  assert.equal(r.code, 0, explain(r));
  const rs = results<BasicResult>(r.stdout);
  assert.deepEqual(rs.map((x) => x.rank), [0, 1, 2], explain(r));
  const sha = createHash("sha256").update(bcastPayload()).digest("hex");
  for (const x of rs) {
    assert.equal(x.size, 3);
    assert.equal(x.localSize, 3, "all ranks share this node");
    assert.equal(x.localRank, x.rank);
    assert.equal(x.processorName, rs[0]!.processorName);
    assert.ok(x.processorName.length > 0);
    assert.match(x.libraryVersion, launcher.name === "openmpi" ? /^Open MPI v\d/ : /^MPICH Version:/);
    assert.equal(x.alreadyInitialized, false);
    assert.ok(x.threadLevel >= 1, `thread level ${x.threadLevel} >= MPI_THREAD_FUNNELED`);
    assert.equal(x.addonPath, addonPath);
    assert.equal(x.bigLength, 100_000);
    assert.equal(x.bigSha256, sha);
    assert.equal(x.small, "hello from rank 2 of 3");
    assert.equal(x.syncBcast, "sync from rank 1", "startBcast().waitSync()");
    assert.equal(x.syncBarrierBytes, 0, "startBarrier().waitSync() gives an empty Buffer");
    assert.equal(x.pendingRequests, 0);
    assert.equal(x.finalized, true);
  }
  return rs;
}

afterEach(async function () {
  const leaked = await killStartedJobs();
  assert.deepEqual(leaked, [], `processes left running by "${this.currentTest?.title}"`);
});

for (const launcher of launchers) {
  describe(`mpi addon under ${launcher.name} (${path.basename(launcher.command)})`, function () {
    this.timeout(60_000);

    it("3 ranks: world and node info, a 100 KB bcast from root 0, a bcast from root 2, barrier, waitSync, finalize", async function () {
      const r = await runMpi(launcher, 3, [node, fixture("addon-basic")], { timeoutMs: 30_000 });
      const rs = checkBasic(launcher, r, launcher.addonPath);
      const slowest = Math.max(...rs.map((x) => x.loadMs + x.initMs));
      console.log(`      load+init (slowest rank): ${slowest} ms; job ${r.ms} ms`);
    });

    // Protects: ranks spinning in MPI_Init without yielding (mpi_yield_when_idle=0 set before
    // it) starved the launcher on an oversubscribed node: 4 ranks on 2 cores started ~80 ms
    // later. Open MPI keeps its choice for MPI_Init; yielding is off afterwards, unless set.
    it("after init, Open MPI's progress loop does not yield when idle; a yield_when_idle the user set is kept", async function () {
      const r = await runMpi(launcher, 3, [node, fixture("addon-basic")], { timeoutMs: 30_000 });
      const rs = checkBasic(launcher, r, launcher.addonPath);
      for (const x of rs) assert.equal(x.yieldsWhenIdle, launcher.name === "openmpi" ? false : null, `rank ${x.rank}`);
      if (launcher.name !== "openmpi") return;
      const kept = await runMpi(launcher, 3, [node, fixture("addon-basic")], { timeoutMs: 30_000, env: { OMPI_MCA_mpi_yield_when_idle: "1" } });
      for (const x of checkBasic(launcher, kept, launcher.addonPath)) assert.equal(x.yieldsWhenIdle, true, `rank ${x.rank}`);
    });

    it("abort(7) on rank 1 ends the job with exit code 7 within seconds", async function () {
      const note = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "addon-abort-")), "aborted");
      const r = await runMpi(launcher, 3, [node, fixture("addon-abort"), note], { timeoutMs: 20_000 });
      const end = Date.now();
      assert.equal(r.code, 7, explain(r));
      const at = /ABORTING rank 1 at (\d+)/.exec(fs.existsSync(note) ? fs.readFileSync(note, "utf8") : "");
      fs.rmSync(path.dirname(note), { recursive: true, force: true });
      assert.ok(at, explain(r));
      assert.ok(end - Number(at[1]) < 5000, `launcher exited ${end - Number(at[1])} ms after MPI_Abort`);
      assert.doesNotMatch(r.stdout, /UNREACHED/);
    });

    it("a rank waiting in a barrier keeps its event loop running", async function () {
      const r = await runMpi(launcher, 3, [node, fixture("addon-loop")], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, explain(r));
      const [res] = results<{ rank: number; ticks: number; waitedMs: number }>(r.stdout);
      assert.ok(res, explain(r));
      // the others enter it 1 s after the first barrier; rank 0's clock may start a little late
      assert.ok(res.waitedMs >= 500, `barrier returned after ${res.waitedMs} ms, before the others entered it`);
      // A 10 ms interval over ~1 s: ~100 ticks when the loop is free (fewer on a loaded machine,
      // whose timers fire late), at most 1 if MPI blocked it.
      assert.ok(res.ticks >= 10, `only ${res.ticks} interval ticks during a ${res.waitedMs} ms barrier`);
    });

    it("an MPI error (MPI_Ibcast with a root outside the world) surfaces as MpiError", async function () {
      const r = await runMpi(launcher, 3, [node, fixture("addon-error")], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, explain(r));
      const rs = results<{ rank: number; isMpiError: boolean; code: string; message: string; mpiClass: number; mpiString: string; errRank: number; wrapperMessage: string }>(r.stdout);
      assert.equal(rs.length, 3, explain(r));
      for (const x of rs) {
        assert.equal(x.isMpiError, true);
        assert.equal(x.code, "ERR_MPI");
        assert.match(x.message, new RegExp(`^MPI_Ibcast failed on rank ${x.rank}: MPI_ERR_ROOT: \\w.* \\(class ${x.mpiClass}\\)$`));
        assert.equal(x.errRank, x.rank);
        assert.match(x.mpiString, /root/i);
        // The TS wrapper refuses the same root before it reaches MPI.
        assert.equal(x.wrapperMessage, "root must be an integer in [0, 3), got 8");
      }
    });
  });
}

describe("mpi addon built for one MPI, started by the other MPI's launcher", function () {
  this.timeout(60_000);
  const ompi = launchers.find((l) => l.name === "openmpi");
  const mpich = launchers.find((l) => l.name === "mpich");

  it("the Open MPI addon under mpiexec.hydra -np 2 fails with the mismatch message", async function () {
    if (!ompi || !mpich) return skipIf(this, "needs both Open MPI and MPICH with their addon builds");
    const r = await runMpi(mpich, 2, [node, fixture("addon-basic")], { timeoutMs: 30_000, env: { DASK_MPI_TS_ADDON: ompi.addonPath! } });
    assert.notEqual(r.code, 0, explain(r));
    assert.match(r.stderr, /ERR_CONFIG MPI reports a world of 1 rank but the hydra launcher started 2: the addon was built against Open MPI v[\d.]+ \(/);
    assert.match(r.stderr, /rebuild it for this MPI with MPICC=mpicc\.mpich npm run build:addon/);
    assert.doesNotMatch(r.stdout, /RESULT/);
  });

  it("the MPICH addon under Open MPI's mpirun -np 2 fails with the mismatch message", async function () {
    if (!ompi || !mpich) return skipIf(this, "needs both Open MPI and MPICH with their addon builds");
    const r = await runMpi(ompi, 2, [node, fixture("addon-basic")], { timeoutMs: 30_000, env: { DASK_MPI_TS_ADDON: mpich.addonPath! } });
    assert.notEqual(r.code, 0, explain(r));
    assert.match(r.stderr, /MPI reports a world of 1 rank but the Open MPI launcher started 2: the addon was built against MPICH [\d.]+/);
    assert.match(r.stderr, /MPICC=mpicc\.openmpi npm run build:addon/);
  });
});

describe("node-gyp build of the addon", function () {
  this.timeout(120_000);
  let tmp: string;
  before(function () {
    skipIf(this, process.env.DASK_MPI_TS_TEST_GYP === "0" ? "DASK_MPI_TS_TEST_GYP=0" : undefined);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dask-mpi-ts-gyp-"));
  });
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

  for (const launcher of launchers) {
    it(`builds with node-gyp for ${launcher.name} and runs the 3-rank fixture`, async function () {
      skipIf(this, launcher.mpicc ? undefined : `no MPI compiler wrapper for ${launcher.name}`);
      const out = path.join(tmp, launcher.name);
      const build = await runTagged(node, [path.join(repoRoot, "scripts", "build-addon.mjs"), "--gyp", "--out", out], {
        timeoutMs: 90_000,
        env: { ...process.env, MPICC: launcher.mpicc! },
        cwd: repoRoot,
      });
      assert.equal(build.code, 0, explain(build));
      const addon = path.join(out, "Release", "dask_mpi_ts.node");
      assert.match(build.stdout, new RegExp(`built ${addon.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} with node-gyp`));
      const r = await runMpi(launcher, 3, [node, fixture("addon-basic")], { timeoutMs: 30_000, env: { DASK_MPI_TS_ADDON: addon } });
      checkBasic(launcher, r, addon);
    });
  }
});
