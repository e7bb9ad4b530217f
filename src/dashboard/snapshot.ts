/**
 * What the dashboard shows, as plain data computed from the scheduler's state: workers, task
 * groups (tasks by key prefix, i.e. by function name) with their progress, cluster totals, and
 * the task stream. Pure: the HTTP layer calls it once a second, only while someone watches.
 */
import { TaskState } from "../scheduler/state.js";
import type { SchedulerStateView } from "../scheduler/extension.js";

export interface WorkerRow {
  address: string;
  name: string;
  host: string;
  nthreads: number;
  memoryLimit: number;
  /** process memory (RSS) the worker last reported */
  memory: number;
  stored: number;
  spilled: number;
  status: "running" | "paused" | "closing";
  processing: number;
  inMemory: number;
  /** percent of one core, over the last heartbeat interval */
  cpu: number;
}

export interface GroupRow {
  name: string;
  done: number;
  memory: number;
  processing: number;
  waiting: number;
  erred: number;
}

export interface StreamEntry {
  group: string;
  worker: string;
  /** scheduler clock, ms since the epoch */
  start: number;
  stop: number;
}

export interface Snapshot {
  time: number;
  workers: WorkerRow[];
  groups: GroupRow[];
  totals: { workers: number; threads: number; memory: number; memoryLimit: number; tasks: Record<string, number>; finished: number; erred: number };
  stream: StreamEntry[];
}

/** A reported metric as a number (0 when a worker has not said, or said something else). */
export const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

export function snapshot(state: SchedulerStateView, now: number, stream: StreamEntry[]): Snapshot {
  const workers: WorkerRow[] = [];
  for (const ws of state.workers.values()) {
    const m = ws.metrics;
    workers.push({
      address: ws.address,
      name: ws.name,
      host: ws.host,
      nthreads: ws.nthreads,
      memoryLimit: ws.memoryLimit,
      memory: num(m.rss),
      stored: num(m.storedBytes),
      spilled: num(m.spilledBytes),
      status: ws.paused ? "paused" : ws.closing ? "closing" : "running",
      processing: ws.processing.size,
      inMemory: ws.hasWhat.size,
      cpu: num(m.cpu),
    });
  }
  workers.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));

  const groups = new Map<string, GroupRow>();
  const group = (name: string): GroupRow => {
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { name, done: state.finishedByPrefix.get(name) ?? 0, memory: 0, processing: 0, waiting: 0, erred: 0 }));
    return g;
  };
  for (const name of state.finishedByPrefix.keys()) group(name);
  const tasks: Record<string, number> = {};
  for (const t of state.tasks.values()) {
    tasks[t.state] = (tasks[t.state] ?? 0) + 1;
    const g = group(state.prefixOf(t.key));
    if (t.state === TaskState.memory) g.memory++;
    else if (t.state === TaskState.processing) g.processing++;
    else if (t.state === TaskState.erred) g.erred++;
    else if (t.state === TaskState.waiting || t.state === TaskState.queued) g.waiting++;
  }
  return {
    time: now,
    workers,
    groups: [...groups.values()].sort((a, b) => a.name.localeCompare(b.name)),
    totals: {
      workers: workers.length,
      threads: workers.reduce((s, w) => s + w.nthreads, 0),
      memory: workers.reduce((s, w) => s + w.memory, 0),
      memoryLimit: workers.reduce((s, w) => s + w.memoryLimit, 0),
      tasks,
      finished: state.finished,
      erred: state.failed,
    },
    stream,
  };
}

/** The last `capacity` finished tasks, oldest first; recorded only while someone watches. */
export class TaskStream {
  #entries: StreamEntry[] = [];
  #next = 0;
  readonly capacity: number;

  constructor(capacity = 10_000) {
    this.capacity = capacity;
  }

  record(e: StreamEntry): void {
    if (this.#entries.length < this.capacity) this.#entries.push(e);
    else this.#entries[this.#next] = e;
    this.#next = (this.#next + 1) % this.capacity;
  }

  /**
   * Entries that stopped after `since`, oldest first, thinned evenly to at most `max` (a page
   * drawing 10 s of a fast cluster needs a sample, not every task).
   */
  since(since: number, max = Infinity): StreamEntry[] {
    const ordered = this.#entries.length < this.capacity ? this.#entries : [...this.#entries.slice(this.#next), ...this.#entries.slice(0, this.#next)];
    const recent = ordered.filter((e) => e.stop > since);
    if (recent.length <= max) return recent;
    const step = recent.length / max;
    return Array.from({ length: max }, (_, i) => recent[Math.floor(i * step)]!);
  }

  clear(): void {
    this.#entries = [];
    this.#next = 0;
  }
}
