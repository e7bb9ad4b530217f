// DRMAACluster on a real single-node Grid Engine, through Grid Engine's own DRMAA library:
// scale to 2 workers, compute, scale to 0 (the jobs leave qstat), close; a job the native
// specification makes impossible fails with DrmaaError and Grid Engine's diagnosis. And without
// the binding, the package still imports and DRMAACluster says what to install.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { ROOT, tempDir } from "../helpers/cluster.js";
import { TAG_VAR, cleanupProcs, exitWithin, spawnProc, taggedPids, waitFor } from "../helpers/proc.js";
import { ensureSge, qstatIds } from "../helpers/queues.js";
import { skipIf } from "../helpers/skip.js";

const APP = path.join(ROOT, "dist/test/jobqueue/fixtures/drmaa-app.js");
const SESSION = path.join(ROOT, "dist/test/jobqueue/fixtures/drmaa-session.js");
const ORPHAN = path.join(ROOT, "dist/test/jobqueue/fixtures/drmaa-orphan.js");
const BINDING = path.join(ROOT, "build/drmaa/Release/dask_drmaa.node");
// a Grid Engine user's environment (settings.sh); nothing DRMAA-specific: DRMAACluster's agent
// process gets the static TLS Grid Engine's libdrmaa needs on its own
const SGE_ENV = { SGE_ROOT: "/var/lib/gridengine", SGE_CELL: "default", DASK_MPI_TS_LOG_LEVEL: "warn" };
// DrmaaSession in the program's own process: glibc must reserve the static TLS at start
const IN_PROCESS_ENV = { ...SGE_ENV, GLIBC_TUNABLES: "glibc.rtld.optional_static_tls=16384" };

describe("DRMAACluster on real Grid Engine [jobqueue]", function () {
  this.timeout(120_000);
  const tmp = tempDir("dask-mpi-ts-drmaa-");
  afterEach(cleanupProcs);
  after(() => tmp.remove());

  it("without the DRMAA binding: the package imports, and DRMAACluster.create says what to install", async () => {
    const code = `import("${path.join(ROOT, "dist/src/index.js")}").then(async (m) => { try { await m.DRMAACluster.create({ cores: 1, memory: "1GB" }); console.log("CREATED"); } catch (e) { console.log(e.name + ": " + e.message); } })`;
    const p = spawnProc(process.execPath, ["-e", code], { env: { DASK_MPI_TS_DRMAA_ADDON: path.join(tmp.dir, "none.node") } });
    assert.equal((await exitWithin(p, 20_000)).code, 0, p.stderr);
    assert.match(p.stdout, /^DrmaaUnavailableError: the DRMAA binding is not built .*apt-get install gridengine-drmaa-dev.*npm run build:drmaa.*DRMAA_LIBRARY_PATH/);
  });

  /** Run a fixture under the environment DRMAA needs; its STEP lines by key. */
  async function runFixture(file: string, timeoutMs: number, env: Record<string, string>): Promise<{ step: (k: string) => any; tag: string }> {
    const tag = randomUUID();
    const p = spawnProc(process.execPath, [file, tmp.dir, tag, TAG_VAR], { env });
    const { code } = await exitWithin(p, timeoutMs);
    assert.equal(code, 0, `${p.stdout}\n${p.stderr}`);
    const steps = p.stdout.split("\n").filter((l) => l.startsWith("STEP ")).map((l) => JSON.parse(l.slice(5)) as Record<string, any>);
    return { step: (k) => steps.find((s) => k in s)?.[k], tag };
  }

  /** The tests below need Grid Engine and the binding; CI has both, and says so if not. */
  function needSge(ctx: Mocha.Context): void {
    skipIf(ctx, ensureSge() ?? (existsSync(BINDING) ? undefined : "the DRMAA binding is not built (npm run build:drmaa; .ci/run builds it)"));
  }

  it("DrmaaSession: exit status through wait (the event loop runs meanwhile), bulk jobs, a timed-out wait, suspend/resume, terminate, an unknown job", async function () {
    this.timeout(900_000);
    needSge(this);
    const { step, tag } = await runFixture(SESSION, 110_000, IN_PROCESS_ENV);
    assert.equal(step("info").version, "1.0");
    assert.deepEqual({ exited: step("exit").exited, exitStatus: step("exit").exitStatus }, { exited: true, exitStatus: 3 });
    assert.ok(step("ticks") > 0, "timers fired while wait() waited");
    assert.equal(step("bulk").length, 2);
    assert.equal(step("timedOut"), "DRMAA_ERRNO_EXIT_TIMEOUT");
    assert.equal(step("suspended"), "user-suspended");
    assert.equal(step("resumed"), "running");
    for (const e of step("ended")) assert.ok(e.signaled || e.aborted, JSON.stringify(e));
    assert.equal(step("invalid"), "DRMAA_ERRNO_INVALID_JOB");
    await waitFor("the jobs' processes to end", () => taggedPids(tag).length === 0, { timeoutMs: 15_000 });
  });

  it("scale(2) through DRMAA: two workers compute; scale(0): the jobs leave qstat; close(); a rejected job is a DrmaaError", async function () {
    this.timeout(900_000);
    needSge(this);
    const { step, tag } = await runFixture(APP, 110_000, SGE_ENV);
    const rejected = step("rejected");
    assert.equal(rejected?.name, "DrmaaError", JSON.stringify(rejected));
    assert.equal(rejected.codeName, "DRMAA_ERRNO_DENIED_BY_DRM");
    assert.match(rejected.diagnosis, /unknown resource "nosuchresource"/);
    const ids = step("submitted") as string[];
    assert.equal(ids.length, 2);
    assert.deepEqual(step("names"), ids.map((id) => `dask-worker-${id}`).sort());
    assert.deepEqual(step("values"), [2, 4, 6]);
    assert.deepEqual(step("afterScale0"), []);
    assert.equal(step("closed"), true);
    assert.ok(!qstatIds().some((id) => ids.includes(id)), "no job of the cluster is left in qstat");
    await waitFor("the jobs' processes to end", () => taggedPids(tag).length === 0, { timeoutMs: 15_000 });
  });

  it("a DRMAACluster program killed with SIGKILL leaves no job behind: its DRMAA agent cancels them", async function () {
    this.timeout(900_000);
    needSge(this);
    const p = spawnProc(process.execPath, [ORPHAN, tmp.dir], { env: SGE_ENV });
    const ids = await waitFor("the job's id", () => {
      const m = /JOBS (\[.*\])/.exec(p.stdout);
      return m ? (JSON.parse(m[1]!) as string[]) : undefined;
    }, { timeoutMs: 60_000, proc: p });
    assert.equal(ids.length, 1);
    assert.ok(qstatIds().includes(ids[0]!), "the job is in qstat");
    p.child.kill("SIGKILL");
    // the agent tries a refused terminate again for up to 30 s, then Grid Engine deletes the job
    await waitFor("the job to leave qstat", () => !qstatIds().includes(ids[0]!), { timeoutMs: 90_000 });
  });
});
