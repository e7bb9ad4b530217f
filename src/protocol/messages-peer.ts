/**
 * Messages a worker serves to its peers (other workers fetching dependencies, retirement copies)
 * and to clients (gather, scatter): the typed union, one parser per op, shapes and replies.
 */
import { ProtocolError } from "../errors.js";
import { type Parsers, type Shapes, dataMap, isParts, isStrings, optional, show, strList, numMap } from "./messages.js";

/** The values of `keys` this worker holds. */
export type GetData = { op: "get-data"; keys: string[] };
/**
 * Store these values (key -> encoded parts). `runs` (replication): each value's number, as the
 * scheduler gave it in replicate-to; the receiver tells the scheduler of its new copies with them.
 */
export type PutData = { op: "put-data"; data: Record<string, Uint8Array[]>; runs?: Record<string, number> };

export type WorkerToWorker = GetData | PutData;

/**
 * The values found, as two lists (`values[i]` is the encoded value of `keys[i]`), and the keys
 * not held. Lists, not a map keyed by task names: such a map, new keys in every reply, is
 * msgpack's slow path (a reply of 2 small values packed and unpacked in ~2x the time of lists).
 */
export type GetDataReply = { keys: string[]; values: Uint8Array[][]; missing: string[] };

export interface PeerReplies {
  "get-data": GetDataReply;
  "put-data": { nbytes: Record<string, number> };
}

export const workerToWorkerParsers: Parsers<WorkerToWorker> = {
  "get-data": (m) => (strList(m, "keys"), m as unknown as GetData),
  "put-data": (m) => (dataMap(m, "data"), optional(m, "runs", numMap), m as unknown as PutData),
};

/** A get-data reply as the asker takes it (a worker fetching, a client gathering): its fields checked, a ProtocolError naming the bad one. */
export function checkGetDataReply(r: unknown): GetDataReply {
  const bad = (field: string, must: string, got: unknown) => new ProtocolError(`get-data reply: ${field} must be ${must}, got ${show(got)}`);
  const m = r as Partial<GetDataReply> | null;
  if (typeof m !== "object" || m === null) throw bad("the reply", "a map", m);
  if (!isStrings(m.keys)) throw bad("keys", "a list of strings", m.keys);
  if (!Array.isArray(m.values) || m.values.length !== m.keys.length) throw bad("values", `a list of ${m.keys.length} values`, m.values);
  for (let i = 0; i < m.values.length; i++) if (!isParts(m.values[i])) throw bad(`values[${i}]`, "a list of byte arrays", m.values[i]);
  if (!isStrings(m.missing)) throw bad("missing", "a list of strings", m.missing);
  return m as GetDataReply;
}

export const workerToWorkerShapes: Shapes<WorkerToWorker> = {
  "get-data": { keys: "strings" },
  "put-data": { data: "data", runs: "numbers?" },
};
