/**
 * What the journal's records mean, with no I/O: `JournalState` folds records into the durable
 * facts (graphs with who wants what, completions, errors, checkpoints, extension state) and plans
 * compaction (`snapshot()`: only what is live). The scheduler replays `live()` at take-over.
 *
 * Records are short arrays (their first element names them), so a task costs few bytes:
 *   ["f", fnId, wireFunction]                 a function, before the first task naming it
 *   ["g", client, [[key, fnId, args, deps, opts?], ...]]   a graph as submitted; scattered
 *                                             data as tasks of fnId SCATTERED (no args, no
 *                                             deps), then its completion on its worker
 *   ["w", workerId, address]                  a worker, before the first completion on it
 *   ["d", key, workerId, nbytes]              a completion
 *   ["D", [[key, workerId, nbytes], ...]]     completions of one group
 *   ["wx", workerId]                          that worker left: what it held is gone
 *   ["e", key, wireError]                     an error
 *   ["y", keys]                               erred keys run again (retry): their errors cleared
 *   ["ww", client, keys]                      a client (or holder name) wants keys already journaled
 *                                             ("fire-and-forget": until each is done or erred)
 *   ["r", client, keys]                       a client's release of keys
 *   ["c", client]                             a client left (all its wants released)
 *   ["n", keys | null]                        a cancel: these keys (null: all, a restart) and
 *                                             every task depending on them, wanted by no one
 *   ["k", key]                                a checkpoint of the key's result was written
 *   ["x", extension, name, value | null]      an extension's state under a name (null: deleted)
 *   ["s", snapshot]                           the whole live state (a compacted journal's start)
 *
 * Invariant: after any sequence of records, `live()` holds every task some client wants and the
 * tasks they depend on (their lineage), and nothing else.
 */
import type { WireFunction } from "../protocol/messages.js";
import { FIRE_AND_FORGET } from "./state-types.js";

/** The function number of scattered data (a client's scatter): no function, no lineage. */
export const SCATTERED = -1;

/** A task as journaled: opts holds what is not the default (priority, retries, placement, checkpoint). */
export type JournalTask = [key: string, fn: number, args: Uint8Array[], deps: string[], opts?: JournalTaskOptions];
export type JournalTaskOptions = {
  priority?: number;
  retries?: number;
  workers?: string[];
  allowOtherWorkers?: boolean;
  resources?: Record<string, number>;
  checkpoint?: boolean;
};

export interface Snapshot {
  functions: Array<[number, WireFunction]>;
  tasks: JournalTask[];
  wants: Array<[string, string[]]>;
  workers: Array<[number, string]>;
  done: Array<[string, number, number]>;
  erred: Array<[string, unknown]>;
  checkpoints: string[];
  ext: Array<[string, string, unknown]>;
}

export class JournalState {
  readonly functions = new Map<number, WireFunction>();
  readonly tasks = new Map<string, JournalTask>();
  /** client -> keys it wants */
  readonly wants = new Map<string, Set<string>>();
  readonly workers = new Map<number, string>();
  /**
   * key -> its holders the journal vouches for: workerId -> nbytes. A task's completion names
   * one; scattered data names every worker it was put on (a broadcast), since it has no lineage
   * to compute it again from if the one named did not come back.
   */
  readonly done = new Map<string, Map<number, number>>();
  readonly erred = new Map<string, unknown>();
  readonly checkpoints = new Set<string>();
  /** extension -> name -> value */
  readonly ext = new Map<string, Map<string, unknown>>();

