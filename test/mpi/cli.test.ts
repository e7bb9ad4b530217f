// Black-box scenarios of `mpirun -np N dask-mpi-ts ...` under every available MPI launcher.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Client } from "../../src/index.js";
import { BIN, FIXTURE, freePort, tempDir } from "../helpers/cluster.js";
import { makeCerts } from "../helpers/certs.js";
import { GIVE_UP_AT_FIRST_DEATH, assertGaveUpOutput, assertSchedulerLoggedFailure } from "../helpers/give-up.js";
import { type Launcher, launcherFromEnv } from "../helpers/mpi.js";
import { childPids, cleanupProcs, exitWithin, spawnProc, waitFor } from "../helpers/proc.js";

function parentPid(pid: number): number {
  // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")"
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

function launch(l: Launcher, np: number, args: string[], env?: Record<string, string>) {
  return spawnProc(l.command, [...l.args(np, { env }), process.execPath, ...args]);
}

for (const launcher of launcherFromEnv()) {
  describe(`dask-mpi-ts under ${launcher.name}`, function () {
    this.timeout(60_000);
    let tmp: ReturnType<typeof tempDir>;
    let client: Client | undefined;
    beforeEach(() => {
      tmp = tempDir();
    });
    afterEach(async () => {
      await client?.close();
      client = undefined;
      await cleanupProcs();
      tmp.remove();
    });

    async function startCluster(extra: string[] = [], np = 4, env?: Record<string, string>) {
      const file = path.join(tmp.dir, "sched.json");
      const proc = launch(launcher, np, [BIN("dask-mpi-ts"), "--scheduler-file", file, "--interface", "lo", "--local-directory", tmp.dir, ...extra], env);
      await waitFor("the scheduler file", () => existsSync(file), { timeoutMs: 20_000, proc });
      client = await Client.connect({ schedulerFile: file, timeout: 20_000 });
      await client.waitForWorkers(np - 1, { timeout: 20_000 });
      return { proc, file, client };
    }

    it("serves an outside client through the scheduler file, then shuts down cleanly", async () => {
      const { proc, file, client: c } = await startCluster();
      const info = await c.schedulerInfo();
      assert.equal(Object.keys(info.workers).length, 3);
      assert.equal(await c.submit((x: number) => x + 1, 10).result(), 11);
      const squares = await c.gather(c.map((x: number) => x * x, Array.from({ length: 1000 }, (_, i) => i)));
      assert.equal(squares.length, 1000);
      assert.equal(squares[999], 999 * 999);
      // --interface lo: everything advertised is on loopback
      assert.match(info.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
      for (const addr of Object.keys(info.workers)) assert.match(addr, /^tcp:\/\/127\.0\.0\.1:\d+$/);
      const mode = readFileSync(file).length > 0 ? (await import("node:fs")).statSync(file).mode & 0o777 : 0;
      assert.equal(mode, 0o600);
      await c.shutdown();
      const { code } = await exitWithin(proc, 20_000);
      assert.equal(code, 0, proc.stderr);
      assert.equal(existsSync(file), false, "scheduler file removed on clean shutdown");
      assert.doesNotMatch(proc.stderr, /"level":(50|60)/, "no error-level log lines on a normal run");
    });

    it("--no-nanny runs tasks without any rank forking; --name prefixes worker names", async () => {
      const { proc, client: c } = await startCluster(["--no-nanny", "--name", "w"]);
      assert.equal(await c.submit((x: number) => x + 1, 10).result(), 11);
      const info = await c.schedulerInfo();
      assert.deepEqual(Object.values(info.workers).map((w) => w.name).sort(), ["w-1", "w-2", "w-3"]);
      for (const w of Object.values(info.workers)) {
        assert.deepEqual(childPids(w.pid), [], `worker rank ${w.name} (pid ${w.pid}) has child processes`);
      }
      await c.shutdown();
      assert.equal((await exitWithin(proc, 20_000)).code, 0, proc.stderr);
    });

    it("the nanny restarts a worker killed with SIGKILL", async () => {
      const { proc, client: c } = await startCluster();
      const before = Object.values((await c.schedulerInfo()).workers).find((w) => w.name === "2")!;
      process.kill(before.pid, "SIGKILL");
      await waitFor(
        "worker 2 to come back with a new process",
        async () => {
          const ws = Object.values((await c.schedulerInfo()).workers);
          return ws.length === 3 && ws.some((w) => w.name === "2" && w.pid !== before.pid);
        },
        { timeoutMs: 20_000, proc },
      );
      assert.equal(await c.submit((x: number) => x + 1, 41, { workers: ["2"] }).result(), 42);
      await c.shutdown();
      assert.equal((await exitWithin(proc, 20_000)).code, 0, proc.stderr);
    });

    it("--tls-cert/--tls-key/--tls-ca: the whole job speaks tls://, and an outside client needs the certificates", async () => {
      const certs = makeCerts(tmp.dir, "mpi");
      const file = path.join(tmp.dir, "tls.json");
      const proc = launch(launcher, 3, [BIN("dask-mpi-ts"), "--scheduler-file", file, "--interface", "lo", "--tls-cert", certs.cert, "--tls-key", certs.key, "--tls-ca", certs.ca]);
      await waitFor("the scheduler file", () => existsSync(file), { timeoutMs: 20_000, proc });
      assert.match(JSON.parse(readFileSync(file, "utf8")).address, /^tls:\/\//);
      await assert.rejects(Client.connect({ schedulerFile: file, timeout: 2000 }), /is a TLS address/);
      client = await Client.connect({ schedulerFile: file, timeout: 20_000, tls: certs });
      await client.waitForWorkers(2, { timeout: 20_000 });
      assert.deepEqual(await client.gather(client.map((x: number) => x * 2, [1, 2, 3])), [2, 4, 6]);
      await client.shutdown();
      assert.equal((await exitWithin(proc, 30_000)).code, 0);
    });

    it("--scheduler-port puts the scheduler on that port", async () => {
      const port = await freePort();
      const { proc, file, client: c } = await startCluster(["--scheduler-port", String(port)]);
      assert.equal(JSON.parse(readFileSync(file, "utf8")).address, `tcp://127.0.0.1:${port}`);
      await c.shutdown();
      assert.equal((await exitWithin(proc, 20_000)).code, 0, proc.stderr);
    });

    it("ignores a stale scheduler file from an earlier run and overwrites it", async () => {
      const file = path.join(tmp.dir, "sched.json");
      const stale = { type: "Scheduler", id: "old", address: "tcp://127.0.0.1:9", services: {}, started: 0, secret: "old" };
      writeFileSync(file, JSON.stringify(stale), { mode: 0o600 });
      const proc = launch(launcher, 4, [BIN("dask-mpi-ts"), "--scheduler-file", file, "--interface", "lo"]);
      await waitFor("the scheduler file to be replaced", () => existsSync(file) && JSON.parse(readFileSync(file, "utf8")).id !== "old", {
        timeoutMs: 20_000,
        proc,
      });
      client = await Client.connect({ schedulerFile: file, timeout: 20_000 });
      await client.waitForWorkers(3, { timeout: 20_000 });
      assert.equal(await client.submit((x: number) => x + 1, 1).result(), 2);
      await client.shutdown();
      assert.equal((await exitWithin(proc, 20_000)).code, 0, proc.stderr);
    });

    it("one rank is too small: a clear message and a non-zero exit", async () => {
      const proc = launch(launcher, 1, [BIN("dask-mpi-ts"), "--scheduler-file", path.join(tmp.dir, "f.json")]);
      const { code } = await exitWithin(proc, 15_000);
      assert.notEqual(code, 0);
      assert.match(proc.stderr, /needs at least 2 MPI ranks, got 1/);
    });

    it("--interface nosuch0 fails naming the interfaces that exist", async () => {
      const proc = launch(launcher, 2, [BIN("dask-mpi-ts"), "--interface", "nosuch0"]);
      const { code } = await exitWithin(proc, 15_000);
      assert.notEqual(code, 0);
      assert.match(proc.stderr, /network interface "nosuch0" does not exist; interfaces here: .*\blo\b/);
    });

    it("bad flags fail on every rank with a message naming the value", async () => {
      const proc = launch(launcher, 2, [BIN("dask-mpi-ts"), "--nthreads", "zero"]);
      const { code } = await exitWithin(proc, 15_000);
      assert.notEqual(code, 0);
      assert.match(proc.stderr, /--nthreads must be a positive integer, got "zero"/);
    });

    it("worker settings come from the configuration (DASK_MPI_TS_CONFIG, env), flags over it", async () => {
      const config = path.join(tmp.dir, "site.yaml");
      writeFileSync(config, "distributed:\n  worker:\n    nthreads: 2\n    memory-limit: 1GB\n    resources: {GPU: 1}\n");
      const env = { DASK_MPI_TS_CONFIG: config, DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY_LIMIT: "0.5GB" };
      const { proc, client: c } = await startCluster(["--nthreads", "3"], 3, env);
      const workers = Object.values((await c.schedulerInfo()).workers);
      assert.deepEqual(workers.map((w) => [w.nthreads, w.memoryLimit]), [[3, 500e6], [3, 500e6]]);
      // the file's resources reached the workers: a task needing a GPU runs
      assert.equal(await c.submit((x: number) => x + 1, 1, { resources: { GPU: 1 } }).result({ timeout: 20_000 }), 2);
      await c.shutdown();
      assert.equal((await exitWithin(proc, 20_000)).code, 0, proc.stderr);
    });

    it("a bad configuration value fails every rank naming key, value and source; mpirun exits non-zero", async () => {
      const config = path.join(tmp.dir, "bad.yaml");
      writeFileSync(config, "distributed:\n  nanny:\n    max-restarts: -1\n");
      const proc = launch(launcher, 3, [BIN("dask-mpi-ts"), "--interface", "lo"], { DASK_MPI_TS_CONFIG: config });
      const { code } = await exitWithin(proc, 20_000);
      assert.notEqual(code, 0);
      assert.ok(proc.stderr.includes(`distributed.nanny.max-restarts must be a non-negative integer, got -1 (from ${config})`), proc.stderr);
    });

    it("kill -9 of a worker rank ends the job, and no process of it is left", async () => {
      const { proc, client: c } = await startCluster();
      const child = Object.values((await c.schedulerInfo()).workers).find((w) => w.name === "2")!;
      const rank = parentPid(child.pid); // with the nanny, the rank is the worker's parent
      process.kill(rank, "SIGKILL");
      const { code } = await exitWithin(proc, 20_000);
      assert.notEqual(code, 0);
      // afterEach's leak check fails the test if the nanny's child (or anything) outlived it
    });

    // issue 12, point 9: one crash-looping worker must not end the job. Its nanny gives up
    // (max-restarts 0: at the first death), its rank leaves the cluster and stays in the job,
    // idle; the graph completes on the other workers (results the dead worker held are
    // recomputed); the scheduler logs the failure at error level and lists it; the job still
    // ends with the client's status (0).
    it("a worker whose nanny gives up leaves the cluster, its rank idles; the graph completes and mpirun exits 0", async () => {
      const { proc, client: c } = await startCluster([], 4, GIVE_UP_AT_FIRST_DEATH);
      const n = 2000;
      const squares = c.map(
        (x: number) => {
          const end = Date.now() + 1;
          while (Date.now() < end);
          return x * x;
        },
        Array.from({ length: n }, (_, i) => i),
      );
      const victim = await waitFor(
        "worker 2 to hold results",
        async () => Object.values((await c.schedulerInfo()).workers).find((w) => w.name === "2" && w.inMemory > 0),
        { timeoutMs: 20_000, proc },
      );
      const rank = parentPid(victim.pid); // with the nanny, the rank is the worker's parent
      process.kill(victim.pid, "SIGKILL");
      // the job goes on: every result, including those the dead worker held
      const values = await c.gather(squares);
      assert.equal(values.reduce((a, b) => a + b, 0), ((n - 1) * n * (2 * n - 1)) / 6);
      const info = await waitFor("the scheduler to list worker 2 as failed", async () => {
        const i = await c.schedulerInfo();
        return i.failedWorkers?.length ? i : undefined;
      }, { timeoutMs: 20_000, proc });
      assert.deepEqual(info.failedWorkers.map((f) => f.name), ["2"]);
      assert.match(info.failedWorkers[0]!.reason, /worker died 1 times within 60000 ms .*not restarting/);
      // the rank is still in the job and started no new worker
      assert.ok(existsSync(`/proc/${rank}`), "the rank of the failed worker is still alive");
      assert.deepEqual(Object.values(info.workers).map((w) => w.name).sort(), ["1", "3"]);
      await c.shutdown();
      assert.equal((await exitWithin(proc, 30_000)).code, 0, proc.stderr);
      assertSchedulerLoggedFailure(proc.stderr, "2");
    });

    // protects: without a client rank, a worker that ended cleanly (retired) let its rank exit
    // into the final barrier while the others worked on; the barrier timed out after 15 s
    // (job.ts END_BARRIER_TIMEOUT_MS) and the rank aborted the whole job with status 1
    it("a retired worker's rank stays in the job: the cluster goes on and mpirun exits 0", async function () {
      this.timeout(120_000);
      const { proc, client: c } = await startCluster();
      const retired = await c.retireWorkers(["2"]);
      assert.equal(retired.length, 1);
      await waitFor("worker 2 to leave", async () => !Object.values((await c.schedulerInfo()).workers).some((w) => w.name === "2"), { timeoutMs: 20_000, proc });
      // past the final barrier's timeout, which is what ended the job before
      await new Promise((r) => setTimeout(r, 17_000));
      assert.equal(proc.child.exitCode, null, `the job ended: ${proc.stderr.slice(-2000)}`);
      assert.equal(await c.submit((x: number) => x + 1, 41).result({ timeout: 20_000 }), 42);
      await c.shutdown();
      assert.equal((await exitWithin(proc, 30_000)).code, 0, proc.stderr);
    });

    // issue 13 (P1): --no-scheduler ranks follow a restarted scheduler as dask-worker-ts does
    // (they read the scheduler file again when they lose it); they used to keep trying the dead
    // address until their death timeout
    it("--no-scheduler ranks rejoin a scheduler restarted with a new address and secret", async function () {
      this.timeout(120_000);
      const file = path.join(tmp.dir, "sched.json");
      const scheduler = () =>
        spawnProc(process.execPath, [BIN("dask-scheduler-ts"), "--scheduler-file", file, "--interface", "lo", "--no-dashboard"], { env: { DASK_MPI_TS_LOG_LEVEL: "warn" } });
      const first = scheduler();
      await waitFor("the scheduler file", () => existsSync(file), { timeoutMs: 20_000, proc: first });
      const firstId = JSON.parse(readFileSync(file, "utf8")).id as string;
      const args = ["--no-scheduler", "--scheduler-file", file, "--interface", "lo", "--local-directory", tmp.dir, "--name", "ns", "--death-timeout", "90s"];
      const proc = launch(launcher, 2, [BIN("dask-mpi-ts"), ...args]);
      client = await Client.connect({ schedulerFile: file, timeout: 20_000 });
      await client.waitForWorkers(2, { timeout: 30_000 });
      await client.close();
      client = undefined;
      // the scheduler dies without cleaning up; a new one (new address, new secret) takes its file
      first.child.kill("SIGKILL");
      await exitWithin(first, 10_000);
      const second = scheduler();
      await waitFor("the second scheduler's file", () => JSON.parse(readFileSync(file, "utf8")).id !== firstId, { timeoutMs: 20_000, proc: second });
      client = await Client.connect({ schedulerFile: file, timeout: 20_000 });
      await client.waitForWorkers(2, { timeout: 45_000 });
      const names = Object.values((await client.schedulerInfo()).workers).map((w) => w.name).sort();
      assert.deepEqual(names, ["ns-0", "ns-1"]);
      assert.equal(await client.submit((x: number) => x * 7, 6).result({ timeout: 20_000 }), 42);
      assert.equal(proc.exitCode(), undefined, "the job stayed up across the restart");
      // the new scheduler's shutdown ends the job cleanly
      await client.shutdown();
      assert.equal((await exitWithin(proc, 30_000)).code, 0, proc.stderr);
      await exitWithin(second, 20_000);
    });

    it("with SCRIPT: a worker whose nanny gives up leaves the cluster; the script's graph completes and mpirun exits 0", async () => {
      const proc = launch(launcher, 4, [BIN("dask-mpi-ts"), "--interface", "lo", "--local-directory", tmp.dir, FIXTURE("give-up-client")], GIVE_UP_AT_FIRST_DEATH);
      const { code } = await exitWithin(proc, 50_000);
      assert.equal(code, 0, proc.stderr);
      assertGaveUpOutput(proc.stdout, proc.stderr);
    });

    // issue 12, point 9, as reported: with the default restart limit (5), kill -9 one worker's
    // process each time its nanny brings it back, during a 5,000-task graph, until the nanny
    // gives up at the 6th death; the graph still completes and the job ends 0
    it("kill -9 of one worker until its nanny gives up, during a 5,000-task graph: the graph completes, mpirun exits 0", async function () {
      this.timeout(120_000);
      // a long window, so that slow restarts on a loaded machine still count as one crash loop;
      // allowed-failures as in the integration chaos test: a task may be on the victim each time
      const env = { DASK_MPI_TS_DISTRIBUTED__NANNY__RESTART_WINDOW: "600s", DASK_MPI_TS_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES: "20" };
      const { proc, client: c } = await startCluster([], 4, env);
      const n = 5000;
      const futures = c.map(
        (x: number) => {
          const end = Date.now() + 1;
          while (Date.now() < end);
          return x;
        },
        Array.from({ length: n }, (_, i) => i + 1),
      );
      let last = 0;
      for (let death = 1; death <= 6; death++) {
        const w = await waitFor(
          `worker 1's life ${death}`,
          async () => Object.values((await c.schedulerInfo()).workers).find((x) => x.name === "1" && x.pid !== last),
          { timeoutMs: 30_000, proc },
        );
        last = w.pid;
        process.kill(w.pid, "SIGKILL");
      }
      const values = await c.gather(futures);
      assert.equal(values.reduce((a, b) => a + b, 0), (n * (n + 1)) / 2);
      const info = await waitFor("the scheduler to list worker 1 as failed", async () => {
        const i = await c.schedulerInfo();
        return i.failedWorkers?.length ? i : undefined;
      }, { timeoutMs: 20_000, proc });
      assert.deepEqual(info.failedWorkers.map((f) => f.name), ["1"]);
      assert.match(info.failedWorkers[0]!.reason, /^worker died 6 times within 600000 ms/);
      await c.shutdown();
      assert.equal((await exitWithin(proc, 30_000)).code, 0, proc.stderr);
    });

    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      it(`${signal} to mpirun (Ctrl-C) ends every rank, leaving no process behind`, async () => {
        const { proc } = await startCluster();
        await client!.close();
        client = undefined;
        proc.child.kill(signal);
        const { code, signal: sig } = await exitWithin(proc, 20_000);
        // Open MPI reports the interruption. mpiexec.hydra, itself signalled, sums the exit
        // statuses its proxies sent and skips a proxy whose statuses never reached it: under
        // load it can return 0 after a Ctrl-C (seen once in ~15 loaded suites). That is the
        // launcher's own status, not the ranks' (they all exit 143 here), so only Open MPI's is checked.
        if (launcher.name === "openmpi") assert.ok(code !== 0 || sig !== null, `mpirun reported the interruption (code ${code}, signal ${sig})`);
        // rank 0 removes its file when the signal reaches it before the launcher's SIGKILL:
        // best effort (hydra kills the rest as soon as one rank has exited; Open MPI after a
        // grace period), and a stale file is harmless (see the stale-file test). What must
        // hold is that mpirun returned, and the leak check in afterEach proves that no rank
        // or nanny child outlived it.
      });
    }

    // Protects: a worker still connecting when the client's script ended retried the stopped
    // scheduler until the final barrier's deadline (15 s): the job then aborted with exit 1,
    // though the script had succeeded (a slow rank, a short script: 1 start-up in ~60 here)
    for (const nanny of [true, false]) {
      it(`a worker rank not yet up when a short SCRIPT ends leaves with the others, and mpirun exits 0 (${nanny ? "nanny" : "--no-nanny"})`, async () => {
        const args = [BIN("dask-mpi-ts"), "--interface", "lo", ...(nanny ? [] : ["--no-nanny"]), FIXTURE("quick-client")];
        // ranks 0-2 as usual; rank 3's connections start 10 s late (the script ends long before)
        const proc = spawnProc(launcher.command, [...launcher.args(3), process.execPath, ...args, ":", "-np", "1", process.execPath, "--import", FIXTURE("late-connect"), ...args]);
        const { code } = await exitWithin(proc, 40_000);
        assert.equal(code, 0, proc.stdout + proc.stderr);
        assert.match(proc.stdout, /QUICK CLIENT done/);
        assert.match(proc.stdout, /LATE CONNECT installed in pid \d+/, "rank 3 did not load the delay: the case was not tested");
      });
    }

    // Protects: with --inclusive-workers, rank 1 also runs a worker (under a nanny, or in its own
    // process), and with --scheduler-rank 1 the scheduler: each kept rank 1's Node alive after
    // the script ended, its exit hook never announced the status, and mpirun never returned
    const placements = [["--inclusive-workers"], ["--inclusive-workers", "--no-nanny"], ["--scheduler-rank", "1"], ["--scheduler-rank", "1", "--inclusive-workers", "--no-nanny"]];
    for (const placement of placements) for (const status of [0, 3]) {
      it(`${placement.join(" ")}: a SCRIPT that ends without process.exit or shutdown ends the job with its status (${status})`, async () => {
        const proc = launch(launcher, 3, [BIN("dask-mpi-ts"), "--interface", "lo", ...placement, FIXTURE("script-client"), String(status)]);
        const { code } = await exitWithin(proc, 40_000);
        assert.equal(code, status, proc.stdout + proc.stderr);
        const line = proc.stdout.split("\n").find((l) => l.startsWith("{"));
        assert.ok(line, `script output missing:\n${proc.stdout}\n${proc.stderr}`);
        assert.equal(JSON.parse(line).one, 11);
      });
    }

    for (const status of [0, 3]) {
      it(`runs SCRIPT on rank 1 and exits with its status (${status})`, async () => {
        const proc = launch(launcher, 4, [BIN("dask-mpi-ts"), "--interface", "lo", FIXTURE("script-client"), String(status)]);
        const { code } = await exitWithin(proc, 30_000);
        assert.equal(code, status, proc.stderr);
        const line = proc.stdout.split("\n").find((l) => l.startsWith("{"));
        assert.ok(line, `script output missing:\n${proc.stdout}\n${proc.stderr}`);
        assert.deepEqual(JSON.parse(line), { one: 11, workers: ["2", "3"], argv: [String(status)] });
      });
    }
  });
}
