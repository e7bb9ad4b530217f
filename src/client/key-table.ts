/**
 * The client's table of keys: for each key, its live *incarnation* (a KeyState, shared by the
 * futures made for it), from its submission until it is released or cancelled. No I/O.
 *
 * A cancelled incarnation leaves the table at once (as Dask's client pops the key's state):
 * its futures keep it and stay cancelled, and submitting the key again makes a new one, which
 * the cluster computes again.
 *
 * The hazard: when this client cancels a key, the scheduler answers with key-cancelled, which
 * may arrive after the key was submitted again; it concerns the old incarnation and must not
 * cancel the new one. A key-cancelled caused by another client's cancel, a cancelled dependency
 * or a restart must still cancel the live one. Both connections are FIFO, and the scheduler
 * sends key-cancelled exactly once to each client that wants the key when it cancels it (and
 * forgets that the client wants it). So when this client cancels a live incarnation (its
 * update-graph already sent), exactly one key-cancelled for it is still to come, or already on
 * its way for another reason (and then the scheduler finds nothing to cancel): the next
 * key-cancelled this client reads for the key is that one, and is ignored. A key-cancelled with
 * no such expectation pending concerns the live incarnation.
 */
import type { WireError } from "../protocol/ops.js";
import type { FutureStatus } from "./future.js";

/** One incarnation of a key in this client. */
export interface KeyState {
  status: FutureStatus;
  error?: WireError;
  /** erred: the key of the failed dependency; cancelled: why it was cancelled */
  because?: string;
  /** Futures alive for this incarnation. */
  refs: number;
  /** a small result that came with the news (encoded parts) */
  value?: Buffer[];
  waiters: Array<() => void>;
}

export class KeyTable {
  #live = new Map<string, KeyState>();
  /** key -> how many key-cancelled for incarnations this client cancelled itself are still to come */
  #ownCancels = new Map<string, number>();

  /** The live incarnation of `key`, if any. */
  get(key: string): KeyState | undefined {
    return this.#live.get(key);
  }

  /** A new live incarnation of `key` (there must be none). */
  add(key: string): KeyState {
    if (this.#live.has(key)) throw new Error(`key ${JSON.stringify(key)} already has a live incarnation`);
    const ks: KeyState = { status: "pending", refs: 0, waiters: [] };
    this.#live.set(key, ks);
    return ks;
  }

  /** The last future let go of `ks`: it leaves the table (if it is still the live one). */
  release(key: string, ks: KeyState): boolean {
    if (this.#live.get(key) !== ks) return false;
    this.#live.delete(key);
    return true;
  }

  /**
   * This client cancels the live incarnation of `key`, the one its futures hold (`ks`): it
   * leaves the table, and the scheduler's key-cancelled for it is expected. Returns false when
   * `ks` is not live (already cancelled or released: nothing to do).
   */
  cancelOwn(key: string, ks: KeyState): boolean {
    if (!this.release(key, ks)) return false;
    this.#ownCancels.set(key, (this.#ownCancels.get(key) ?? 0) + 1);
    return true;
  }

  /**
   * The scheduler says `key` was cancelled: the live incarnation that concerns (it leaves the
   * table), or undefined when the news is about an incarnation this client cancelled itself.
   */
  cancelledByScheduler(key: string): KeyState | undefined {
    const own = this.#ownCancels.get(key);
    if (own !== undefined) {
      if (own > 1) this.#ownCancels.set(key, own - 1);
      else this.#ownCancels.delete(key);
      return undefined;
    }
    const ks = this.#live.get(key);
    this.#live.delete(key);
    return ks;
  }

  /** Forget everything (the client is closed or lost its scheduler); the live incarnations. */
  clear(): KeyState[] {
    const all = [...this.#live.values()];
    this.#live.clear();
    this.#ownCancels.clear();
    return all;
  }
}
