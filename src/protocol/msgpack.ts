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
 * Two encoders share these extensions. Protocol messages (`packMessage`, used by the frame
 * layer) are plain data: records off, maps decode as objects. User values (`encodeWithRaws`:
 * task arguments, results, scattered data) use msgpackr's structured clone, so that Map, Set,
 * Date, RegExp, Error, BigInt, undefined, shared references and cycles come back as they were
 * sent; records are on there because they are what tells a Map from a plain object. Records
 * are written inside each message (no shared structures): every message decodes on its own,
 * so a peer that connects late or restarts never depends on structures it did not see. Before
 * a user value is encoded, one walk (values.ts) refuses what cannot travel, naming its path.
 */
import { createRequire } from "node:module";
import type * as MsgpackrTypes from "msgpackr";
import { FRAME_SHARE_BYTES, FrameTooLargeError, MAX_FRAME_LIMIT, ProtocolError } from "../errors.js";
import { IllFormed, NegativeZero, OddKeyed, Sent, type ValueLabel, allowClass, checkValue, fromOddKeyed, markedString, withMarkers } from "./values.js";

export { Sent } from "./values.js";

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
const ERROR_EXT = 0x45;
const NEGATIVE_ZERO_EXT = 0x2d;
const ACTOR_EXT = 0x61;
const ODD_KEYED_EXT = 0x6f;
const ILL_FORMED_EXT = 0x75;
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
  allowClass(Class);
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

/**
 * Have instances of `Class` (actor handles, protocol/actor-ref.ts) travel as the plain data
 * `write` gives, and come back as what `read` makes of it (a proxy of the actor).
 */
export function registerActorRefClass<T>(Class: new (...args: never[]) => T, write: (v: T) => unknown, read: (data: unknown) => unknown): void {
  allowClass(Class);
  msgpackr.addExtension({ Class: Class as never, type: ACTOR_EXT, write, read } as never);
}

// ---- errors and -0 (user values) ---------------------------------------------------------------

// msgpackr's own Error extension keeps name, message and cause; ours also keeps the stack and
// the error's own fields (`code`, ...). A subclass arrives as the built-in of the same name.
const ERRORS: Record<string, ErrorConstructor> = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };
type ErrorData = [name: unknown, message: unknown, stack: unknown, fields: unknown, cause?: [unknown], errors?: unknown];

msgpackr.addExtension({
  Class: Error,
  type: ERROR_EXT,
  write(e: Error): ErrorData {
    const fields = Object.fromEntries(Object.keys(e).map((k) => [k, (e as unknown as Record<string, unknown>)[k]]));
    // a message cut inside a surrogate pair keeps its lone surrogate (UTF-8 would replace it)
    const mark = (x: unknown) => (typeof x === "string" ? markedString(x) : x);
    const data: ErrorData = [mark(e.name), mark(e.message), mark(e.stack), fields, "cause" in e ? [e.cause] : undefined];
    if (e instanceof AggregateError) data.push(e.errors);
    return data;
  },
  read(data: ErrorData): Error {
    if (!Array.isArray(data)) throw new ProtocolError("malformed error value");
    const [name, message, stack, fields, cause, errors] = data;
    const text = String(message ?? "");
    const e = name === "AggregateError" ? new AggregateError(Array.isArray(errors) ? errors : [], text)
      : new (Object.hasOwn(ERRORS, String(name)) ? ERRORS[String(name)]! : Error)(text);
    if (e.name !== name) e.name = String(name);
    // a message that is not a string stays what it was (a number, say), and so does a missing stack
    if (typeof message !== "string" && message !== undefined) Object.defineProperty(e, "message", { value: message, writable: true, configurable: true });
    if (typeof stack === "string") e.stack = stack;
    else if (stack === undefined) delete e.stack;
    if (Array.isArray(cause)) Object.defineProperty(e, "cause", { value: cause[0], writable: true, configurable: true });
    if (fields && typeof fields === "object") Object.assign(e, fields);
    return e;
  },
} as never);

// msgpack writes -0 as the integer 0: a -0 travels as a marker instead (see withMarkers)
msgpackr.addExtension({ Class: NegativeZero, type: NEGATIVE_ZERO_EXT, pack: () => Buffer.alloc(0), unpack: () => -0 });

// a string with a lone surrogate, which UTF-8 cannot hold: its UTF-16 code units
msgpackr.addExtension({
  Class: IllFormed,
  type: ILL_FORMED_EXT,
  pack: (v: IllFormed) => Buffer.from(v.text, "utf16le"),
  unpack(bytes: Uint8Array): string {
    if (bytes.byteLength % 2) throw new ProtocolError(`malformed value: a string's UTF-16 code units take an even number of bytes, got ${bytes.byteLength}`);
    return asBuffer(bytes).toString("utf16le");
  },
});

