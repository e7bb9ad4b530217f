/**
 * The dependency fetches of a worker, kept until the task they were fetched for runs: its
 * task-finished then carries them as "transfer" startstops (the task stream's transfers), as
 * Dask's worker does. Bounded: fetches no task claimed are dropped oldest first.
 */
import type { StartStop } from "../protocol/messages-worker.js";

const KEPT = 10_000;

export class TransferLog {
  /** dependency key -> the fetch that brought it (one record may cover many keys) */
  #byKey = new Map<string, StartStop>();

  /** A fetch from `source` of `keys` (`nbytes` in all) that ran from `start` to `stop` (ms since the epoch). */
  record(source: string, keys: string[], nbytes: number, start: number, stop: number): void {
    if (!keys.length) return;
    const t: StartStop = { action: "transfer", start, stop, source, keys, nbytes };
    for (const k of keys) {
      this.#byKey.delete(k);
      this.#byKey.set(k, t);
    }
    while (this.#byKey.size > KEPT) this.#byKey.delete(this.#byKey.keys().next().value!);
  }

  /** The fetches that brought these dependencies, each once; they are claimed (gone from the log, for all their keys). */
  take(deps: readonly string[]): StartStop[] {
    const out = new Set<StartStop>();
    for (const d of deps) {
      const t = this.#byKey.get(d);
      if (!t) continue;
      out.add(t);
      for (const k of t.keys ?? []) if (this.#byKey.get(k) === t) this.#byKey.delete(k);
    }
    return [...out];
  }

  clear(): void {
    this.#byKey.clear();
  }
}
