/**
 * Body of one task thread (worker_threads). Receives batches of tasks, runs them one after
 * the other, and posts the results back: encoded here (user values are never decoded on the
 * worker's main thread), with large binaries transferred rather than copied. Each result is
 * posted as soon as it is ready, so that if a task kills the process, the results before it
 * are not lost with it and the scheduler can tell which task was running (KilledWorker).
 *
 * A task that calls secede() (protocol/task-context.ts) gives up the thread's slot: the next
 * task starts while it waits as a pending promise here, and the pool is told (the worker
 * then tells the scheduler). The thread also holds the cluster's settings, for getClient().
 */
import { parentPort, workerData } from "node:worker_threads";
import { decodeWithRaws } from "../protocol/msgpack.js";
import { toWireError } from "../protocol/ops.js";
import { resolveTaskFunction } from "../protocol/functions.js";
import { type RunningTask, type TaskThreadSettings, contextIdle, initTaskThread, runAsTask } from "../protocol/task-context.js";
import { collectGarbage } from "./gc.js";
import { type ThreadResult, encodeResult } from "./thread-values.js";
import { type ActorCallMessage, callActor, createActor, dropActors } from "./actors.js";
import { type PluginMessage, addPlugin, closePlugins, removePlugin } from "./thread-plugins.js";
import type { WireError } from "../protocol/ops.js";

export interface ThreadTask {
  id: number;
  fn: unknown;
  /** encoded arguments: head, then raw parts */
  args: Uint8Array[];
  /** encoded values of the dependencies, by key (a Map: see data-store.ts `Found`) */
  deps: ReadonlyMap<string, Uint8Array[]>;
  /** the task's key (getClient's tasks and secede() name it) */
  key: string;
}

/**
 * A batch of tasks as columns: postMessage clones arrays of numbers and strings several times
 * faster than an object per task (measured in process: 0.7 against 1.5 us of the main thread's
 * CPU a task, for batches of 64). Task i has `ids[i]`, `keys[i]`, `fns[i]` (the same function
 * object repeated: cloned once), the next `nargs[i]` of `parts` as its arguments, and `deps[i]`
 * (0: none).
 */
export interface ThreadBatch {
  type: "batch";
  ids: number[];
  keys: string[];
  fns: unknown[];
  nargs: number[];
  parts: Uint8Array[];
  deps: Array<ReadonlyMap<string, Uint8Array[]> | 0>;
}

/**
 * What the pool sends a thread: a batch to run, a request to collect garbage, where the
 * cluster is, a call to one of its actors, actors to drop (their keys were released), or a
 * worker plugin to set up or take down (thread-plugins.ts).
 */
export type ThreadMessage = ThreadBatch | { type: "gc" } | { type: "settings"; settings: TaskThreadSettings } | ActorCallMessage | { type: "actor-drop"; keys: string[] } | PluginMessage;

export type { ThreadResult };

/**
 * A task's value, as a tuple: [id, parts, durationS, start]. postMessage clones it in about
 * half the CPU of the same result as an object (2.8-3.3 against 5.1-5.3 us a result, both
 * threads, measured in process); failures go as ThreadResult objects.
 */
export type ThreadValue = [id: number, parts: Uint8Array[], durationS: number, start: number];

/**
 * What a thread sends the pool: a task's value or its failure; a task giving up its slot
 * (secede) or taking one again (rejoin); a task that made an actor (before its result); an
 * actor call's reply; a plugin message done (`error`: it failed).
 */
export type ThreadReport =
  | ThreadValue | ThreadValue[] | ThreadResult[] | { type: "seceded" | "rejoined" | "actor"; id: number } | ({ type: "actor-reply" } & ThreadResult)
  | { type: "plugin-done"; id: number; error?: WireError };

/**
 * Values not posted yet: the values of quick tasks of one batch go together, one message for
 * the lot (each message costs both threads several microseconds, and a trivial task takes less).
 * They are posted at the batch's end, before a task that is not known to be quick (a value must
 * not wait for a slow task), before a failure (order kept), and at the end of the turn for values
 * made outside a batch's loop (a seceded task's). If the thread dies, the tasks whose values it
 * held run again, as those not started do (executor.ts #died).
 */
let values: ThreadValue[] = [];
let moves: ArrayBuffer[] = [];
let flushScheduled = false;

function flushValues(): void {
  flushScheduled = false;
  if (values.length === 0) return;
  const list = values;
  const moved = moves;
  values = [];
  moves = [];
  port.postMessage((list.length === 1 ? list[0]! : list) satisfies ThreadReport, moved);
}

/** Hand a task's result to the pool (its value as a ThreadValue, held for the batch's message). */
function postResult(r: ThreadResult, moved: ArrayBuffer[]): void {
  if (!r.ok) {
    flushValues();
    return port.postMessage([r] satisfies ThreadReport, moved);
  }
  values.push([r.id, r.parts, r.durationS, r.start!]);
  for (const m of moved) moves.push(m);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushValues);
  }
}

