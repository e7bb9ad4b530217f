/**
 * Locks and semaphores: named pools of leases (a lock is a pool of one). A lease is held by one
 * Lock/Semaphore object (`id`) of one client; requests for a lease wait first come first
 * served. A lease ends when its object releases it, when its time (`lease`, ms) is up, or when
 * its client goes (onClientRemoved: a task's client dies with its worker), so that no lease is
 * held forever by a holder that can no longer release it; the next waiter gets it at once.
 */
import { logger } from "../../log.js";
import type { LeaseAcquire, LeaseKind } from "../../protocol/messages-coordination.js";
import { WaitList } from "../waiters.js";

interface Holder {
  client: string;
  id: string;
  timer?: NodeJS.Timeout;
}

interface Pool {
  kind: LeaseKind;
  name: string;
  maxLeases: number;
  holders: Holder[];
  waiters: WaitList<{ id: string; lease?: number }, boolean>;
}

const label = (p: { kind: LeaseKind; name: string }) => `${p.kind === "lock" ? "Lock" : "Semaphore"} ${JSON.stringify(p.name)}`;

export class Leases {
  readonly #pools = new Map<string, Pool>();

  #pool(kind: LeaseKind, name: string): Pool | undefined {
    return this.#pools.get(`${kind}:${name}`);
  }

  /** Grant a lease now or within `m.timeout` ms (true), or not (false). */
  acquire(m: LeaseAcquire, client: string): Promise<boolean> | boolean {
    if (!(Number.isInteger(m.maxLeases) && m.maxLeases >= 1)) throw new Error(`${label(m)}: maxLeases must be an integer >= 1, got ${m.maxLeases}`);
    if (m.lease !== undefined && !(m.lease > 0)) throw new Error(`${label(m)}: lease must be a number of milliseconds > 0, got ${m.lease}`);
    let p = this.#pool(m.kind, m.name);
    if (!p) this.#pools.set(`${m.kind}:${m.name}`, (p = { kind: m.kind, name: m.name, maxLeases: m.maxLeases, holders: [], waiters: new WaitList() }));
    else if (p.maxLeases !== m.maxLeases) throw new Error(`${label(m)} has maxLeases ${p.maxLeases}, got ${m.maxLeases}`);
    if (p.holders.length < p.maxLeases && p.waiters.size === 0) {
      this.#grant(p, client, m.id, m.lease);
      return true;
    }
    const pool = p;
    return p.waiters.wait(client, { id: m.id, lease: m.lease }, m.timeout, false).finally(() => this.#forget(pool));
  }

  /** Release one lease of object `id`; false when it holds none. */
  release(kind: LeaseKind, name: string, client: string, id: string): boolean {
    const p = this.#pool(kind, name);
    const i = p ? p.holders.findIndex((h) => h.id === id && h.client === client) : -1;
    if (!p || i < 0) return false;
    this.#end(p, i);
    return true;
  }

  info(kind: LeaseKind, name: string): { leases: number; maxLeases: number } {
    const p = this.#pool(kind, name);
    return { leases: p?.holders.length ?? 0, maxLeases: p?.maxLeases ?? 0 };
  }

  /** `client` is gone: its leases end and its waiters leave. */
  clientRemoved(client: string): void {
    for (const p of [...this.#pools.values()]) {
      p.waiters.dropClient(client, false);
      for (let i = p.holders.length - 1; i >= 0; i--) {
        if (p.holders[i]!.client === client) {
          logger("scheduler").info({ [p.kind]: p.name, client, reason: "its client left" }, "lease released");
          this.#end(p, i);
        }
      }
      this.#forget(p);
    }
  }

  /** How many pools exist (tests: nothing left behind). */
  get size(): number {
    return this.#pools.size;
  }

  #grant(p: Pool, client: string, id: string, lease: number | undefined): void {
    const h: Holder = { client, id };
    if (lease !== undefined) {
      h.timer = setTimeout(() => {
        const i = p.holders.indexOf(h);
        if (i < 0) return;
        logger("scheduler").info({ [p.kind]: p.name, client, reason: `its lease of ${lease} ms ran out` }, "lease released");
        this.#end(p, i);
      }, lease);
      h.timer.unref();
    }
    p.holders.push(h);
  }

  /** End holder `i`, hand free leases to the waiters, drop the pool once unused. */
  #end(p: Pool, i: number): void {
    clearTimeout(p.holders[i]!.timer);
    p.holders.splice(i, 1);
    while (p.holders.length < p.maxLeases) {
      const w = p.waiters.shift();
      if (!w) break;
      this.#grant(p, w.client, w.payload.id, w.payload.lease);
      w.settle(true);
    }
    this.#forget(p);
  }

  #forget(p: Pool): void {
    if (!p.holders.length && !p.waiters.size && this.#pools.get(`${p.kind}:${p.name}`) === p) this.#pools.delete(`${p.kind}:${p.name}`);
  }
}
