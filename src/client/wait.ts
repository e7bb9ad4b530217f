/**
 * Waiting on many futures at once, with Dask's semantics: wait() and asCompleted().
 * Built on the public Future API only (whenDone, status, result, key).
 *
 * Hazard: a pending whenDone() keeps the event loop alive. When we wait for *any* of many
 * futures, the others' waits outlive the call, so they are made in slices of SLICE_MS: a
 * program that stops caring (returns, breaks out of asCompleted) can exit within one slice.
 */
import { CancelledError, TimeoutError } from "../errors.js";
import type { Future } from "./future.js";

export type ReturnWhen = "ALL_COMPLETED" | "FIRST_COMPLETED" | "FIRST_EXCEPTION";

export interface WaitOptions {
  /** Milliseconds; past it wait() rejects with TimeoutError. Default: no limit. */
  timeout?: number;
  /** Default "ALL_COMPLETED". */
  returnWhen?: ReturnWhen;
}

const SLICE_MS = 2000;
const RETURN_WHEN = new Set<ReturnWhen>(["ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_EXCEPTION"]);

const isDone = (f: Future<unknown>) => f.status !== "pending";

/**
 * Wait until all futures are done (finished, erred or cancelled), or the first one is done
 * (`FIRST_COMPLETED`), or the first one errs (`FIRST_EXCEPTION`, else all). An erred future is
 * just done (its error comes from `result()`); a cancelled one makes wait() reject with
 * CancelledError, as in Dask.
 * @example
 * const { done, notDone } = await wait(futures, { timeout: 60_000, returnWhen: "FIRST_COMPLETED" });
 */
export async function wait<T>(futures: Iterable<Future<T>>, options: WaitOptions = {}): Promise<{ done: Array<Future<T>>; notDone: Array<Future<T>> }> {
  const fs = [...futures];
  const { timeout, returnWhen = "ALL_COMPLETED" } = options;
  if (!RETURN_WHEN.has(returnWhen)) throw new TypeError(`returnWhen must be one of ${[...RETURN_WHEN].join(", ")}, got ${JSON.stringify(returnWhen)}`);
  if (timeout !== undefined && !(typeof timeout === "number" && timeout >= 0)) throw new TypeError(`timeout must be a number of milliseconds >= 0, got ${JSON.stringify(timeout)}`);
  const deadline = timeout === undefined ? Infinity : Date.now() + timeout;

  if (returnWhen === "ALL_COMPLETED") {
    // one wait at a time: each is awaited anyway, and nothing outlives the call
    for (const f of fs) {
      if (!isDone(f) && Date.now() < deadline) await f.whenDone({ timeout: remaining(deadline) });
    }
  } else {
    const enough = returnWhen === "FIRST_COMPLETED" ? () => true : (f: Future<T>) => f.status === "error";
    if (!fs.some((f) => isDone(f) && enough(f)) && !fs.every(isDone)) {
      for await (const f of completions(fs, deadline)) if (enough(f)) break;
    }
  }

  const done = fs.filter(isDone);
  const notDone = fs.filter((f) => !isDone(f));
  const cancelled = done.filter((f) => f.status === "cancelled").map((f) => f.key);
  if (cancelled.length) throw new CancelledError(`wait found cancelled futures: ${cancelled.map((k) => JSON.stringify(k)).join(", ")}`);
  const satisfied = returnWhen === "FIRST_COMPLETED" ? done.length > 0 || fs.length === 0 : notDone.length === 0 || done.some((f) => f.status === "error");
  if (!satisfied) throw new TimeoutError(`wait timed out after ${timeout} ms with ${notDone.length} of ${fs.length} futures not done`);
  return { done, notDone };
}

/**
 * The futures in the order they finish (or err, or are cancelled). With `withResults`, pairs
 * `[future, value]`; the iteration then throws the error of a future that failed.
 * @example
 * for await (const [f, value] of asCompleted(futures, { withResults: true })) console.log(f.key, value);
 */
export function asCompleted<T>(futures: Iterable<Future<T>>, options: { withResults: true }): AsyncGenerator<[Future<T>, T]>;
export function asCompleted<T>(futures: Iterable<Future<T>>, options?: { withResults?: false }): AsyncGenerator<Future<T>>;
export async function* asCompleted<T>(futures: Iterable<Future<T>>, options: { withResults?: boolean } = {}): AsyncGenerator<Future<T> | [Future<T>, T]> {
  for await (const f of completions([...futures], Infinity)) {
    yield options.withResults ? [f, await f.result()] : f;
  }
}

/**
 * Each future once, as it becomes done; ends when all are done or at the deadline. Futures
 * already done come first, in input order.
 */
async function* completions<T>(fs: Array<Future<T>>, deadline: number): AsyncGenerator<Future<T>> {
  const ready: Array<Future<T>> = [];
  let next = 0;
  let wake: (() => void) | undefined;
  let left = fs.length;
  let stopped = false;
  const watch = (f: Future<T>): void => {
    if (stopped) return;
    if (isDone(f) || Date.now() >= deadline) {
      if (isDone(f)) ready.push(f);
      left--;
      wake?.();
      return;
    }
    void f.whenDone({ timeout: Math.min(SLICE_MS, remaining(deadline)) }).then(() => watch(f));
  };
  try {
    fs.forEach(watch);
    while (left > 0 || next < ready.length) {
      if (next === ready.length) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      while (next < ready.length) yield ready[next++]!;
    }
  } finally {
    stopped = true;
  }
}

function remaining(deadline: number): number {
  return deadline === Infinity ? Infinity : Math.max(1, deadline - Date.now());
}
