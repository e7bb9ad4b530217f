/**
 * Graphs sent to a journaled scheduler and not yet on its disk (no I/O). The scheduler writes
 * each graph to its journal in a group sync and then acknowledges it (graph-durable, by
 * number); a graph it had not written when it died is sent again to the scheduler that takes
 * over, before the client asks for its keys. A scheduler without a journal acknowledges
 * nothing, and its graphs are not kept.
 */
import type { UpdateGraph } from "../protocol/messages-client.js";

export class UnackedGraphs {
  /** the scheduler has a journal (its register reply said so): graphs are numbered and kept */
  journal = false;
  #seq = 0;
  readonly #sent = new Map<number, UpdateGraph>();

  /** `m`, numbered and kept until acknowledged if the scheduler has a journal. */
  stamp(m: UpdateGraph): UpdateGraph {
    if (!this.journal) return m;
    m.seq = ++this.#seq;
    this.#sent.set(m.seq, m);
    return m;
  }

  /** The scheduler has every graph up to `seq` on disk. */
  acked(seq: number): void {
    for (const s of this.#sent.keys()) {
      if (s > seq) break;
      this.#sent.delete(s);
    }
  }

  /** The graphs to send again, in order (they stay kept until acknowledged). */
  unacked(): UpdateGraph[] {
    return [...this.#sent.values()];
  }

  get size(): number {
    return this.#sent.size;
  }
}
