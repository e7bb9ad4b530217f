/**
 * Restarting worker processes (Dask's `restart_workers`): each named worker closes, its nanny
 * starts a fresh process, and that one registers again under the same name; the reply gives
 * each worker's new address once all are back. What only a restarted worker held is lost with
 * it, as in Dask: results are computed again from their lineage when wanted, scattered values
 * are lost. A worker without a nanny (`--no-nanny`) is refused, naming it: nothing would start
 * it again. (`client.restart()` is another thing: fresh task threads in the same processes.)
 */
import { RemoteError } from "../comm/rpc.js";
import { TimeoutError, describeError } from "../errors.js";
import { type RestartWorkers, type RestartWorkersReply, parseRestartWorkers } from "../protocol/messages-restart-workers.js";
import { Op } from "../protocol/ops.js";
import type { SchedulerExtension, SchedulerView } from "../scheduler/extension.js";

/** How long a worker has to close and come back, unless the request says. */
export const RESTART_TIMEOUT_MS = 60_000;

export class WorkerRestarts {
  readonly #view: () => SchedulerView;
  /** by worker name: who waits for a worker of that name to register */
  readonly #waiting = new Map<string, Set<(address: string) => void>>();

  constructor(view: () => SchedulerView) {
    this.#view = view;
  }

  /** Each worker as given (a name or an address) -> the address of its fresh process. */
  async restart(m: RestartWorkers): Promise<RestartWorkersReply> {
    const workers = this.#view().state.workers;
    const byName = new Map([...workers.values()].map((w) => [w.name, w.address]));
    const targets = new Map<string, { given: string[]; name: string }>(); // by address: a worker named twice restarts once
    for (const given of m.workers) {
      const address = workers.has(given) ? given : byName.get(given);
      if (address === undefined) throw new Error(`restartWorkers: unknown worker ${JSON.stringify(given)} (workers: ${JSON.stringify([...byName.keys()])})`);
      const t = targets.get(address) ?? { given: [], name: workers.get(address)!.name };
      t.given.push(given);
      targets.set(address, t);
    }
    const timeoutMs = m.timeout ?? RESTART_TIMEOUT_MS;
    const settled = await Promise.allSettled([...targets].map(([address, t]) => this.#restartOne(address, t.name, timeoutMs)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    const out: RestartWorkersReply = {};
    [...targets.values()].forEach((t, i) => {
      for (const g of t.given) out[g] = (settled[i] as PromiseFulfilledResult<string>).value;
    });
    return out;
  }

  /** A worker of `name` registered: whoever waits for it hears its address. */
  workerAdded(w: { address: string; name: string }): void {
    const waiting = this.#waiting.get(w.name);
    this.#waiting.delete(w.name);
    for (const hear of waiting ?? []) hear(w.address);
  }

  async #restartOne(address: string, name: string, timeoutMs: number): Promise<string> {
    // waiting from before the request: the next registration of this name is the fresh process
    let hear!: (address: string) => void;
    const back = new Promise<string>((resolve) => (hear = resolve));
    const set = this.#waiting.get(name) ?? new Set();
    set.add(hear);
    this.#waiting.set(name, set);
    let timer: NodeJS.Timeout | undefined;
    try {
      try {
        await this.#view().requestWorker(address, { op: Op.restartProcess }, timeoutMs);
      } catch (err) {
        throw new Error(`restartWorkers: worker ${name} (${address}): ${err instanceof RemoteError ? err.remote.message : describeError(err)}`, { cause: err });
      }
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`restartWorkers: worker ${name} (${address}) closed, but no fresh worker of that name registered within ${timeoutMs} ms (its nanny's log says why)`)), timeoutMs);
      });
      return await Promise.race([back, late]);
    } finally {
      clearTimeout(timer);
      set.delete(hear);
      if (set.size === 0 && this.#waiting.get(name) === set) this.#waiting.delete(name);
    }
  }
}

/** The restart-workers extension (deploy/extensions.ts lists it). */
export function restartWorkersExtension(): SchedulerExtension {
  let view: SchedulerView | undefined;
  const restarts = new WorkerRestarts(() => view!);
  return {
    name: "restart-workers",
    ops: { [Op.restartWorkers]: (m) => restarts.restart(parseRestartWorkers(m)) },
    start: async (v) => {
      view = v;
    },
    onWorkerAdded: (w) => restarts.workerAdded(w),
  };
}
