/**
 * The dashboard as a scheduler extension: deploy (or a program) passes
 * `extensions: [dashboardExtension(":8787")]` to Scheduler.start. Its HTTP modules load while
 * the scheduler's socket opens; the address is checked at once.
 */
import { logger } from "../log.js";
import type { ExtensionSource } from "../scheduler/extension.js";
import { parseDashboardAddress } from "./address.js";

export { parseDashboardAddress } from "./address.js";

/** Serve the dashboard at `address` (`:8787`, `host:8787`; a taken port falls back to a free one). */
export function dashboardExtension(address: string): ExtensionSource {
  parseDashboardAddress(address);
  return async () => {
    const { Dashboard } = await import("./server.js");
    let dashboard: Awaited<ReturnType<typeof Dashboard.start>> | undefined;
    return {
      name: "dashboard",
      async start(scheduler, net) {
        dashboard = await Dashboard.start(scheduler, address, net.bind, net.advertise);
        logger("scheduler").info({ dashboard: dashboard.url }, "dashboard at");
        return { services: { dashboard: dashboard.url } };
      },
      onTaskFinished(e) {
        if (dashboard?.watched) dashboard.taskFinished(e.key, e.worker, e.durationS, e.at);
      },
      close: async () => dashboard?.close(),
    };
  };
}