  /** Fold one record in; throws naming a record this build does not know. */
  apply(rec: unknown): void {
    if (!Array.isArray(rec) || typeof rec[0] !== "string") throw new TypeError(`a journal record must be an array starting with its kind, got ${JSON.stringify(rec)?.slice(0, 80)}`);
    const r = rec as [string, ...unknown[]];
    switch (r[0]) {
      case "f":
        this.functions.set(r[1] as number, r[2] as WireFunction);
        break;
      case "g": {
        const client = r[1] as string;
        let w = this.wants.get(client);
        if (!w) this.wants.set(client, (w = new Set()));
        for (const t of r[2] as JournalTask[]) {
          const had = this.tasks.get(t[0]);
          if (!had) this.tasks.set(t[0], t);
          else {
            // the key came back (the scheduler journals a graph only for keys it did not know:
            // it was released, then submitted again): a new run, whose own completion or error
            // comes later; a checkpoint stays only for the same computation
            if (!sameSpec(had, t)) {
              this.tasks.set(t[0], t);
              this.checkpoints.delete(t[0]);
            }
            this.done.delete(t[0]);
            this.erred.delete(t[0]);
          }
          w.add(t[0]);
        }
        break;
      }
      case "ww": {
        let w = this.wants.get(r[1] as string);
        if (!w) this.wants.set(r[1] as string, (w = new Set()));
        for (const k of r[2] as string[]) w.add(k);
        break;
      }
      case "w":
        this.workers.set(r[1] as number, r[2] as string);
        break;
      case "d":
        this.completed(r[1] as string, r[2] as number, r[3] as number);
        break;
      case "D":
        for (const [k, w, n] of r[1] as Array<[string, number, number]>) this.completed(k, w, n);
        break;
      case "wx": {
        const id = r[1] as number;
        this.workers.delete(id);
        for (const [k, holders] of this.done) if (holders.delete(id) && holders.size === 0) this.done.delete(k);
        break;
      }
      case "e":
        this.erred.set(r[1] as string, r[2]);
        this.wants.get(FIRE_AND_FORGET)?.delete(r[1] as string); // as the live scheduler lets go
        break;
      case "y":
        for (const k of r[1] as string[]) this.erred.delete(k);
        break;
      case "r": {
        const w = this.wants.get(r[1] as string);
        if (w) for (const k of r[2] as string[]) w.delete(k);
        break;
      }
      case "c":
        this.wants.delete(r[1] as string);
        break;
      case "n":
        this.#cancel(r[1] as string[] | null);
        break;
      case "k":
        this.checkpoints.add(r[1] as string);
        break;
      case "x": {
        let m = this.ext.get(r[1] as string);
        if (!m) this.ext.set(r[1] as string, (m = new Map()));
        if (r[3] === null || r[3] === undefined) m.delete(r[2] as string);
        else m.set(r[2] as string, r[3]);
        break;
      }
      case "s":
        this.#load(r[1] as Snapshot);
        break;
      default:
        throw new TypeError(`unknown journal record kind ${JSON.stringify(r[0])}`);
    }
  }

  /** `key` done on (or put on) worker `id`; fire-and-forget lets go of it (as the live scheduler does when it finishes). */
  completed(key: string, id: number, nbytes: number): void {
    let holders = this.done.get(key);
    if (!holders) this.done.set(key, (holders = new Map()));
    holders.set(id, nbytes);
    this.erred.delete(key);
    this.wants.get(FIRE_AND_FORGET)?.delete(key);
  }

