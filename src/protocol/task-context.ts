/**
 * Where a task runs, as seen from inside it: the neutral meeting point of the worker (its task
 * threads fill it, worker/task-thread.ts) and the client layer (getClient(), workerClient(),
 * client/task-client.ts), which may not import each other.
 *
 * - The thread's settings (scheduler address, secret, TLS files): one per task thread, set
 *   when it starts, so a task can connect a client to its own scheduler.
 * - The running task (key, secede, rejoin), per async context (AsyncLocalStorage): a task that
 *   seceded is a pending promise on its thread while other tasks run there, so "which task
 *   calls secede()" must follow the task across its awaits, not be a thread-wide variable.
 * - The worker plugins set up on the thread (worker/thread-plugins.ts), by name: what each
 *   plugin's setup returned here, or why it failed, for `workerPlugin(name)`.
 *
 * Kept on `globalThis` under a registered symbol: a task may import the package through
 * another path than the thread's own modules (a second copy of the package), and must still
 * see the thread it runs on.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** What a task thread knows of its cluster (plain data: it crosses into the thread as workerData). */
export interface TaskThreadSettings {
  /** the scheduler the worker is registered with */
  schedulerAddress: string;
  secret: string;
  /** PEM file paths for tls:// clusters */
  tls?: { cert: string; key: string; ca: string };
  /** the worker this thread belongs to */
  workerAddress: string;
  workerName: string;
  /** its number of task threads */
  nthreads?: number;
}

/** The task running in the current async context. */
export interface RunningTask {
  readonly key: string;
  /** true between secede() and rejoin() */
  readonly seceded: boolean;
  /** Give up the task's thread slot: other tasks may run while this one waits. Idempotent. */
  secede(): void;
  /** Wait for a thread slot again (ahead of tasks not yet started). Idempotent. */
  rejoin(): Promise<void>;
}

/** A worker plugin on this thread: what its setup returned, or why it failed; its teardown's wire form. @internal */
export type ThreadPlugin = { ok: true; value: unknown; teardown?: unknown } | { ok: false; error: string };

interface ThreadContext {
  /** set once the worker knows its scheduler (tasks may start a moment before) */
  settings?: TaskThreadSettings;
  tasks: AsyncLocalStorage<RunningTask>;
  plugins: Map<string, ThreadPlugin>;
  /** this is a worker's task thread (worker/task-thread.ts says so as it loads) */
  taskThread?: true;
}

const SLOT = Symbol.for("dask-mpi-ts.task-thread");
const holder = globalThis as unknown as { [SLOT]?: ThreadContext };

/**
 * Called by a task thread as it starts, and again when its worker's scheduler changed (a
 * reconnect): the running tasks keep their context. @internal
 */
export function initTaskThread(settings: TaskThreadSettings): void {
  context().settings = settings;
}

function context(): ThreadContext {
  return (holder[SLOT] ??= { tasks: new AsyncLocalStorage<RunningTask>(), plugins: new Map() });
}

/** The settings of the task thread this code runs on, or undefined outside task threads. */
export function taskThreadSettings(): TaskThreadSettings | undefined {
  return holder[SLOT]?.settings;
}

/** Run `fn` as the task `task` (the task thread calls this for each task). @internal */
export function runAsTask<T>(task: RunningTask, fn: () => T): T {
  return context().tasks.run(task, fn);
}

/**
 * No task runs in the context any more: the storage is switched off (until the next
 * runAsTask), so the promise hooks it needs stop costing the thread's other tasks. @internal
 */
export function contextIdle(): void {
  holder[SLOT]?.tasks.disable();
}

/** The task running in this async context, or undefined. */
export function currentTask(): RunningTask | undefined {
  return holder[SLOT]?.tasks.getStore();
}

function required(what: string): RunningTask {
  const task = currentTask();
  if (!task) {
    throw new Error(
      `${what} was called outside a task: it works only in a function running as a task on a worker (called from the task, or code it awaits)`,
    );
  }
  return task;
}

/**
 * Tell the worker (and through it the scheduler) that the calling task no longer occupies a
 * thread, as Dask's `secede()`: the worker may start another task in its place and the
 * scheduler no longer counts it towards the worker's occupancy. Use it before waiting on tasks
 * this task submitted; `rejoin()` takes a thread slot back. Throws outside a task.
 * @example secede(); const v = await client.gather(fs); await rejoin();
 */
export function secede(): void {
  required("secede()").secede();
}

/**
 * Wait until the calling (seceded) task has a thread slot again, as Dask's `rejoin()`: it runs
 * before tasks that have not started yet. A no-op for a task that has not seceded. Throws
 * outside a task.
 */
export function rejoin(): Promise<void> {
  try {
    return required("rejoin()").rejoin();
  } catch (err) {
    return Promise.reject(err);
  }
}

/** What a task may know of the worker it runs on (`getWorker()`). */
export interface TaskWorker {
  /** the worker's address, as the scheduler knows it (`whoHas`, `schedulerInfo().workers`) */
  address: string;
  /** its name (`--name`, the MPI rank under dask-mpi-ts), or its address when it has none */
  name: string;
  /** how many task threads it has */
  nthreads: number;
}

/**
 * The worker the calling task (or worker plugin) runs on, as Dask's `get_worker()` is mostly
 * used: its address, name and number of task threads. Throws outside a worker's task thread.
 * @example const { name } = getWorker(); writeFileSync(`/scratch/part-${name}.bin`, data);
 */
export function getWorker(): TaskWorker {
  const s = holder[SLOT]?.settings;
  if (!s) throw new Error("getWorker() was called outside a worker's task thread: it works only in a task (or a worker plugin) running on a worker");
  return { address: s.workerAddress, name: s.workerName, nthreads: s.nthreads ?? 1 };
}

/** The worker plugins of this task thread, by name (worker/thread-plugins.ts sets them up and down). @internal */
export function threadPlugins(): Map<string, ThreadPlugin> {
  const c = context();
  c.taskThread = true;
  return c.plugins;
}

/**
 * What the setup of the worker plugin `name` returned on the task thread this code runs on
 * (Dask's `get_worker().plugins[name]`): each task thread of each worker runs the setup once,
 * before the tasks that follow its registration, so a task finds the value ready. Throws, naming
 * the plugin, outside a task thread, for a name not registered here, and where its setup failed
 * (with that error's message).
 * @example client.registerWorkerPlugin({ name: "table", setup: () => loadTable("/shared/t.bin") })
 *   // in a task: const table = workerPlugin<Table>("table");
 */
export function workerPlugin<S = unknown>(name: string): S {
  if (!holder[SLOT]?.taskThread) throw new Error(`workerPlugin(${JSON.stringify(name)}) was called outside a task thread: worker plugins are set up on workers' task threads`);
  const p = context().plugins.get(name);
  if (!p) {
    const known = [...context().plugins.keys()];
    throw new Error(`no worker plugin named ${JSON.stringify(name)} on this task thread (${known.length ? `it has ${known.map((k) => JSON.stringify(k)).join(", ")}` : "it has none"}): register it with client.registerWorkerPlugin`);
  }
  if (!p.ok) throw new Error(`worker plugin ${JSON.stringify(name)} failed its setup on this task thread: ${p.error}`);
  return p.value as S;
}
