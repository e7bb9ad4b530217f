/**
 * The worker's story: the last `size` state changes of its keys (tasks it runs, dependencies it
 * fetches, data put here), one bounded ring for all keys in parallel arrays (no object per
 * entry), so `story(key)` tells a key's recent history on this worker at no per-task cost.
 */

/** A key's state on a worker, as the story tells it. */
export type WorkerKeyState = "released" | "fetching" | "flight" | "ready" | "executing" | "long-running" | "memory" | "erred";

export interface WorkerStoryEntry {
  stimulusId: string;
  from: WorkerKeyState;
  to: WorkerKeyState;
  at: number;
  /** why, where the event had one to tell (a dropped result, a missing dependency) */
  reason?: string;
}

export class StoryLog {
  #keys: string[] = [];
  /** a stimulus id given by the caller, or the number of an event the state machine numbered */
  #stimuli: Array<string | number> = [];
  /** the numbered event's type (a constant string), its id's prefix */
  #causes: string[] = [];
  #from: WorkerKeyState[] = [];
  #to: WorkerKeyState[] = [];
  #reasons: Array<string | undefined> = [];
  #at: number[] = [];
  #next = 0;

  constructor(readonly size: number) {}

  /**
   * `stimulus`: the event's id, or its number (then the id is `${cause}-${stimulus}`, made only
   * when story() is read: no string per event, none kept alive by the ring).
   */
  add(key: string, stimulus: string | number, cause: string, from: WorkerKeyState, to: WorkerKeyState, at: number, reason?: string): void {
    const i = this.#next;
    this.#keys[i] = key;
    this.#stimuli[i] = stimulus;
    this.#causes[i] = cause;
    this.#from[i] = from;
    this.#to[i] = to;
    this.#reasons[i] = reason;
    this.#at[i] = at;
    this.#next = (i + 1) % this.size;
  }

  /** The key's entries still in the ring, oldest first. */
  story(key: string): WorkerStoryEntry[] {
    const out: WorkerStoryEntry[] = [];
    const count = this.#keys.length;
    // while filling, the ring starts at 0; once full, at the oldest entry (the next to go)
    const start = count < this.size ? 0 : this.#next;
    for (let n = 0; n < count; n++) {
      const i = (start + n) % count;
      if (this.#keys[i] !== key) continue;
      const e: WorkerStoryEntry = { stimulusId: stimulusId(this.#stimuli[i]!, this.#causes[i]!), from: this.#from[i]!, to: this.#to[i]!, at: this.#at[i]! };
      if (this.#reasons[i] !== undefined) e.reason = this.#reasons[i];
      out.push(e);
    }
    return out;
  }
}

/** The id of an event: the one it was given, or `${cause}-${number}` for one the state machine numbered. */
export function stimulusId(stimulus: string | number, cause: string): string {
  return typeof stimulus === "number" ? `${cause}-${stimulus}` : stimulus;
}