// a key msgpackr's decoder would rename ("__proto__") or UTF-8 cannot hold: its object travels as its entries
msgpackr.addExtension({
  Class: OddKeyed,
  type: ODD_KEYED_EXT,
  write: (v: OddKeyed) => v.entries,
  read(entries: unknown): unknown {
    const ok = Array.isArray(entries) && entries.length % 2 === 0 && entries.every((k, i) => i % 2 === 1 || typeof k === "string");
    if (!ok) throw new ProtocolError("malformed value: an object with a key msgpack would change (\"__proto__\", a lone surrogate) must arrive as a list of string keys and values");
    return fromOddKeyed(entries);
  },
} as never);

// ---- encoding ----------------------------------------------------------------------------------

/** Protocol messages outside a connection (tests, benches, one-off frames). */
const packr = new msgpackr.Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

/**
 * The protocol codec of one connection, one per direction: msgpackr records in sequential mode.
 * An object's keys are written once per connection, as an inline record definition the first
 * time its shape is seen; later objects of that shape are a record id and their values (about
 * half the bytes of a map, and 2-3x faster to pack and unpack). The decoder learns definitions in
 * the order the encoder wrote them, so each connection needs its own pair, and every message
 * encoded must be decoded, in order: FramedComm encodes only what it writes. (msgpackr's other
 * record mode, a shared `structures` array, never writes definitions into the stream: a decoder
 * without the encoder's array reads a record id as a small integer and stops, "Data read, but
 * end of buffer not reached".) A decoder also reads plain maps, so a peer without records is
 * understood. At most 64 structures per connection: older ids are reused, with a new definition.
 */
export interface WireCodec {
  packr: MsgpackrTypes.Packr;
  unpackr: MsgpackrTypes.Unpackr;
}

/**
 * New options each time: msgpackr stores its `structures` array in the options object it is
 * given. A map keyed by task names (messages.ts keyedMap: a null prototype) goes as a plain map.
 */
const wireOptions = () => ({ sequential: true, moreTypes: true, mapsAsObjects: true, useRecords: (o: object) => Object.getPrototypeOf(o) !== null });

export function wireCodec(): WireCodec {
  return { packr: new msgpackr.Packr(wireOptions()), unpackr: new msgpackr.Unpackr(wireOptions()) };
}
/** User values: structured clone (see the top of this file); separate instances for each way. */
const VALUE_OPTIONS = { structuredClone: true, useRecords: true, useToJSON: false } as const;
const valuePackr = new msgpackr.Packr(VALUE_OPTIONS);
const valueUnpackr = new msgpackr.Unpackr(VALUE_OPTIONS);

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

/**
 * The raws as they are now, in memory of their own. Raws are views of the caller's arrays, and
 * a client's sends are written at the next turn's flush or later: an array the caller changes
 * meanwhile (a buffer reused in a loop) would travel changed, under a key hashed from its old bytes.
 */
export function copyRaws(raws: Uint8Array[]): Uint8Array[] {
  return raws.length ? raws.map((r) => new Uint8Array(r)) : raws;
}

/**
 * Encode a user value with binaries of `threshold` bytes or more kept out of line, as raws.
 * Throws a TypeError naming the part of the value that cannot travel (values.ts), with
 * `label` saying what the value is and where it was going.
 * @example encodeWithRaws([x, y], RAW_PART_BYTES, Sent.arguments)
 */
export function encodeWithRaws(value: unknown, threshold: number, label: ValueLabel = Sent.unknown): Encoded {
  const marked = checkValue(value, label);
  // a primitive, or a short list of primitives (a task's number result, map()'s arguments
  // [x]), leaves nothing big in that map: no reset to pay (it costs a pack, ~0.1 us)
  if (flat(value)) return packWithRaws(valuePackr, marked ? withMarkers(value) : value, threshold);
  try {
    return fitsFrame(packWithRaws(valuePackr, marked ? withMarkers(value) : value, threshold), label);
  } finally {
    // msgpackr's structured clone keeps the map of every object it packed until its next pack:
    // a result the worker has since freed (400 MB, say) would stay reachable from here, and
    // its memory never come back. Packing nothing replaces that map by an empty one.
    valuePackr.pack(null);
  }
}

/**
 * A value that must travel (everything but a task's result, which may stay where it was made)
 * fits one frame's share, or is refused naming what it is: no connection could carry it.
 */
