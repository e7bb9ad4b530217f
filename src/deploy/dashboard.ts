/**
 * The launchers' `dashboardAddress` as the dashboard extension, applied by startScheduler
 * (roles.ts): the scheduler imports no extension, its construction site does.
 */
import { dashboardExtension } from "../dashboard/index.js";
import type { SchedulerOptions } from "../scheduler/options.js";

/** `o` with its `dashboardAddress` (if any) moved into `extensions`. */
export function withDashboard(o: SchedulerOptions): SchedulerOptions {
  const { dashboardAddress, ...rest } = o;
  if (dashboardAddress === undefined) return rest;
  return { ...rest, extensions: [...(rest.extensions ?? []), dashboardExtension(dashboardAddress)] };
}
