/**
 * The task stream's messages (the task-stream scheduler extension, extensions/task-stream.ts,
 * and the client's getTaskStream / performanceReport): the request, its parser, and the records
 * it returns. Times are ms since the epoch.
 */
import { type Message, fieldError, num } from "./messages.js";

export interface TaskStreamTransfer {
  /** the worker the dependencies came from */
  source: string;
  keys: string[];
  nbytes: number;
  start: number;
  stop: number;
}

export interface TaskStreamRecord {
  key: string;
  /** the task group: the key's prefix (its function's name for submitted tasks) */
  group: string;
  worker: string;
  /** index of the worker's task thread that ran it (-1: not told) */
  thread: number;
  start: number;
  stop: number;
  /** "memory": it finished (`nbytes`: its result's size); "erred": it failed (`error`: the error's name) */
  status: "memory" | "erred";
  nbytes: number;
  error?: string;
  transfers: TaskStreamTransfer[];
}

/**
 * `get-task-stream`: records whose compute stopped at or after `start` and started before
 * `stop`, added after the mark `after` (a `task-stream-mark` reply), the last `count` of them.
 */
export type GetTaskStream = { op: "get-task-stream"; start?: number; stop?: number; count?: number; after?: number };
/** The reply is how many records the stream has taken so far: a mark for `after` (clock-free spans). */
export type TaskStreamMark = { op: "task-stream-mark" };

export function parseGetTaskStream(m: Message): GetTaskStream {
  for (const f of ["start", "stop", "count", "after"]) if (m[f] !== undefined) num(m, f);
  for (const f of ["count", "after"]) if (m[f] !== undefined && !(Number.isInteger(m[f]) && (m[f] as number) >= 0)) throw fieldError(m, f, "an integer >= 0", m[f]);
  return m as unknown as GetTaskStream;
}
