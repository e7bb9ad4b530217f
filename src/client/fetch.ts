/**
 * Fetching finished keys' values straight from the workers that hold them (gather's inner
 * step): a small value came with the news, a key whose holder the scheduler named is asked of
 * it directly, the others after one who-has.
 */
import type { Rpc } from "../comm/rpc.js";
import { FrameTooLargeError, TimeoutError, describeError, frameTooLarge } from "../errors.js";
import { logger } from "../log.js";
import { decodeWithRaws } from "../protocol/msgpack.js";
import { type ActorHost, decodingActors } from "../protocol/actor-ref.js";
import { type GetDataReply, checkGetDataReply } from "../protocol/messages-peer.js";
import { Op } from "../protocol/ops.js";
import { type InlineValue, type KeyState, failure } from "./key-table.js";
import { SKIPPED } from "./gather-structure.js";

/** What fetching needs of the client. */
export interface FetchHost {
  whoHas(keys: string[]): Promise<Record<string, string[]>>;
  worker(address: string): Promise<Rpc>;
  readonly timeoutMs: number;
  /** how the actor proxies among the values call their actors */
  readonly actors: ActorHost;
}

/** First bytes of the msgpack forms that decode to a number, string, boolean or null (no map, array, binary or extension). */
function primitiveHead(b: number): boolean {
  return b <= 0x7f || b >= 0xe0 || (b >= 0xa0 && b <= 0xbf) || b === 0xc0 || b === 0xc2 || b === 0xc3 || (b >= 0xca && b <= 0xd3) || (b >= 0xd9 && b <= 0xdb);
}

/**
 * A small result that came with its news, as the client keeps it until it is gathered: a
 * number, string, boolean or null decoded at once (immutable, so every gather may share it;
 * a million of them kept as bytes cost ~120 B of heap each, and their views kept whole received
 * frames alive: 93 MiB of buffers for a million numbers, measured), anything else as its bytes,
 * copied out of the frame they came in (decoded at each gather: a mutable value is never shared).
 */
