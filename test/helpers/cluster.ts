/**
 * Paths and helpers shared by the tests that run clusters: withCluster() (one process over
 * inproc://, or real processes), and the process cluster under it.
 */
import { createServer } from "node:net";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
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

import { Client } from "../../src/index.js";
import type { TlsFiles } from "../../src/comm/tls.js";
import type { Scheme } from "../../src/comm/types.js";
import type { SchedulerOptions } from "../../src/scheduler/options.js";
import { Scheduler } from "../../src/scheduler/server.js";
import { withBuiltins } from "../../src/deploy/extensions.js";
import type { WorkerOptions } from "../../src/worker/options.js";
import { Worker } from "../../src/worker/worker.js";
import { type Proc, cleanupProcs, spawnProc, waitFor } from "./proc.js";

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

/** Scheduler, workers and client in this process: fast, for logic; the roles are at hand. */
export interface InprocClusterOptions {
  mode: "inproc";
  /** How many workers, named w0, w1, ... */
  workers: number;
  /** Task threads per worker (default 1). */
  nthreads?: number;
  /** Transport between the roles: inproc (default), or tcp/tls on loopback for tests about sockets. */
  protocol?: Scheme;
  /** Certificates, with protocol "tls". */
  tls?: TlsFiles;
  /** Only false: a nanny's worker is a child process, which inproc:// cannot reach. */
  nanny?: false;
  secret?: string;
  scheduler?: Partial<SchedulerOptions>;
  /** More options of worker i. */
  worker?: (i: number) => Partial<WorkerOptions>;
}

/** dask-scheduler-ts and dask-worker-ts processes on loopback: for what must be real. */
export interface ProcessClusterOptions {
  mode: "process";
  workers: number;
  nthreads?: number;
  /** Workers under nannies (default true). */
  nanny?: boolean;
  workerArgs?: (i: number) => string[];
  workerEnv?: (i: number) => NodeJS.ProcessEnv;
  schedulerEnv?: NodeJS.ProcessEnv;
}

interface ClusterCommon {
  client: Client;
  /** The scheduler's address (inproc://…, tcp://…, tls://…). */
  address: string;
  secret: string;
  /** Close the client, then the roles (or kill the processes, checking for leaks); idempotent. */
  cleanup(): Promise<void>;
}
export interface InprocCluster extends ClusterCommon {
  scheduler: Scheduler;
  workers: Worker[];
}
export interface ProcessClusterHandle extends ClusterCommon {
  scheduler: Proc;
  workers: Proc[];
  /** The scheduler file, and the directory it and the workers' spill directories are in. */
  file: string;
  dir: string;
}

/**
 * One cluster fixture for the tests: `inproc` runs scheduler, workers and client in this
 * process over inproc:// (no sockets, no spawns); `process` starts real processes and connects
 * through the scheduler file. Either way the client is connected and the workers have joined.
 * Call `cleanup()` in after/afterEach.
 * @example const c = await withCluster({ mode: "inproc", workers: 2 }); ...; await c.cleanup();
 */
export function withCluster(o: InprocClusterOptions): Promise<InprocCluster>;
export function withCluster(o: ProcessClusterOptions): Promise<ProcessClusterHandle>;
export async function withCluster(o: InprocClusterOptions | ProcessClusterOptions): Promise<InprocCluster | ProcessClusterHandle> {
  return o.mode === "inproc" ? inprocCluster(o) : processCluster(o);
}

async function inprocCluster(o: InprocClusterOptions): Promise<InprocCluster> {
  if (o.nanny !== undefined && o.nanny !== false) throw new Error('withCluster: a nanny needs mode "process" (its worker is a child process)');
  const secret = o.secret ?? "inproc-test-secret-0123456789";
  const protocol = o.protocol ?? "inproc";
  // tcp and tls stay on loopback; inproc names are made unique by the backend
  const where = protocol === "inproc" ? { protocol } : { protocol, host: "127.0.0.1" };
  let scheduler: Scheduler | undefined;
  const workers: Worker[] = [];
  let client: Client | undefined;
  let done: Promise<void> | undefined;
  const cleanup = () =>
    (done ??= (async () => {
      await client?.close();
      await Promise.allSettled(workers.map((w) => w.close("test over")));
      await scheduler?.close("test over");
    })());
  try {
    scheduler = await Scheduler.start(withBuiltins({ secret, ...where, tls: o.tls, ...o.scheduler }));
    const at = protocol === "inproc" ? { listenAddress: "inproc://" } : { host: "127.0.0.1" };
    for (let i = 0; i < o.workers; i++) {
      // one at a time: the list is complete for cleanup() whatever fails
      workers.push(await Worker.start({ schedulerAddress: scheduler.address, secret, name: `w${i}`, nthreads: o.nthreads, tls: o.tls, ...at, ...o.worker?.(i) }));
    }
    client = await Client.connect(scheduler.address, { secret, tls: o.tls });
    await client.waitForWorkers(o.workers, { timeout: 20_000 });
    return { client, scheduler, workers, address: scheduler.address, secret, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function processCluster(o: ProcessClusterOptions): Promise<ProcessClusterHandle> {
  const tmp = tempDir();
  let client: Client | undefined;
  let done: Promise<void> | undefined;
  const cleanup = () =>
    (done ??= (async () => {
      try {
        await client?.close();
        await cleanupProcs();
      } finally {
        tmp.remove();
      }
    })());
  try {
    const c = await startProcessCluster(tmp.dir, o);
    client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
    await client.waitForWorkers(o.workers, { timeout: 30_000 });
    const { secret } = JSON.parse(readFileSync(c.file, "utf8")) as { secret: string };
    return { client, scheduler: c.scheduler, workers: c.workers, address: client.schedulerAddress, secret, file: c.file, dir: tmp.dir, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
