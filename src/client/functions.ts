/**
 * How a task function travels to the workers. Two ways (DESIGN.md section 4):
 * - `source`: a self-contained function shipped as its source text and compiled on the worker;
 * - `module`: a reference to a module export (`remote(url, name)`), imported on the worker.
 *   HPC file systems are shared, so the module is addressed by a `file:` URL.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";

/** A task function as it is sent to the scheduler and on to a worker. */
export type WireFunction = { kind: "source"; source: string } | { kind: "module"; url: string; name: string };

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
export function isWireFunction(v: unknown): v is WireFunction {
  if (typeof v !== "object" || v === null) return false;
  const w = v as Record<string, unknown>;
  return w.kind === "source" ? typeof w.source === "string" : w.kind === "module" && typeof w.url === "string" && typeof w.name === "string";
}