export function keepInline(parts: Uint8Array[]): InlineValue {
  const head = parts[0];
  if (parts.length === 1 && head !== undefined && head.byteLength > 0 && primitiveHead(head[0]!)) {
    try {
      const v = decodeWithRaws(head, []);
      if (v === null || typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
    } catch {
      // bytes that do not decode are kept: gather fails on them for this key alone, as for any value
    }
  }
  return parts.map((p) => Buffer.from(p)); // small (the inline limit): from Node's shared pool
}

/** What gather needs of the client, beyond fetching. */
export interface GatherHost extends FetchHost {
  /** throws when the client is closed */
  checkOpen(): void;
  waitKeys(states: KeyState[], timeoutMs: number): Promise<void>;
  /** the scheduler was lost for good: every future not finished fails with this */
  lost(): Error | undefined;
  /** keep the event loop alive (hold) while gather waits between rounds, and let it go (release) */
  hold(): void;
  release(): void;
}

const DONE = 1;
const LEFT_OUT = 2;

/**
 * gather's rounds: the values of `futures`, in order, from the workers that hold them (a small
 * value kept with its news used as it is); each round waits until the keys left have settled.
 * `skip`: a failed future's value is SKIPPED instead of its error thrown. Keys are numbered once and
 * then handled by position: a gather of a million futures makes no map entry or pair per key
 * beyond that number, and no map of its values.
 */
export async function gatherValues(futures: ReadonlyArray<{ readonly key: string; readonly state: KeyState }>, skip: boolean, timeoutMs: number, host: GatherHost): Promise<unknown[]> {
  const deadline = Date.now() + timeoutMs;
  // each key once with its incarnation; a future of an older, cancelled one (the key was submitted again) fails
  const numbers = new Map<string, number>();
  const keys: string[] = [];
  const states: KeyState[] = [];
  const numberOf = new Uint32Array(futures.length);
  for (let i = 0; i < futures.length; i++) {
    const f = futures[i]!;
    let u = numbers.get(f.key);
    if (u === undefined) {
      numbers.set(f.key, (u = keys.length));
      keys.push(f.key);
      states.push(f.state);
    } else if (states[u]!.status !== "cancelled") states[u] = f.state;
    numberOf[i] = u;
  }
  const values: unknown[] = new Array(keys.length);
  const state = new Uint8Array(keys.length); // 0: not yet, DONE, LEFT_OUT
  let left = keys.length;
  const settle = (u: number, how: number) => {
    state[u] = how;
    left--;
  };
  // a failure is thrown, or (skip) its key is left out
  const failed = (u: number): boolean => {
    const err = failure(keys[u]!, states[u]!, host.lost());
    if (err && (!skip || host.lost())) throw err;
    if (err) settle(u, LEFT_OUT);
    return err !== undefined;
  };
  const decode = (parts: Uint8Array[]) => decodingActors(host.actors, () => decodeWithRaws(parts[0]!, parts.slice(1)));
  while (left > 0) {
    host.checkOpen();
    const todo: number[] = [];
    for (let u = 0; u < keys.length; u++) if (state[u] === 0) todo.push(u);
    await host.waitKeys(todo.map((u) => states[u]!), Math.max(1, deadline - Date.now()));
    const fetch: Array<[string, KeyState]> = [];
    for (const u of todo) {
      if (failed(u) || states[u]!.status !== "finished") continue;
      const kept = states[u]!.value;
      if (kept === undefined) fetch.push([keys[u]!, states[u]!]);
      else {
        values[u] = Array.isArray(kept) ? decode(kept) : kept;
        settle(u, DONE);
      }
    }
    if (fetch.length) {
      const fetched = await fetchValues(fetch, host);
      // cancelled while its value was on its way: the value is void
      for (const [k, v] of fetched.values) {
        const u = numbers.get(k)!;
        if (state[u] === 0 && !failed(u)) {
          values[u] = v;
          settle(u, DONE);
        }
      }
      for (const [k, err] of fetched.failed) {
        if (!skip) throw err;
        const u = numbers.get(k)!;
        if (state[u] === 0) settle(u, LEFT_OUT);
      }
    }
    if (left > 0) {
      if (Date.now() >= deadline) throw new TimeoutError(`gather did not finish within ${timeoutMs} ms`);
      // a holder died between the news and the fetch: the scheduler is recomputing it
      host.hold();
      await new Promise((r) => setTimeout(r, 20));
      host.release();
    }
  }
  const out: unknown[] = new Array(futures.length);
  for (let i = 0; i < futures.length; i++) out[i] = state[numberOf[i]!] === DONE ? values[numberOf[i]!] : SKIPPED;
  return out;
}

/** What one round of fetching got: values, and keys that failed for good (their error). */
export interface Fetched {
  values: Map<string, unknown>;
  failed: Map<string, Error>;
}

/**
 * Fetch whatever of `wanted` (finished keys without a kept value) can be fetched now; a key
 * whose holder failed is left out (the next round asks again), one that can never come is in
 * `failed`.
 */
export async function fetchValues(wanted: Array<[string, KeyState]>, host: FetchHost): Promise<Fetched> {
  const out = new Map<string, unknown>();
  const failed = new Map<string, Error>();
  const decode = (parts: Uint8Array[]) => decodingActors(host.actors, () => decodeWithRaws(parts[0]!, parts.slice(1)));
  const byWorker = new Map<string, Array<[string, KeyState]>>();
  const ask: Array<[string, KeyState]> = [];
  const add = (holder: string, entry: [string, KeyState]) => {
    let list = byWorker.get(holder);
    if (!list) byWorker.set(holder, (list = []));
    list.push(entry);
  };
  for (const entry of wanted) {
    const holder = entry[1].holder;
    if (holder) add(holder, entry);
    else ask.push(entry);
  }
  if (ask.length) {
    const whoHas = await host.whoHas(ask.map(([k]) => k));
    for (const entry of ask) {
      const holders = whoHas[entry[0]];
      const holder = holders?.[Math.floor(Math.random() * holders.length)];
      if (holder) add(holder, entry); // else lost meanwhile: the scheduler is recomputing it
    }
  }
  const ask1 = async (worker: string, keys: string[]): Promise<void> => {
    let raw: unknown;
    try {
      const rpc = await host.worker(worker);
      raw = await rpc.request({ op: Op.getData, keys }, host.timeoutMs);
    } catch (err) {
      const big = frameTooLarge(err);
      if (!big) return void logger("client").debug({ worker, err: describeError(err) }, "gather from worker failed; will retry");
      // too big together: each alone; too big alone: it can never come, and asking again
      // would bring the same frame (every 20 ms, until the gather's timeout)
      if (keys.length > 1) for (const k of keys) await ask1(worker, [k]);
      else {
        const message = big.overCap
          ? `the value of ${JSON.stringify(keys[0])} on ${worker} is ${big.bytes} bytes, more than one frame can carry (4 GiB - 1 bytes): it cannot be gathered; make it several smaller values, or reduce it on the workers`
          : `the value of ${JSON.stringify(keys[0])} on ${worker} is ${big.bytes} bytes as one frame, over this client's largest frame (${big.limit} bytes): connect with a larger maxFrameSize (at most 4 GiB - 1) to receive it`;
        failed.set(keys[0]!, new FrameTooLargeError(big.bytes, big.limit, message));
      }
      return;
    }
    // a malformed reply fails its keys at once (a worker that broke the protocol; asking again
    // would ask the same worker until the gather's timeout, forever by default)
    let reply: GetDataReply;
    try {
      reply = checkGetDataReply(raw);
    } catch (err) {
      for (const k of keys) failed.set(k, err as Error);
      return;
    }
    // bytes that do not decode fail their key alone, at once: asking again brings the same bytes
    for (let i = 0; i < reply.keys.length; i++) {
      const k = reply.keys[i]!;
      try {
        out.set(k, decode(reply.values[i]!));
      } catch (err) {
        failed.set(k, err instanceof Error ? err : new Error(String(err)));
      }
    }
  };
  await Promise.all(
    [...byWorker].map(async ([worker, entries]) => {
      await ask1(worker, entries.map(([k]) => k));
      // a holder that did not give the key is not asked again: the next round asks who-has
      for (const [k, ks] of entries) if (!out.has(k) && !failed.has(k) && ks.holder === worker) ks.holder = undefined;
    }),
  );
  return { values: out, failed };
}
