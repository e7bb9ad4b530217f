/**
 * Fetching finished keys' values straight from the workers that hold them (gather's inner
 * step): a small value came with the news, a key whose holder the scheduler named is asked of
 * it directly, the others after one who-has.
 */
import type { Rpc } from "../comm/rpc.js";
import { FrameTooLargeError, describeError, frameTooLarge } from "../errors.js";
import { logger } from "../log.js";
import { decodeWithRaws } from "../protocol/msgpack.js";
import { type ActorHost, decodingActors } from "../protocol/actor-ref.js";
import { Op } from "../protocol/ops.js";
import type { InlineValue, KeyState } from "./key-table.js";

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
    const v = decodeWithRaws(head, []);
    if (v === null || typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  }
  return parts.map((p) => Buffer.from(p)); // small (the inline limit): from Node's shared pool
}

/** What one round of fetching got: values, and keys that failed for good (their error). */
export interface Fetched {
  values: Map<string, unknown>;
  failed: Map<string, Error>;
}

/**
 * Fetch whatever of `wanted` can be fetched now; a key whose holder failed is left out (the
 * next round asks again), one that can never come is in `failed`.
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
    const { value, holder } = entry[1];
    if (value !== undefined) out.set(entry[0], Array.isArray(value) ? decode(value) : value);
    else if (holder) add(holder, entry);
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
    try {
      const rpc = await host.worker(worker);
      const reply = await rpc.request<{ data: Record<string, Buffer[]> }>({ op: Op.getData, keys }, host.timeoutMs);
      for (const [k, parts] of Object.entries(reply.data)) out.set(k, decode(parts));
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
