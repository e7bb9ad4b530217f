/**
 * A journaled scheduler (issue 16): what it writes to its journal (journal.ts) as things
 * happen, and how a scheduler started on the same journal takes over.
 *
 * Take-over, in order:
 * 1. `replay()`, before listening: every graph some client (or an extension's holder name,
 *    e.g. "published-datasets") still wants goes back into the state machine, lineage included.
 *    No worker is known yet, so nothing is placed.
 * 2. The grace: workers that outlived the old scheduler re-register with the results they hold
 *    (register-worker's `held`). They are parked, not added, until every worker the journal
 *    names as a holder is back or the grace (`graceMs`) is over; then all are added at once
 *    (`SchedulerState.addWorkersHolding`): their held keys are in memory, and only then is
 *    anything placed, so nothing a live worker holds is computed again. Keys whose holders
 *    did not come back are computed again from lineage.
 * 3. Clients reconnect (client/reconnect.ts) with their old id and ask for their keys again
 *    (want-keys). A client of the journal that has not come back `clientTimeoutMs` after the
 *    grace is removed (its keys released), as if it had left.
 *
 * Scattered data is journaled as tasks without a function, and its holder as a completion:
 * replayed, it waits through the grace for its holder (state-take-over.ts) and is lost if the
 * holder does not come back (no lineage to compute it from).
 *
 * Checkpoints: a task submitted with `checkpoint` (or every task, with the cluster's
 * checkpoint flag) goes to its worker with the path of its checkpoint file; the worker writes
 * the result there and reports it. The file is named by the key and the fingerprint of its
 * computation (checkpoint-fingerprint.ts). A key whose file is there is submitted without its
 * dependencies: the worker loads it (or computes it if the file is gone, and says so).
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { logger } from "../log.js";
import type { TaskSpec, WireFunction } from "../protocol/messages.js";
import { Op, type WireError } from "../protocol/ops.js";
import type { FunctionTable } from "../protocol/functions.js";
import type { Rpc } from "../comm/rpc.js";
import { Fingerprints } from "./checkpoint-fingerprint.js";
import { type Journal, checkpointPath } from "./journal.js";
import { SCATTERED } from "./journal-state.js";
import type { Instruction, SchedulerState, WorkerInfo } from "./state.js";

const log = () => logger("scheduler");

export interface TakeOverOptions {
  journal: Journal;
  state: SchedulerState;
  functions: FunctionTable;
  run(ins: Instruction[]): void;
  sid(what: string): string;
  /** the connection of a registered worker */
  workerRpc(address: string): Rpc | undefined;
  clientConnected(id: string): boolean;
  graceMs: number;
  clientTimeoutMs: number;
  /** Checkpoint every result (the cluster's --checkpoint). */
  checkpointAll: boolean;
}

type Parked = { info: WorkerInfo; held: Record<string, number> };

export class TakeOver {
  readonly journal: Journal;
  readonly #o: TakeOverOptions;
  /** keys to checkpoint (submitted with checkpoint) -> their computation's fingerprint (names the file) */
  readonly #checkpoint = new Map<string, string>();
  readonly #fingerprints: Fingerprints;
  /** remote() modules' digests in this round (a graph, the replay): each file is read once a round */
  #modules = new Map<string, string>();
  /** modules that could not be read, warned about once */
  readonly #unreadable = new Set<string>();
  #parked = new Map<string, Parked>();
  /** holders the journal names that have not re-registered yet */
  #awaiting = new Set<string>();
  /** every holder the journal names */
  #holders = new Set<string>();
  #graceTimer: NodeJS.Timeout | undefined;
  #clientTimers: NodeJS.Timeout[] = [];
  #inGrace = false;
  #startedAt = 0;
  /** When the grace ended (work resumed), ms since the epoch; for the log and tests. */
  resumedAt: number | undefined;
  #resume!: () => void;
  /** Resolves when work resumes: the workers that outlived the old scheduler are back (or the grace is over). */
  readonly resumed = new Promise<void>((r) => (this.#resume = r));

  /** the checkpoint files there were at start (earlier runs') */
  readonly #onDisk: Set<string>;
  /** extension -> name -> value, as the journal had them at the take-over */
  readonly #restored: Map<string, Map<string, unknown>>;

  constructor(o: TakeOverOptions) {
    this.journal = o.journal;
    this.#o = o;
    this.#restored = new Map([...o.journal.state.ext].map(([e, m]) => [e, new Map(m)]));
    this.#onDisk = new Set(readdirSync(join(o.journal.dir, "checkpoints")));
    const js = o.journal.state;
    this.#fingerprints = new Fingerprints({
      task: (key) => {
        const t = js.tasks.get(key);
        const fn = t && js.functions.get(t[1]);
        return fn && { fn, args: t[2], deps: t[3] };
      },
      module: (url) => this.#moduleDigest(url),
    });
  }

