/**
 * Restarting worker processes from the client (Dask's `restart_workers`): checked here, done by
 * the scheduler's restart-workers extension (src/extensions/restart-workers.ts), which asks
 * each worker to close for its nanny to start a fresh one and answers once all are back.
 */
import type { Message } from "../protocol/messages.js";
import type { RestartWorkersReply } from "../protocol/messages-restart-workers.js";
import { Op } from "../protocol/ops.js";
import { checkWorkerList } from "./submit-options.js";
import { checkFinite, checkTimeout } from "./timeout.js";

export interface RestartHost {
  checkOpen(): void;
  request<T>(msg: Message, timeoutMs: number): Promise<T>;
}

/** Each worker has this long to close and come back, unless `timeout` says. */
const RESTART_TIMEOUT_MS = 60_000;

export async function restartWorkers(c: RestartHost, workers: string[], options: { timeout?: number } = {}): Promise<RestartWorkersReply> {
  c.checkOpen();
  checkWorkerList("restartWorkers' argument", workers);
  if (workers === undefined) throw new TypeError("restartWorkers: name the workers to restart (names or addresses)");
  checkTimeout("restartWorkers", options.timeout);
  checkFinite("restartWorkers", options.timeout, "a worker that does not come back is an error");
  const timeout = options.timeout ?? RESTART_TIMEOUT_MS;
  // the worker's close, then its return, each within `timeout`; then the scheduler's reply
  return c.request<RestartWorkersReply>({ op: Op.restartWorkers, workers, timeout }, 2 * timeout + 10_000);
}
