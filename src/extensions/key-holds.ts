/**
 * Keys an extension keeps alive for nobody connected (a published dataset's futures, the
 * futures queued or set in a variable): counted per key, wanted on the scheduler under one
 * holder name while the count is above zero, so the same key held twice is released once,
 * after its last holder lets go.
 */
import type { SchedulerView } from "../scheduler/extension.js";

export class KeyHolds {
  readonly #view: () => SchedulerView;
  readonly holder: string;
  readonly #counts = new Map<string, number>();

  constructor(holder: string, view: () => SchedulerView) {
    this.holder = holder;
    this.#view = view;
  }

  /**
   * Hold `keys` (once more each). Returns the keys the scheduler does not know (released or
   * cancelled futures): then nothing is held, and the caller refuses the value.
   */
  add(keys: readonly string[]): string[] {
    if (!keys.length) return [];
    const fresh = keys.filter((k) => !this.#counts.has(k));
    // every key, not only fresh ones: wanting is idempotent, and a key held before a restart
    // (which forgot every key) is wanted again rather than trusted to the count
    const unknown = this.#view().wantKeys(this.holder, [...new Set(keys)]);
    if (unknown.length) {
      this.#view().releaseKeys(this.holder, fresh.filter((k) => !unknown.includes(k)));
      return unknown;
    }
    for (const k of keys) this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
    return [];
  }

  /** Let go of `keys` once each; a key no longer held is released on the scheduler. */
  release(keys: readonly string[]): void {
    const gone: string[] = [];
    for (const k of keys) {
      const n = this.#counts.get(k);
      if (n === undefined) continue;
      if (n > 1) this.#counts.set(k, n - 1);
      else {
        this.#counts.delete(k);
        gone.push(k);
      }
    }
    if (gone.length) this.#view().releaseKeys(this.holder, gone);
  }

  /**
   * Hand `keys` to the client `client` (it gets them from a queue, a variable, a dataset): it
   * wants them on the scheduler before the reply reaches it, so that they outlive this hold
   * even if released at once; its client then adopts them (want-keys with `handed`) when it
   * decodes the value, and a release of them that crossed the reply is not applied till then.
   */
  handTo(client: string, keys: readonly string[]): void {
    if (keys.length) this.#view().handKeys(client, [...new Set(keys)]);
  }

  /** How many keys are held (tests). */
  get size(): number {
    return this.#counts.size;
  }
}
