/**
 * The task graph and its transitions (used by scheduler/state.ts, which holds one TaskGraph).
 * Every state change goes through TaskGraph.transition, which consults the TRANSITIONS table
 * and appends to the transition log (key, stimulus id, from, to, time): like Dask's, one
 * bounded log for all tasks, so `story(key)` tells a key's recent history at no per-task cost.
 * What a transition does besides changing the state is its table entry, built from the
 * module-private helpers below; nothing else sets a task's state.
 */
import type { Dependency, Message } from "../protocol/messages.js";
import { Op } from "../protocol/ops.js";
import { TaskHeap, type TimeFit, FreeWorkers, pickWorker, prefixOf } from "./state-placement.js";
import { ArgBlock, EMPTY, NameSets, One, type TaskSet } from "./state-sets.js";
import { FIRE_AND_FORGET, type Instruction, type StoryEntry, type TaskPlacement, type TaskRecord, TaskState, type WorkerRecord } from "./state-types.js";

/** Transitions kept for story(): Dask keeps 100,000 too. */
const TRANSITION_LOG_SIZE = 100_000;

/** Tasks without dependents or waiters (most tasks of a big map) share EMPTY. */
export const NONE = EMPTY as TaskSet<TaskRecord>;

/** The dependencies of tasks without any. */
const NO_TASKS: readonly TaskRecord[] = Object.freeze([]);

/** Add `other` to t's dependents or waiters: a One for the first, a Set from the second. */
export function link(t: TaskRecord, field: "dependents" | "waiters", other: TaskRecord): void {
  const set = t[field];
  if (set === NONE) t[field] = new One(other);
  else if (set instanceof One) {
    if (set.item === undefined) set.item = other;
    else if (set.item !== other) t[field] = new Set([set.item, other]);
  } else (set as Set<TaskRecord>).add(other);
}

/** A new task record, released, wanted by no one yet. */
export function newTask(key: string, prefix: string, fn: unknown, args: ArgBlock | Uint8Array[], argIndex: number, seq: number, opts: { priority?: number; retries?: number; placement?: TaskPlacement } = {}): TaskRecord {
  return {
    key,
    prefix,
    fn,
    args,
    argIndex,
    priority: opts.priority ?? 0,
    placement: opts.placement,
    state: TaskState.released,
    processingOn: undefined,
    whoHas: EMPTY as Set<string>,
    nbytes: 0,
    error: undefined,
    erredBecause: undefined,
    wantedBy: EMPTY as Set<string>,
    dependencies: NO_TASKS,
    dependents: NONE,
    waiters: NONE,
    suspicious: 0,
    retriesLeft: opts.retries ?? 0,
    run: 0,
    seq,
    running: false,
    heapIndex: -1,
  };
}

/**
 * `root` and every task that depends on it, directly or not, each once, dependents before the
 * tasks they depend on (an iterative depth-first post-order: chains may be long).
 */
export function withDependents(root: TaskRecord): TaskRecord[] {
  const out: TaskRecord[] = [];
  const seen = new Set<TaskRecord>([root]);
  const stack: Array<{ t: TaskRecord; next: Iterator<TaskRecord> }> = [{ t: root, next: root.dependents.values() }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const step = top.next.next();
    if (step.done) {
      out.push(top.t);
      stack.pop();
    } else if (!seen.has(step.value)) {
      seen.add(step.value);
      stack.push({ t: step.value, next: step.value.dependents.values() });
    }
  }
  return out;
}

type Transition = (g: TaskGraph, t: TaskRecord, stimulusId: string) => void;

