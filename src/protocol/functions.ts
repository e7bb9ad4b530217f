/**
 * Task functions on the wire: how the client sends one (below, "the client side") and how a
 * worker turns a shipped one back into a function, once per task thread.
 *
 * Source is compiled by indirect eval: global scope, so nothing of this module is visible to
 * the task. Accepts arrow functions, function expressions, async and generator forms and
 * methods (`square(x) { ... }`, which Function.prototype.toString gives for object methods;
 * computed and quoted names and accessors too: see `sourceForms`); the client refuses at the
 * submit a source none of whose forms compiles (`FunctionTable.wireOf`). A dynamic `import("pkg")` inside eval'd code resolves relative to the module that
 * called eval, i.e. this file: so package names resolve from the node_modules that dask-mpi-ts
 * is installed in (the project's), walking up the directories as usual.
 *
 * Module references are imported once per thread (Node's module cache) and their exports
 * looked up by name. FunctionTable (below) is the one registry of functions by identity.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { type WireFunction, isWireFunction } from "./messages.js";

export type AnyFunction = (...args: unknown[]) => unknown;

/** Stack frames of shipped code name this pseudo-file (a sourceURL), e.g. `dask-task:3f2a9c1b`. */
const SOURCE_URL_PREFIX = "dask-task:";

/**
 * A function's identity: its source text, or (behind a NUL, which no source starts with) its
 * module URL and export name. Sources key as they are: no string is built per task.
 */
export function functionIdentity(w: WireFunction): string {
  const id = w.kind === "source" ? w.source : `\0${w.url}#${w.name}`;
  return w.actor ? `\0actor\0${id}` : id;
}

interface Entry {
  readonly wire: WireFunction;
  readonly id: number;
  /** the callable, once compiled or imported here (a Promise while a module loads) */
  fn?: AnyFunction | Promise<AnyFunction>;
}

/**
 * The one registry of task functions, keyed by identity (source, or module and export), so each
 * role keeps one table instead of a cache per concern:
 * - the client: `wireOf(fn)`, the wire form made once per function object (equal sources share it);
 * - the scheduler: `idOf(wire)`, a number per distinct function, and `sendOnce(peer, id)`, the
 *   definition only the first time a peer is sent that number;
 * - workers and task threads: `resolve(wire)`, compiled or imported once.
 * Bounded: past `limit` functions the oldest is forgotten (numbers are never reused,
 * so a forgotten function that comes back gets a new number and is sent again).
 */
export class FunctionTable {
  readonly #limit: number;
  #byIdentity = new Map<string, Entry>();
  #byId = new Map<number, Entry>();
  #byObject = new WeakMap<object, Entry>();
  #sent = new WeakMap<object, Set<number>>();
  #nextId = 1;

  constructor(options: { limit?: number } = {}) {
    this.#limit = options.limit ?? 10_000;
  }

  /** Functions held. */
  get size(): number {
    return this.#byIdentity.size;
  }

