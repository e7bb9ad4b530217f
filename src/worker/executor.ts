/**
 * A pool of `nthreads` task threads. Each runs one task at a time; a thread that dies (a task
 * called process.exit in it, or ran out of heap) fails its task and is replaced.
 */
import { Worker as Thread } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import type { TaskRequest, TaskResponse } from "./task-thread.js";

const THREAD_SCRIPT = fileURLToPath(new URL("./task-thread.js", import.meta.url));

interface Slot {
  thread: Thread;
  busy?: { id: number; resolve: (r: TaskResponse) => void };
}

export class TaskPool {
  #slots: Slot[] = [];
  #idle: Slot[] = [];
  #waiting: Array<{ req: TaskRequest; resolve: (r: TaskResponse) => void }> = [];
  #nextId = 1;
  #closed = false;

  constructor(nthreads: number) {
    for (let i = 0; i < nthreads; i++) this.#spawn();
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Run one task; resolves with its encoded result or its error, never rejects. */
  run(fn: string, args: Uint8Array): Promise<TaskResponse> {
    return new Promise((resolve) => {
      const req: TaskRequest = { id: this.#nextId++, fn, args };
      const slot = this.#idle.pop();
      if (slot) this.#start(slot, req, resolve);
      else this.#waiting.push({ req, resolve });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.thread.terminate()));
    this.#slots = [];
    this.#idle = [];
  }

  #spawn(): void {
    const thread = new Thread(THREAD_SCRIPT);
    const slot: Slot = { thread };
    thread.on("message", (res: TaskResponse) => {
      const busy = slot.busy;
      if (!busy || busy.id !== res.id) return;
      slot.busy = undefined;
      busy.resolve(res);
      this.#next(slot);
    });
    thread.on("error", (err) => this.#died(slot, `task thread failed: ${err.message}`));
    thread.on("exit", (code) => this.#died(slot, `task thread exited with code ${code}`));
    this.#slots.push(slot);
    this.#idle.push(slot);
  }

  #start(slot: Slot, req: TaskRequest, resolve: (r: TaskResponse) => void): void {
    slot.busy = { id: req.id, resolve };
    // copy: the args may be a view into a larger socket buffer that must not be detached
    slot.thread.postMessage(req);
  }

  #next(slot: Slot): void {
    const w = this.#waiting.shift();
    if (w) this.#start(slot, w.req, w.resolve);
    else this.#idle.push(slot);
  }

  #died(slot: Slot, message: string): void {
    const i = this.#slots.indexOf(slot);
    if (i < 0) return;
    this.#slots.splice(i, 1);
    const j = this.#idle.indexOf(slot);
    if (j >= 0) this.#idle.splice(j, 1);
    const busy = slot.busy;
    slot.busy = undefined;
    if (busy) busy.resolve({ id: busy.id, ok: false, error: { name: "WorkerThreadError", message, stack: "" } });
    if (this.#closed) return;
    this.#spawn();
    this.#next(this.#idle.pop()!);
  }
}
