/**
 * Actors on the wire and in user values (issue 14, point 6): an actor is an object created by
 * a task on one worker (`client.submit(Counter, { actor: true })`); what travels is a handle on
 * it (its key, its worker, its class name). Decoded, a handle is a proxy: `proxy.method(...)`
 * and `await proxy.attribute` go to that worker through an `ActorHost` (the client's, given
 * while its values decode, or the task thread's client), which the proxy does not know how to
 * reach by itself: this module is below the client and the worker and does no I/O.
 *
 * A proxy is not thenable (its `then` is undefined), so `await future.result()` gives the proxy
 * itself; every other string property is the actor's: a member that is called is a method
 * call, a member that is awaited is an attribute read. Symbols and `constructor` are the
 * proxy's own (so it encodes, prints and tests with instanceof like its handle).
 */
import { registerActorRefClass } from "./msgpack.js";

/** Which actor: the key of the task that made it, the worker it lives on, its class's name. */
export interface ActorInfo {
  readonly key: string;
  readonly worker: string;
  readonly className: string;
}

/** How a proxy's calls reach the actor's worker (the client implements it). */
export interface ActorHost {
  /** `kind` "call": call method `name` with `args`; "get": read attribute `name`. */
  call(actor: ActorInfo, kind: "call" | "get", name: string, args: unknown[]): Promise<unknown>;
  /** Something that keeps the actor's key alive while the proxy lives (a future of it). */
  retain?(key: string): unknown;
}

const INFO = Symbol.for("dask-mpi-ts.actor");
/** what keeps the key alive (a future), while the handle lives: a symbol, so no actor member is shadowed */
const KEEP = Symbol("keep");

/** The handle an actor task returns; decoded, it is wrapped in a proxy (see actorProxy). */
export class ActorRef {
  readonly [INFO]: ActorInfo;
  [KEEP]?: unknown;
  constructor(info: ActorInfo) {
    this[INFO] = Object.freeze({ key: info.key, worker: info.worker, className: info.className });
  }
}

/** The actor a proxy (or handle) names; undefined for anything else. */
export function actorInfo(value: unknown): ActorInfo | undefined {
  return value instanceof ActorRef ? value[INFO] : undefined;
}

/** The host decoding uses now (set around a client's decoding), else the process default. */
let decodingHost: ActorHost | undefined;
let defaultHost: ActorHost | undefined;

/** Decode with `host` for the actor handles met: the proxies made then call through it. */
export function decodingActors<T>(host: ActorHost, decode: () => T): T {
  const before = decodingHost;
  decodingHost = host;
  try {
    return decode();
  } finally {
    decodingHost = before;
  }
}

/** The host of handles decoded outside a client's decoding (a task thread's arguments). @internal */
export function setDefaultActorHost(host: ActorHost | undefined): void {
  defaultHost = host;
}

const noHost: ActorHost = {
  call: (actor) =>
    Promise.reject(
      new Error(
        `actor ${JSON.stringify(actor.key)} (class ${actor.className}) on ${actor.worker} cannot be called here: no client to reach its worker ` +
          '(in a task, import the package first: await import("dask-mpi-ts"))',
      ),
    ),
};

/** A proxy of the actor `info`, calling through `host`. */
export function actorProxy(info: ActorInfo, host: ActorHost | undefined = decodingHost ?? defaultHost): ActorRef {
  const ref = new ActorRef(info);
  const via = host ?? { call: (...a: Parameters<ActorHost["call"]>) => (defaultHost ?? noHost).call(...a) };
  ref[KEEP] = via.retain?.(info.key);
  const members = new Map<string, unknown>();
  return new Proxy(ref, {
    get(target, prop, receiver) {
      if (typeof prop === "symbol" || prop === "constructor") return Reflect.get(target, prop, receiver);
      if (prop === "then") return undefined;
      let member = members.get(prop);
      if (!member) {
        const call = (...args: unknown[]) => via.call(info, "call", prop, args);
        // awaited rather than called: an attribute read
        Object.defineProperty(call, "then", {
          value: (resolve: (v: unknown) => unknown, reject: (e: unknown) => unknown) => via.call(info, "get", prop, []).then(resolve, reject),
        });
        members.set(prop, (member = call));
      }
      return member;
    },
    set() {
      throw new TypeError(`actor ${JSON.stringify(info.key)} (class ${info.className}): attributes are set by its methods, not through the proxy`);
    },
  });
}

registerActorRefClass(
  ActorRef,
  (ref) => {
    const i = ref[INFO];
    return [i.key, i.worker, i.className];
  },
  (data) => {
    const [key, worker, className] = data as unknown[];
    if (typeof key !== "string" || typeof worker !== "string" || typeof className !== "string") throw new TypeError("malformed actor handle");
    return actorProxy({ key, worker, className });
  },
);
