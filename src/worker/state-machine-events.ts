/**
 * The worker state machine's events, instructions and task records (state-machine.ts): what
 * goes in and what comes out. Types only.
 */
import type { Dependency, Message } from "../protocol/messages.js";
import type { TaskTiming } from "../protocol/messages-worker.js";
import type { WireError } from "../protocol/ops.js";

export interface ComputeTask {
  key: string;
  fn: unknown;
  args: Uint8Array[];
  /**
   * each dependency: its key, the number of its value (a held copy of another number is not
   * used) and its holders
   */
  deps: readonly Dependency[];
  priority: number;
  /** the scheduler's number for this assignment, echoed with the result (a stale run's is dropped there) */
  run?: number;
  /** its checkpoint file (a journaled scheduler's): load the result from it, or write it there */
  checkpoint?: string;
}

/** A task on this worker. */
export interface WTask extends ComputeTask {
  state: "fetching" | "ready" | "executing" | "long-running";
  /** dependencies not here yet (NONE_MISSING, shared, while there are none: never added to) */
  missing: Set<string>;
}

/** A value an event brings, with its size; `V` is opaque here. */
export interface Sized<V> {
  nbytes: number;
  value: V;
}

/** A value that did not come in one frame: its size, the cap it passed, and whether that cap is the protocol's own. */
export interface TooLarge {
  bytes: number;
  limit: number;
  overCap?: boolean;
}

/**
 * An event, with the id of what caused it (`stimulusId`). An event without one is numbered here:
 * its id is `${type}-${n}` (`compute-task-17`), made only when a story or an instruction shows
 * it, so the hot events (compute-task, executed, free-keys) cost no string each.
 */
export type WorkerEvent<V = unknown> =
  | { type: "compute-task"; stimulusId?: string; task: ComputeTask }
  /** a peer answered a fetch: what it had, and which keys it did not have */
  | { type: "fetch-done"; stimulusId?: string; worker: string; id: number; got: ReadonlyMap<string, Sized<V>>; notThere: string[] }
  /** a fetch from `worker` failed as a whole (connection refused, peer gone) */
  /**
   * `tooLarge`: the reply came as a frame over this worker's cap, or (`overCap`) its holder could
   * not send it in any frame (4 GiB - 1): asking again brings the same
   */
  | { type: "fetch-failed"; stimulusId?: string; worker: string; id: number; keys: string[]; tooLarge?: TooLarge }
  /** a running task seceded (gave up its thread slot while it waits) */
  | { type: "secede"; stimulusId?: string; key: string }
  /** a thread finished a task; `timing` (its thread, startstops) goes on to the scheduler's task stream */
  | { type: "executed"; stimulusId?: string; key: string; result: ({ ok: true } & Sized<V> & { durationS: number }) | { ok: false; error: WireError; durationS: number }; timing?: TaskTiming }
  /** the scheduler freed these keys: drop data and pending work for them */
  | { type: "free-keys"; stimulusId?: string; keys: string[] }
  /** held values that could not be read back (a spill file changed after it was written): lost here */
  | { type: "data-lost"; stimulusId?: string; keys: string[]; reason: string }
  /** data put here directly (scatter; replication, with the value's number `run`) */
  | ({ type: "put-data"; stimulusId?: string; key: string; run?: number } & Sized<V>)
  /** memory above / below the pause threshold: tasks wait until resumed */
  | { type: "pause" | "resume"; stimulusId?: string }
  /** lost the scheduler: everything it gave us is void */
  | { type: "reset"; stimulusId?: string; keepData?: boolean };

export type WorkerInstruction<V = unknown> =
  | { type: "send"; msg: Message }
  /** `id` numbers the fetch: its fetch-done or fetch-failed names it */
  | { type: "fetch"; worker: string; id: number; keys: string[]; stimulusId: string }
  /** run the task; `deps` are its dependencies held here */
  | { type: "execute"; key: string; fn: unknown; args: Uint8Array[]; deps: string[]; stimulusId: string; checkpoint?: string }
  /** keep the value the event brought for `key` */
  | { type: "store"; key: string; value: V }
  /** drop these keys' values */
  | { type: "free-data"; keys: string[] };
