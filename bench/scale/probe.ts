/**
 * What the scale fixtures read off the scheduler process (started with --expose-gc) through
 * runOnScheduler: its heap after a forced full GC, its CPU time, how many tasks and workers it
 * holds, and its longest event-loop block. The function travels as source text, so it names nothing outside itself.
 */
import type { Client } from "../../src/index.js";

export interface SchedulerSample {
  /** bytes of V8 heap in use after gc() */
  heap: number;
  rss: number;
  /** user + system CPU microseconds so far */
  cpuUs: number;
  tasks: number;
  workers: number;
  /** the longest the scheduler's event loop was blocked since watchStalls(), ms */
  maxStallMs: number;
}

/**
 * Watch the scheduler's event loop from now on (its longest block shows in every sample):
 * a scheduler busy in one handler answers nobody, heartbeats included.
 */
export function watchStalls(client: Client): Promise<void> {
  return client.runOnScheduler(async () => {
    const { monitorEventLoopDelay } = await import("node:perf_hooks");
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    (globalThis as { benchStalls?: unknown }).benchStalls = h;
  });
}

export function sampleScheduler(client: Client, collect = true): Promise<SchedulerSample> {
  return client.runOnScheduler(
    (full: boolean, ctx: { scheduler: { state: { tasks: { size: number }; workers: { size: number } } } }) => {
      const g = globalThis as { gc?: () => void; benchStalls?: { max: number; reset(): void }; benchMaxStall?: number };
      // the forced collections block the loop too: they are left out of the longest block
      const stalls = g.benchStalls;
      const longest = () => Math.max(g.benchMaxStall ?? 0, stalls ? stalls.max / 1e6 : 0);
      if (full) {
        if (!g.gc) throw new Error("the scheduler must run with node --expose-gc");
        g.benchMaxStall = longest();
        g.gc();
        g.gc();
        stalls?.reset();
      }
      const m = process.memoryUsage();
      const u = process.cpuUsage();
      const maxStallMs = longest();
      return { heap: m.heapUsed, rss: m.rss, cpuUs: u.user + u.system, tasks: ctx.scheduler.state.tasks.size, workers: ctx.scheduler.state.workers.size, maxStallMs };
    },
    collect,
  );
}

/**
 * The fixtures' clients: no heartbeat timeout, since a scheduler blocked in one long handler
 * (a 1M-task graph, placement over 1,000 workers) is what is measured here (maxStallMs), not a loss.
 */
export const BENCH_CLIENT = { heartbeatTimeout: Infinity } as const;

/** CPU microseconds of this process so far. */
export function ownCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}
