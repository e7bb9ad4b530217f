/**
 * A pool of `nthreads` task threads. Tasks queue here; an idle thread takes a batch (a fair
 * share of the queue, at most MAX_BATCH), so trivial tasks cost one message per batch rather
 * than per task. A thread that dies (a task called process.exit in it, or ran out of heap) is
 * replaced: the tasks that were running on it when it died fail (one of them ended it), the
 * rest of its batch runs on the replacement (they had not started: their neighbour's death is
 * not their error). The thread marks the task holding it in shared memory (`holder`), so the
 * pool knows which one ran even when it died without a word.
 *
 * A task that secedes (protocol/task-context.ts) stays on its thread as a pending promise but
 * no longer occupies it: the thread counts as idle once all it holds have seceded, and takes
 * another batch; `onSecede` tells the worker.
 *
 * Worker plugins (protocol/messages-plugins.ts) are set up on every thread, and on every thread
 * started later before its first task; a setup that kills its thread is not run again on the
 * replacement (its tasks then find the plugin failed, with that reason).
 */
import { Worker as Thread } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import type { TaskThreadSettings } from "../protocol/task-context.js";
import type { PluginSpec } from "../protocol/messages-plugins.js";
import type { WireError } from "../protocol/ops.js";
import { logger } from "../log.js";
import type { PluginMessage } from "./thread-plugins.js";
import type { ThreadBatch, ThreadData, ThreadMessage, ThreadReport, ThreadResult, ThreadTask, ThreadValue } from "./task-thread.js";

const THREAD_SCRIPT = fileURLToPath(new URL("./task-thread.js", import.meta.url));

/** A task thread started before any pool (`prestartThread`), for the first pool to take. */
interface Spare {
  thread: Thread;
  holder: SharedArrayBuffer;
  online: boolean;
}
let spare: Spare | undefined;

/**
 * Start one task thread now, for this process's first pool to take. A thread's start-up (Node's
 * bootstrap of the thread and its modules: ~100 ms here) then overlaps what the process waits for
 * anyway (MPI_Init, the nanny's start message, the scheduler's address) instead of following the
 * worker's start. Until a pool takes it, it keeps no process alive.
 */
export function prestartThread(): void {
  if (spare) return;
  const holder = new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT);
  const s: Spare = { thread: new Thread(THREAD_SCRIPT, { workerData: { holder } satisfies ThreadData }), holder, online: false };
  s.thread.unref();
  s.thread.once("online", () => (s.online = true));
  // a spare that fails is dropped (a pool then starts its own thread, and hears why that fails)
  s.thread.on("error", () => {});
  s.thread.once("exit", () => {
    if (spare === s) spare = undefined;
  });
  spare = s;
}

/** Resolves once the spare thread (if one is waiting) is up or gone. @internal for tests */
export function spareSettled(): Promise<void> {
  const s = spare;
  if (!s || s.online) return Promise.resolve();
  // the wait holds the process (the spare alone does not)
  s.thread.ref();
  return new Promise((resolve) => {
    const done = () => {
      if (spare === s) s.thread.unref();
      resolve();
    };
    s.thread.once("online", done);
    s.thread.once("exit", done);
  });
}

const MAX_BATCH = 64;
/** The slot's holder while a thread sets a plugin up or down (task-thread.ts `PLUGIN_WORK`). */
const PLUGIN_WORK = -1;
const log = () => logger("worker");

export interface PoolTask {
  key: string;
  fn: unknown;
  args: Uint8Array[];
  /** the dependencies' encoded values by key (a Map: see data-store.ts `Found`) */
  deps: ReadonlyMap<string, Uint8Array[]>;
}

/** `thread`: the index (0 .. nthreads-1) of the thread that ran it (a replacement takes its dead one's). */
type Done = (r: ThreadResult, thread: number) => void;

/** A task waiting for a thread. */
interface Queued {
  task: ThreadTask;
  done: Done;
}

