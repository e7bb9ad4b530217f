/**
 * The state machine's part of a take-over (scheduler/take-over.ts does the I/O): workers that
 * outlived a scheduler join its successor with what they hold, errors the journal kept err again,
 * and scattered data the journal kept waits for its holder through the grace. No I/O; each
 * function acts on the graph of one SchedulerState (state.ts), which calls it.
 *
 * Scattered data has no lineage: a replayed scattered key (fn null) is `waiting` and in
 * `TaskGraph.awaitingHolder`, which keeps it off the queue (state-transitions.ts toWaiting) and
 * lets tasks depending on it wait for it. Its holder re-registering puts it in memory
 * (addHolders); at the grace's end the keys still waiting are lost (lostScattered), as scattered
 * data lost with its worker is.
 */
import { Op, type WireError } from "../protocol/ops.js";
import { type TaskGraph, newRun } from "./state-transitions.js";
import { type Instruction, type TaskRecord, TaskState, type WorkerRecord } from "./state-types.js";

/**
 * The workers (already in the graph) with the results they still hold: each held key the graph
 * knows is in memory there, not computed again (its wanters hear so). A held key being computed
 * again elsewhere (its holder came back late) is taken from the holder and that run stopped.
 * Returns the held keys the graph does not know, per worker, to free.
 */
export function addHolders(g: TaskGraph, entries: Array<{ ws: WorkerRecord; held: Record<string, number> }>, stimulusId: string): { instructions: Instruction[]; unknown: Map<string, string[]> } {
  const unknown = new Map<string, string[]>();
  for (const { ws, held } of entries) {
    const drop: string[] = [];
    for (const [key, nbytes] of Object.entries(held)) {
      const t = g.tasks.get(key);
      if (!t || t.state === TaskState.forgotten) {
        drop.push(key);
        continue;
      }
      t.nbytes = nbytes;
      if (t.state !== TaskState.memory) t.run = newRun(); // this scheduler's number for it (the holder forgot the old one's)
      if (t.state === TaskState.processing) {
        // being computed again (this holder came back late): take the held result, stop that run
        const other = g.workers.get(t.processingOn!);
        if (other) {
          g.stopProcessing(t, other);
          g.freeKey(other.address, key);
        }
        g.addReplica(t, ws);
        g.transition(t, TaskState.memory, stimulusId); // tells its clients, as a finish does
        continue;
      }
      g.addReplica(t, ws);
      if (t.state !== TaskState.memory) {
        g.transition(t, TaskState.memory, stimulusId);
        for (const c of t.wantedBy) g.sendClient(c, { op: Op.keyInMemory, key, nbytes, worker: ws.address });
      }
    }
    if (drop.length) unknown.set(ws.address, drop);
  }
  g.fill(stimulusId);
  return { instructions: g.flush(), unknown };
}

/** Keys the journal has as erred err again (dependents with them), not computed again. */
export function restoreErred(g: TaskGraph, errors: Iterable<[string, WireError]>, stimulusId: string): Instruction[] {
  for (const [key, error] of errors) {
    const t = g.tasks.get(key);
    if (!t || (t.state !== TaskState.waiting && t.state !== TaskState.queued)) continue;
    t.error = error;
    g.transition(t, TaskState.erred, stimulusId, "erred before the take-over (journal)");
  }
  return g.flush();
}

/**
 * Scattered keys `client` wants (or its tasks depend on), as the journal kept them: each waits
 * for its holder. `scattered(key)` makes a scattered key's record.
 */
export function awaitScattered(g: TaskGraph, client: string, keys: string[], scattered: (key: string) => TaskRecord, stimulusId: string): Instruction[] {
  for (const key of keys) {
    let t = g.tasks.get(key);
    if (!t || t.state === TaskState.forgotten) {
      g.tasks.set(key, (t = scattered(key)));
      g.awaitingHolder.add(t);
    }
    t.wantedBy = g.names.with(t.wantedBy, client);
    if (t.state === TaskState.released && g.awaitingHolder.has(t)) g.transition(t, TaskState.waiting, stimulusId);
  }
  return g.flush();
}

/** The grace is over: scattered keys whose holder did not come back are lost (their dependents err). */
export function lostScattered(g: TaskGraph, stimulusId: string): Instruction[] {
  const waiting = [...g.awaitingHolder].filter((t) => t.state === TaskState.waiting);
  g.awaitingHolder.clear();
  for (const t of waiting) {
    t.error = { name: "LostDataError", message: `scattered data ${JSON.stringify(t.key)} was lost: the worker holding it did not come back to the scheduler that took over`, stack: "" };
    g.transition(t, TaskState.erred, stimulusId, "its holder did not re-register after the take-over");
  }
  return g.flush();
}
