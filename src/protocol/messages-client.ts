/**
 * Client <-> scheduler messages: the typed unions, one parser per op, the fields of each op as
 * data (`Shapes`) and the replies of the request ops.
 */
import {
  type ClusterVersions, type Message, type Parsers, type WireFunction, type SchedulerIdentity, type Shapes, type TaskSpec,
  bool, fieldError, isMap, isParts, isStrings, isWireFunction, num, optional, parts, str, strList, wireError, wireFunction,
} from "./messages.js";
import type { WireError } from "./ops.js";
import type { LogRecord } from "../log.js";

// ---- client -> scheduler ----

export type RegisterClient = { op: "register-client"; id: string };
/** The reply is the scheduler's heartbeat to the client. */
export type HeartbeatClient = { op: "heartbeat-client" };
/** A task as update-graph carries it: `fn` indexes the message's `functions`. */
export type WireTask = Omit<TaskSpec, "fn"> & { fn: number };
/** `seq`: numbered by a client of a journaled scheduler, which acknowledges it once it is on disk (graph-durable). */
export type UpdateGraph = { op: "update-graph"; functions: WireFunction[]; tasks: WireTask[]; seq?: number };
/**
 * `seq` (release-keys, cancel-keys, want-keys with `only`): the client numbers the messages that
 * end its incarnations of keys, and the scheduler answers each with ack-keys once it has handled
 * it: news the client reads before that ack concerns the incarnations it ended
 * (client/key-table.ts).
 */
export type ReleaseKeys = { op: "release-keys"; keys: string[]; seq?: number };
/** Scattered data: which keys the client put on `worker`, with their sizes. */
export type AddKeys = { op: "add-keys"; worker: string; keys: Array<{ key: string; nbytes: number }> };
export type CancelKeys = { op: "cancel-keys"; keys: string[]; seq?: number };
/**
 * Futures this client was given (not submitted): it wants their keys too. `handed`: the keys
 * of a value the scheduler handed it (a queue item, a variable, a dataset), adopted now
 * (scheduler/handed-keys.ts). `only` (a client resuming with a scheduler that took over): these
 * are all the keys it wants, the rest are released, and ack-keys `seq` comes before the news of
 * these keys.
 */
export type WantKeys = { op: "want-keys"; keys: string[]; handed?: boolean; only?: boolean; seq?: number };
/** Key -> holders, for `keys` (default: every key in memory). */
export type WhoHas = { op: "who-has"; keys?: string[] };
export type IdentityRequest = { op: "identity" };
/** The last `n` lines of the scheduler's log (getSchedulerLogs), or of each worker's (of `workers`; getWorkerLogs). */
export type GetLogs = { op: "get-logs"; n?: number };
export type GetWorkerLogs = { op: "get-worker-logs"; n?: number; workers?: string[] };
/** Erred tasks run again (Dask's `retry`): these erred keys, the erred tasks they erred because of, and those that erred with them. */
export type Retry = { op: "retry"; keys: string[] };
export type StoryRequest = { op: "story"; key: string };
export type VersionsRequest = { op: "versions" };
export type RunOnScheduler = { op: "run-on-scheduler"; fn: WireFunction; args: Uint8Array[] };
export type Broadcast = { op: "broadcast"; fn: WireFunction; args: Uint8Array[]; workers?: string[]; timeout?: number };
export type RetireWorkers = { op: "retire-workers"; workers: string[] };
export type Restart = { op: "restart" };
export type Shutdown = { op: "shutdown" };

export type ClientToScheduler =
  | RegisterClient | HeartbeatClient | UpdateGraph | ReleaseKeys | AddKeys | CancelKeys | WantKeys | WhoHas | IdentityRequest
  | Retry | GetLogs | GetWorkerLogs | StoryRequest | VersionsRequest | RunOnScheduler | Broadcast | RetireWorkers | Restart | Shutdown;

// ---- scheduler -> client ----

/** A result is ready; a small one rides along (`value`), with the worker holding it. */
export type KeyInMemory = { op: "key-in-memory"; key: string; nbytes: number; value?: Uint8Array[]; worker?: string };
/** `because`: the key whose error this is, when a dependency failed. */
export type KeyErred = { op: "key-erred"; key: string; error: WireError; because?: string };
export type KeyCancelled = { op: "key-cancelled"; key: string; reason?: string };
export type KeyLost = { op: "key-lost"; key: string };
export type SchedulerClosing = { op: "scheduler-closing"; reason: string };
/**
 * The client's graphs up to `seq` are in the scheduler's journal (on disk), and so are its
 * release-keys and cancel-keys up to `endings` (their `seq`), when given.
 */