/** A task of a function whose last run here took less than this is quick: its value may wait for the next ones. */
const QUICK_S = 200e-6;
/** Each function's last duration on this thread (seconds), by its source or module export; bounded. */
const lastDurations = new Map<string, number>();

function functionId(fn: unknown): string | undefined {
  const w = fn as { kind?: unknown; source?: unknown; url?: unknown; name?: unknown } | null;
  if (w?.kind === "source" && typeof w.source === "string") return w.source;
  if (w?.kind === "module" && typeof w.url === "string") return `${w.url}#${String(w.name)}`;
  return undefined;
}

function isQuick(fn: unknown): boolean {
  const id = functionId(fn);
  const d = id === undefined ? undefined : lastDurations.get(id);
  return d !== undefined && d < QUICK_S;
}

function ran(fn: unknown, durationS: number): void {
  const id = functionId(fn);
  if (id === undefined) return;
  if (lastDurations.size >= 1024 && !lastDurations.has(id)) lastDurations.clear();
  lastDurations.set(id, durationS);
}

/** What the pool gives a thread at its start: where it marks the task holding it (executor.ts). */
export interface ThreadData {
  holder: SharedArrayBuffer;
}

const port = parentPort!;
/** The id of the task holding the slot (0: none): if the thread dies, the pool knows which task ran. */
const holder = new Float64Array((workerData as ThreadData).holder);

/**
 * The thread's one slot: a task holds it while it runs, as tasks ran one after the other
 * before secede(). A seceded task gives it up and goes on as a pending promise; rejoin() waits
 * for it again, ahead of tasks not started yet (as Dask's rejoin takes the next free thread).
 */
class ThreadSlot {
  #busy = false;
  #rejoiners: Array<() => void> = [];
  #starters: Array<() => void> = [];

  /** Task `id` takes the slot: at once (undefined) when it is free, else a promise of it. */
  take(id: number, rejoining: boolean): Promise<void> | undefined {
    if (!this.#busy) {
      this.#busy = true;
      holder[0] = id;
      return undefined;
    }
    return new Promise((resolve) =>
      (rejoining ? this.#rejoiners : this.#starters).push(() => {
        holder[0] = id;
        resolve();
      }),
    );
  }

  give(): void {
    holder[0] = 0;
    const next = this.#rejoiners.shift() ?? this.#starters.shift();
    if (next) next();
    else this.#busy = false;
  }
}

const slot = new ThreadSlot();

port.on("message", async (msg: ThreadMessage) => {
  if (msg.type !== "batch") {
    switch (msg.type) {
      case "settings":
        return initTaskThread(msg.settings);
      case "actor-call":
        return void callActor(msg).then(({ result, moved }) => port.postMessage({ type: "actor-reply", ...result } satisfies ThreadReport, moved));
      case "actor-drop":
        return dropActors(msg.keys);
      case "plugin-add":
      case "plugin-remove":
      case "plugins-close":
        return pluginWork(msg);
      default:
        return collectGarbage();
    }
  }
  // a batch: each task starts when the slot is free, and holds it until it ends or secedes
  for (const task of tasksOf(msg)) {
    const waiting = slot.take(task.id, false);
    if (waiting) await waiting;
    if (values.length && !isQuick(task.fn)) flushValues();
    // a task that cannot reach secede() holds the slot to its end: no context, no handle
    await (needsContext(task.fn) ? start(task) : runHolding(task));
  }
  flushValues();
});

/** What holds the slot while a plugin is set up or taken down: no task (if the thread dies then, none of its tasks ran). */
const PLUGIN_WORK = -1;

/**
 * A plugin set up or taken down in the slot, as a task: after the tasks that came before it,
 * before those that come after (a task finds the plugins registered before it). At the
 * worker's close the teardowns do not wait for a running task: nothing waits for its result.
 */
async function pluginWork(m: PluginMessage): Promise<void> {
  const inSlot = m.type !== "plugins-close";
  if (inSlot) {
    const waiting = slot.take(PLUGIN_WORK, false);
    if (waiting) await waiting;
    flushValues();
  }
  let error: WireError | undefined;
  try {
    if (m.type === "plugin-add") await addPlugin(m);
    else if (m.type === "plugin-remove") await removePlugin(m.name);
    else await closePlugins();
  } catch (err) {
    error = toWireError(err);
  } finally {
    if (inSlot) slot.give();
  }
  port.postMessage({ type: "plugin-done", id: m.id, ...(error ? { error } : {}) } satisfies ThreadReport);
}

const NO_DEPS: ReadonlyMap<string, Uint8Array[]> = new Map();

/** The batch's tasks, one object each again. */
function tasksOf(b: ThreadBatch): ThreadTask[] {
  const tasks: ThreadTask[] = new Array(b.ids.length);
  let at = 0;
  for (let i = 0; i < tasks.length; i++) {
    const n = b.nargs[i]!;
    tasks[i] = { id: b.ids[i]!, fn: b.fns[i], args: b.parts.slice(at, at + n), deps: b.deps[i] || NO_DEPS, key: b.keys[i]! };
    at += n;
  }
  return tasks;
}