  /** Cancel (Dask's cancel, as the live scheduler does it): the keys and their dependents, for every client and holder. */
  #cancel(keys: string[] | null): void {
    if (keys === null) return this.wants.clear();
    const dependents = new Map<string, string[]>();
    for (const [k, t] of this.tasks) for (const d of t[3]) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(k);
    const gone = new Set<string>();
    const stack = [...keys];
    while (stack.length) {
      const k = stack.pop()!;
      if (gone.has(k)) continue;
      gone.add(k);
      stack.push(...(dependents.get(k) ?? []));
    }
    for (const w of this.wants.values()) for (const k of gone) w.delete(k);
  }

  /** Keys some client (or extension name) wants, with their lineage: the tasks to keep. */
  liveKeys(wants: ReadonlyMap<string, ReadonlySet<string>> = this.wants): Set<string> {
    const live = new Set<string>();
    const stack: string[] = [];
    for (const keys of wants.values()) for (const k of keys) stack.push(k);
    while (stack.length) {
      const k = stack.pop()!;
      if (live.has(k)) continue;
      const t = this.tasks.get(k);
      if (!t) continue;
      live.add(k);
      for (const d of t[3]) if (!live.has(d)) stack.push(d);
    }
    return live;
  }

  /** The compaction plan: only what is live, as one snapshot record's value. */
  snapshot(): Snapshot {
    const wants = this.#wantsToKeep();
    const live = this.liveKeys(wants);
    const tasks: JournalTask[] = [];
    const fns = new Set<number>();
    for (const k of live) {
      const t = this.tasks.get(k)!;
      tasks.push(t);
      fns.add(t[1]);
    }
    const done: Array<[string, number, number]> = [];
    const workers = new Set<number>();
    for (const [k, holders] of this.done) {
      if (!live.has(k)) continue;
      for (const [w, n] of holders) {
        done.push([k, w, n]);
        workers.add(w);
      }
    }
    const ext: Array<[string, string, unknown]> = [];
    for (const [e, m] of this.ext) for (const [n, v] of m) ext.push([e, n, v]);
    return {
      functions: [...this.functions].filter(([id]) => fns.has(id)),
      tasks,
      wants: [...wants].filter(([, keys]) => keys.size > 0).map(([c, keys]) => [c, [...keys]]),
      workers: [...this.workers].filter(([id]) => workers.has(id)),
      done,
      erred: [...this.erred].filter(([k]) => live.has(k)),
      checkpoints: [...this.checkpoints],
      ext,
    };
  }

  /**
   * The wants, less the fire-and-forget keys that erred with a dependency: the live scheduler let
   * go of them, but the journal records only the failing key's error ("e"), so compaction drops
   * them (a take-over before it errs them again, and lets go of them too).
   */
  #wantsToKeep(): Map<string, Set<string>> {
    const ff = this.wants.get(FIRE_AND_FORGET);
    if (!ff?.size || this.erred.size === 0) return this.wants;
    const failed = new Map<string, boolean>();
    const erredBelow = (root: string): boolean => {
      // iterative post-order over the lineage, each key once: graphs can be deep chains
      const stack: Array<[string, number]> = [[root, 0]];
      while (stack.length) {
        const top = stack[stack.length - 1]!;
        const [key, i] = top;
        if (i === 0 && failed.has(key)) {
          stack.pop();
          continue;
        }
        if (i === 0 && this.erred.has(key) && !this.done.has(key)) {
          failed.set(key, true);
          stack.pop();
          continue;
        }
        const deps = this.tasks.get(key)?.[3] ?? [];
        if (i < deps.length) {
          top[1]++;
          if (!failed.has(deps[i]!)) stack.push([deps[i]!, 0]);
          continue;
        }
        failed.set(key, deps.some((d) => failed.get(d) === true));
        stack.pop();
      }
      return failed.get(root) === true;
    };
    const kept = new Set([...ff].filter((k) => !erredBelow(k)));
    return new Map([...this.wants].map(([holder, keys]) => [holder, holder === FIRE_AND_FORGET ? kept : keys]));
  }

  /** Tasks in dependency order (each after what it depends on), for replay. */
  ordered(keys: Iterable<string>): JournalTask[] {
    const out: JournalTask[] = [];
    const state = new Map<string, 1 | 2>();
    for (const root of keys) {
      if (state.has(root)) continue;
      // iterative depth-first: graphs can be deep chains
      const stack: Array<[string, number]> = [[root, 0]];
      while (stack.length) {
        const top = stack[stack.length - 1]!;
        const t = this.tasks.get(top[0]);
        if (!t) {
          stack.pop();
          continue;
        }
        if (top[1] === 0) state.set(top[0], 1);
        const deps = t[3];
        if (top[1] < deps.length) {
          const d = deps[top[1]++]!;
          if (!state.has(d)) stack.push([d, 0]);
          continue;
        }
        stack.pop();
        if (state.get(top[0]) !== 2) {
          state.set(top[0], 2);
          out.push(t);
        }
      }
    }
    return out;
  }

  #load(s: Snapshot): void {
    for (const [id, w] of s.functions) this.functions.set(id, w);
    for (const t of s.tasks) this.tasks.set(t[0], t);
    for (const [c, keys] of s.wants) this.wants.set(c, new Set(keys));
    for (const [id, a] of s.workers) this.workers.set(id, a);
    for (const [k, w, n] of s.done) this.completed(k, w, n);
    for (const [k, e] of s.erred) this.erred.set(k, e);
    for (const k of s.checkpoints) this.checkpoints.add(k);
    for (const [e, n, v] of s.ext) this.apply(["x", e, n, v]);
  }
}

/** Same function, arguments and dependencies (options aside): the same computation. */
function sameSpec(a: JournalTask, b: JournalTask): boolean {
  if (a[1] !== b[1] || a[2].length !== b[2].length || a[3].length !== b[3].length) return false;
  for (let i = 0; i < a[2].length; i++) if (!Buffer.from(a[2][i]!.buffer, a[2][i]!.byteOffset, a[2][i]!.byteLength).equals(b[2][i]!)) return false;
  for (let i = 0; i < a[3].length; i++) if (a[3][i] !== b[3][i]) return false;
  return true;
}
