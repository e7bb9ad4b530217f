/**
 * Messages a worker serves to its peers (other workers fetching dependencies, retirement copies)
 * and to clients (gather, scatter): the typed union, one parser per op, shapes and replies.
 */
import { type Parsers, type Shapes, dataMap, optional, strList, bool } from "./messages.js";

/** The values of `keys` this worker holds. */
export type GetData = { op: "get-data"; keys: string[] };
/** Store these values (key -> encoded parts); `report`: tell the scheduler of the new copies. */
export type PutData = { op: "put-data"; data: Record<string, Uint8Array[]>; report?: boolean };

export type WorkerToWorker = GetData | PutData;

export interface PeerReplies {
  "get-data": { data: Record<string, Uint8Array[]>; missing: string[] };
  "put-data": { nbytes: Record<string, number> };
}

export const workerToWorkerParsers: Parsers<WorkerToWorker> = {
  "get-data": (m) => (strList(m, "keys"), m as unknown as GetData),
  "put-data": (m) => (dataMap(m, "data"), optional(m, "report", bool), m as unknown as PutData),
};

export const workerToWorkerShapes: Shapes<WorkerToWorker> = {
  "get-data": { keys: "strings" },
  "put-data": { data: "data", report: "boolean?" },
};