  /**
   * The client: how `fn` travels (see encodeFunction), made once per function object (a lambda
   * written in a loop is a new object each time round, with the same source: they share one
   * wire form, so it is sent once per message). A source that does not compile on its own is
   * refused here, at the submit, rather than on every worker.
   */
  wireOf(fn: unknown, actor?: boolean): WireFunction {
    const known = typeof fn === "function" ? this.#byObject.get(fn) : undefined;
    if (known && this.#byId.has(known.id) && !known.wire.actor === !actor) return known.wire;
    const wire = encodeFunction(fn, { actor });
    if (wire.kind === "source" && !this.#byIdentity.has(functionIdentity(wire))) checkCompiles(fn as AnyFunction, wire.source);
    const e = this.#entry(wire);
    this.#byObject.set(fn as object, e);
    return e.wire;
  }

  /** The scheduler: the number of a distinct function (equal wire forms share it). */
  idOf(wire: WireFunction): number {
    return this.#entry(wire).id;
  }

  /** The function numbered `id`, while the table holds it. */
  wireById(id: number): WireFunction | undefined {
    return this.#byId.get(id)?.wire;
  }

  /** The scheduler: the definition of function `id` the first time `peer` is sent it; undefined after. */
  sendOnce(peer: object, id: number): WireFunction | undefined {
    let sent = this.#sent.get(peer);
    if (!sent) this.#sent.set(peer, (sent = new Set()));
    if (sent.has(id)) return undefined;
    const wire = this.#byId.get(id)?.wire;
    if (!wire) throw new RangeError(`function ${id} is not in the table (forgotten or never added)`);
    sent.add(id);
    return wire;
  }

  /**
   * Workers and task threads: the callable function, compiled from source or imported from its
   * module, once. Synchronous when held or compiled from source; a Promise the first time a
   * module is used. A plain string is taken as source. The value comes off the wire, so its
   * shape is checked here.
   */
  resolve(wire: WireFunction | string): AnyFunction | Promise<AnyFunction> {
    // the shape checked by hand: this runs once per task in every thread
    const w = (typeof wire === "string" ? { kind: "source", source: wire } : wire) as Partial<Record<string, unknown>> | null | undefined;
    if (!(w?.kind === "source" ? typeof w.source === "string" : w?.kind === "module" && typeof w.url === "string" && typeof w.name === "string")) {
      throw new TypeError(`a task function must be { kind: "source", source } or { kind: "module", url, name }, got ${JSON.stringify(w)?.slice(0, 100)}`);
    }
    const e = this.#entry(w as WireFunction);
    if (e.fn) return e.fn;
    // an actor's class is constructed, never called: not wrapped (a wrapper cannot be `new`ed)
    if (e.wire.kind === "source") return (e.fn = e.wire.actor ? evaluate(e.wire.source) : explaining(evaluate(e.wire.source), e.wire.source));
    const loading = importExport(e.wire.url, e.wire.name);
    e.fn = loading;
    loading.then(
      (fn) => void (e.fn === loading && (e.fn = fn)),
      // a module that failed to load may be fixed on disk: let the next task try again
      () => void (e.fn === loading && (e.fn = undefined)),
    );
    return loading;
  }

  /** The entry of `wire`'s identity, made on first sight. */
  #entry(wire: WireFunction): Entry {
    const identity = functionIdentity(wire);
    let e = this.#byIdentity.get(identity);
    if (e) return e;
    // full: forget the oldest (no reordering on hits: this runs once per task in every thread)
    if (this.#byIdentity.size >= this.#limit) {
      const [oldest, old] = this.#byIdentity.entries().next().value!;
      this.#byIdentity.delete(oldest);
      this.#byId.delete(old.id);
    }
    e = { wire, id: this.#nextId++ };
    this.#byIdentity.set(identity, e);
    this.#byId.set(e.id, e);
    return e;
  }
}

/** This thread's functions, for resolveFunction (each task thread has its own module instance). */
const local = new FunctionTable({ limit: 1000 });

/**
 * The function a task names: compiled from source or imported from a module, held in this
 * thread's FunctionTable. Synchronous when held or compiled from source; a Promise the first
 * time a module is used. A plain string is taken as source.
 * @example const fn = await resolveFunction({ kind: "module", url: "file:///home/me/tasks.js", name: "fit" });
 */
export function resolveFunction(wire: WireFunction | string): Promise<AnyFunction> | AnyFunction {
  return local.resolve(wire);
}

/**
 * Compile shipped source into a function (held by source text). Calls of the result that
 * fail because the function used a variable it closed over on the client get an error that
 * says so (see explainReferenceError).
 * @example compileFunction("(x) => x + 1")(2) // 3
 */
export function compileFunction(source: string): AnyFunction {
  return local.resolve(source) as AnyFunction;
}

/**
 * The expressions a function's source text may be compiled as, in order: the text itself
 * (functions, arrows, classes); method shorthand with a plain name as a function expression
 * (`square(x) { ... }`); and any other method (a computed or quoted name, an accessor) as the
 * one member of an object literal (`member`: the function is that member). The newlines keep a
 * trailing line comment in the source from swallowing the closing bracket.
 */
function sourceForms(source: string): Array<{ text: string; member?: true }> {
  const forms: Array<{ text: string; member?: true }> = [{ text: `(${source}\n)` }];
  const m = /^(async\s+)?(\*?\s*[A-Za-z_$][\w$]*\s*\()/.exec(source);
  if (m && !/^(async\s+)?function\b/.test(source)) forms.push({ text: `(${m[1] ?? ""}function ${source.slice(m[1]?.length ?? 0)}\n)` });
  forms.push({ text: `({${source}\n})`, member: true });
  return forms;
}

/** Refuses, naming the function, a source none of whose forms parses (nothing of it runs here). */
function checkCompiles(fn: AnyFunction, source: string): void {
  const errors: Error[] = [];
  for (const { text } of sourceForms(source)) {
    try {
      new Function(`return ${text}`); // parses only
      return;
    } catch (err) {
      errors.push(err as Error);
    }
  }
  // the forms that do not fit fail on a bracket; the one that fits says what is wrong in it
  const why = (errors.find((e) => !/^Unexpected token/.test(e.message)) ?? errors[0]!).message;
  const label = fn.name ? `function ${JSON.stringify(fn.name)}` : "an anonymous function";
  throw new TypeError(`cannot ship ${label}: its source does not compile on its own (${why}); submit an arrow function or a function expression that calls it, or use remote()`);
}

function evaluate(source: string): AnyFunction {
  const sourceUrl = SOURCE_URL_PREFIX + createHash("sha1").update(source).digest("hex").slice(0, 8);
  let firstError: unknown;
  for (const { text, member } of sourceForms(source)) {
    try {
      let value: unknown = (0, eval)(`${text}\n//# sourceURL=${sourceUrl}`);
      if (member) {
        const keys = Reflect.ownKeys(value as object);
        const d = keys.length === 1 ? Object.getOwnPropertyDescriptor(value, keys[0]!) : undefined;
        value = d?.value ?? d?.get ?? d?.set;
      }
      if (typeof value === "function") return value as AnyFunction;
      firstError ??= new TypeError(`shipped source is not a function: ${source.slice(0, 80)}`);
    } catch (err) {
      firstError ??= err;
    }
  }
  throw firstError;
}

/** `fn` with its ReferenceErrors explained; stays synchronous for synchronous functions. */
function explaining(fn: AnyFunction, source: string): AnyFunction {
  return function (this: unknown, ...args: unknown[]) {
    try {
      const value = fn.apply(this, args);
      if (value instanceof Promise) return value.catch((err: unknown) => Promise.reject(explainReferenceError(err, source)));
      return value;
    } catch (err) {
      throw explainReferenceError(err, source);
    }
  };
}

/**
 * If `err` is a ReferenceError raised by the shipped `source` itself for a name the source
 * uses (a variable the function closed over on the client), a ReferenceError that says so,
 * keeping the original stack frames; otherwise `err` unchanged. Idempotent.
 * @example explainReferenceError(new ReferenceError("offset is not defined"), "(x) => x + offset")
 */
export function explainReferenceError(err: unknown, source: string): unknown {
  if (!(err instanceof Error) || err.name !== "ReferenceError") return err;
  const name = /^([\p{L}_$][\p{L}\p{N}_$]*) is not defined$/u.exec(err.message)?.[1];
  if (!name) return err;
  // thrown by the shipped code, not by something it called that happens to share a name
  const topFrame = err.stack?.split("\n").find((line) => /^\s+at /.test(line)) ?? "";
  if (!topFrame.includes(SOURCE_URL_PREFIX)) return err;
  // used as a variable in the source (not only as a property name `.name`; `...name` counts)
  if (!new RegExp(`(?:^|[^\\w$.]|\\.\\.\\.)${name.replace(/\$/g, "\\$")}(?![\\w$])`, "u").test(source)) return err;
  const explained = new ReferenceError(
    `task function uses ${JSON.stringify(name)}, which is not defined on the worker: shipped functions must be self-contained ` +
      `(pass ${JSON.stringify(name)} as an argument, or use remote())`,
    { cause: err },
  );
  explained.stack = `ReferenceError: ${explained.message}${err.stack!.slice(err.stack!.indexOf("\n"))}`;
  return explained;
}

async function importExport(url: string, name: string): Promise<AnyFunction> {
  if (!url.startsWith("file:")) throw new TypeError(`task module must be a file: URL, got ${JSON.stringify(url)}`);
  // Node's module cache makes this one load per thread; the table holds the export
  const exports = (await import(url)) as Record<string, unknown>;
  const fn = exports[name];
  if (typeof fn !== "function") {
    const names = Object.keys(exports);
    const has = names.length ? `its exports are: ${names.join(", ")}` : "it has no exports";
    throw new TypeError(
      name in exports
        ? `export ${JSON.stringify(name)} of module ${url} is ${fn === null ? "null" : typeof fn}, not a function`
        : `module ${url} has no export ${JSON.stringify(name)}: ${has}`,
    );
  }
  return fn as AnyFunction;
}

// ---- the client side: how a task function is sent ----

/**
 * How a task function travels to the workers. Two ways (DESIGN.md section 4):
 * - `source`: a self-contained function shipped as its source text and compiled on the worker;
 * - `module`: a reference to a module export (`remote(url, name)`), imported on the worker.
 *   HPC file systems are shared, so the module is addressed by a `file:` URL.
 */

export type { WireFunction };

const REMOTE = Symbol.for("dask-mpi-ts.remote");

/**
 * A handle on an export of a module that the workers import themselves. It is a real
 * function: calling it in this process imports the module here and runs the export.
 */
export type RemoteFunction<A extends unknown[] = unknown[], R = unknown> = ((...args: A) => Promise<Awaited<R>>) & {
  readonly [REMOTE]: { readonly url: string; readonly name: string };
};

/**
 * A handle on `exportName` of the module at `moduleUrl` (a `file:` URL or an absolute path,
 * on a file system the workers share), to pass to `client.submit` / `client.map` in place of a
 * function. The function may then use imports and module state freely; nothing is shipped
 * but its address.
 * @example
 * const fit = remote<[number[]], number>(new URL("./tasks.js", import.meta.url), "fit");
 * const f = client.submit(fit, [1, 2, 3]); // Future<number>
 */
export function remote<A extends unknown[] = unknown[], R = unknown>(moduleUrl: string | URL, exportName: string): RemoteFunction<A, R> {
  const url = moduleHref(moduleUrl);
  if (typeof exportName !== "string" || exportName === "") {
    throw new TypeError(`remote export name must be a non-empty string, got ${JSON.stringify(exportName)}`);
  }
  const call = async (...args: A): Promise<Awaited<R>> => {
    const ns = (await import(url)) as Record<string, unknown>;
    const fn = ns[exportName];
    if (typeof fn !== "function") throw new TypeError(`module ${url} has no function export ${JSON.stringify(exportName)}`);
    return (await fn(...args)) as Awaited<R>;
  };
  // toString gives equivalent self-contained source, so any path that ships fn.toString()
  // (older workers, run()) still calls the export rather than this closure
  const source = `async (...args) => (await import(${JSON.stringify(url)}))[${JSON.stringify(exportName)}](...args)`;
  Object.defineProperties(call, {
    name: { value: exportName },
    toString: { value: () => source },
    [REMOTE]: { value: Object.freeze({ url, name: exportName }) },
  });
  return call as RemoteFunction<A, R>;
}

/** True for handles made by remote(). */
export function isRemote(fn: unknown): fn is RemoteFunction {
  return typeof fn === "function" && REMOTE in fn;
}

/**
 * The wire form of a task function: a module reference for remote() handles, else the
 * function's source (ordinary, arrow, async and generator functions, method shorthand).
 * Throws a TypeError for what cannot be rebuilt from source: native and bound functions, classes
 * (a class only as an actor's: `{ actor: true }`, which marks the wire form).
 * @example encodeFunction((x: number) => x + 1) // { kind: "source", source: "(x) => x + 1" }
 */
export function encodeFunction(fn: unknown, options: { actor?: boolean } = {}): WireFunction {
  if (typeof fn !== "function") throw new TypeError(`${options.actor ? "an actor must be a class" : "a task must be a function"}, got ${fn === null ? "null" : typeof fn}`);
  if (isRemote(fn)) return options.actor ? { kind: "module", ...fn[REMOTE], actor: true } : { kind: "module", ...fn[REMOTE] };
  const label = fn.name ? `function ${JSON.stringify(fn.name)}` : "an anonymous function";
  const source = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
    throw new TypeError(`cannot ship ${label}: native and bound functions have no source (wrap the call in an arrow function, or use remote())`);
  }
  const isClass = /^class\b/.test(source);
  if (options.actor) {
    if (!isClass) throw new TypeError(`an actor must be a class (or a remote() export of one), got ${label}`);
    return { kind: "source", source, actor: true };
  }
  if (isClass) {
    throw new TypeError(`cannot ship class ${JSON.stringify(fn.name)}: submit a function (or a remote() module export) that uses it, or make an actor of it ({ actor: true })`);
  }
  return { kind: "source", source };
}

function moduleHref(moduleUrl: string | URL): string {
  const bad = () =>
    new TypeError(`remote module must be a file: URL or an absolute path (the workers import it from a shared file system), got ${JSON.stringify(String(moduleUrl))}`);
  if (moduleUrl instanceof URL) {
    if (moduleUrl.protocol !== "file:") throw bad();
    return moduleUrl.href;
  }
  if (typeof moduleUrl !== "string") throw bad();
  if (moduleUrl.startsWith("file:")) {
    try {
      return new URL(moduleUrl).href;
    } catch {
      throw bad();
    }
  }
  if (path.isAbsolute(moduleUrl)) return pathToFileURL(moduleUrl).href;
  throw bad();
}

/** Whether a decoded wire value is a well-formed WireFunction (for validating messages). */
export { isWireFunction };

/** Task functions as they travel (shipped source or a module export), made callable. */
export function resolveTaskFunction(fn: unknown): Promise<AnyFunction> | AnyFunction {
  return resolveFunction(fn as WireFunction);
}
