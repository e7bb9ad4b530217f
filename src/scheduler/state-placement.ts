/**
 * Where a queued task runs (scheduler/state.ts calls these): among workers with a free slot (and
 * satisfying restrictions and resources), the one holding the most bytes of the task's
 * dependencies, else the least occupied. Slots per worker adapt to measured task durations (per
 * key prefix): fast tasks get a deeper pipeline, slow ones only ~2 per thread, so root tasks
 * queue on the scheduler instead of flooding. And the queue itself: a heap by priority then age.
 */
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
  const d = durations.get(prefixOf(t.spec.key));
  if (d === undefined) return MIN_SATURATION;
  return Math.max(MIN_SATURATION, Math.min(MAX_SATURATION, Math.ceil(PIPELINE_SECONDS / Math.max(d, 1e-6))));
}

/** The worker `t` should run on now, or undefined when none has a slot it may use. */
export function pickWorker(workers: ReadonlyMap<string, WorkerRecord>, durations: ReadonlyMap<string, number>, t: TaskRecord): WorkerRecord | undefined {
  const allowed = t.spec.workers;
  const fits = (ws: WorkerRecord) => !allowed || allowed.includes(ws.name) || allowed.includes(ws.address);
  const slots = saturation(durations, t);
  return best(workers, slots, t, fits) ?? (allowed && t.spec.allowOtherWorkers ? best(workers, slots, t, () => true) : undefined);
}

function best(workers: ReadonlyMap<string, WorkerRecord>, slots: number, t: TaskRecord, ok: (ws: WorkerRecord) => boolean): WorkerRecord | undefined {
  let found: WorkerRecord | undefined;
  let bestBytes = -1;
  let bestLoad = Infinity;
  for (const ws of workers.values()) {
    // seceded tasks (long-running) wait on others and hold no thread: they take no slot
    const occupied = ws.processing.size - ws.longRunning.size;
    if (ws.closing || ws.paused || occupied >= ws.nthreads * slots || !ok(ws) || !hasResources(ws, t)) continue;
    let bytes = 0;
    for (const dep of t.dependencies) if (dep.whoHas.has(ws.address)) bytes += dep.nbytes;
    const load = occupied / ws.nthreads;
    if (bytes > bestBytes || (bytes === bestBytes && load < bestLoad)) {
      found = ws;
      bestBytes = bytes;
      bestLoad = load;
    }
  }
  return found;
}

function hasResources(ws: WorkerRecord, t: TaskRecord): boolean {
  const need = t.spec.resources;
  if (!need) return true;
  for (const [r, n] of Object.entries(need)) {
    if ((ws.resources?.[r] ?? 0) - (ws.used[r] ?? 0) < n) return false;
  }
  return true;
}

/**
 * Binary heap of queued tasks: higher priority first, then submission order. O(log n).
 * A task's position lives on the task itself (`heapIndex`, -1 when not queued).
 */
export class TaskHeap {
  #items: TaskRecord[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): TaskRecord | undefined {
    return this.#items[0];
  }

  /** Up to n queued tasks, in heap (not priority) order. */
  first(n: number): TaskRecord[] {
    return this.#items.slice(0, n);
  }

  push(t: TaskRecord): void {
    if (t.heapIndex >= 0) return;
    t.heapIndex = this.#items.length;
    this.#items.push(t);
    this.#up(t.heapIndex);
  }

  pop(): TaskRecord | undefined {
    const top = this.#items[0];
    if (top) this.#removeAt(0);
    return top;
  }

  remove(t: TaskRecord): void {
    if (t.heapIndex >= 0) this.#removeAt(t.heapIndex);
  }

  #removeAt(i: number): void {
    this.#items[i]!.heapIndex = -1;
    const last = this.#items.pop()!;
    if (i < this.#items.length) {
      this.#items[i] = last;
      last.heapIndex = i;
      this.#down(i);
      this.#up(last.heapIndex);
    }
  }

  #before(a: TaskRecord, b: TaskRecord): boolean {
    const pa = a.spec.priority ?? 0;
    const pb = b.spec.priority ?? 0;
    return pa !== pb ? pa > pb : a.seq < b.seq;
  }

  #swap(i: number, j: number): void {
    const a = this.#items[i]!;
    const b = this.#items[j]!;
    this.#items[i] = b;
    this.#items[j] = a;
    b.heapIndex = i;
    a.heapIndex = j;
  }

  #up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#before(this.#items[i]!, this.#items[p]!)) break;
      this.#swap(i, p);
      i = p;
    }
  }

  #down(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.#items.length && this.#before(this.#items[l]!, this.#items[m]!)) m = l;
      if (r < this.#items.length && this.#before(this.#items[r]!, this.#items[m]!)) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
  }
}