const TRANSITIONS = new Map<string, Transition>([
  ["released->waiting", (g, t, sid) => toWaiting(g, t, sid)],
  ["released->erred", (g, t, sid) => erred(g, t, sid)],
  // data scattered by a client (add-keys): its dependents may run now
  ["released->memory", (g, t, sid) => g.dependentsMayRun(t, sid)],
  // a value for a key not computed yet (scattered, or held by a worker at take-over): its inputs
  // no longer wait for it
  ["waiting->memory", (g, t, sid) => {
    unwait(g, t, sid);
    g.dependentsMayRun(t, sid);
  }],
  ["erred->memory", (g, t, sid) => {
    clearError(t);
    g.dependentsMayRun(t, sid);
  }],
  ["queued->memory", (g, t, sid) => {
    g.queue.remove(t);
    unwait(g, t, sid);
    g.dependentsMayRun(t, sid);
  }],
  ["waiting->queued", (g, t) => g.queue.push(t)],
  ["waiting->released", (g, t, sid) => unwait(g, t, sid)],
  ["waiting->erred", (g, t, sid) => erred(g, t, sid)],
  // fill() took it off the queue and chose its worker (processingOn)
  ["queued->processing", (g, t) => assign(g, t)],
  ["queued->released", (g, t) => g.queue.remove(t)],
  ["queued->waiting", (g, t, sid) => {
    g.queue.remove(t);
    toWaiting(g, t, sid);
  }],
  ["queued->erred", (g, t, sid) => {
    g.queue.remove(t);
    erred(g, t, sid);
  }],
  ["processing->memory", (g, t, sid) => inMemory(g, t, sid)],
  ["processing->erred", (g, t, sid) => erred(g, t, sid)],
  ["processing->queued", (g, t) => g.queue.push(t)],
  ["processing->waiting", (g, t, sid) => toWaiting(g, t, sid)],
  ["processing->released", (g, t, sid) => {
    unassign(g, t);
    unwait(g, t, sid);
  }],
  ["memory->released", (g, t) => freeData(g, t)],
  ["memory->waiting", (g, t, sid) => toWaiting(g, t, sid)],
  // scattered data lost with its worker: no lineage to recompute it from
  ["memory->erred", (g, t, sid) => erred(g, t, sid)],
  // its error is the erred run's: a released key wanted again is computed again (as in Dask)
  ["erred->released", (_g, t) => clearError(t)],
  ["released->forgotten", (g, t, sid) => forget(g, t, sid)],
  ["erred->forgotten", (g, t, sid) => forget(g, t, sid)],
]);

/** TRANSITIONS by from-state then to-state: looked up per transition without building a string. */
const BY_STATE = new Map<TaskState, Map<TaskState, Transition>>();
for (const [name, fn] of TRANSITIONS) {
  const [from, to] = name.split("->") as [TaskState, TaskState];
  let m = BY_STATE.get(from);
  if (!m) BY_STATE.set(from, (m = new Map()));
  m.set(to, fn);
}

/** A task leaves erred: the error was its last run's, not a verdict on the next. */
function clearError(t: TaskRecord): void {
  t.error = undefined;
  t.erredBecause = undefined;
}

function toWaiting(g: TaskGraph, t: TaskRecord, stimulusId: string): void {
  if (t.fn === null) {
    // scattered data a take-over replayed: it waits for its holder, or is lost after the grace
    if (g.awaitingHolder.has(t)) return;
    // scattered data released and freed, wanted again: it has no function to be computed with
    t.error = { name: "LostDataError", message: `scattered data ${JSON.stringify(t.key)} was released and freed, so it cannot be had again: keep the scattered future while it is needed, or scatter it again`, stack: "" };
    g.transition(t, TaskState.erred, stimulusId);
    return;
  }
  for (const dep of t.dependencies) {
    if (dep.state === TaskState.erred) {
      g.failFrom(t, dep, stimulusId);
      return;
    }
    if (dep.state === TaskState.released && dep.fn === null && !g.awaitingHolder.has(dep)) {
      // scattered data released and freed: there is no lineage to compute it again from
      t.error = { name: "LostDataError", message: `scattered data ${JSON.stringify(dep.key)} was released, so ${JSON.stringify(t.key)} cannot be computed again: keep the scattered future while tasks may need it`, stack: "" };
      t.erredBecause = dep.key;
      g.transition(t, TaskState.erred, stimulusId);
      return;
    }
  }
  let ready = true;
  for (const dep of t.dependencies) {
    if (dep.state !== TaskState.memory) {
      ready = false;
      link(dep, "waiters", t);
      if (dep.state === TaskState.released) g.transition(dep, TaskState.waiting, stimulusId);
    } else {
      link(dep, "waiters", t);
    }
  }
  if (ready && t.state === TaskState.waiting) g.transition(t, TaskState.queued, stimulusId);
}

