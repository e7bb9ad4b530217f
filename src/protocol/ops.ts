/** Every wire op, in one place. Messages are msgpack maps `{ op, ...fields }`. */
import { inspect } from "node:util";
import { FrameTooLargeError } from "../errors.js";

export const Op = {
  // handshake (comm/handshake.ts)
  hello: "hello",
  auth: "auth",
  welcome: "welcome",
  // request/response plumbing (comm/rpc.ts)
  reply: "reply",
  // scheduler <- worker
  registerWorker: "register-worker",
  heartbeat: "heartbeat",
  taskFinished: "task-finished",
  taskErred: "task-erred",
  /** a worker leaving on its own (memory above terminate without a nanny), with the reason */
  unregisterWorker: "unregister-worker",
  /** a worker's MPI rank: its worker cannot go on (the nanny gave up), with the reason */
  workerFailed: "worker-failed",
  // scheduler -> worker
  computeTask: "compute-task",
  /** close, for the worker's nanny to start a fresh process (client.restartWorkers) */
  restartProcess: "restart-process",
  freeKeys: "free-keys",
  closeWorker: "close-worker",
  // scheduler <- client
  registerClient: "register-client",
  /** the reply is the scheduler's heartbeat to the client (client/heartbeat.ts) */
  heartbeatClient: "heartbeat-client",
  updateGraph: "update-graph",
  releaseKeys: "release-keys",
  whoHas: "who-has",
  retry: "retry",
  getLogs: "get-logs",
  getWorkerLogs: "get-worker-logs",
  identity: "identity",
  shutdown: "shutdown",
  addKeys: "add-keys",
  cancelKeys: "cancel-keys",
  /** the client wants keys another client made (a future it was given: a dataset, a queue's item) */
  wantKeys: "want-keys",
  story: "story",
  runOnScheduler: "run-on-scheduler",
  broadcast: "broadcast",
  retireWorkers: "retire-workers",
  restart: "restart",
  /** scheduler <- client: the restart-workers extension (extensions/restart-workers.ts) */
  restartWorkers: "restart-workers",
  versions: "versions",
  // scheduler <- client: where data lives (messages-locality.ts)
  fireAndForget: "fire-and-forget",
  hasWhat: "has-what",
  nbytes: "nbytes",
  replicate: "replicate",
  rebalance: "rebalance",
  // scheduler <- client: the task-stream extension (extensions/task-stream.ts)
  getTaskStream: "get-task-stream",
  taskStreamMark: "task-stream-mark",
  // scheduler <- client: the pending extension (extensions/pending.ts): "why pending?"
  whyPending: "why-pending",
  // scheduler <- client: the jupyter extension (extensions/jupyter/; messages-jupyter.ts)
  startJupyter: "start-jupyter",
  // scheduler -> client
  keyCancelled: "key-cancelled",
  keyInMemory: "key-in-memory",
  keyErred: "key-erred",
  keyLost: "key-lost",
  schedulerClosing: "scheduler-closing",
  graphDurable: "graph-durable",
  ackKeys: "ack-keys",
  missingData: "missing-data",
  executing: "executing",
  longRunning: "long-running",
  workerStatus: "worker-status",
  addReplica: "add-replica",
  releaseWorkerData: "release-worker-data",
  // datasets (scheduler extension src/extensions/datasets.ts; messages-datasets.ts)
  publishDataset: "publish-dataset",
  getDataset: "get-dataset",
  listDatasets: "list-datasets",
  unpublishDataset: "unpublish-dataset",
  // coordination primitives (scheduler extension src/extensions/coordination/; messages-coordination.ts)
  leaseAcquire: "lease-acquire",
  leaseRelease: "lease-release",
  leaseInfo: "lease-info",
  queuePut: "queue-put",
  queueGet: "queue-get",
  queueSize: "queue-size",
  variableSet: "variable-set",
  variableGet: "variable-get",
  variableDelete: "variable-delete",
  eventSet: "event-set",
  eventClear: "event-clear",
  eventIsSet: "event-is-set",
  eventWait: "event-wait",
  pubsubSubscribe: "pubsub-subscribe",
  pubsubUnsubscribe: "pubsub-unsubscribe",
  pubsubPut: "pubsub-put",
  /** scheduler -> client: an item for the client's subscribers of a name */
  pubsubMessage: "pubsub-message",
  // worker plugins (scheduler extension src/extensions/worker-plugins.ts; messages-plugins.ts)
  registerWorkerPlugin: "register-worker-plugin",
  unregisterWorkerPlugin: "unregister-worker-plugin",
  /** scheduler -> worker: set a plugin up on every task thread, or take it down */
  pluginAdd: "plugin-add",
  pluginRemove: "plugin-remove",
  // worker <- client, peer or scheduler
  getData: "get-data",
  putData: "put-data",
  run: "run",
  replicateTo: "replicate-to",
  actorCall: "actor-call",
} as const;

export type OpName = (typeof Op)[keyof typeof Op];

/** Error as it travels on the wire; a FrameTooLargeError keeps its sizes (`bytes`, `limit`). */
export interface WireError {
  name: string;
  message: string;
  stack: string;
  bytes?: number;
  limit?: number;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof FrameTooLargeError) return { name: err.name, message: err.message, stack: err.stack ?? "", bytes: err.bytes, limit: err.limit };
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack ?? "" };
  // a thrown non-Error (`throw { code: 42 }`) keeps its content, not "[object Object]"
  return { name: "Error", message: typeof err === "string" ? err : inspect(err, { depth: 2, breakLength: Infinity }), stack: "" };
}
