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
import type { SchedulerExtension, SchedulerView, TaskErredEvent, TaskFinishedEvent } from "../scheduler/extension.js";

/** Records kept (Dask keeps 100,000 too). */
export const TASK_STREAM_SIZE = 100_000;

/** A ring of the last `size` records. */
export class TaskStream {
  #ring: TaskStreamRecord[] = [];
  #next = 0;
  /** records taken so far (the mark of now) */
  #added = 0;

  constructor(readonly size = TASK_STREAM_SIZE) {
    if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`task stream size must be a positive integer, got ${size}`);
  }

  get added(): number {
    return this.#added;
  }

  add(r: TaskStreamRecord): void {
    this.#added++;
    if (this.#ring.length < this.size) this.#ring.push(r);
    else this.#ring[this.#next] = r;
    this.#next = (this.#next + 1) % this.size;
  }

  /** Oldest first. */
  records(q: Omit<GetTaskStream, "op"> = {}): TaskStreamRecord[] {
    let all = this.#ring.length < this.size ? this.#ring : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    // all[j] was the (added - all.length + j)-th record taken
    if (q.after !== undefined) all = all.slice(Math.max(0, q.after - (this.#added - all.length)));
    const picked = all.filter((r) => (q.start === undefined || r.stop >= q.start) && (q.stop === undefined || r.start < q.stop));
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
  const stream = new TaskStream(size);
  let view: SchedulerView | undefined;
  return {
    name: "task-stream",
    ops: {
      [Op.getTaskStream]: (m) => {
        if (m.op !== Op.getTaskStream) throw new ProtocolError(`task-stream got op ${JSON.stringify(m.op)}`);
        return stream.records(parseGetTaskStream(m));
      },
      [Op.taskStreamMark]: () => stream.added,
    },
    async start(s) {
      view = s;
    },
    onTaskFinished(e) {
      stream.add(recordOf(e, view?.state.prefixOf(e.key) ?? e.key));
    },
    onTaskErred(e) {
      stream.add(recordOf(e, view?.state.prefixOf(e.key) ?? e.key));
    },
  };
}
