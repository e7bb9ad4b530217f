/**
 * Messages as the codec yields them (`Message`: an op and fields of unknown types), and the
 * checks that turn them into typed messages at the edge. A failed check throws a ProtocolError
 * naming the op, the field and what came (`task-finished: nbytes must be a number, got "7"`),
 * and closes only the connection it came on.
 *
 * One file per direction holds the unions of typed messages, their `Parsers` tables (one
 * hand-written parser per op: task-finished and compute-task run at tens of thousands a second,
 * so parsers check in place and return the message itself, no copy) and their `Shapes` (the
 * fields of each op as data, for tests and the fuzzer):
 *   messages-client.ts  client <-> scheduler      messages-worker.ts  worker <-> scheduler
 *   messages-peer.ts    worker <-> worker/client  messages-nanny.ts   nanny <-> worker child (IPC)
 * messages-replies.ts gathers the replies of every request op.
 */
import { ProtocolError } from "../errors.js";
import type { Versions } from "../version.js";
import type { WireError } from "./ops.js";
import { wellFormed } from "./values.js";

/** A decoded message: what the codec yields, before its fields are checked. */
export type Message = { op: string; [field: string]: unknown };

/** Checks a raw message's fields and returns it typed; throws ProtocolError: `${op}: ${field} must be …, got …`. */
export type Parser<M extends { op: string }> = (raw: Message) => M;

/** One parser per op of a union of messages. */
export type Parsers<U extends { op: string }> = { [K in U["op"]]: Parser<Extract<U, { op: K }>> };

/** `raw` parsed by the parser of its op; an op the table does not know is a ProtocolError. */
export function parseWith<U extends { op: string }>(parsers: Parsers<U>, raw: Message): U {
  const parse = Object.hasOwn(parsers, raw.op) ? (parsers as Record<string, Parser<U>>)[raw.op] : undefined;
  if (!parse) throw new ProtocolError(`unknown op ${show(raw.op)}`);
  return parse(raw);
}

// ---- shapes: the fields of each op as data (what the parsers check; tests and the fuzzer read them) ----

/** What a field holds; a trailing `?` marks it optional (absent = undefined). */
export type FieldKind =
  | "string" | "number" | "boolean" | "strings" | "parts" | "numbers" | "who-has" | "deps" | "copies" | "error" | "function"
  | "map" | "data" | "entries" | "tasks" | "functions" | "worker-status" | "actor-kind" | "startstops";
export type FieldSpec = FieldKind | `${FieldKind}?`;
/** The fields of each op of a union (besides `op`; `rid` is the Rpc's). */
export type Shapes<U extends { op: string }> = { [K in U["op"]]: Record<string, FieldSpec> };

// ---- field checks ----

/** A value as an error message shows it: short, typed, never a whole buffer or map. */
export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(cut(v));
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v !== "object" || v === null) return String(v);
  if (v instanceof Uint8Array) return `${v.byteLength} bytes`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) return "a map";
  const name: unknown = (proto as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name ? `a ${cut(name)}` : "an object";
}