function fitsFrame(e: Encoded, label: ValueLabel): Encoded {
  if (label === Sent.result) return e;
  let bytes = e.head.byteLength;
  for (const r of e.raws) bytes += r.byteLength;
  if (bytes <= FRAME_SHARE_BYTES) return e;
  const what = label.items ? `the ${label.what}s` : label.what;
  throw new FrameTooLargeError(bytes, MAX_FRAME_LIMIT, `${what}: ${bytes} bytes encoded, more than one frame can carry (4 GiB - 1 bytes): it cannot be sent ${label.to}; send it as several smaller values`);
}

/** A primitive, or a list of at most 8 primitives: nothing in it can hold much memory. */
function flat(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return true;
  if (!Array.isArray(value) || value.length > 8) return false;
  for (let i = 0; i < value.length; i++) {
    const v: unknown = value[i];
    if (typeof v === "object" && v !== null) return false;
  }
  return true;
}

/**
 * Decode what encodeWithRaws made; key references resolve through `resolveKey`. msgpack's
 * never-used byte 0xc1 decodes to msgpackr's `C1` object, which our encoder never writes (the
 * walk refuses it): found in a value, the bytes are corrupt, and that is an error, not a value.
 */
export function decodeWithRaws(head: Uint8Array, raws: Uint8Array[], resolveKey?: (key: string) => unknown): unknown {
  const value = unpackWithRaws(valueUnpackr, head, raws, resolveKey);
  // the walk only when the byte is there at all (inside binaries and numbers it is data)
  if (head.includes(0xc1) && holdsC1(value, new Set())) throw new ProtocolError("a value's bytes hold msgpack's never-used byte 0xc1 where a value starts: they are corrupt");
  return value;
}

/** Whether msgpackr's C1 sits anywhere in a decoded value's containers (arrays, plain objects, Maps, Sets, errors). */
function holdsC1(v: unknown, seen: Set<object>): boolean {
  if (v === msgpackr.C1) return true;
  if (typeof v !== "object" || v === null || ArrayBuffer.isView(v) || seen.has(v)) return false;
  seen.add(v);
  if (v instanceof Map) {
    for (const [k, x] of v) if (holdsC1(k, seen) || holdsC1(x, seen)) return true;
    return false;
  }
  if (v instanceof Set) {
    for (const x of v) if (holdsC1(x, seen)) return true;
    return false;
  }
  const proto = Object.getPrototypeOf(v);
  if (!(Array.isArray(v) || proto === Object.prototype || proto === null || v instanceof Error)) return false;
  for (const k of Object.keys(v)) if (holdsC1((v as Record<string, unknown>)[k], seen)) return true;
  return v instanceof Error && holdsC1(v.cause, seen);
}

/**
 * Encode a protocol message (plain data; user values inside are already encoded bytes), with
 * the connection's codec when given (records), else as plain maps.
 */
export function packMessage(message: unknown, threshold: number, codec?: WireCodec): Encoded {
  return packWithRaws(codec?.packr ?? packr, message, threshold);
}

/** Decode what packMessage made (with the peer's codec's counterpart when it used one). */
export function unpackMessage(head: Uint8Array, raws: Uint8Array[], codec?: WireCodec): unknown {
  return unpackWithRaws(codec?.unpackr ?? packr, head, raws);
}

/** The raws and keys of a value without any (most task arguments and results): shared, never changed. */
const NONE: never[] = Object.freeze([]) as unknown as never[];
/** The sinks one packing at a time fills (a packing never starts another): no Set and arrays made per value. */
const sinkRaws: Uint8Array[] = [];
const sinkKeys = new Set<string>();

function packWithRaws(p: MsgpackrTypes.Packr, value: unknown, threshold: number): Encoded {
  if (rawSink !== undefined) throw new Error("packWithRaws: a packing started while another ran");
  rawSink = sinkRaws;
  rawThreshold = threshold;
  keySink = sinkKeys;
  try {
    const head = Buffer.from(p.pack(value));
    return { head, raws: sinkRaws.length ? sinkRaws.slice() : NONE, keys: sinkKeys.size ? [...sinkKeys] : NONE };
  } finally {
    rawSink = undefined;
    rawThreshold = Infinity;
    keySink = undefined;
    sinkRaws.length = 0;
    sinkKeys.clear();
  }
}

function unpackWithRaws(u: MsgpackrTypes.Unpackr, head: Uint8Array, raws: Uint8Array[], resolveKey?: (key: string) => unknown): unknown {
  const before = rawSource;
  const beforeKeys = keySource;
  rawSource = raws;
  keySource = resolveKey;
  try {
    return u.unpack(head);
  } finally {
    rawSource = before;
    keySource = beforeKeys;
  }
}
