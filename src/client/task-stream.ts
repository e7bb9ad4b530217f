/**
 * The task stream, for the client: the recent task records the scheduler's task-stream
 * extension keeps (client.getTaskStream; performanceReport in performance-report.ts).
 */
import type { Message } from "../protocol/messages.js";
import type { TaskStreamRecord } from "../protocol/messages-task-stream.js";
import { Op } from "../protocol/ops.js";

export type { TaskStreamRecord, TaskStreamTransfer } from "../protocol/messages-task-stream.js";

export interface TaskStreamOptions {
  /** Only tasks still running at or after this time (ms since the epoch, or a Date). */
  start?: number | Date;
  /** Only tasks that started before this time (ms since the epoch, or a Date). */
  stop?: number | Date;
  /** At most this many, the most recent. */
  count?: number;
}

export interface StreamHost {
  request<T>(msg: Message, timeoutMs?: number): Promise<T>;
}

function time(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const t = v instanceof Date ? v.getTime() : v;
  if (typeof t !== "number" || !Number.isFinite(t)) throw new TypeError(`getTaskStream's ${name} must be a time in ms since the epoch or a Date, got ${JSON.stringify(v) ?? String(v)}`);
  return t;
}

/**
 * The recent task records, oldest first (the scheduler's built-in task-stream extension keeps
 * them); `after`: only those taken after this mark (`taskStreamMark`).
 */
export async function getTaskStream(c: StreamHost, options: TaskStreamOptions & { after?: number } = {}): Promise<TaskStreamRecord[]> {
  const { count, after } = options;
  if (count !== undefined && !(Number.isInteger(count) && count >= 0)) throw new TypeError(`getTaskStream's count must be an integer >= 0, got ${JSON.stringify(count)}`);
  const msg = { op: Op.getTaskStream, start: time(options.start, "start"), stop: time(options.stop, "stop"), count, after };
  return c.request<TaskStreamRecord[]>(msg);
}

/** How many records the task stream has taken so far: records taken later come `after` it. */
export function taskStreamMark(c: StreamHost): Promise<number> {
  return c.request<number>({ op: Op.taskStreamMark });
}
