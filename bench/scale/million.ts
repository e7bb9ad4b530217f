/**
 * Scale fixture, a million tasks on 2 real workers (issue 15, point 5): `node million.js [N] [SMALL]`
 * (defaults 1,000,000 and 50,000). One scheduler (bench/scale.ts's withScheduler: its own
 * process, no dashboard), `dask-worker-ts --nworkers 2` (nannies, 1 thread each) through the
 * scheduler file, this process the client:
 *   map      client.map of SMALL trivial tasks + gather, then of N: tasks/s of each (the target:
 *            N at no less than SMALL's rate), every value checked;
 *   tree     a reduction of N leaves (a map of N, then sums of FANIN futures each, level by
 *            level, the whole graph submitted before the root is awaited): tasks/s, the sum checked;
 *   memory   peak RSS of the client (this process) and of the scheduler (target: each < 2 GiB),
 *            and the scheduler's longest event-loop block;
 *   bounds   CPU per task and the share of it in garbage collection, of scheduler and client,
 *            for each phase (what grows from SMALL to N).
 * Then SIGTERM to the command; every process it started must end. Prints one BENCH_JSON line.
 */
import { spawn } from "node:child_process";
import { PerformanceObserver } from "node:perf_hooks";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client, type Future } from "../../src/index.js";
import { emit, now, within } from "../fixtures/common.js";
import { root } from "../runner.js";
import { withScheduler } from "../scale.js";
import { TAG_VAR } from "../../test/helpers/proc.js";
import { BENCH_CLIENT, sampleScheduler, watchStalls } from "./probe.js";
import { pause, stop } from "./procs.js";

const [n = 1_000_000, small = 50_000] = process.argv.slice(2).map(Number);
if (![n, small].every((x) => Number.isInteger(x) && x > 0)) throw new Error("usage: million.js [N] [SMALL]");
/** Leaves summed by one task of the tree (Dask's split_every is 8 for most reductions too). */
export const FANIN = 8;

export interface MillionResult {
  n: number;
  small: number;
  fanIn: number;
  smallRate: number;
  rate: number;
  treeTasks: number;
  treeRate: number;
  clientPeakRssMiB: number;
  schedulerPeakRssMiB: number;
  /** peak RSS so far, MiB, read at the end of each phase (it only grows: the phase that raised it shows) */
  peakRssMiB: { scheduler: Phases; client: Phases };
  maxStallMs: number;
  /** share of each process's CPU spent in garbage collection, percent, by phase */
  gcPercent: { scheduler: Phases; client: Phases };
  /** CPU us per task by phase */
  cpuUsPerTask: { scheduler: Phases; client: Phases };
}

interface Phases {
  small: number;
  map: number;
  tree: number;
}

const inc = (x: number) => x + 1;
const sum = (...xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function mapGather(client: Client, m: number): Promise<number> {
  const t0 = now();
  const futures = client.map(inc, Array.from({ length: m }, (_, i) => i), { pure: false });
  const out = await within(3_600_000, `map+gather of ${m}`, client.gather(futures));
  const rate = m / ((now() - t0) / 1000);
  for (let i = 0; i < m; i++) if (out[i] !== i + 1) throw new Error(`map of ${m}: wrong value at ${i}: ${out[i]}`);
  for (const f of futures) f.release();
  return rate;
}

/** Sum of inc(i) for i < m by a tree of FANIN-way sums: its tasks and tasks/s. */
async function tree(client: Client, m: number): Promise<{ tasks: number; rate: number }> {
  const t0 = now();
  let layer: Array<Future<number>> = client.map(inc, Array.from({ length: m }, (_, i) => i), { pure: false });
  const all = layer.slice(); // not push(...layer): a million arguments overflow the stack
  while (layer.length > 1) {
    // FANIN lists: the j-th holds every FANIN-th future from j; a short last group adds zeros
    const groups = Math.ceil(layer.length / FANIN);
    const cols = Array.from({ length: FANIN }, (_, j) => Array.from({ length: groups }, (_, g) => layer[g * FANIN + j] ?? 0));
    layer = (client.map as (fn: typeof sum, ...rest: unknown[]) => Array<Future<number>>)(sum, ...cols, { pure: false });
    for (const f of layer) all.push(f);
  }
  const total = await within(3_600_000, `the root of a tree of ${m} leaves`, layer[0]!.result());
  const rate = all.length / ((now() - t0) / 1000);
  if (total !== (m * (m + 1)) / 2) throw new Error(`tree of ${m}: sum ${total}, expected ${(m * (m + 1)) / 2}`);
  for (const f of all) f.release();
  return { tasks: all.length, rate };
}

const schedulerPeakRss = (client: Client) => client.runOnScheduler(() => process.resourceUsage().maxRSS * 1024);
const ownPeakRss = () => process.resourceUsage().maxRSS * 1024;
/** Peak RSS so far of the client and the scheduler, MiB. */
const peaks = async (client: Client) => ({ client: ownPeakRss() / 2 ** 20, scheduler: (await schedulerPeakRss(client)) / 2 ** 20 });

/** Count garbage-collection time in this process from now on (ms so far: gcMs()). */
function watchGc(): () => number {
  let ms = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) ms += e.duration;
  }).observe({ entryTypes: ["gc"] });
  return () => ms;
}

