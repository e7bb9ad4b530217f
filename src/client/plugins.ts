/**
 * Worker plugins from the client (Dask's `register_plugin` of a WorkerPlugin, and
 * `unregister_worker_plugin`): the plugin is checked here and its functions go as their wire
 * forms (shipped as source, or `remote()` exports); the scheduler's worker-plugins extension
 * sets it up on every worker (src/extensions/worker-plugins.ts), and a task reads its value
 * with `workerPlugin(name)` (protocol/task-context.ts).
 */
import { WorkerPluginError } from "../errors.js";
import type { Message } from "../protocol/messages.js";
import type { PluginResult, PluginsReplies } from "../protocol/messages-plugins.js";
import type { WireFunction } from "../protocol/functions.js";
import { Op } from "../protocol/ops.js";
import { describeValue } from "./arguments.js";
import { checkFinite, checkTimeout } from "./timeout.js";

/**
 * A worker plugin: `setup` runs once on each task thread of each worker (now, on workers and
 * threads that start later, and before the tasks submitted after the registration), and what
 * it returns (awaited) is what `workerPlugin(name)` gives a task on that thread. `teardown` is
 * given that value when the plugin is unregistered or replaced, and when the worker closes
 * (not when a thread or process is killed). Both are shipped as source, as task functions are:
 * self-contained, or reaching what they need by `import()`.
 */
export interface WorkerPlugin<S = unknown> {
  name: string;
  setup?: () => S | Promise<S>;
  teardown?: (value: Awaited<S>) => unknown;
}

export interface PluginOptions {
  /** How long (ms) each worker has to set the plugin up (or take it down); default 60 s. */
  timeout?: number;
}

export interface PluginsHost {
  checkOpen(): void;
  request<T>(msg: Message, timeoutMs: number): Promise<T>;
  wire(fn: unknown): WireFunction;
}

const PLUGIN_TIMEOUT_MS = 60_000;
/** a setup that never returns must not hold the registration forever */
const BOUNDED = "each worker's setup or teardown is bounded";
/** The scheduler's own time on top of the workers' (its journal's sync, its reply). */
const MARGIN_MS = 10_000;

export async function register<S>(c: PluginsHost, plugin: WorkerPlugin<S>, options: PluginOptions & { idempotent?: boolean } = {}): Promise<Record<string, "ok">> {
  c.checkOpen();
  if (typeof plugin !== "object" || plugin === null) throw new TypeError(`registerWorkerPlugin: the plugin must be an object { name, setup?, teardown? }, got ${describeValue(plugin)}`);
  const { name, setup, teardown } = plugin;
  if (typeof name !== "string" || name === "") throw new TypeError(`registerWorkerPlugin: the plugin's name must be a non-empty string, got ${describeValue(name)}`);
  for (const [field, fn] of [["setup", setup], ["teardown", teardown]] as const) {
    if (fn !== undefined && typeof fn !== "function") throw new TypeError(`registerWorkerPlugin: plugin ${JSON.stringify(name)}'s ${field} must be a function, got ${describeValue(fn)}`);
  }
  checkTimeout("registerWorkerPlugin", options.timeout);
  checkFinite("registerWorkerPlugin", options.timeout, BOUNDED);
  if (options.idempotent !== undefined && typeof options.idempotent !== "boolean") throw new TypeError(`registerWorkerPlugin: idempotent must be true or false, got ${describeValue(options.idempotent)}`);
  const timeout = options.timeout ?? PLUGIN_TIMEOUT_MS;
  const msg: Message = { op: Op.registerWorkerPlugin, name, timeout };
  if (setup) msg.setup = c.wire(setup);
  if (teardown) msg.teardown = c.wire(teardown);
  if (options.idempotent) msg.idempotent = true;
  const r = await c.request<PluginsReplies["register-worker-plugin"]>(msg, timeout + MARGIN_MS);
  return allOk(name, "setup", r.workers);
}

export async function unregister(c: PluginsHost, name: string, options: PluginOptions = {}): Promise<void> {
  c.checkOpen();
  if (typeof name !== "string" || name === "") throw new TypeError(`unregisterWorkerPlugin: the name must be a non-empty string, got ${describeValue(name)}`);
  checkTimeout("unregisterWorkerPlugin", options.timeout);
  checkFinite("unregisterWorkerPlugin", options.timeout, BOUNDED);
  const timeout = options.timeout ?? PLUGIN_TIMEOUT_MS;
  const r = await c.request<PluginsReplies["unregister-worker-plugin"]>({ op: Op.unregisterWorkerPlugin, name, timeout }, timeout + MARGIN_MS);
  allOk(name, "teardown", r.workers);
}

/** Each worker's "ok", or the first failed worker's error. */
function allOk(plugin: string, step: "setup" | "teardown", workers: Record<string, PluginResult>): Record<string, "ok"> {
  const out: Record<string, "ok"> = {};
  for (const [address, r] of Object.entries(workers)) {
    if (!r.ok) throw new WorkerPluginError(plugin, step, address, r.error);
    out[address] = "ok";
  }
  return out;
}
