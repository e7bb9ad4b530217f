/**
 * Messages as the codec yields them (`Message`: an op and fields of unknown types), and the
 * checks that turn them into typed messages at the edge. A failed check throws a ProtocolError
 * naming the op, the field and what came, and closes only the connection it came on.
 *
 * P2 adds, one file per direction, the unions of typed messages with their `Parsers` tables
 * (messages-client.ts, messages-worker.ts, messages-peer.ts, messages-nanny.ts).
 */
import { ProtocolError } from "../errors.js";

/** A decoded message: what the codec yields, before its fields are checked. */
export type Message = { op: string; [field: string]: unknown };

/** Checks a raw message's fields and returns it typed; throws ProtocolError: `${op}: ${field} must be …, got …`. */
export type Parser<M extends { op: string }> = (raw: Message) => M;

/** One parser per op of a union of messages. */
export type Parsers<U extends { op: string }> = { [K in U["op"]]: Parser<Extract<U, { op: K }>> };

/** `raw` parsed by the parser of its op; an op the table does not know is a ProtocolError. */
export function parseWith<U extends { op: string }>(parsers: Parsers<U>, raw: Message): U {
  const parse = Object.hasOwn(parsers, raw.op) ? (parsers as Record<string, Parser<U>>)[raw.op] : undefined;
  if (!parse) throw new ProtocolError(`unknown op ${JSON.stringify(raw.op)}`);
  return parse(raw);
}

// ---- field checks (hot-path messages are checked; wrong types close the connection) ----

export function str(m: Message, field: string): string {
  const v = m[field];
  if (typeof v !== "string") throw new ProtocolError(`${m.op}: ${field} must be a string, got ${typeof v}`);
  return v;
}

export function num(m: Message, field: string): number {
  const v = m[field];
  if (typeof v !== "number") throw new ProtocolError(`${m.op}: ${field} must be a number, got ${typeof v}`);
  return v;
}

export function strList(m: Message, field: string): string[] {
  const v = m[field];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new ProtocolError(`${m.op}: ${field} must be a list of strings`);
  return v as string[];
}

/** An optional field: undefined when absent, else checked by `parse`. */
export function optional<T>(m: Message, field: string, parse: (m: Message, field: string) => T): T | undefined {
  return m[field] === undefined ? undefined : parse(m, field);
}

// ---- shared message parts ----

/** What a client submits for one task. Function and arguments are opaque to the scheduler. */
export interface TaskSpec {
  key: string;
  fn: unknown;
  /** encoded arguments: [head, ...raws] */
  args: Uint8Array[];
  /** keys of the futures inside the arguments */
  deps: string[];
  /** worker names or addresses the task may run on */
  workers?: string[];
  allowOtherWorkers?: boolean;
  /** higher runs first (default 0) */
  priority?: number;
  /** times to rerun after a task error (default 0) */
  retries?: number;
  /** abstract resources the task holds while it runs, e.g. { GPU: 1 } */
  resources?: Record<string, number>;
}

/** The scheduler's reply to `identity` (and its view for extensions); P2 gives it its fields. */
export type SchedulerIdentity = Record<string, unknown>;
