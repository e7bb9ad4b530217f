/**
 * Actors, the client side (issue 14, point 6): how a proxy's calls reach the worker its actor
 * lives on, directly (as Dask's, not through the scheduler), and the types of proxies.
 *
 * `client.submit(Counter, { actor: true })` makes the object on one worker; its future's
 * result is a proxy (`Actor<Counter>`): `await proxy.increment(2)` calls the method there and
 * `await proxy.n` reads an attribute. The calls of one actor run one at a time in the order they
 * were made (the worker queues them). The proxy holds a future of the actor's key, so the actor
 * lives while the proxy or any future of it does. protocol/actor-ref.ts makes the proxies.
 */
import type { Rpc } from "../comm/rpc.js";
import { RemoteError } from "../comm/rpc.js";
import { CommClosedError, RemoteTaskError, describeError } from "../errors.js";
import { type ActorHost, type ActorInfo, actorInfo } from "../protocol/actor-ref.js";
import { RAW_PART_BYTES } from "../protocol/frames.js";
import { Sent, copyRaws, decodeWithRaws, encodeWithRaws } from "../protocol/msgpack.js";
import { Op } from "../protocol/ops.js";

/**
 * A proxy of an actor of class `T`: each method returns a promise of its result, each other
 * member is awaited for its value (`await proxy.n`).
 */
export type Actor<T> = {
  readonly [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : PromiseLike<T[K]>;
};

/** The actor a proxy names (key, worker, class name); undefined for anything else. */
export function actorOf(proxy: unknown): ActorInfo | undefined {
  return actorInfo(proxy);
}

/** Actor calls wait this long at most (a method may compute for long; a dead worker fails them at once). */
const CALL_TIMEOUT_MS = 24 * 3600_000;

/** What calling actors needs of the client. */
export interface ActorClient {
  worker(address: string): Promise<Rpc>;
  /** a future of the key (keeps the actor alive), if the client knows the key */
  retain(key: string): unknown;
}

/** The client's ActorHost: calls go to the actor's worker over the client's connection to it. */
export function actorHost(client: ActorClient): ActorHost {
  return {
    retain: (key) => client.retain(key),
    async call(actor, kind, name, args) {
      const where = `actor ${JSON.stringify(actor.key)} (class ${actor.className}) on worker ${actor.worker}`;
      const encoded = encodeWithRaws(args, RAW_PART_BYTES, Sent.arguments);
      if (encoded.keys.length) throw new TypeError(`${where}: arguments of ${name}() cannot be futures (pass their values: await future.result())`);
      encoded.raws = copyRaws(encoded.raws); // as they are now: the caller may change its arrays while we connect
      let rpc: Rpc;
      try {
        rpc = await client.worker(actor.worker);
      } catch (err) {
        throw new CommClosedError(`${where}: cannot reach its worker (it died or left): ${describeError(err)}`, { cause: err });
      }
      let parts: Uint8Array[];
      try {
        const msg = { op: Op.actorCall, key: actor.key, kind, name, ...(kind === "call" ? { args: [encoded.head, ...encoded.raws] } : {}) };
        parts = await rpc.request<Uint8Array[]>(msg, CALL_TIMEOUT_MS);
      } catch (err) {
        if (err instanceof RemoteError) throw new RemoteTaskError(`${actor.key}.${name}`, err.remote);
        if (err instanceof CommClosedError) throw new CommClosedError(`${where}: its worker is gone (${err.message}); the actor is lost with it`, { cause: err });
        throw err;
      }
      return decodeWithRaws(parts[0]!, parts.slice(1));
    },
  };
}
