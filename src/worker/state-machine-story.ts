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
  #stimuli: string[] = [];
  #from: WorkerKeyState[] = [];
  #to: WorkerKeyState[] = [];
  #reasons: Array<string | undefined> = [];
  #at: number[] = [];
  #next = 0;

  constructor(readonly size: number) {}

  add(key: string, stimulusId: string, from: WorkerKeyState, to: WorkerKeyState, at: number, reason?: string): void {
    const i = this.#next;
    this.#keys[i] = key;
    this.#stimuli[i] = stimulusId;
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
      const e: WorkerStoryEntry = { stimulusId: this.#stimuli[i]!, from: this.#from[i]!, to: this.#to[i]!, at: this.#at[i]! };
      if (this.#reasons[i] !== undefined) e.reason = this.#reasons[i];
      out.push(e);
    }
    return out;
  }
}
