/**
 * How the scheduler is extended without importing what extends it (the dashboard today; later
 * locks, datasets...): deploy hands the scheduler a list of extensions (SchedulerOptions.
 * extensions), the scheduler loads and starts them, fans its events out to their hooks and
 * routes their ops. Hooks are gathered into arrays at start: no cost per task for a hook no
 * extension has.
 */
import type { Message, SchedulerIdentity } from "../protocol/messages.js";
import type { StartStop } from "../protocol/messages-worker.js";
import type { WhyPending } from "../protocol/messages-pending.js";
import type { SchedulerState } from "./state.js";

/** What an extension may read of the scheduler's state: queries only. */
export type SchedulerStateView = Pick<
  SchedulerState,
  "workers" | "tasks" | "clients" | "durations" | "finishedByPrefix" | "finished" | "failed" | "transitions" | "prefixOf" | "counts" | "whoHas" | "story" | "idle" | "workload"
>;

/** The scheduler as an extension sees it. */
export interface SchedulerView {
  readonly id: string;
  readonly address: string;
  readonly state: SchedulerStateView;
  identity(): SchedulerIdentity;
  /** What else listens next to the scheduler, by name (e.g. `dashboard`: its URL). */
  readonly services: Record<string, string>;
  /**
   * `client` wants `keys` (keeps them alive): a connected client's id (it then hears their
   * news), or a name of the extension's own that holds keys for nobody connected
   * (`published-x`). Returns the keys the scheduler does not know.
   */
  wantKeys(client: string, keys: string[]): string[];
  /**
   * Hand `keys` to the connected client `client` (the value it gets holds their futures): it
   * wants them from now on, and a release of them from it that crosses the reply is not applied
   * until it adopts them (scheduler/handed-keys.ts).
   */
  handKeys(client: string, keys: string[]): void;
  /** `client` no longer wants `keys` (each is released once nobody needs it). */
  releaseKeys(client: string, keys: string[]): void;
  /** A message to a connected client (`bytes`: the size of its binary parts, when big; see Comm.send); false when it is not connected. */
  sendToClient(client: string, msg: Message, bytes?: number): boolean;
  /** The addresses of the connected workers (registered; during a take-over's grace, those that came back too). */
  connectedWorkers(): string[];
  /** A request to a connected worker: its reply, or the error (a RemoteError with the worker's own, a closed connection, a timeout). */
  requestWorker(address: string, msg: Message, timeoutMs: number): Promise<unknown>;
  /** Why a task (or the pending work) does not run, the job queue's side included (scheduler/pending.ts). */
  whyPending(key?: string): Promise<WhyPending>;
  /** The scheduler's journal (--journal), for an extension's own durable state; undefined without one. */
  readonly journal?: ExtensionJournal;
}

/**
 * An extension's state in the scheduler's journal (scheduler/take-over.ts): values under names,
 * restored when a scheduler takes over. Keys an extension holds (`wantKeys` under a name of its
 * own) are journaled by the scheduler itself; this is for the rest (a dataset's value).
 */
export interface ExtensionJournal {
  /** What `extension` had put, by name, when the scheduler this one took over from stopped. */
  restored(extension: string): ReadonlyMap<string, unknown>;
  /** Record `value` under `name` (null: remove it); on disk once `durable()` resolves. */
  put(extension: string, name: string, value: unknown): void;
  /** Resolves once everything recorded so far is on disk: reply to a durable request only then. */
  durable(): Promise<void>;
}

/**
 * A task finished on `worker` (its task-finished, as the scheduler got it): `at` is when the
 * scheduler heard (ms since the epoch); `thread` and `startstops` (its compute and the transfers
 * of its dependencies) are there when the worker sent them.
 */
export interface TaskFinishedEvent {
  key: string;
  worker: string;
  durationS: number;
  at: number;
  nbytes?: number;
  thread?: number;
  startstops?: StartStop[];
}

/** A task erred on `worker` (its task-erred): `error` is the remote error's name. */
export type TaskErredEvent = Omit<TaskFinishedEvent, "nbytes"> & { error: string };

