/**
 * Restarting worker processes (client -> the scheduler's restart-workers extension,
 * src/extensions/restart-workers.ts; Dask's `restart_workers`). Extension ops are routed raw:
 * the extension runs this parser itself. The reply maps each worker as given (a name or an
 * address) to the address of its fresh process.
 */
import { type Message, num, optional, strList } from "./messages.js";

/** `timeout`: ms each worker has to close and come back (default 60 s). */
export type RestartWorkers = { op: "restart-workers"; workers: string[]; timeout?: number };
export type RestartWorkersReply = Record<string, string>;

export function parseRestartWorkers(m: Message): RestartWorkers {
  strList(m, "workers");
  optional(m, "timeout", num);
  return m as unknown as RestartWorkers;
}
