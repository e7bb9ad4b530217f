/**
 * The scheduler's pure state machine: workers, tasks and who wants them. It does no I/O.
 * Each event method takes a stimulus id and returns Instructions (messages to send) as data;
 * the server (scheduler/server.ts) carries them out.
 *
 * Invariants:
 * - a task is in exactly one state; `processing` tasks have `processingOn` set and appear in
 *   that worker's `processing` set; `memory` tasks have a non-empty `whoHas`.
 * - every state change goes through #transition, which consults the TRANSITIONS table and
 *   appends to the task's story, so `story(key)` tells how it got where it is.
 * - a task no client wants is released and forgotten; results on workers are freed with it.
 */
import type { WireError } from "../protocol/ops.js";
import { Op } from "../protocol/ops.js";
import type { Message } from "../comm/tcp.js";

export const TaskState = {
  released: "released",
  queued: "queued",
  processing: "processing",
  memory: "memory",
  erred: "erred",
  forgotten: "forgotten",
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];

/** What a client submits for one task. */
export interface TaskSpec {
  key: string;
  /** Function source (shipped) */
  fn: string;
  /** msgpack-encoded argument list, opaque to the scheduler */
  args: Uint8Array;
  /** Worker names or addresses the task may run on. */
  workers?: string[];
  allowOtherWorkers?: boolean;
}

export interface TaskRecord {
  spec: TaskSpec;
  state: TaskState;
  processingOn?: string;
  whoHas: Set<string>;
  nbytes: number;
  error?: WireError;
  wantedBy: Set<string>;
  story: Array<{ stimulusId: string; from: TaskState; to: TaskState; at: number }>;
}

export interface WorkerInfo {
  address: string;
  name: string;
  host: string;
  nthreads: number;
  memoryLimit: number;
  pid: number;
}

export interface WorkerRecord extends WorkerInfo {
  processing: Set<string>;
  hasWhat: Set<string>;
  lastSeen: number;
  metrics: Record<string, unknown>;
}

export type Instruction =
  | { type: "send-worker"; worker: string; msg: Message }
  | { type: "send-client"; client: string; msg: Message };

/** Tasks in flight per thread before the rest wait on the scheduler. */
export const SATURATION = 2;
const STORY_LIMIT = 32;

type Transition = (state: SchedulerState, task: TaskRecord, stimulusId: string) => void;

const TRANSITIONS = new Map<string, Transition>([
  ["released->queued", (s, t) => s.enqueue(t)],
  ["queued->processing", () => {}],
  ["processing->memory", (s, t) => s.notifyClients(t, { op: Op.keyInMemory, key: t.spec.key, nbytes: t.nbytes })],
  ["processing->erred", (s, t) => s.notifyClients(t, { op: Op.keyErred, key: t.spec.key, error: t.error })],
  ["processing->queued", (s, t) => s.enqueue(t)],
  ["memory->queued", (s, t) => {
    s.notifyClients(t, { op: Op.keyLost, key: t.spec.key });
    s.enqueue(t);
  }],
  ["queued->released", (s, t) => s.dequeue(t)],
  ["processing->released", () => {}],
  ["memory->released", () => {}],
  ["erred->released", () => {}],
  ["released->forgotten", (s, t) => s.tasks.delete(t.spec.key)],
]);

export class SchedulerState {
  readonly workers = new Map<string, WorkerRecord>();
  readonly tasks = new Map<string, TaskRecord>();
  readonly clients = new Set<string>();
  #queue: string[] = [];
  #out: Instruction[] = [];

  // ---- events -------------------------------------------------------------------------------

  addWorker(info: WorkerInfo, now: number): Instruction[] {
    this.workers.set(info.address, { ...info, processing: new Set(), hasWhat: new Set(), lastSeen: now, metrics: {} });
    this.#fill(`add-worker-${info.name}`);
    return this.#flush();
  }

