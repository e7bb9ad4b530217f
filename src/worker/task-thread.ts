/**
 * Body of one task thread (worker_threads). Receives batches of tasks, runs them one after
 * the other, and posts the results back: encoded here (user values are never decoded on the
 * worker's main thread), with large binaries transferred rather than copied.
 */
import { parentPort } from "node:worker_threads";
import { Sent, decodeWithRaws, encodeWithRaws } from "../protocol/msgpack.js";
import { RAW_PART_BYTES, SHARED_FRAME_BYTES } from "../protocol/frames.js";
import { toWireError, type WireError } from "../protocol/ops.js";
import { resolveTaskFunction } from "../protocol/functions.js";
import { collectGarbage } from "./gc.js";

export interface ThreadTask {
  id: number;
  fn: unknown;
  /** encoded arguments: head, then raw parts */
  args: Uint8Array[];
  /** encoded values of the dependencies, by key */
  deps: Record<string, Uint8Array[]>;
}

/** What the pool sends a thread: a batch to run, or a request to collect garbage. */
export type ThreadMessage = ThreadTask[] | { type: "gc" };

/** `start`: when the task started, ms since the epoch (for the task stream). */
export type ThreadResult =
  | { id: number; ok: true; parts: Uint8Array[]; durationS: number; start?: number }
  | { id: number; ok: false; error: WireError; durationS: number; start?: number };

/**
 * Post accumulated results at least this often while a batch runs. Zero: every result leaves
 * as soon as it is ready, so that if a task kills the process, the results before it are not
 * lost with it and the scheduler can tell which task was running (KilledWorker).
 */
const FLUSH_MS = 0;

const port = parentPort!;

port.on("message", async (batch: ThreadMessage) => {
  if (!Array.isArray(batch)) return collectGarbage();
  let results: ThreadResult[] = [];
  let transfer: ArrayBuffer[] = [];
  let lastFlush = performance.now();
  const flush = () => {
    if (!results.length) return;
    port.postMessage(results, transfer);
    results = [];
    transfer = [];
    lastFlush = performance.now();
  };
  for (const task of batch) {
    const t0 = performance.now();
    try {
      const value = await run(task);
      const { parts, moved } = encodeResult(value);
      results.push({ id: task.id, ok: true, parts, durationS: (performance.now() - t0) / 1000, start: performance.timeOrigin + t0 });
      transfer.push(...moved);
    } catch (err) {
      results.push({ id: task.id, ok: false, error: toWireError(err), durationS: (performance.now() - t0) / 1000, start: performance.timeOrigin + t0 });
    }
    if (performance.now() - lastFlush >= FLUSH_MS) flush();
  }
  flush();
});

async function run(task: ThreadTask): Promise<unknown> {
  const fn = await resolveTaskFunction(task.fn);
  const decoded = new Map<string, unknown>();
  const resolve = (key: string): unknown => {
    if (!decoded.has(key)) {
      const parts = task.deps[key];
      if (!parts) throw new Error(`dependency ${JSON.stringify(key)} did not reach the task thread`);
      decoded.set(key, decodeWithRaws(parts[0]!, parts.slice(1), resolve));
    }
    return decoded.get(key);
  };
  const args = decodeWithRaws(task.args[0]!, task.args.slice(1), resolve);
  if (!Array.isArray(args)) throw new TypeError("task arguments must decode to a list");
  return fn(...args);
}

/** Encode a result; raw parts that own their whole buffer are moved, others copied. */
function encodeResult(value: unknown): { parts: Uint8Array[]; moved: ArrayBuffer[] } {
  const { head: pooled, raws } = encodeWithRaws(value, RAW_PART_BYTES, Sent.result);
  // a small Buffer lives in Node's shared 8 KiB pool: give the head a buffer of its own to move
  const head = new Uint8Array(pooled);
  const moved = new Set<ArrayBuffer>([head.buffer]);
  const parts: Uint8Array[] = [head];
  for (const r of raws) {
    if (r.byteLength >= SHARED_FRAME_BYTES) {
      // big: one copy into shared memory, so later tasks on this worker use it without copies
      const shared = new Uint8Array(new SharedArrayBuffer(r.byteLength));
      shared.set(r);
      parts.push(shared);
      continue;
    }
    const whole = r.byteOffset === 0 && r.byteLength === r.buffer.byteLength && r.buffer instanceof ArrayBuffer;
    if (whole && !moved.has(r.buffer as ArrayBuffer)) {
      moved.add(r.buffer as ArrayBuffer);
      parts.push(r);
    } else {
      parts.push(new Uint8Array(r)); // a slice of something bigger (or shared): copy
    }
  }
  return { parts, moved: [...moved] };
}
