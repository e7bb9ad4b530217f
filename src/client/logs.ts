/**
 * Recent log lines of the scheduler and of the workers (Dask's get_scheduler_logs and
 * get_worker_logs): each process keeps its last 10,000 lines in memory (log.ts recentLogs), at
 * its log level; the scheduler answers for itself and asks each worker for its own.
 */
import type { LogRecord } from "../log.js";
import type { Message } from "../protocol/messages.js";
import { Op } from "../protocol/ops.js";
import { describeValue } from "./arguments.js";
import { checkWorkerList } from "./submit-options.js";

export interface LogsHost {
  request<T>(msg: Message, timeoutMs?: number): Promise<T>;
}

export interface LogsOptions {
  /** The last `n` lines (default: all kept, up to 10,000). */
  n?: number;
}

export interface WorkerLogsOptions extends LogsOptions {
  /** Worker names or addresses (default: all). */
  workers?: string[];
}

/** A worker may take this long to answer, and the scheduler to gather them. */
const LOGS_TIMEOUT_MS = 60_000;

function lines(call: string, n: unknown): number | undefined {
  if (n !== undefined && !(Number.isInteger(n) && (n as number) >= 0)) throw new TypeError(`${call}: n must be an integer >= 0, got ${describeValue(n)}`);
  return n as number | undefined;
}

export async function schedulerLogs(c: LogsHost, options: LogsOptions = {}): Promise<LogRecord[]> {
  return c.request({ op: Op.getLogs, n: lines("getSchedulerLogs", options.n) }, LOGS_TIMEOUT_MS);
}

export async function workerLogs(c: LogsHost, options: WorkerLogsOptions = {}): Promise<Record<string, LogRecord[]>> {
  const n = lines("getWorkerLogs", options.n);
  checkWorkerList("getWorkerLogs' workers option", options.workers);
  return c.request({ op: Op.getWorkerLogs, n, workers: options.workers }, LOGS_TIMEOUT_MS);
}