  /** A worker left or died: rerun what it was computing, recompute what it held if wanted. */
  removeWorker(address: string, stimulusId: string): Instruction[] {
    const ws = this.workers.get(address);
    if (!ws) return [];
    this.workers.delete(address);
    for (const key of ws.processing) {
      const t = this.tasks.get(key);
      if (t && t.state === TaskState.processing && t.processingOn === address) {
        t.processingOn = undefined;
        this.#transition(t, TaskState.queued, stimulusId);
      }
    }
    for (const key of ws.hasWhat) {
      const t = this.tasks.get(key);
      if (!t) continue;
      t.whoHas.delete(address);
      if (t.state === TaskState.memory && t.whoHas.size === 0) this.#transition(t, TaskState.queued, stimulusId);
    }
    this.#fill(stimulusId);
    return this.#flush();
  }

  heartbeat(address: string, metrics: Record<string, unknown>, now: number): void {
    const ws = this.workers.get(address);
    if (ws) {
      ws.lastSeen = now;
      ws.metrics = metrics;
    }
  }

  addClient(client: string): void {
    this.clients.add(client);
  }

  removeClient(client: string, stimulusId: string): Instruction[] {
    this.clients.delete(client);
    const keys = [...this.tasks.values()].filter((t) => t.wantedBy.has(client)).map((t) => t.spec.key);
    return this.releaseKeys(client, keys, stimulusId);
  }

  /** New tasks from a client; a key already known just gains a wanter (and its current news). */
  updateGraph(client: string, specs: TaskSpec[], stimulusId: string): Instruction[] {
    for (const spec of specs) {
      let t = this.tasks.get(spec.key);
      if (t) {
        t.wantedBy.add(client);
        if (t.state === TaskState.memory) this.#sendClient(client, { op: Op.keyInMemory, key: spec.key, nbytes: t.nbytes });
        if (t.state === TaskState.erred) this.#sendClient(client, { op: Op.keyErred, key: spec.key, error: t.error });
        continue;
      }
      t = { spec, state: TaskState.released, whoHas: new Set(), nbytes: 0, wantedBy: new Set([client]), story: [] };
      this.tasks.set(spec.key, t);
      this.#transition(t, TaskState.queued, stimulusId);
    }
    this.#fill(stimulusId);
    return this.#flush();
  }

  taskFinished(worker: string, key: string, nbytes: number, stimulusId: string): Instruction[] {
    const t = this.tasks.get(key);
    const ws = this.workers.get(worker);
    ws?.processing.delete(key);
    if (!t || t.state !== TaskState.processing || t.processingOn !== worker) {
      // a result nobody waits for any more (released, or rerun elsewhere): free it there
      if (ws && !(t && t.state === TaskState.memory)) this.#sendWorker(worker, { op: Op.freeKeys, keys: [key] });
      else if (ws && t) this.#addReplica(t, ws);
    } else {
      t.processingOn = undefined;
      t.nbytes = nbytes;
      if (ws) this.#addReplica(t, ws);
      this.#transition(t, TaskState.memory, stimulusId);
    }
    this.#fill(stimulusId);
    return this.#flush();
  }

  taskErred(worker: string, key: string, error: WireError, stimulusId: string): Instruction[] {
    const t = this.tasks.get(key);
    this.workers.get(worker)?.processing.delete(key);
    if (t && t.state === TaskState.processing && t.processingOn === worker) {
      t.processingOn = undefined;
      t.error = error;
      this.#transition(t, TaskState.erred, stimulusId);
    }
    this.#fill(stimulusId);
    return this.#flush();
  }

  /** The client no longer wants these keys; keys nobody wants are released and forgotten. */
  releaseKeys(client: string, keys: string[], stimulusId: string): Instruction[] {
    for (const key of keys) {
      const t = this.tasks.get(key);
      if (!t || !t.wantedBy.delete(client) || t.wantedBy.size > 0) continue;
      const holders = [...t.whoHas];
      for (const w of holders) {
        this.workers.get(w)?.hasWhat.delete(key);
        this.#sendWorker(w, { op: Op.freeKeys, keys: [key] });
      }
      if (t.state === TaskState.processing && t.processingOn) {
        this.workers.get(t.processingOn)?.processing.delete(key);
        this.#sendWorker(t.processingOn, { op: Op.freeKeys, keys: [key] });
      }
      t.whoHas.clear();
      t.processingOn = undefined;
      this.#transition(t, TaskState.released, stimulusId);
      this.#transition(t, TaskState.forgotten, stimulusId);
    }
    this.#fill(stimulusId);
    return this.#flush();
  }

