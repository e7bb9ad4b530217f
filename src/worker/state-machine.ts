/**
 * The worker's pure state machine: which tasks wait for which dependencies, what to fetch
 * from which peer, what may run, and what to tell the scheduler. No I/O: events go in,
 * instructions come out, and worker.ts carries them out.
 *
 * Task states here: `fetching` (some dependency is not on this worker yet), `ready` (all
 * inputs here, waiting for a thread), `executing`. A finished task's result moves to `data`.
 *
 * Invariants:
 * - a dependency key is fetched from at most one peer at a time (`inFlight`), and each peer
 *   is tried at most once per dependency; when every holder failed, the scheduler is told
 *   (missing-data) and the dependent tasks are dropped here;
 * - a task is executing on at most one thread; results of tasks that were freed or
 *   rescheduled meanwhile are discarded, never reported;
 * - a key runs on at most one thread: a task given again while a freed run of its key is still
 *   on a thread (cancelled and submitted again) starts when that run ended, so a result is
 *   always that of the run it is reported for.
 */
import type { Message } from "../protocol/messages.js";
import { Op, type WireError } from "../protocol/ops.js";

/** Results up to this size travel with task-finished and key-in-memory. */
export const INLINE_RESULT_BYTES = 1024;

/** A value as stored: encoded head then raw parts (large binaries). */
export type Stored = Buffer[];

/**
 * What the data map holds: a value in memory, or an opaque stand-in for one the I/O layer put
 * elsewhere (spilled to disk); the state machine only passes such values on.
 */
export type Held = Stored | { readonly nbytes: number };

export function storedBytes(s: Held): number {
  if (!Array.isArray(s)) return s.nbytes;
  let n = 0;
  for (const b of s) n += b.length;
  return n;
}

export interface ComputeTask {
  key: string;
  fn: unknown;
  args: Buffer[];
  /** holders of each dependency */
  whoHas: Record<string, string[]>;
  priority: number;
}

interface WTask extends ComputeTask {
  state: "fetching" | "ready" | "executing";
  missing: Set<string>;
}

export type WorkerInstruction =
  | { type: "send"; msg: Message }
  | { type: "fetch"; worker: string; keys: string[] }
  | { type: "execute"; key: string; fn: unknown; args: Buffer[]; deps: Record<string, Held> };

export class WorkerState {
  readonly data = new Map<string, Held>();
  readonly tasks = new Map<string, WTask>();
  /** dependency key -> the peer it is being fetched from */
  readonly inFlight = new Map<string, string>();
  #tried = new Map<string, Set<string>>();
  #holders = new Map<string, string[]>();
  #waitingOn = new Map<string, Set<WTask>>();
  #ready: WTask[] = [];
  /** some task had a non-zero priority: keep the ready list sorted */
  #prioritized = false;
  #executing = 0;
  #paused = false;
  #slots: number;
  #out: WorkerInstruction[] = [];

  /** `slots`: tasks handed to the executor at once (its threads queue the rest). */
  constructor(slots: number) {
    this.#slots = slots;
  }

  get executing(): number {
    return this.#executing;
  }

  get readyCount(): number {
    return this.#ready.length;
  }

  computeTask(msg: ComputeTask): WorkerInstruction[] {
    if (this.tasks.has(msg.key) || this.data.has(msg.key)) return [];
    const t: WTask = { ...msg, state: "ready", missing: new Set() };
    if (msg.priority) this.#prioritized = true;
    this.tasks.set(t.key, t);
    for (const [dep, holders] of Object.entries(msg.whoHas)) {
      if (this.data.has(dep)) continue;
      t.missing.add(dep);
      let waiting = this.#waitingOn.get(dep);
      if (!waiting) this.#waitingOn.set(dep, (waiting = new Set()));
      waiting.add(t);
      this.#holders.set(dep, holders);
    }
    if (t.missing.size) {
      t.state = "fetching";
      this.#fetchMissing();
    } else {
      this.#ready.push(t);
    }
    this.#run();
    return this.#flush();
  }

