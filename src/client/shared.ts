/**
 * What datasets and the coordination primitives share on the client side: the part of the
 * client they use (`SharedHost`, which the Client implements: no import of client.ts, so no
 * cycle), values that travel through the scheduler (futures inside are sent as keys and come
 * back as futures of the receiving client), requests that name the primitive in their errors,
 * and waits of any length made of bounded rounds.
 */
import { RemoteError } from "../comm/rpc.js";
import { CommClosedError, CoordinationError, TimeoutError } from "../errors.js";
import { RAW_PART_BYTES } from "../protocol/frames.js";
import type { Message } from "../protocol/messages.js";
import { copyRaws, decodeWithRaws, encodeWithRaws } from "../protocol/msgpack.js";
import { wellFormed } from "../protocol/values.js";
import { checkFits, type RequestOptions } from "../comm/rpc.js";
import type { SharedItem } from "../protocol/messages-coordination.js";
import type { Comm } from "../comm/types.js";
import type { Future } from "./future.js";
import { checkTimeout } from "./timeout.js";

export { checkTimeout };

/** The client as datasets and primitives see it (the Client implements it). */
export interface SharedHost {
  readonly id: string;
  readonly closed: boolean;
  /** the scheduler's frame cap and share of it: a value over the share is refused by name */
  readonly schedulerFrames: Pick<Comm, "share" | "peerMaxFrameBytes">;
  request<T = unknown>(msg: Message, timeoutMs?: number, options?: RequestOptions): Promise<T>;
  send(msg: Message): void;
  handle(op: string, handler: (msg: Message) => unknown): void;
  adopt(key: string): Future<never>;
  /** The keys of a value the scheduler handed this client, all adopted: it may let go of its hold on them. */
  adopted(keys: string[]): void;
}

/** A value as it travels through the scheduler: its encoded parts and the keys of the futures inside. */
export interface SharedValue {
  value: Uint8Array[];
  keys: string[];
}

/** Encode `x` (futures inside, at any depth, travel as their keys); `what` names it in a refusal. */
export function encodeShared(host: SharedHost, x: unknown, what: string): SharedValue {
  const { head, raws, keys } = encodeWithRaws(x, RAW_PART_BYTES, { what: "value", to: `to ${what}` });
  const value = [head, ...copyRaws(raws)];
  checkFits(value, host.schedulerFrames, `the value for ${what}`, "the scheduler", "share a future instead (scatter the data, then share its future), or raise the scheduler's max-frame-size");
  return { value, keys };
}

/**
 * Take what the scheduler handed this client in a reply (encodeShared made each item): each
 * future inside becomes a future of `host`, which then keeps its key alive, and the client says
 * it adopted the keys. The scheduler holds its hand of `keys` (each item's list) until then, and
 * applies no release of them from this client meanwhile; so every item's keys are adopted even
 * when a decode fails (they are let go of at once then). Throws the first decode error, after.
 */
export function takeShared(host: SharedHost, items: readonly SharedItem[]): unknown[] {
  return handOver(host, items, (it, adopt) => decodeWithRaws(it.value[0]!, it.value.slice(1), adopt));
}

/**
 * What a late reply handed this client (its request had timed out: nobody waits for its
 * values): the keys are adopted and let go of at once, so the scheduler does not keep them for
 * this client till it leaves.
 */
export function dropShared(host: SharedHost, items: readonly SharedItem[]): void {
  if (!host.closed) handOver(host, items, () => undefined);
}

function handOver(host: SharedHost, items: readonly SharedItem[], decode: (it: SharedItem, adopt: (key: string) => Future<never>) => unknown): unknown[] {
  const keys = new Set<string>();
  for (const it of items) for (const k of it.keys) keys.add(k);
  // the scheduler's own list of what it handed, held while the values are decoded
  const holds = [...keys].map((k) => host.adopt(k));
  const adopt = (key: string) => (keys.add(key), host.adopt(key));
  const values: unknown[] = [];
  let failure: { err: unknown } | undefined;
  for (const it of items) {
    try {
      values.push(decode(it, adopt));
    } catch (err) {
      failure ??= { err };
    }
  }
  if (keys.size) host.adopted([...keys]);
  for (const f of holds) f.release();
  if (failure) throw failure.err;
  return values;
}

/** `call`'s option for a request whose reply hands this client `items`: a late reply's are given back (dropShared). */
export function lateHand<R>(host: SharedHost, items: (reply: R) => readonly SharedItem[] | null | undefined): RequestOptions {
  return { late: (reply) => dropShared(host, items(reply as R) ?? []) };
}

/** How long one round of a wait lasts on the scheduler; a longer wait is made of rounds. */
export const WAIT_ROUND_MS = 30_000;
/** What a request may take beyond the wait it asks for. */
const REPLY_MARGIN_MS = 30_000;

/**
 * A request on behalf of `what` (`Lock "x"`): a closed client or an error on the scheduler is
 * an error naming it.
 */
export async function call<T>(host: SharedHost, what: string, msg: Message, timeoutMs = REPLY_MARGIN_MS, options?: RequestOptions): Promise<T> {
  if (host.closed) throw new CommClosedError(`${what}: its client ${host.id} is closed`);
  try {
    return await host.request<T>(msg, timeoutMs, options);
  } catch (err) {
    if (err instanceof RemoteError) throw new CoordinationError(err.remote.message.startsWith(what) ? err.remote.message : `${what}: ${err.remote.message}`, { cause: err });
    if (err instanceof CommClosedError) {
      throw new CommClosedError(`${what}: its client ${host.id} is closed (${err.message})`, { cause: err });
    }
    throw err;
  }
}

/**
 * A wait on the scheduler: `msg` is sent with a `timeout` field (ms) in rounds of at most
 * WAIT_ROUND_MS until `done(reply)`, or until `timeoutMs` has passed (undefined: no limit):
 * then the last reply that was not done is returned (the caller says false, or throws).
 */
export async function waitOn<R>(
  host: SharedHost, what: string, msg: Message, timeoutMs: number | undefined, done: (r: R) => boolean, options?: RequestOptions,
): Promise<{ reply: R; done: boolean }> {
  checkTimeout(what, timeoutMs);
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  for (;;) {
    const round = Math.max(0, Math.min(WAIT_ROUND_MS, deadline - Date.now()));
    const reply = await call<R>(host, what, { ...msg, timeout: round }, round + REPLY_MARGIN_MS, options);
    if (done(reply)) return { reply, done: true };
    if (Date.now() >= deadline) return { reply, done: false };
  }
}


/** The TimeoutError of a wait on `what`. */
export function timedOut(what: string, doing: string, timeoutMs: number | undefined): TimeoutError {
  return new TimeoutError(`${what}: ${doing} timed out after ${timeoutMs} ms`);
}

/** A name must be a non-empty string. */
export function checkName(kind: string, name: unknown): string {
  if (typeof name !== "string" || name === "") throw new TypeError(`${kind} name must be a non-empty string, got ${JSON.stringify(name)}`);
  if (!wellFormed(name)) throw new TypeError(`${kind} name ${JSON.stringify(name)} holds a lone surrogate (a string cut inside a surrogate pair), which UTF-8 cannot carry: it would arrive as another name`);
  return name;
}
