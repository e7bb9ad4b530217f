/**
 * The scheduler state machine's records and results (scheduler/state.ts): task and worker
 * records, the instructions it returns, what workload() and story() report. Types only, plus
 * the TaskState names.
 */
import type { Message } from "../protocol/messages.js";
import type { RegisterWorker } from "../protocol/messages-worker.js";
import type { WireError } from "../protocol/ops.js";
import type { ArgBlock, TaskSet } from "./state-sets.js";

export const TaskState = {
  released: "released",
  waiting: "waiting",
  queued: "queued",
  processing: "processing",
  memory: "memory",
  erred: "erred",
  forgotten: "forgotten",
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];

/**
 * The pseudo-client that wants fire-and-forget keys (Dask's "fire-and-forget" client): it keeps
 * a task running after its clients let go, and lets go itself once the task finished or erred.
 */
export const FIRE_AND_FORGET = "fire-and-forget";

/** Where a task may run: set on few tasks, so kept apart from the record (see TaskSpec). */
export interface TaskPlacement {
  workers?: string[];
  allowOtherWorkers?: boolean;
  resources?: Record<string, number>;
}

/**
 * A task as the scheduler keeps it: the parts of its TaskSpec it needs (the function's number
 * in the scheduler's table, null for scattered data; the encoded arguments as sent), not the
 * spec itself. The sets are shared while empty or holding one name (scheduler/state-sets.ts):
 * never changed in place but through NameSets and link.
 */
export interface TaskRecord {
  key: string;
  /** its task group (state-placement.ts prefixOf), one string shared by the group's tasks */
  prefix: string;
  fn: unknown;
  /**
   * the encoded arguments as sent: a single small part in its batch's ArgBlock (most tasks: at
   * `argIndex`), else the parts (copies: not views into the message they came in)
   */
  args: ArgBlock | Uint8Array[];
  argIndex: number;
  priority: number;
  placement: TaskPlacement | undefined;
  state: TaskState;
  processingOn?: string;
  whoHas: Set<string>;
  nbytes: number;
  error?: WireError;
  /** key of the task whose failure this is, when a dependency failed */
  erredBecause?: string;
  wantedBy: Set<string>;
  /** set once, when the task arrives (each once; a list: most tasks have one or none) */
  dependencies: readonly TaskRecord[];
  /** a Set, or a One while it holds one task (state-sets.ts TaskSet) */
  dependents: TaskSet<TaskRecord>;
  /** dependents that still need this task's result (a TaskSet too) */
  waiters: TaskSet<TaskRecord>;
  /** workers that died while running it */
  suspicious: number;
  retriesLeft: number;
  /** the number of its current assignment to a worker (compute-task's `run`): a finish of an earlier run is stale */
  run: number;
  seq: number;
  /** on a thread of its worker (told by the worker), while processing */
  running: boolean;
  /** position in the scheduler's queue, -1 when not queued */
  heapIndex: number;
}

/**
 * A worker as it registered (the register-worker message without its op and versions), with
 * its `retiresIn` made a time on the scheduler's clock: `retiresAt`, ms since the epoch.
 */
export type WorkerInfo = Omit<RegisterWorker, "op" | "versions" | "retiresIn"> & { retiresAt?: number };

export interface WorkerRecord extends WorkerInfo {
  /** when it registered (the `now` of addWorker) */
  joinedAt: number;
  processing: Set<TaskRecord>;
  /** processing tasks that seceded (Dask's long_running): on a thread, but not occupying it */
  longRunning: Set<TaskRecord>;
  hasWhat: Set<TaskRecord>;
  nbytes: number;
  lastSeen: number;
  metrics: Record<string, unknown>;
  /** resources in use by processing tasks */
  used: Record<string, number>;
  /** retiring: gets no new tasks */
  closing: boolean;
  /** over its memory's pause threshold: gets no new tasks until it says otherwise */
  paused: boolean;
  /** occupied threads per thread, as of its last reweigh (state-placement.ts) */
  load: number;
  /** registration order (ties go to the earlier worker in `best`, and between thread counts in FreeWorkers) */
  seq: number;
  /** its bucket among the workers that may get tasks (state-placement.ts FreeWorkers: its occupied threads), -1 when not there */
  bucket: number;
  /** its neighbours in that bucket */
  prevFree: WorkerRecord | undefined;
  nextFree: WorkerRecord | undefined;
}

export type Instruction =
  | { type: "send-worker"; worker: string; msg: Message }
  | { type: "send-client"; client: string; msg: Message };

/** What workload() reports: the scheduler's pending work, for adaptive scaling. */
export interface Workload {
  /** tasks runnable but waiting on the scheduler for a worker slot */
  queuedTasks: number;
  /** their expected compute seconds (measured per key prefix, else the unknown-task duration) */
  queuedSeconds: number;
  processingTasks: number;
  processingSeconds: number;
  workers: number;
  nthreads: number;
  /** bytes of results the workers hold */
  nbytes: number;
  /** the workers' memory limits added up, and how many workers have none */
  memoryLimit: number;
  unlimited: number;
  /** workers running nothing (and not retiring), fewest bytes held first; memoryLimit 0 = none */
  idleWorkers: Array<{ name: string; nbytes: number; memoryLimit: number }>;
}

export interface SchedulerStateOptions {
  /** workers a task may kill before it errs with KilledWorker (Dask's allowed-failures) */
  allowedFailures?: number;
  /** the clock placement reads to tell a retiring worker's time left (default Date.now) */
  now?: () => number;
}

export interface StoryEntry {
  stimulusId: string;
  from: TaskState;
  to: TaskState;
  at: number;
  /** why, where the event had one to tell (a cancellation, a dropped result) */
  reason?: string;
}