function cut(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** The ProtocolError of a field that is not what its op needs (a map's keys in `field` are cut short). */
export function fieldError(m: Message, field: string, must: string, got: unknown): ProtocolError {
  return new ProtocolError(`${typeof m.op === "string" ? cut(m.op) : show(m.op)}: ${field.length > 80 ? `${field.slice(0, 80)}…` : field} must be ${must}, got ${show(got)}`);
}

export function str(m: Message, field: string): string {
  const v = m[field];
  if (typeof v !== "string") throw fieldError(m, field, "a string", v);
  return v;
}

export function num(m: Message, field: string): number {
  const v = m[field];
  if (typeof v !== "number") throw fieldError(m, field, "a number", v);
  return v;
}

export function bool(m: Message, field: string): boolean {
  const v = m[field];
  if (typeof v !== "boolean") throw fieldError(m, field, "a boolean", v);
  return v;
}

export function strList(m: Message, field: string): string[] {
  const v = m[field];
  if (!isStrings(v)) throw fieldError(m, field, "a list of strings", v);
  return v;
}

/** Encoded parts of a value ([head, ...raws]): a list of byte arrays. */
export function parts(m: Message, field: string): Uint8Array[] {
  const v = m[field];
  if (!isParts(v)) throw fieldError(m, field, "a list of byte arrays", v);
  return v;
}

/** A plain map of anything (metrics, versions): shape only, contents are the handler's. */
export function map(m: Message, field: string): Record<string, unknown> {
  const v = m[field];
  if (!isMap(v)) throw fieldError(m, field, "a map", v);
  return v;
}

/** A map of numbers (resources, nbytes by key). */
export function numMap(m: Message, field: string): Record<string, number> {
  const v = m[field];
  if (!isMap(v)) throw fieldError(m, field, "a map of numbers", v);
  for (const k in v) if (typeof v[k] !== "number") throw fieldError(m, `${field}.${k}`, "a number", v[k]);
  return v as Record<string, number>;
}

/** key -> addresses holding it (compute-task's whoHas, who-has replies). */
export function whoHas(m: Message, field: string): Record<string, string[]> {
  const v = m[field];
  if (!isMap(v)) throw fieldError(m, field, "a map of address lists", v);
  for (const k in v) if (!isStrings(v[k])) throw fieldError(m, `${field}.${k}`, "a list of strings", v[k]);
  return v as Record<string, string[]>;
}

/**
 * A task's dependency as compute-task names it: its key, the number of its value (the run that
 * computed it, or the number the scheduler gave scattered data: a copy of another value of that
 * key, an ended incarnation, is not used) and the workers holding it. A list, not maps keyed by
 * task names: a map of new keys in every message costs msgpack ~3x the time of a list (measured:
 * packing and unpacking a compute-task with 2 dependencies 8.7 us as two maps, 2.8 as lists).
 */
export type Dependency = [key: string, run: number, holders: string[]];

/** A list of dependencies, each `[key, run, holders]`. */
export function dependencies(m: Message, field: string): Dependency[] {
  const v = m[field];
  if (!Array.isArray(v)) throw fieldError(m, field, "a list of [key, run, holders]", v);
  for (let i = 0; i < v.length; i++) {
    const d = v[i] as unknown[];
    if (!(Array.isArray(d) && d.length === 3 && typeof d[0] === "string" && typeof d[1] === "number" && isStrings(d[2]))) {
      throw fieldError(m, `${field}[${i}]`, "[key, run, holders]", d);
    }
  }
  return v as Dependency[];
}

/** A copy of a key's value and that value's number (add-replica), a list for the reason `Dependency` is. */
export type Copy = [key: string, run: number];

/** A list of copies, each `[key, run]`. */
export function copies(m: Message, field: string): Copy[] {
  const v = m[field];
  if (!Array.isArray(v)) throw fieldError(m, field, "a list of [key, run]", v);
  for (let i = 0; i < v.length; i++) {
    const c = v[i] as unknown[];
    if (!(Array.isArray(c) && c.length === 2 && typeof c[0] === "string" && typeof c[1] === "number")) throw fieldError(m, `${field}[${i}]`, "[key, run]", c);
  }
  return v as Copy[];
}

/** key -> encoded parts (put-data). */
export function dataMap(m: Message, field: string): Record<string, Uint8Array[]> {
  const v = m[field];
  if (!isMap(v)) throw fieldError(m, field, "a map of values", v);
  for (const k in v) if (!isParts(v[k])) throw fieldError(m, `${field}.${k}`, "a list of byte arrays", v[k]);
  return v as Record<string, Uint8Array[]>;
}

export function wireError(m: Message, field: string): WireError {
  const v = m[field] as Partial<WireError> | undefined;
  if (!isMap(v) || typeof v.name !== "string" || typeof v.message !== "string" || typeof v.stack !== "string") {
    throw fieldError(m, field, "an error { name, message, stack }", v);
  }
  return v as WireError;
}

/** A task function as it travels: `{ kind: "source", source }` or `{ kind: "module", url, name }`. */
export function wireFunction(m: Message, field: string): WireFunction {
  const v = m[field];
  if (!isWireFunction(v)) throw fieldError(m, field, 'a function { kind: "source", source } or { kind: "module", url, name }', v);
  return v;
}

/** An optional field: undefined when absent, else checked by `parse`. */
export function optional<T>(m: Message, field: string, parse: (m: Message, field: string) => T): T | undefined {
  return m[field] === undefined ? undefined : parse(m, field);
}

export function isStrings(v: unknown): v is string[] {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== "string") return false;
  return true;
}

export function isParts(v: unknown): v is Uint8Array[] {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!(v[i] instanceof Uint8Array)) return false;
  return true;
}