  // ---- queries ------------------------------------------------------------------------------

  whoHas(keys: string[]): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const k of keys) out[k] = [...(this.tasks.get(k)?.whoHas ?? [])];
    return out;
  }

  story(key: string): TaskRecord["story"] {
    return this.tasks.get(key)?.story ?? [];
  }

  // ---- used by the transition table ----------------------------------------------------------

  enqueue(t: TaskRecord): void {
    this.#queue.push(t.spec.key);
  }

  dequeue(t: TaskRecord): void {
    const i = this.#queue.indexOf(t.spec.key);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  notifyClients(t: TaskRecord, msg: Message): void {
    for (const c of t.wantedBy) this.#sendClient(c, msg);
  }

  // ---- internals ----------------------------------------------------------------------------

  #transition(t: TaskRecord, to: TaskState, stimulusId: string): void {
    const from = t.state;
    const fn = TRANSITIONS.get(`${from}->${to}`);
    if (!fn) throw new Error(`illegal transition ${from}->${to} for ${t.spec.key} (${stimulusId})`);
    t.state = to;
    t.story.push({ stimulusId, from, to, at: Date.now() });
    if (t.story.length > STORY_LIMIT) t.story.shift();
    fn(this, t, stimulusId);
  }

  #addReplica(t: TaskRecord, ws: WorkerRecord): void {
    t.whoHas.add(ws.address);
    ws.hasWhat.add(t.spec.key);
  }

  /** Give queued tasks to workers with free slots, least occupied first. */
  #fill(stimulusId: string): void {
    if (this.#queue.length === 0 || this.workers.size === 0) return;
    const remaining: string[] = [];
    for (let i = 0; i < this.#queue.length; i++) {
      const key = this.#queue[i]!;
      const t = this.tasks.get(key);
      if (!t || t.state !== TaskState.queued) continue;
      const ws = this.#pickWorker(t);
      if (!ws) {
        remaining.push(key);
        // an unrestricted task that finds no slot means every worker is full
        if (!t.spec.workers) {
          remaining.push(...this.#queue.slice(i + 1));
          break;
        }
        continue;
      }
      ws.processing.add(key);
      t.processingOn = ws.address;
      this.#transition(t, TaskState.processing, stimulusId);
      this.#sendWorker(ws.address, { op: Op.computeTask, key, fn: t.spec.fn, args: t.spec.args });
    }
    this.#queue = remaining;
  }

  #pickWorker(t: TaskRecord): WorkerRecord | undefined {
    const allowed = t.spec.workers;
    let best = this.#leastOccupied((ws) => !allowed || allowed.includes(ws.name) || allowed.includes(ws.address));
    if (!best && allowed && t.spec.allowOtherWorkers) best = this.#leastOccupied(() => true);
    return best;
  }

  #leastOccupied(ok: (ws: WorkerRecord) => boolean): WorkerRecord | undefined {
    let best: WorkerRecord | undefined;
    let bestLoad = Infinity;
    for (const ws of this.workers.values()) {
      if (ws.processing.size >= ws.nthreads * SATURATION || !ok(ws)) continue;
      const load = ws.processing.size / ws.nthreads;
      if (load < bestLoad) {
        best = ws;
        bestLoad = load;
      }
    }
    return best;
  }

  #sendWorker(worker: string, msg: Message): void {
    this.#out.push({ type: "send-worker", worker, msg });
  }

  #sendClient(client: string, msg: Message): void {
    this.#out.push({ type: "send-client", client, msg });
  }

  #flush(): Instruction[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }
}
