/**
 * Garbage collection on demand, in this isolate (a worker's main thread or one of its task
 * threads). Memory that a worker frees (released results, a finished task's temporaries)
 * stays in its RSS until V8 collects, which an idle process may not do for many seconds; a
 * worker above its pause threshold collects before it trusts the measurement.
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
