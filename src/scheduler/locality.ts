/**
 * Where data lives (issue 14): has-what, nbytes, replicate and rebalance. The scheduler decides
 * (the plan of state-rebalance.ts, the replica counts here); a holder copies values straight to
 * the chosen worker (replicate-to: put-data worker to worker, the retirement path, so nothing is
 * recomputed), the scheduler records the new copy, and, for a move, tells the source to drop its
 * own (free-keys). A copy that arrives for a key no longer in memory is freed at once.
 */
import type { Rpc } from "../comm/rpc.js";
import { describeError } from "../errors.js";
import { type HasWhat, NOT_IN_MEMORY, type NbytesRequest, type Rebalance, type Replicate } from "../protocol/messages-locality.js";
import { keyedMap } from "../protocol/messages.js";
import { Op } from "../protocol/ops.js";
import { type Instruction, type SchedulerState, type TaskRecord, TaskState } from "./state.js";
import { planRebalance } from "./state-rebalance.js";

/** A holder may take this long to copy a batch of values to another worker. */
const COPY_TIMEOUT_MS = 120_000;

export interface LocalityHost {
  readonly state: SchedulerState;
  readonly workers: ReadonlyMap<string, Rpc>;
  run(instructions: Instruction[]): void;
  /** a copy of scattered data was recorded on `worker` (a journaled scheduler journals it: it has no lineage) */
  copiedScattered?(key: string, worker: string, nbytes: number): void;
  /** resolves once what was journaled so far is on disk (a journaled scheduler): before a copy is dropped, the copies kept are */
  durable?(): Promise<void>;
  /** resolves once work resumes after a take-over (the workers that hold values are back): where values are is known only then */
  resumed?(): Promise<void>;
}

export class Locality {
  readonly #h: LocalityHost;

  constructor(host: LocalityHost) {
    this.#h = host;
  }

