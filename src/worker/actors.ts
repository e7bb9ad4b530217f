/**
 * The actors living on a task thread (issue 14, point 6): made by actor tasks (the task's
 * class constructed with its arguments), called by key from the worker's main thread, dropped
 * when their key is released. Calls of one actor run one at a time, in the order they came,
 * an async method's promise included: each call starts when the one before it has settled.
 */
import { ActorRef } from "../protocol/actor-ref.js";
import { decodeWithRaws } from "../protocol/msgpack.js";
import { toWireError } from "../protocol/ops.js";
import { taskThreadSettings } from "../protocol/task-context.js";
import { type ThreadResult, encodeResult } from "./thread-values.js";

/** A call to an actor living on this thread (see actors.ts). */
export interface ActorCallMessage {
  type: "actor-call";
  id: number;
  key: string;
  kind: "call" | "get";
  name: string;
  args?: Uint8Array[];
}

interface Held {
  instance: object;
  className: string;
  /** the last call's end: the next call starts after it */
  queue: Promise<unknown>;
}

const actors = new Map<string, Held>();

/** Make the actor of task `key`: the handle it returns names this thread's worker. */
export function createActor(key: string, Class: new (...args: unknown[]) => object, args: unknown[]): ActorRef {
  const instance = new Class(...args);
  const className = Class.name || "(anonymous class)";
  actors.set(key, { instance, className, queue: Promise.resolve() });
  const settings = taskThreadSettings();
  return new ActorRef({ key, worker: settings?.workerAddress ?? "", className });
}

export function dropActors(keys: string[]): void {
  for (const key of keys) actors.delete(key);
}

/** Run one call (after the actor's earlier calls) and encode its value or error. */
export async function callActor(msg: ActorCallMessage): Promise<{ result: ThreadResult; moved: ArrayBuffer[] }> {
  const t0 = performance.now();
  const failed = (err: unknown) => ({ result: { id: msg.id, ok: false as const, error: toWireError(err), durationS: (performance.now() - t0) / 1000 }, moved: [] });
  const held = actors.get(msg.key);
  if (!held) return failed(new Error(`actor ${JSON.stringify(msg.key)} is not on this worker (its key was released, or the worker restarted)`));
  const call = held.queue.then(() => invoke(msg, held));
  held.queue = call.catch(() => {});
  try {
    const { parts, moved } = encodeResult(await call);
    return { result: { id: msg.id, ok: true, parts, durationS: (performance.now() - t0) / 1000 }, moved };
  } catch (err) {
    return failed(err);
  }
}

async function invoke(msg: ActorCallMessage, held: Held): Promise<unknown> {
  const { instance, className } = held;
  const what = `actor ${JSON.stringify(msg.key)} (class ${className})`;
  const has = Reflect.has(instance, msg.name);
  const member: unknown = (instance as Record<string, unknown>)[msg.name];
  if (msg.kind === "get") {
    if (!has) throw new TypeError(`${what} has no attribute ${JSON.stringify(msg.name)}`);
    if (typeof member === "function") throw new TypeError(`${JSON.stringify(msg.name)} of ${what} is a method: call it (proxy.${msg.name}(...))`);
    return member;
  }
  if (typeof member !== "function") {
    throw new TypeError(
      has
        ? `${JSON.stringify(msg.name)} of ${what} is not a method (it is ${member === null ? "null" : typeof member}): read it with await proxy.${msg.name}`
        : `${what} has no method ${JSON.stringify(msg.name)}`,
    );
  }
  const args = msg.args?.length ? decodeWithRaws(msg.args[0]!, msg.args.slice(1)) : [];
  if (!Array.isArray(args)) throw new TypeError(`the arguments of ${what}.${msg.name} must decode to a list`);
  return await (member as (...a: unknown[]) => unknown).apply(instance, args);
}
