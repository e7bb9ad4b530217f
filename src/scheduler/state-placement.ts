/**
 * Where a queued task runs (scheduler/state.ts calls these): among workers with a free slot (and
 * satisfying restrictions and resources), the one holding the most bytes of the task's
 * dependencies, else the least occupied. Slots per worker adapt to measured task durations (per
 * key prefix): fast tasks get a deeper pipeline, slow ones only ~2 per thread, so root tasks
 * queue on the scheduler instead of flooding. And the queue itself: a heap by priority then age.
 *
 * Workers that will retire (a lifetime, or their batch job's end: `retiresAt`) get no task
 * they would not finish by then, by the measured duration of its task group and the tasks
 * queued ahead of it there; unless no worker lives that long at all (it would never run).
 */
import { Heap } from "./state-heap.js";
import type { TaskRecord, WorkerRecord } from "./state-types.js";

/** Slots per thread when a task prefix's duration is unknown or long. */
export const MIN_SATURATION = 2;
/** Cap on slots per thread for very fast tasks. */
export const MAX_SATURATION = 256;
/** How much queued work (seconds) a worker's pipeline should hold. */
const PIPELINE_SECONDS = 0.02;

/** A key's task group: the part before the first "-" (the function's name, for submitted tasks). */
export function prefixOf(key: string): string {
  const i = key.indexOf("-");
  return i > 0 ? key.slice(0, i) : key;
}

/** Slots per thread for a task: deep pipelines for fast tasks, ~2 for slow or unknown ones. */
function saturation(durations: ReadonlyMap<string, number>, t: TaskRecord): number {
  const d = durations.get(t.prefix);
  if (d === undefined) return MIN_SATURATION;
  return Math.max(MIN_SATURATION, Math.min(MAX_SATURATION, Math.ceil(PIPELINE_SECONDS / Math.max(d, 1e-6))));
}

/** What placement needs to know of the workers' time left, when any will retire (else undefined: nothing to check). */
export interface TimeFit {
  now: number;
  /** the longest any current worker lives (registration to retirement); Infinity when one never retires */
  longestLifeMs: number;
}

/**
 * Whether `ws` finishes a task of `t`'s group before it retires: its time left covers the
 * group's measured duration for this task and for each round of tasks queued ahead of it there.
 * A group never measured, a worker that does not retire, or a task longer than any worker
 * lives, is not held back.
 */
export function inTime(ws: WorkerRecord, t: TaskRecord, durations: ReadonlyMap<string, number>, fit: TimeFit | undefined): boolean {
  if (fit === undefined || ws.retiresAt === undefined) return true;
  const d = durations.get(t.prefix);
  if (d === undefined || d * 1000 > fit.longestLifeMs) return true;
  const rounds = Math.floor(occupied(ws) / ws.nthreads) + 1;
  return ws.retiresAt - fit.now >= d * 1000 * rounds;
}

const ALWAYS = (_ws: WorkerRecord) => true;

/** Tasks processing on a worker that hold a thread there (seceded ones do not). */
export function occupied(ws: WorkerRecord): number {
  return ws.processing.size - ws.longRunning.size;
}

/** Lighter first: fewer occupied threads per thread (`load`, kept by reweigh), then the earlier registered. */
function lighter(a: WorkerRecord, b: WorkerRecord): boolean {
  return a.load !== b.load ? a.load < b.load : a.seq < b.seq;
}

/** The workers of one thread count that may get tasks: bucket k lists those with k occupied threads, oldest arrival first. */
interface ThreadClass {
  heads: Array<WorkerRecord | undefined>;
  tails: Array<WorkerRecord | undefined>;
  /** the lowest bucket not empty (when `size` > 0) */
  min: number;
  size: number;
}

/**
 * Workers that may get tasks (neither retiring nor paused), lightest first, as bucket queues:
 * one per distinct thread count, indexed by occupied threads, each bucket an intrusive list.
 * A task placed or finished moves its worker one bucket (O(1)), and the lightest is the head of
 * a class's lowest bucket: placement costs the same at 1,000 workers as at 10. Among workers
 * equally loaded, the one that reached that load first comes first (registration order while
 * none has moved: the first round goes one task per worker in that order).
 */