  hasWhat(m: HasWhat): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const a of this.#workers(m.workers, "has-what")) out[a] = [...this.#h.state.workers.get(a)!.hasWhat].map((t) => t.key);
    return out;
  }

  nbytes(m: NbytesRequest): Record<string, number> {
    const out: Record<string, number> = {};
    const tasks = this.#h.state.tasks;
    if (m.keys) {
      for (const k of m.keys) {
        const t = tasks.get(k);
        if (t && t.state === TaskState.memory) out[k] = t.nbytes;
      }
    } else {
      for (const t of tasks.values()) if (t.state === TaskState.memory) out[t.key] = t.nbytes;
    }
    return out;
  }

  async replicate(m: Replicate): Promise<{ copied: number; dropped: number }> {
    await this.#h.resumed?.();
    // a retiring worker takes no copies
    const targets = this.#workers(m.workers, "replicate").filter((a) => !this.#h.state.workers.get(a)!.closing);
    if (m.n > targets.length) {
      throw new RangeError(`replicate: n=${m.n} copies asked, but there are only ${targets.length} workers${m.workers ? ` among ${JSON.stringify(m.workers)}` : ""} (not retiring)`);
    }
    const tasks = this.#inMemory(m.keys, "replicate");
    const state = this.#h.state;
    const projected = new Map(targets.map((a) => [a, state.workers.get(a)!.nbytes]));
    const copies: Array<{ key: string; from: string; to: string }> = [];
    const drops: Array<[string, string]> = [];
    let turn = 0;
    for (const t of tasks) {
      const holders = targets.filter((a) => t.whoHas.has(a));
      if (holders.length < m.n) {
        const from = [...t.whoHas];
        const free = targets.filter((a) => !t.whoHas.has(a)).sort((a, b) => projected.get(a)! - projected.get(b)!);
        for (const to of free.slice(0, m.n - holders.length)) {
          copies.push({ key: t.key, from: from[turn++ % from.length]!, to });
          projected.set(to, projected.get(to)! + t.nbytes);
        }
      } else if (holders.length > m.n) {
        // the fullest holders give theirs up
        const fullest = holders.sort((a, b) => projected.get(b)! - projected.get(a)!);
        for (const a of fullest.slice(0, holders.length - m.n)) {
          drops.push([t.key, a]);
          projected.set(a, projected.get(a)! - t.nbytes);
        }
      }
    }
    const { done: copied, error } = await this.#copy(copies);
    if (error) throw error; // nothing dropped: the copies asked for are not all there
    // a scheduler taking over must know the copies that stay before any is dropped (scattered data has no lineage)
    if (drops.length) await this.#h.durable?.();
    let dropped = 0;
    for (const [key, a] of drops) {
      const ins = state.removeReplica(key, a);
      if (ins) {
        this.#h.run(ins);
        dropped++;
      }
    }
    return { copied: copied.length, dropped };
  }

  async rebalance(m: Rebalance): Promise<{ moved: number; bytes: number }> {
    await this.#h.resumed?.();
    const state = this.#h.state;
    const among = this.#workers(m.workers, "rebalance").filter((a) => !state.workers.get(a)!.closing);
    const only = m.keys ? new Set(this.#inMemory(m.keys, "rebalance")) : undefined;
    const plan = planRebalance(
      among.map((a) => {
        const ws = state.workers.get(a)!;
        const keys = [...ws.hasWhat]
          .filter((t) => t.state === TaskState.memory && (!only || only.has(t)))
          .map((t) => ({ key: t.key, nbytes: t.nbytes, holders: t.whoHas }));
        return { address: a, nbytes: ws.nbytes, keys };
      }),
    );
    const { done: moved, error } = await this.#copy(plan);
    if (moved.length) await this.#h.durable?.(); // the new holders on disk before the old copies go
    let bytes = 0;
    for (const mv of moved) {
      const ins = state.removeReplica(mv.key, mv.from);
      if (ins) this.#h.run(ins);
      bytes += state.tasks.get(mv.key)?.nbytes ?? 0;
    }
    if (error) throw error; // the moves that were made are complete (freed at their source)
    return { moved: moved.length, bytes };
  }

  /**
   * Copy values holder to worker, a batch per pair; the copies the scheduler now counts. A
   * batch that fails (a holder or target gone) does not stop the others: the first failure,
   * naming the pair, comes back for the caller to throw once it has recorded what was done.
   */
  async #copy<C extends { key: string; from: string; to: string }>(copies: C[]): Promise<{ done: C[]; error: unknown }> {
    const batches = new Map<string, C[]>();
    for (const c of copies) {
      const pair = `${c.from}\n${c.to}`;
      batches.set(pair, [...(batches.get(pair) ?? []), c]);
    }
    const done: C[] = [];
    const results = await Promise.allSettled(
      [...batches.values()].map(async (batch) => {
        const { from, to } = batch[0]!;
        const recorded = new Set(await this.copy(from, to, batch.map((c) => c.key)));
        for (const c of batch) if (recorded.has(c.key)) done.push(c);
      }),
    );
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    return { done, error: failed?.reason };
  }

  /**
   * `from` copies these keys to `to` (replicate-to); the copies it made are recorded: a replica
   * where its key is still the task it was when asked, in memory with the same value (its
   * number). Any other is stray (its key released meanwhile, maybe submitted again since with
   * another function: never counted as a copy of that) and freed there, unless `to` now runs or
   * holds the key. The keys recorded.
   */
  async copy(from: string, to: string, keys: string[], timeoutMs = COPY_TIMEOUT_MS): Promise<string[]> {
    const state = this.#h.state;
    const rpc = this.#h.workers.get(from);
    if (!rpc) throw new Error(`worker ${from} left before it could copy ${keys.length} values to ${to}`);
    const asked = new Map(keys.map((k) => [k, state.tasks.get(k)]));
    // each value's number, as it is now: the copy is of that value, whatever the key holds later
    const runs = keyedMap<number>();
    for (const [k, t] of asked) if (t) runs[k] = t.run;
    let sent: string[];
    try {
      sent = await rpc.request<string[]>({ op: Op.replicateTo, target: to, runs }, timeoutMs);
    } catch (err) {
      throw new Error(`copying ${keys.length} values from ${from} to ${to} failed: ${describeError(err)}`, { cause: err });
    }
    const recorded: string[] = [];
    const stray: string[] = [];
    for (const key of sent) {
      const t = state.tasks.get(key);
      if (t !== undefined && t === asked.get(key) && runs[key] !== undefined && state.addReplica(key, to, runs[key])) {
        recorded.push(key);
        if (t.fn === null) this.#h.copiedScattered?.(key, to, t.nbytes);
      }
      else if (t === undefined || (t.processingOn !== to && !t.whoHas.has(to))) stray.push(key);
    }
    if (stray.length) this.#h.run([{ type: "send-worker", worker: to, msg: { op: Op.freeKeys, keys: stray } }]);
    return recorded;
  }

  /** Addresses of the named workers (names or addresses; default all); an unknown one is an error naming it. */
  #workers(names: string[] | undefined, what: string): string[] {
    const workers = [...this.#h.state.workers.values()];
    if (!names) return workers.map((w) => w.address);
    const out: string[] = [];
    for (const n of names) {
      const ws = workers.find((w) => w.address === n || w.name === n);
      if (!ws) throw new Error(`${what}: unknown worker ${JSON.stringify(n)} (workers: ${JSON.stringify(workers.map((w) => w.name))})`);
      if (!out.includes(ws.address)) out.push(ws.address);
    }
    return out;
  }

  /**
   * The keys' records, each in memory; else an error naming the first that is not. One being
   * computed again (its holder was lost after the client saw it done) is a `NotInMemoryError`:
   * the client waits for its futures again and asks again (client/locality.ts).
   */
  #inMemory(keys: string[], what: string): TaskRecord[] {
    return keys.map((k) => {
      const t = this.#h.state.tasks.get(k);
      if (t?.state === TaskState.memory) return t;
      const err = new Error(`${what}: ${JSON.stringify(k)} is not in memory (it is ${t?.state ?? "unknown to the scheduler"})`);
      if (t && (t.state === TaskState.waiting || t.state === TaskState.queued || t.state === TaskState.processing)) err.name = NOT_IN_MEMORY;
      throw err;
    });
  }
}
