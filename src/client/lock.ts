/**
 * Lock and Semaphore: leases held on the scheduler (src/extensions/coordination/leases.ts), so
 * they are shared by every client and task of the cluster, and end when their holder's client
 * goes (a dead task's lock is not held forever) or when an optional lease runs out.
 */
import { randomUUID } from "node:crypto";
import { CoordinationError, describeError } from "../errors.js";
import { logger } from "../log.js";
import type { CoordinationReplies, LeaseKind } from "../protocol/messages-coordination.js";
import { Op } from "../protocol/ops.js";
import { Primitive, type PrimitiveOptions } from "./primitive.js";
import { call, waitOn } from "./shared.js";

export interface AcquireOptions {
  /** How long to wait, ms (default: as long as it takes); 0: only if free now. */
  timeout?: number;
  /** Release it by itself this many ms after it is granted (default: held until released, or until this client goes). */
  lease?: number;
}

abstract class Leased extends Primitive {
  /** This object (a client may hold several objects of one name: they exclude each other). @internal */
  readonly id = randomUUID();
  readonly #kind: LeaseKind;
  readonly #maxLeases: number;

  constructor(kind: LeaseKind, name: string | undefined, maxLeases: number, options: PrimitiveOptions) {
    super(kind === "lock" ? "Lock" : "Semaphore", name, options);
    this.#kind = kind;
    this.#maxLeases = maxLeases;
  }

  /** True once granted; false when `timeout` ran out first (as Dask's acquire(timeout=...)). */
  async acquire(options: AcquireOptions = {}): Promise<boolean> {
    if (options.lease !== undefined && !(typeof options.lease === "number" && options.lease > 0)) {
      throw new TypeError(`${this.what}: lease must be a number of milliseconds > 0, got ${JSON.stringify(options.lease)}`);
    }
    const msg = { op: Op.leaseAcquire, kind: this.#kind, name: this.name, id: this.id, maxLeases: this.#maxLeases, lease: options.lease };
    // a grant that comes after its request timed out (that acquire failed): given back, or no one would release it
    const late = { late: (granted: unknown) => void (granted === true && this.#giveBack()) };
    return (await waitOn<boolean>(this.host, this.what, msg, options.timeout, (granted) => granted, late)).done;
  }

  /** A late grant given back; if that fails, the lease ends with this client (or its lease time), and the log says so. */
  async #giveBack(): Promise<void> {
    try {
      await this.release();
    } catch (err) {
      logger("client").warn({ lock: this.what, err: describeError(err) }, "a grant that came after its acquire timed out could not be given back");
    }
  }

  /** Give back one lease this object holds; an error if it holds none. */
  async release(): Promise<void> {
    const ok = await call<CoordinationReplies["lease-release"]>(this.host, this.what, { op: Op.leaseRelease, kind: this.#kind, name: this.name, id: this.id });
    if (!ok) throw new CoordinationError(`${this.what}: released, but this object holds no lease of it (never acquired, already released, or its lease ran out)`);
  }

  /** How many leases are held now, by anyone. @internal */
  async leases(): Promise<number> {
    return (await call<CoordinationReplies["lease-info"]>(this.host, this.what, { op: Op.leaseInfo, kind: this.#kind, name: this.name })).leases;
  }
}

/**
 * A cluster-wide lock (Dask's distributed.Lock).
 * @example const lock = new Lock("db"); if (await lock.acquire({ timeout: 5000 })) try { ... } finally { await lock.release(); }
 */
export class Lock extends Leased {
  /** `name`: the lock's name (default: a fresh one, to pass around); `client`: default getClient(). */
  constructor(name?: string, options: PrimitiveOptions = {}) {
    super("lock", name, 1, options);
  }

  /** Whether anyone holds it now. */
  async locked(): Promise<boolean> {
    return (await this.leases()) > 0;
  }
}

export interface SemaphoreOptions extends PrimitiveOptions {
  /** How many leases may be held at once (default 1); every object of one name must agree. */
  maxLeases?: number;
  name?: string;
}

/**
 * At most `maxLeases` holders at once, cluster-wide (Dask's distributed.Semaphore).
 * @example const sem = new Semaphore({ maxLeases: 2, name: "database" });
 */
export class Semaphore extends Leased {
  readonly maxLeases: number;

  constructor(options: SemaphoreOptions = {}) {
    const max = options.maxLeases ?? 1;
    if (!(Number.isInteger(max) && max >= 1)) throw new TypeError(`Semaphore maxLeases must be an integer >= 1, got ${JSON.stringify(options.maxLeases)}`);
    super("semaphore", options.name, max, options);
    this.maxLeases = max;
  }

  /** How many leases are held now. */
  getValue(): Promise<number> {
    return this.leases();
  }
}
