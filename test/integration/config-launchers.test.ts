// The configuration reaching real launchers: YAML files and DASK_MPI_TS_* variables set what
// dask-worker-ts and dask-scheduler-ts do, flags win, and a bad value stops a launcher at once.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Client } from "../../src/index.js";
import { BIN, ROOT, startProcessCluster, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, exitWithin, spawnProc } from "../helpers/proc.js";

/** process.env without configuration variables, so that only a test's own sources count. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^DASK_MPI_TS_(CONFIG$|[A-Z]+__)/.test(k)));
}

describe("configuration in the launchers (real processes)", function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  let client: Client | undefined;
  let userConfig: string;
  beforeEach(() => {
    tmp = tempDir();
    userConfig = path.join(tmp.dir, ".config", "dask-mpi-ts");
    mkdirSync(userConfig, { recursive: true });
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await cleanupProcs();
    tmp.remove();
  });

  it("without a source no launcher loads zod; with one, it validates (start-up time is benchmarked)", async () => {
    const startup = path.join(ROOT, "dist/src/config/startup.js");
    const script = `const { startupConfig } = await import(${JSON.stringify(startup)}); const c = await startupConfig();` +
      "console.log(JSON.stringify({ zod: globalThis.__zod_globalRegistry !== undefined, nthreads: c.values.distributed.worker.nthreads }));";
    const run = async (env: NodeJS.ProcessEnv) => {
      const p = spawnProc(process.execPath, ["--input-type=module", "-e", script], { env: { ...cleanEnv(), HOME: tmp.dir, ...env } });
      assert.equal((await exitWithin(p, 20_000)).code, 0, p.stderr);
      return JSON.parse(p.stdout) as { zod: boolean; nthreads: number };
    };
    assert.deepEqual(await run({ DASK_MPI_TS_SECRET: "not config", DASK_MPI_TS_LOG_LEVEL: "warn" }), { zod: false, nthreads: 1 });
    assert.deepEqual(await run({ DASK_MPI_TS_DISTRIBUTED__WORKER__NTHREADS: "2" }), { zod: true, nthreads: 2 });
  });

  it("a config file and env variables set real workers' settings; a flag beats env beats file", async () => {
    writeFileSync(path.join(userConfig, "worker.yaml"), "distributed:\n  worker:\n    nthreads: 3\n    memory-limit: 1GB\n");
    const env = { ...cleanEnv(), HOME: tmp.dir };
    const c = await startProcessCluster(tmp.dir, {
      workers: 3,
      schedulerEnv: env,
      // w0: the file; w1: env over the file; w2: a flag over env and file
      workerEnv: (i) => (i === 0 ? env : { ...env, DASK_MPI_TS_DISTRIBUTED__WORKER__NTHREADS: "2", DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY_LIMIT: "500MB" }),
      workerArgs: (i) => (i === 2 ? ["--nthreads", "4"] : []),
    });
    client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
    await client.waitForWorkers(3, { timeout: 20_000 });
    const byName = Object.fromEntries(Object.values((await client.schedulerInfo()).workers).map((w) => [w.name, { nthreads: w.nthreads, memoryLimit: w.memoryLimit }]));
    assert.deepEqual(byName, {
      w0: { nthreads: 3, memoryLimit: 1e9 },
      w1: { nthreads: 2, memoryLimit: 500e6 },
      w2: { nthreads: 4, memoryLimit: 500e6 },
    });
    // and they do what they say: w0 runs three tasks at once (each waits until all three started:
    // on fewer threads they could not all start, and they would give up after 30 s)
    const meet = path.join(tmp.dir, "meet");
    mkdirSync(meet);
    const met = await client.gather(
      client.map(
        async (i: number, dir: string) => {
          const fs = await import("node:fs");
          fs.writeFileSync(`${dir}/started-${i}`, "");
          const deadline = Date.now() + 30_000;
          while (fs.readdirSync(dir).length < 3) {
            if (Date.now() > deadline) return false;
            await new Promise((r) => setTimeout(r, 20));
          }
          return true;
        },
        [1, 2, 3],
        [meet, meet, meet],
        { workers: ["w0"], pure: false },
      ),
      { timeout: 60_000 },
    );
    assert.deepEqual(met, [true, true, true], "three tasks ran at once on w0");
  });

  it("dask-scheduler-ts takes distributed.scheduler.idle-timeout from the environment: it closes once idle, never while a task runs", async () => {
    // the idle clock runs from the scheduler's start, so it must outlast starting a worker and
    // connecting a client on a loaded machine (4 s did not, once, and the scheduler rightly
    // closed before the first task): a load-bound wait, hence 10 s
    const env = { ...cleanEnv(), HOME: tmp.dir, DASK_MPI_TS_DISTRIBUTED__SCHEDULER__IDLE_TIMEOUT: "10s" };
    const c = await startProcessCluster(tmp.dir, { workers: 1, schedulerEnv: env, workerEnv: () => env });
    client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
    await client.waitForWorkers(1, { timeout: 20_000 });
    // runs past the idle timeout: work in progress is not idleness
    const slow = client.submit(async () => {
      await new Promise((r) => setTimeout(r, 11_000));
      return "done";
    });
    assert.equal(await slow.result({ timeout: 40_000 }), "done");
    assert.equal(c.scheduler.exitCode(), undefined, "the scheduler closed while a task ran");
    const { code } = await exitWithin(c.scheduler, 25_000);
    assert.equal(code, 0, c.scheduler.stderr);
    assert.equal((await exitWithin(c.workers[0]!, 15_000)).code, 0, c.workers[0]!.stderr);
  });

  it("a bad value in a config file stops dask-worker-ts and dask-scheduler-ts at start, naming key, value and source", async () => {
    const file = path.join(userConfig, "bad.yaml");
    writeFileSync(file, "distributed:\n  worker:\n    memory:\n      target: 1.5\n  scheduler:\n    worker-ttl: soon\n");
    const env = { ...cleanEnv(), HOME: tmp.dir };
    const worker = spawnProc(process.execPath, [BIN("dask-worker-ts"), "--scheduler-file", path.join(tmp.dir, "none.json")], { env });
    const scheduler = spawnProc(process.execPath, [BIN("dask-scheduler-ts"), "--scheduler-file", path.join(tmp.dir, "s.json")], { env });
    for (const p of [worker, scheduler]) {
      const { code } = await exitWithin(p, 20_000);
      assert.notEqual(code, 0);
      assert.ok(p.stderr.includes(`distributed.worker.memory.target must be a fraction between 0 and 1 or false, got 1.5 (from ${file})`), p.stderr);
      assert.ok(p.stderr.includes(`distributed.scheduler.worker-ttl must be a duration like 30s, 5m or 100ms, or a number of seconds, or null, got "soon" (from ${file})`), p.stderr);
    }
    // a flag is not a way around a bad file: the file is wrong whatever the flags say
    const flagged = spawnProc(process.execPath, [BIN("dask-worker-ts"), "--memory-target", "0.5", "--scheduler-file", path.join(tmp.dir, "none.json")], { env });
    assert.notEqual((await exitWithin(flagged, 20_000)).code, 0);
  });
});