  /** The digest of a remote() module's file, read once a round; a marker (and a warning) when it cannot be read. */
  #moduleDigest(url: string): string {
    let d = this.#modules.get(url);
    if (d !== undefined) return d;
    try {
      d = createHash("sha256").update(readFileSync(fileURLToPath(url))).digest("base64url");
    } catch (err) {
      d = "unreadable";
      if (!this.#unreadable.has(url)) {
        this.#unreadable.add(url);
        log().warn({ module: url, err: String((err as Error).message ?? err) }, "cannot read a remote() module: its checkpoints are found by its address, not its content");
      }
    }
    this.#modules.set(url, d);
    return d;
  }

  /** Mark `key` checkpointed: its file (by its computation), and whether an earlier run left it there. */
  #toCheckpoint(key: string): boolean {
    const fingerprint = this.#fingerprints.of(key);
    this.#checkpoint.set(key, fingerprint);
    return this.#fromCheckpoint(key, checkpointPath(this.journal.dir, key, fingerprint));
  }

  /** What an extension had journaled when the old scheduler stopped (by name). */
  restored(extension: string): ReadonlyMap<string, unknown> {
    return this.#restored.get(extension) ?? new Map();
  }

  /** Put the journal's live graphs back into the state machine (before listening). */
  replay(): void {
    const t0 = Date.now();
    const js = this.journal.state;
    const { state, functions } = this.#o;
    const ids = new Map<number, number>();
    const fnId = (jid: number): number => {
      let id = ids.get(jid);
      if (id === undefined) {
        const wire = js.functions.get(jid);
        if (!wire) throw new Error(`journal names function ${jid}, which it does not define`);
        ids.set(jid, (id = functions.idOf(wire)));
      }
      return id;
    };
    let tasks = 0;
    this.#modules = new Map();
    for (const [client, keys] of js.wants) {
      const specs: TaskSpec[] = [];
      const scattered: string[] = [];
      for (const [key, fn, args, deps, opts] of js.ordered(keys)) {
        if (fn === SCATTERED) {
          scattered.push(key);
          continue;
        }
        const spec: TaskSpec = { key, fn: fnId(fn), args, deps: opts?.checkpoint && this.#toCheckpoint(key) ? [] : deps };
        if (opts?.priority) spec.priority = opts.priority;
        if (opts?.retries) spec.retries = opts.retries;
        if (opts?.workers) spec.workers = opts.workers;
        if (opts?.allowOtherWorkers) spec.allowOtherWorkers = opts.allowOtherWorkers;
        if (opts?.resources) spec.resources = opts.resources;
        specs.push(spec);
      }
      tasks += specs.length + scattered.length;
      // scattered data first: the tasks depending on it wait for its holder
      if (scattered.length) this.#o.run(state.awaitScattered(client, scattered, this.#o.sid("journal-replay")));
      this.#o.run(state.updateGraph(client, specs, this.#o.sid("journal-replay")));
    }
    const live = js.liveKeys();
    const erred = [...js.erred].filter(([key]) => live.has(key) && !js.done.has(key)) as Array<[string, WireError]>;
    if (erred.length) this.#o.run(state.restoreErred(erred, this.#o.sid("journal-replay")));
    for (const [key, holders] of js.done) if (live.has(key)) for (const w of holders.keys()) this.#awaiting.add(js.workers.get(w) ?? "");
    this.#awaiting.delete("");
    this.#holders = new Set(this.#awaiting);
    this.#startedAt = Date.now();
    log().info({ journal: this.journal.dir, records: this.journal.replayed, replayMs: this.#startedAt - t0, tasks, erred: erred.length, clients: js.wants.size, holders: this.#awaiting.size, torn: this.journal.torn }, "journal replayed");
    if (this.journal.torn) log().warn({ file: this.journal.torn.file, offset: this.journal.torn.offset }, "journal: a torn last record was ignored");
    if (this.#awaiting.size) {
      this.#inGrace = true;
      this.#graceTimer = setTimeout(() => this.#endGrace(`grace of ${this.#o.graceMs} ms over`), this.#o.graceMs).unref();
    } else {
      this.#endGrace("no worker held results");
    }
  }

  /**
   * A worker registers: returns true when this parks it (the grace) or adds it with what it holds;
   * false for a worker holding nothing after the grace (the scheduler adds it as usual).
   */
  registerWorker(info: WorkerInfo, held: Record<string, number> | undefined): boolean {
    if (this.#inGrace) {
      this.#parked.set(info.address, { info, held: held ?? {} });
      this.#awaiting.delete(info.address);
      if (this.#awaiting.size === 0) this.#endGrace("every holder is back");
      return true;
    }
    if (!held || !Object.keys(held).length) return false;
    this.#add([{ info, held }]);
    return true;
  }

  /**
   * A worker's connection closed: true if it was parked (not in the state machine). A holder
   * that leaves during the grace (its registration cut off: it will try again) is awaited again.
   */
  workerGone(address: string): boolean {
    if (!this.#parked.delete(address)) return false;
    if (this.#inGrace && this.#holders.has(address)) this.#awaiting.add(address);
    return true;
  }

  #endGrace(why: string): void {
    if (this.resumedAt !== undefined) return;
    this.#inGrace = false;
    clearTimeout(this.#graceTimer);
    this.resumedAt = Date.now();
    this.#resume();
    const parked = [...this.#parked.values()];
    this.#parked.clear();
    this.#add(parked);
    // scattered data has no lineage: what no holder brought back is lost
    this.#o.run(this.#o.state.lostScattered(this.#o.sid("take-over")));
    log().info({ reason: why, workers: parked.length, missing: [...this.#awaiting], tookMs: this.resumedAt - this.#startedAt }, "take-over: work resumes");
    // clients of the journal that do not come back are removed, as if they had left
    for (const client of this.journal.state.wants.keys()) {
      if (!client.startsWith("Client-")) continue;
      const t = setTimeout(() => {
        if (this.#o.clientConnected(client) || !this.journal.state.wants.has(client)) return;
        log().info({ client, reason: `not back ${this.#o.clientTimeoutMs} ms after the take-over` }, "client of the journal removed");
        this.clientLeft(client);
        this.#o.run(this.#o.state.removeClient(client, this.#o.sid("journal-client-gone")));
      }, this.#o.clientTimeoutMs);
      this.#clientTimers.push(t.unref());
    }
  }

  /**
   * Add workers with the held results the journal vouches for: a key whose completion it
   * records on that worker, for the spec it has now (journal-state.ts clears a completion when
   * a key comes back with another spec). Anything else a worker holds may be a replica, or the
   * value of an earlier incarnation of the key (released, then submitted again with another
   * function while the worker was cut off): it is freed there, never taken.
   */
  #add(parked: Parked[]): void {
    const js = this.journal.state;
    const refused = new Map<string, string[]>();
    const entries = parked.map(({ info, held }) => {
      const vouched: Record<string, number> = {};
      const no: string[] = [];
      for (const [key, nbytes] of Object.entries(held)) {
        const holders = js.done.get(key);
        if (holders && [...holders.keys()].some((w) => js.workers.get(w) === info.address)) vouched[key] = nbytes;
        else no.push(key);
      }
      if (no.length) refused.set(info.address, no);
      return { info, held: vouched };
    });
    const { instructions, unknown } = this.#o.state.addWorkersHolding(entries, Date.now(), this.#o.sid("take-over"));
    for (const [address, keys] of refused) unknown.set(address, [...(unknown.get(address) ?? []), ...keys]);
    for (const e of entries) log().info({ worker: e.info.address, name: e.info.name, held: Object.keys(e.held).length, freed: unknown.get(e.info.address)?.length ?? 0 }, "worker added");
    // freed before any task is placed there (a held key's compute-task would be ignored)
    for (const [address, keys] of unknown) this.#o.workerRpc(address)?.send({ op: Op.freeKeys, keys });
    this.#o.run(instructions);
  }

  // ---- what is journaled --------------------------------------------------------------------

  /** A graph as it came (tasks name the message's functions by index), before the scheduler renumbers them. */
  graph(client: string, functions: readonly WireFunction[], tasks: TaskSpec[]): void {
    this.journal.graph(client, functions, tasks, this.#o.checkpointAll);
    // a key journaled again may be another computation
    for (const t of tasks) this.#fingerprints.forget(t.key);
    this.#modules = new Map();
    for (const t of tasks as Array<TaskSpec & { checkpoint?: boolean }>) {
      // done in an earlier run: loaded from its checkpoint, its lineage not needed
      if ((t.checkpoint || this.#o.checkpointAll) && this.#toCheckpoint(t.key)) t.deps = [];
    }
  }

    /**
   * Acknowledge a client's numbered graph (`graphs`) or release-keys / cancel-keys (`endings`)
   * once it is on disk (graph-durable): acks wait for the group sync together, one wait per
   * turn, and each client hears only its highest numbers. Until then the client keeps them, to
   * send again, in order, to a scheduler that takes over.
   */
  ackWhenDurable(client: string, what: "graphs" | "endings", seq: number, send: (ack: { seq: number; endings?: number }) => void): void {
    let a = this.#acks.get(client);
    if (!a) this.#acks.set(client, (a = { seq: 0, send }));
    a.send = send;
    if (what === "graphs") a.seq = Math.max(a.seq, seq);
    else a.endings = Math.max(a.endings ?? 0, seq);
    if (this.#acksScheduled) return;
    this.#acksScheduled = true;
    setImmediate(() => {
      this.#acksScheduled = false;
      const acks = [...this.#acks.values()];
      this.#acks.clear();
      // a journal that cannot be written acknowledges nothing: the client keeps the graphs
      this.journal.synced().then(() => {
        for (const { send: ack, ...numbers } of acks) ack(numbers);
      }, () => {});
    });
  }

  #acks = new Map<string, { seq: number; endings?: number; send: (ack: { seq: number; endings?: number }) => void }>();
  #acksScheduled = false;

  /** Was `file`, key's checkpoint, written (by an earlier run, or journaled)? If not, it is computed again, from its lineage. */
  #fromCheckpoint(key: string, file: string): boolean {
    // the file is the truth (written before its task-finished): the journal may have missed the
    // record. Listed at the take-over: no system call a task (a file gone since is read as
    // missing by the worker, which computes the result again)
    if (this.#onDisk.has(basename(file))) return true;
    if (!this.journal.state.checkpoints.has(key)) return false;
    // journaled, not listed: written since the listing, or missing
    if (existsSync(file)) return true;
    // the journal's record is by key: the file of this computation is missing, or the record is another computation's (an edited remote() module)
    log().warn({ key, checkpoint: file }, "checkpoint file missing: computing the result again");
    return false;
  }

  /** The checkpoint file for a compute-task of `key`, if it is to have one. */
  checkpointOf(key: string): string | undefined {
    const fingerprint = this.#checkpoint.get(key);
    return fingerprint === undefined ? undefined : checkpointPath(this.journal.dir, key, fingerprint);
  }

  /** A client's scatter, as the state took it: `fresh`, the keys it did not know; `held`, the keys now on `worker`. */
  scattered(client: string, worker: string, fresh: string[], known: string[], held: Array<{ key: string; nbytes: number }>): void {
    if (fresh.length) this.journal.scattered(client, fresh);
    if (known.length) this.wanted(client, known);
    for (const { key, nbytes } of held) this.journal.finished(key, worker, nbytes);
  }

  /** A copy of scattered data on another worker: journaled as a holder too, since it cannot be computed again. */
  copied(key: string, worker: string, nbytes: number): void {
    this.journal.finished(key, worker, nbytes);
  }

  finished(key: string, worker: string, nbytes: number): void {
    this.journal.finished(key, worker, nbytes);
    if (this.#checkpoint.has(key)) this.journal.checkpointed(key);
  }

  erred(key: string, error: unknown): void {
    this.journal.erred(key, error);
  }

  /** Erred keys run again (retry): a scheduler taking over computes them, it does not err them again. */
  retried(keys: string[]): void {
    this.journal.retried(keys);
  }

  wanted(holder: string, keys: string[]): void {
    // a want with no graph: the keys are known; recorded as an empty-spec graph would not be,
    // so as a graph of the tasks the journal has
    const tasks = keys.map((k) => this.journal.state.tasks.get(k)).filter((t) => t !== undefined);
    if (tasks.length) this.journal.want(holder, tasks.map((t) => t[0]));
  }

  released(client: string, keys: string[]): void {
    this.journal.released(client, keys);
  }

  /** A cancel (null: a restart's, of everything): after a take-over those keys are not computed again. */
  cancelled(keys: string[] | null): void {
    this.journal.cancelled(keys);
  }

  clientLeft(client: string): void {
    this.journal.clientLeft(client);
  }

  workerLeft(address: string): void {
    this.journal.workerLeft(address);
  }

  async close(): Promise<void> {
    clearTimeout(this.#graceTimer);
    for (const t of this.#clientTimers) clearTimeout(t);
    await this.journal.close();
  }
}
