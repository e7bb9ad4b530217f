/**
 * Sets shared between task records, so that a million tasks do not hold a million small sets:
 * one empty set for every task without dependencies, dependents, waiters or holders, and one
 * set per name ({client}, {worker address}) for every task wanted by that one client or held by
 * that one worker. A shared set throws when changed: a task's set is replaced instead, through
 * NameSets.with/without (names) or link (tasks, in state-transitions.ts).
 */
export class SharedSet<T> extends Set<T> {
  constructor(items: Iterable<T> = []) {
    super();
    for (const v of items) super.add(v);
  }

  override add(_v: T): this {
    throw new Error("a shared set is never changed: replace it");
  }

  /** Deleting what it does not hold changes nothing, and is allowed. */
  override delete(v: T): boolean {
    if (!this.has(v)) return false;
    throw new Error("a shared set is never changed: replace it");
  }

  override clear(): void {
    if (this.size > 0) throw new Error("a shared set is never changed: replace it");
  }
}

/** The empty set every task without such items shares (a SharedSet: adding to it throws). */
export const EMPTY: Set<never> = new SharedSet<never>();

/** Sets of names (clients, worker addresses) with the empty and one-name sets shared. */
export class NameSets {
  #one = new Map<string, SharedSet<string>>();

  /** `set` with `name` added (the same set, changed, when it is a task's own). */
  with(set: Set<string>, name: string): Set<string> {
    if (!(set instanceof SharedSet)) return set.add(name);
    if (set.has(name)) return set;
    if (set.size === 0) {
      let one = this.#one.get(name);
      if (!one) this.#one.set(name, (one = new SharedSet([name])));
      return one;
    }
    return new Set(set).add(name);
  }

  /** `set` without `name` (EMPTY once nothing is left). */
  without(set: Set<string>, name: string): Set<string> {
    if (!set.has(name)) return set;
    if (set.size === 1) return EMPTY as Set<string>;
    if (!(set instanceof SharedSet)) {
      set.delete(name);
      return set;
    }
    const rest = new Set(set);
    rest.delete(name);
    return rest;
  }

  /** A name that is gone (a client left, a worker was removed): its one-name set is no longer shared with new tasks. */
  forget(name: string): void {
    this.#one.delete(name);
  }
}

/**
 * A task's dependents or waiters (state-types.ts TaskRecord): a Set, or, while it holds one task
 * (most tasks of a map: one dependent, one waiter), a One, a single field instead of a hash
 * table (~16 B, not ~100). Changed only through link (state-transitions.ts), which makes a Set
 * of a One when a second task comes, and delete.
 */
export interface TaskSet<T> extends Iterable<T> {
  readonly size: number;
  has(x: T): boolean;
  delete(x: T): boolean;
  values(): IterableIterator<T>;
}

/** A TaskSet of at most one item: emptied by delete, never grown (link replaces it by a Set). */
export class One<T> implements TaskSet<T> {
  item: T | undefined;

  constructor(item: T) {
    this.item = item;
  }

  get size(): number {
    return this.item === undefined ? 0 : 1;
  }

  has(x: T): boolean {
    return x !== undefined && this.item === x;
  }

  delete(x: T): boolean {
    if (x === undefined || this.item !== x) return false;
    this.item = undefined;
    return true;
  }

  *values(): IterableIterator<T> {
    if (this.item !== undefined) yield this.item;
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.values();
  }
}

/** Argument parts up to this size go into their batch's ArgBlock; bigger ones are copied on their own. */
export const ARG_BLOCK_PART = 4096;

/**
 * The encoded arguments of a batch of tasks (one update-graph), each task's a single part, in one
 * buffer: a task keeps the block and its index, not a view (~70 B) nor a buffer of its own. The
 * block lives while any of its tasks does (its bytes only: a batch's few kB).
 */
export class ArgBlock {
  private constructor(
    readonly bytes: Uint8Array,
    /** end of part i in bytes; part i starts where part i - 1 ends */
    readonly ends: Uint32Array,
  ) {}

  /** Copies of `parts`, in one buffer. */
  static of(parts: Uint8Array[]): ArgBlock {
    let total = 0;
    for (const p of parts) total += p.byteLength;
    const bytes = new Uint8Array(total);
    const ends = new Uint32Array(parts.length);
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      bytes.set(parts[i]!, at);
      ends[i] = at += parts[i]!.byteLength;
    }
    return new ArgBlock(bytes, ends);
  }

  /** Part i (a view into the block: for sending, not for keeping). */
  part(i: number): Uint8Array {
    const start = i === 0 ? 0 : this.ends[i - 1]!;
    return this.bytes.subarray(start, this.ends[i]!);
  }
}