/** A task no longer runs towards a result: its dependencies stop waiting for it. */
function unwait(g: TaskGraph, t: TaskRecord, stimulusId: string): void {
  for (const dep of t.dependencies) {
    dep.waiters.delete(t);
    g.maybeRelease(dep, stimulusId);
  }
}

/**
 * Assignments so far: each compute-task's `run`, echoed by the worker's task-finished/task-erred.
 * A key in memory keeps the number of the run that computed it (or one of newRun's, for data
 * put there otherwise): its value's number, which every copy of the value carries on the
 * workers (compute-task's deps, add-replica's copies).
 */
let runs = 0;

/** A number for a value no run of this scheduler made (scattered, or taken over from a holder). */
export function newRun(): number {
  return ++runs;
}

/** Hand a task to the worker fill() chose for it. */
function assign(g: TaskGraph, t: TaskRecord): void {
  const ws = g.workers.get(t.processingOn!)!;
  ws.processing.add(t);
  g.reweigh(ws);
  const need = t.placement?.resources;
  if (need) for (const [r, n] of Object.entries(need)) ws.used[r] = (ws.used[r] ?? 0) + n;
  const args = t.args instanceof ArgBlock ? [t.args.part(t.argIndex)] : t.args;
  const run = (t.run = ++runs);
  if (t.dependencies.length === 0) {
    g.sendWorker(ws.address, { op: Op.computeTask, key: t.key, fn: t.fn, args, priority: t.priority, run });
    return;
  }
  const deps: Dependency[] = [];
  for (const dep of t.dependencies) deps.push([dep.key, dep.run, [...dep.whoHas]]);
  g.sendWorker(ws.address, { op: Op.computeTask, key: t.key, fn: t.fn, args, deps, priority: t.priority, run });
}

/** A processing task is taken back from its worker, which drops it (and any result of it). */
function unassign(g: TaskGraph, t: TaskRecord): void {
  const ws = t.processingOn ? g.workers.get(t.processingOn) : undefined;
  if (!ws) return;
  g.stopProcessing(t, ws);
  g.freeKey(ws.address, t.key);
}

function inMemory(g: TaskGraph, t: TaskRecord, stimulusId: string): void {
  const holder = t.whoHas.values().next().value;
  for (const c of t.wantedBy) g.sendClient(c, { op: Op.keyInMemory, key: t.key, nbytes: t.nbytes, value: g.inline, worker: holder });
  g.dependentsMayRun(t, stimulusId);
  // its own inputs are no longer needed for it
  for (const dep of t.dependencies) {
    dep.waiters.delete(t);
    g.maybeRelease(dep, stimulusId);
  }
  t.wantedBy = g.names.without(t.wantedBy, FIRE_AND_FORGET); // it finished: fire-and-forget lets go
  g.maybeRelease(t, stimulusId);
}

function erred(g: TaskGraph, t: TaskRecord, stimulusId: string): void {
  for (const c of t.wantedBy) g.sendClient(c, g.erredMsg(t));
  for (const dep of t.dependencies) {
    dep.waiters.delete(t);
    g.maybeRelease(dep, stimulusId);
  }
  for (const dependent of [...t.dependents]) {
    if (dependent.state === TaskState.waiting || dependent.state === TaskState.queued) g.failFrom(dependent, t, stimulusId);
  }
  if (t.wantedBy.has(FIRE_AND_FORGET)) {
    t.wantedBy = g.names.without(t.wantedBy, FIRE_AND_FORGET);
    g.maybeRelease(t, stimulusId);
  }
}

function freeData(g: TaskGraph, t: TaskRecord): void {
  for (const a of t.whoHas) {
    const ws = g.workers.get(a);
    if (ws) {
      ws.hasWhat.delete(t);
      ws.nbytes -= t.nbytes;
    }
    g.freeKey(a, t.key);
  }
  t.whoHas = EMPTY as Set<string>;
}

