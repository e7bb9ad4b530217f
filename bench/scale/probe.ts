/**
 * What the scale fixtures read off the scheduler process (started with --expose-gc) through
 * runOnScheduler: its heap after a forced full GC, its CPU time, and how many tasks and
 * workers it holds. The function travels as source text, so it names nothing outside itself.
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
}

export function sampleScheduler(client: Client, collect = true): Promise<SchedulerSample> {
  return client.runOnScheduler(
    (full: boolean, ctx: { scheduler: { state: { tasks: { size: number }; workers: { size: number } } } }) => {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (full) {
        if (!gc) throw new Error("the scheduler must run with node --expose-gc");
        gc();
        gc();
      }
      const m = process.memoryUsage();
      const u = process.cpuUsage();
      return { heap: m.heapUsed, rss: m.rss, cpuUs: u.user + u.system, tasks: ctx.scheduler.state.tasks.size, workers: ctx.scheduler.state.workers.size };
    },
    collect,
  );
}

/** CPU microseconds of this process so far. */
export function ownCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}