interface Slot {
  thread: Thread;
  index: number;
  /** up and taking batches */
  online: boolean;
  /** the batch on this thread, in the order it runs it, and seceded tasks still running there */
  held: Map<number, Queued & { seceded: boolean }>;
  /** the id of the task holding the thread (0: none), written by the thread (task-thread.ts) */
  holder: Float64Array;
  /** why it failed, when it did ('error' comes before the messages it posted are all read; 'exit' after) */
  failure?: string;
  /** actor calls waiting for this thread's reply */
  calls: Map<number, Done>;
  /** plugin messages waiting for this thread's `plugin-done`, in the order it does them */
  pluginCalls: Map<number, { message: PluginMessage; done: (error?: WireError) => void }>;
}

/** At the worker's close, the plugins' teardowns get this long before the threads are stopped. */
export const PLUGIN_CLOSE_MS = 5000;

/** A call to an actor: a method (`kind` "call", with encoded `args`) or an attribute read ("get"). */
export interface ActorCall {
  key: string;
  kind: "call" | "get";
  name: string;
  args?: Uint8Array[];
}

export class TaskPool {
  #slots: Slot[] = [];
  #idle: Slot[] = [];
  /** threads not yet up: they get their share too */
  #starting = 0;
  #queue: Queued[] = [];
  #nextId = 1;
  #closed = false;
  #scheduled = false;

  #onStart: (key: string) => void;
  #onSecede: (key: string) => void;
  #settings: TaskThreadSettings | undefined;
  /** which thread each actor lives on, by its key */
  #actors = new Map<string, Slot>();
  /** its threads keep the process alive (see unref) */
  #holds = true;
  /** the worker plugins, in registration order; `failed`: its setup killed a thread, and is not run again */
  #plugins = new Map<string, PluginSpec & { failed?: string }>();

  /**
   * `onStart`: told each task's key as its thread starts it. A thread runs its batch in order,
   * so a task starts when the one before it has reported or seceded (or when the batch arrives).
   * `onSecede`: told the key of a task that seceded. `plugins`: set up on every thread first.
   */
  constructor(nthreads: number, onStart: (key: string) => void = () => {}, onSecede: (key: string) => void = () => {}, plugins: Iterable<PluginSpec> = []) {
    this.#onStart = onStart;
    this.#onSecede = onSecede;
    for (const p of plugins) this.#plugins.set(p.name, p);
    for (let i = 0; i < nthreads; i++) this.#spawn(i);
  }

  /**
   * Set a worker plugin up on every thread (an older one of its name is taken down there first),
   * and on every thread started from now on. Resolves once each thread has, with the first
   * thread's error if any failed.
   */
  addPlugin(p: PluginSpec): Promise<WireError | undefined> {
    this.#plugins.set(p.name, p);
    return this.#everyThread((id) => ({ type: "plugin-add", id, name: p.name, setup: p.setup, teardown: p.teardown }));
  }

  /** Take a worker plugin down on every thread (its teardown); the first thread's error if any failed. */
  removePlugin(name: string): Promise<WireError | undefined> {
    this.#plugins.delete(name);
    return this.#everyThread((id) => ({ type: "plugin-remove", id, name }));
  }

  async #everyThread(message: (id: number) => PluginMessage): Promise<WireError | undefined> {
    const errors = await Promise.all(this.#slots.map((slot) => new Promise<WireError | undefined>((done) => this.#pluginCall(slot, message(this.#nextId++), done))));
    return errors.find((e) => e !== undefined);
  }

