/**
 * The shapes of the client's calls: connect, submit/map, run and scatter options (checked where
 * given), the argument types, task keys, ref(), and what schedulerInfo() tells of a worker.
 */
import crypto, { createHash, randomFillSync } from "node:crypto";
import type { TlsFiles } from "../comm/tls.js";
import { type WorkerIdentity, unusableKey } from "../protocol/messages.js";
import type { Future } from "./future.js";
import { describeValue, isPlainObject } from "./arguments.js";

export interface ConnectOptions {
  /** Cluster secret; default from the scheduler file or DASK_MPI_TS_SECRET. */
  secret?: string;
  /** How long to wait for the scheduler (and its file) to be there; default 30 s. */
  timeout?: number;
  /** PEM files for a tls:// scheduler (and its workers): this client's certificate, key and the CA. */
  tls?: TlsFiles;
  /**
   * After the scheduler's connection is lost, how long (ms) pending futures wait for it before
   * they reject with SchedulerLostError; default 10 s, 0 fails them at once.
   */
  reconnectTimeout?: number;
  /** How often (ms) the client sends the scheduler a heartbeat; default 5 s. */
  heartbeatInterval?: number;
  /**
   * After how long (ms) without any message from the scheduler it counts as lost ("heartbeat
   * missed": hung, stopped, unreachable) and is handled as a lost connection; default 30 s (at
   * least 6 intervals), Infinity never.
   */
  heartbeatTimeout?: number;
  /**
   * The largest frame (bytes) this client takes from the scheduler and workers: a result or a
   * batch of results comes as one frame; default 512 MiB, as `distributed.comm.max-frame-size`,
   * at most 4 GiB - 1.
   */
  maxFrameSize?: number;
}

export type ConnectTarget =
  | string
  | ({ schedulerFile: string } & ConnectOptions)
  | ({ address: string } & ConnectOptions)
  | { schedulerAddress: string; secret: string };

/** A reference to another key of the same graph, for submitGraph(). */
export class KeyRef {
  constructor(readonly key: string) {}
}
/** `ref("a")` inside submitGraph's argument lists stands for the value of task "a". */
export const ref = (key: string): KeyRef => new KeyRef(key);

/** Per-task options, given as the last argument of submit() or map(). */
export interface SubmitOptions {
  /** Explicit key (default: function name plus a hash of function and arguments, or random). */
  key?: string;
  /** Same function and arguments give the same key, so the work is shared (default true). */
  pure?: boolean;
  /** Higher runs first (default 0). */
  priority?: number;
  /** Reruns after a task error (default 0). */
  retries?: number;
  /** Worker names or addresses this task may run on. */
  workers?: string[];
  /** With `workers`: run elsewhere when none of those can. */
  allowOtherWorkers?: boolean;
  /** Abstract resources the task needs while it runs, e.g. { GPU: 1 } (workers offer them with --resources). */
  resources?: Record<string, number>;
  /**
   * With a journaled scheduler (`--journal DIR`): also write the result to DIR's checkpoints, so
   * a later run that submits the same key loads it instead of computing it (default false).
   */
  checkpoint?: boolean;
  /** The function is a class: make an actor of it on one worker; the result is its proxy (default false). */
  actor?: boolean;
}

/** Options of map(): those of submit(), with `key` a prefix for every task's key or one key per task. */
export type MapOptions = Omit<SubmitOptions, "key"> & { key?: string | string[] };

/** Options of scatter(). */
export interface ScatterOptions {
  workers?: string[];
  broadcast?: boolean;
}

/** A task's key as given (submit's option, submitGraph's keys): throws a TypeError if it cannot name a task. */
export function checkKey(key: string): void {
  const unusable = unusableKey(key);
  if (unusable) throw new TypeError(`key ${JSON.stringify(key)} cannot name a task: ${unusable}; choose another key`);
}

