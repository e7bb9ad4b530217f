/**
 * gather's structures, as Dask's: the futures in arrays, plain objects, Maps and Sets, at any
 * depth, gathered together, and the structure given back with each future replaced by its
 * value. Anything else (numbers, strings, class instances, functions, ...) comes back as it
 * was, not walked. Pure: how the futures' values are fetched is the caller's (fetch.ts).
 *
 * - Containers are rebuilt (a new array, object, Map or Set), keeping a plain object's
 *   prototype (Object.prototype or null) and its own keys, `"__proto__"` included.
 * - A Promise is refused, naming where it is: it is a value being awaited, and gathering would
 *   hand it back unawaited.
 * - A cycle is refused: the structure could not be rebuilt.
 * - With `errors: "skip"`, a failed future is left out: an array or Set loses the item, an
 *   object or Map the entry.
 */
import type { Future } from "./future.js";

/** A failed future's slot, with `errors: "skip"`: left out of the structure. */
export const SKIPPED: unique symbol = Symbol("skipped");

/** The type gather gives back for `T`: each Future<V> in it replaced by V. */
export type Gathered<T> =
  T extends Future<infer V>
    ? V
    : T extends readonly unknown[]
      ? { -readonly [K in keyof T]: Gathered<T[K]> }
      : T extends ReadonlyMap<infer K, infer V>
        ? Map<K, Gathered<V>>
        : T extends ReadonlySet<infer V>
          ? Set<Gathered<V>>
          : T extends PromiseLike<unknown>
            ? never
            : T extends (...args: never[]) => unknown
              ? T
              : T extends Record<string, unknown>
                ? { [K in keyof T]: Gathered<T[K]> }
                : T; // a class instance (or an interface type) is not walked

/** The structure as found: where each future goes, and what is kept as it was. */
type Node =
  | { kind: "future"; index: number }
  | { kind: "as-is"; value: unknown }
  | { kind: "array"; items: Node[] }
  | { kind: "set"; items: Node[] }
  | { kind: "map"; entries: Array<[unknown, Node]> }
  | { kind: "object"; proto: object | null; entries: Array<[string, Node]> };

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function isThenable(v: unknown): boolean {
  return (typeof v === "object" || typeof v === "function") && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/** The futures in `structure`, each once per place it appears, and how to put their values back. */
export function findFutures<F>(structure: unknown, isFuture: (v: unknown) => v is F): { futures: F[]; rebuild(values: readonly unknown[]): unknown } {
  const futures: F[] = [];
  const onPath = new Set<object>();
  const at = (where: string) => (where ? `the value at ${where}` : "its argument");
  const walk = (v: unknown, where: string): Node => {
    if (isFuture(v)) return { kind: "future", index: futures.push(v) - 1 };
    if (typeof v !== "object" || v === null) return { kind: "as-is", value: v };
    if (isThenable(v)) throw new TypeError(`gather: ${at(where)} is a Promise (a value being awaited), not a Future: await it instead of gathering it`);
    // exactly these: a subclass's instance is not walked, as no class instance is (its class would be lost)
    const proto = Object.getPrototypeOf(v) as object | null;
    const container = proto === Array.prototype || proto === Map.prototype || proto === Set.prototype || isPlain(v);
    if (!container) return { kind: "as-is", value: v };
    const lost = unkept(v);
    if (lost) throw new TypeError(`gather: ${at(where)} is ${lost}, which gather would lose when it rebuilds it with the values; pass the futures in a plain array, object, Map or Set`);
    if (onPath.has(v)) throw new TypeError(`gather: ${at(where)} contains itself (a cycle): gather rebuilds the arrays, objects, Maps and Sets it walks, and cannot rebuild a cycle`);
    onPath.add(v);
    let node: Node;
    if (proto === Array.prototype) node = { kind: "array", items: (v as unknown[]).map((x, i) => walk(x, `${where}[${i}]`)) };
    else if (proto === Set.prototype) node = { kind: "set", items: [...(v as Set<unknown>)].map((x, i) => walk(x, `${where}[...Set][${i}]`)) };
    else if (proto === Map.prototype) node = { kind: "map", entries: [...(v as Map<unknown, unknown>)].map(([k, x]) => [k, walk(x, `${where}.get(${describeKey(k)})`)]) };
    else node = { kind: "object", proto: Object.getPrototypeOf(v), entries: Object.keys(v).map((k) => [k, walk((v as Record<string, unknown>)[k], `${where}[${JSON.stringify(k)}]`)]) };
    onPath.delete(v);
    return node;
  };
  const root = walk(structure, "");
  const build = (n: Node, values: readonly unknown[]): unknown => {
    switch (n.kind) {
      case "future":
        return values[n.index];
      case "as-is":
        return n.value;
      case "array":
        return n.items.map((x) => build(x, values)).filter((x) => x !== SKIPPED);
      case "set":
        return new Set(n.items.map((x) => build(x, values)).filter((x) => x !== SKIPPED));
      case "map": {
        const out = new Map<unknown, unknown>();
        for (const [k, x] of n.entries) {
          const value = build(x, values);
          if (value !== SKIPPED) out.set(k, value);
        }
        return out;
      }
      case "object": {
        const out = Object.create(n.proto) as object;
        for (const [k, x] of n.entries) {
          const value = build(x, values);
          // defined, not assigned: an own "__proto__" stays a key and never sets the prototype
          if (value !== SKIPPED) Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
        }
        return out;
      }
    }
  };
  return { futures, rebuild: (values) => build(root, values) };
}

/**
 * gather's argument given back with its futures' values, fetched by `values` (in order; a
 * failed one SKIPPED when `skip`): one future (its error always thrown), an array of futures (no
 * walk: a gather of a million futures makes no node per future), or a structure.
 */
export async function gatherStructure<F>(structure: unknown, skip: boolean, isFuture: (v: unknown) => v is F, values: (futures: F[], skip: boolean) => Promise<unknown[]>): Promise<unknown> {
  if (isFuture(structure)) return (await values([structure], false))[0];
  if (Array.isArray(structure) && structure.every(isFuture)) return (await values(structure, skip)).filter((v) => v !== SKIPPED);
  const found = findFutures(structure, isFuture);
  return found.rebuild(await values(found.futures, skip));
}

/** What a rebuilt copy of this container would not have (holes, named fields, hidden or symbol keys), if anything. */
function unkept(v: object): string | undefined {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!(i in v)) return `a sparse array (no element at index ${i})`;
    // counted without a string per index (Object.keys of a million elements: ~140 ms)
    if (Object.values(v).length === v.length && Object.getOwnPropertySymbols(v).length === 0) return undefined;
    const named = [...Object.keys(v).filter((k) => !/^(0|[1-9]\d*)$/.test(k)), ...Object.getOwnPropertySymbols(v).map(String)];
    return `an array with named fields (${named.join(", ")})`;
  }
  const own = Reflect.ownKeys(v);
  if (v instanceof Map || v instanceof Set) return own.length ? `a ${v instanceof Map ? "Map" : "Set"} with named fields (${own.map(String).join(", ")})` : undefined;
  const hidden = own.filter((k) => typeof k === "symbol" || !Object.prototype.propertyIsEnumerable.call(v, k));
  return hidden.length ? `an object with a non-enumerable or symbol-keyed property (${hidden.map(String).join(", ")})` : undefined;
}

function describeKey(k: unknown): string {
  return typeof k === "string" ? JSON.stringify(k) : typeof k === "number" || typeof k === "boolean" || k === null || k === undefined ? String(k) : `a ${typeof k} key`;
}
