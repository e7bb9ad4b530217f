/**
 * Variables and events: named values and flags on the scheduler.
 * - A variable holds one encoded item (the keys of its futures held until it is replaced or
 *   deleted); a get waits until it is set.
 * - An event is set or clear; a wait waits until it is set. A clear event nobody waits on is
 *   forgotten (it reads as clear).
 */
import type { SharedItem } from "../../protocol/messages-coordination.js";
import type { KeyHolds } from "../key-holds.js";
import type { FrameTooLargeError } from "../../errors.js";
import { type Taker, carrying, own, tooBigFor } from "../common.js";
import { WaitList } from "../waiters.js";

export class Variables {
  readonly #values = new Map<string, SharedItem>();
  readonly #waiting = new Map<string, WaitList<Taker, SharedItem | FrameTooLargeError | null>>();
  readonly #holds: KeyHolds;

  constructor(holds: KeyHolds) {
    this.#holds = holds;
  }

  set(name: string, value: Uint8Array[], keys: string[]): "ok" {
    const unknown = this.#holds.add(keys);
    if (unknown.length) throw new Error(`Variable ${JSON.stringify(name)}: the scheduler no longer knows ${JSON.stringify(unknown[0])} (a released or cancelled future)`);
    const old = this.#values.get(name);
    const item = { value: own(value), keys };
    this.#values.set(name, item);
    if (old) this.#holds.release(old.keys);
    const list = this.#waiting.get(name);
    this.#waiting.delete(name);
    for (const w of list?.drain() ?? []) w.settle(this.#handTo(w.payload, name, item));
    return "ok";
  }

  async get(name: string, timeoutMs: number, client: Taker): Promise<{ item: SharedItem | null }> {
    const item = this.#values.get(name);
    let got: SharedItem | FrameTooLargeError | null;
    if (item) got = this.#handTo(client, name, item);
    else {
      let list = this.#waiting.get(name);
      if (!list) this.#waiting.set(name, (list = new WaitList()));
      got = await list.wait(client.id, client, timeoutMs, null);
      if (list.size === 0 && this.#waiting.get(name) === list) this.#waiting.delete(name);
    }
    if (got instanceof Error) throw got;
    return carrying({ item: got }, got && [got]);
  }

  /** `item` for `client` (it then wants the item's keys), or the error saying it is too big for its frames. */
  #handTo(client: Taker, name: string, item: SharedItem): SharedItem | FrameTooLargeError {
    const big = tooBigFor(client, [item], `Variable ${JSON.stringify(name)}: its value`, "get it from a client connected with a larger maxFrameSize, or set a smaller value (big data is best scattered, and its future set)");
    if (big) return big;
    this.#holds.handTo(client.id, item.keys);
    return item;
  }

  /** The variable's item (the journal's record of it). */
  peek(name: string): SharedItem | undefined {
    return this.#values.get(name);
  }

  delete(name: string): "ok" {
    const old = this.#values.get(name);
    this.#values.delete(name);
    if (old) this.#holds.release(old.keys);
    return "ok";
  }

  clientRemoved(client: string): void {
    for (const [name, list] of this.#waiting) {
      list.dropClient(client, null);
      if (list.size === 0) this.#waiting.delete(name);
    }
  }
}

export class Events {
  readonly #set = new Set<string>();
  readonly #waiting = new Map<string, WaitList<null, boolean>>();

  set(name: string): "ok" {
    this.#set.add(name);
    const list = this.#waiting.get(name);
    this.#waiting.delete(name);
    for (const w of list?.drain() ?? []) w.settle(true);
    return "ok";
  }

  clear(name: string): "ok" {
    this.#set.delete(name);
    return "ok";
  }

  isSet(name: string): boolean {
    return this.#set.has(name);
  }

  async wait(name: string, timeoutMs: number, client: string): Promise<boolean> {
    if (this.#set.has(name)) return true;
    let list = this.#waiting.get(name);
    if (!list) this.#waiting.set(name, (list = new WaitList()));
    const ok = await list.wait(client, null, timeoutMs, false);
    if (list.size === 0 && this.#waiting.get(name) === list) this.#waiting.delete(name);
    return ok;
  }

  clientRemoved(client: string): void {
    for (const [name, list] of this.#waiting) {
      list.dropClient(client, false);
      if (list.size === 0) this.#waiting.delete(name);
    }
  }

  /** Waits in progress (tests: nothing left behind). */
  get waiting(): number {
    let n = 0;
    for (const l of this.#waiting.values()) n += l.size;
    return n;
  }
}
