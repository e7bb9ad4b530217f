/**
 * When a worker retires: the end of its lifetime (with its stagger) or its batch job's end
 * minus the margin, whichever comes first. Pure: worker.ts sets the timer.
 */
import type { WorkerOptions } from "./options.js";

/** setTimeout's longest wait. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Retirement {
  /** ms since the epoch */
  at: number;
  reason: string;
  restartable: boolean;
  /** how long running tasks may take to finish (undefined: the scheduler's own bound) */
  drainMs?: number;
}

/** When a worker registered `now` retires: the end of its lifetime (± stagger) or its job's end minus the margin, whichever comes first. */
export function retirement(o: WorkerOptions, now: number): Retirement | undefined {
  let r: Retirement | undefined;
  if (o.lifetimeMs) {
    const stagger = o.lifetimeStaggerMs ?? 0;
    r = { at: now + Math.max(0, o.lifetimeMs + (Math.random() * 2 - 1) * stagger), reason: `lifetime of ${o.lifetimeMs} ms reached`, restartable: true };
  }
  const end = o.jobEnd;
  if (end !== undefined && (!r || end.at - end.marginMs < r.at)) {
    const reason = `its job ends at ${new Date(end.at).toISOString()} (walltime), in ${end.marginMs} ms or less`;
    r = { at: end.at - end.marginMs, reason, restartable: false, drainMs: end.marginMs / 2 };
  }
  return r;
}
