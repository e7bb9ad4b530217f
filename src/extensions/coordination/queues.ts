/**
 * Queues: named FIFO queues of encoded items on the scheduler. The keys of the futures in a
 * queued item are held (KeyHolds) from its put until a get hands them to the getting client.
 * A put waits while the queue is full (`maxsize` > 0), a get while it has too few items (a
 * batch counts the waiting puts' items: it may be bigger than `maxsize`); both
 * first come first served, with a deadline, and a gone client's waiters leave (a waiting put's
 * item is dropped with its holds).
 */
import type { QueueGet, QueuePut, SharedItem } from "../../protocol/messages-coordination.js";
import type { KeyHolds } from "../key-holds.js";
import type { FrameTooLargeError } from "../../errors.js";
import { type Taker, carrying, own, tooBigFor } from "../common.js";
import { WaitList } from "../waiters.js";

interface Queue {
  /** undefined while only gets made it: the first put (or the journal) sets it */
  maxsize?: number;
  items: SharedItem[];
  /** payload: how many items (>= 1), and who wants them */
  getters: WaitList<{ n: number; client: Taker }, SharedItem[] | FrameTooLargeError | null>;
  putters: WaitList<SharedItem, boolean>;
}

export class Queues {
  readonly #queues = new Map<string, Queue>();
  readonly #holds: KeyHolds;

  constructor(holds: KeyHolds) {
    this.#holds = holds;
  }

  #queue(name: string, maxsize?: number): Queue {
    let q = this.#queues.get(name);
    if (!q) this.#queues.set(name, (q = { maxsize, items: [], getters: new WaitList(), putters: new WaitList() }));
    q.maxsize ??= maxsize; // a getter that came first made it without its bound
    return q;
  }

  async put(m: QueuePut, client: string): Promise<boolean> {
    if (!(Number.isInteger(m.maxsize) && m.maxsize >= 0)) throw new Error(`Queue ${JSON.stringify(m.name)}: maxsize must be an integer >= 0, got ${m.maxsize}`);
    const unknown = this.#holds.add(m.keys);
    if (unknown.length) throw new Error(`Queue ${JSON.stringify(m.name)}: the scheduler no longer knows ${JSON.stringify(unknown[0])} (a released or cancelled future)`);
    const q = this.#queue(m.name, m.maxsize);
    const item = { value: own(m.value), keys: m.keys };
    if (q.maxsize && q.items.length >= q.maxsize) {
      const waiting = q.putters.wait(client, item, m.timeout, false);
      this.#pump(q, m.name); // a waiting batch get may take it at once
      const ok = await waiting;
      if (!ok) this.#holds.release(item.keys); // timed out, or its client went: the item is dropped
      this.#forget(m.name, q);
      return ok;
    }
    q.items.push(item);
    this.#pump(q, m.name);
    return true;
  }

  async get(m: QueueGet, client: Taker): Promise<{ items: SharedItem[] | null }> {
    if (!Number.isInteger(m.batch) || m.batch < -1) throw new Error(`Queue ${JSON.stringify(m.name)}: batch must be true, false or an integer >= 1, got ${m.batch}`);
    const q = this.#queue(m.name);
    const n = m.batch === -1 ? q.items.length : Math.max(1, m.batch);
    let items: SharedItem[] | FrameTooLargeError | null;
    if (m.batch === -1 || (q.items.length + q.putters.size >= n && q.getters.size === 0)) {
      items = this.#take(q, m.name, n, client);
    } else {
      items = await q.getters.wait(client.id, { n, client }, m.timeout, null);
    }
    this.#forget(m.name, q);
    if (items instanceof Error) throw items;
    return carrying({ items }, items);
  }

  /** A queue's items and bound (the journal's record of it), undefined when it is empty and unused. */
  contents(name: string): { maxsize: number; items: SharedItem[] } | undefined {
    const q = this.#queues.get(name);
    return q?.items.length ? { maxsize: q.maxsize ?? 0, items: q.items } : undefined;
  }

  /** Put back a queue's items as journaled (take-over); items whose keys are gone are dropped. */
  restore(name: string, maxsize: number, items: SharedItem[]): void {
    const q = this.#queue(name, maxsize);
    for (const it of items) if (!this.#holds.add(it.keys).length) q.items.push({ value: it.value.map((p) => new Uint8Array(p)), keys: it.keys });
    this.#forget(name, q);
  }

  size(name: string): number {
    return this.#queues.get(name)?.items.length ?? 0;
  }

  clientRemoved(client: string): void {
    for (const [name, q] of this.#queues) {
      q.getters.dropClient(client, null);
      q.putters.dropClient(client, false); // put() lets go of the item's keys
      this.#forget(name, q);
    }
  }

  /** Move waiting puts in while there is room, then serve waiting gets in order. */
  #pump(q: Queue, name: string): void {
    for (;;) {
      this.#admit(q, q.maxsize || Infinity);
      const g = q.getters.first();
      // a batch counts the waiting puts too: more than maxsize items can never be queued at once
      if (!g || q.items.length + q.putters.size < g.payload.n) return;
      q.getters.shift();
      g.settle(this.#take(q, name, g.payload.n, g.payload.client));
    }
  }

  /**
   * The first `n` items, handed to `client`: it wants their keys before the queue lets go of
   * them. Items too big for the client's frames stay queued; it gets the error saying so.
   */
  #take(q: Queue, name: string, n: number, client: Taker): SharedItem[] | FrameTooLargeError {
    // a batch over what the queue holds takes the waiting puts' items as they come (they are
    // put: if the batch is then refused as too big, they stay queued, over maxsize for a while)
    this.#admit(q, n);
    const what = n === 1 ? `Queue ${JSON.stringify(name)}: its next item` : `Queue ${JSON.stringify(name)}: its next ${n} items`;
    const hint = n === 1 ? "it stays queued: get it from a client connected with a larger maxFrameSize (big data is best scattered, and its future queued)" : "they stay queued: get fewer at a time (batch), or from a client connected with a larger maxFrameSize";
    const big = tooBigFor(client, q.items.slice(0, n), what, hint);
    if (big) return big;
    const items = q.items.splice(0, n);
    for (const it of items) {
      this.#holds.handTo(client.id, it.keys);
      this.#holds.release(it.keys);
    }
    this.#pump(q, name);
    return items;
  }

  /** Waiting puts' items into the queue, first come first, while it holds fewer than `upTo`. */
  #admit(q: Queue, upTo: number): void {
    while (q.items.length < upTo && q.putters.size) {
      const w = q.putters.shift()!;
      q.items.push(w.payload);
      w.settle(true);
    }
  }

  #forget(name: string, q: Queue): void {
    if (!q.items.length && !q.getters.size && !q.putters.size && this.#queues.get(name) === q) this.#queues.delete(name);
  }
}
