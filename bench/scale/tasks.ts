/**
 * Scale fixture, tasks: `node tasks.js SCHEDULER_FILE N` against a scheduler of its own
 * (bench/scale.ts starts it with --expose-gc and no workers).
 *   1. ingest: client.map of N independent tasks (no worker: they stay queued), timed from the
 *      call to the scheduler holding all N (a runOnScheduler request on the same connection,
 *      answered after the graph); the scheduler's heap per task after a forced GC;
 *   2. the same for N tasks each waiting on one of the first N;
 *   3. all released, then 2 null workers (bench/null-workers.ts, a process of their own) and an
 *      end-to-end map of N + gather, checked, timed; scheduler CPU per task over it.
 * Prints one `BENCH_JSON {...}` line.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client, type Future } from "../../src/index.js";
import { emit, now, within } from "../fixtures/common.js";
import { BENCH_CLIENT, type SchedulerSample, ownCpuUs, sampleScheduler, watchStalls } from "./probe.js";

const [file, count] = process.argv.slice(2);
const n = Number(count);
if (!file || !(n > 0)) throw new Error("usage: tasks.js SCHEDULER_FILE N");
const LONG = 600_000;

const client = await Client.connect({ schedulerFile: file }, BENCH_CLIENT);
await watchStalls(client);
const inc = (x: number) => x + 1;

/** Wait until the scheduler holds `tasks` tasks (the first sample usually does). */
async function until(tasks: number): Promise<SchedulerSample> {
  for (;;) {
    const s = await within(LONG, "scheduler sample", sampleScheduler(client, false));
    if (s.tasks === tasks) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One ingest: wall rate, and the CPU per task of the scheduler and of this client. */
async function ingest(submit: () => void, tasks: number) {
  const s0 = await sampleScheduler(client, false);
  const c0 = ownCpuUs();
  const t0 = now();
  submit();
  const s1 = await until(tasks);
  const rate = n / ((now() - t0) / 1000);
  return { rate, schedulerCpuUs: (s1.cpuUs - s0.cpuUs) / n, clientCpuUs: (ownCpuUs() - c0) / n };
}

// warm-up: the task function known, the code paths compiled (no worker: the tasks queue, then go)
const warm = client.map(inc, Array.from({ length: 1000 }, (_, i) => i));
await until(1000);
for (const f of warm) f.release();
await until(0);

const base = await sampleScheduler(client);
let roots: Array<Future<number>> = [];
const items = Array.from({ length: n }, (_, i) => i);
const independent = await ingest(() => (roots = client.map(inc, items)), n);
const queued = await sampleScheduler(client);
let deps: Array<Future<number>> = [];
const dependent = await ingest(() => (deps = client.map(inc, roots)), 2 * n);
const waiting = await sampleScheduler(client);

for (const f of deps) f.release();
for (const f of roots) f.release();
deps.length = 0;
roots.length = 0;
await until(0);

// end to end, through 2 null workers
const here = path.dirname(fileURLToPath(import.meta.url));
const host = spawn(process.execPath, [path.join(here, "../null-workers.js"), file, "2", "1"], { stdio: ["pipe", "pipe", "inherit"] });
const lines = createInterface({ input: host.stdout! });
await within(60_000, "null workers", new Promise<void>((resolve) => lines.on("line", (l) => l.startsWith("NULL_WORKERS ") && resolve())));
await client.waitForWorkers(2, { timeout: 30_000 });
const warmed = client.map(inc, Array.from({ length: 1000 }, (_, i) => i));
await client.gather(warmed);
for (const f of warmed) f.release();
await until(0);

const before = await sampleScheduler(client, false);
const c0 = ownCpuUs();
const t0 = now();
const futures = client.map(inc, items);
const values = await within(LONG, `gather of ${n}`, client.gather(futures));
const e2eSeconds = (now() - t0) / 1000;
const after = await sampleScheduler(client, false);
const clientCpuUsPerTask = (ownCpuUs() - c0) / n;
// null workers answer null for every task: what is checked is that every key came back
if (values.length !== n || values.some((v) => v !== null)) throw new Error(`gather of ${n}: expected ${n} nulls from null workers`);
for (const f of futures) f.release();
host.stdin!.end();

emit({
  n,
  heapPerQueuedTask: (queued.heap - base.heap) / n,
  heapPerWaitingTask: (waiting.heap - queued.heap) / n,
  schedulerRssMiB: waiting.rss / 2 ** 20,
  independent,
  dependent,
  endToEnd: n / e2eSeconds,
  schedulerCpuUsPerTask: (after.cpuUs - before.cpuUs) / n,
  maxStallMs: after.maxStallMs,
  clientCpuUsPerTask,
});
await client.close();
process.exit(0);
