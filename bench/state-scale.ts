/**
 * In-process microbench of the scheduler's state (issue 15, points 3 and 4): no sockets, no
 * workers' processes. Run with `node --expose-gc dist/bench/state-scale.js [N...]`
 * (default N = 100000 500000; STATE_SECTIONS=memory,handler,placement picks sections).
 *
 * memory: a client's map of N independent tasks, then N more that each wait on one of them,
 *   fed to SchedulerState.updateGraph in batches of 10k (as a client's flushes arrive), no
 *   workers: heap per task after gc() (keys and argument bytes included, buffers outside the
 *   heap too), and ingest rate in CPU time (updateGraph only: building the specs is not timed). Then the same through the
 *   handler path: msgpack-decode the update-graph message, parseUpdateGraph, and
 *   SchedulerHandlers.updateGraph (function ids, then the state), so the parse cost shows.
 * placement: W workers (1 thread each) with full pipelines; each step finishes one task on one
 *   worker and the scheduler picks a worker for the next queued one: CPU per dispatched task
 *   at 10, 100 and 1,000 workers, plus one worker heartbeat's CPU; and the same with every
 *   worker retiring in an hour but one retiring now (walltime-aware placement: that one, the
 *   lightest, is looked past for every task). And the choice of worker alone (FreeWorkers, the
 *   bucket queues: a map placed at once, each task on the lightest worker, W workers filled to 8
 *   tasks each, then emptied again): flat in W.
 */
import assert from "node:assert/strict";
import v8 from "node:v8";
import { RAW_PART_BYTES } from "../src/protocol/frames.js";
import { FunctionTable } from "../src/protocol/functions.js";
import { clientToSchedulerParsers } from "../src/protocol/messages-client.js";
import type { TaskSpec, WireFunction } from "../src/protocol/messages.js";
import { Sent, encodeWithRaws, packMessage, unpackMessage } from "../src/protocol/msgpack.js";
import { Op } from "../src/protocol/ops.js";
import { SchedulerHandlers } from "../src/scheduler/handlers.js";
import { FreeWorkers } from "../src/scheduler/state-placement.js";
import { SchedulerState } from "../src/scheduler/state.js";
import type { WorkerRecord } from "../src/scheduler/state-types.js";

const BATCH = 10_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc dist/bench/state-scale.js");

function heap(): number {
  gc!();
  gc!();
  // buffers' bytes live outside the heap: an argument that is a view into a message keeps the
  // whole message's buffer
  return v8.getHeapStatistics().used_heap_size + process.memoryUsage().arrayBuffers;
}

function cpuUs(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  return d.user + d.system;
}

/** A key like a client's (name-token), and the encoded argument i, like client.map makes. */
const key = (name: string, i: number) => `${name}-${(i * 2654435761 >>> 0).toString(16).padStart(8, "0")}${i.toString(16).padStart(24, "0")}`;
const argsOf = (i: number, dep?: string): Uint8Array[] => {
  const { head, raws } = encodeWithRaws(dep === undefined ? [i] : [i, 1], RAW_PART_BYTES, Sent.arguments);
  return [head, ...raws];
};

function specs(n: number, name: string, fn: number, dep?: (i: number) => string): TaskSpec[] {
  const out: TaskSpec[] = [];
  for (let i = 0; i < n; i++) {
    const d = dep?.(i);
    out.push({ key: key(name, i), fn, args: argsOf(i, d), deps: d === undefined ? [] : [d] });
  }
  return out;
}

interface Row {
  path: string;
  n: number;
  phase: string;
  bytesPerTask: number;
  ratePerS: number;
}

