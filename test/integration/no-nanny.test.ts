// Workers without a nanny (issue 12, point 8): several of them cannot share one process
// (memory is measured per process), so `dask-worker-ts --nworkers N --no-nanny` is refused, as
// Dask refuses it; and workers that do share a process (the in-process API) do not spin on
// garbage collection when they are all paused.
import assert from "node:assert/strict";
import { PerformanceObserver, constants } from "node:perf_hooks";
import { Scheduler } from "../../src/scheduler/server.js";
import { Worker } from "../../src/worker/worker.js";
import { BIN, startProcessCluster, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, exitWithin, spawnProc, waitFor } from "../helpers/proc.js";

describe("workers without a nanny", function () {
  this.timeout(60_000);

  describe("dask-worker-ts --nworkers N --no-nanny (real processes)", function () {
    let tmp: ReturnType<typeof tempDir>;
    beforeEach(() => (tmp = tempDir()));
    afterEach(async () => {
      await cleanupProcs();
      tmp.remove();
    });

    it("is refused at once, naming both flags, with a non-zero exit (and --nworkers 1 --no-nanny still runs)", async () => {
      // the old behaviour: 20 workers in one process, each comparing the whole process's memory
      // with its own limit
      const c = await startProcessCluster(tmp.dir, { workers: 0 });
      const args = ["--scheduler-file", c.file, "--interface", "lo", "--no-nanny", "--memory-limit", "1GB", "--local-directory", tmp.dir];
      const many = spawnProc(process.execPath, [BIN("dask-worker-ts"), ...args, "--nworkers", "20"]);
      const r = await exitWithin(many, 20_000);
      assert.equal(r.code, 1, many.stderr);
      assert.match(many.stderr, /dask-worker-ts: error: --nworkers 20 cannot be used with --no-nanny/);
      const one = spawnProc(process.execPath, [BIN("dask-worker-ts"), ...args, "--nworkers", "1"], { env: { DASK_MPI_TS_LOG_LEVEL: "debug" } });
      await waitFor("the single worker to register", () => /worker registered/.test(one.stderr), { timeoutMs: 20_000, proc: one });
    });
  });

  describe("paused workers sharing one process (in-process)", function () {
    const secret = "test-secret-0123456789";
    let scheduler: Scheduler | undefined;
    let workers: Worker[] = [];
    afterEach(async () => {
      await Promise.all(workers.map((w) => w.close("test over")));
      workers = [];
      await scheduler?.close("test over");
      scheduler = undefined;
    });

    it("collect garbage at most once a second between them, not once a second each", async () => {
      scheduler = await Scheduler.start({ secret, host: "127.0.0.1" });
      // a 1-byte limit: every worker is above pause at once (terminate and spilling off)
      const memory = { target: false, spill: false, pause: 0.8, terminate: false } as const;
      workers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          Worker.start({ schedulerAddress: scheduler!.address, secret, name: `p${i}`, host: "127.0.0.1", memoryLimit: 1, memory, memoryMonitorMs: 20 }),
        ),
      );
      await waitFor("all workers to pause", () => workers.every((w) => w.state.paused), { timeoutMs: 20_000 });
      let majors = 0;
      const count = (entries: PerformanceEntry[]) => {
        for (const e of entries) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
      };
      const obs = new PerformanceObserver((list) => count(list.getEntries()));
      obs.observe({ entryTypes: ["gc"] });
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 3000));
      count(obs.takeRecords());
      obs.disconnect();
      const seconds = (performance.now() - t0) / 1000;
      // 8 workers collecting once a second each would be about 24 here; one limit for the
      // process allows one a second (and V8's own collections, which are rare in an idle process)
      assert.ok(majors <= Math.ceil(seconds) + 2, `${majors} full collections in ${seconds.toFixed(1)} s`);
    });
  });
});
