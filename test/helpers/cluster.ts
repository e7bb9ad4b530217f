/** Paths and small helpers shared by the tests that launch real clusters. */
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root (tests run from dist/test/...). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const BIN = (name: string) => path.join(ROOT, "bin", `${name}.js`);
export const FIXTURE = (name: string) => path.join(ROOT, "dist/test/mpi/fixtures", `${name}.js`);

/** A fresh temporary directory and its removal. */
export function tempDir(prefix = "dask-mpi-ts-test-"): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

import { existsSync } from "node:fs";
import { type Proc, spawnProc, waitFor } from "./proc.js";

export interface ProcessCluster {
  file: string;
  scheduler: Proc;
  workers: Proc[];
}

/**
 * A scheduler and workers as separate processes (dask-scheduler-ts, dask-worker-ts) on
 * loopback, meeting through a scheduler file in `dir`. Processes are killed by cleanupProcs().
 */
export async function startProcessCluster(
  dir: string,
  opts: {
    workers: number;
    /** --nthreads for every worker; without it the configuration decides (default 1). */
    nthreads?: number;
    nanny?: boolean;
    workerArgs?: (i: number) => string[];
    /** Environment of one worker (e.g. configuration variables), over the cluster's. */
    workerEnv?: (i: number) => NodeJS.ProcessEnv;
    schedulerEnv?: NodeJS.ProcessEnv;
  },
): Promise<ProcessCluster> {
  const file = path.join(dir, "sched.json");
  const env = { DASK_MPI_TS_LOG_LEVEL: "warn" };
  const scheduler = spawnProc(process.execPath, [BIN("dask-scheduler-ts"), "--scheduler-file", file, "--interface", "lo"], {
    env: { ...env, ...opts.schedulerEnv },
  });
  await waitFor("the scheduler file", () => existsSync(file), { timeoutMs: 15_000, proc: scheduler });
  const workers = Array.from({ length: opts.workers }, (_, i) =>
    spawnProc(
      process.execPath,
      [
        BIN("dask-worker-ts"), "--scheduler-file", file, "--interface", "lo", "--name", `w${i}`,
        ...(opts.nthreads === undefined ? [] : ["--nthreads", String(opts.nthreads)]),
        opts.nanny === false ? "--no-nanny" : "--nanny",
        // spill directories of killed workers stay inside the test's directory
        "--local-directory", dir,
        ...(opts.workerArgs?.(i) ?? []),
      ],
      { env: { ...env, ...opts.workerEnv?.(i) } },
    ),
  );
  return { file, scheduler, workers };
}
