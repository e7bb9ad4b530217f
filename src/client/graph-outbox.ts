/**
 * The tasks a client submitted and the keys it released or cancelled, in order, on their way
 * to the scheduler (the client does the I/O):
 * - batched per turn into update-graph and release-keys messages of at most GRAPH_CHUNK keys,
 *   one message per turn, so a big map (or the release of a million futures) reaches the
 *   scheduler as messages it handles without blocking its event loop for long; anything else
 *   the client sends to the scheduler sends the rest first; cancels go at once; a long
 *   synchronous loop of submits streams its first tasks while it runs (STREAM_CHUNK);
 * - releases and cancels are *endings*, numbered in the order they were queued: a release-keys
 *   or cancel-keys message carries the number of its last one (`seq`), which the scheduler
 *   acknowledges (ack-keys; client/key-table.ts says why);
 * - for a journaled scheduler, graphs are numbered too, and graphs and endings are kept, in the
 *   order they went, until the scheduler says they are in its journal (graph-durable, after its
 *   group sync); what it had not written when it died is sent again, in that order, to the
 *   scheduler that takes over (client/scheduler-link.ts `resume`). The order matters: a key
 *   released and then submitted again (another computation under a key the user named) must be
 *   released there before it is submitted, else that scheduler, which knows the key from its
 *   journal, keeps the old computation. A scheduler without a journal acknowledges nothing, and
 *   nothing is kept.
 */
import type { TaskSpec } from "../protocol/messages.js";
import type { CancelKeys, ReleaseKeys, UpdateGraph } from "../protocol/messages-client.js";
import { Op } from "../protocol/ops.js";
import { FRAME_SHARE_BYTES } from "../errors.js";
import { GRAPH_CHUNK, graphMessage } from "./graph-message.js";

export interface OutboxIo {
  /** write what was sent so far now (a long synchronous loop of submits streams); returns the connection's backlog (Comm.backlog) */
  write?(): number;
  /** the scheduler's connection is open (else the tasks wait for the next one) */
  connected(): boolean;
  /** the client is closed: pending tasks are dropped */
  closed(): boolean;
  /** `bytes`: the arguments' size, when big (Comm.send) */
  send(m: UpdateGraph | ReleaseKeys | CancelKeys, bytes?: number): void;
  /** bytes of arguments one message may carry (the scheduler's Comm.share; default: a frame's) */
  share?(): number;
}

/** A graph whose arguments are this big tells its size to the connection (Comm.send). */
const BIG_GRAPH = 64 * 1024;

function argBytes(t: TaskSpec): number {
  let n = 0;
  for (const p of t.args) n += p.byteLength;
  return n;
}

/**
 * The first GRAPH_CHUNK tasks added in one turn go out STREAM_CHUNK at a time (with what was
 * queued before them), written at once, while the caller goes on adding: the scheduler starts
 * on them meanwhile (a loop of submits, a tree built level by level). The rest of the turn's
 * tasks go a chunk per turn, as before, and so does everything once the connection holds
 * STREAM_BACKLOG bytes the scheduler has not taken. Streaming all of a million submits took
 * the client's peak over 2 GB in the 1M bench (bench/scale/million.ts), without the backlog
 * ever growing.
 */
export const STREAM_CHUNK = 1000;
export const STREAM_BACKLOG = 4 * 1024 * 1024;

/** A key to cancel (a string in the queue is a key to release). */
class Cancel {
  constructor(readonly key: string) {}
}

type Item = TaskSpec | string | Cancel;
/** What a sent item's place in the pending array holds until the array is cut. */
const SENT = "" as Item;
const kindOf = (item: Item): 0 | 1 | 2 => (typeof item === "string" ? 1 : item instanceof Cancel ? 2 : 0);

export class GraphOutbox {
  /** the scheduler has a journal (its register reply said so): graphs are numbered and kept */
  journal = false;
  readonly #io: OutboxIo;
  /** tasks to submit, keys (strings) to release and keys to cancel, in the order they came; those before `#sent` are sent */
  #pending: Item[] = [];
  /**
   * How many of `#pending` are sent. A big map is sent GRAPH_CHUNK a turn: cutting the sent
   * ones off each time copied the rest, and a million pending tasks left ~0.5 GB of such
   * copies for the garbage collector (the client's peak in the 1M tree). The array is cut
   * when half of it is sent.
   */
  #sent = 0;
  #flushScheduled = false;
  /** tasks added in this turn (see STREAM_CHUNK) */
  #added = 0;
  #seq = 0;
  /** endings queued, and sent (their numbers: 1, 2, ...) */
  #endings = 0;
  #endingsSent = 0;
  /** a journaled scheduler's: what was sent and is not in its journal yet, in the order it went */
  #notDurable: Array<UpdateGraph | ReleaseKeys | CancelKeys> = [];

