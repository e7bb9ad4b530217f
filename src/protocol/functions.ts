/**
 * Turning a shipped task function back into a function, once per task thread.
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
import type { WireFunction } from "../client/functions.js";

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
