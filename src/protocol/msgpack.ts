/**
 * The one msgpack encoder of the project, configured once and imported everywhere.
 *
 * Binary values (Buffers, typed arrays, ArrayBuffers, DataViews) go through one extension of
 * ours, so that large ones can leave the msgpack bytes entirely: `encodeWithRaws` puts every
 * binary value of at least `rawThreshold` bytes in a side list of "raws" (views, not copies)
 * and writes a reference; `decodeWithRaws` turns references back into views of the raws it is
 * given (zero-copy when aligned). The comm layer sends raws as separate parts of a frame, and
 * task threads transfer them to the worker's main thread, so big arrays are never copied into
 * or out of msgpack. Small binaries are written inline.
 *
 * Keys of futures inside task arguments are written by a second extension (see
 * `registerKeyRefClass`), collecting the dependency keys while packing.
 *
 * Records (msgpackr's structure extension) are off: every message decodes on its own, so a
 * peer that connects late or restarts never depends on structures it did not see.
 */
import { createRequire } from "node:module";
import type * as MsgpackrTypes from "msgpackr";
import { ProtocolError } from "../errors.js";

// msgpackr's optional native string extractor costs ~25 ms of start-up per process (and
// thread) for a gain only on very large string-heavy messages; our big values are binary.
// Its single-file CommonJS build also loads faster than the ESM tree.
process.env.MSGPACKR_NATIVE_ACCELERATION_DISABLED ??= "true";
const msgpackr = createRequire(import.meta.url)("msgpackr") as typeof MsgpackrTypes;

// ---- binary values ---------------------------------------------------------------------------

type BinaryCtor = { new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): ArrayBufferView; BYTES_PER_ELEMENT?: number };

/** Kinds by code; the code is the first byte of the extension payload. */
const KINDS: Array<{ ctor: BinaryCtor | typeof ArrayBuffer; size: number }> = [
  { ctor: Buffer as unknown as BinaryCtor, size: 1 },
  { ctor: Uint8Array, size: 1 },
  { ctor: Int8Array, size: 1 },
  { ctor: Uint8ClampedArray, size: 1 },
  { ctor: Int16Array, size: 2 },
  { ctor: Uint16Array, size: 2 },
  { ctor: Int32Array, size: 4 },
  { ctor: Uint32Array, size: 4 },
  { ctor: Float32Array, size: 4 },
  { ctor: Float64Array, size: 8 },
  { ctor: BigInt64Array, size: 8 },
  { ctor: BigUint64Array, size: 8 },
  { ctor: DataView as unknown as BinaryCtor, size: 1 },
  { ctor: ArrayBuffer, size: 1 },
];
const BINARY_EXT = 0x62;
const KEYREF_EXT = 0x6b;
const INLINE = 0;
const REF = 1;

/** Where large binaries go while packing, and where references resolve while unpacking. */
let rawSink: Uint8Array[] | undefined;
let rawThreshold = Infinity;
let rawSource: Uint8Array[] | undefined;

