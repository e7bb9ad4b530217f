/**
 * scatter(): values put on workers directly (not through the scheduler), spread over the
 * workers holding the least, or on every chosen worker (broadcast); the scheduler is told
 * where each key is (add-keys, a request: scatter resolves once the scheduler has them, on disk
 * for a journaled scheduler).
 */
import { type Rpc, byFrame, checkFits } from "../comm/rpc.js";
import { ConfigError } from "../errors.js";
import { RAW_PART_BYTES } from "../protocol/frames.js";
import type { Message } from "../protocol/messages.js";
import { Sent, encodeWithRaws } from "../protocol/msgpack.js";
import { Staging } from "./staging.js";
import { Op } from "../protocol/ops.js";
import { type ScatterOptions, type WorkerSummary, randomToken, taskKey, typeName } from "./submit-options.js";

/** What scattering needs of the client. */
export interface ScatterHost {
  workers(): Promise<Record<string, WorkerSummary>>;
  worker(address: string): Promise<Rpc>;
  /** a new key of this client (before its data is sent) */
  addKey(key: string): void;
  /** a request to the scheduler (after what was submitted and released before it) */
  request(msg: Message, timeoutMs: number): Promise<unknown>;
  readonly timeoutMs: number;
}

/** Where the big binaries scattered by this process's clients are copied (given back once the workers have them). */
const staging = new Staging();

/** Put `list` on the workers; returns their keys, in order. `single`: one value, not a list. */
export async function scatterValues(list: unknown[], single: boolean, options: ScatterOptions, host: ScatterHost): Promise<string[]> {
  // encoded first: a value that cannot travel rejects before anything is sent
  const encoded = list.map((v, i) => {
    const e = encodeWithRaws(v, RAW_PART_BYTES, Sent.scattered(single ? undefined : i));
    // data on a worker has no dependencies: a future inside could never be resolved there
    if (e.keys.length) throw new TypeError(`scatter: ${single ? "the value" : `value ${i + 1}`} holds a future (${JSON.stringify(e.keys[0])}): pass futures to a task (submit), or scatter their results (await future.result())`);
    return { ...e, raws: e.raws.map((r) => staging.copy(r)) }; // as they are now: the caller may change its arrays while we wait
  });
  let targets = Object.entries(await host.workers()).filter(([addr, w]) => !options.workers || options.workers.includes(w.name) || options.workers.includes(addr));
  if (!targets.length) throw new ConfigError(`no worker to scatter to${options.workers ? ` among ${JSON.stringify(options.workers)}` : ""}`);
  targets = targets.sort((a, b) => a[1].inMemory - b[1].inMemory);
  const perWorker = new Map<string, Record<string, Buffer[]>>();
  const keys = list.map((v, i) => {
    const { head, raws } = encoded[i]!;
    const key = taskKey(typeName(v), randomToken());
    const parts = [head, ...raws.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength))];
    const to = options.broadcast ? targets : [targets[i % targets.length]!];
    for (const [addr] of to) {
      const data = perWorker.get(addr) ?? {};
      data[key] = parts;
      perWorker.set(addr, data);
    }
    host.addKey(key);
    return key;
  });
  await Promise.all(
    [...perWorker].map(async ([addr, data]) => {
      const rpc = await host.worker(addr);
      const { groups, tooBig } = byFrame(data, rpc.comm.share);
      for (const key of tooBig) {
        const i = keys.indexOf(key);
        checkFits(data[key]!, rpc.comm, list.length === 1 ? "value" : `value ${i + 1}`, `the worker ${addr}`, "split the data, or raise distributed.comm.max-frame-size on the workers (at most 4 GiB - 1)");
      }
      for (const group of groups) {
        const reply = await rpc.request<{ nbytes: Record<string, number> }>({ op: Op.putData, data: group.data }, host.timeoutMs, { bytes: group.bytes });
        // answered once the scheduler has it (a journaled one: on disk, so a scheduler taking over knows it)
        await host.request({ op: Op.addKeys, worker: addr, keys: Object.entries(reply.nbytes).map(([key, nbytes]) => ({ key, nbytes })) }, host.timeoutMs);
      }
    }),
  );
  // every put-data was answered: the workers have the bytes, none is still to be written
  staging.giveBack(encoded.flatMap((e) => e.raws));
  return keys;
}
