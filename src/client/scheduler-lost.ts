/**
 * What the client says when its scheduler is gone. The client waits its reconnect window
 * (`reconnectTimeout`) first; reconnecting and taking over (re-register, resubmit what is
 * pending) is a later step that plugs into that window (Client#schedulerGone).
 */
import { SchedulerLostError } from "../errors.js";

/** Default reconnect window (ms): about what a restarted scheduler needs to be back. */
export const DEFAULT_RECONNECT_TIMEOUT_MS = 10_000;

export function checkReconnectTimeout(v: unknown): number {
  if (v === undefined) return DEFAULT_RECONNECT_TIMEOUT_MS;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new TypeError(`reconnectTimeout must be a number of milliseconds >= 0 (0: do not wait), got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * @param reason why the connection ended (the comm's close reason)
 * @param wait the reconnect window and how long the client did wait
 * @param announced the reason the scheduler gave when it announced its own shutdown, if it did
 */
export function schedulerLostError(address: string, reason: string, wait: { windowMs: number; waitedMs: number }, announced?: string): SchedulerLostError {
  const { windowMs, waitedMs } = wait;
  const what = announced !== undefined ? `closed (it announced: ${announced})` : `was lost (${reason})`;
  const waited =
    announced !== undefined
      ? "it shut down on purpose, so the client did not wait for it"
      : windowMs > 0
        ? `the client waited ${waitedMs} ms for it to come back (reconnectTimeout ${windowMs} ms)`
        : "the client did not wait for it (reconnectTimeout 0)";
  return new SchedulerLostError(
    `the scheduler at ${address} ${what}; ${waited}; work that was pending is lost: ` +
      `check that the scheduler process is still running (its log, the batch job's state, an out-of-memory kill) ` +
      `and that this host can reach ${address}; then connect a new client and submit again`,
    { address, waitedMs },
  );
}