export class FreeWorkers {
  readonly #byThreads = new Map<number, ThreadClass>();
  /** the same classes, for walking (few: one per distinct thread count) */
  readonly #classes: ThreadClass[] = [];

  /** After a worker's load, closing or paused changed (or it came or went): move it to its bucket, or in or out. */
  reweigh(ws: WorkerRecord): void {
    const k = occupied(ws);
    ws.load = k / ws.nthreads;
    if (ws.closing || ws.paused) return this.remove(ws);
    if (ws.bucket === k) return;
    this.remove(ws);
    const c = this.#classOf(ws.nthreads);
    while (c.heads.length <= k) {
      c.heads.push(undefined);
      c.tails.push(undefined);
    }
    const tail = c.tails[k];
    ws.prevFree = tail;
    ws.nextFree = undefined;
    if (tail) tail.nextFree = ws;
    else c.heads[k] = ws;
    c.tails[k] = ws;
    ws.bucket = k;
    if (c.size++ === 0 || k < c.min) c.min = k;
  }

  remove(ws: WorkerRecord): void {
    const k = ws.bucket;
    if (k < 0) return;
    const c = this.#byThreads.get(ws.nthreads)!;
    const { prevFree: prev, nextFree: next } = ws;
    if (prev) prev.nextFree = next;
    else c.heads[k] = next;
    if (next) next.prevFree = prev;
    else c.tails[k] = prev;
    ws.prevFree = ws.nextFree = undefined;
    ws.bucket = -1;
    // a worker moves one bucket at a time: the next one up is usually the new lowest
    if (--c.size > 0 && k === c.min) while (c.heads[c.min] === undefined) c.min++;
  }

  /** The lightest (then the earliest to reach its load; between thread counts, the earlier registered). */
  peek(): WorkerRecord | undefined {
    const cs = this.#classes;
    if (cs.length === 1) return cs[0]!.size ? cs[0]!.heads[cs[0]!.min] : undefined;
    let top: WorkerRecord | undefined;
    for (const c of cs) {
      const h = c.size ? c.heads[c.min]! : undefined;
      if (h && (!top || lighter(h, top))) top = h;
    }
    return top;
  }

  /**
   * The first worker, lightest first, that `test` says "yes" to, looking past those it says
   * "skip" to and giving up at "stop", or after `limit` skips (then undefined, as for nothing
   * found: the caller may look another way).
   */
  search(test: (ws: WorkerRecord) => "yes" | "skip" | "stop", limit: number): { found: WorkerRecord | undefined; gaveUp: boolean } {
    // one cursor per class, merged by load
    const at = this.#classes.map((c) => (c.size ? c.heads[c.min] : undefined));
    for (let skips = 0; ; skips++) {
      let i = -1;
      for (let j = 0; j < at.length; j++) if (at[j] && (i < 0 || lighter(at[j]!, at[i]!))) i = j;
      if (i < 0) return { found: undefined, gaveUp: false };
      const ws = at[i]!;
      const r = test(ws);
      if (r !== "skip") return { found: r === "yes" ? ws : undefined, gaveUp: false };
      if (skips === limit) return { found: undefined, gaveUp: true };
      at[i] = ws.nextFree ?? this.#after(this.#classes[i]!, ws.bucket);
    }
  }

  /** The head of the first bucket above k that is not empty. */
  #after(c: ThreadClass, k: number): WorkerRecord | undefined {
    for (let b = k + 1; b < c.heads.length; b++) if (c.heads[b]) return c.heads[b];
    return undefined;
  }

  #classOf(nthreads: number): ThreadClass {
    let c = this.#byThreads.get(nthreads);
    if (!c) {
      c = { heads: [], tails: [], min: 0, size: 0 };
      this.#byThreads.set(nthreads, c);
      this.#classes.push(c);
    }
    return c;
  }
}

/**
 * The worker `t` should run on now, or undefined when none has a slot it may use. Costs the
 * same at 1,000 workers as at 10 for the usual task: the holders of its dependencies are looked
 * at, then the lightest worker (the first of `free`). Only tasks restricted to workers or needing
 * resources (few, and not placed by the thousand) still look at every worker.
 */
