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

const APP = path.join(ROOT, "dist/test/jobqueue/fixtures/drmaa-app.js");
const BINDING = path.join(ROOT, "build/drmaa/Release/dask_drmaa.node");
// Grid Engine's libdrmaa brings libjemalloc, which needs static TLS reserved at start
const DRMAA_ENV = { GLIBC_TUNABLES: "glibc.rtld.optional_static_tls=16384", SGE_ROOT: "/var/lib/gridengine", SGE_CELL: "default", DASK_MPI_TS_LOG_LEVEL: "warn" };

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

  it("scale(2) through DRMAA: two workers compute; scale(0): the jobs leave qstat; close(); a rejected job is a DrmaaError", async function () {
    this.timeout(900_000);
    const skip = ensureSge() ?? (existsSync(BINDING) ? undefined : process.env.CI ? undefined : "the DRMAA binding is not built (npm run build:drmaa)");
    if (skip) {
      console.log(`      skipped: ${skip}`);
      this.skip();
    }
    assert.ok(existsSync(BINDING), "CI builds the DRMAA binding (.ci/run)");
    const tag = randomUUID();
    const app = spawnProc(process.execPath, [APP, tmp.dir, tag, TAG_VAR], { env: DRMAA_ENV });
    const { code } = await exitWithin(app, 110_000);
    assert.equal(code, 0, `${app.stdout}\n${app.stderr}`);
    const steps = app.stdout.split("\n").filter((l) => l.startsWith("STEP ")).map((l) => JSON.parse(l.slice(5)) as Record<string, any>);
    const step = (k: string) => steps.find((s) => k in s)?.[k];
    const rejected = step("rejected");
    assert.equal(rejected?.name, "DrmaaError", JSON.stringify(rejected));
    assert.equal(rejected.codeName, "DRMAA_ERRNO_DENIED_BY_DRM");
    assert.match(rejected.diagnosis, /unknown resource "nosuchresource"/);
    const ids = step("submitted") as string[];
    assert.equal(ids.length, 2);
    const done = steps.find((s) => "names" in s)!;
    assert.deepEqual(done.names, ids.map((id) => `dask-worker-${id}`).sort());
    assert.deepEqual(done.values, [2, 4, 6]);
    assert.deepEqual(step("afterScale0"), []);
    assert.equal(step("closed"), true);
    assert.ok(!qstatIds().some((id) => ids.includes(id)), "no job of the cluster is left in qstat");
    await waitFor("the jobs' processes to end", () => taggedPids(tag).length === 0, { timeoutMs: 15_000 });
  });
});
