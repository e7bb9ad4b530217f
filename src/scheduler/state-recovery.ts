/**
 * The state machine's recovery from values lost and tasks failed: a worker that could not get a
 * dependency (missing-data), a worker that lost values nobody freed (release-worker-data), and
 * erred tasks run again on request (retry). No I/O; each function acts on the graph of one
 * SchedulerState (state.ts), which calls it.
 */
import { Op } from "../protocol/ops.js";
import type { TaskGraph } from "./state-transitions.js";
import { type Instruction, type TaskRecord, TaskState, type WorkerRecord } from "./state-types.js";

/** A worker could not get a dependency: holders that said they lack it are dropped (freed there unless a task there needs it); stale from a `run` that ended. */
export function missingData(g: TaskGraph, worker: string, key: string, missing: string, holders: string[], stimulusId: string, run?: number): Instruction[] {
  const t = g.tasks.get(key);
  if (run !== undefined && t?.run !== run) {
    g.dropped(key, t, worker, "missing-data", stimulusId);
    return g.flush();
  }
  const dep = g.tasks.get(missing);
  if (dep) {
    for (const h of holders) {
      if (dropHolder(g, dep, h) && ![...dep.dependents].some((d) => d.processingOn === h)) g.freeKey(h, missing);
    }
    if (dep.state === TaskState.memory && dep.whoHas.size === 0) g.lost(dep, stimulusId);
  }
  const ws = g.workers.get(worker);
  if (t && ws && t.state === TaskState.processing && t.processingOn === worker) placeAgain(g, t, ws, stimulusId);
  g.fill(stimulusId);
  return g.flush();
}

/**
 * `worker` no longer holds these values, though nobody freed them (it could not read one back
 * from its spill file): it is no holder of them, a task there that needs one waits again (or
 * runs elsewhere), and a value that lost its last copy is computed again (lost). A report
 * about another value of its key (`runs`) is stale.
 */
export function releaseWorkerData(g: TaskGraph, worker: string, keys: string[], runs: Record<string, number>, stimulusId: string): Instruction[] {
  const ws = g.workers.get(worker);
  for (const key of keys) {
    const t = g.tasks.get(key);
    if (!ws || !t) continue;
    if (t.whoHas.has(worker) && (runs[key] === undefined || runs[key] === t.run)) dropHolder(g, t, worker);
    // the worker dropped every task of its own that needed the value
    for (const d of t.dependents) if (d.state === TaskState.processing && d.processingOn === worker) placeAgain(g, d, ws, stimulusId);
    if (t.state === TaskState.memory && t.whoHas.size === 0) g.lost(t, stimulusId, `on ${worker}: it could not be read back from its spill file`);
  }
  g.fill(stimulusId);
  return g.flush();
}

/**
 * Erred tasks run again (Dask's `retry`): each erred key of `keys`, the erred tasks it erred
 * because of up to those whose own run failed (the roots), and every task that erred with
 * those, go back to waiting, and their clients hear they are pending again (key-lost). A task
 * that also depends on another erred task errs again at once. The keys made pending.
 */
export function retry(g: TaskGraph, keys: string[], stimulusId: string): { keys: string[]; instructions: Instruction[] } {
  const erred = (t: TaskRecord | undefined): t is TaskRecord => t?.state === TaskState.erred;
  const up = keys.map((k) => g.tasks.get(k)).filter(erred);
  const again = new Set<TaskRecord>();
  const roots: TaskRecord[] = [];
  for (let t = up.pop(); t; t = up.pop()) {
    if (again.has(t)) continue;
    again.add(t);
    const deps = [...t.dependencies].filter(erred);
    if (deps.length) up.push(...deps);
    else roots.push(t);
  }
  // down from the roots: every task that erred with them
  for (const down = roots; down.length; ) for (const d of down.pop()!.dependents) if (erred(d) && !again.has(d)) again.add(d), down.push(d);
  // every one released first (its error cleared), so that none goes back to waiting behind a
  // dependency still erred
  for (const t of again) {
    for (const c of t.wantedBy) g.sendClient(c, { op: Op.keyLost, key: t.key });
    g.transition(t, TaskState.released, stimulusId, "retried");
  }
  for (const t of again) {
    if (t.state !== TaskState.released) continue; // pulled into waiting by a dependent
    if (t.wantedBy.size > 0 || [...t.dependents].some((d) => d.state === TaskState.waiting)) g.transition(t, TaskState.waiting, stimulusId);
    else g.maybeRelease(t, stimulusId);
  }
  g.fill(stimulusId);
  return { keys: [...again].map((t) => t.key), instructions: g.flush() };
}

/** `address` is no holder of `t`'s value: true if its worker counted it (and no longer does). */
function dropHolder(g: TaskGraph, t: TaskRecord, address: string): boolean {
  t.whoHas = g.names.without(t.whoHas, address);
  const ws = g.workers.get(address);
  if (!ws?.hasWhat.delete(t)) return false;
  ws.nbytes -= t.nbytes;
  return true;
}

/** A task placed on `ws` that will not finish there: queued again if its inputs are in memory, else waiting for them. */
function placeAgain(g: TaskGraph, t: TaskRecord, ws: WorkerRecord, stimulusId: string): void {
  g.stopProcessing(t, ws);
  g.transition(t, g.ready(t) ? TaskState.queued : TaskState.waiting, stimulusId);
}
