/**
 * Worker <-> scheduler messages: the typed unions, one parser per op, the fields of each op as
 * data (`Shapes`) and the replies of the request ops. task-finished and compute-task are the
 * hot path (one per task): their parsers check in place and allocate nothing.
 */
import type { LogRecord } from "../log.js";
import type { Versions } from "../version.js";
import {
  type Message, type Parsers, type WireFunction, type Shapes,
  type Copy, type Dependency, copies, dependencies, fieldError, isMap, isStrings, map, num, numMap, optional, parts, str, strList, wireError, wireFunction,
} from "./messages.js";
import type { WireError } from "./ops.js";
import { type PluginResult, type PluginsToWorker, pluginsToWorkerParsers } from "./messages-plugins.js";

// ---- worker -> scheduler ----

export type RegisterWorker = {
  op: "register-worker";
  address: string;
  name: string;
  host: string;
  nthreads: number;
  /** bytes; 0 = no limit */
  memoryLimit: number;
  pid: number;
  resources?: Record<string, number>;
  /** seconds until it retires (its lifetime, or its batch job's end minus a margin); absent: no planned end */
  retiresIn?: number;
  versions?: Versions;
  /** results it still holds from an earlier registration (key -> bytes): a scheduler taking over keeps them */
  held?: Record<string, number>;
};
/** A request: the reply is the scheduler's heartbeat to the worker. */
export type Heartbeat = { op: "heartbeat"; metrics?: Record<string, unknown> };
/**
 * What a task's run was made of, as Dask's `startstops`: its compute, and the transfers of the
 * dependencies fetched for it (from `source`: `keys`, `nbytes`). Times in ms since the epoch.
 */
export type StartStop = { action: "compute" | "transfer"; start: number; stop: number; source?: string; keys?: string[]; nbytes?: number };
/** Where and when a task ran: its thread's index on the worker, and its startstops (the task stream). */
export type TaskTiming = { thread?: number; startstops?: StartStop[] };
/** `value`: a small result, riding along for the clients waiting on it. */
/** `run`: the compute-task's run this is the result of (a stale run's is dropped). */
export type TaskFinished = { op: "task-finished"; key: string; nbytes: number; duration?: number; value?: Uint8Array[]; run?: number } & TaskTiming;
export type TaskErred = { op: "task-erred"; key: string; error: WireError; run?: number } & TaskTiming;
/** Keys a thread started (sent by Comm.sendKey: one list per turn). */
export type Executing = { op: "executing"; keys: string[] };
/** The task seceded (secede(), workerClient()): it no longer occupies a thread of its worker. */
export type LongRunning = { op: "long-running"; key: string };
/** `key` (its run `run`) cannot run: its dependency `missing` was on none of `holders` (those that said so; others could not be reached). */
export type MissingData = { op: "missing-data"; key: string; missing: string; holders: string[]; run?: number };
/**
 * Copies this worker made (fetched for a task, or put here by replication), each with the
 * number of the value it copied (the run that computed it, as compute-task's `deps` or
 * replicate-to's `runs` named it). A copy of a value the key no longer has (it was released
 * meanwhile, maybe submitted again with another function) is refused.
 */
export type AddReplica = { op: "add-replica"; copies: Copy[] };
/**
 * Values this worker no longer holds although nobody freed them (a spill file changed after it
 * was written, so its value could not be read back): each with its number where known (`runs`;
 * a report about another value of the key is stale).
 */
export type ReleaseWorkerData = { op: "release-worker-data"; keys: string[]; runs: Record<string, number> };
export type WorkerStatusChange = { op: "worker-status"; status: "paused" | "running"; reason?: string };
/** A worker leaving on its own (memory above terminate without a nanny). */
export type UnregisterWorker = { op: "unregister-worker"; reason?: string };
/** From a worker's MPI rank, on a connection of its own: its worker cannot go on. */
export type WorkerFailed = { op: "worker-failed"; name: string; host: string; reason: string };
/**
 * A worker asking to be retired (its lifetime is up, or its job ends soon). `drainS`: how long
 * its running tasks may take to finish; then they are handed over (rescheduled elsewhere).
 */
export type RetireSelf = { op: "retire-workers"; workers: string[]; drainS?: number };

export type WorkerToScheduler =
  | RegisterWorker | Heartbeat | TaskFinished | TaskErred | Executing | LongRunning | MissingData | AddReplica
  | ReleaseWorkerData | WorkerStatusChange | UnregisterWorker | WorkerFailed | RetireSelf;

// ---- scheduler -> worker ----

