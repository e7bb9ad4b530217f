/**
 * `dask-mpi-ts/server`: the roles, for programs that start a scheduler or workers themselves
 * (the launchers and tests do). Not loaded by the package entry.
 */
export { Scheduler } from "../scheduler/server.js";
export type { SchedulerOptions } from "../scheduler/options.js";
export { Worker } from "../worker/worker.js";
export type { JobEnd, WorkerOptions } from "../worker/options.js";
export { Nanny } from "../nanny/nanny.js";
export type { NannyOptions } from "../nanny/options.js";
// the dashboard is a scheduler extension: Scheduler.start(withDashboard({ ..., dashboardAddress }))
// or Scheduler.start({ ..., extensions: [dashboardExtension(":8787")] })
export { dashboardExtension } from "../dashboard/index.js";
export { withDashboard } from "./dashboard.js";
// the built-in extensions (datasets, coordination primitives, ...) every launcher runs
export { builtinExtensions, withBuiltins } from "./extensions.js";
export type { SchedulerExtension, ExtensionSource } from "../scheduler/extension.js";
