/**
 * The one place that wires terminating signals: every launcher stops what it started on
 * SIGINT/SIGTERM (Ctrl-C, scancel, a batch system's kill), and a process that submitted jobs
 * cancels them before a signal nobody handles would end it without an exit event.
 */
import { constants } from "node:os";

const STOP_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM"];

/**
 * Stop `h` (a role, or anything that stops) on the first of `signals`, with the reason `received SIGxxx`. Returns a function
 * that takes the handlers off again.
 */
export function stopOnSignals(h: { stop(reason: string): unknown }, signals: readonly NodeJS.Signals[] = STOP_SIGNALS): () => void {
  const handlers = signals.map((sig) => {
    const on = () => void h.stop(`received ${sig}`);
    process.once(sig, on);
    return [sig, on] as const;
  });
  return () => {
    for (const [sig, on] of handlers) process.off(sig, on);
  };
}

/**
 * On each of `signals`: run `cleanup` (synchronous) and exit with 128 + the signal's number,
 * as the default action's status says. With `unlessHandled`, only the signals nothing else
 * handles yet. Returns the signals taken.
 */
export function exitOnSignals(cleanup: () => void, signals: readonly NodeJS.Signals[] = STOP_SIGNALS, o: { unlessHandled?: boolean } = {}): NodeJS.Signals[] {
  const taken = o.unlessHandled ? signals.filter((sig) => process.listenerCount(sig) === 0) : [...signals];
  for (const sig of taken) {
    process.once(sig, () => {
      cleanup();
      process.exit(128 + constants.signals[sig]);
    });
  }
  return taken;
}
