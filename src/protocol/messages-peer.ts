/**
 * Messages a worker serves to its peers (other workers fetching dependencies, retirement copies)
 * and to clients (gather, scatter): the typed union, one parser per op, shapes and replies.
 */
import { type Parsers, type Shapes, dataMap, optional, strList, numMap } from "./messages.js";

/** The values of `keys` this worker holds. */
export type GetData = { op: "get-data"; keys: string[] };
/**
 * Store these values (key -> encoded parts). `runs` (replication): each value's number, as the
 * scheduler gave it in replicate-to; the receiver tells the scheduler of its new copies with them.
 */
export type PutData = { op: "put-data"; data: Record<string, Uint8Array[]>; runs?: Record<string, number> };

export type WorkerToWorker = GetData | PutData;

export interface PeerReplies {
  "get-data": { data: Record<string, Uint8Array[]>; missing: string[] };
  "put-data": { nbytes: Record<string, number> };
}

export const workerToWorkerParsers: Parsers<WorkerToWorker> = {
  "get-data": (m) => (strList(m, "keys"), m as unknown as GetData),
  "put-data": (m) => (dataMap(m, "data"), optional(m, "runs", numMap), m as unknown as PutData),
};

export const workerToWorkerShapes: Shapes<WorkerToWorker> = {
  "get-data": { keys: "strings" },
  "put-data": { data: "data", runs: "numbers?" },
};
