/**
 * Length-prefixed frames: a 4-byte big-endian length, then that many bytes of payload.
 * A message's payload is `[u32 headLength][u32 rawCount][u32 rawLength]*` then the msgpack
 * head, then each raw part at an 8-byte aligned offset (so typed arrays can be views of it).
 * `FrameDecoder` is a byte state machine fed arbitrary chunks (as they come off a socket);
 * it emits whole payloads and fails fast on a frame larger than its cap, before buffering it.
 */
import { FrameTooLargeError, MAX_FRAME_LIMIT, ProtocolError } from "../errors.js";
import { type WireCodec, packMessage, unpackMessage } from "./msgpack.js";

export const HEADER_BYTES = 4;
/** Largest payload a 32-bit header can describe. */
export { MAX_FRAME_LIMIT };

export function encodeFrame(payload: Uint8Array): Buffer[] {
  if (payload.length > MAX_FRAME_LIMIT) {
    throw new ProtocolError(`frame of ${payload.length} bytes is larger than the 4 GiB header allows`);
  }
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32BE(payload.length, 0);
  return [header, payload as Buffer];
}

/** Frames of this size or more are assembled in a SharedArrayBuffer. */
export const SHARED_FRAME_BYTES = 1024 * 1024;

/** A frame at least this big is copied into its own buffer as its bytes arrive. */
const ASSEMBLE_BYTES = 64 * 1024;

export class FrameDecoder {
  #maxFrameBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the frame being read, or -1 while reading a header. */
  #expected = -1;
  /**
   * A big frame being assembled: each chunk is copied in as it arrives (while it is still in
   * cache, and without holding the frame twice), instead of all at once at its end.
   */
  #assembly: { frame: Buffer; filled: number } | undefined;

  /** Assemble big frames in shared memory (a worker's task threads then read them in place). */
  sharedFrames = false;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Change the cap (e.g. raise it once a peer has authenticated). */
  setMaxFrameBytes(n: number): void {
    this.#maxFrameBytes = n;
  }

  /** Bytes received that do not yet make a whole frame (header included). */
  get pendingBytes(): number {
    return this.#buffered + (this.#assembly?.filled ?? 0) + (this.#expected >= 0 ? HEADER_BYTES : 0);
  }

  /**
   * Feed bytes; returns the whole payloads they complete, in order. Throws ProtocolError.
   * `transient`: the chunk's memory is reused after this call (a socket's static read buffer),
   * so whatever is kept or returned is copied out of it.
   */
  push(chunk: Buffer, transient = false): Buffer[] {
    const out: Buffer[] = [];
    const a = this.#assembly;
    if (a) {
      const k = Math.min(chunk.length, a.frame.length - a.filled);
      a.frame.set(k === chunk.length ? chunk : chunk.subarray(0, k), a.filled);
      a.filled += k;
      if (a.filled < a.frame.length) return out;
      out.push(a.frame);
      this.#assembly = undefined;
      this.#expected = -1;
      if (k === chunk.length) return out;
      chunk = chunk.subarray(k);
    }
    this.#chunks.push(transient ? Buffer.from(chunk) : chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#expected < 0) {
        if (this.#buffered < HEADER_BYTES) break;
        const length = this.#take(HEADER_BYTES).readUInt32BE(0);
        if (length > this.#maxFrameBytes) {
          throw new FrameTooLargeError(length, this.#maxFrameBytes);
        }
        this.#expected = length;
      }
      if (this.#buffered < this.#expected) {
        if (this.#expected >= ASSEMBLE_BYTES) {
          const filled = this.#buffered;
          const frame = this.#take(filled, this.#newFrame(this.#expected));
          this.#assembly = { frame, filled };
        }
        break;
      }
      out.push(this.#take(this.#expected));
      this.#expected = -1;
    }
    return out;
  }

  /**
   * Where the next read may land straight, with no copy: the rest of the big frame being
   * assembled (a view of it), or undefined when no frame is being assembled. Bytes read into it
   * are reported with `filled(n)`, not pushed.
   */
  get rest(): Buffer | undefined {
    const a = this.#assembly;
    return a && a.frame.subarray(a.filled);
  }

  /** `n` bytes were read into `rest`: the frame they complete, if they do (as push returns it). */
  filled(n: number): Buffer[] {
    const a = this.#assembly;
    if (!a || n > a.frame.length - a.filled) throw new ProtocolError(`${n} bytes reported read into a frame with ${a ? a.frame.length - a.filled : 0} bytes left`);
    a.filled += n;
    if (a.filled < a.frame.length) return [];
    this.#assembly = undefined;
    this.#expected = -1;
    return [a.frame];
  }

  /** A big frame lands in shared memory when asked: task threads then read its values in place. */
  #newFrame(n: number): Buffer {
    return this.sharedFrames && n >= SHARED_FRAME_BYTES ? Buffer.from(new SharedArrayBuffer(n)) : Buffer.allocUnsafe(n);
  }