function forget(g: TaskGraph, t: TaskRecord, stimulusId: string): void {
  g.tasks.delete(t.key);
  for (const dep of t.dependencies) {
    dep.dependents.delete(t);
    dep.waiters.delete(t);
    g.maybeRelease(dep, stimulusId);
  }
}

/**
 * Workers, tasks, the queue and the log, with the moves shared by SchedulerState's events.
 * @internal SchedulerState holds one privately; nothing else does.
 */
export class TaskGraph {
  readonly workers = new Map<string, WorkerRecord>();
  readonly tasks = new Map<string, TaskRecord>();
  /** EWMA of compute seconds per key prefix */
  readonly durations = new Map<string, number>();
  /** queued tasks, highest priority then oldest first */
  readonly queue = new TaskHeap();
  /** each key prefix (task group) once, shared by its tasks' records (Dask keeps its TaskPrefixes too) */
  readonly #prefixes = new Map<string, string>();
  /** the clients' and workers' names in the tasks' wantedBy and whoHas sets */
  readonly names = new NameSets();
  /** workers that may get tasks, lightest first: reweigh(ws) after changing one's load, closing or paused */
  readonly free = new FreeWorkers();
  /** scattered data a take-over replayed, waiting for its holder to re-register (state-take-over.ts) */
  readonly awaitingHolder = new Set<TaskRecord>();
  /** Task state changes so far. */
  transitions = 0;
  /** the small result of the task now entering memory, for its clients */
  inline: unknown;
  /** the clock placement reads for retiring workers' time left (SchedulerStateOptions.now) */
  now: () => number = Date.now;
  /** how long the workers live, for placement; undefined: to be worked out again (workersChanged) */
  #lives: { retiring: boolean; longestMs: number } | undefined;
  #out: Instruction[] = [];
  /** each worker's free-keys in #out that later frees may join (freeKey) */
  #openFrees = new Map<string, string[]>();
  #log = new TransitionLog(TRANSITION_LOG_SIZE);

  /** the prefix looked up last: a batch's keys mostly share it (no slice, no lookup) */
  #lastPrefix = "";

  /** `key`'s prefix, one string per prefix (a key without "-" is its own: not kept here) */
  prefixOf(key: string): string {
    const last = this.#lastPrefix;
    if (last.length > 0 && key.charCodeAt(last.length) === 45 /* - */ && key.startsWith(last)) return last;
    const p = prefixOf(key);
    if (p === key) return key;
    let shared = this.#prefixes.get(p);
    if (shared === undefined) this.#prefixes.set(p, (shared = p));
    this.#lastPrefix = shared;
    return shared;
  }

  /** `reason`, when given, is kept in the story next to this transition (not its cascade). */
  transition(t: TaskRecord, to: TaskState, stimulusId: string, reason?: string): void {
    const from = t.state;
    const fn = BY_STATE.get(from)?.get(to);
    if (!fn) throw new Error(`illegal transition ${from}->${to} for ${t.key} (${stimulusId})`);
    this.transitions++;
    this.#log.add(t.key, stimulusId, from, to, reason);
    t.state = to;
    fn(this, t, stimulusId);
  }

  story(key: string): StoryEntry[] {
    return this.#log.story(key);
  }

  /**
   * Cancel `root` and every task that depends on it, dependents first, so that each is
   * released (stopped on its worker, its data freed) once nothing waits for it, then forgotten.
   */
  cancel(root: TaskRecord, reason: string, stimulusId: string, because = `it depends on ${JSON.stringify(root.key)}, which was cancelled`): void {
    for (const t of withDependents(root)) {
      if (t.state === TaskState.forgotten) continue; // went with a dependent that was its last user
      const why = t === root ? reason : because;
      for (const c of t.wantedBy) this.sendClient(c, { op: Op.keyCancelled, key: t.key, reason: why });
      t.wantedBy = EMPTY as Set<string>;
      this.maybeRelease(t, stimulusId, why);
    }
  }

  /** A worker's result or error for a key it no longer runs: none takes it, the story says so. */
  dropped(key: string, t: TaskRecord | undefined, worker: string, what: string, stimulusId: string): void {
    const state = t?.state ?? TaskState.forgotten;
    const why = t ? `the task is ${state}${t.processingOn ? ` on ${t.processingOn}` : ""}` : "the key was cancelled or released";
    this.#log.add(key, stimulusId, state, state, `${what} from ${worker} dropped: ${why}`);
  }

