/**
 * Pub/sub: what a Pub puts under a name goes, through the scheduler, to every client that has
 * a Sub of that name at that moment (one message per client; the client hands it to each of
 * its subscribers). Nothing is kept: a subscriber gets what is published after it subscribed.
 * A client whose frames cannot take the item gets, in its place, the error saying so (its
 * subscribers raise it), never a frame that would close its connection.
 */
import type { Message } from "../../protocol/messages.js";
import { Op, toWireError } from "../../protocol/ops.js";
import { type Taker, tooBigFor } from "../common.js";

interface Subscriber {
  frames: Taker["frames"];
  /** its Subs' ids */
  subs: Set<string>;
}

export class PubSub {
  /** name -> client -> its subscribers */
  readonly #subs = new Map<string, Map<string, Subscriber>>();
  readonly #send: (client: string, msg: Message, bytes: number) => boolean;

  constructor(send: (client: string, msg: Message, bytes: number) => boolean) {
    this.#send = send;
  }

  subscribe(name: string, client: Taker, sub: string): "ok" {
    let byClient = this.#subs.get(name);
    if (!byClient) this.#subs.set(name, (byClient = new Map()));
    let s = byClient.get(client.id);
    if (!s) byClient.set(client.id, (s = { frames: client.frames, subs: new Set() }));
    s.subs.add(sub);
    return "ok";
  }

  unsubscribe(name: string, client: string, sub: string): "ok" {
    const byClient = this.#subs.get(name);
    const s = byClient?.get(client);
    if (s?.subs.delete(sub) && s.subs.size === 0) byClient!.delete(client);
    if (byClient?.size === 0) this.#subs.delete(name);
    return "ok";
  }

  put(name: string, value: Uint8Array[]): void {
    const byClient = this.#subs.get(name);
    if (!byClient) return;
    let bytes = 0;
    for (const p of value) bytes += p.byteLength;
    for (const [id, s] of byClient) {
      const big = tooBigFor({ id, frames: s.frames }, [{ value }], `Sub ${JSON.stringify(name)}: a published item`, "publish less (big data is best scattered, and its future shared through a Queue or Variable), or subscribe from a client connected with a larger maxFrameSize");
      this.#send(id, big ? { op: Op.pubsubMessage, name, error: toWireError(big) } : { op: Op.pubsubMessage, name, value }, big ? 0 : bytes);
    }
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
