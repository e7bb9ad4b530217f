/**
 * The client's table of keys: for each key, its live *incarnation* (a KeyState, shared by the
 * futures made for it), from its submission until it is released or cancelled. No I/O.
 *
 * A cancelled incarnation leaves the table at once (as Dask's client pops the key's state):
 * its futures keep it and stay cancelled, and submitting the key again makes a new one, which
 * the cluster computes again.
 *
 * The hazard: news the scheduler sent about an incarnation this client ended (released or
 * cancelled) can arrive after the key was submitted again, and must not be taken for the new
 * incarnation's (a user-named key resubmitted with another function would be handed the old
 * result). Both connections are FIFO, and the messages that end incarnations (release-keys,
 * cancel-keys) are numbered by the client's GraphOutbox in the order they go out, each before
 * the tasks submitted after it; the scheduler answers each with ack-keys once it has handled
 * it. So an incarnation made while an ending is not yet acknowledged is *fenced* at the number
 * of the last ending before it: the scheduler sends news about it only after it handled that
 * ending, so news the client reads before the ack concerns an older incarnation, and is
 * ignored. After a take-over every incarnation is fenced until the scheduler acknowledges the
 * client's resume (client/scheduler-link.ts `resume`), which brings the news of every live key
 * again.
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
  /** news is ignored until the scheduler acknowledged the endings up to this number (see above) */
  fence?: number;
  /** a small result that came with the news (client/fetch.ts `keepInline`) */
  value?: InlineValue;
  /** the worker the scheduler said holds the result (gather asks it first, without who-has) */
  holder?: string;
  /** callbacks for the end of pending (made on first wait: most keys never have one) */
  waiters?: Array<() => void>;
}

export class KeyTable {
  #live = new Map<string, KeyState>();
  /** the highest ending the scheduler acknowledged (ack-keys) */
  #acked = 0;
  /** after a take-over: every incarnation is fenced at this number (the client's resume) */
  #resync = 0;

  /** The keys with a live incarnation. */
  keys(): IterableIterator<string> {
    return this.#live.keys();
  }

  /** The live incarnation of `key`, if any. */
  get(key: string): KeyState | undefined {
    return this.#live.get(key);
  }

  /**
   * A new live incarnation of `key` (there must be none); `endings`: the number of the last
   * ending this client queued before it (GraphOutbox `endings`).
   */
  add(key: string, endings = 0): KeyState {
    if (this.#live.has(key)) throw new Error(`key ${JSON.stringify(key)} already has a live incarnation`);
    const ks: KeyState = { key, status: "pending", refs: 0 };
    if (endings > this.#acked) ks.fence = endings;
    this.#live.set(key, ks);
    return ks;
  }

  /** The scheduler handled the endings up to `seq` (ack-keys). */
  acked(seq: number): void {
    if (seq > this.#acked) this.#acked = seq;
  }

  /** The scheduler was lost: no news counts until it acknowledges the resume (`resumed`). */
  lost(): void {
    this.#resync = Infinity;
  }

  /** The resume went out as ending `seq`: news counts again once the scheduler acknowledges it. */
  resumed(seq: number): void {
    this.#resync = seq;
  }

  /** The live incarnation of `key` the scheduler's news concerns (undefined: news of an ended one, or of none). */
  news(key: string): KeyState | undefined {
    if (this.#resync > this.#acked) return undefined;
    const ks = this.#live.get(key);
    if (ks?.fence === undefined) return ks;
    if (ks.fence > this.#acked) return undefined;
    ks.fence = undefined;
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

  /**
   * The last future let go of `ks`, or this client cancels it: it leaves the table (if it is
   * still the live one; false if not: nothing to do). Its release or cancel is an ending.
   */
  release(key: string, ks: KeyState): boolean {
    if (this.#live.get(key) !== ks) return false;
    this.#live.delete(key);
    return true;
  }

  /** The scheduler says `key` was cancelled: the live incarnation that concerns (it leaves the table), if any. */
  cancelledByScheduler(key: string): KeyState | undefined {
    const ks = this.news(key);
    if (ks) this.#live.delete(key);
    return ks;
  }

  /** Forget everything (the client is closed or lost its scheduler): pending keys end cancelled. */
  abandon(): void {
    for (const ks of this.#live.values()) {
      if (ks.status === "pending") ks.status = "cancelled";
      wake(ks);
    }
    this.#live.clear();
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
