/**
 * A binary heap of records that know their own position (`heapIndex`, -1 when not in it), so
 * removing one is O(log n) (the scheduler's queue of tasks: state-placement.ts TaskHeap).
 */
export class Heap<T extends { heapIndex: number }> {
  #items: T[] = [];

  /** `before(a, b)`: a comes out first. */
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  /** Up to n items, in heap (not priority) order. */
  first(n: number): T[] {
    return this.#items.slice(0, n);
  }

  push(x: T): void {
    if (x.heapIndex >= 0) return;
    x.heapIndex = this.#items.length;
    this.#items.push(x);
    this.#up(x.heapIndex);
  }

  pop(): T | undefined {
    const top = this.#items[0];
    if (top) this.#removeAt(0);
    return top;
  }

  remove(x: T): void {
    if (x.heapIndex >= 0) this.#removeAt(x.heapIndex);
  }

  #removeAt(i: number): void {
    this.#items[i]!.heapIndex = -1;
    const last = this.#items.pop()!;
    if (i < this.#items.length) {
      this.#items[i] = last;
      last.heapIndex = i;
      this.#down(i);
      this.#up(last.heapIndex);
    }
  }

  // sifts move a hole, not the item: each step writes one slot, and the item lands once

  #up(i: number): void {
    const items = this.#items;
    const x = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!this.before(x, parent)) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = x;
    x.heapIndex = i;
  }

  #down(i: number): void {
    const items = this.#items;
    const n = items.length;
    const x = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let child = items[l]!;
      if (r < n && this.before(items[r]!, child)) {
        c = r;
        child = items[r]!;
      }
      if (!this.before(child, x)) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = x;
    x.heapIndex = i;
  }
}
