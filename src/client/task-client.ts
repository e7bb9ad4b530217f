/**
 * The client of a task thread: what getClient() returns inside a task, and workerClient().
 * One per task thread, connected to the worker's scheduler with the worker's secret and TLS
 * files (protocol/task-context.ts holds them), and reused by every task on that thread. It
 * keeps the thread's event loop alive only while it waits, and goes with the thread (a worker
 * that closes or restarts terminates its threads, and with them this connection).
 *
 * getClient() is synchronous, as Dask's get_client(): so the connection is made when a task
 * thread first imports the package (a top-level await in index.ts, through startTaskClient),
 * and getClient() hands it out.
 */
import { ConfigError, describeError } from "../errors.js";
import { rejoin, secede, taskThreadSettings } from "../protocol/task-context.js";
import { setDefaultActorHost } from "../protocol/actor-ref.js";
import { Client } from "./client.js";

/** How long a task thread waits for its scheduler when it connects its client. */
const CONNECT_TIMEOUT_MS = 20_000;

let client: Client | undefined;
let connecting: Promise<Client> | undefined;
let lastError: unknown;

/** The task thread's client, connected (again) if need be; rejects outside task threads. */
export function taskClient(): Promise<Client> {
  const settings = taskThreadSettings();
  // the worker moved to another scheduler (it reconnected): this client is of the old one
  if (client && !client.closed && settings && client.schedulerAddress !== settings.schedulerAddress) void client.close();
  if (client && !client.closed) return Promise.resolve(client);
  if (!settings) return Promise.reject(new ConfigError("no task client: this code is not running in a task on a worker"));
  if (settings.schedulerAddress.startsWith("inproc://")) {
    lastError = new ConfigError(`a task cannot connect a client to the scheduler at ${settings.schedulerAddress}: inproc:// is not reachable from a task thread (use tcp:// or tls://)`);
    return Promise.reject(lastError);
  }
  connecting ??= Client.connect(settings.schedulerAddress, { secret: settings.secret, tls: settings.tls, timeout: CONNECT_TIMEOUT_MS }).then(
    (c) => {
      connecting = undefined;
      lastError = undefined;
      return (client = c);
    },
    (err: unknown) => {
      connecting = undefined;
      lastError = err;
      throw err;
    },
  );
  return connecting;
}

/**
 * The task thread's client when it is connected: undefined outside task threads; throws (and
 * starts connecting again) inside one whose client could not connect or lost its scheduler.
 */
export function connectedTaskClient(): Client | undefined {
  const settings = taskThreadSettings();
  if (!settings) return undefined;
  if (client && !client.closed && client.schedulerAddress === settings.schedulerAddress) return client;
  const why = lastError !== undefined ? describeError(lastError) : client?.closed ? "it lost its scheduler" : "it is still connecting";
  taskClient().catch(() => {});
  throw new ConfigError(
    `getClient() in task thread of worker ${settings.workerName}: its client to ${settings.schedulerAddress} is not connected (${why}); ` +
      "await workerClient(...) connects (again) before it hands the client out",
    { cause: lastError },
  );
}

/**
 * Dask's `worker_client`: inside a task, run `fn` with the task thread's client while the task
 * is seceded (it holds no thread slot, so the tasks it submits and waits for can run even on a
 * one-thread worker), then rejoin (wait for a slot) and return what `fn` returned.
 * @example const sum = await workerClient(async (client) => (await client.gather(client.map(inc, [1, 2]))).reduce((a, b) => a + b));
 */
export async function workerClient<T>(fn: (client: Client) => T | Promise<T>): Promise<Awaited<T>> {
  if (typeof fn !== "function") throw new TypeError(`workerClient needs a function (client) => ..., got ${fn === null ? "null" : typeof fn}`);
  const c = await taskClient().catch((err: unknown) => {
    throw taskThreadSettings() ? err : new ConfigError("workerClient() was called outside a task: it works only in a function running as a task on a worker");
  });
  secede();
  try {
    return await fn(c);
  } finally {
    await rejoin();
  }
}

/**
 * Connect the task thread's client (the package entry, index.ts, awaits this as a task thread
 * first imports it, so getClient() is ready); actor proxies among a task's arguments call
 * through it. A failure is kept for getClient() to report.
 */
export async function startTaskClient(): Promise<void> {
  setDefaultActorHost({ call: async (...a) => (await taskClient()).actorHost.call(...a) });
  await taskClient().catch(() => {});
}