/** Throws a TypeError naming the bad option and value. */
export function checkOptions(o: SubmitOptions): void {
  // the scheduler drops a client whose message breaks the protocol (and with it all its work)
  if (o.key !== undefined && typeof o.key !== "string") throw new TypeError(`key must be a string, got ${shown(o.key)}`);
  checkWorkerList("workers", o.workers);
  if (o.allowOtherWorkers !== undefined && typeof o.allowOtherWorkers !== "boolean") throw new TypeError(`allowOtherWorkers must be true or false, got ${shown(o.allowOtherWorkers)}`);
  if (o.checkpoint !== undefined && typeof o.checkpoint !== "boolean") throw new TypeError(`checkpoint must be true or false, got ${JSON.stringify(o.checkpoint)}`);
  if (o.actor !== undefined && typeof o.actor !== "boolean") throw new TypeError(`actor must be true or false, got ${JSON.stringify(o.actor)}`);
  if (o.priority !== undefined && !Number.isFinite(o.priority)) throw new TypeError(`priority must be a finite number, got ${shown(o.priority)}`);
  if (o.retries !== undefined && !(Number.isInteger(o.retries) && o.retries >= 0)) {
    throw new TypeError(`retries must be a non-negative integer, got ${shown(o.retries)}`);
  }
  if (o.resources !== undefined && !(isPlainObject(o.resources) && Object.values(o.resources).every((n) => typeof n === "number" && n >= 0))) {
    throw new TypeError(`resources must map names to non-negative numbers, got ${JSON.stringify(o.resources)}`);
  }
}

const SCATTER_OPTIONS = ["workers", "broadcast"];

/** scatter's options: a plain object of known names with values of their type, or a TypeError naming the bad one. */
export function checkScatterOptions(o: unknown): asserts o is ScatterOptions {
  if (!isPlainObject(o)) throw new TypeError(`scatter: options must be a plain object like { workers, broadcast }, got ${describeValue(o)}`);
  const unknown = Object.keys(o).filter((k) => !SCATTER_OPTIONS.includes(k));
  if (unknown.length) {
    throw new TypeError(`scatter: unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => JSON.stringify(k)).join(", ")}; scatter takes ${SCATTER_OPTIONS.join(" and ")} (its keys are always random)`);
  }
  checkWorkerList("scatter's workers option", o.workers);
  if (o.broadcast !== undefined && typeof o.broadcast !== "boolean") throw new TypeError(`scatter's broadcast option must be true or false, got ${shown(o.broadcast)}`);
}

/** A bad option's value in an error: NaN and Infinity as themselves (JSON would say null). */
function shown(v: unknown): string {
  return typeof v === "number" || typeof v === "bigint" ? String(v) : (JSON.stringify(v) ?? String(v));
}

/** The SHA-1 of each (canonical) wire function so far (its JSON), hashed again with each task's arguments. */
const fnDigests = new WeakMap<object, Buffer>();
/** crypto.hash (Node 20.12+): one call, no Hash object; ~280 against ~1,800 ns for a small task (measured). */
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: "hex") => string }).hash;
/** Where the digest and a small head are put together for oneShot. */
let scratch = Buffer.allocUnsafe(1024);
const SCRATCH_MAX = 64 * 1024;

/**
 * Deterministic key part for a pure task: SHA-1 of the function's digest and its encoded
 * arguments, 24 hex digits. `fn` is the client's canonical wire form of the function (one
 * object per distinct function).
 */
export function tokenize(fn: object, head: Uint8Array, raws: Uint8Array[]): string {
  let digest = fnDigests.get(fn);
  if (!digest) fnDigests.set(fn, (digest = createHash("sha1").update(JSON.stringify(fn)).digest()));
  const n = digest.length + head.byteLength;
  if (oneShot && raws.length === 0 && n <= SCRATCH_MAX) {
    if (scratch.length < n) scratch = Buffer.allocUnsafe(SCRATCH_MAX);
    scratch.set(digest, 0);
    scratch.set(head, digest.length);
    return oneShot("sha1", scratch.subarray(0, n), "hex").slice(0, 24);
  }
  const h = createHash("sha1").update(digest).update(head);
  for (const r of raws) h.update(r);
  return h.digest("hex").slice(0, 24);
}