  #pluginCall(slot: Slot, message: PluginMessage, done: (error?: WireError) => void): void {
    slot.pluginCalls.set(message.id, { message, done });
    slot.thread.postMessage(message satisfies ThreadMessage);
  }

  /** Its threads keep no process alive, now and after a restart (a worker beside a client's script on its rank). */
  unref(): void {
    this.#holds = false;
    for (const slot of this.#slots) slot.thread.unref();
  }

  /** Where the cluster is, for tasks that connect a client (getClient): every thread, now and later, gets it. */
  configure(settings: TaskThreadSettings): void {
    this.#settings = settings;
    for (const slot of this.#slots) slot.thread.postMessage({ type: "settings", settings } satisfies ThreadMessage);
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Queue one task; `done` gets its result or error (never throws). */
  run(task: PoolTask, done: Done): void {
    this.#queue.push({ task: { id: this.#nextId++, fn: task.fn, args: task.args, deps: task.deps, key: task.key }, done });
    // dispatch once per turn, so tasks arriving together share batches
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        this.#dispatch();
      });
    }
  }

  /**
   * Call an actor living on one of the threads; `done` gets the encoded value or the error. An
   * actor that is not here (released, or its thread died) is an error naming it.
   */
  callActor(call: ActorCall, done: Done): void {
    const slot = this.#actors.get(call.key);
    const id = this.#nextId++;
    if (!slot) {
      const message = `actor ${JSON.stringify(call.key)} is not on this worker (its key was released, its thread died, or the worker restarted)`;
      return done({ id, ok: false, error: { name: "Error", message, stack: "" }, durationS: 0 }, -1);
    }
    slot.calls.set(id, done);
    slot.thread.postMessage({ type: "actor-call", id, ...call } satisfies ThreadMessage);
  }

  /** The keys were released: actors made by those tasks are dropped (others are ignored). */
  dropActors(keys: string[]): void {
    const bySlot = new Map<Slot, string[]>();
    for (const key of keys) {
      const slot = this.#actors.get(key);
      if (!slot) continue;
      this.#actors.delete(key);
      bySlot.set(slot, [...(bySlot.get(slot) ?? []), key]);
    }
    for (const [slot, list] of bySlot) slot.thread.postMessage({ type: "actor-drop", keys: list } satisfies ThreadMessage);
  }

  /** Ask every thread to collect its garbage (between or during its tasks' turns). */
  collectGarbage(): void {
    for (const slot of this.#slots) if (slot.online) slot.thread.postMessage({ type: "gc" } satisfies ThreadMessage);
  }

  /** Stop the threads; with plugins that have a teardown, each thread runs them first (for up to PLUGIN_CLOSE_MS). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if ([...this.#plugins.values()].some((p) => p.teardown !== undefined)) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((r) => (timer = setTimeout(r, PLUGIN_CLOSE_MS)));
      const teardowns = this.#slots.filter((s) => s.online).map(
        (slot) =>
          new Promise<void>((r) =>
            this.#pluginCall(slot, { type: "plugins-close", id: this.#nextId++ }, (error) => {
              if (error) log().warn({ err: error.message }, "a worker plugin's teardown failed as the worker closed");
              r();
            }),
          ),
      );
      await Promise.race([Promise.all(teardowns), late]);
      clearTimeout(timer);
    }
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
      for (const b of batch) slot.held.set(b.task.id, { task: b.task, done: b.done, seceded: false });
      slot.thread.postMessage(toBatch(batch.map(({ task }) => task)) satisfies ThreadMessage);
      this.#onStart(batch[0]!.task.key);
    }
  }

  #spawn(index: number): void {
    const taken = spare;
    spare = undefined;
    if (this.#holds) taken?.thread.ref();
    const holder = taken?.holder ?? new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT);
    const thread = taken?.thread ?? new Thread(THREAD_SCRIPT, { workerData: { holder } satisfies ThreadData });
    if (!this.#holds) thread.unref();
    const slot: Slot = { thread, index, online: false, held: new Map(), calls: new Map(), pluginCalls: new Map(), holder: new Float64Array(holder) };
    this.#starting++;
    if (this.#settings) thread.postMessage({ type: "settings", settings: this.#settings } satisfies ThreadMessage);
    // before any batch: the thread sets its plugins up before its first task
    for (const p of this.#plugins.values()) {
      this.#pluginCall(slot, { type: "plugin-add", id: this.#nextId++, name: p.name, setup: p.setup, teardown: p.teardown, failed: p.failed }, (error) => {
        if (error && p.failed === undefined) log().error({ plugin: p.name, err: error.message }, "a worker plugin's setup failed on a new task thread");
      });
    }
    thread.on("message", (report: ThreadReport) => {
      if (!Array.isArray(report) && report.type === "plugin-done") {
        const call = slot.pluginCalls.get(report.id);
        slot.pluginCalls.delete(report.id);
        return call?.done(report.error);
      }
      if (!Array.isArray(report) && report.type === "actor-reply") {
        const done = slot.calls.get(report.id);
        slot.calls.delete(report.id);
        const { type: _type, ...result } = report;
        return done?.(result, slot.index);
      }
      if (!Array.isArray(report) && report.type === "actor") {
        const held = slot.held.get(report.id);
        if (held) this.#actors.set(held.task.key, slot);
        return;
      }
      if (!Array.isArray(report)) {
        const held = slot.held.get(report.id);
        if (!held) return;
        held.seceded = report.type === "seceded";
        if (held.seceded) this.#onSecede(held.task.key);
        else {
          // rejoined: the thread is busy with it again
          const i = this.#idle.indexOf(slot);
          if (i >= 0) this.#idle.splice(i, 1);
          return;
        }
      } else if (typeof report[0] === "number") {
        this.#value(slot, report as ThreadValue);
      } else if (Array.isArray(report[0])) {
        for (const v of report as ThreadValue[]) this.#value(slot, v);
      } else {
        for (const r of report as ThreadResult[]) {
          const held = slot.held.get(r.id);
          slot.held.delete(r.id);
          held?.done(r, slot.index);
        }
      }
      this.#next(slot);
    });
    // the results it posted before an uncaught error may still be on their way at 'error': the
    // tasks are settled at 'exit', once every message it sent has been read
    thread.on("error", (err) => (slot.failure ??= `task thread failed: ${err.message}`));
    thread.on("exit", (code) => this.#died(slot, slot.failure ?? `task thread exited with code ${code}`));
    this.#slots.push(slot);
    // a thread takes tasks once it is up: until then they wait here, not counted as started
    const online = () => {
      if (!this.#slots.includes(slot)) return;
      slot.online = true;
      this.#starting--;
      this.#idle.push(slot);
      this.#dispatch();
    };
    if (taken?.online) queueMicrotask(online);
    else thread.once("online", online);
  }

  /**
   * The plugin messages a dead thread had not answered fail. The first was being done if the
   * thread died holding its slot for plugin work: a setup that ends its thread is not run
   * again on the replacement (it would end that one too), which records it as failed.
   */
  #pluginsDied(slot: Slot, message: string): void {
    const pending = [...slot.pluginCalls.values()];
    slot.pluginCalls.clear();
    const first = pending[0]?.message;
    if (first?.type === "plugin-add" && slot.holder[0] === PLUGIN_WORK && first.failed === undefined) {
      const p = this.#plugins.get(first.name);
      if (p && p.setup === first.setup) p.failed = `${message} while this plugin's setup ran`;
    }
    for (const { message: m, done } of pending) {
      const what = m.type === "plugin-add" ? `setting up worker plugin ${JSON.stringify(m.name)}` : m.type === "plugin-remove" ? `taking down worker plugin ${JSON.stringify(m.name)}` : "closing the worker plugins";
      done({ name: "WorkerThreadError", message: `${message} before it finished ${what}`, stack: "" });
    }
  }

  #value(slot: Slot, [id, parts, durationS, start]: ThreadValue): void {
    const held = slot.held.get(id);
    slot.held.delete(id);
    held?.done({ id, ok: true, parts, durationS, start }, slot.index);
  }

  /** After a task of `slot` ended or seceded: the next one it starts, or it is idle. */
  #next(slot: Slot): void {
    for (const h of slot.held.values()) {
      if (h.seceded) continue;
      this.#onStart(h.task.key);
      return;
    }
    if (!this.#idle.includes(slot) && this.#slots.includes(slot)) this.#idle.push(slot);
    this.#dispatch();
  }

  #died(slot: Slot, message: string): void {
    const i = this.#slots.indexOf(slot);
    if (i < 0) return;
    this.#slots.splice(i, 1);
    if (!slot.online) this.#starting--;
    const j = this.#idle.indexOf(slot);
    if (j >= 0) this.#idle.splice(j, 1);
    // the tasks running on it (holding it, or seceded) fail; the others had not started, and run
    // again (unless the pool is closing: then they fail too, as nothing will run them)
    const again: Queued[] = [];
    for (const [id, held] of slot.held) {
      if (!this.#closed && !held.seceded && id !== slot.holder[0]) again.push({ task: held.task, done: held.done });
      else held.done({ id, ok: false, error: { name: "WorkerThreadError", message: this.#closed ? `${message}: the worker closed its task threads` : `${message} while this task ran`, stack: "" }, durationS: 0 }, slot.index);
    }
    slot.held.clear();
    this.#queue.unshift(...again);
    // its actors died with it
    for (const [key, s] of this.#actors) if (s === slot) this.#actors.delete(key);
    for (const [id, done] of slot.calls) done({ id, ok: false, error: { name: "WorkerThreadError", message: `the actor's ${message}`, stack: "" }, durationS: 0 }, slot.index);
    slot.calls.clear();
    this.#pluginsDied(slot, message);
    if (this.#closed) return;
    this.#spawn(slot.index);
    this.#dispatch();
  }
}

/** Parts up to this size are copied together before posting (bigger ones that are views: each alone). */
const COMPACT_MAX = 64 * 1024;
const align8 = (n: number) => (n + 7) & ~7;

/**
 * The batch as it is posted (columns: task-thread.ts ThreadBatch), with its small argument and
 * dependency parts copied into one buffer of their own. A part may be a view into the frame it
 * arrived in (a socket read, up to 64 KiB or more), and postMessage clones a view's whole
 * ArrayBuffer: a one-task batch cost a 64 KiB copy (44 against 11 us of CPU per message,
 * measured). A part that is a small buffer of its own (most arguments: a few bytes each) is
 * copied too: postMessage would copy its bytes anyway, and makes an ArrayBuffer per part on
 * each side (a batch of 64 one-part tasks took x1.4-2 the CPU of the same batch in one buffer,
 * measured in process). A bigger part that is a view into a bigger buffer (a frame under the
 * shared-memory size) is copied alone, to its own size, so that postMessage does not clone the
 * rest of the frame. Shared memory is not copied by postMessage and stays as it is; the tasks'
 * own lists are not changed. @internal exported for tests
 */
export function toBatch(tasks: ThreadTask[]): ThreadBatch {
  const loose = (p: Uint8Array) => !(p.buffer instanceof SharedArrayBuffer) && p.byteLength <= COMPACT_MAX;
  let total = 0;
  for (const t of tasks) {
    for (const p of t.args) if (loose(p)) total += align8(p.byteLength);
    for (const parts of t.deps.values()) for (const p of parts) if (loose(p)) total += align8(p.byteLength);
  }
  const pool = total ? new Uint8Array(total) : undefined;
  let offset = 0;
  const place = (p: Uint8Array) => {
    if (p.buffer instanceof SharedArrayBuffer) return p;
    if (!loose(p)) return p.byteOffset === 0 && p.byteLength === p.buffer.byteLength ? p : new Uint8Array(p);
    if (!pool) return p;
    pool.set(p, offset);
    const view = pool.subarray(offset, offset + p.byteLength);
    offset += align8(p.byteLength); // typed arrays decode as views only when aligned
    return view;
  };
  const b: ThreadBatch = { type: "batch", ids: [], keys: [], fns: [], nargs: [], parts: [], deps: [] };
  for (const t of tasks) {
    b.ids.push(t.id);
    b.keys.push(t.key);
    b.fns.push(t.fn);
    b.nargs.push(t.args.length);
    for (const p of t.args) b.parts.push(place(p));
    let deps: Map<string, Uint8Array[]> | 0 = 0;
    for (const [k, parts] of t.deps) (deps ||= new Map()).set(k, parts.map(place));
    b.deps.push(deps);
  }
  return b;
}
