/**
 * Scale fixture, workers: `node workers.js SCHEDULER_FILE W M` against a scheduler of its own.
 *   1. W null workers (bench/null-workers.ts, one process hosting all) register: wall time from
 *      the first connect to the last registration reply;
 *   2. idle: the scheduler's CPU over IDLE_MS (or two heartbeat intervals) while only their
 *      heartbeats arrive (1 per second each, or less often in a big cluster, as the scheduler asks);
 *   3. dispatch: a map of M tasks + gather through them, tasks/s, and the scheduler's and the
 *      null workers' CPU per task (placement, messages, bookkeeping).
 * Prints one `BENCH_JSON {...}` line.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "../../src/index.js";
import { SCHEDULER_DEFAULTS, heartbeatIntervalMs } from "../../src/scheduler/options.js";
import { emit, now, within } from "../fixtures/common.js";
import { BENCH_CLIENT, sampleScheduler, watchStalls } from "./probe.js";

const [file, wArg, mArg] = process.argv.slice(2);
const w = Number(wArg);
const m = Number(mArg);
if (!file || !(w > 0) || !(m > 0)) throw new Error("usage: workers.js SCHEDULER_FILE W M");
const IDLE_MS = 3000;

const client = await Client.connect({ schedulerFile: file }, BENCH_CLIENT);
await watchStalls(client);
const inc = (x: number) => x + 1;

const here = path.dirname(fileURLToPath(import.meta.url));
const host = spawn(process.execPath, [path.join(here, "../null-workers.js"), file, String(w), "1"], { stdio: ["pipe", "pipe", "inherit"] });
const lines = createInterface({ input: host.stdout! });
let onCpu: ((us: number) => void) | undefined;
const registered = new Promise<number>((resolve) =>
  lines.on("line", (l) => {
    if (l.startsWith("NULL_WORKERS ")) resolve((JSON.parse(l.slice("NULL_WORKERS ".length)) as { registeredMs: number }).registeredMs);
    else if (l.startsWith("NULL_CPU ")) onCpu?.(Number(l.slice("NULL_CPU ".length)));
  }),
);
const hostCpu = () =>
  within(10_000, "null workers cpu", new Promise<number>((resolve) => {
    onCpu = resolve;
    host.stdin!.write("cpu\n");
  }));
const registeredMs = await within(120_000, `${w} null workers registering`, registered);
await client.waitForWorkers(w, { timeout: 60_000 });

// idle: heartbeats only, once every worker beats at the interval the scheduler asks of a cluster
// this size (after its first beat, at 1 s), over two such intervals
const beatMs = Math.max(1000, heartbeatIntervalMs(w, SCHEDULER_DEFAULTS.workerTtlMs));
await new Promise((r) => setTimeout(r, 1200 + beatMs));
const i0 = await sampleScheduler(client, false);
const t0 = now();
await new Promise((r) => setTimeout(r, Math.max(IDLE_MS, 2 * beatMs)));
const i1 = await sampleScheduler(client, false);
const idleCorePercent = (100 * (i1.cpuUs - i0.cpuUs)) / ((now() - t0) * 1000);

// dispatch
const warm = client.map(inc, Array.from({ length: 1000 }, (_, i) => i));
await client.gather(warm);
for (const f of warm) f.release();
const s0 = await sampleScheduler(client, false);
const h0 = await hostCpu();
const d0 = now();
const futures = client.map(inc, Array.from({ length: m }, (_, i) => i));
const values = await within(600_000, `gather of ${m}`, client.gather(futures));
const seconds = (now() - d0) / 1000;
const s1 = await sampleScheduler(client, false);
const h1 = await hostCpu();
if (values.length !== m || values.some((v) => v !== null)) throw new Error(`gather of ${m}: expected ${m} nulls from null workers`);
for (const f of futures) f.release();
host.stdin!.end();

emit({
  workers: w,
  tasks: m,
  registeredMs,
  idleCorePercent,
  dispatchRate: m / seconds,
  schedulerCpuUsPerTask: (s1.cpuUs - s0.cpuUs) / m,
  maxStallMs: s1.maxStallMs,
  nullWorkersCpuUsPerTask: (h1 - h0) / m,
});
await client.close();
process.exit(0);
