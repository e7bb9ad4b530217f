/**
 * Length-prefixed frames: a 4-byte big-endian length, then that many bytes of payload.
 * `FrameDecoder` is a byte state machine fed arbitrary chunks (as they come off a socket);
 * it emits whole payloads and fails fast on a frame larger than its cap, before buffering it.
 */
import { ProtocolError } from "../errors.js";

export const HEADER_BYTES = 4;
/** Largest payload a 32-bit header can describe. */
export const MAX_FRAME_LIMIT = 0xffff_ffff;

export function encodeFrame(payload: Uint8Array): Buffer[] {
  if (payload.length > MAX_FRAME_LIMIT) {
    throw new ProtocolError(`frame of ${payload.length} bytes is larger than the 4 GiB header allows`);
  }
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32BE(payload.length, 0);
  return [header, payload as Buffer];
}

export class FrameDecoder {
  #maxFrameBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the frame being read, or -1 while reading a header. */
  #expected = -1;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Change the cap (e.g. raise it once a peer has authenticated). */
  setMaxFrameBytes(n: number): void {
    this.#maxFrameBytes = n;
  }

  /** Bytes received that do not yet make a whole frame (header included). */
  get pendingBytes(): number {
    return this.#buffered + (this.#expected >= 0 ? HEADER_BYTES : 0);
  }

  /** Feed bytes; returns the whole payloads they complete, in order. Throws ProtocolError. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#expected < 0) {
        if (this.#buffered < HEADER_BYTES) break;
        const length = this.#take(HEADER_BYTES).readUInt32BE(0);
        if (length > this.#maxFrameBytes) {
          throw new ProtocolError(`frame of ${length} bytes exceeds the limit of ${this.#maxFrameBytes} bytes`);
        }
        this.#expected = length;
      }
      if (this.#buffered < this.#expected) break;
      out.push(this.#take(this.#expected));
      this.#expected = -1;
    }
    return out;
  }

  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    let result: Buffer;
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      result = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      result = Buffer.allocUnsafe(n);
      let offset = 0;
      while (offset < n) {
        const c = this.#chunks[0]!;
        const k = Math.min(c.length, n - offset);
        c.copy(result, offset, 0, k);
        offset += k;
        if (k === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(k);
      }
    }
    this.#buffered -= n;
    return result;
  }
}