/** Who a peer is: a client by its id, a worker by its address. */
export type PeerWho = { kind: "client"; id: string } | { kind: "worker"; address: string };

/**
 * Who sent an extension op, and the largest message it takes (`frames`, for checkFits): a value
 * handed to it must fit, or its connection would close on the frame.
 */
export type PeerRef = PeerWho & { frames: { share: number; peerMaxFrameBytes: number } };

export interface SchedulerExtension {
  /** "dashboard", later "locks", "datasets". */
  readonly name: string;
  /** New client ops; each extension parses its own messages. */
  readonly ops?: Record<string, (msg: Message, peer: PeerRef) => unknown>;
  /** Called once the scheduler listens; `net` is the host it bound and the one it advertises. */
  start?(s: SchedulerView, net: { bind: string; advertise: string }): Promise<{ services?: Record<string, string> } | void>;
  onTaskFinished?(e: TaskFinishedEvent): void;
  onTaskErred?(e: TaskErredEvent): void;
  /**
   * A worker registered: called before any task is placed on it, so what the extension sends
   * it now (`requestWorker`) reaches it before its first compute-task.
   */
  onWorkerAdded?(worker: { address: string; name: string }): void;
  onWorkerRemoved?(address: string, reason: string): void;
  onClientRemoved?(id: string): void;
  close?(reason: string): Promise<void>;
}

/** An extension, or a loader of one: loading overlaps with opening the scheduler's socket. */
export type ExtensionSource = SchedulerExtension | (() => Promise<SchedulerExtension>);

type Hook<K extends keyof SchedulerExtension> = NonNullable<SchedulerExtension[K]>;

/** The scheduler's loaded extensions and their hooks, gathered once. */
export class Extensions {
  readonly #all: SchedulerExtension[];
  readonly taskFinished: Array<Hook<"onTaskFinished">> = [];
  readonly taskErred: Array<Hook<"onTaskErred">> = [];
  readonly workerAdded: Array<Hook<"onWorkerAdded">> = [];
  readonly workerRemoved: Array<Hook<"onWorkerRemoved">> = [];
  readonly clientRemoved: Array<Hook<"onClientRemoved">> = [];

  private constructor(all: SchedulerExtension[]) {
    this.#all = all;
    for (const e of all) {
      if (e.onTaskFinished) this.taskFinished.push(e.onTaskFinished.bind(e));
      if (e.onTaskErred) this.taskErred.push(e.onTaskErred.bind(e));
      if (e.onWorkerAdded) this.workerAdded.push(e.onWorkerAdded.bind(e));
      if (e.onWorkerRemoved) this.workerRemoved.push(e.onWorkerRemoved.bind(e));
      if (e.onClientRemoved) this.clientRemoved.push(e.onClientRemoved.bind(e));
    }
  }

  /** Load every source (loaders run at once, side by side). */
  static async load(sources: readonly ExtensionSource[]): Promise<Extensions> {
    return new Extensions(await Promise.all(sources.map((s) => (typeof s === "function" ? s() : s))));
  }

  /** Every extension's ops, by op; `taken` are the scheduler's own (an op may have one owner). */
  ops(taken: ReadonlySet<string>): Map<string, Hook<"ops">[string]> {
    const out = new Map<string, Hook<"ops">[string]>();
    for (const e of this.#all) {
      for (const [op, fn] of Object.entries(e.ops ?? {})) {
        if (taken.has(op) || out.has(op)) throw new Error(`extension ${JSON.stringify(e.name)} adds op ${JSON.stringify(op)}, which another handler already has`);
        out.set(op, fn.bind(e.ops));
      }
    }
    return out;
  }

  /** Start them in order; returns the services they announce. */
  async start(view: SchedulerView, net: { bind: string; advertise: string }): Promise<Record<string, string>> {
    const services: Record<string, string> = {};
    for (const e of this.#all) Object.assign(services, (await e.start?.(view, net))?.services);
    return services;
  }

  /** Close them all (each one's failure is the caller's to log). */
  async close(reason: string): Promise<void> {
    await Promise.all(this.#all.map((e) => e.close?.(reason)));
  }
}