/** The same in the scheduler: its GC ms and CPU ms so far, through runOnScheduler. */
async function watchSchedulerGc(client: Client): Promise<() => Promise<{ gcMs: number; cpuMs: number }>> {
  await client.runOnScheduler(async () => {
    const { PerformanceObserver: Observer } = await import("node:perf_hooks");
    const g = globalThis as { benchGcMs?: number };
    g.benchGcMs = 0;
    new Observer((list) => {
      for (const e of list.getEntries()) g.benchGcMs! += e.duration;
    }).observe({ entryTypes: ["gc"] });
  });
  return () =>
    client.runOnScheduler(() => {
      const u = process.cpuUsage();
      return { gcMs: (globalThis as { benchGcMs?: number }).benchGcMs ?? 0, cpuMs: (u.user + u.system) / 1000 };
    });
}

/** Share of CPU spent in GC between two readings, percent. */
const gcShare = (a: { gcMs: number; cpuMs: number }, b: { gcMs: number; cpuMs: number }) => (100 * (b.gcMs - a.gcMs)) / Math.max(1, b.cpuMs - a.cpuMs);
const ownCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const result = await withScheduler(async (file): Promise<MillionResult> => {
  const client = await Client.connect({ schedulerFile: file }, BENCH_CLIENT);
  const tag = randomUUID();
  const local = mkdtempSync(path.join(tmpdir(), "scale-million-"));
  const child = spawn(
    process.execPath,
    [path.join(root, "bin/dask-worker-ts.js"), "--scheduler-file", file, "--nworkers", "2", "--nthreads", "1", "--local-directory", local, "--host", "127.0.0.1", "--log-level", "warn"],
    { cwd: root, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, [TAG_VAR]: tag } },
  );
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  try {
    await watchStalls(client);
    const deadline = now() + 120_000;
    while ((await sampleScheduler(client, false)).workers < 2) {
      if (child.exitCode !== null || now() > deadline) throw new Error(`2 workers did not join (exit ${child.exitCode}):\n${stderr}`);
      await pause(50);
    }
    await mapGather(client, 1000); // warm-up: the function is known on both workers
    const schedulerGc = await watchSchedulerGc(client);
    const clientGc = watchGc();
    const own = () => ({ gcMs: clientGc(), cpuMs: ownCpuMs() });
    const [s0, c0] = [await schedulerGc(), own()];
    const smallRate = await mapGather(client, small);
    const [s1, c1, p1] = [await schedulerGc(), own(), await peaks(client)];
    const rate = await mapGather(client, n);
    const [s2, c2, p2] = [await schedulerGc(), own(), await peaks(client)];
    const t = await tree(client, n);
    const [s3, c3, p3] = [await schedulerGc(), own(), await peaks(client)];
    const s = await sampleScheduler(client, false);
    return {
      n,
      small,
      fanIn: FANIN,
      smallRate,
      rate,
      treeTasks: t.tasks,
      treeRate: t.rate,
      clientPeakRssMiB: p3.client,
      schedulerPeakRssMiB: p3.scheduler,
      peakRssMiB: {
        scheduler: { small: p1.scheduler, map: p2.scheduler, tree: p3.scheduler },
        client: { small: p1.client, map: p2.client, tree: p3.client },
      },
      maxStallMs: s.maxStallMs,
      gcPercent: {
        scheduler: { small: gcShare(s0, s1), map: gcShare(s1, s2), tree: gcShare(s2, s3) },
        client: { small: gcShare(c0, c1), map: gcShare(c1, c2), tree: gcShare(c2, c3) },
      },
      cpuUsPerTask: {
        scheduler: { small: ((s1.cpuMs - s0.cpuMs) * 1000) / small, map: ((s2.cpuMs - s1.cpuMs) * 1000) / n, tree: ((s3.cpuMs - s2.cpuMs) * 1000) / t.tasks },
        client: { small: ((c1.cpuMs - c0.cpuMs) * 1000) / small, map: ((c2.cpuMs - c1.cpuMs) * 1000) / n, tree: ((c3.cpuMs - c2.cpuMs) * 1000) / t.tasks },
      },
    };
  } finally {
    await client.close();
    await stop(child, tag);
    rmSync(local, { recursive: true, force: true });
  }
});
emit(result);
process.exit(0);
