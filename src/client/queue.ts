/**
 * Queue, Variable and Event: state on the scheduler (src/extensions/coordination/), shared by
 * every client and task. Values may be, or contain, futures: the scheduler keeps their keys
 * alive while they are queued or set, and the receiving client gets futures of its own.
 */
import { Op } from "../protocol/ops.js";
import type { CoordinationReplies } from "../protocol/messages-coordination.js";
import { Primitive, type PrimitiveOptions } from "./primitive.js";
import { call, encodeShared, lateHand, takeShared, timedOut, waitOn } from "./shared.js";

export interface QueueOptions extends PrimitiveOptions {
  /** At most this many items (default 0: no limit); set by the first put that creates the queue. */
  maxsize?: number;
}

/**
 * A cluster-wide FIFO queue (Dask's distributed.Queue).
 * @example const q = new Queue("work"); await q.put(client.submit(f, 1)); const fut = await q.get({ timeout: 5000 });
 */
export class Queue<T = unknown> extends Primitive {
  readonly maxsize: number;

  constructor(name?: string, options: QueueOptions = {}) {
    super("Queue", name, options);
    const m = options.maxsize ?? 0;
    if (!(Number.isInteger(m) && m >= 0)) throw new TypeError(`${this.what}: maxsize must be an integer >= 0, got ${JSON.stringify(options.maxsize)}`);
    this.maxsize = m;
  }

  /** Add an item (a future, or a value with futures inside, too); waits while the queue is full, at most `timeout` ms (then TimeoutError). */
  async put(x: T, options: { timeout?: number } = {}): Promise<void> {
    const msg = { op: Op.queuePut, name: this.name, maxsize: this.maxsize, ...encodeShared(this.host, x, this.what) };
    const { done } = await waitOn<boolean>(this.host, this.what, msg, options.timeout, (ok) => ok);
    if (!done) throw timedOut(this.what, "put (the queue stayed full)", options.timeout);
  }

  /**
   * The next item; waits for one at most `timeout` ms (then TimeoutError). `batch: true`: every
   * item there is now (maybe none, no wait); `batch: n`: the next n items.
   */
  get(options?: { timeout?: number; batch?: false }): Promise<T>;
  get(options: { timeout?: number; batch: true | number }): Promise<T[]>;
  async get(options: { timeout?: number; batch?: boolean | number } = {}): Promise<T | T[]> {
    const b = options.batch;
    if (!(b === undefined || typeof b === "boolean" || (Number.isInteger(b) && (b as number) >= 1))) {
      throw new TypeError(`${this.what}: batch must be true, false or an integer >= 1, got ${JSON.stringify(b)}`);
    }
    const batch = b === true ? -1 : typeof b === "number" ? b : 0;
    const { reply, done } = await waitOn<CoordinationReplies["queue-get"]>(
      this.host, this.what, { op: Op.queueGet, name: this.name, batch }, batch === -1 ? 0 : options.timeout, (r) => r.items !== null,
      lateHand(this.host, (r: CoordinationReplies["queue-get"]) => r.items),
    );
    if (!done || !reply.items) throw timedOut(this.what, "get (no item came)", options.timeout);
    const items = takeShared(this.host, reply.items) as T[];
    return b === undefined || b === false ? items[0]! : items;
  }

  /** How many items are queued now. */
  qsize(): Promise<number> {
    return call<number>(this.host, this.what, { op: Op.queueSize, name: this.name });
  }
}

/**
 * A cluster-wide variable (Dask's distributed.Variable): one value, or a future, shared by name.
 * @example await new Variable("stop").set(true); await new Variable("stop").get({ timeout: 1000 })
 */
export class Variable<T = unknown> extends Primitive {
  constructor(name?: string, options: PrimitiveOptions = {}) {
    super("Variable", name, options);
  }

  /** Set it (the futures inside are kept alive until it is set again or deleted). */
  async set(x: T): Promise<void> {
    await call(this.host, this.what, { op: Op.variableSet, name: this.name, ...encodeShared(this.host, x, this.what) });
  }

  /** Its value; waits until it is set, at most `timeout` ms (then TimeoutError). */
  async get(options: { timeout?: number } = {}): Promise<T> {
    const { reply, done } = await waitOn<CoordinationReplies["variable-get"]>(
      this.host, this.what, { op: Op.variableGet, name: this.name }, options.timeout, (r) => r.item !== null,
      lateHand(this.host, (r: CoordinationReplies["variable-get"]) => r.item && [r.item]),
    );
    if (!done || !reply.item) throw timedOut(this.what, "get (it was not set)", options.timeout);
    return takeShared(this.host, [reply.item])[0] as T;
  }

  /** Forget its value (and let go of its futures). */
  async delete(): Promise<void> {
    await call(this.host, this.what, { op: Op.variableDelete, name: this.name });
  }
}

/**
 * A cluster-wide event flag (Dask's distributed.Event).
 * @example const ready = new Event("ready"); await ready.wait({ timeout: 10_000 }); // true once set
 */
export class Event extends Primitive {
  constructor(name?: string, options: PrimitiveOptions = {}) {
    super("Event", name, options);
  }

  async set(): Promise<void> {
    await call(this.host, this.what, { op: Op.eventSet, name: this.name });
  }

  async clear(): Promise<void> {
    await call(this.host, this.what, { op: Op.eventClear, name: this.name });
  }

  isSet(): Promise<boolean> {
    return call<boolean>(this.host, this.what, { op: Op.eventIsSet, name: this.name });
  }

  /** True once it is set; false if `timeout` ms pass first (default: wait as long as it takes). */
  async wait(options: { timeout?: number } = {}): Promise<boolean> {
    return (await waitOn<boolean>(this.host, this.what, { op: Op.eventWait, name: this.name }, options.timeout, (ok) => ok)).done;
  }
}