export type GraphDurable = { op: "graph-durable"; seq: number; endings?: number };
/** The scheduler has handled the client's release-keys, cancel-keys or want-keys numbered `seq`. */
export type AckKeys = { op: "ack-keys"; seq: number };

export type SchedulerToClient = KeyInMemory | KeyErred | KeyCancelled | KeyLost | SchedulerClosing | GraphDurable | AckKeys;

// ---- replies ----

/** One transition of a task, as `story` replies (the scheduler's StoryEntry). */
export type TaskStoryEntry = { stimulusId: string; from: string; to: string; at: number; reason?: string };
export type BroadcastResult = { ok: true; value: Uint8Array[] } | { ok: false; error: WireError };

export interface ClientReplies {
  "register-client": { address: string; id: string; services: Record<string, string> };
  "heartbeat-client": "ok";
  /** with a journal, once the scatter is on disk */
  "add-keys": "ok";
  "who-has": Record<string, string[]>;
  /** the keys made pending (each of their clients heard key-lost first) */
  retry: string[];
  "get-logs": LogRecord[];
  /** worker address -> its lines */
  "get-worker-logs": Record<string, LogRecord[]>;
  identity: SchedulerIdentity;
  story: TaskStoryEntry[];
  versions: ClusterVersions;
  "run-on-scheduler": Uint8Array[];
  broadcast: Record<string, BroadcastResult>;
  /** the addresses retired */
  "retire-workers": string[];
  restart: "ok";
  shutdown: "ok";
}

// ---- parsers ----

/** Bare ops: nothing to check but the op. */
const bare = <M extends { op: string }>(raw: Message): M => raw as unknown as M;
/** keys, numbered (release-keys, cancel-keys) */
const numberedKeys = <M extends { op: string }>(raw: Message): M => (strList(raw, "keys"), optional(raw, "seq", num), raw as unknown as M);

export const clientToSchedulerParsers: Parsers<ClientToScheduler> = {
  "register-client": (m) => (str(m, "id"), m as unknown as RegisterClient),
  "heartbeat-client": bare,
  "update-graph": parseUpdateGraph,
  "release-keys": numberedKeys,
  "add-keys": (m) => {
    str(m, "worker");
    const entries = m.keys;
    if (!Array.isArray(entries)) throw fieldError(m, "keys", "a list of { key, nbytes }", entries);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Message;
      if (!isMap(e) || typeof e.key !== "string" || typeof e.nbytes !== "number") throw fieldError(m, `keys[${i}]`, "{ key: string, nbytes: number }", e);
    }
    return m as unknown as AddKeys;
  },
  "cancel-keys": numberedKeys,
  "want-keys": (m) => (strList(m, "keys"), optional(m, "handed", bool), optional(m, "only", bool), optional(m, "seq", num), m as unknown as WantKeys),
  "who-has": (m) => (optional(m, "keys", strList), m as unknown as WhoHas),
  retry: (m) => (strList(m, "keys"), m as unknown as Retry),
  "get-logs": (m) => (optional(m, "n", num), m as unknown as GetLogs),
  "get-worker-logs": (m) => (optional(m, "n", num), optional(m, "workers", strList), m as unknown as GetWorkerLogs),
  identity: bare,
  story: (m) => (str(m, "key"), m as unknown as StoryRequest),
  versions: bare,
  "run-on-scheduler": (m) => (wireFunction(m, "fn"), parts(m, "args"), m as unknown as RunOnScheduler),
  broadcast: (m) => {
    wireFunction(m, "fn");
    parts(m, "args");
    optional(m, "workers", strList);
    optional(m, "timeout", num);
    return m as unknown as Broadcast;
  },
  "retire-workers": (m) => (strList(m, "workers"), m as unknown as RetireWorkers),
  restart: bare,
  shutdown: bare,
};

/**
 * update-graph: every task checked (it may carry 50k tasks: plain loops, no allocation).
 * Each task's `fn` must index `functions`.
 */
