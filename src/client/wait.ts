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
import { describeValue } from "./arguments.js";

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
      for await (const f of new AsCompleted<T>(fs, false, deadline)) if (enough(f)) break;
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
 * The futures in the order they finish (or err, or are cancelled), as Dask's `as_completed`: an
 * async iterator that more futures may join while it runs (`add`, `update`: the loop goes on
 * until every future added is yielded), with `count`, `isEmpty`, `hasReady`, `nextBatch`,
 * `batches` and `clear`. With `withResults`, pairs `[future, value]`; the iteration then throws
 * the error of a future that failed. A future added twice is yielded twice, as in Dask.
 * @example
 * for await (const [f, value] of asCompleted(futures, { withResults: true })) console.log(f.key, value);
 * const ac = asCompleted([client.submit(search, 0)]);
 * for await (const f of ac) if (more(f)) ac.add(client.submit(search, next(f)));
 */
export function asCompleted<T>(futures: Iterable<Future<T>>, options: { withResults: true }): AsCompleted<T, [Future<T>, T]>;
export function asCompleted<T>(futures?: Iterable<Future<T>>, options?: { withResults?: false }): AsCompleted<T, Future<T>>;
export function asCompleted<T>(futures: Iterable<Future<T>> = [], options: { withResults?: boolean } = {}): AsCompleted<T, Future<T> | [Future<T>, T]> {
  return new AsCompleted<T, Future<T> | [Future<T>, T]>(futures, options.withResults === true, Infinity);
}

/** What asCompleted returns: see asCompleted. `Y` is a future, or a `[future, value]` pair. */
export class AsCompleted<T, Y = Future<T>> implements AsyncIterableIterator<Y> {
  readonly #withResults: boolean;
  readonly #deadline: number;
  /** done, not yet yielded; `#next` is the first of them */
  #ready: Array<Future<T>> = [];
  #next = 0;
  /** added, not yet done */
  #pending = 0;
  /** whoever waits for a future to be done (next, nextBatch: maybe several at once) */
  #wakers: Array<() => void> = [];
  /** bumped by clear() and return(): watches of an older generation stop */
  #generation = 0;
  /**
   * added before anything asked for them: watched from the first next(), nextBatch() or
   * hasReady() on, so an asCompleted never iterated keeps nothing waiting (nor the process alive)
   */
  #unwatched: Array<Future<T>> | undefined = [];

  /** @internal `deadline`: the watches end then (wait()'s timeout), the futures not done left out */
  constructor(futures: Iterable<Future<T>>, withResults: boolean, deadline: number) {
    this.#withResults = withResults;
    this.#deadline = deadline;
    this.update(futures);
  }

  /** One more future to yield once it is done (before the loop ends, even if it is running). */
  add(future: Future<T>): void {
    if (typeof (future as { whenDone?: unknown })?.whenDone !== "function" || typeof (future as { status?: unknown }).status !== "string") {
      throw new TypeError(`asCompleted: add takes a Future, got ${describeValue(future)}`);
    }
    this.#pending++;
    if (this.#unwatched) this.#unwatched.push(future);
    else this.#watch(future, this.#generation);
  }

  /** More futures (Dask's `update`). */
  update(futures: Iterable<Future<T>>): void {
    for (const f of futures) this.add(f);
  }

  /** Futures not yet yielded: running, or done and waiting to be taken. */
  count(): number {
    return this.#pending + this.#ready.length - this.#next;
  }

  isEmpty(): boolean {
    return this.count() === 0;
  }

  /** Some future is done and not yet yielded. */
  hasReady(): boolean {
    this.#start();
    return this.#next < this.#ready.length;
  }

  /** Forget every future not yet yielded (they run on). */
  clear(): void {
    if (this.#unwatched) this.#unwatched = [];
    this.#generation++;
    this.#ready = [];
    this.#next = 0;
    this.#pending = 0;
    this.#wakeAll();
  }

  /**
   * Every future done and not yet yielded, at once; waits for one first when none is (unless
   * `block` is false: then maybe none). Empty once nothing is left.
   */
  async nextBatch(block = true): Promise<Y[]> {
    this.#start();
    if (block && !this.hasReady() && this.#pending > 0) await this.#done();
    const batch = this.#ready.slice(this.#next);
    this.#ready = [];
    this.#next = 0;
    return Promise.all(batch.map((f) => this.#yielded(f)));
  }

  /** The futures in batches: each as many as were done by then (Dask's `batches()`). */
  async *batches(): AsyncGenerator<Y[]> {
    for (;;) {
      const batch = await this.nextBatch();
      if (!batch.length) return;
      yield batch;
    }
  }

  async next(): Promise<IteratorResult<Y, undefined>> {
    this.#start();
    while (!this.hasReady()) {
      if (this.#pending === 0) return { done: true, value: undefined };
      await this.#done();
    }
    const f = this.#ready[this.#next++]!;
    if (this.#next === this.#ready.length) {
      this.#ready = [];
      this.#next = 0;
    }
    return { done: false, value: await this.#yielded(f) };
  }

  /** A loop left early (break, return, a throw): nothing more is watched. */
  async return(): Promise<IteratorResult<Y, undefined>> {
    this.clear();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async #yielded(f: Future<T>): Promise<Y> {
    return (this.#withResults ? [f, await f.result()] : f) as Y;
  }

  /** Watch what was added before (the done ones are ready at once, in the order added). */
  #start(): void {
    const added = this.#unwatched;
    if (!added) return;
    this.#unwatched = undefined;
    for (const f of added) this.#watch(f, this.#generation);
  }

  #wakeAll(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const w of wakers) w();
  }

  /** Resolves once some future is done (or the deadline passed, or clear()). */
  #done(): Promise<void> {
    return new Promise<void>((r) => this.#wakers.push(r));
  }

  // a future's wait is made in slices (SLICE_MS): a program that stops iterating can exit
  #watch(f: Future<T>, generation: number): void {
    if (generation !== this.#generation) return;
    if (isDone(f) || Date.now() >= this.#deadline) {
      this.#pending--;
      if (isDone(f)) this.#ready.push(f); // else past the deadline: left out
      this.#wakeAll();
      return;
    }
    void f.whenDone({ timeout: Math.min(SLICE_MS, remaining(this.#deadline)) }).then(() => this.#watch(f, generation));
  }
}

function remaining(deadline: number): number {
  return deadline === Infinity ? Infinity : Math.max(1, deadline - Date.now());
}