/**
 * `name-token` as one flat string. A template literal or `+` makes a tree of string pieces
 * (randomUUID's own result is ~15 of them), which V8 keeps as long as the key lives unless
 * something flattens it, and converting it to a number does not (measured: a `pure: false`
 * key cost 506 B of heap that way, 73 B joined; a hashed one 81 against 57). Array.join
 * builds one flat string, and the pieces are garbage at once.
 */
export function taskKey(name: string, token: string): string {
  return [name, token].join("-");
}

const TOKEN_BYTES = 16;
/** Random bytes for tokens, drawn 256 tokens at a time. */
const tokenPool = Buffer.alloc(TOKEN_BYTES * 256);
let tokenAt = tokenPool.length;

/**
 * A random token for a key that must not be shared (`pure: false`, actors, scattered values):
 * 16 random bytes as 32 hex digits, the form of Dask's `uuid4().hex`. One flat string made at
 * once (randomUUID builds its result from ~15 pieces, garbage for every key).
 */
export function randomToken(): string {
  if (tokenAt === tokenPool.length) {
    randomFillSync(tokenPool);
    tokenAt = 0;
  }
  const token = tokenPool.toString("hex", tokenAt, tokenAt + TOKEN_BYTES);
  tokenAt += TOKEN_BYTES;
  return token;
}

/** The key prefix of a scattered value: its type name. */
export function typeName(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  return (v as object).constructor?.name?.toLowerCase() || "object";
}

/** A value, a future of it, or (for objects and arrays) the same shape with futures inside. */
export type Futurable<T> = T | Future<T> | (T extends object ? { [K in keyof T]: Futurable<T[K]> } : never);
/** Each argument may be given as a value, a future of it, or a structure holding futures. */
export type ArgsOf<A extends unknown[]> = { [I in keyof A]: Futurable<A[I]> };
/** map() takes, for each parameter, an iterable of its values (or of futures of them). */
export type IterablesOf<A extends unknown[]> = { [I in keyof A]: Iterable<Futurable<A[I]>> };
/** Iterables beyond the function's parameters are zipped too (their items are extra arguments). */
export type MapArgs<A extends unknown[]> = [...IterablesOf<A>, ...Array<Iterable<unknown>>] | [...IterablesOf<A>, ...Array<Iterable<unknown>>, MapOptions];

export interface RunOptions {
  workers?: string[];
  timeout?: number;
}

/** A worker as `schedulerInfo()` describes it: the scheduler's `identity` reply, as is. */
export type WorkerSummary = WorkerIdentity;

export interface GatherOptions {
  /** Milliseconds to wait for all of them (default: a day). */
  timeout?: number;
  /** "raise" (default): the first failed future's error is thrown; "skip": failed ones are left out. */
  errors?: "raise" | "skip";
}

/** `f` if it is a Future (`isFuture`); else a TypeError saying what `where` of `call` is instead. */
export function checkFuture<T>(f: Future<T>, isFuture: boolean, call: string, where: string | (() => string)): Future<T> {
  if (isFuture) return f;
  if (typeof where === "function") where = where();
  throw new TypeError(`${call}: ${where} is ${describeValue(f)}, not a Future: ${call} takes a future or an array of futures`);
}

/** A list of worker names or addresses (or absent); else a TypeError naming `what`. */
export function checkWorkerList(what: string, workers: unknown): asserts workers is string[] | undefined {
  if (workers !== undefined && !(Array.isArray(workers) && workers.every((w) => typeof w === "string"))) {
    throw new TypeError(`${what} must be a list of worker names or addresses, got ${shown(workers)}`);
  }
}

/** gather's errors option: true to skip failed futures; anything but "raise" or "skip" is a TypeError naming it. */
export function gatherSkips(errors: unknown): boolean {
  if (errors === undefined || errors === "raise") return false;
  if (errors === "skip") return true;
  throw new TypeError(`gather's errors option must be "raise" or "skip", got ${JSON.stringify(errors) ?? String(errors)}`);
}
