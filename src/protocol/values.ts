/**
 * Which user values may travel (task arguments, results, scattered data), checked in one walk
 * before msgpack encodes them (see `encodeWithRaws` in msgpack.ts).
 *
 * The rule: data travels, behaviour does not. Sendable are primitives (including `undefined`,
 * `-0`, NaN and BigInt), plain objects (their own enumerable string keys), arrays, and these
 * built-in types: Map, Set, Date, RegExp, Error (any subclass: it arrives as the built-in error
 * of the same name, with message, stack, cause and own fields), typed arrays, Buffers,
 * ArrayBuffers and DataViews; and futures, which arrive as their values. Shared references and
 * cycles are kept (structured clone). Everything else is refused with a TypeError naming where
 * it sits (`argument 1 .conn: a net.Socket cannot be sent to a worker`): functions, symbols,
 * Promises, WeakMaps, WeakSets, WeakRefs, SharedArrayBuffers, sparse arrays (a hole would
 * arrive as an `undefined` element), arrays, Maps, Sets, Dates and RegExps with named fields of
 * their own (a RegExp match's `index`: msgpack would drop them), and instances of any other class
 * (sockets, streams, EventEmitters, user classes): a prototype cannot be rebuilt on the other
 * side, so such an object would arrive as a bare `{}` of its fields. Send the fields and
 * rebuild the object in the task instead.
 *
 * Why a walk of our own rather than hooks in msgpackr: msgpackr writes plain objects, arrays
 * and numbers without calling out, so neither a class instance nor `-0` (which msgpack's
 * integer encoding turns into 0) can be caught while packing. The walk costs no allocation
 * on success (the path of a refusal is built while unwinding) and answers whether the value
 * holds what msgpack would change, which then travels as a marker (`withMarkers`): a `-0`; an
 * object with an own key `"__proto__"` (JSON.parse makes them), which msgpackr's decoder
 * renames to `"__proto_"`; a string with a lone surrogate (a string cut inside a surrogate
 * pair), which UTF-8 cannot hold (it would arrive with U+FFFD in its place), as a value or as
 * an object's key.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** How a refused value is named: `argument 2 .conn: ... cannot be sent to a worker`. */
export interface ValueLabel {
  /** the value's name: "result", "value 3"; with `items`, the name of each item of a list */
  what: string;
  /** the value is a list whose items are named `what 1`, `what 2`, ... (task arguments) */
  items?: boolean;
  /** where it was going: "to a worker" */
  to: string;
}

export const Sent = {
  arguments: { what: "argument", items: true, to: "to a worker" },
  schedulerArguments: { what: "argument", items: true, to: "to the scheduler" },
  result: { what: "result", to: "from a worker" },
  schedulerResult: { what: "result", to: "from the scheduler" },
  scattered: (i?: number): ValueLabel => ({ what: i === undefined ? "value" : `value ${i + 1}`, to: "to a worker" }),
  unknown: { what: "value", to: "over the wire" },
} as const;

/** Classes whose instances an extension encodes (futures and key references). */
const allowed: Array<abstract new (...args: never[]) => unknown> = [];

/** Let instances of `Class` through the walk: an extension of msgpack.ts encodes them. */
export function allowClass(Class: abstract new (...args: never[]) => unknown): void {
  allowed.push(Class);
}

/** A refusal on its way up: the path segments, innermost last once unwound. */
interface Refusal {
  what: string;
  why: string;
  path: string[];
}

const SPARSE_HINT = "its holes would arrive as undefined elements; fill them first (Array.from(a) makes them undefined) or send a Map of index to value";

const FIELDS_HINT =
  "only its elements or entries travel, and its named fields would be dropped; send them beside it ({ items: [...a], index: a.index }) or copy the elements first ([...a])";

/** The names of an array's own enumerable fields that are not indices ("index, input, groups"). */
function namedFields(o: object): string {
  const names = Object.keys(o).filter((k) => !/^(0|[1-9]\d*)$/.test(k));
  return names.slice(0, 3).join(", ") + (names.length > 3 ? `, ... (${names.length})` : "");
}

