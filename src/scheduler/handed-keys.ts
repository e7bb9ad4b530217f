/**
 * Keys handed to a client and not adopted by it yet (no I/O). An extension hands a client the
 * keys of a value it gets (a queue item, a variable's value, a dataset: `SchedulerView.handKeys`):
 * the client wants them from then on, and adopts them when it decodes the reply (want-keys with
 * `handed`). Until then a release of such a key from that client crossed the reply: it ends an
 * incarnation of the key from before the hand, and applied, it would undo the hand's want (wants
 * are a set), so the key could be forgotten before the client adopts it. Such a release is not
 * applied; the client's adoption makes the want its own again.
 */
export class HandedKeys {
  /** client -> key -> hands not adopted yet */
  readonly #byClient = new Map<string, Map<string, number>>();

  /** `keys` handed to `client` (once each, however often a key appears in the value). */
  hand(client: string, keys: Iterable<string>): void {
    let m = this.#byClient.get(client);
    if (!m) this.#byClient.set(client, (m = new Map()));
    for (const k of new Set(keys)) m.set(k, (m.get(k) ?? 0) + 1);
  }

  /** `client` adopted `keys` (one hand each; a key never handed is ignored). */
  adopted(client: string, keys: Iterable<string>): void {
    const m = this.#byClient.get(client);
    if (!m) return;
    for (const k of new Set(keys)) {
      const n = m.get(k);
      if (n === undefined) continue;
      if (n > 1) m.set(k, n - 1);
      else m.delete(k);
    }
    if (m.size === 0) this.#byClient.delete(client);
  }

  /** The keys of a release from `client` that may be applied: all but those handed to it and not adopted yet. */
  releasable(client: string, keys: string[]): string[] {
    const m = this.#byClient.get(client);
    return m ? keys.filter((k) => !m.has(k)) : keys;
  }

  /** The client left (or the scheduler forgot every key): nothing of it is awaited any more. */
  forget(client?: string): void {
    if (client === undefined) this.#byClient.clear();
    else this.#byClient.delete(client);
  }
}