/** The state fed directly: specs built (not timed) after the first heap reading, so they count. */
function stateLevel(n: number): Row[] {
  const rows: Row[] = [];
  const s = new SchedulerState();
  s.addClient("c");
  let sid = 0;
  for (const phase of ["queued (independent)", "waiting (one dependency)"] as const) {
    const before = heap();
    const list = phase.startsWith("queued") ? specs(n, "inc", 1) : specs(n, "add", 2, (i) => key("inc", i));
    const us = cpuUs(() => {
      for (let i = 0; i < list.length; i += BATCH) s.updateGraph("c", list.slice(i, i + BATCH), `ug-${sid++}`);
    });
    list.length = 0; // the caller's copies go: the state keeps what it keeps
    const after = heap();
    rows.push({ path: "state", n, phase, bytesPerTask: (after - before) / n, ratePerS: n / (us / 1e6) });
  }
  const counts = s.counts();
  assert.equal(counts.queued, n);
  assert.equal(counts.waiting, n);
  return rows;
}

/** Encoded update-graph messages (head + raws) as a client sends them, BATCH tasks each. */
function messages(n: number, name: string, fnSource: string, dep?: (i: number) => string): Array<{ head: Uint8Array; raws: Uint8Array[] }> {
  const out: Array<{ head: Uint8Array; raws: Uint8Array[] }> = [];
  const fn: WireFunction = { kind: "source", source: fnSource };
  for (let i = 0; i < n; i += BATCH) {
    const tasks = specs(Math.min(BATCH, n - i), name, 0, dep ? (j) => dep(i + j) : undefined).map((t, j) => ({ ...t, key: key(name, i + j) }));
    const { head, raws } = packMessage({ op: Op.updateGraph, functions: [fn], tasks }, RAW_PART_BYTES);
    out.push({ head, raws });
  }
  return out;
}

/** decode + parseUpdateGraph + SchedulerHandlers.updateGraph, as a client connection's messages. */
function handlerLevel(n: number): Row[] {
  const rows: Row[] = [];
  const s = new SchedulerState();
  const functions = new FunctionTable();
  let sid = 0;
  const host = {
    view: { state: s },
    peers: { client: () => "c" },
    functions,
    sid: (what: string) => `${what}-${sid++}`,
    run: () => {},
  };
  const handlers = new SchedulerHandlers(host as unknown as ConstructorParameters<typeof SchedulerHandlers>[0]);
  s.addClient("c");
  const parse = clientToSchedulerParsers["update-graph"];
  for (const [phase, name, src, dep] of [
    ["queued (independent)", "inc", "(x) => x + 1", undefined],
    ["waiting (one dependency)", "add", "(x, y) => x + y", (i: number) => key("inc", i)],
  ] as const) {
    // before the messages are made: what the state keeps of them (argument bytes that are
    // views into a message) counts
    const before = heap();
    const msgs = messages(n, name, src, dep);
    const us = cpuUs(() => {
      for (const m of msgs) handlers.updateGraph(parse(unpackMessage(m.head, m.raws) as never) as never, undefined as never);
    });
    msgs.length = 0;
    const after = heap();
    rows.push({ path: "decode+parse+handler", n, phase, bytesPerTask: (after - before) / n, ratePerS: n / (us / 1e6) });
  }
  assert.equal(s.counts().queued, n);
  return rows;
}

interface PlacementRow {
  workers: number;
  usPerDispatch: number;
  usPerHeartbeat: number;
}

