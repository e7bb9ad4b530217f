/**
 * Pub/sub: what a Pub puts under a name goes, through the scheduler, to every client that has
 * a Sub of that name at that moment (one message per client; the client hands it to each of
 * its subscribers). Nothing is kept: a subscriber gets what is published after it subscribed.
 */
import type { Message } from "../../protocol/messages.js";
import { Op } from "../../protocol/ops.js";

export class PubSub {
  /** name -> client -> its subscribers' ids */
  readonly #subs = new Map<string, Map<string, Set<string>>>();
  readonly #send: (client: string, msg: Message) => boolean;

  constructor(send: (client: string, msg: Message) => boolean) {
    this.#send = send;
  }

  subscribe(name: string, client: string, sub: string): "ok" {
    let byClient = this.#subs.get(name);
    if (!byClient) this.#subs.set(name, (byClient = new Map()));
    let subs = byClient.get(client);
    if (!subs) byClient.set(client, (subs = new Set()));
    subs.add(sub);
    return "ok";
  }

  unsubscribe(name: string, client: string, sub: string): "ok" {
    const byClient = this.#subs.get(name);
    const subs = byClient?.get(client);
    if (subs?.delete(sub) && subs.size === 0) byClient!.delete(client);
    if (byClient?.size === 0) this.#subs.delete(name);
    return "ok";
  }

  put(name: string, value: Uint8Array[]): void {
    const byClient = this.#subs.get(name);
    if (!byClient) return;
    for (const client of byClient.keys()) this.#send(client, { op: Op.pubsubMessage, name, value });
  }

  clientRemoved(client: string): void {
    for (const [name, byClient] of this.#subs) {
      byClient.delete(client);
      if (byClient.size === 0) this.#subs.delete(name);
    }
  }

  /** Subscribing clients of `name` (tests). */
  subscribers(name: string): number {
    return this.#subs.get(name)?.size ?? 0;
  }
}
