/**
 * Messages between a nanny and its worker child over the IPC channel (Node's, keyed by `type`).
 * The worker's options travel as the nanny was given them: `O` is the worker's options type,
 * which the protocol layer does not import (nanny and child name it).
 */
import { ProtocolError } from "../errors.js";
import { show } from "./messages.js";

export type NannyToWorker<O extends object = object> =
  | { type: "start"; options: O; log: Record<string, string | number> }
  | { type: "close"; reason: string };

export type WorkerToNanny =
  | { type: "ready"; address: string }
  | { type: "start-failed"; reason: string }
  /** `restart`: it was asked to be started again (client.restartWorkers): the nanny starts a fresh one */
  | { type: "closing"; reason: string; clean: boolean; retired: boolean; restart: boolean };

/** Earlier names of the two unions. */
export type NannyMessage<O extends object = object> = NannyToWorker<O>;
export type ChildMessage = WorkerToNanny;

/** The fields of each message type (tests). */
export const nannyToWorkerShapes = { start: { options: "map", log: "map" }, close: { reason: "string" } } as const;
export const workerToNannyShapes = {
  ready: { address: "string" },
  "start-failed": { reason: "string" },
  closing: { reason: "string", clean: "boolean", retired: "boolean", restart: "boolean" },
} as const;

type Kind = "string" | "boolean" | "map";
const ok = (v: unknown, kind: Kind): boolean =>
  kind === "map" ? typeof v === "object" && v !== null && !Array.isArray(v) : typeof v === kind;

function parseTyped<T>(shapes: Record<string, Record<string, Kind>>, raw: unknown, from: string): T {
  const m = raw as Record<string, unknown> | null;
  if (typeof m !== "object" || m === null) throw new ProtocolError(`${from}: a message must be a map, got ${show(m)}`);
  const fields = typeof m.type === "string" && Object.hasOwn(shapes, m.type) ? shapes[m.type] : undefined;
  if (!fields) throw new ProtocolError(`${from}: unknown message type ${show(m.type)}`);
  for (const f in fields) if (!ok(m[f], fields[f]!)) throw new ProtocolError(`${m.type as string}: ${f} must be a ${fields[f]}, got ${show(m[f])}`);
  return m as T;
}

/** A message from the nanny, checked (the options are the worker's to check). */
export function parseNannyToWorker<O extends object = object>(raw: unknown): NannyToWorker<O> {
  return parseTyped(nannyToWorkerShapes, raw, "nanny");
}

/** A message from the worker child, checked. */
export function parseWorkerToNanny(raw: unknown): WorkerToNanny {
  return parseTyped(workerToNannyShapes, raw, "worker child");
}
