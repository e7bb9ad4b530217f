/**
 * Task functions on the wire: how the client sends one (below, "the client side") and how a
 * worker turns a shipped one back into a function, once per task thread.
 *
 * Source is compiled by indirect eval: global scope, so nothing of this module is visible to
 * the task. Accepts arrow functions, function expressions, async and generator forms and
 * method shorthand (`square(x) { ... }`, which Function.prototype.toString gives for object
 * methods). A dynamic `import("pkg")` inside eval'd code resolves relative to the module that
 * called eval, i.e. this file: so package names resolve from the node_modules that dask-mpi-ts
 * is installed in (the project's), walking up the directories as usual.
 *
 * Module references are imported once per thread (Node's module cache) and their exports
 * looked up by name.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { type WireFunction, isWireFunction } from "./messages.js";

export type AnyFunction = (...args: unknown[]) => unknown;

/** Stack frames of shipped code name this pseudo-file (a sourceURL), e.g. `dask-task:3f2a9c1b`. */
const SOURCE_URL_PREFIX = "dask-task:";
const CACHE_LIMIT = 1000;
const compiled = new Map<string, AnyFunction>();
const modules = new Map<string, Promise<Record<string, unknown>>>();
const exported = new Map<string, AnyFunction>();

/**
 * The function a task names: compiled from source or imported from a module, cached.
 * Synchronous when cached or compiled from source; a Promise the first time a module is used.
 * A plain string is taken as source (the wire form before WireFunction). The value comes off
 * the wire, so its shape is checked here.
 * @example const fn = await resolveFunction({ kind: "module", url: "file:///home/me/tasks.js", name: "fit" });
 */
export function resolveFunction(wire: WireFunction | string): Promise<AnyFunction> | AnyFunction {
  const w = wire as Partial<Record<string, unknown>> | string | null | undefined;
  if (typeof w === "string") return compileFunction(w);
  if (w?.kind === "source" && typeof w.source === "string") return compileFunction(w.source);
  if (w?.kind === "module" && typeof w.url === "string" && typeof w.name === "string") {
    return exported.get(`${w.url}#${w.name}`) ?? importExport(w.url, w.name);
  }
  throw new TypeError(`a task function must be { kind: "source", source } or { kind: "module", url, name }, got ${JSON.stringify(w)?.slice(0, 100)}`);
}

/**
 * Compile shipped source into a function (cached by source text). Calls of the result that
 * fail because the function used a variable it closed over on the client get an error that
 * says so (see explainReferenceError).
 * @example compileFunction("(x) => x + 1")(2) // 3
 */
export function compileFunction(source: string): AnyFunction {
  const hit = compiled.get(source);
  if (hit) return hit;
  const fn = explaining(evaluate(source), source);
  if (compiled.size >= CACHE_LIMIT) compiled.delete(compiled.keys().next().value!);
  compiled.set(source, fn);
  return fn;
}

function evaluate(source: string): AnyFunction {
  // the newlines keep a trailing line comment in the source from swallowing the ")"
  const candidates = [`(${source}\n)`];
  const m = /^(async\s+)?(\*?\s*[A-Za-z_$][\w$]*\s*\()/.exec(source);
  if (m && !/^(async\s+)?function\b/.test(source)) candidates.push(`(${m[1] ?? ""}function ${source.slice(m[1]?.length ?? 0)}\n)`);
  const sourceUrl = SOURCE_URL_PREFIX + createHash("sha1").update(source).digest("hex").slice(0, 8);
  let firstError: unknown;
  for (const text of candidates) {
    try {
      const value: unknown = (0, eval)(`${text}\n//# sourceURL=${sourceUrl}`);
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
  let ns = modules.get(url);
  if (!ns) {
    ns = import(url) as Promise<Record<string, unknown>>;
    modules.set(url, ns);
    // a module that failed to load may be fixed on disk: let the next task try again
    ns.catch(() => modules.delete(url));
  }
  const exports = await ns;
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
  exported.set(`${url}#${name}`, fn as AnyFunction);
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
 * Throws a TypeError for what cannot be rebuilt from source: native and bound functions, classes.
 * @example encodeFunction((x: number) => x + 1) // { kind: "source", source: "(x) => x + 1" }
 */
export function encodeFunction(fn: unknown): WireFunction {
  if (typeof fn !== "function") throw new TypeError(`a task must be a function, got ${fn === null ? "null" : typeof fn}`);
  if (isRemote(fn)) return { kind: "module", ...fn[REMOTE] };
  const label = fn.name ? `function ${JSON.stringify(fn.name)}` : "an anonymous function";
  const source = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
    throw new TypeError(`cannot ship ${label}: native and bound functions have no source (wrap the call in an arrow function, or use remote())`);
  }
  if (/^class\b/.test(source)) {
    throw new TypeError(`cannot ship class ${JSON.stringify(fn.name)}: submit a function (or a remote() module export) that uses it`);
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