  constructor(io: OutboxIo) {
    this.#io = io;
  }

  /** A task to send in this turn's flush. */
  add(task: TaskSpec): void {
    this.#pending.push(task);
    if (++this.#added % STREAM_CHUNK === 0 && this.#added <= GRAPH_CHUNK && this.#io.write && this.#io.connected()) {
      this.flush();
      if (this.#io.write() >= STREAM_BACKLOG) this.#added = Infinity;
    }
    this.#later();
  }

  /** A key to release, after what was added before it. */
  release(key: string): void {
    this.#pending.push(key);
    this.#endings++;
    this.#later();
  }

  /** Keys to cancel, sent now after what was added before them (while reconnecting: to the next scheduler, first thing). */
  cancel(keys: string[]): void {
    for (const k of keys) this.#pending.push(new Cancel(k));
    this.#endings += keys.length;
    this.flush();
  }

  /** The number of the last ending queued (0: none yet). */
  get endings(): number {
    return this.#endings;
  }

  /** Everything pending sent, then one more ending number for the caller's message (a resume's want-keys). */
  nextEnding(): number {
    this.flush();
    if (this.#pending.length > this.#sent) throw new Error("the scheduler's connection is not open");
    return (this.#endingsSent = ++this.#endings);
  }

  /** Send what is pending (at most `limit` items, the rest in a later turn), GRAPH_CHUNK a message. */
  flush(limit = Infinity): void {
    // while reconnecting, it waits for the next scheduler
    if (!this.#io.connected()) {
      if (this.#io.closed()) this.#cut(this.#pending.length);
      return;
    }
    while (this.#sent < this.#pending.length && limit > 0) {
      const pending = this.#pending;
      const at = this.#sent;
      // the longest run of one kind (tasks, keys to release, keys to cancel), GRAPH_CHUNK at most
      const kind = kindOf(pending[at]!);
      const most = Math.min(GRAPH_CHUNK, limit, pending.length - at);
      let n = 1;
      // and, for tasks, no more arguments than one message carries (a task over it alone was refused when prepared)
      let bytes = kind ? 0 : argBytes(pending[at] as TaskSpec);
      const share = kind ? 0 : (this.#io.share?.() ?? FRAME_SHARE_BYTES);
      while (n < most && kindOf(pending[at + n]!) === kind) {
        if (!kind) {
          const more = argBytes(pending[at + n] as TaskSpec);
          if (bytes + more > share) break;
          bytes += more;
        }
        n++;
      }
      const run = at === 0 && n === pending.length ? pending : pending.slice(at, at + n);
      // sent: not kept alive by the array until it is cut
      if (run !== pending) pending.fill(SENT, at, at + n);
      this.#sent += n;
      limit -= n;
      if (kind) {
        const seq = (this.#endingsSent += n);
        const m: ReleaseKeys | CancelKeys =
          kind === 1 ? { op: Op.releaseKeys, keys: run as string[], seq } : { op: Op.cancelKeys, keys: (run as Cancel[]).map((c) => c.key), seq };
        if (this.journal) this.#notDurable.push(m);
        this.#io.send(m);
        continue;
      }
      const m = graphMessage(run as TaskSpec[]);
      if (this.journal) this.#notDurable.push(Object.assign(m, { seq: ++this.#seq }));
      this.#io.send(m, bytes >= BIG_GRAPH ? bytes : undefined);
    }
    this.#cut(this.#sent);
    if (this.#pending.length > this.#sent) this.#later();
  }

  /** The first `n` pending items leave: all of them at once, else once they are half the array. */
  #cut(n: number): void {
    if (n === this.#pending.length) this.#pending = [];
    else if (n * 2 >= this.#pending.length) this.#pending = this.#pending.slice(n);
    else return;
    this.#sent = 0;
  }

  #later(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#added = 0;
      this.flush(GRAPH_CHUNK);
    });
  }

  /** The scheduler has the graphs up to `seq` and the endings up to `endings` on disk (graph-durable). */
  durable(seq: number, endings = 0): void {
    this.#notDurable = this.#notDurable.filter((m) => m.seq! > (m.op === Op.updateGraph ? seq : endings));
  }

  /** What was sent and is not on the scheduler's disk yet, in the order it went (kept until then). */
  notDurable(): Array<UpdateGraph | ReleaseKeys | CancelKeys> {
    return [...this.#notDurable];
  }
}
