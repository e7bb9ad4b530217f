/**
 * A pool of `nthreads` task threads. Tasks queue here; an idle thread takes a batch (a fair
 * share of the queue, at most MAX_BATCH), so trivial tasks cost one message per batch rather
 * than per task. A thread that dies (a task called process.exit in it, or ran out of heap)
 * fails the tasks it held and is replaced.
 */
import { Worker as Thread } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import type { ThreadMessage, ThreadResult, ThreadTask } from "./task-thread.js";

const THREAD_SCRIPT = fileURLToPath(new URL("./task-thread.js", import.meta.url));
const MAX_BATCH = 64;

export interface PoolTask {
  key: string;
  fn: unknown;
  args: Uint8Array[];
  deps: Record<string, Uint8Array[]>;
}

/** `thread`: the index (0 .. nthreads-1) of the thread that ran it (a replacement takes its dead one's). */
type Done = (r: ThreadResult, thread: number) => void;

interface Slot {
  thread: Thread;
  index: number;
  /** up and taking batches */
  online: boolean;
  /** the batch on this thread, in the order it runs it */
  held: Map<number, { key: string; done: Done }>;
}

export class TaskPool {
  #slots: Slot[] = [];
  #idle: Slot[] = [];
  /** threads not yet up: they get their share too */
  #starting = 0;
  #queue: Array<{ task: ThreadTask & { key: string }; done: Done }> = [];
  #nextId = 1;
  #closed = false;
  #scheduled = false;

  #onStart: (key: string) => void;

  /**
   * `onStart`: told each task's key as its thread starts it. A thread runs its batch in order,
   * so a task starts when the one before it has reported (or when the batch arrives).
   */
  constructor(nthreads: number, onStart: (key: string) => void = () => {}) {
    this.#onStart = onStart;
    for (let i = 0; i < nthreads; i++) this.#spawn(i);
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Queue one task; `done` gets its result or error (never throws). */
  run(task: PoolTask, done: Done): void {
    this.#queue.push({ task: { id: this.#nextId++, ...task }, done });
    // dispatch once per turn, so tasks arriving together share batches
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        this.#dispatch();
      });
    }
  }

  /** Ask every thread to collect its garbage (between or during its tasks' turns). */
  collectGarbage(): void {
    for (const slot of this.#slots) if (slot.online) slot.thread.postMessage({ type: "gc" } satisfies ThreadMessage);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.thread.terminate()));
    this.#slots = [];
    this.#idle = [];
    this.#starting = 0;
  }

  #dispatch(): void {
    while (this.#queue.length && this.#idle.length) {
      const slot = this.#idle.pop()!;
      // a fair share among the threads that can take work, counting those still starting: the
      // first thread up must not take the whole queue when the others are a moment away
      const share = Math.min(MAX_BATCH, Math.ceil(this.#queue.length / (this.#idle.length + 1 + this.#starting)));
      const batch = this.#queue.splice(0, share);
      for (const b of batch) slot.held.set(b.task.id, { key: b.task.key, done: b.done });
      slot.thread.postMessage(batch.map(({ task: { key: _key, ...t } }) => t) satisfies ThreadMessage);
      this.#onStart(batch[0]!.task.key);
    }
  }

  #spawn(index: number): void {
    const thread = new Thread(THREAD_SCRIPT);
    const slot: Slot = { thread, index, online: false, held: new Map() };
    this.#starting++;
    thread.on("message", (results: ThreadResult[]) => {
      for (const r of results) {
        const held = slot.held.get(r.id);
        slot.held.delete(r.id);
        held?.done(r, slot.index);
      }
      const next = slot.held.values().next();
      if (!next.done) this.#onStart(next.value.key);
      else {
        this.#idle.push(slot);
        this.#dispatch();
      }
    });
    thread.on("error", (err) => this.#died(slot, `task thread failed: ${err.message}`));
    thread.on("exit", (code) => this.#died(slot, `task thread exited with code ${code}`));
    this.#slots.push(slot);
    // a thread takes tasks once it is up: until then they wait here, not counted as started
    thread.once("online", () => {
      if (!this.#slots.includes(slot)) return;
      slot.online = true;
      this.#starting--;
      this.#idle.push(slot);
      this.#dispatch();
    });
  }

  #died(slot: Slot, message: string): void {
    const i = this.#slots.indexOf(slot);
    if (i < 0) return;
    this.#slots.splice(i, 1);
    if (!slot.online) this.#starting--;
    const j = this.#idle.indexOf(slot);
    if (j >= 0) this.#idle.splice(j, 1);
    for (const [id, { done }] of slot.held) done({ id, ok: false, error: { name: "WorkerThreadError", message, stack: "" }, durationS: 0 }, slot.index);
    slot.held.clear();
    if (this.#closed) return;
    this.#spawn(slot.index);
    this.#dispatch();
  }
}
