/**
 * The worker's pure state machine: which tasks wait for which dependencies, what to fetch
 * from which peer, what may run, and what to tell the scheduler. No I/O and no data: events
 * (each with a stimulus id) go in, instructions come out, and worker.ts carries them out. It
 * knows each held key's size only; the values live in the data store (data-store.ts), and a
 * value an event brings (a result, a fetched or put value) is passed on in a `store`
 * instruction, never kept here.
 *
 * Task states here: `fetching` (some dependency is not on this worker yet), `ready` (all
 * inputs here, waiting for a thread), `executing`, `long-running` (it seceded: still on its
 * thread, but no longer counted against the slots, as Dask's). A finished task's key is held
 * (`memory`).
 *
 * Invariants:
 * - a dependency key is fetched from at most one peer at a time (`inFlight`), and each peer
 *   is tried at most once per dependency; when every holder failed, the scheduler is told
 *   (missing-data, naming only the holders that answered they do not have it: one that could
 *   not be reached, or answered too late, may still hold it, and the scheduler learns a dead
 *   worker from its own connection) and the dependent tasks are dropped here;
 * - a fetch's reply is taken only by the fetch it answers (its `id`): a fetch whose tasks all
 *   left (freed, or a reset) is forgotten, so its late reply, maybe a value of the key's ended
 *   incarnation, never feeds a task given afterwards;
 * - a held value is used only as the value the scheduler names: each value's number (the run
 *   that computed it; compute-task's `deps`, replication's `runs`) is kept with it
 *   (`heldRun`), and a held copy of another number (a copy the scheduler did not know of,
 *   maybe of an ended incarnation of its key) is dropped and fetched again. A compute-task for
 *   a key held here is computed again, never answered with the copy held;
 * - a task is executing on at most one thread; results of tasks that were freed or
 *   rescheduled meanwhile are discarded, never reported;
 * - a key runs on at most one thread: a task given again while a freed run of its key is still
 *   on a thread (cancelled and submitted again) starts when that run ended, so a result is
 *   always that of the run it is reported for;
 * - every event returns all it caused (a put-data that readies a task returns its execute).
 * Every state change of a key goes to a bounded story (`story(key)`), with its stimulus id.
 */
import { type Copy, keyedMap } from "../protocol/messages.js";
import type { TaskTiming } from "../protocol/messages-worker.js";
import { Op } from "../protocol/ops.js";
import { StoryLog, stimulusId, type WorkerKeyState, type WorkerStoryEntry } from "./state-machine-story.js";
import type { ComputeTask, Sized, TooLarge, WTask, WorkerEvent, WorkerInstruction } from "./state-machine-events.js";

export type { WorkerKeyState, WorkerStoryEntry } from "./state-machine-story.js";
export type { ComputeTask, Sized, TooLarge, WTask, WorkerEvent, WorkerInstruction } from "./state-machine-events.js";

/** Results up to this size travel with task-finished and key-in-memory. */
export const INLINE_RESULT_BYTES = 1024;
/** State changes kept for story(), over all keys. */
export const STORY_SIZE = 10_000;

const NONE_MISSING: Set<string> = new Set();

