// client.startJupyter against a real dask-scheduler-ts process and Debian's Jupyter with the
// tslab kernel: bad input (no Jupyter, no such app or kernel, a taken port, an address the host
// lacks, a missing directory, bad options) gets a clear error and leaves no process; a started
// server is shared by later calls, gives its notebooks the scheduler file, never shows its
// token in the scheduler's log (even at debug), and ends with the scheduler: on shutdown(), and
// on SIGKILL of the scheduler (its guard ends Jupyter and the kernel it runs).
// The whole workflow on real SLURM, with the example notebook and Chromium: test/jobqueue/jupyter.test.ts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { Client, ConfigError, JupyterError, type JupyterServer, TimeoutError } from "../../src/index.js";
import { BIN, tempDir, withCluster } from "../helpers/cluster.js";
import { jupyterUnavailable, runCells, userProject } from "../helpers/jupyter.js";
import { type Proc, cleanupProcs, spawnProc, taggedPids, waitFor } from "../helpers/proc.js";
import { skipIf } from "../helpers/skip.js";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("Jupyter next to the scheduler (real processes)", function () {
  this.timeout(300_000); // a server and a tslab kernel start on a loaded machine (each load-bound, up to 90 s)
  const tmp = tempDir("dask-mpi-ts-jupyter-");
  let n = 0;

  before(function () {
    skipIf(this, jupyterUnavailable());
  });
  afterEach(cleanupProcs);
  after(() => tmp.remove());

  /** A scheduler (at debug level: everything it logs) in a user's project, one worker, a client. */
  async function cluster(): Promise<{ scheduler: Proc; worker: Proc; file: string; project: string; client: Client }> {
    const project = userProject(path.join(tmp.dir, `p${++n}`));
    const file = path.join(project, "scheduler.json");
    const scheduler = spawnProc(process.execPath, [BIN("dask-scheduler-ts"), "--scheduler-file", file, "--interface", "lo", "--no-dashboard", "--log-level", "debug"], { cwd: project });
    await waitFor("the scheduler file", () => existsSync(file), { timeoutMs: 30_000, proc: scheduler });
    const worker = spawnProc(process.execPath, [BIN("dask-worker-ts"), "--scheduler-file", file, "--interface", "lo", "--no-nanny", "--nthreads", "1"]);
    const client = await Client.connect({ schedulerFile: file });
    return { scheduler, worker, file, project, client };
  }

  const failure = (p: Promise<unknown>) => p.then(() => assert.fail("it should have failed"), (e: unknown) => e as Error & { code?: string });

  it("bad input: no jupyter, no such app or kernel, a taken port, a foreign address, no directory, bad options, too short a timeout; each a clear error, and no process left", async () => {
    const { scheduler, client } = await cluster();
    try {
      // checked by the client before anything is sent
      assert.match((await failure(client.startJupyter({ port: -1 }))).message, /^startJupyter's port must be an integer from 0 to 65535, got -1$/);
      assert.match((await failure(client.startJupyter({ app: "jupyterlab" as "lab" }))).message, /^startJupyter's app must be one of "notebook", "lab", got "jupyterlab"$/);
      assert.match((await failure(client.startJupyter({ token: "x" } as object))).message, /^startJupyter got unknown option\(s\) "token"; it takes app, ip, port/);
      // on the scheduler's host
      let e = await failure(client.startJupyter({ command: "/nonexistent/jupyter" }));
      assert.ok(e instanceof JupyterError, `got ${e}`);
      assert.equal(e.code, "ERR_JUPYTER");
      assert.match(e.message, /^jupyter is not installed on \S+: \/nonexistent\/jupyter is not an executable file; install it: apt-get install jupyter-notebook \(Debian, Ubuntu\), or pip install notebook, or pass command: "\/path\/to\/jupyter"$/);
      e = await failure(client.startJupyter({ command: "no-such-jupyter" }));
      assert.match(e.message, /^jupyter is not installed on \S+: no "no-such-jupyter" on PATH \(.*\); install it: apt-get install jupyter-notebook/);
      if (spawnSync("sh", ["-c", "command -v jupyter-lab"]).status !== 0) {
        e = await failure(client.startJupyter({ app: "lab" }));
        assert.match(e.message, /^jupyter lab is not installed on \S+ \(no jupyter-lab next to \S+ or on PATH\): install JupyterLab \(pip install jupyterlab; Debian 12 has no package of it\), or ask for app: "notebook"/);
      }
      const taken = net.createServer();
      await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
      const port = (taken.address() as net.AddressInfo).port;
      try {
        e = await failure(client.startJupyter({ ip: "127.0.0.1", port }));
        assert.ok(e instanceof JupyterError);
        assert.match(e.message, new RegExp(`^port ${port} on 127\\.0\\.0\\.1 is taken on \\S+: pass another port, or port: 0 for a free one$`));
      } finally {
        taken.close();
      }
      e = await failure(client.startJupyter({ ip: "192.0.2.1" })); // TEST-NET-1: no host has it
      assert.ok(e instanceof ConfigError, `got ${e}`);
      assert.match(e.message, /^ip "192\.0\.2\.1" is not an address of \S+ \(EADDRNOTAVAIL\)/);
      e = await failure(client.startJupyter({ notebookDir: "/nonexistent/notebooks" }));
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /^notebookDir "\/nonexistent\/notebooks" is not a directory on \S+$/);
      // these start Jupyter and stop it: one that does not answer in time, one without the kernel
      e = await failure(client.startJupyter({ timeout: 1 }));
      assert.ok(e instanceof TimeoutError, `got ${e}`);
      assert.match(e.message, /^jupyter notebook did not serve http:\/\/127\.0\.0\.1:\d+\/ within 1 ms \(/);
      e = await failure(client.startJupyter({ kernel: "no-such-kernel" }));
      assert.ok(e instanceof JupyterError);
      assert.match(e.message, /^kernel "no-such-kernel" is not installed for \S+ on \S+ \(it has: [^)]*\btslab\b[^)]*\): install its kernel spec/);
      await waitFor("only the scheduler left of its process tree", () => taggedPids(scheduler.tag).length === 1, { timeoutMs: 20_000 });
      // bad input left it usable: a server starts, and shutdown() ends it with the scheduler
      const s = await client.startJupyter({ timeout: 90_000 });
      assert.ok(alive(s.pid));
      await client.shutdown();
      await waitFor("the scheduler, Jupyter and its guard to exit", () => taggedPids(scheduler.tag).length === 0, { timeoutMs: 30_000 });
      await assert.rejects(fetch(s.baseUrl, { signal: AbortSignal.timeout(5000) }));
    } finally {
      await client.close();
    }
  });

  // protects: no orphan Jupyter (or kernel) when the scheduler is killed; the token stays out of its log
  it("one server per scheduler, its notebooks get the scheduler file, its token is in no log, and SIGKILL of the scheduler ends it and its kernel", async () => {
    const { scheduler, worker, file, project, client } = await cluster();
    let s: JupyterServer;
    try {
      s = await client.startJupyter({ timeout: 90_000 });
      assert.match(s.url, new RegExp(`^http://127\\.0\\.0\\.1:${s.port}/\\?token=[0-9a-f]{48}$`));
      assert.equal(s.url, `${s.baseUrl}?token=${s.token}`);
      assert.deepEqual([s.app, s.kernel, s.notebookDir, s.schedulerFile, s.ip], ["notebook", "tslab", project, file, "127.0.0.1"]);
      assert.deepEqual(await client.startJupyter(), s, "a second call gets the running server");
      const e = await failure(client.startJupyter({ kernel: "python3" }));
      assert.ok(e instanceof JupyterError);
      assert.equal(e.message, `a jupyter server already runs next to this scheduler (${s.baseUrl}); it was not started with kernel "python3" (it has "tslab"): one server per scheduler, which ends with it`);
      // a notebook's cells: the scheduler file is in its environment, and it computes on the cluster
      const cells = await runCells(s, "tslab", [
        "console.log(process.env.DASK_SCHEDULER_FILE)",
        'import { Client } from "dask-mpi-ts";\nconst c = await Client.connect({ schedulerFile: process.env.DASK_SCHEDULER_FILE! });\nconsole.log(await c.submit((x: number) => x + 1, 41).result());\nawait c.close();',
      ], project);
      assert.deepEqual(cells.map((c) => [c.status, c.stdout, c.error]), [["ok", `${file}\n`, undefined], ["ok", "42\n", undefined]], `cells: ${JSON.stringify(cells)}`);
    } finally {
      await client.close();
    }
    // a kernel left running, as a user's browser tab leaves it
    const res = await fetch(`${s.baseUrl}api/kernels`, { method: "POST", headers: { Authorization: `token ${s.token}` }, body: JSON.stringify({ name: "tslab" }) });
    assert.equal(res.status, 201);
    await waitFor("the kernel's process", () => taggedPids(scheduler.tag).length >= 4, { timeoutMs: 20_000 }); // scheduler, guard, jupyter, kernel
    scheduler.child.kill("SIGKILL");
    await scheduler.exited;
    await waitFor("Jupyter, its kernel and its guard to end after the scheduler's SIGKILL", () => taggedPids(scheduler.tag).length === 0, { timeoutMs: 30_000 });
    await assert.rejects(fetch(s.baseUrl, { signal: AbortSignal.timeout(5000) }));
    assert.ok(scheduler.stderr.includes('"msg":"jupyter output"'), "the scheduler logged Jupyter's output at debug");
    assert.ok(!scheduler.stderr.includes(s.token) && !worker.stderr.includes(s.token), "the token is in no log");
  });

  // protects: a scheduler without a scheduler file (a program's own Scheduler) still gives its notebooks one
  it("a scheduler without a scheduler file writes one (0600) for its notebooks, and removes it with the server when it closes", async () => {
    const project = userProject(path.join(tmp.dir, `p${++n}`));
    const c = await withCluster({ mode: "inproc", protocol: "tcp", workers: 1 });
    let s: JupyterServer | undefined;
    try {
      s = await c.client.startJupyter({ notebookDir: project, timeout: 90_000 });
      assert.match(s.schedulerFile, /\/dask-mpi-ts-jupyter-[^/]+\/scheduler\.json$/);
      assert.equal(statSync(s.schedulerFile).mode & 0o777, 0o600);
      const content = JSON.parse(readFileSync(s.schedulerFile, "utf8")) as { address: string; secret: string };
      assert.deepEqual([content.address, content.secret], [c.address, c.secret]);
      const cell = 'import { Client } from "dask-mpi-ts";\nconst c = await Client.connect({ schedulerFile: process.env.DASK_SCHEDULER_FILE! });\nconsole.log(await c.submit((a: number, b: number) => a * b, 6, 7).result());\nawait c.close();';
      const cells = await runCells(s, "tslab", [cell], project);
      assert.deepEqual(cells.map((x) => [x.status, x.stdout]), [["ok", "42\n"]], `cells: ${JSON.stringify(cells)}`);
    } finally {
      await c.cleanup();
    }
    assert.ok(!alive(s.pid), "Jupyter stopped with the scheduler");
    assert.ok(!existsSync(path.dirname(s.schedulerFile)), "its runtime directory, with the scheduler file it wrote, is gone");
  });
});