  ready(t: TaskRecord): boolean {
    for (const dep of t.dependencies) if (dep.state !== TaskState.memory) return false;
    return true;
  }

  failFrom(t: TaskRecord, cause: TaskRecord, stimulusId: string): void {
    t.error = cause.error;
    t.erredBecause = cause.erredBecause ?? cause.key;
    this.transition(t, TaskState.erred, stimulusId);
  }

  erredMsg(t: TaskRecord): Message {
    return { op: Op.keyErred, key: t.key, error: t.error, because: t.erredBecause };
  }

  /** Release a task nobody needs; forget it when nothing refers to it either. */
  maybeRelease(t: TaskRecord, stimulusId: string, reason?: string): void {
    if (t.wantedBy.size > 0 || t.waiters.size > 0) return;
    switch (t.state) {
      case TaskState.processing:
      case TaskState.waiting:
      case TaskState.queued:
      case TaskState.memory:
      case TaskState.erred:
        this.transition(t, TaskState.released, stimulusId, reason);
        break;
    }
    if (t.state === TaskState.released && t.dependents.size === 0) this.transition(t, TaskState.forgotten, stimulusId);
  }

  dependentsMayRun(t: TaskRecord, stimulusId: string): void {
    for (const dependent of t.dependents) {
      if (dependent.state === TaskState.waiting && this.ready(dependent)) this.transition(dependent, TaskState.queued, stimulusId);
    }
  }

  /** A result in memory lost its last copy (`how`: with its worker, by default): recompute it if needed, and hold its dependents. */
  lost(t: TaskRecord, stimulusId: string, how = "with its worker"): void {
    for (const c of t.wantedBy) this.sendClient(c, { op: Op.keyLost, key: t.key });
    if (t.wantedBy.size > 0 || t.waiters.size > 0) {
      if (t.fn === null) {
        // scattered data has no lineage to recompute from
        t.error = { name: "LostDataError", message: `scattered data ${JSON.stringify(t.key)} was lost ${how}`, stack: "" };
        this.transition(t, TaskState.erred, stimulusId);
        return;
      }
      this.transition(t, TaskState.waiting, stimulusId);
    } else {
      this.transition(t, TaskState.released, stimulusId);
    }
    // dependents that were about to run (or running) with it wait for it again
    for (const dependent of t.dependents) {
      if (dependent.state === TaskState.processing && dependent.processingOn) {
        const ws = this.workers.get(dependent.processingOn);
        if (ws) {
          this.stopProcessing(dependent, ws);
          this.freeKey(ws.address, dependent.key);
        }
        this.transition(dependent, TaskState.waiting, stimulusId);
      } else if (dependent.state === TaskState.queued) {
        this.transition(dependent, TaskState.waiting, stimulusId);
      }
    }
    if (t.state === TaskState.released && t.dependents.size === 0) this.transition(t, TaskState.forgotten, stimulusId);
  }

  /** A worker's load, closing or paused changed (or it came or went): keep `free` true. */
  reweigh(ws: WorkerRecord): void {
    if (this.workers.get(ws.address) === ws) this.free.reweigh(ws);
    else this.free.remove(ws);
  }

  stopProcessing(t: TaskRecord, ws: WorkerRecord): void {
    ws.processing.delete(t);
    ws.longRunning.delete(t);
    this.reweigh(ws);
    t.running = false;
    const need = t.placement?.resources;
    if (need) for (const [r, n] of Object.entries(need)) ws.used[r] = (ws.used[r] ?? 0) - n;
    t.processingOn = undefined;
  }

  addReplica(t: TaskRecord, ws: WorkerRecord): void {
    if (t.whoHas.has(ws.address)) return;
    t.whoHas = this.names.with(t.whoHas, ws.address);
    ws.hasWhat.add(t);
    ws.nbytes += t.nbytes;
  }

  /** A worker came or went: the workers' lives are worked out again at the next placement. */
  workersChanged(): void {
    this.#lives = undefined;
  }