export class WorkerState<V = unknown> {
  /** held keys' sizes, by key */
  readonly held = new Map<string, number>();
  /**
   * held keys' value numbers, where known (not for data a client scattered here, nor after the
   * scheduler was lost: a scheduler taking over vouches for held keys by their spec)
   */
  readonly heldRun = new Map<string, number>();
  readonly tasks = new Map<string, WTask>();
  /** dependency key -> the fetch bringing it: its peer, and its number */
  readonly inFlight = new Map<string, { worker: string; id: number }>();
  /** the last number given to a fetch (never reused: a late reply of a forgotten fetch matches no key) */
  #fetches = 0;
  /** dependency -> the holders asked for it, each with whether it answered that it does not have it */
  #tried = new Map<string, Map<string, boolean>>();
  /** dependencies fetched one per request: together they came as a frame over this worker's cap */
  #alone = new Set<string>();
  #holders = new Map<string, string[]>();
  /** dependency -> the number of the value wanted (from the latest compute-task naming it) */
  #wantRun = new Map<string, number>();
  #waitingOn = new Map<string, Set<WTask>>();
  /**
   * dependencies that may need a fetch started (newly waited on, or their fetch ended without
   * the value): `#fetchMissing` looks at these only, so its cost does not grow with the fetches
   * in flight. One in flight, held, or no longer waited on leaves it there.
   */
  #toFetch = new Set<string>();
  #ready: WTask[] = [];
  /** some task had a non-zero priority: keep the ready list sorted */
  #prioritized = false;
  #executing = 0;
  #paused = false;
  #slots: number;
  /**
   * keys freed while on a thread, whose run has not ended (a key sent again waits for it), and
   * whether that run still counts in `executing` (false once it seceded)
   */
  #freedWhileRunning = new Map<string, boolean>();
  #out: WorkerInstruction<V>[] = [];
  #log: StoryLog;
  /** the event being handled: its stimulus id (given, or its number) and type, and its time, for the story */
  #stimulus: string | number = "";
  #cause = "";
  #at = 0;
  /** the last number given to an event without a stimulus id */
  #numbered = 0;
  /** the event's stimulus id as a string, once made (instructions carry it) */
  #sidText: string | undefined;

  /** `slots`: tasks handed to the executor at once (its threads queue the rest). */
  constructor(slots: number, storySize = STORY_SIZE) {
    this.#slots = slots;
    this.#log = new StoryLog(storySize);
  }

  get executing(): number {
    return this.#executing;
  }

