/**
 * Client -> scheduler messages about where data lives and how long it is kept (issue 14):
 * fire-and-forget, has-what, nbytes, replicate, rebalance (who-has is in messages-client.ts).
 * The typed union, one parser per op, the fields as data (`Shapes`) and the replies.
 */
import { type Message, type Parsers, type Shapes, fieldError, num, optional, strList } from "./messages.js";

/** Keep these keys' tasks running, and their results until they finish, without a client (one-way). */
export type FireAndForget = { op: "fire-and-forget"; keys: string[] };
/** Worker -> keys it holds; `workers` (names or addresses) narrows it. */
export type HasWhat = { op: "has-what"; workers?: string[] };
/** Key -> bytes, for `keys` (default: every key in memory). */
export type NbytesRequest = { op: "nbytes"; keys?: string[] };
/**
 * The name of replicate's or rebalance's error for a key that is not in memory because it is
 * being computed again (its holder was lost after the client saw it done): asking again once
 * its futures are done again may succeed, and the client does.
 */
export const NOT_IN_MEMORY = "NotInMemoryError";
/** Copy each key until it is on `n` workers (of `workers`, when given); copies above n are dropped. */
export type Replicate = { op: "replicate"; keys: string[]; n: number; workers?: string[] };
/** Move values (of `keys`, when given) so that stored bytes even out across `workers` (default: all). */
export type Rebalance = { op: "rebalance"; keys?: string[]; workers?: string[] };

export type LocalityToScheduler = FireAndForget | HasWhat | NbytesRequest | Replicate | Rebalance;

export interface LocalityReplies {
  "has-what": Record<string, string[]>;
  nbytes: Record<string, number>;
  /** copies made and copies dropped */
  replicate: { copied: number; dropped: number };
  /** values moved */
  rebalance: { moved: number; bytes: number };
}

export const localityParsers: Parsers<LocalityToScheduler> = {
  "fire-and-forget": (m) => (strList(m, "keys"), m as unknown as FireAndForget),
  "has-what": (m) => (optional(m, "workers", strList), m as unknown as HasWhat),
  nbytes: (m) => (optional(m, "keys", strList), m as unknown as NbytesRequest),
  replicate: (m) => {
    strList(m, "keys");
    positiveInt(m, "n");
    optional(m, "workers", strList);
    return m as unknown as Replicate;
  },
  rebalance: (m) => (optional(m, "keys", strList), optional(m, "workers", strList), m as unknown as Rebalance),
};

function positiveInt(m: Message, field: string): number {
  const v = num(m, field);
  if (!Number.isInteger(v) || v < 1) throw fieldError(m, field, "a positive integer", v);
  return v;
}

export const localityShapes: Shapes<LocalityToScheduler> = {
  "fire-and-forget": { keys: "strings" },
  "has-what": { workers: "strings?" },
  nbytes: { keys: "strings?" },
  replicate: { keys: "strings", n: "number", workers: "strings?" },
  rebalance: { keys: "strings?", workers: "strings?" },
};