/** The bytes as a Buffer view (decoding on a task thread gives plain Uint8Arrays). */
const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function bytesOf(v: ArrayBufferView | ArrayBuffer): Uint8Array {
  return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function makeBinary(code: number, bytes: Uint8Array, shared: boolean): unknown {
  const { ctor, size } = KINDS[code] ?? {};
  if (!ctor) throw new ProtocolError(`unknown binary kind ${code}`);
  // a view is possible when the bytes may be kept (shared) and are aligned for the element size
  const aligned = shared && bytes.byteOffset % size === 0;
  const b = aligned ? bytes : new Uint8Array(bytes); // copies
  if (ctor === ArrayBuffer) {
    // a copy cut to size unless the bytes are a whole ArrayBuffer (b may be a Buffer, whose
    // slice() is a view: its .buffer would be the whole frame)
    const whole = b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;
    return whole ? b.buffer : new Uint8Array(b).buffer;
  }
  if (ctor === (Buffer as unknown)) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return new (ctor as BinaryCtor)(b.buffer, b.byteOffset, b.byteLength / size);
}

// Registered most general first: msgpackr tries the last registered class first, so Buffer
// (a Uint8Array subclass) must come last to keep its identity.
for (let code = KINDS.length - 1; code >= 0; code--) {
  msgpackr.addExtension({
    Class: KINDS[code]!.ctor as never,
    type: BINARY_EXT,
    pack(v: ArrayBufferView | ArrayBuffer): Buffer {
      const bytes = bytesOf(v);
      if (rawSink && bytes.byteLength >= rawThreshold) {
        const out = Buffer.allocUnsafe(6);
        out[0] = code;
        out[1] = REF;
        out.writeUInt32LE(rawSink.push(bytes) - 1, 2);
        return out;
      }
      const out = Buffer.allocUnsafe(2 + bytes.byteLength);
      out[0] = code;
      out[1] = INLINE;
      out.set(bytes, 2);
      return out;
    },
    unpack(bytes: Uint8Array): unknown {
      const data = asBuffer(bytes);
      if (data.length < 2) throw new ProtocolError("truncated binary value");
      if (data[1] === REF) {
        const raw = rawSource?.[data.readUInt32LE(2)];
        if (!raw) throw new ProtocolError(`binary reference ${data.readUInt32LE(2)} has no raw part`);
        return makeBinary(data[0]!, raw, true);
      }
      // inline bytes are a view into the decoded frame: keep Buffers as views, copy the rest
      return makeBinary(data[0]!, data.subarray(2), data[0] === 0);
    },
  });
}

// ---- references to keys (futures inside task arguments) -------------------------------------

let keySink: Set<string> | undefined;
let keySource: ((key: string) => unknown) | undefined;

function unpackKeyRef(data: Uint8Array): unknown {
  const key = asBuffer(data).toString("utf8");
  if (!keySource) throw new ProtocolError(`a reference to ${JSON.stringify(key)} arrived where none can be resolved`);
  return keySource(key);
}

/**
 * Have instances of `Class` (the client's Future) packed as references to their key: packing
 * collects the keys (see `encodeWithRaws`), unpacking replaces them by their values.
 */
export function registerKeyRefClass<T>(Class: new (...args: never[]) => T, keyOf: (v: T) => string): void {
  msgpackr.addExtension({
    Class: Class as never,
    type: KEYREF_EXT,
    pack(v: T): Buffer {
      const key = keyOf(v);
      keySink?.add(key);
      return Buffer.from(key, "utf8");
    },
    unpack: unpackKeyRef,
  });
}

/** A key reference made without the client (a process that only decodes still knows the type). */
export class KeyReference {
  constructor(readonly key: string) {}
}
registerKeyRefClass(KeyReference, (r) => r.key);

// ---- encoding ----------------------------------------------------------------------------------

const packr = new msgpackr.Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

/** Encode to a Buffer that the caller owns (every binary inline). */
export function encode(value: unknown): Buffer {
  // msgpackr returns a view of a buffer it reuses: copy out
  return Buffer.from(packr.pack(value));
}

/** Decode one msgpack value; throws on malformed input. */
export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/** Packed bytes plus the large binaries (views of the caller's memory) and the keys referenced. */
export interface Encoded {
  head: Buffer;
  raws: Uint8Array[];
  keys: string[];
}

/** Encode with binaries of `threshold` bytes or more kept out of line, as raws. */
export function encodeWithRaws(value: unknown, threshold: number): Encoded {
  const raws: Uint8Array[] = [];
  const keys = new Set<string>();
  rawSink = raws;
  rawThreshold = threshold;
  keySink = keys;
  try {
    return { head: Buffer.from(packr.pack(value)), raws, keys: [...keys] };
  } finally {
    rawSink = undefined;
    rawThreshold = Infinity;
    keySink = undefined;
  }
}

/** Decode what encodeWithRaws made; key references resolve through `resolveKey`. */
export function decodeWithRaws(head: Uint8Array, raws: Uint8Array[], resolveKey?: (key: string) => unknown): unknown {
  const before = rawSource;
  const beforeKeys = keySource;
  rawSource = raws;
  keySource = resolveKey;
  try {
    return packr.unpack(head);
  } finally {
    rawSource = before;
    keySource = beforeKeys;
  }
}