function parseUpdateGraph(m: Message): UpdateGraph {
  const functions = m.functions;
  if (!Array.isArray(functions)) throw fieldError(m, "functions", "a list of functions", functions);
  for (let i = 0; i < functions.length; i++) if (!isWireFunction(functions[i])) throw fieldError(m, `functions[${i}]`, "a function { kind, ... }", functions[i]);
  optional(m, "seq", num);
  const tasks = m.tasks;
  if (!Array.isArray(tasks)) throw fieldError(m, "tasks", "a list of tasks", tasks);
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i] as Record<string, unknown>;
    if (!isMap(t)) throw fieldError(m, `tasks[${i}]`, "a task", t);
    const bad = badTaskField(t, functions.length);
    if (bad) throw fieldError(m, `tasks[${i}].${bad[0]}`, bad[1], t[bad[0]]);
  }
  return m as unknown as UpdateGraph;
}

/** The first field of a wire task that is wrong, and what it must be. */
function badTaskField(t: Record<string, unknown>, nfunctions: number): [string, string] | undefined {
  if (typeof t.key !== "string" || t.key === "__proto__") return ["key", 'a string other than "__proto__"'];
  if (typeof t.fn !== "number" || !Number.isInteger(t.fn) || t.fn < 0 || t.fn >= nfunctions) return ["fn", `an index into functions (0 to ${nfunctions - 1})`];
  if (!isParts(t.args)) return ["args", "a list of byte arrays"];
  if (!isStrings(t.deps)) return ["deps", "a list of strings"];
  if (t.workers !== undefined && !isStrings(t.workers)) return ["workers", "a list of strings"];
  if (t.allowOtherWorkers !== undefined && typeof t.allowOtherWorkers !== "boolean") return ["allowOtherWorkers", "a boolean"];
  if (t.priority !== undefined && typeof t.priority !== "number") return ["priority", "a number"];
  if (t.retries !== undefined && typeof t.retries !== "number") return ["retries", "a number"];
  if (t.checkpoint !== undefined && typeof t.checkpoint !== "boolean") return ["checkpoint", "a boolean"];
  if (t.resources !== undefined) {
    const r = t.resources;
    if (!isMap(r)) return ["resources", "a map of numbers"];
    for (const k in r) if (typeof r[k] !== "number") return ["resources", "a map of numbers"];
  }
  return undefined;
}

export const schedulerToClientParsers: Parsers<SchedulerToClient> = {
  "key-in-memory": (m) => {
    str(m, "key");
    num(m, "nbytes");
    optional(m, "value", parts);
    optional(m, "worker", str);
    return m as unknown as KeyInMemory;
  },
  "key-erred": (m) => (str(m, "key"), wireError(m, "error"), optional(m, "because", str), m as unknown as KeyErred),
  "key-cancelled": (m) => (str(m, "key"), optional(m, "reason", str), m as unknown as KeyCancelled),
  "key-lost": (m) => (str(m, "key"), m as unknown as KeyLost),
  "scheduler-closing": (m) => (str(m, "reason"), m as unknown as SchedulerClosing),
  "graph-durable": (m) => (num(m, "seq"), optional(m, "endings", num), m as unknown as GraphDurable),
  "ack-keys": (m) => (num(m, "seq"), m as unknown as AckKeys),
};

// ---- shapes (what the parsers above check, as data: tests and the fuzzer) ----

export const clientToSchedulerShapes: Shapes<ClientToScheduler> = {
  "register-client": { id: "string" },
  "heartbeat-client": {},
  "update-graph": { functions: "functions", tasks: "tasks", seq: "number?" },
  "release-keys": { keys: "strings", seq: "number?" },
  "add-keys": { worker: "string", keys: "entries" },
  "cancel-keys": { keys: "strings", seq: "number?" },
  "want-keys": { keys: "strings", handed: "boolean?", only: "boolean?", seq: "number?" },
  "who-has": { keys: "strings?" },
  retry: { keys: "strings" },
  "get-logs": { n: "number?" },
  "get-worker-logs": { n: "number?", workers: "strings?" },
  identity: {},
  story: { key: "string" },
  versions: {},
  "run-on-scheduler": { fn: "function", args: "parts" },
  broadcast: { fn: "function", args: "parts", workers: "strings?", timeout: "number?" },
  "retire-workers": { workers: "strings" },
  restart: {},
  shutdown: {},
};

export const schedulerToClientShapes: Shapes<SchedulerToClient> = {
  "key-in-memory": { key: "string", nbytes: "number", value: "parts?", worker: "string?" },
  "key-erred": { key: "string", error: "error", because: "string?" },
  "key-cancelled": { key: "string", reason: "string?" },
  "key-lost": { key: "string" },
  "scheduler-closing": { reason: "string" },
  "graph-durable": { seq: "number", endings: "number?" },
  "ack-keys": { seq: "number" },
};