const CLASS_HINT =
  "its class cannot be rebuilt on the other side; send its fields as a plain object and rebuild it in the task (primitives, " +
  "plain objects, arrays, Map, Set, Date, RegExp, Error, typed arrays, Buffers and futures can be sent)";

/**
 * Check that `value` can travel; throws a TypeError naming the first part that cannot.
 * @returns whether the value holds what msgpack would change somewhere (then encode `withMarkers(value)`)
 * @example checkValue([{ conn: socket }], Sent.arguments) // TypeError: argument 1 .conn: a net.Socket cannot be sent to a worker: ...
 */
export function checkValue(value: unknown, label: ValueLabel): boolean {
  const state: WalkState = { seen: undefined, root: value, rootEntered: false, marked: false, open: undefined };
  const refusal = visit(value, state);
  if (!refusal) return state.marked;
  const path = refusal.path.reverse();
  let where = label.what;
  if (label.items && path.length) where += ` ${Number(path.shift()!.slice(1, -1)) + 1}`;
  if (path.length) where += ` ${path.join("")}`;
  throw new TypeError(`${where}: ${refusal.what} cannot be sent ${label.to}: ${refusal.why}`);
}

interface WalkState {
  /** containers on the way or done (cycles and shared references are visited once) */
  seen: Set<object> | undefined;
  root: unknown;
  rootEntered: boolean;
  /** a `-0`, a string with a lone surrogate or an object with a key msgpack would change was met: encode `withMarkers(value)` */
  marked: boolean;
  /** Errors, and objects with a key msgpack would change, whose fields are being walked: a way back to one is a cycle through it */
  open: Set<object> | undefined;
}

// msgpackr rebuilds an object met again inside a cycle from its record: an Error inside a cycle
// through itself would come back as a plain object, and an object keyed "__proto__" would lose
// that key (it is assigned, so it sets the prototype): refused rather than changed
const cycleThrough = (o: object): Refusal => {
  const what = o instanceof Error ? "an Error" : `an object with a key named ${JSON.stringify(Object.keys(o).find(oddKey))}`;
  return { what: `${what} that refers back to itself`, why: `${what} on a cycle through its own fields cannot be rebuilt; break the cycle (drop the field) before sending`, path: [] };
};

function visit(v: unknown, s: WalkState): Refusal | undefined {
  switch (typeof v) {
    case "number":
      if (v === 0 && 1 / v < 0) s.marked = true;
      return undefined;
    case "string":
      if (!wellFormed(v)) s.marked = true;
      return undefined;
    case "boolean":
    case "bigint":
    case "undefined":
      return undefined;
    case "symbol":
      return { what: `a symbol, ${String(v)},`, why: "a symbol is unique to its process", path: [] };
    case "function":
      return { ...describeFunction(v as (...a: unknown[]) => unknown), path: [] };
  }
  if (v === null) return undefined;
  const o = v as object;
  // the set is made at the first container below the root: most task arguments hold none
  if (o === s.root) {
    if (s.rootEntered) return s.open?.has(o) ? cycleThrough(o) : undefined;
    s.rootEntered = true;
  } else {
    if (!s.seen) s.seen = new Set([s.root as object]);
    if (s.seen.has(o)) return s.open?.has(o) ? cycleThrough(o) : undefined;
    s.seen.add(o);
  }
  const proto = Object.getPrototypeOf(o) as object | null;
  if (proto === Object.prototype || proto === null) return visitPlain(o as Record<string, unknown>, s);
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) {
      const x = o[i];
      // a hole would arrive as undefined (msgpack has none): an array that is not the same
      if (x === undefined && !(i in o)) return { what: `a sparse array (no element at index ${i})`, why: SPARSE_HINT, path: [] };
      const r = visit(x, s);
      if (r) return r.path.push(`[${i}]`), r;
    }
    // a RegExp match's index, input and groups, or fields set by hand: msgpack's arrays hold
    // elements only. Object.values counts without making a string per index (Object.keys did:
    // 140 ms for a million elements, against 2-40 ms)
    if (Object.values(o).length !== o.length) return { what: `an array with named fields (${namedFields(o)})`, why: FIELDS_HINT, path: [] };
    return undefined;
  }
  if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer) return undefined;
  const isMap = proto === Map.prototype;
  if ((isMap || proto === Set.prototype || proto === Date.prototype || proto === RegExp.prototype) && Object.keys(o).length) {
    return { what: `a ${(o.constructor as { name: string }).name} with named fields (${namedFields(o)})`, why: FIELDS_HINT, path: [] };
  }
  if (isMap) {
    let i = 0;
    for (const [k, x] of o as Map<unknown, unknown>) {
      let r = visit(k, s);
      if (r) return r.path.push(`.keys()[${i}]`), r;
      r = visit(x, s);
      if (r) return r.path.push(`.get(${describeKey(k)})`), r;
      i++;
    }
    return undefined;
  }
  if (proto === Set.prototype) {
    let i = 0;
    for (const x of o as Set<unknown>) {
      const r = visit(x, s);
      if (r) return r.path.push(`.values()[${i}]`), r;
      i++;
    }
    return undefined;
  }
  if (proto === Date.prototype || proto === RegExp.prototype) return undefined;
  if (o instanceof Error) {
    const odd = Object.keys(o).find(oddKey);
    if (odd !== undefined) return { what: `an Error with a field named ${JSON.stringify(odd)}`, why: "msgpack would rename the field; send it beside the error", path: [] };
    (s.open ??= new Set()).add(o);
    try {
      const r = visitEntries(o as unknown as Record<string, unknown>, s);
      if (r || !("cause" in o)) return r;
      const c = visit(o.cause, s);
      return c && (c.path.push(".cause"), c);
    } finally {
      s.open.delete(o);
    }
  }
  if (allowed.some((C) => o instanceof C)) return undefined;
  // a plain object made in another realm (vm context): its prototype is that realm's Object's
  if (proto && Object.getPrototypeOf(proto) === null && Object.prototype.toString.call(o) === "[object Object]") {
    return visitPlain(o as Record<string, unknown>, s);
  }
  return { ...describeObject(o), path: [] };
}