  /** What placement must know of retiring workers; undefined while none will retire (the usual case: nothing to check). */
  #timeFit(): TimeFit | undefined {
    if (!this.#lives) {
      let retiring = false;
      let longestMs = 0;
      for (const ws of this.workers.values()) {
        if (ws.retiresAt === undefined) longestMs = Infinity;
        else {
          retiring = true;
          longestMs = Math.max(longestMs, ws.retiresAt - ws.joinedAt);
        }
      }
      this.#lives = { retiring, longestMs };
    }
    return this.#lives.retiring ? { now: this.now(), longestLifeMs: this.#lives.longestMs } : undefined;
  }

  /**
   * Give queued tasks to workers with free slots, best placement first. An unrestricted task
   * that finds no worker stops the round: every worker is full, or (with retiring workers) none
   * has the time for it, until a worker joins or a slot frees.
   */
  fill(stimulusId: string): void {
    if (this.queue.size === 0 || this.workers.size === 0) return;
    const skipped: TaskRecord[] = [];
    const fit = this.#timeFit();
    let t: TaskRecord | undefined;
    while ((t = this.queue.peek())) {
      const ws = pickWorker(this.workers, this.free, this.durations, t, fit);
      if (!ws) {
        // an unconstrained task that finds no slot means every worker is full
        if (!t.placement) break;
        skipped.push(this.queue.pop()!);
        continue;
      }
      this.queue.pop();
      t.processingOn = ws.address;
      this.transition(t, TaskState.processing, stimulusId);
    }
    for (const s of skipped) this.queue.push(s);
  }

  sendWorker(worker: string, msg: Message): void {
    this.#openFrees.delete(worker);
    this.#out.push({ type: "send-worker", worker, msg });
  }

  /**
   * Tell `worker` to drop `key`: into the free-keys already on its way to that worker, when
   * nothing else for it came since (so its messages keep their order), else a new one. Releasing
   * a million keys makes one instruction a worker, not a million.
   */
  freeKey(worker: string, key: string): void {
    const open = this.#openFrees.get(worker);
    if (open) open.push(key);
    else {
      const keys = [key];
      this.#openFrees.set(worker, keys);
      this.#out.push({ type: "send-worker", worker, msg: { op: Op.freeKeys, keys } });
    }
  }

  sendClient(client: string, msg: Message): void {
    this.#out.push({ type: "send-client", client, msg });
  }

  flush(): Instruction[] {
    this.#openFrees.clear();
    const out = this.#out;
    this.#out = [];
    return out;
  }
}

/** A ring of the last `size` transitions, in parallel arrays (no object per entry). */
class TransitionLog {
  #keys: string[];
  #stimuli: string[];
  #from: TaskState[];
  #to: TaskState[];
  #reasons: Array<string | undefined>;
  #at: Float64Array;
  #next = 0;
  #count = 0;

  constructor(readonly size: number) {
    this.#keys = new Array<string>(size);
    this.#stimuli = new Array<string>(size);
    this.#from = new Array<TaskState>(size);
    this.#to = new Array<TaskState>(size);
    this.#reasons = new Array<string | undefined>(size);
    this.#at = new Float64Array(size);
  }

  add(key: string, stimulusId: string, from: TaskState, to: TaskState, reason?: string): void {
    const i = this.#next;
    this.#keys[i] = key;
    this.#stimuli[i] = stimulusId;
    this.#from[i] = from;
    this.#to[i] = to;
    this.#reasons[i] = reason;
    this.#at[i] = Date.now();
    this.#next = (i + 1) % this.size;
    if (this.#count < this.size) this.#count++;
  }

  story(key: string): StoryEntry[] {
    const out: StoryEntry[] = [];
    const start = (this.#next - this.#count + this.size) % this.size;
    for (let n = 0; n < this.#count; n++) {
      const i = (start + n) % this.size;
      if (this.#keys[i] !== key) continue;
      const e: StoryEntry = { stimulusId: this.#stimuli[i]!, from: this.#from[i]!, to: this.#to[i]!, at: this.#at[i]! };
      if (this.#reasons[i] !== undefined) e.reason = this.#reasons[i];
      out.push(e);
    }
    return out;
  }
}
