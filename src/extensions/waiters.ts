/**
 * Requests waiting on the scheduler for something (a lock, a queue's item, a dataset's name),
 * first come first served. Each waiter has a deadline, after which it is answered with the
 * value the caller chose for "not yet" (false, null), and a client: when that client goes, its
 * waiters are answered (the reply goes nowhere) and leave the list, so none is left behind.
 */
/** The longest single wait (a day); clients ask again for longer ones. */
const MAX_WAIT_MS = 24 * 3600_000;

export interface Waiter<P, T> {
  /** The client that waits (the one to clean up after). */
  readonly client: string;
  readonly payload: P;
  /** Answer it (once; it leaves the list first when taken by shift()). */
  settle(value: T): void;
}

export class WaitList<P, T> {
  #list: Array<Waiter<P, T>> = [];

  get size(): number {
    return this.#list.length;
  }

  /** The first waiter, left in place. */
  first(): Waiter<P, T> | undefined {
    return this.#list[0];
  }

  /** Wait at most `timeoutMs` for settle(); then `expired`. A timeout of 0 (or not a number) does not wait. */
  wait(client: string, payload: P, timeoutMs: number, expired: T): Promise<T> {
    if (!(timeoutMs > 0)) return Promise.resolve(expired);
    // clients wait in rounds of 30 s; a longer timer would overflow setTimeout's 2^31-1 ms (and fire at once)
    timeoutMs = Math.min(timeoutMs, MAX_WAIT_MS);
    return new Promise<T>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const w: Waiter<P, T> = {
        client,
        payload,
        settle: (value) => {
          clearTimeout(timer);
          this.#remove(w);
          resolve(value);
        },
      };
      timer = setTimeout(() => w.settle(expired), timeoutMs);
      timer.unref();
      this.#list.push(w);
    });
  }

  /** Take the first waiter out; the caller settles it. */
  shift(): Waiter<P, T> | undefined {
    return this.#list.shift();
  }

  /** Every waiter, taken out; the caller settles them. */
  drain(): Array<Waiter<P, T>> {
    return this.#list.splice(0);
  }

  /** The waiters of `client`. */
  of(client: string): Array<Waiter<P, T>> {
    return this.#list.filter((x) => x.client === client);
  }

  /** `client` is gone: its waiters are answered with `value` and leave. */
  dropClient(client: string, value: T): void {
    for (const w of this.of(client)) w.settle(value);
  }

  #remove(w: Waiter<P, T>): void {
    const i = this.#list.indexOf(w);
    if (i >= 0) this.#list.splice(i, 1);
  }
}
