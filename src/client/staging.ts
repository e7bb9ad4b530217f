/**
 * Reused memory for the copies clients make of the big binaries they scatter (no I/O; one per
 * process, client/scatter.ts). The copy keeps a value as it was at the call: the caller may
 * change its arrays while the bytes wait to be written. It lives until the worker has them (its
 * put-data reply), then serves the next big value: memory written before takes a copy several
 * times faster than fresh memory, which costs a page fault per 4 KiB (256 MiB copied in ~200 ms
 * into new memory on the dev VM, ~30-60 ms into memory written before).
 *
 * Bounded: buffers of STAGE_MIN_BYTES and up only, at most `maxBytes` kept, all let go after
 * STAGING_IDLE_MS without a scatter. A copy whose bytes may still be in flight (its request
 * failed or timed out) is never given back: it is left to the garbage collector.
 */
import { totalmem } from "node:os";

/** Below this a copy is made as before (a page or a few: nothing to gain). */
export const STAGE_MIN_BYTES = 1 << 20;
/** Kept buffers are let go this long after the last one was given back. */
export const STAGING_IDLE_MS = 30_000;
/** Sizes are rounded up to a multiple of this, so a buffer serves values of about its size. */
const GRAIN = 1 << 20;

export class Staging {
  readonly maxBytes: number;
  /** free buffers */
  #free: ArrayBuffer[] = [];
  /** the buffers this made (only those are given back) */
  #ours = new WeakSet<ArrayBuffer>();
  #kept = 0;
  #idle: NodeJS.Timeout | undefined;

  constructor(maxBytes = Math.min(1 << 30, Math.floor(totalmem() / 16))) {
    this.maxBytes = maxBytes;
  }

  /** A copy of `src` as it is now: in a free kept buffer when one fits, else in new memory. */
  copy(src: Uint8Array): Uint8Array {
    if (src.byteLength < STAGE_MIN_BYTES) return new Uint8Array(src);
    const need = Math.ceil(src.byteLength / GRAIN) * GRAIN;
    // the smallest free buffer that fits and is not more than twice the need
    let at = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const b = this.#free[i]!.byteLength;
      if (b >= need && b <= 2 * need && (at < 0 || b < this.#free[at]!.byteLength)) at = i;
    }
    let buffer: ArrayBuffer;
    if (at >= 0) {
      buffer = this.#free[at]!;
      this.#free.splice(at, 1);
      this.#kept -= buffer.byteLength;
    } else {
      buffer = new ArrayBuffer(need);
      this.#ours.add(buffer);
    }
    const out = new Uint8Array(buffer, 0, src.byteLength);
    out.set(src);
    return out;
  }

  /** These copies' bytes have left the process (the peer has them): their memory may serve again. */
  giveBack(copies: Iterable<Uint8Array>): void {
    for (const c of copies) {
      const b = c.buffer as ArrayBuffer;
      if (!this.#ours.has(b) || this.#free.includes(b)) continue; // not a staged copy, or one sent to several workers
      if (this.#kept + b.byteLength > this.maxBytes) continue; // over the bound: left to the garbage collector
      this.#free.push(b);
      this.#kept += b.byteLength;
    }
    clearTimeout(this.#idle);
    if (this.#free.length) {
      this.#idle = setTimeout(() => this.clear(), STAGING_IDLE_MS);
      this.#idle.unref();
    }
  }

  /** Let go of every kept buffer. */
  clear(): void {
    clearTimeout(this.#idle);
    this.#idle = undefined;
    this.#free = [];
    this.#kept = 0;
  }

  /** Bytes kept for reuse now. */
  get kept(): number {
    return this.#kept;
  }
}