export function isWireFunction(v: unknown): v is WireFunction {
  if (!isMap(v) || (v.actor !== undefined && v.actor !== true)) return false;
  return v.kind === "source" ? typeof v.source === "string" : v.kind === "module" && typeof v.url === "string" && typeof v.name === "string";
}

/**
 * A map keyed by task names (replicate-to's and put-data's `runs`): made with a null prototype,
 * it goes on the wire as a plain msgpack map, not a record (msgpack.ts). Its key list is new in
 * nearly every message, and a record would define a structure each time: a compute-task with 8
 * such keys took 30-35 against 20-28 us to pack and unpack (in process). A list is faster still
 * (compute-task's `deps`: `Dependency`; add-replica's `copies`: `Copy`; get-data's replies).
 */
export const keyedMap = <V>(): Record<string, V> => Object.create(null) as Record<string, V>;

/**
 * Why `key` cannot name a task, or undefined. msgpackr's decoder renames a map key "__proto__"
 * to "__proto_" (maps keyed by task names: put-data, who-has, ...), and assigning it to a plain
 * object sets the prototype; a lone surrogate (a string cut inside a surrogate pair) arrives as
 * U+FFFD, so two such keys would be one. Refused where keys enter: the client's submits, and
 * the scheduler's update-graph parser for "__proto__" (a surrogate is already replaced there).
 */
export function unusableKey(key: string): string | undefined {
  if (key === "__proto__") return "JavaScript treats it as the prototype of objects keyed by task names";
  if (!wellFormed(key)) return "it holds a lone surrogate (a string cut inside a surrogate pair), which UTF-8 cannot carry: it would arrive as another key";
  return undefined;
}

/** A plain map: an object that is not a list, a byte array or a Map. */
export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Map);
}

// ---- shared message parts ----

/**
 * A task function as it is sent to the scheduler and on to a worker (protocol/functions.ts
 * makes and resolves them): shipped source, or a module export that workers import themselves.
 */
/** `actor`: the function is a class, of which the task makes an actor (client.submit(Class, { actor: true })). */
export type WireFunction = ({ kind: "source"; source: string } | { kind: "module"; url: string; name: string }) & { actor?: true };

/** What a client submits for one task. Function and arguments are opaque to the scheduler. */
export type TaskSpec = {
  key: string;
  fn: unknown;
  /** encoded arguments: [head, ...raws] */
  args: Uint8Array[];
  /** keys of the futures inside the arguments */
  deps: string[];
  /** worker names or addresses the task may run on */
  workers?: string[];
  allowOtherWorkers?: boolean;
  /** higher runs first (default 0) */
  priority?: number;
  /** times to rerun after a task error (default 0) */
  retries?: number;
  /** abstract resources the task holds while it runs, e.g. { GPU: 1 } */
  resources?: Record<string, number>;
  /** with a journaled scheduler: also write the result to the journal's checkpoints */
  checkpoint?: boolean;
};

/** A worker as the scheduler's `identity` reply describes it. */
export type WorkerIdentity = {
  name: string;
  host: string;
  nthreads: number;
  memoryLimit: number;
  pid: number;
  /** tasks it is running or has queued */
  processing: number;
  status: "running" | "paused" | "closing";
  /** results it holds */
  inMemory: number;
  /** its last heartbeat's metrics */
  metrics: Record<string, unknown>;
  /** the abstract resources it offers */
  resources: Record<string, number>;
  /** when it will retire (its lifetime, or its batch job's end minus a margin), ms since the epoch on the scheduler's clock */
  retiresAt?: number;
};

/** A worker that cannot go on (its nanny gave up), as its MPI rank reported it. */
export type FailedWorkerInfo = {
  name: string;
  host: string;
  reason: string;
  /** When it was reported, seconds since the epoch. */
  time: number;
};

/** The scheduler's reply to `identity` (and its view for extensions). */
export type SchedulerIdentity = {
  type: "Scheduler";
  id: string;
  address: string;
  hostname: string;
  services: Record<string, string>;
  workers: Record<string, WorkerIdentity>;
  failedWorkers: FailedWorkerInfo[];
};

/** The reply to `versions`: the scheduler's, and each worker's as it registered. */
export type ClusterVersions = {
  scheduler: Versions;
  workers: Record<string, Versions>;
};