  get readyCount(): number {
    return this.#ready.length;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** A stimulus id `${what}-${n}` for an event the caller names itself, numbered with the events numbered here. */
  newStimulusId(what: string): string {
    return `${what}-${++this.#numbered}`;
  }

  /** The key's state changes on this worker still in the story, oldest first. */
  story(key: string): WorkerStoryEntry[] {
    return this.#log.story(key);
  }

  handle(e: WorkerEvent<V>): WorkerInstruction<V>[] {
    this.#stimulus = e.stimulusId ?? ++this.#numbered;
    this.#cause = e.type;
    this.#sidText = undefined;
    this.#at = Date.now();
    switch (e.type) {
      case "compute-task":
        this.#computeTask(e.task);
        break;
      case "fetch-done":
        this.#fetchDone(e.id, e.got, e.notThere);
        break;
      case "fetch-failed":
        if (e.tooLarge) this.#tooLarge(e.worker, e.id, e.keys, e.tooLarge);
        else this.#failed(e.id, e.keys, false);
        break;
      case "executed":
        this.#executed(e.key, e.result, e.timing);
        break;
      case "secede":
        this.#secede(e.key);
        break;
      case "free-keys":
        this.#freeKeys(e.keys);
        break;
      case "data-lost":
        this.#dataLost(e.keys, e.reason);
        break;
      case "put-data":
        this.#putData(e.key, e);
        break;
      case "pause":
      case "resume":
        this.#paused = e.type === "pause";
        break;
      case "reset":
        return this.#reset(e.keepData === true);
      default:
        throw new TypeError(`unknown worker event ${JSON.stringify((e as { type: unknown }).type)}`);
    }
    this.#run();
    const out = this.#out;
    this.#out = [];
    return out;
  }

  // ---- events -------------------------------------------------------------------------------

  #computeTask(msg: ComputeTask): void {
    const known = this.tasks.get(msg.key);
    if (known) {
      // assigned again (the scheduler thought the earlier run gone): its result answers this run
      if (msg.run !== undefined) known.run = msg.run;
      return;
    }
    // held here, yet sent to be computed: a copy the scheduler did not know of, maybe of an
    // ended incarnation of the key (released, then submitted again with another function). It
    // is computed again: a copy cannot tell which function made it
    if (this.held.has(msg.key)) this.#dropCopy(msg.key, "sent to be computed: a copy the scheduler did not know of");
    // one shape for every task (a spread of the message would make objects V8 clones slowly)
    const t: WTask = {
      key: msg.key, fn: msg.fn, args: msg.args, deps: msg.deps, priority: msg.priority, run: msg.run, checkpoint: msg.checkpoint,
      state: "ready", missing: NONE_MISSING,
    };
    if (msg.priority) this.#prioritized = true;
    this.tasks.set(t.key, t);
    for (const [dep, want, holders] of msg.deps) {
      if (this.held.has(dep)) {
        const have = this.heldRun.get(dep);
        if (have === undefined || have === want) continue;
        this.#dropCopy(dep, `value ${have} held, value ${want} wanted: a copy of another incarnation`);
      }
      if (t.missing === NONE_MISSING) t.missing = new Set();
      t.missing.add(dep);
      let waiting = this.#waitingOn.get(dep);
      if (!waiting) {
        this.#waitingOn.set(dep, (waiting = new Set()));
        this.#tried.delete(dep); // wanted afresh: holders that failed an abandoned fetch may be asked again
      } else if ((this.#wantRun.get(dep) ?? want) !== want) {
        // another value of it is being fetched (for tasks of an ended incarnation): not taken
        this.#tried.delete(dep);
        if (this.inFlight.delete(dep)) this.#story(dep, "flight", "released", `value ${want} wanted now`);
      }
      waiting.add(t);
      this.#toFetch.add(dep);
      this.#holders.set(dep, holders);
      this.#wantRun.set(dep, want);
    }
    if (t.missing.size) {
      t.state = "fetching";
      this.#story(t.key, "released", "fetching");
      this.#fetchMissing();
    } else {
      this.#story(t.key, "released", "ready");
      this.#ready.push(t);
    }
  }

  #fetchDone(id: number, got: ReadonlyMap<string, Sized<V>>, notThere: string[]): void {
    const copies: Copy[] = [];
    for (const [key, { nbytes, value }] of got) {
      if (this.inFlight.get(key)?.id !== id) continue;
      this.inFlight.delete(key); // a key in flight is one some task here waits for (#release)
      const run = this.#wantRun.get(key);
      this.#hold(key, nbytes, value, "flight", run);
      // the scheduler takes a copy only with its value's number (one it can check)
      if (run !== undefined) copies.push([key, run]);
      this.#arrived(key);
    }
    if (copies.length) this.#out.push({ type: "send", msg: { op: Op.addReplica, copies } });
    this.#failed(id, notThere, true);
  }