/** Full pipelines on W one-thread workers; each step: one task finishes, the next is placed. */
function placement(workers: number, steps: number, nearEnd = false): PlacementRow {
  const NOW = 1e12;
  const s = new SchedulerState({ now: () => NOW });
  s.addClient("c");
  for (let w = 0; w < workers; w++) {
    const retiresAt = nearEnd ? (w === 0 ? NOW : NOW + 3_600_000) : undefined;
    s.addWorker({ address: `tcp://10.0.${w >> 8}.${w & 255}:40000`, name: `w${w}`, host: "h", nthreads: 1, memoryLimit: 0, pid: w, resources: {}, ...(retiresAt === undefined ? {} : { retiresAt }) }, NOW - 1000);
  }
  const total = steps + workers * 4;
  const list = specs(total, "inc", 1);
  for (let i = 0; i < list.length; i += BATCH) s.updateGraph("c", list.slice(i, i + BATCH), `ug-${i}`);
  // which task runs where: finish them in dispatch order, round the workers
  const running: Array<[string, string]> = [];
  for (const ws of s.workers.values()) for (const t of ws.processing) running.push([ws.address, t.key]);
  let head = 0;
  const us = cpuUs(() => {
    for (let i = 0; i < steps; i++) {
      const [w, k] = running[head++]!;
      const out = s.taskFinished(w, k, 8, 0.001, `tf-${i}`);
      for (const ins of out) if (ins.type === "send-worker" && ins.msg.op === Op.computeTask) running.push([ins.worker, (ins.msg as unknown as { key: string }).key]);
      s.releaseKeys("c", [k], `rk-${i}`);
    }
  });
  const addrs = [...s.workers.keys()];
  const metrics = { memory: 1e8, cpu: 10, executing: 1, ready: 2 };
  const hb = 100_000;
  const hbUs = cpuUs(() => {
    for (let i = 0; i < hb; i++) s.heartbeat(addrs[i % addrs.length]!, metrics, i);
  });
  return { workers, usPerDispatch: us / steps, usPerHeartbeat: hbUs / hb };
}

/** The choice of worker alone: a map placed at once on W empty one-thread workers, 8 tasks each, then emptied again; us CPU per task. */
function choosing(workers: number): number {
  const free = new FreeWorkers();
  const ws = Array.from({ length: workers }, (_, seq) => ({ nthreads: 1, processing: { size: 0 }, longRunning: { size: 0 }, closing: false, paused: false, load: 0, seq, bucket: -1 }) as unknown as WorkerRecord);
  const size = (w: WorkerRecord) => w.processing as unknown as { size: number };
  for (const w of ws) free.reweigh(w);
  const rounds = Math.ceil(2e6 / (8 * workers));
  const us = cpuUs(() => {
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < 8 * workers; i++) {
        const w = free.peek()!;
        size(w).size++;
        free.reweigh(w);
      }
      for (const w of ws) {
        size(w).size = 0;
        free.reweigh(w);
      }
    }
  });
  return us / (rounds * 8 * workers);
}

function main(): void {
  const ns = process.argv.slice(2).map(Number).filter((x) => x > 0);
  const sizes = ns.length ? ns : [100_000, 500_000];
  const sections = (process.env.STATE_SECTIONS ?? "memory,handler,placement").split(",");
  const rows: Row[] = [];
  for (const n of sizes) {
    if (sections.includes("memory")) rows.push(...stateLevel(n));
    if (sections.includes("handler")) rows.push(...handlerLevel(n));
  }
  if (rows.length) {
    console.log("path                   tasks     phase                      B/task   ingest (tasks/s of CPU)");
    for (const r of rows) {
      console.log(`${r.path.padEnd(22)} ${String(r.n).padStart(8)}  ${r.phase.padEnd(26)} ${r.bytesPerTask.toFixed(0).padStart(6)}   ${Math.round(r.ratePerS).toLocaleString("en").padStart(10)}`);
    }
  }
  if (sections.includes("placement")) {
    console.log("\nworkers   us CPU per dispatched task   us CPU per heartbeat   us per task, one worker at its end (ratio)   us choosing the worker alone");
    for (const w of [10, 100, 1000]) {
      const r = placement(w, 50_000);
      const near = placement(w, 50_000, true);
      const ratio = (near.usPerDispatch / r.usPerDispatch).toFixed(2);
      console.log(`${String(r.workers).padStart(7)}   ${r.usPerDispatch.toFixed(2).padStart(26)}   ${r.usPerHeartbeat.toFixed(3).padStart(20)}   ${near.usPerDispatch.toFixed(2).padStart(30)} (${ratio})   ${choosing(w).toFixed(3).padStart(28)}`);
    }
  }
}

main();
