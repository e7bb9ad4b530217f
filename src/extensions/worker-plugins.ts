/**
 * Worker plugins (Dask's `register_plugin` of a WorkerPlugin): the scheduler keeps the plugins
 * registered, in order, sets each up on every connected worker when it is registered and on
 * every worker that registers later (before its first task: the `onWorkerAdded` hook), and
 * takes it down everywhere when it is unregistered. Each worker sets a plugin up on all its task
 * threads (worker/executor.ts, worker/thread-plugins.ts). With a journal the registrations are
 * durable: a scheduler taking over has them, and sets them up on the workers that come back
 * (a worker that already has a plugin, set up without error, keeps it as it is).
 *
 * A registration is answered with each worker's result (a worker that left meanwhile is not
 * listed); the client turns a failure into an error naming the worker. One whose setup failed
 * somewhere stays registered, as in Dask:
 * tasks there find it failed (`workerPlugin` throws the reason), workers that come later try
 * again, and an unregister takes it away.
 */
import { RemoteError } from "../comm/rpc.js";
import { CommClosedError, describeError } from "../errors.js";
import { logger } from "../log.js";
import type { Message } from "../protocol/messages.js";
import { type PluginResult, type PluginSpec, type PluginsReplies, type PluginsToScheduler, parsePlugins, pluginSpec } from "../protocol/messages-plugins.js";
import { Op, toWireError } from "../protocol/ops.js";
import type { PeerRef, SchedulerExtension, SchedulerView } from "../scheduler/extension.js";

/** Each worker has this long to set a plugin up or take it down, unless the request says. */
export const PLUGIN_TIMEOUT_MS = 60_000;
const JOURNAL_NAME = "worker-plugins";
const log = () => logger("scheduler");

export class WorkerPlugins {
  readonly #plugins = new Map<string, PluginSpec>();
  readonly #view: () => SchedulerView;

  constructor(view: () => SchedulerView) {
    this.#view = view;
  }

  /** The plugins a scheduler this one took over from had registered. */
  restore(): void {
    for (const [name, spec] of this.#view().journal?.restored(JOURNAL_NAME) ?? []) this.#plugins.set(name, spec as PluginSpec);
  }

  async register(m: PluginsToScheduler & { op: "register-worker-plugin" }): Promise<PluginsReplies["register-worker-plugin"]> {
    if (m.idempotent && this.#plugins.has(m.name)) return { workers: {} }; // no worker asked
    const spec = pluginSpec(m);
    // registered before the workers are asked: one that registers meanwhile gets it from workerAdded
    this.#plugins.delete(spec.name); // a name registered again goes last, as a new registration
    this.#plugins.set(spec.name, spec);
    const journal = this.#view().journal;
    journal?.put(JOURNAL_NAME, spec.name, spec);
    const workers = await this.#everyWorker({ op: Op.pluginAdd, ...spec }, m.timeout ?? PLUGIN_TIMEOUT_MS);
    await journal?.durable();
    return { workers };
  }

  async unregister(m: { name: string; timeout?: number }): Promise<PluginsReplies["unregister-worker-plugin"]> {
    if (!this.#plugins.delete(m.name)) {
      const known = [...this.#plugins.keys()].map((k) => JSON.stringify(k));
      throw new Error(`no worker plugin named ${JSON.stringify(m.name)} is registered (${known.length ? `registered: ${known.join(", ")}` : "none is"})`);
    }
    const journal = this.#view().journal;
    journal?.put(JOURNAL_NAME, m.name, null);
    const workers = await this.#everyWorker({ op: Op.pluginRemove, name: m.name }, m.timeout ?? PLUGIN_TIMEOUT_MS);
    await journal?.durable();
    return { workers };
  }

  /** A worker registered: every plugin, in order (it answers each once its threads have it). */
  workerAdded(address: string): void {
    for (const spec of this.#plugins.values()) {
      const fields = { worker: address, plugin: spec.name };
      this.#view()
        .requestWorker(address, { op: Op.pluginAdd, ...spec }, PLUGIN_TIMEOUT_MS)
        .then(
          (reply) => {
            const r = reply as PluginResult;
            if (!r.ok) log().error({ ...fields, err: r.error.message }, "a worker plugin's setup failed");
          },
          (err: unknown) => log().warn({ ...fields, err: describeError(err) }, "a worker plugin could not be set up on a new worker"),
        );
    }
  }

  async #everyWorker(msg: Message, timeoutMs: number): Promise<Record<string, PluginResult>> {
    const view = this.#view();
    const out: Record<string, PluginResult> = {};
    await Promise.all(
      view.connectedWorkers().map(async (address) => {
        try {
          out[address] = (await view.requestWorker(address, msg, timeoutMs)) as PluginResult;
        } catch (err) {
          // a worker that left meanwhile (retired, closed) is not there to have it: not listed,
          // and not an error (one that comes back sets it up as it registers: workerAdded)
          if (err instanceof CommClosedError) return;
          // the worker's own error as it sent it, or why we got no answer (timed out)
          out[address] = { ok: false, error: err instanceof RemoteError ? err.remote : toWireError(err) };
        }
      }),
    );
    return out;
  }
}

/** The worker-plugins extension (deploy/extensions.ts lists it). */
export function workerPluginsExtension(): SchedulerExtension {
  let view: SchedulerView | undefined;
  const plugins = new WorkerPlugins(() => view!);
  const ops: Record<PluginsToScheduler["op"], (m: Message, peer: PeerRef) => unknown> = {
    [Op.registerWorkerPlugin]: (m) => plugins.register(parsePlugins("register-worker-plugin", m)),
    [Op.unregisterWorkerPlugin]: (m) => plugins.unregister(parsePlugins("unregister-worker-plugin", m)),
  };
  return {
    name: "worker-plugins",
    ops,
    start: async (v) => {
      view = v;
      plugins.restore();
    },
    onWorkerAdded: (w) => plugins.workerAdded(w.address),
  };
}
