/**
 * The scheduler extensions every deployment runs (the scheduler imports none of them; its
 * construction sites add them here): startScheduler (roles.ts), and through it every launcher,
 * and the tests' withCluster. The dashboard is added only when asked (dashboard.ts).
 */
import type { ExtensionSource } from "../scheduler/extension.js";
import type { SchedulerOptions } from "../scheduler/options.js";


/**
 * The built-in extensions, loaded lazily (each a loader): one line per extension. `o`: the
 * scheduler's file and secret, for the notebooks of a Jupyter started next to it.
 */
export function builtinExtensions(o?: Pick<SchedulerOptions, "schedulerFile" | "secret">): ExtensionSource[] {
  return [
    async () => (await import("../extensions/datasets.js")).datasetsExtension(),
    async () => (await import("../extensions/worker-plugins.js")).workerPluginsExtension(),
    async () => (await import("../extensions/restart-workers.js")).restartWorkersExtension(),
    async () => (await import("../extensions/coordination/index.js")).coordinationExtension(),
    async () => (await import("../extensions/task-stream.js")).taskStreamExtension(),
    async () => (await import("../extensions/pending.js")).pendingExtension(),
    async () => (await import("../extensions/jupyter/index.js")).jupyterExtension({ schedulerFile: o?.schedulerFile, secret: o?.secret }),
  ];
}

/** `o` with the built-in extensions before its own. */
export function withBuiltins(o: SchedulerOptions): SchedulerOptions {
  return { ...o, extensions: [...builtinExtensions(o), ...(o.extensions ?? [])] };
}
