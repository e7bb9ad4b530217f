/**
 * Transport backends by address scheme. connect() and listen() (comm/connect.ts) find the
 * backend here; each loads on first use (node:tls, for one, costs start-up time on every rank).
 * To add a transport: implement Backend (comm/types.ts) over a Wire (comm/framed.ts) and
 * register its scheme.
 */
import { ConfigError } from "../errors.js";
import { schemeOf } from "./address.js";
import type { Backend } from "./types.js";

const loaders = new Map<string, () => Promise<Backend>>();
const loaded = new Map<string, Promise<Backend>>();

/** Make `scheme://` addresses reachable through `load()`'s backend (replaces an earlier one). */
export function registerBackend(scheme: string, load: () => Promise<Backend>): void {
  loaders.set(scheme, load);
  loaded.delete(scheme);
}

/** The backend of `scheme`; a ConfigError names an unknown one and the known ones. */
export function backend(scheme: string): Promise<Backend> {
  let b = loaded.get(scheme);
  if (!b) {
    const load = loaders.get(scheme);
    if (!load) {
      return Promise.reject(new ConfigError(`unknown transport scheme ${JSON.stringify(scheme)}; known: ${[...loaders.keys()].join(", ")}`));
    }
    b = load();
    b.catch(() => loaded.delete(scheme));
    loaded.set(scheme, b);
  }
  return b;
}

/** The backend of an address's scheme (`tcp://…`, `tls://…`, `inproc://…`; bare `host:port` is tcp). */
export function backendFor(address: string): Promise<Backend> {
  return backend(schemeOf(address));
}

registerBackend("tcp", async () => (await import("./tcp.js")).tcpBackend);
registerBackend("tls", async () => (await import("./tcp.js")).tlsBackend);
registerBackend("inproc", async () => (await import("./inproc.js")).inprocBackend);