/** `fn` names a function by number; `fnDef` carries it the first time this worker sees it. */
export type ComputeTask = {
  op: "compute-task";
  key: string;
  fn: number;
  fnDef?: WireFunction;
  args: Uint8Array[];
  /** each dependency: its key, its value's number, the workers holding it (absent: none) */
  deps?: Dependency[];
  priority?: number;
  /** this assignment's number, echoed with its result */
  run?: number;
  /** a journaled scheduler's checkpoint file for the result: load it if it is there, else compute and write it */
  checkpoint?: string;
};
export type FreeKeys = { op: "free-keys"; keys: string[] };
export type CloseWorker = { op: "close-worker"; reason?: string };
/** client.run(): a function on the worker's main thread. */
export type Run = { op: "run"; fn: WireFunction; args: Uint8Array[] };
/** Retirement, replication: copy the keys of `runs` to the worker at `target`, passing on their values' numbers. */
export type ReplicateTo = { op: "replicate-to"; target: string; runs: Record<string, number> };
export type RestartWorker = { op: "restart" };
/** Close, for the nanny to start a fresh worker process (client.restartWorkers); an error without a nanny. */
export type RestartProcess = { op: "restart-process" };
/** The last `n` lines of the worker's log (getWorkerLogs). */
export type GetLogs = { op: "get-logs"; n?: number };
export type SchedulerClosingWorker = { op: "scheduler-closing"; reason: string };

export type SchedulerToWorker = ComputeTask | FreeKeys | CloseWorker | Run | ReplicateTo | RestartWorker | RestartProcess | GetLogs | SchedulerClosingWorker | PluginsToWorker;

export interface WorkerReplies {
  "register-worker": { address: string; id: string };
  /** how often the worker should beat, at the least (scheduler/options.ts heartbeatIntervalMs) */
  heartbeat: { heartbeatMs: number };
  "worker-failed": "ok";
  /** the encoded return value */
  run: Uint8Array[];
  /** the keys copied */
  "replicate-to": string[];
  restart: "ok";
  "restart-process": "ok";
  "get-logs": LogRecord[];
  "plugin-add": PluginResult;
  "plugin-remove": PluginResult;
}

// ---- parsers ----

const keys = <M extends { op: string }>(raw: Message): M => (strList(raw, "keys"), raw as unknown as M);

export const workerToSchedulerParsers: Parsers<WorkerToScheduler> = {
  "register-worker": (m) => {
    str(m, "address");
    str(m, "name");
    str(m, "host");
    num(m, "nthreads");
    num(m, "memoryLimit");
    num(m, "pid");
    optional(m, "resources", numMap);
    optional(m, "retiresIn", num);
    optional(m, "versions", map);
    optional(m, "held", numMap);
    return m as unknown as RegisterWorker;
  },
  heartbeat: (m) => (optional(m, "metrics", map), m as unknown as Heartbeat),
  "task-finished": (m) => {
    if (typeof m.key !== "string") throw fieldError(m, "key", "a string", m.key);
    if (typeof m.nbytes !== "number") throw fieldError(m, "nbytes", "a number", m.nbytes);
    if (m.duration !== undefined && typeof m.duration !== "number") throw fieldError(m, "duration", "a number", m.duration);
    if (m.value !== undefined) parts(m, "value");
    if (m.run !== undefined && typeof m.run !== "number") throw fieldError(m, "run", "a number", m.run);
    timing(m);
    return m as unknown as TaskFinished;
  },
  "task-erred": (m) => (str(m, "key"), wireError(m, "error"), timing(m), optional(m, "run", num), m as unknown as TaskErred),
  executing: keys,
  "long-running": (m) => (str(m, "key"), m as unknown as LongRunning),
  "missing-data": (m) => {
    str(m, "key"), str(m, "missing"), strList(m, "holders");
    if (m.run !== undefined && typeof m.run !== "number") throw fieldError(m, "run", "a number", m.run);
    return m as unknown as MissingData;
  },
  "add-replica": (m) => (copies(m, "copies"), m as unknown as AddReplica),
  "release-worker-data": (m) => (strList(m, "keys"), numMap(m, "runs"), m as unknown as ReleaseWorkerData),
  "worker-status": (m) => {
    if (m.status !== "paused" && m.status !== "running") throw fieldError(m, "status", '"paused" or "running"', m.status);
    optional(m, "reason", str);
    return m as unknown as WorkerStatusChange;
  },
  "unregister-worker": (m) => (optional(m, "reason", str), m as unknown as UnregisterWorker),
  "worker-failed": (m) => (str(m, "name"), str(m, "host"), str(m, "reason"), m as unknown as WorkerFailed),
  "retire-workers": (m) => (strList(m, "workers"), optional(m, "drainS", num), m as unknown as RetireSelf),
};