/**
 * Whether a task may reach the task context (secede(), rejoin(), getClient(), workerClient(),
 * actors): a module export may; a function shipped as source only through an import (of the
 * package, or of code that uses it) or a global, which its text shows. Other tasks run outside
 * the AsyncLocalStorage: while a store is active, Node 20's promise hooks make every promise of
 * the thread cost, which more than doubled a trivial task's CPU on its thread.
 */
const REACHES_CONTEXT = /\bimport\b|\brequire\b|\beval\b|globalThis|secede|rejoin|[cC]lient|[aA]ctor/;
/** Tasks of this thread running in the context (seceded ones included). */
let contextTasks = 0;
function needsContext(fn: unknown): boolean {
  const w = fn as { kind?: unknown; source?: unknown } | null;
  return !(w?.kind === "source" && typeof w.source === "string" && !REACHES_CONTEXT.test(w.source));
}

/** Run one task holding the slot; resolves when it ended or seceded (it then goes on without the slot). */
function start(task: ThreadTask): Promise<void> {
  const t0 = performance.now();
  let holding = true;
  let seceded = false;
  let ended = false;
  let released!: () => void;
  const leftSlot = new Promise<void>((r) => (released = r));
  const handle: RunningTask = {
    key: task.key,
    get seceded() {
      return seceded;
    },
    secede() {
      if (!holding) return;
      holding = false;
      seceded = true;
      port.postMessage({ type: "seceded", id: task.id } satisfies ThreadReport);
      slot.give();
      released();
    },
    async rejoin() {
      if (!seceded) return;
      seceded = false;
      port.postMessage({ type: "rejoined", id: task.id } satisfies ThreadReport);
      const waiting = slot.take(task.id, true);
      if (waiting) await waiting;
      if (ended) slot.give(); // the task ended without waiting for its rejoin
      else holding = true;
    },
  };
  const inContext = needsContext(task.fn);
  if (inContext) contextTasks++;
  const finish = (result: ThreadResult, transfer: ArrayBuffer[] = []) => {
    ended = true;
    ran(task.fn, result.durationS);
    if (inContext && --contextTasks === 0) contextIdle();
    postResult(result, transfer);
    if (holding) {
      holding = false;
      slot.give();
    }
    released();
  };
  (inContext ? runAsTask(handle, () => run(task)) : run(task)).then(
    (value) => {
      let encoded;
      try {
        encoded = encodeResult(value);
      } catch (err) {
        return finish({ id: task.id, ok: false, error: toWireError(err), durationS: (performance.now() - t0) / 1000, start: performance.timeOrigin + t0 });
      }
      finish({ id: task.id, ok: true, parts: encoded.parts, durationS: (performance.now() - t0) / 1000, start: performance.timeOrigin + t0 }, encoded.moved);
    },
    (err: unknown) => finish({ id: task.id, ok: false, error: toWireError(err), durationS: (performance.now() - t0) / 1000, start: performance.timeOrigin + t0 }),
  );
  return leftSlot;
}

/** Run a task that cannot secede, holding the slot until it ends (the common, cheap case). */
async function runHolding(task: ThreadTask): Promise<void> {
  const t0 = performance.now();
  let result: ThreadResult;
  let moved: ArrayBuffer[] = [];
  try {
    const encoded = encodeResult(await run(task));
    moved = encoded.moved;
    result = { id: task.id, ok: true, parts: encoded.parts, durationS: (performance.now() - t0) / 1000, start: performance.timeOrigin + t0 };
  } catch (err) {
    result = { id: task.id, ok: false, error: toWireError(err), durationS: (performance.now() - t0) / 1000, start: performance.timeOrigin + t0 };
  }
  ran(task.fn, result.durationS);
  postResult(result, moved);
  slot.give();
}

async function run(task: ThreadTask): Promise<unknown> {
  const fn = await resolveTaskFunction(task.fn);
  const decoded = new Map<string, unknown>();
  const resolve = (key: string): unknown => {
    if (!decoded.has(key)) {
      const parts = task.deps.get(key);
      if (!parts) throw new Error(`dependency ${JSON.stringify(key)} did not reach the task thread`);
      decoded.set(key, decodeWithRaws(parts[0]!, parts.slice(1), resolve));
    }
    return decoded.get(key);
  };
  // each dependency decoded on its own first: a reference to it met while decoding the arguments
  // then finds its value, where decoding it there would be a decode inside a decode, for which
  // msgpackr saves and restores its whole state (in process, a task's two arguments that are
  // futures of numbers: 5.5 us decoded inside, 2.0 first)
  for (const key of task.deps.keys()) resolve(key);
  const args = decodeWithRaws(task.args[0]!, task.args.slice(1), resolve);
  if (!Array.isArray(args)) throw new TypeError("task arguments must decode to a list");
  if ((task.fn as { actor?: boolean }).actor) {
    const handle = createActor(task.key, fn as unknown as new (...a: unknown[]) => object, args);
    port.postMessage({ type: "actor", id: task.id } satisfies ThreadReport);
    return handle;
  }
  return fn(...args);
}