  /** A peer answered a fetch: what it had, and which keys it did not have. */
  fetchDone(worker: string, got: Record<string, Stored>, notThere: string[]): WorkerInstruction[] {
    const added: string[] = [];
    for (const [key, value] of Object.entries(got)) {
      if (this.inFlight.get(key) !== worker) continue;
      this.inFlight.delete(key);
      if (!this.#waitingOn.has(key)) continue; // nobody needs it any more
      this.data.set(key, value);
      added.push(key);
      this.#arrived(key);
    }
    if (added.length) this.#out.push({ type: "send", msg: { op: Op.addReplica, keys: added } });
    this.#failed(worker, notThere);
    this.#run();
    return this.#flush();
  }

  /** A fetch from `worker` failed as a whole (connection refused, peer gone). */
  fetchFailed(worker: string, keys: string[]): WorkerInstruction[] {
    this.#failed(worker, keys);
    this.#run();
    return this.#flush();
  }

  /** A thread finished a task. */
  executed(key: string, result: { ok: true; value: Stored; durationS: number } | { ok: false; error: WireError; durationS: number }): WorkerInstruction[] {
    const t = this.tasks.get(key);
    if (this.#freedWhileRunning.delete(key)) {
      // the run of a freed task (no other run of the key started meanwhile): its result is void
      this.#executing--;
    } else if (t && t.state === "executing") {
      this.#executing--;
      this.tasks.delete(key);
      this.#release(t);
      if (result.ok) {
        this.data.set(key, result.value);
        const nbytes = storedBytes(result.value);
        // a small result rides along, so a waiting client needs no extra round trips to get it
        const inline = nbytes <= INLINE_RESULT_BYTES ? result.value : undefined;
        this.#out.push({ type: "send", msg: { op: Op.taskFinished, key, nbytes, duration: result.durationS, value: inline } });
      } else {
        this.#out.push({ type: "send", msg: { op: Op.taskErred, key, error: result.error } });
      }
    }
    this.#run();
    return this.#flush();
  }

  /** keys freed while on a thread, whose run has not ended (a key sent again waits for it) */
  #freedWhileRunning = new Set<string>();

  /** The scheduler freed these keys: drop data and pending work for them. */
  freeKeys(keys: string[]): WorkerInstruction[] {
    for (const key of keys) {
      this.data.delete(key);
      const t = this.tasks.get(key);
      if (!t) continue;
      this.tasks.delete(key);
      if (t.state === "executing") this.#freedWhileRunning.add(key);
      else if (t.state === "ready") this.#ready.splice(this.#ready.indexOf(t), 1);
      this.#release(t);
    }
    this.#run();
    return this.#flush();
  }

  /** Data put here directly (scatter, replication). */
  putData(key: string, value: Stored): void {
    this.data.set(key, value);
    if (this.#waitingOn.has(key)) {
      this.inFlight.delete(key);
      this.#arrived(key);
      this.#run();
    }
  }

  /** Lost the scheduler: everything it gave us is void. */
  reset(): void {
    this.data.clear();
    this.tasks.clear();
    this.inFlight.clear();
    this.#tried.clear();
    this.#holders.clear();
    this.#waitingOn.clear();
    this.#ready = [];
    this.#freedWhileRunning.clear();
    this.#executing = 0;
    this.#out = [];
  }

  // ---- internals ----------------------------------------------------------------------------

  #arrived(dep: string): void {
    const waiting = this.#waitingOn.get(dep);
    this.#waitingOn.delete(dep);
    this.#tried.delete(dep);
    this.#holders.delete(dep);
    for (const t of waiting ?? []) {
      t.missing.delete(dep);
      if (t.missing.size === 0 && t.state === "fetching") {
        t.state = "ready";
        this.#ready.push(t);
      }
    }
  }

  #failed(worker: string, keys: string[]): void {
    for (const key of keys) {
      if (this.inFlight.get(key) !== worker) continue;
      this.inFlight.delete(key);
    }
    this.#fetchMissing();
  }

  /** Start fetches for dependencies not in flight, grouped per peer. */
  #fetchMissing(): void {
    const perPeer = new Map<string, string[]>();
    for (const [dep, waiting] of this.#waitingOn) {
      if (this.inFlight.has(dep) || this.data.has(dep)) continue;
      let tried = this.#tried.get(dep);
      if (!tried) this.#tried.set(dep, (tried = new Set()));
      const peer = (this.#holders.get(dep) ?? []).find((h) => !tried!.has(h));
      if (!peer) {
        // every holder failed: the scheduler decides what happens to the tasks needing it
        for (const t of waiting) {
          this.tasks.delete(t.key);
          this.#release(t);
          this.#out.push({ type: "send", msg: { op: Op.missingData, key: t.key, missing: dep, holders: [...tried] } });
        }
        this.#waitingOn.delete(dep);
        this.#tried.delete(dep);
        continue;
      }
      tried.add(peer);
      this.inFlight.set(dep, peer);
      perPeer.set(peer, [...(perPeer.get(peer) ?? []), dep]);
    }
    for (const [worker, keys] of perPeer) this.#out.push({ type: "fetch", worker, keys });
  }

  /** A task left: it no longer waits for its dependencies. */
  #release(t: WTask): void {
    for (const dep of t.missing) {
      const waiting = this.#waitingOn.get(dep);
      waiting?.delete(t);
      if (waiting && waiting.size === 0) this.#waitingOn.delete(dep);
    }
  }

  /** Paused (memory above the pause threshold): tasks wait until resumed. */
  setPaused(paused: boolean): WorkerInstruction[] {
    this.#paused = paused;
    this.#run();
    return this.#flush();
  }

  get paused(): boolean {
    return this.#paused;
  }

  #run(): void {
    if (this.#paused) return;
    if (this.#prioritized && this.#ready.length > 1) this.#ready.sort((a, b) => b.priority - a.priority);
    const later: WTask[] = [];
    while (this.#ready.length && this.#executing < this.#slots) {
      const t = this.#ready.shift()!;
      if (this.#freedWhileRunning.has(t.key)) {
        later.push(t); // a freed run of this key is still on a thread: start when it ended
        continue;
      }
      t.state = "executing";
      this.#executing++;
      const deps: Record<string, Held> = {};
      for (const dep of Object.keys(t.whoHas)) {
        const d = this.data.get(dep);
        if (d) deps[dep] = d;
      }
      this.#out.push({ type: "execute", key: t.key, fn: t.fn, args: t.args, deps });
    }
    if (later.length) this.#ready.unshift(...later);
  }

  #flush(): WorkerInstruction[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }
}