export const schedulerToWorkerParsers: Parsers<SchedulerToWorker> = {
  "compute-task": (m) => {
    if (typeof m.key !== "string") throw fieldError(m, "key", "a string", m.key);
    if (typeof m.fn !== "number") throw fieldError(m, "fn", "a function number", m.fn);
    if (m.fnDef !== undefined) wireFunction(m, "fnDef");
    parts(m, "args");
    if (m.deps !== undefined) dependencies(m, "deps");
    if (m.priority !== undefined && typeof m.priority !== "number") throw fieldError(m, "priority", "a number", m.priority);
    optional(m, "run", num);
    optional(m, "checkpoint", str);
    return m as unknown as ComputeTask;
  },
  "free-keys": keys,
  "close-worker": (m) => (optional(m, "reason", str), m as unknown as CloseWorker),
  run: (m) => (wireFunction(m, "fn"), parts(m, "args"), m as unknown as Run),
  "replicate-to": (m) => (str(m, "target"), numMap(m, "runs"), m as unknown as ReplicateTo),
  restart: (m) => m as unknown as RestartWorker,
  "restart-process": (m) => m as unknown as RestartProcess,
  "get-logs": (m) => (optional(m, "n", num), m as unknown as GetLogs),
  "scheduler-closing": (m) => (str(m, "reason"), m as unknown as SchedulerClosingWorker),
  ...pluginsToWorkerParsers,
};

/** thread and startstops, both optional (checked in place: task-finished is the hot path). */
function timing(m: Message): void {
  if (m.thread !== undefined && typeof m.thread !== "number") throw fieldError(m, "thread", "a number", m.thread);
  const ss = m.startstops;
  if (ss === undefined) return;
  if (!Array.isArray(ss)) throw fieldError(m, "startstops", "a list of { action, start, stop }", ss);
  for (let i = 0; i < ss.length; i++) {
    const s = ss[i] as Record<string, unknown>;
    const ok = isMap(s) && (s.action === "compute" || s.action === "transfer") && typeof s.start === "number" && typeof s.stop === "number" &&
      (s.source === undefined || typeof s.source === "string") && (s.nbytes === undefined || typeof s.nbytes === "number") && (s.keys === undefined || isStrings(s.keys));
    if (!ok) throw fieldError(m, `startstops[${i}]`, '{ action: "compute" | "transfer", start, stop, source?, keys?, nbytes? }', s);
  }
}

// ---- shapes ----

export const workerToSchedulerShapes: Shapes<WorkerToScheduler> = {
  "register-worker": {
    address: "string", name: "string", host: "string", nthreads: "number", memoryLimit: "number", pid: "number",
    resources: "numbers?", retiresIn: "number?", versions: "map?", held: "numbers?",
  },
  heartbeat: { metrics: "map?" },
  "task-finished": { key: "string", nbytes: "number", duration: "number?", value: "parts?", thread: "number?", startstops: "startstops?", run: "number?" },
  "task-erred": { key: "string", error: "error", thread: "number?", startstops: "startstops?", run: "number?" },
  executing: { keys: "strings" },
  "long-running": { key: "string" },
  "missing-data": { key: "string", missing: "string", holders: "strings", run: "number?" },
  "add-replica": { copies: "copies" },
  "release-worker-data": { keys: "strings", runs: "numbers" },
  "worker-status": { status: "worker-status", reason: "string?" },
  "unregister-worker": { reason: "string?" },
  "worker-failed": { name: "string", host: "string", reason: "string" },
  "retire-workers": { workers: "strings", drainS: "number?" },
};

export const schedulerToWorkerShapes: Shapes<SchedulerToWorker> = {
  "compute-task": { key: "string", fn: "number", fnDef: "function?", args: "parts", deps: "deps?", priority: "number?", run: "number?", checkpoint: "string?" },
  "free-keys": { keys: "strings" },
  "close-worker": { reason: "string?" },
  run: { fn: "function", args: "parts" },
  "replicate-to": { target: "string", runs: "numbers" },
  restart: {},
  "restart-process": {},
  "get-logs": { n: "number?" },
  "scheduler-closing": { reason: "string" },
  "plugin-add": { name: "string", setup: "function?", teardown: "function?" },
  "plugin-remove": { name: "string" },
};
