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

/** `get-task-stream`: records whose compute stopped at or after `start` and started before `stop`, the last `count` of them. */
export type GetTaskStream = { op: "get-task-stream"; start?: number; stop?: number; count?: number };

export function parseGetTaskStream(m: Message): GetTaskStream {
  for (const f of ["start", "stop", "count"]) if (m[f] !== undefined) num(m, f);
  if (m.count !== undefined && !(Number.isInteger(m.count) && (m.count as number) >= 0)) throw fieldError(m, "count", "an integer >= 0", m.count);
  return m as unknown as GetTaskStream;
}