/** No lone surrogate: UTF-8 (msgpack's strings) can hold the string as it is. */
export const wellFormed = (t: string): boolean => (t as unknown as { isWellFormed(): boolean }).isWellFormed();

/** A key msgpack would change: `"__proto__"` (renamed by msgpackr's decoder), or one with a lone surrogate. */
const oddKey = (k: string): boolean => k === "__proto__" || !wellFormed(k);

/** A plain object: one with a key msgpack would change travels as a marker, and may not sit on a cycle. */
function visitPlain(o: Record<string, unknown>, s: WalkState): Refusal | undefined {
  const keys = Object.keys(o);
  if (!keys.some(oddKey)) return visitEntries(o, s, keys);
  s.marked = true;
  (s.open ??= new Set()).add(o);
  try {
    return visitEntries(o, s, keys);
  } finally {
    s.open.delete(o);
  }
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function visitEntries(o: Record<string, unknown>, s: WalkState, keys = Object.keys(o)): Refusal | undefined {
  for (const k of keys) {
    const r = visit(o[k], s);
    if (r) return r.path.push(IDENTIFIER.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`), r;
  }
  return undefined;
}

function describeKey(k: unknown): string {
  if (typeof k === "string") return JSON.stringify(k);
  if (typeof k === "number" || typeof k === "boolean" || typeof k === "bigint") return String(k);
  return `<${k === null ? "null" : typeof k}>`;
}

type Described = { what: string; why: string };

function describeFunction(f: (...a: unknown[]) => unknown): Described {
  const name = !f.name ? "" : IDENTIFIER.test(f.name) ? ` ${f.name}` : ` ${JSON.stringify(f.name)}`;
  const what = /^class[\s{]/.test(Function.prototype.toString.call(f)) ? `a class${name}` : `a function${name}`;
  return { what, why: "only the task function itself is shipped as code" };
}

/** What a refused object is, in words ("a net.Socket", "an instance of class Point"), and why. */
function describeObject(o: object): Described {
  if (o instanceof Promise) return { what: "a Promise", why: "await it and send its value" };
  for (const C of [WeakMap, WeakSet, WeakRef] as const) {
    if (o instanceof C) return { what: `a ${C.name}`, why: "its entries cannot be listed" };
  }
  if (o instanceof SharedArrayBuffer) return { what: "a SharedArrayBuffer", why: "send a typed array over it" };
  const handle = "it holds an operating-system handle; open it in the task instead";
  // loaded only when refusing: the walk itself needs neither
  const net = require("node:net") as typeof import("node:net");
  if (o instanceof net.Socket) return { what: "a net.Socket", why: handle };
  if (o instanceof net.Server) return { what: "a net.Server", why: handle };
  const name = (o.constructor as { name?: string } | undefined)?.name;
  const { EventEmitter } = require("node:events") as typeof import("node:events");
  if (o instanceof EventEmitter) return { what: `a ${name ?? "EventEmitter"} (an EventEmitter)`, why: "its listeners and handles stay in this process" };
  return { what: name ? `an instance of class ${name}` : "an object with a prototype of its own", why: CLASS_HINT };
}

/** Marker for a `-0`, which msgpack would write as 0; an extension of msgpack.ts turns it back. */
export class NegativeZero {}
const NEGATIVE_ZERO = new NegativeZero();

/** Marker for a string with a lone surrogate: an extension of msgpack.ts sends its UTF-16 code units. */
export class IllFormed {
  constructor(readonly text: string) {}
}

/**
 * Marker for a plain object with a key msgpack would change (`"__proto__"`, or one with a lone
 * surrogate), whose entries (key, value, key, value, ...) an extension of msgpack.ts writes as
 * a list and defines back as own properties (`fromOddKeyed`): msgpackr's decoder renames
 * `"__proto__"`, and assigning it would set the object's prototype instead.
 */
export class OddKeyed {
  constructor(readonly entries: unknown[]) {}
}

/** The object an `OddKeyed` stands for, from its entries (strings at even places): each an own, enumerable property. */
export function fromOddKeyed(entries: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < entries.length; i += 2) {
    Object.defineProperty(out, entries[i] as string, { value: entries[i + 1], writable: true, enumerable: true, configurable: true });
  }
  return out;
}

/**
 * A copy of `value` with every `-0`, string with a lone surrogate and plain object with a key
 * msgpack would change replaced by a marker: containers are copied (shared references and
 * cycles kept), everything else is taken as it is. Only values that hold one (checkValue says
 * so) pay for it.
 */
export function withMarkers(value: unknown, copies = new Map<object, unknown>()): unknown {
  if (typeof value === "number") return value === 0 && 1 / value < 0 ? NEGATIVE_ZERO : value;
  if (typeof value === "string") return markedString(value);
  if (typeof value !== "object" || value === null) return value;
  const done = copies.get(value);
  if (done !== undefined) return done;
  const again = (x: unknown) => withMarkers(x, copies);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    copies.set(value, out);
    for (const x of value) out.push(again(x));
    return out;
  }
  if (value instanceof Map) {
    const out = new Map();
    copies.set(value, out);
    for (const [k, x] of value) out.set(again(k), again(x));
    return out;
  }
  if (value instanceof Set) {
    const out = new Set();
    copies.set(value, out);
    for (const x of value) out.add(again(x));
    return out;
  }
  if (value instanceof Error) {
    // a copy of the same class with its own properties (message, stack, cause, fields) marked
    const out = Object.create(Object.getPrototypeOf(value) as object) as Error;
    copies.set(value, out);
    for (const k of Object.getOwnPropertyNames(value)) {
      const d = Object.getOwnPropertyDescriptor(value, k)!;
      if ("value" in d) d.value = again(d.value);
      Object.defineProperty(out, k, d);
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== null) return value; // leaves (dates, binaries, futures)
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.some(oddKey)) {
    const marker = new OddKeyed([]);
    copies.set(value, marker);
    for (const k of keys) marker.entries.push(again(k), again(o[k]));
    return marker;
  }
  const out: Record<string, unknown> = {};
  copies.set(value, out);
  for (const k of keys) out[k] = again(o[k]);
  return out;
}

/** A string as it can travel: itself, or its marker when it holds a lone surrogate (an Error's message, say). */
export function markedString(t: string): string | IllFormed {
  return wellFormed(t) ? t : new IllFormed(t);
}
