/** A handle on one task's result, living on a worker until the last future for it is gone. */
import type { FutureStatus, KeyState } from "./key-table.js";
import { checkTimeout } from "./timeout.js";

export type { FutureStatus };

/** What a future needs of the client that made it (the Client implements it). */
export interface FutureHost {
  readonly closed: boolean;
  gather<T>(future: Future<T>, options?: { timeout?: number }): Promise<T>;
  cancel(futures: Future<unknown> | Array<Future<unknown>>): Promise<void>;
  retry(futures: Future<unknown> | Array<Future<unknown>>): Promise<void>;
  /** @internal */
  waitKeys(states: KeyState[], timeoutMs: number): Promise<void>;
  /** @internal */
  errorOf(key: string, ks: KeyState): Error | undefined;
  /** @internal */
  releaseKey(key: string, ks: KeyState): void;
}

/**
 * Collected futures let go of their key: one registry per client, holding each future's key
 * incarnation (shared by its futures, so nothing is made per future but the registry's cell).
 */
const registries = new WeakMap<FutureHost, FinalizationRegistry<KeyState>>();

function registryOf(client: FutureHost): FinalizationRegistry<KeyState> {
  let r = registries.get(client);
  if (!r) {
    registries.set(client, (r = new FinalizationRegistry<KeyState>((state) => {
      if (!client.closed) client.releaseKey(state.key, state);
    })));
  }
  return r;
}

export class Future<T = unknown> {
  /** The client that made it. */
  readonly client: FutureHost;
  /**
   * The incarnation of the key this future was made for: a cancelled one stays cancelled even
   * when the key is submitted again (that makes a new one). @internal
   */
  readonly state: KeyState;
  #released = false;

  constructor(client: FutureHost, state: KeyState) {
    this.client = client;
    this.state = state;
    registryOf(client).register(this, state, this);
  }

  get key(): string {
    return this.state.key;
  }

  get status(): FutureStatus {
    return this.#released ? "cancelled" : this.state.status;
  }

  /** True once the task finished, erred or was cancelled (as in Dask). */
  done(): boolean {
    return this.status !== "pending";
  }

  /**
   * Resolves once the task is finished, erred or cancelled (never rejects; look at `status`).
   * Keeps the event loop alive while waiting.
   */
  async whenDone(options: { timeout?: number } = {}): Promise<void> {
    checkTimeout("whenDone", options.timeout);
    return this.client.waitKeys([this.state], options.timeout ?? Infinity).catch(() => {});
  }

  /** The task's value, fetched from its worker; rejects with RemoteTaskError if it failed. */
  async result(options: { timeout?: number } = {}): Promise<T> {
    checkTimeout("result", options.timeout);
    return this.client.gather(this, options);
  }

  /** The error if the task failed, else undefined. */
  exception(): Error | undefined {
    return this.client.errorOf(this.key, this.state);
  }

  /**
   * Stop the work and forget the result, for every client that wanted it, and the same for
   * every task that depends on this one: their futures end "cancelled" too.
   */
  cancel(): Promise<void> {
    return this.client.cancel(this);
  }

  /** Run the task again if it erred (Dask's `retry`): see Client.retry. */
  retry(): Promise<void> {
    return this.client.retry(this);
  }

  /** Let go of the result: once no future holds the key, the cluster forgets it. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    registryOf(this.client).unregister(this);
    this.client.releaseKey(this.key, this.state);
  }
}
