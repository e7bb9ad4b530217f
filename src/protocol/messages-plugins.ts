/**
 * Worker plugins (Dask's `register_plugin` of a WorkerPlugin): a named `setup` run on every
 * task thread of every worker, now and as workers and threads start, whose value a task reads
 * with `workerPlugin(name)`, and a `teardown` given that value when the plugin goes.
 *
 * - client -> the scheduler's worker-plugins extension (src/extensions/worker-plugins.ts):
 *   `register-worker-plugin`, `unregister-worker-plugin`; extension ops are routed raw, and the
 *   extension runs these parsers itself;
 * - scheduler -> worker (joined into messages-worker.ts `SchedulerToWorker`): `plugin-add`,
 *   `plugin-remove`, each answered once every task thread of the worker has done it.
 */
import { type Message, type Parsers, type WireFunction, bool, num, optional, str, wireFunction } from "./messages.js";
import type { WireError } from "./ops.js";

/** A plugin as it travels and as the scheduler and workers keep it: its functions' wire forms. */
export interface PluginSpec {
  name: string;
  setup?: WireFunction;
  teardown?: WireFunction;
}

/** `timeout`: ms each worker has to set it up (default 60 s). `idempotent`: a name already registered is left as it is. */
export type RegisterWorkerPlugin = { op: "register-worker-plugin"; idempotent?: boolean; timeout?: number } & PluginSpec;
export type UnregisterWorkerPlugin = { op: "unregister-worker-plugin"; name: string; timeout?: number };
export type PluginsToScheduler = RegisterWorkerPlugin | UnregisterWorkerPlugin;

export type PluginAdd = { op: "plugin-add" } & PluginSpec;
export type PluginRemove = { op: "plugin-remove"; name: string };
export type PluginsToWorker = PluginAdd | PluginRemove;

/** A worker's answer: every thread did it, or the first thread's error. */
export type PluginResult = { ok: true } | { ok: false; error: WireError };

export interface PluginsReplies {
  /** by worker address (none for an idempotent registration of a name already there) */
  "register-worker-plugin": { workers: Record<string, PluginResult> };
  "unregister-worker-plugin": { workers: Record<string, PluginResult> };
  "plugin-add": PluginResult;
  "plugin-remove": PluginResult;
}

const spec = (m: Message): void => {
  str(m, "name");
  optional(m, "setup", wireFunction);
  optional(m, "teardown", wireFunction);
};

export const pluginsParsers: Parsers<PluginsToScheduler> = {
  "register-worker-plugin": (m) => (spec(m), optional(m, "idempotent", bool), optional(m, "timeout", num), m as unknown as RegisterWorkerPlugin),
  "unregister-worker-plugin": (m) => (str(m, "name"), optional(m, "timeout", num), m as unknown as UnregisterWorkerPlugin),
};

export const pluginsToWorkerParsers: Parsers<PluginsToWorker> = {
  "plugin-add": (m) => (spec(m), m as unknown as PluginAdd),
  "plugin-remove": (m) => (str(m, "name"), m as unknown as PluginRemove),
};

/** A plugins op's message, checked (a ProtocolError names the bad field). */
export function parsePlugins<K extends PluginsToScheduler["op"]>(op: K, m: Message): Extract<PluginsToScheduler, { op: K }> {
  return (pluginsParsers[op] as (m: Message) => Extract<PluginsToScheduler, { op: K }>)(m);
}

/** The spec of a plugin, without the message's other fields. */
export function pluginSpec(m: PluginSpec): PluginSpec {
  const s: PluginSpec = { name: m.name };
  if (m.setup) s.setup = m.setup;
  if (m.teardown) s.teardown = m.teardown;
  return s;
}

/** A worker's answer from its threads' first error (none: ok). */
export const pluginResult = (error?: WireError): PluginResult => (error ? { ok: false, error } : { ok: true });

/** Whether two specs are the same plugin (a scheduler taking over sends the ones a worker has again). */
export function samePlugin(a: PluginSpec, b: PluginSpec): boolean {
  const same = (x?: WireFunction, y?: WireFunction) => JSON.stringify(x ?? null) === JSON.stringify(y ?? null);
  return a.name === b.name && same(a.setup, b.setup) && same(a.teardown, b.teardown);
}
