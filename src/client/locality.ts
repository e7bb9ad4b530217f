/**
 * Where data lives, for the client (issue 14): whoHas, hasWhat, nbytes, replicate, rebalance.
 * Thin: each is one request to the scheduler (scheduler/locality.ts decides and has the workers
 * copy values between themselves). replicate and rebalance first wait for their futures, as
 * Dask's do, and fail with the first failed one's error.
 */
import { RemoteError } from "../comm/rpc.js";
import type { Message } from "../protocol/messages.js";
import { Op } from "../protocol/ops.js";
import { NOT_IN_MEMORY } from "../protocol/messages-locality.js";
import type { Future } from "./future.js";

/** What these functions need of the client. */
export interface LocalityHost {
  request<T>(msg: Message, timeoutMs?: number): Promise<T>;
}

/** One future or a list of them. */
export type Futures = Future<unknown> | Array<Future<unknown>>;

/** replicate and rebalance may move a lot of data. */
const MOVE_TIMEOUT_MS = 300_000;

export interface ReplicateOptions {
  /** Copies each value should have (default: one on every worker, or every worker of `workers`). */
  n?: number;
  /** Worker names or addresses to count and place copies on (default: all). */
  workers?: string[];
}

export interface RebalanceOptions {
  /** Worker names or addresses to even out among (default: all). */
  workers?: string[];
}

const keysOf = (futures: Futures | undefined, what: string): string[] | undefined => {
  if (futures === undefined) return undefined;
  const list = Array.isArray(futures) ? futures : [futures];
  for (const f of list) {
    if (typeof f?.key !== "string" || typeof f.whenDone !== "function") throw new TypeError(`${what} takes futures, got ${JSON.stringify(f) ?? String(f)}`);
  }
  return list.map((f) => f.key);
};

const workersOf = (workers: unknown, what: string): string[] | undefined => {
  if (workers === undefined) return undefined;
  if (!Array.isArray(workers) || !workers.every((w) => typeof w === "string")) throw new TypeError(`${what}'s workers option must be a list of worker names or addresses, got ${JSON.stringify(workers)}`);
  return workers;
};

/** The scheduler's error as a plain Error with its message (it names the bad value). */
const plain = (err: unknown): unknown => (err instanceof RemoteError ? (err.remote.name === "RangeError" ? new RangeError(err.message) : new Error(err.message)) : err);

async function ask<T>(c: LocalityHost, msg: Message, timeoutMs?: number): Promise<T> {
  try {
    return await c.request<T>(msg, timeoutMs);
  } catch (err) {
    throw plain(err);
  }
}

/** Between two asks of a move whose key was being computed again, at the least (the news of its loss may still be on its way). */
export const MOVE_RETRY_MS = 50;

/**
 * replicate or rebalance of the futures' keys: asked once they are done (as long as that takes,
 * as in Dask), and asked again, once they are done again, while the scheduler answers that one
 * is being computed again (its holder was lost after it was done: NOT_IN_MEMORY,
 * scheduler/locality.ts), for up to `retryMs` after the first such answer.
 */
export async function move(c: LocalityHost, futures: Futures | undefined, msg: Message, retryMs = MOVE_TIMEOUT_MS): Promise<void> {
  let deadline = Infinity;
  const left = () => Math.max(1, Math.min(MOVE_TIMEOUT_MS, deadline - Date.now()));
  for (;;) {
    if (futures !== undefined) await settled(futures, deadline === Infinity ? Infinity : left());
    try {
      await c.request(msg, left());
      return;
    } catch (err) {
      if (!(err instanceof RemoteError && err.remote.name === NOT_IN_MEMORY)) throw plain(err);
      if (deadline === Infinity) deadline = Date.now() + retryMs;
      else if (Date.now() + MOVE_RETRY_MS >= deadline) throw plain(err);
    }
    await new Promise((r) => setTimeout(r, MOVE_RETRY_MS));
  }
}

export function whoHas(c: LocalityHost, futures?: Futures): Promise<Record<string, string[]>> {
  return ask(c, { op: Op.whoHas, keys: keysOf(futures, "whoHas") });
}

export function hasWhat(c: LocalityHost, workers?: string[]): Promise<Record<string, string[]>> {
  return ask(c, { op: Op.hasWhat, workers: workersOf(workers, "hasWhat") });
}

export function nbytes(c: LocalityHost, futures?: Futures): Promise<Record<string, number>> {
  return ask(c, { op: Op.nbytes, keys: keysOf(futures, "nbytes") });
}

export async function replicate(c: LocalityHost & { schedulerInfo(): Promise<{ workers: Record<string, unknown> }> }, futures: Futures, options: ReplicateOptions = {}): Promise<void> {
  const keys = keysOf(futures, "replicate")!;
  const workers = workersOf(options.workers, "replicate");
  let n = options.n;
  if (n !== undefined && !(Number.isInteger(n) && n >= 1)) throw new TypeError(`replicate's n must be a positive integer, got ${JSON.stringify(n)}`);
  await settled(futures, Infinity);
  n ??= workers ? workers.length : Object.keys((await c.schedulerInfo()).workers).length;
  await move(c, futures, { op: Op.replicate, keys, n, workers });
}

export async function rebalance(c: LocalityHost, futures?: Futures, options: RebalanceOptions = {}): Promise<void> {
  const keys = keysOf(futures, "rebalance");
  const workers = workersOf(options.workers, "rebalance");
  await move(c, futures, { op: Op.rebalance, keys, workers });
}

/** Wait for the futures (within `timeoutMs`); the first failed one's error is thrown. */
async function settled(futures: Futures, timeoutMs: number): Promise<void> {
  const list = Array.isArray(futures) ? futures : [futures];
  await Promise.all(list.map((f) => f.whenDone({ timeout: timeoutMs })));
  for (const f of list) {
    const err = f.exception() ?? (f.status === "cancelled" ? new Error(`future ${JSON.stringify(f.key)} was cancelled`) : undefined);
    if (err) throw err;
  }
}
