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
 *
 * Also the news each incarnation gets (settle), waiting for it (settled) and what it fails with
 * (failure).
 */
import { CancelledError, KilledWorkerError, RemoteTaskError, TimeoutError } from "../errors.js";
import type { WireError } from "../protocol/ops.js";
import { after } from "./timeout.js";

export type FutureStatus = "pending" | "finished" | "error" | "cancelled";

/** A small result kept until gathered: a number, string, boolean or null as itself, anything else as its encoded parts. */
export type InlineValue = Uint8Array[] | number | string | boolean | null;

/** One incarnation of a key in this client. */
export interface KeyState {
  readonly key: string;
  status: FutureStatus;
  error?: WireError;
  /** erred: the key of the failed dependency; cancelled: why it was cancelled */
  because?: string;
  /** Futures alive for this incarnation. */
  refs: number;
  /** a small result that came with the news (client/fetch.ts `keepInline`) */
  value?: InlineValue;
  /** the worker the scheduler said holds the result (gather asks it first, without who-has) */
  holder?: string;
  /** callbacks for the end of pending (made on first wait: most keys never have one) */
  waiters?: Array<() => void>;
}

export class KeyTable {
  #live = new Map<string, KeyState>();
  /** key -> how many key-cancelled for incarnations this client cancelled itself are still to come */
  #ownCancels = new Map<string, number>();

  /** The keys with a live incarnation. */
  keys(): IterableIterator<string> {
    return this.#live.keys();
  }

  /** The live incarnation of `key`, if any. */
  get(key: string): KeyState | undefined {
    return this.#live.get(key);
  }

  /** A new live incarnation of `key` (there must be none). */
  add(key: string): KeyState {
    if (this.#live.has(key)) throw new Error(`key ${JSON.stringify(key)} already has a live incarnation`);
    const ks: KeyState = { key, status: "pending", refs: 0 };
    this.#live.set(key, ks);
    return ks;
  }

  /**
   * One future lets go of `ks`; true when that was the last one and `ks` was live: it left the
   * table and the cluster may forget the key (a cancelled incarnation is already let go).
   */
  drop(key: string, ks: KeyState): boolean {
    if (--ks.refs > 0 || !this.release(key, ks)) return false;
    settle(ks, "cancelled", undefined, "it was released");
    return true;
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

  /** Forget everything (the client is closed or lost its scheduler): pending keys end cancelled. */
  abandon(): void {
    for (const ks of this.#live.values()) {
      if (ks.status === "pending") ks.status = "cancelled";
      wake(ks);
    }
    this.#live.clear();
    this.#ownCancels.clear();
  }
}

/** The news about an incarnation (undefined: one this client no longer tracks). */
export function settle(ks: KeyState | undefined, status: FutureStatus, error?: WireError, because?: string, holder?: string): void {
  if (!ks) return;
  // cancelled is final: news of the cancelled task still on its way (its result) is void
  if (ks.status === "cancelled" && status !== "cancelled") return;
  if (status !== "finished") ks.value = undefined;
  ks.holder = status === "finished" ? holder : undefined;
  ks.status = status;
  ks.error = error;
  ks.because = because;
  if (status !== "pending") wake(ks);
}

function wake(ks: KeyState): void {
  const waiters = ks.waiters;
  ks.waiters = undefined;
  if (waiters) for (const w of waiters) w();
}

function unwait(ks: KeyState, w: () => void): void {
  const i = ks.waiters?.indexOf(w) ?? -1;
  if (i >= 0) ks.waiters!.splice(i, 1);
  if (ks.waiters?.length === 0) ks.waiters = undefined;
}

/**
 * Resolves once every one of `states` is finished, erred or cancelled; rejects with
 * TimeoutError after `timeoutMs` (naming the first key still pending; Infinity: never). One
 * timer and one callback for them all, however many they are.
 */
export function settled(states: Iterable<KeyState>, timeoutMs: number): Promise<void> {
  const pending: KeyState[] = [];
  for (const ks of states) if (ks.status === "pending") pending.push(ks);
  if (!pending.length) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    let left = pending.length;
    const one = () => {
      if (--left > 0) return;
      stop();
      resolve();
    };
    const stop = after(timeoutMs, () => {
      for (const ks of pending) unwait(ks, one);
      const late = pending.find((ks) => ks.status === "pending") ?? pending[0]!;
      const what = pending.length === 1 ? `future ${JSON.stringify(late.key)}` : `${left} of ${pending.length} futures (${JSON.stringify(late.key)}, ...)`;
      reject(new TimeoutError(`${what} not done within ${timeoutMs} ms`));
    });
    for (const ks of pending) (ks.waiters ??= []).push(one);
  });
}

/** What a future of `ks` fails with (cancelled: `lost`, when the scheduler was given up), if it failed. */
export function failure(key: string, ks: KeyState, lost?: Error): Error | undefined {
  if (ks.status === "cancelled") return lost ?? new CancelledError(`future ${JSON.stringify(key)} was cancelled${ks.because ? `: ${ks.because}` : ""}`);
  if (ks.status !== "error") return undefined;
  const remote = ks.error ?? { name: "Error", message: "unknown error", stack: "" };
  if (remote.name === "KilledWorkerError") return new KilledWorkerError(key, remote.message);
  return new RemoteTaskError(key, remote, ks.because);
}
