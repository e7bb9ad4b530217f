/**
 * How submit(), map() and run() tell options from arguments. Pure: no client, no I/O.
 *
 * The rule, the same for every call: an object is options only when it is a plain object
 * (prototype Object.prototype or null) whose keys are all option names of that call, and it is
 * not iterable. An object that mixes option names with other keys is ambiguous and throws a
 * TypeError that says how to pass options; it is never guessed at. `{}` is options with none set,
 * which makes an argument that looks like options unambiguous: `submit(fn, objArg, {})`.
 */
import { inspect } from "node:util";

/** Option names of submit() (map() takes the same). */
export const SUBMIT_OPTION_KEYS: ReadonlySet<string> = new Set(["key", "pure", "priority", "retries", "workers", "allowOtherWorkers", "resources", "actor", "checkpoint"]);
/** Option names of run(). */
export const RUN_OPTION_KEYS: ReadonlySet<string> = new Set(["workers", "timeout"]);

/** A plain object: created by `{}` or `Object.create(null)`, not an instance of some class. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export function isIterable(v: unknown): v is Iterable<unknown> {
  return v !== null && v !== undefined && typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function";
}

type Kind = "options" | "ambiguous" | "other";

/** What a value is as a candidate for options of a call with these option names. */
function classify(v: unknown, names: ReadonlySet<string>): Kind {
  if (!isPlainObject(v) || isIterable(v)) return "other";
  const keys = Object.keys(v);
  const known = keys.filter((k) => names.has(k)).length;
  if (known === keys.length) return "options";
  return known > 0 ? "ambiguous" : "other";
}

function optionList(names: ReadonlySet<string>): string {
  return [...names].join(", ");
}

function ambiguous(call: string, position: string, v: Record<string, unknown>, names: ReadonlySet<string>): TypeError {
  const keys = Object.keys(v);
  const opt = keys.filter((k) => names.has(k));
  const other = keys.filter((k) => !names.has(k));
  return new TypeError(
    `${call}: ${position} mixes option names (${opt.join(", ")}) with other keys (${other.join(", ")}), so it is neither clearly options nor clearly data; ` +
      `give options as a last object with only these keys: ${optionList(names)} ({} for none), after the other arguments`,
  );
}

/**
 * submit(fn, ...rest) and run(fn, ...rest): the last of `rest` is options when it lies past the
 * function's `declared` parameters (`fn.length`) and is options by the rule above.
 */
export function splitTrailingOptions<O>(call: string, rest: unknown[], declared: number, names: ReadonlySet<string>): { args: unknown[]; options: O } {
  const last = rest[rest.length - 1];
  if (rest.length > declared) {
    const kind = classify(last, names);
    if (kind === "options") return { args: rest.slice(0, -1), options: last as O };
    if (kind === "ambiguous") throw ambiguous(call, `the last argument (past the function's ${declared} declared parameters)`, last as Record<string, unknown>, names);
  }
  return { args: rest, options: {} as O };
}

/**
 * map(fn, ...rest): one or more iterables, then optionally options. Anything else (a value
 * that is neither iterable nor options) throws, so that no argument is silently dropped.
 */
export function splitMapArguments<O>(rest: unknown[], names: ReadonlySet<string>): { iterables: Array<Iterable<unknown>>; options: O } {
  let options = {} as O;
  let iterables = rest;
  const last = rest[rest.length - 1];
  const kind = classify(last, names);
  if (rest.length > 1 && last === undefined) {
    iterables = rest.slice(0, -1); // options left out by a wrapper that passes them on
  } else if (kind === "options") {
    options = last as O;
    iterables = rest.slice(0, -1);
  } else if (kind === "ambiguous") {
    throw ambiguous("map", `argument ${rest.length + 1}`, last as Record<string, unknown>, names);
  }
  if (!iterables.length) throw new TypeError("map needs at least one iterable of arguments: map(fn, xs) or map(fn, xs, ys, { ...options })");
  iterables.forEach((it, i) => {
    if (!isIterable(it)) {
      throw new TypeError(
        `map: argument ${i + 2} is ${describeValue(it)}, which is neither an iterable (array, Set, generator, ...) nor options; ` +
          `options are a last plain object with only these keys: ${optionList(names)}`,
      );
    }
  });
  return { iterables: iterables as Array<Iterable<unknown>>, options };
}

/** The i-th items of every iterable together, stopping at the shortest (as Python's zip). */
export function* zipIterables(iterables: Array<Iterable<unknown>>): Generator<unknown[]> {
  const its = iterables.map((it) => it[Symbol.iterator]());
  try {
    for (;;) {
      const row: unknown[] = [];
      for (const it of its) {
        const r = it.next();
        if (r.done) return;
        row.push(r.value);
      }
      yield row;
    }
  } finally {
    // let generators that were not used up run their cleanup (finally blocks)
    for (const it of its) it.return?.();
  }
}

/** A value in words, for errors: `the number 5`, `the object { a: 1 }`, `a Map`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === "object") {
    const name = (v as object).constructor?.name;
    return isPlainObject(v) ? `the object ${inspect(v, { depth: 1, breakLength: Infinity })}` : `a ${name || "object"}`;
  }
  return `the ${typeof v} ${typeof v === "string" ? JSON.stringify(v) : String(v)}`;
}
