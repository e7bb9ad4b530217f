/** Timeouts of the client's waits: the option's check, and a timer for any length. */

/** A timeout must be a number of ms >= 0 (Infinity: no limit), or absent. */
export function checkTimeout(what: string, timeoutMs: unknown): asserts timeoutMs is number | undefined {
  if (timeoutMs !== undefined && !(typeof timeoutMs === "number" && timeoutMs >= 0)) {
    const got = typeof timeoutMs === "number" || typeof timeoutMs === "bigint" ? String(timeoutMs) : (JSON.stringify(timeoutMs) ?? String(timeoutMs));
    throw new TypeError(`${what}: timeout must be a number of milliseconds >= 0, got ${got}`);
  }
}

/** A call whose wait on the cluster is bounded: Infinity is refused, saying why (`why`). */
export function checkFinite(what: string, timeoutMs: number | undefined, why: string): void {
  if (timeoutMs === Infinity) throw new TypeError(`${what}: timeout must be finite (${why}), got Infinity`);
}

/** Node's timers take at most this many ms (a longer delay, or Infinity, fires after 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Call `fn` after `ms` milliseconds, however long (Infinity: never); the timer keeps the event
 * loop alive meanwhile. Returns what stops it.
 */
export function after(ms: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = (left: number) => {
    timer = setTimeout(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fn()), Math.min(left, MAX_TIMER_MS));
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/** `p`, or a rejection with `error()` once `ms` milliseconds passed first (the timer is stopped when `p` settles). */
export function within<T>(p: Promise<T>, ms: number, error: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const stop = after(ms, () => reject(error()));
    p.then(
      (v) => (stop(), resolve(v)),
      (err: unknown) => (stop(), reject(err)),
    );
  });
}