  /** The next n buffered bytes: a view when one chunk holds them, else copied into `into`. */
  #take(n: number, into?: Buffer): Buffer {
    if (n === 0 && !into) return Buffer.alloc(0);
    let result: Buffer;
    const first = this.#chunks[0];
    if (!into && first!.length >= n) {
      result = first!.subarray(0, n);
      if (first!.length === n) this.#chunks.shift();
      else this.#chunks[0] = first!.subarray(n);
    } else {
      result = into ?? this.#newFrame(n);
      let offset = 0;
      while (offset < n) {
        const c = this.#chunks[0]!;
        const k = Math.min(c.length, n - offset);
        result.set(k === c.length ? c : c.subarray(0, k), offset);
        offset += k;
        if (k === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(k);
      }
    }
    this.#buffered -= n;
    return result;
  }
}

/** Binary values of this size or more travel as raw parts, never copied into msgpack. */
export const RAW_PART_BYTES = 64 * 1024;

const pad8 = (n: number) => (8 - (n % 8)) % 8;
const ZEROS = Buffer.alloc(8);

/**
 * A message as the buffers to write: frame header, part table, head, raw parts (not copied).
 * `codec`: the connection's (msgpack.ts wireCodec), whose decoder must then read every frame
 * made with it, in order.
 */
export function encodeMessage(value: unknown, codec?: WireCodec): Uint8Array[] {
  const { head, raws } = packMessage(value, RAW_PART_BYTES, codec);
  const table = Buffer.allocUnsafe(8 + 4 * raws.length);
  const parts: Uint8Array[] = [table, head];
  let length = table.length + head.length;
  for (const r of raws) {
    const pad = pad8(length);
    if (pad) parts.push(ZEROS.subarray(0, pad));
    parts.push(r);
    length += pad + r.byteLength;
  }
  // checked before any length is written: a 32-bit field would throw a RangeError naming nothing
  if (length > MAX_FRAME_LIMIT) throw new FrameTooLargeError(length, MAX_FRAME_LIMIT, `message of ${length} bytes is larger than a frame can carry (4 GiB - 1 bytes)`);
  table.writeUInt32BE(head.length, 0);
  table.writeUInt32BE(raws.length, 4);
  raws.forEach((r, i) => table.writeUInt32BE(r.byteLength, 8 + 4 * i));
  const [header] = encodeFrame(Buffer.alloc(0));
  header!.writeUInt32BE(length, 0);
  return [header!, ...parts];
}

/** Decode one frame's payload; raw parts come back as views of it (no copy). */
export function decodeMessage(payload: Buffer, codec?: WireCodec): unknown {
  if (payload.length < 8) throw new ProtocolError(`frame of ${payload.length} bytes is too short for a message`);
  const headLength = payload.readUInt32BE(0);
  const count = payload.readUInt32BE(4);
  let offset = 8 + 4 * count;
  if (offset + headLength > payload.length) throw new ProtocolError("message head runs past the end of its frame");
  const head = payload.subarray(offset, offset + headLength);
  offset += headLength;
  const raws: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const n = payload.readUInt32BE(8 + 4 * i);
    offset += pad8(offset);
    if (offset + n > payload.length) throw new ProtocolError("raw part runs past the end of its frame");
    raws.push(payload.subarray(offset, offset + n));
    offset += n;
  }
  return unpackMessage(head, raws, codec);
}
