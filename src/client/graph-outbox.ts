/**
 * The tasks a client submitted, on their way to the scheduler (the client does the I/O):
 * - batched per turn into update-graph messages of at most GRAPH_CHUNK tasks, one message per
 *   turn, so a big map reaches the scheduler as messages it handles without blocking its
 *   event loop for long; anything else the client sends to the scheduler sends the rest first;
 * - for a journaled scheduler, numbered and kept until acknowledged: the scheduler writes each
 *   graph to its journal in a group sync and then says so (graph-durable); a graph it had not
 *   written when it died is sent again to the scheduler that takes over (client/scheduler-link.ts
 *   `resume`). A scheduler without a journal acknowledges nothing, and nothing is kept.
 */
import type { TaskSpec } from "../protocol/messages.js";
import type { UpdateGraph } from "../protocol/messages-client.js";
import { GRAPH_CHUNK, graphMessage } from "./graph-message.js";

export interface OutboxIo {
  /** the scheduler's connection is open (else the tasks wait for the next one) */
  connected(): boolean;
  /** the client is closed: pending tasks are dropped */
  closed(): boolean;
  send(m: UpdateGraph): void;
}

export class GraphOutbox {
  /** the scheduler has a journal (its register reply said so): graphs are numbered and kept */
  journal = false;
  readonly #io: OutboxIo;
  #pending: TaskSpec[] = [];
  #flushScheduled = false;
  #seq = 0;
  readonly #unacked = new Map<number, UpdateGraph>();

  constructor(io: OutboxIo) {
    this.#io = io;
  }

  /** A task to send in this turn's flush. */
  add(task: TaskSpec): void {
    this.#pending.push(task);
    this.#later();
  }

  /** Send the pending tasks (at most `limit`, the rest in a later turn), GRAPH_CHUNK tasks a message. */
  flush(limit = Infinity): void {
    // while reconnecting, the tasks wait for the next scheduler
    if (!this.#io.connected()) return void (this.#io.closed() && (this.#pending = []));
    while (this.#pending.length && limit > 0) {
      const n = Math.min(GRAPH_CHUNK, limit);
      const tasks = this.#pending.length <= n ? this.#pending : this.#pending.slice(0, n);
      this.#pending = tasks === this.#pending ? [] : this.#pending.slice(n);
      limit -= tasks.length;
      const m = graphMessage(tasks);
      if (this.journal) this.#unacked.set((m.seq = ++this.#seq), m);
      this.#io.send(m);
    }
    if (this.#pending.length) this.#later();
  }

  #later(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.flush(GRAPH_CHUNK);
    });
  }

  /** The scheduler has every graph up to `seq` on disk. */
  acked(seq: number): void {
    for (const s of this.#unacked.keys()) {
      if (s > seq) break;
      this.#unacked.delete(s);
    }
  }

  /** The graphs sent and not acknowledged, in order (kept until acknowledged). */
  unacked(): UpdateGraph[] {
    return [...this.#unacked.values()];
  }
}
