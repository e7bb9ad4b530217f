/**
 * Jobs must not outlive the program that submitted them: every live cluster's jobs are
 * cancelled at exit, and on a terminating signal nobody else handles (the default would kill
 * the process without an exit event).
 */
import { exitOnSignals } from "../deploy/signals.js";

interface Cancellable {
  cancelAllSync(): void;
}

const live = new Set<Cancellable>();
let hooksInstalled = false;

function cancelLive(): void {
  for (const c of live) c.cancelAllSync();
  live.clear();
}

/** The live clusters: add() installs the hooks the first time. */
export const cancelAtExit = {
  add(c: Cancellable): void {
    live.add(c);
    if (hooksInstalled) return;
    hooksInstalled = true;
    process.on("exit", cancelLive);
    exitOnSignals(cancelLive, ["SIGINT", "SIGTERM", "SIGHUP"], { unlessHandled: true });
  },
  delete(c: Cancellable): void {
    live.delete(c);
  },
};
