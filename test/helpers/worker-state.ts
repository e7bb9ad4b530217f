// Drives the worker's pure state machine (src/worker/state-machine.ts) the way worker.ts does:
// numbered stimulus ids, and the values it says to store or free kept in a map, so tests can
// check what the worker would hold. Returns the other instructions (send, fetch, execute).
import { WorkerState, type ComputeTask, type WorkerEvent, type WorkerInstruction } from "../../src/worker/state-machine.js";

export type Value = Buffer[];
type Result = { ok: true; value: Value; durationS: number } | { ok: false; error: { name: string; message: string; stack: string }; durationS: number };

export const bytesOf = (v: Value) => v.reduce((n, b) => n + b.length, 0);

export class Driver {
  readonly w: WorkerState<Value>;
  /** what the shell's data store would hold */
  readonly data = new Map<string, Value>();
  /** every instruction, store and free-data included, of the last event */
  last: WorkerInstruction<Value>[] = [];
  #n = 0;
  /** every fetch the machine asked for, for the replies' ids */
  #fetches: Array<{ worker: string; id: number; keys: string[] }> = [];

  constructor(slots: number) {
    this.w = new WorkerState<Value>(slots);
  }

  get tasks() {
    return this.w.tasks;
  }
  get inFlight() {
    return this.w.inFlight;
  }
  get executing() {
    return this.w.executing;
  }
  get readyCount() {
    return this.w.readyCount;
  }
  get paused() {
    return this.w.paused;
  }

  handle(e: WorkerEvent<Value>): WorkerInstruction<Value>[] {
    this.last = this.w.handle(e);
    for (const i of this.last) {
      if (i.type === "fetch") this.#fetches.push(i);
      if (i.type === "store") this.data.set(i.key, i.value);
      else if (i.type === "free-data") for (const k of i.keys) this.data.delete(k);
    }
    // the store mirrors the machine's sizes
    if (this.data.size !== this.w.held.size) throw new Error(`data store ${this.data.size} keys, state machine ${this.w.held.size}`);
    return this.last.filter((i) => i.type !== "store" && i.type !== "free-data");
  }

  sid(what: string): string {
    return `${what}-${++this.#n}`;
  }

  computeTask(task: ComputeTask) {
    return this.handle({ type: "compute-task", stimulusId: this.sid("compute-task"), task });
  }
  /** The id of the newest fetch from `worker` that asked for one of `keys` (-1: none, a reply nobody asked for). */
  fetchId(worker: string, keys: string[]): number {
    for (let i = this.#fetches.length - 1; i >= 0; i--) {
      const f = this.#fetches[i]!;
      if (f.worker === worker && keys.some((k) => f.keys.includes(k))) return f.id;
    }
    return -1;
  }
  /** A reply to the newest fetch of these keys from `worker`, or to fetch `id`. */
  fetchDone(worker: string, got: Record<string, Value>, notThere: string[], id = this.fetchId(worker, [...Object.keys(got), ...notThere])) {
    const sized = new Map(Object.entries(got).map(([k, value]) => [k, { nbytes: bytesOf(value), value }]));
    return this.handle({ type: "fetch-done", stimulusId: this.sid("fetch-done"), worker, id, got: sized, notThere });
  }
  fetchFailed(worker: string, keys: string[], tooLarge?: { bytes: number; limit: number }, id = this.fetchId(worker, keys)) {
    return this.handle({ type: "fetch-failed", stimulusId: this.sid("fetch-failed"), worker, id, keys, ...(tooLarge && { tooLarge }) });
  }
  executed(key: string, r: Result) {
    const result = r.ok ? { ok: true as const, value: r.value, nbytes: bytesOf(r.value), durationS: r.durationS } : r;
    return this.handle({ type: "executed", stimulusId: this.sid("executed"), key, result });
  }
  freeKeys(keys: string[]) {
    return this.handle({ type: "free-keys", stimulusId: this.sid("free-keys"), keys });
  }
  putData(key: string, value: Value) {
    return this.handle({ type: "put-data", stimulusId: this.sid("put-data"), key, nbytes: bytesOf(value), value });
  }
  setPaused(paused: boolean) {
    return this.handle({ type: paused ? "pause" : "resume", stimulusId: this.sid("pause") });
  }
  reset() {
    return this.handle({ type: "reset", stimulusId: this.sid("reset") });
  }
}
