/**
 * Garbage collection on demand, in this isolate (a worker's main thread or one of its task
 * threads). Memory that a worker frees (released results, a finished task's temporaries)
 * stays in its RSS until V8 collects, which an idle process may not do for many seconds; a
 * worker above its pause threshold collects before it trusts the measurement, at most once
 * per interval for the whole isolate: workers sharing a process share its heap, and a paused
 * worker whose memory is really in use must not collect in a loop.
 */
import v8 from "node:v8";
import vm from "node:vm";

let gc: (() => void) | undefined;

/** A full collection now. */
export function collectGarbage(): void {
  if (!gc) {
    // without --expose-gc on the command line: the flag applies to contexts made after it is
    // set, and such a context's `gc` collects the whole isolate
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as () => void;
  }
  gc();
}

let lastCollection = -Infinity;

/** A full collection now, unless this isolate had one from here within `everyMs`; whether it collected. */
export function collectGarbageAtMost(everyMs: number): boolean {
  const now = performance.now();
  if (now - lastCollection < everyMs) return false;
  lastCollection = now;
  collectGarbage();
  return true;
}
