/**
 * Pub/sub through the scheduler (src/extensions/coordination/pubsub.ts): what a Pub puts goes
 * to every Sub of the same name that exists then, in any client or task. A Sub buffers what it
 * has not read yet; closing it (or ending a `for await` over it) unsubscribes.
 */
import { randomUUID } from "node:crypto";
import { RemoteError } from "../comm/rpc.js";
import { CommClosedError, CoordinationError } from "../errors.js";
import { pubsubMessageParser } from "../protocol/messages-coordination.js";
import { decodeWithRaws } from "../protocol/msgpack.js";
import { Op } from "../protocol/ops.js";
import { Primitive, type PrimitiveOptions } from "./primitive.js";
import { type SharedHost, checkTimeout, encodeShared, timedOut } from "./shared.js";

/** Each client's subscribers by name; the client's pubsub-message handler is added with its first Sub. */
const routes = new WeakMap<SharedHost, Map<string, Set<Sub<unknown>>>>();

function subscribersOf(host: SharedHost): Map<string, Set<Sub<unknown>>> {
  let byName = routes.get(host);
  if (!byName) {
    const table = (byName = new Map());
    routes.set(host, table);
    host.handle(Op.pubsubMessage, (raw) => {
      const m = pubsubMessageParser(raw);
      // an item too big for this client's frames comes as the error saying so: each Sub raises it in the item's place
      const item = "error" in m ? { error: new CoordinationError(m.error.message, { cause: new RemoteError(m.error) }) } : { value: decodeWithRaws(m.value[0]!, m.value.slice(1)) };
      for (const sub of table.get(m.name) ?? []) sub.deliver(item);
    });
  }
  return byName;
}

/**
 * Publishes to the subscribers of `name` (Dask's distributed.Pub).
 * @example new Pub("progress").put({ step: 3 })
 */
export class Pub<T = unknown> extends Primitive {
  constructor(name: string, options: PrimitiveOptions = {}) {
    super("Pub", name, options);
  }

  /** Send `x` to every subscriber of this name now (no reply; futures cannot travel this way: use a Queue). */
  put(x: T): void {
    if (this.host.closed) throw new CommClosedError(`${this.what}: its client ${this.host.id} is closed`);
    const { value, keys } = encodeShared(this.host, x, this.what);
    if (keys.length) throw new CoordinationError(`${this.what}: a published value cannot hold futures (${JSON.stringify(keys[0])}); use a Queue or a Variable for futures`);
    this.host.send({ op: Op.pubsubPut, name: this.name, value });
  }
}

/**
 * Receives what is published to `name` from now on (Dask's distributed.Sub).
 * @example for await (const msg of new Sub<string>("logs")) console.log(msg);
 */
export class Sub<T = unknown> extends Primitive implements AsyncIterable<T> {
  /** @internal */
  readonly id = randomUUID();
  #buffer: Array<{ value: T } | { error: Error }> = [];
  #waiters: Array<(v: { value: T } | { error: Error }) => void> = [];
  #closed = false;

  constructor(name: string, options: PrimitiveOptions = {}) {
    super("Sub", name, options);
    if (this.host.closed) throw new CommClosedError(`${this.what}: its client ${this.host.id} is closed`);
    let subs = subscribersOf(this.host).get(this.name);
    if (!subs) subscribersOf(this.host).set(this.name, (subs = new Set()));
    subs.add(this as Sub<unknown>);
    // one-way and in order: what this client publishes after this line reaches this Sub
    this.host.send({ op: Op.pubsubSubscribe, name: this.name, sub: this.id });
  }

  /** @internal an item, or the error in its place */
  deliver(item: { value: unknown } | { error: Error }): void {
    const w = this.#waiters.shift();
    if (w) w(item as { value: T } | { error: Error });
    else this.#buffer.push(item as { value: T } | { error: Error });
  }

  /**
   * The next item; waits at most `timeout` ms (then TimeoutError; default: as long as it takes).
   * An item too big for this client's frames (its maxFrameSize) rejects in its place with a
   * CoordinationError naming its size (its cause: a FrameTooLargeError); the items after it
   * still come.
   */
  get(options: { timeout?: number } = {}): Promise<T> {
    checkTimeout(this.what, options.timeout);
    const next = this.#buffer.shift();
    if (next) return "error" in next ? Promise.reject(next.error) : Promise.resolve(next.value);
    if (this.#closed) return Promise.reject(new CoordinationError(`${this.what}: closed`));
    return new Promise<T>((resolve, reject) => {
      // the timer keeps the program alive while it waits, and notices a closed client
      const started = Date.now();
      const timer = setInterval(() => {
        if (this.host.closed) done({ error: new CommClosedError(`${this.what}: its client ${this.host.id} is closed`) });
        else if (options.timeout !== undefined && Date.now() - started >= options.timeout) done({ error: timedOut(this.what, "get (nothing was published)", options.timeout) });
      }, Math.max(1, Math.min(250, options.timeout ?? 250)));
      const done = (v: { value: T } | { error: Error }) => {
        clearInterval(timer);
        const i = this.#waiters.indexOf(done);
        if (i >= 0) this.#waiters.splice(i, 1);
        if ("error" in v) reject(v.error);
        else resolve(v.value);
      };
      this.#waiters.push(done);
    });
  }

  /** Unsubscribe; waiting gets end with an error. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    subscribersOf(this.host).get(this.name)?.delete(this as Sub<unknown>);
    if (!this.host.closed) this.host.send({ op: Op.pubsubUnsubscribe, name: this.name, sub: this.id });
    for (const w of this.#waiters.splice(0)) w({ error: new CoordinationError(`${this.what}: closed while waiting`) });
  }

  /** Items as they are published; ending the loop (break, return, throw) unsubscribes. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) yield await this.get();
    } finally {
      this.close();
    }
  }
}
