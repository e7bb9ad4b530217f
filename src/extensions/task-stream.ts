/**
 * The task stream (Dask's TaskStreamPlugin): a bounded ring of the most recent finished tasks,
 * each with its group (key prefix), worker, thread, compute start/stop and the transfers of its
 * dependencies (from whom, which keys, bytes, start/stop), from the workers' task-finished
 * startstops. Clients read it with `get-task-stream` (client.getTaskStream, performanceReport).
 * Times are ms since the epoch, as the workers' clocks tell them.
 */
import { ProtocolError } from "../errors.js";
import { type GetTaskStream, type TaskStreamRecord, type TaskStreamTransfer, parseGetTaskStream } from "../protocol/messages-task-stream.js";
import { Op } from "../protocol/ops.js";
import type { SchedulerExtension, TaskErredEvent, TaskFinishedEvent } from "../scheduler/extension.js";
import { prefixOf } from "../scheduler/state-placement.js";

/** Records kept (Dask keeps 100,000 too). */
export const TASK_STREAM_SIZE = 100_000;

/**
 * A ring of the last `size` entries, made into records only when read: a finished task costs
 * the scheduler one slot write (its event as the handler made it), not a record.
 */
export class TaskStream<E = TaskStreamRecord> {
  #ring: E[] = [];
  #next = 0;
  /** entries taken so far (the mark of now) */
  #added = 0;
  readonly #toRecord: (e: E) => TaskStreamRecord;

  constructor(
    readonly size = TASK_STREAM_SIZE,
    toRecord: (e: E) => TaskStreamRecord = (e) => e as unknown as TaskStreamRecord,
  ) {
    if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`task stream size must be a positive integer, got ${size}`);
    this.#toRecord = toRecord;
  }

  get added(): number {
    return this.#added;
  }

  add(e: E): void {
    this.#added++;
    if (this.#ring.length < this.size) this.#ring.push(e);
    else this.#ring[this.#next] = e;
    this.#next = (this.#next + 1) % this.size;
  }

  /** Oldest first. */
  records(q: Omit<GetTaskStream, "op"> = {}): TaskStreamRecord[] {
    let all = this.#ring.length < this.size ? this.#ring : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    // all[j] was the (added - all.length + j)-th entry taken
    if (q.after !== undefined) all = all.slice(Math.max(0, q.after - (this.#added - all.length)));
    const picked = all.map(this.#toRecord).filter((r) => (q.start === undefined || r.stop >= q.start) && (q.stop === undefined || r.start < q.stop));
    return q.count === undefined ? picked : q.count === 0 ? [] : picked.slice(-q.count);
  }
}

/** The record of a finished or erred task (without startstops, its compute is the duration up to when the scheduler heard). */
export function recordOf(e: TaskFinishedEvent | TaskErredEvent, group: string): TaskStreamRecord {
  const compute = e.startstops?.find((s) => s.action === "compute");
  const stop = compute?.stop ?? e.at;
  const transfers: TaskStreamTransfer[] = [];
  for (const s of e.startstops ?? []) {
    if (s.action === "transfer") transfers.push({ source: s.source ?? "", keys: s.keys ?? [], nbytes: s.nbytes ?? 0, start: s.start, stop: s.stop });
  }
  const start = compute?.start ?? stop - e.durationS * 1000;
  const base = { key: e.key, group, worker: e.worker, thread: e.thread ?? -1, start, stop, transfers };
  return "error" in e ? { ...base, status: "erred", nbytes: 0, error: e.error } : { ...base, status: "memory", nbytes: e.nbytes ?? 0 };
}

export function taskStreamExtension(size = TASK_STREAM_SIZE): SchedulerExtension {
  // the group is the key's prefix, a pure function of the key (state-placement.ts)
  const stream = new TaskStream<TaskFinishedEvent | TaskErredEvent>(size, (e) => recordOf(e, prefixOf(e.key)));
  return {
    name: "task-stream",
    ops: {
      [Op.getTaskStream]: (m) => {
        if (m.op !== Op.getTaskStream) throw new ProtocolError(`task-stream got op ${JSON.stringify(m.op)}`);
        return stream.records(parseGetTaskStream(m));
      },
      [Op.taskStreamMark]: () => stream.added,
    },
    onTaskFinished(e) {
      stream.add(e);
    },
    onTaskErred(e) {
      stream.add(e);
    },
  };
}
