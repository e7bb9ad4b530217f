// The package entry is light (issue 13): importing it, as every rank of an MPI job does, loads
// the client, protocol, comm and the errors, and no role, launcher, job-queue, DRMAA or
// configuration code; the names it promises for those (initialize, the clusters, DrmaaSession)
// load their module on first use and hand back the real thing. A real child process, with a
// module loader hook listing what Node loads.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const SRC_URL = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src")).href + "/";

/** Runs `script` (an ES module body) in a child; the dist/src modules it loaded, and its stdout. */
function run(script: string): { loaded: string[]; stdout: string } {
  const hook = `export async function load(u, c, n) { if (u.startsWith(${JSON.stringify(SRC_URL)})) process.stderr.write("LOADED " + u.slice(${SRC_URL.length}) + "\\n"); return n(u, c); }`;
  const register = `import { register } from "node:module"; register(${JSON.stringify("data:text/javascript," + encodeURIComponent(hook))});`;
  const r = spawnSync(process.execPath, ["--import", "data:text/javascript," + encodeURIComponent(register), "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  const loaded = r.stderr.split("\n").filter((l) => l.startsWith("LOADED ")).map((l) => l.slice(7));
  return { loaded, stdout: r.stdout };
}

describe("light package entry", function () {
  this.timeout(60_000);

  // protects: start-up on every rank (the entry used to load the scheduler, worker, job queues, MPI and DRMAA code)
  it("importing the entry loads no role, launcher, job-queue, DRMAA or configuration module", () => {
    const { loaded } = run(`await import(${JSON.stringify(SRC_URL + "index.js")});`);
    assert.ok(loaded.includes("client/client.js"), `the client is loaded: ${loaded.join(" ")}`);
    const heavy = loaded.filter((m) => /^(scheduler|worker|nanny|jobqueue|drmaa|mpi|deploy|config|cli|dashboard)\//.test(m));
    assert.deepEqual(heavy, []);
  });

  // protects: README's `import { SLURMCluster, initialize } from "dask-mpi-ts"` keeps working, and gives the real classes
  it("the lazy names load their module on first use and reach the real classes", () => {
    const { loaded, stdout } = run(`
      const m = await import(${JSON.stringify(SRC_URL + "index.js")});
      const jq = await import(${JSON.stringify(SRC_URL + "jobqueue/index.js")});
      let err;
      try { await m.SLURMCluster.create({ cores: 0 }); } catch (e) { err = e; }
      console.log(JSON.stringify({ name: err?.name, message: err?.message, initialize: typeof m.initialize, open: typeof m.DrmaaSession.open, same: jq.SLURMCluster.name }));
    `);
    const r = JSON.parse(stdout) as { name: string; message: string; initialize: string; open: string; same: string };
    assert.equal(r.initialize, "function");
    assert.equal(r.open, "function");
    assert.ok(loaded.includes("jobqueue/slurm.js"), "the job-queue module was loaded by create()");
    // the real SLURMCluster.create checked the options (a facade returning nothing would not)
    assert.ok(r.name && /cores/.test(r.message), `the real create() refused cores: 0: ${r.name}: ${r.message}`);
    assert.equal(r.same, "SLURMCluster");
  });
});

describe("the package from CommonJS", function () {
  this.timeout(60_000);

  // protects: require("dask-mpi-ts") (a tslab notebook cell compiles `import` to require()); the
  // entry's top-level await (task threads' getClient) made it ERR_REQUIRE_ASYNC_MODULE
  it("require() gives the same public names as import, with the same classes", () => {
    const ROOT = fileURLToPath(new URL("../..", SRC_URL)); // dist/src/ -> the package
    const script = `
      const cjs = require("dask-mpi-ts");
      import("dask-mpi-ts").then((esm) => {
        const names = (m) => Object.keys(m).sort();
        console.log(JSON.stringify({ cjs: names(cjs), esm: names(esm), same: cjs.Client === esm.Client && cjs.JupyterError === esm.JupyterError }));
      });`;
    const r = spawnSync(process.execPath, ["-e", script], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, `child failed: ${r.stderr}`);
    const { cjs, esm, same } = JSON.parse(r.stdout) as { cjs: string[]; esm: string[]; same: boolean };
    assert.deepEqual(cjs, esm);
    assert.ok(cjs.includes("Client") && cjs.includes("getClient"));
    assert.ok(same, "one module graph: the same Client class either way");
  });
});