export function pickWorker(
  workers: ReadonlyMap<string, WorkerRecord>, free: FreeWorkers, durations: ReadonlyMap<string, number>, t: TaskRecord, fit?: TimeFit,
): WorkerRecord | undefined {
  const slots = saturation(durations, t);
  const allowed = t.placement?.workers;
  // no closure per task unless some worker will retire (the hot path places a million tasks)
  const timely = fit === undefined ? ALWAYS : (ws: WorkerRecord) => inTime(ws, t, durations, fit);
  if (t.placement?.resources) {
    const fits = (ws: WorkerRecord) => (!allowed || allowed.includes(ws.name) || allowed.includes(ws.address)) && timely(ws);
    return best(workers.values(), slots, t, fits) ?? (allowed && t.placement!.allowOtherWorkers ? best(workers.values(), slots, t, timely) : undefined);
  }
  if (allowed) {
    const named: WorkerRecord[] = [];
    for (const ws of workers.values()) if (allowed.includes(ws.name) || allowed.includes(ws.address)) named.push(ws);
    return best(named, slots, t, timely) ?? (t.placement!.allowOtherWorkers ? anyWorker(workers, free, slots, t, timely) : undefined);
  }
  return anyWorker(workers, free, slots, t, timely);
}

/** Workers retiring too soon looked past, lightest first, before placement looks at every worker. */
const SKIP_AT_MOST = 32;

/**
 * Unrestricted: the free holder of the most bytes of t's dependencies, else the lightest
 * worker; when that one retires too soon for the task, the lightest of those in time (workers
 * near their end are the lightest, as they get no tasks: they are looked past in `free`, and
 * only past SKIP_AT_MOST of them is every worker looked at).
 */
function anyWorker(workers: ReadonlyMap<string, WorkerRecord>, free: FreeWorkers, slots: number, t: TaskRecord, timely: (ws: WorkerRecord) => boolean): WorkerRecord | undefined {
  if (t.dependencies.length > 0) {
    const holders = new Set<WorkerRecord>();
    for (const dep of t.dependencies) {
      if (dep.nbytes <= 0) continue; // holds nothing that counts: as good as any worker
      for (const a of dep.whoHas) {
        const ws = workers.get(a);
        if (ws) holders.add(ws);
      }
    }
    const found = holders.size ? best(holders, slots, t, timely) : undefined;
    if (found) return found;
  }
  const top = free.peek();
  if (!top || occupied(top) >= top.nthreads * slots) return undefined;
  if (timely(top)) return top;
  // lighter first: once one has no free slot, none after it has
  const { found, gaveUp } = free.search((ws) => (occupied(ws) >= ws.nthreads * slots ? "stop" : timely(ws) ? "yes" : "skip"), SKIP_AT_MOST);
  return gaveUp ? best(workers.values(), slots, t, timely) : found;
}

/** Among `candidates` with a free slot: the most bytes of t's dependencies, then the lightest, then the earliest registered. */
function best(candidates: Iterable<WorkerRecord>, slots: number, t: TaskRecord, ok: (ws: WorkerRecord) => boolean): WorkerRecord | undefined {
  let found: WorkerRecord | undefined;
  let bestBytes = -1;
  for (const ws of candidates) {
    if (ws.closing || ws.paused || occupied(ws) >= ws.nthreads * slots || !ok(ws) || !hasResources(ws, t)) continue;
    let bytes = 0;
    for (const dep of t.dependencies) if (dep.whoHas.has(ws.address)) bytes += dep.nbytes;
    if (!found || bytes > bestBytes || (bytes === bestBytes && lighter(ws, found))) {
      found = ws;
      bestBytes = bytes;
    }
  }
  return found;
}

function hasResources(ws: WorkerRecord, t: TaskRecord): boolean {
  const need = t.placement?.resources;
  if (!need) return true;
  for (const [r, n] of Object.entries(need)) {
    if ((ws.resources?.[r] ?? 0) - (ws.used[r] ?? 0) < n) return false;
  }
  return true;
}

/** Queued tasks: higher priority first, then submission order. */
export class TaskHeap extends Heap<TaskRecord> {
  constructor() {
    super((a, b) => {
      return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
    });
  }
}