  #executed(key: string, result: Extract<WorkerEvent<V>, { type: "executed" }>["result"], timing?: TaskTiming): void {
    const t = this.tasks.get(key);
    const freed = this.#freedWhileRunning.get(key);
    if (freed !== undefined) {
      // the run of a freed task (no other run of the key started meanwhile): its result is void
      this.#freedWhileRunning.delete(key);
      if (freed) this.#executing--;
      this.#story(key, "released", "released", "the result of a run freed while it ran: dropped");
    } else if (t && (t.state === "executing" || t.state === "long-running")) {
      if (t.state === "executing") this.#executing--;
      this.tasks.delete(key);
      this.#release(t);
      if (result.ok) {
        this.#hold(key, result.nbytes, result.value, "executing", t.run);
        // a small result rides along, so a waiting client needs no extra round trips to get it
        const inline = result.nbytes <= INLINE_RESULT_BYTES ? result.value : undefined;
        this.#out.push({ type: "send", msg: { op: Op.taskFinished, key, nbytes: result.nbytes, duration: result.durationS, value: inline, ...timing, ...(t.run !== undefined && { run: t.run }) } });
      } else {
        this.#story(key, "executing", "erred");
        this.#out.push({ type: "send", msg: { op: Op.taskErred, key, error: result.error, ...timing, ...(t.run !== undefined && { run: t.run }) } });
      }
    }
  }

  /** The task gave up its slot (Dask's SecedeEvent): another may start; the scheduler is told. */
  #secede(key: string): void {
    const t = this.tasks.get(key);
    if (t?.state === "executing") {
      t.state = "long-running";
      this.#executing--;
      this.#story(key, "executing", "long-running");
      this.#out.push({ type: "send", msg: { op: Op.longRunning, key } });
    } else if (this.#freedWhileRunning.get(key)) {
      this.#freedWhileRunning.set(key, false); // freed meanwhile: only its slot is given back
      this.#executing--;
    }
  }

  #freeKeys(keys: string[]): void {
    const freed: string[] = [];
    for (const key of keys) {
      const t = this.tasks.get(key);
      if (this.held.delete(key)) {
        this.heldRun.delete(key);
        freed.push(key);
        if (this.#waitingOn.has(key)) this.#toFetch.add(key);
        if (!t) this.#story(key, "memory", "released");
      }
      if (!t) continue;
      this.tasks.delete(key);
      this.#story(key, t.state, "released");
      if (t.state === "executing" || t.state === "long-running") this.#freedWhileRunning.set(key, t.state === "executing");
      else if (t.state === "ready") this.#ready.splice(this.#ready.indexOf(t), 1);
      this.#release(t);
    }
    if (freed.length) this.#out.push({ type: "free-data", keys: freed });
  }

  /**
   * Held values lost here (unreadable): dropped, with the tasks here that need them (a run on a
   * thread has its inputs, but its result is dropped all the same: the scheduler, told, places
   * those tasks again, and computes a value that lost its last copy again).
   */
  #dataLost(keys: string[], reason: string): void {
    const lost: string[] = [];
    const runs = keyedMap<number>();
    for (const key of keys) {
      if (!this.held.has(key)) continue;
      const run = this.heldRun.get(key);
      if (run !== undefined) runs[key] = run;
      lost.push(key);
      this.#dropCopy(key, `lost: ${reason}`);
    }
    if (!lost.length) return;
    const needing = [...this.tasks.values()].filter((t) => t.deps.some((d) => lost.includes(d[0]))).map((t) => t.key);
    if (needing.length) this.#freeKeys(needing);
    this.#out.push({ type: "send", msg: { op: Op.releaseWorkerData, keys: lost, runs } });
  }

  #putData(key: string, v: Sized<V> & { run?: number }): void {
    const waited = this.#waitingOn.has(key);
    const want = this.#wantRun.get(key);
    if (waited && v.run !== undefined && want !== undefined && v.run !== want) {
      // a copy of another value than the one tasks here wait for: not kept (not told either)
      this.#story(key, "released", "released", `value ${v.run} put here, value ${want} wanted: not kept`);
      return;
    }
    this.#hold(key, v.nbytes, v.value, this.inFlight.has(key) ? "flight" : this.held.has(key) ? "memory" : "released", v.run);
    if (waited) {
      this.inFlight.delete(key);
      this.#arrived(key);
    }
  }

  /** Forget all work; `keepData`: keep the results held (a scheduler taking over asks for them). */
  #reset(keepData: boolean): WorkerInstruction<V>[] {
    const keys = keepData ? [] : [...this.held.keys()];
    if (!keepData) this.held.clear();
    // the numbers were the lost scheduler's: one taking over vouches for held keys by their spec
    this.heldRun.clear();
    this.#wantRun.clear();
    // a scheduler lost (data kept) leaves the threads running their tasks: those runs count as
    // freed while running, so the same key sent again waits for its run to end; a reset with
    // fresh threads (restart) ends them all
    const running = keepData ? [...this.tasks.values()].filter((t) => t.state === "executing" || t.state === "long-running") : [];
    this.tasks.clear();
    this.inFlight.clear();
    this.#tried.clear();
    this.#holders.clear();
    this.#alone.clear();
    this.#waitingOn.clear();
    this.#toFetch.clear();
    this.#ready = [];
    if (keepData) for (const t of running) this.#freedWhileRunning.set(t.key, t.state === "executing");
    else {
      this.#freedWhileRunning.clear();
      this.#executing = 0;
    }
    this.#out = [];
    return keys.length ? [{ type: "free-data", keys }] : [];
  }

  // ---- internals ----------------------------------------------------------------------------

  #story(key: string, from: WorkerKeyState, to: WorkerKeyState, reason?: string): void {
    this.#log.add(key, this.#stimulus, this.#cause, from, to, this.#at, reason);
  }

  /** The stimulus id of the event being handled (made once per event, when an instruction needs it). */
  get #sid(): string {
    return (this.#sidText ??= stimulusId(this.#stimulus, this.#cause));
  }

  /** The key's value is kept (by the shell), its size known here, and its number `run` where known. */
  #hold(key: string, nbytes: number, value: V, from: WorkerKeyState, run: number | undefined): void {
    this.held.set(key, nbytes);
    if (run === undefined) this.heldRun.delete(key);
    else this.heldRun.set(key, run);
    this.#out.push({ type: "store", key, value });
    this.#story(key, from, "memory");
  }

  /** A held copy that must not be used: its value is dropped here (a run on a thread keeps the inputs it was given). */
  #dropCopy(key: string, reason: string): void {
    this.held.delete(key);
    this.heldRun.delete(key);
    this.#story(key, "memory", "released", reason);
    this.#out.push({ type: "free-data", keys: [key] });
  }

  #arrived(dep: string): void {
    const waiting = this.#waitingOn.get(dep);
    this.#waitingOn.delete(dep);
    this.#tried.delete(dep);
    this.#holders.delete(dep);
    this.#wantRun.delete(dep);
    this.#alone.delete(dep);
    for (const t of waiting ?? []) {
      t.missing.delete(dep);
      if (t.missing.size === 0 && t.state === "fetching") {
        t.state = "ready";
        this.#story(t.key, "fetching", "ready");
        this.#ready.push(t);
      }
    }
  }

  /**
   * A reply too big for one frame: keys asked together are asked again one by one; one asked
   * alone can never arrive (every holder sends the same bytes), and the tasks needing it err.
   */
  #tooLarge(worker: string, id: number, keys: string[], big: TooLarge): void {
    const mine = keys.filter((k) => this.inFlight.get(k)?.id === id);
    for (const key of mine) {
      this.inFlight.delete(key);
      // several values came in that frame (asked together), even if some are no longer wanted
      if (keys.length > 1) {
        this.#alone.add(key);
        this.#toFetch.add(key);
        this.#tried.get(key)?.delete(worker);
        continue;
      }
      const message = big.overCap
        ? `dependency ${JSON.stringify(key)} on ${worker} is ${big.bytes} bytes, more than one frame can carry (4 GiB - 1 bytes): it cannot move to another worker; make it several smaller values (tasks)`
        : `dependency ${JSON.stringify(key)} on ${worker} is ${big.bytes} bytes as one frame, over this worker's distributed.comm.max-frame-size (${big.limit} bytes): raise it on every worker (at most 4 GiB - 1)`;
      for (const t of this.#waitingOn.get(key) ?? []) {
        this.tasks.delete(t.key);
        this.#release(t);
        this.#story(t.key, t.state, "erred", message);
        this.#out.push({ type: "send", msg: { op: Op.taskErred, key: t.key, error: { name: "FrameTooLargeError", message, stack: "" }, ...(t.run !== undefined && { run: t.run }) } });
      }
      this.#waitingOn.delete(key);
      this.#tried.delete(key);
      this.#holders.delete(key);
      this.#wantRun.delete(key);
      this.#alone.delete(key);
    }
    this.#fetchMissing();
  }

  /** `absent`: the peer answered that it does not have these keys (else it failed to answer). */
  #failed(id: number, keys: string[], absent: boolean): void {
    for (const key of keys) {
      const f = this.inFlight.get(key);
      if (f?.id !== id) continue;
      this.inFlight.delete(key);
      this.#toFetch.add(key);
      if (absent) this.#tried.get(key)?.set(f.worker, true);
    }
    this.#fetchMissing();
  }

  /** Start fetches for dependencies not in flight, grouped per peer. */
  #fetchMissing(): void {
    const perPeer = new Map<string, string[]>();
    for (const dep of this.#toFetch) {
      const waiting = this.#waitingOn.get(dep);
      if (!waiting || this.inFlight.has(dep) || this.held.has(dep)) {
        this.#toFetch.delete(dep);
        continue;
      }
      let tried = this.#tried.get(dep);
      if (!tried) this.#tried.set(dep, (tried = new Map()));
      const peer = (this.#holders.get(dep) ?? []).find((h) => !tried!.has(h));
      if (!peer) {
        // every holder failed: the scheduler decides what happens to the tasks needing it
        for (const t of waiting) {
          this.tasks.delete(t.key);
          this.#release(t);
          this.#story(t.key, t.state, "released", `no holder of ${JSON.stringify(dep)} had it`);
          this.#out.push({ type: "send", msg: { op: Op.missingData, key: t.key, missing: dep, holders: [...tried].filter(([, absent]) => absent).map(([h]) => h), ...(t.run !== undefined && { run: t.run }) } });
        }
        this.#waitingOn.delete(dep);
        this.#tried.delete(dep);
        this.#alone.delete(dep);
        this.#toFetch.delete(dep);
        continue;
      }
      // a dependency fetched alone is the only fetch from its peer while it is on its way:
      // replies sent in one turn share a frame, and it would be too big again
      if (this.#alone.size && [...this.inFlight].some(([k, f]) => f.worker === peer && (this.#alone.has(dep) || this.#alone.has(k)))) continue;
      this.#toFetch.delete(dep);
      if (tried.size === 0) this.#story(dep, "released", "flight");
      tried.set(peer, false);
      if (this.#alone.has(dep)) {
        const id = ++this.#fetches;
        this.inFlight.set(dep, { worker: peer, id });
        this.#out.push({ type: "fetch", worker: peer, id, keys: [dep], stimulusId: this.#sid });
      } else {
        const group = perPeer.get(peer);
        if (group) group.push(dep);
        else perPeer.set(peer, [dep]);
      }
    }
    for (const [worker, keys] of perPeer) {
      const id = ++this.#fetches;
      for (const key of keys) this.inFlight.set(key, { worker, id });
      this.#out.push({ type: "fetch", worker, id, keys, stimulusId: this.#sid });
    }
  }

  /** A task left: it no longer waits for its dependencies. */
  #release(t: WTask): void {
    for (const dep of t.missing) {
      const waiting = this.#waitingOn.get(dep);
      waiting?.delete(t);
      if (waiting && waiting.size === 0) {
        this.#waitingOn.delete(dep);
        this.#alone.delete(dep);
        this.#tried.delete(dep);
        this.#holders.delete(dep);
        this.#wantRun.delete(dep);
        // its fetch is forgotten: the reply may be of an incarnation that ended with these tasks
        if (this.inFlight.delete(dep)) this.#story(dep, "flight", "released", "no task here needs it any more");
      }
    }
  }

  #run(): void {
    if (this.#paused) return;
    if (this.#prioritized && this.#ready.length > 1) this.#ready.sort((a, b) => b.priority - a.priority);
    let later: WTask[] | undefined;
    while (this.#ready.length && this.#executing < this.#slots) {
      const t = this.#ready.shift()!;
      if (this.#freedWhileRunning.has(t.key)) {
        (later ??= []).push(t); // a freed run of this key is still on a thread: start when it ended
        continue;
      }
      t.state = "executing";
      this.#executing++;
      this.#story(t.key, "ready", "executing");
      const deps: string[] = [];
      for (const [dep] of t.deps) if (this.held.has(dep)) deps.push(dep);
      this.#out.push(t.checkpoint === undefined
        ? { type: "execute", key: t.key, fn: t.fn, args: t.args, deps, stimulusId: this.#sid }
        : { type: "execute", key: t.key, fn: t.fn, args: t.args, deps, stimulusId: this.#sid, checkpoint: t.checkpoint });
    }
    if (later) this.#ready.unshift(...later);
  }
}
