/** How a task thread encodes what it sends back (task results, actor replies). */
import { Sent, encodeWithRaws } from "../protocol/msgpack.js";
import { RAW_PART_BYTES, SHARED_FRAME_BYTES } from "../protocol/frames.js";
import type { WireError } from "../protocol/ops.js";

/** A task's (or an actor call's) outcome, as a thread posts it. */
/** `start`: when the task started, ms since the epoch (for the task stream). */
export type ThreadResult =
  | { id: number; ok: true; parts: Uint8Array[]; durationS: number; start?: number }
  | { id: number; ok: false; error: WireError; durationS: number; start?: number };

/** Encode a result: the head and the copies made here are moved; a task's own arrays are cloned (it may keep them). */
export function encodeResult(value: unknown): { parts: Uint8Array[]; moved: ArrayBuffer[] } {
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
    // the task (an actor, a module's cache) may keep its array: it is cloned by postMessage,
    // never moved away from it; a slice of something bigger (or shared) is copied here, and
    // that copy, ours alone, is moved
    const whole = r.byteOffset === 0 && r.byteLength === r.buffer.byteLength && r.buffer instanceof ArrayBuffer;
    if (whole) parts.push(r);
    else {
      const own = new Uint8Array(r);
      moved.add(own.buffer);
      parts.push(own);
    }
  }
  return { parts, moved: [...moved] };
}
