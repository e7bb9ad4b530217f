/**
 * Well-formed and malformed values of every field kind the message parsers check, and the
 * parser tables by direction: the unit test builds from these a good message of every op and one
 * bad message per field; the fuzzer builds malformed messages from the same tables.
 */
import type { FieldKind, FieldSpec, Message, Parser } from "../../src/protocol/messages.js";
import { clientToSchedulerParsers, clientToSchedulerShapes, schedulerToClientParsers, schedulerToClientShapes } from "../../src/protocol/messages-client.js";
import { localityParsers, localityShapes } from "../../src/protocol/messages-locality.js";
import { workerToWorkerParsers, workerToWorkerShapes } from "../../src/protocol/messages-peer.js";
import { toActorParsers, toActorShapes } from "../../src/protocol/messages-actor.js";
import {
  schedulerToWorkerParsers, schedulerToWorkerShapes, workerToSchedulerParsers, workerToSchedulerShapes,
} from "../../src/protocol/messages-worker.js";

export interface Direction {
  name: string;
  parsers: Record<string, Parser<{ op: string }>>;
  shapes: Record<string, Record<string, FieldSpec>>;
}

/** Every direction of the wire protocol (the nanny's IPC is tested on its own). */
export const DIRECTIONS: Direction[] = [
  { name: "client -> scheduler", parsers: clientToSchedulerParsers, shapes: clientToSchedulerShapes },
  { name: "scheduler -> client", parsers: schedulerToClientParsers, shapes: schedulerToClientShapes },
  { name: "worker -> scheduler", parsers: workerToSchedulerParsers, shapes: workerToSchedulerShapes },
  { name: "scheduler -> worker", parsers: schedulerToWorkerParsers, shapes: schedulerToWorkerShapes },
  { name: "worker/client -> worker", parsers: workerToWorkerParsers, shapes: workerToWorkerShapes },
  { name: "client -> actor's worker", parsers: toActorParsers, shapes: toActorShapes },
  { name: "client -> scheduler (locality)", parsers: localityParsers, shapes: localityShapes },
] as unknown as Direction[];

export interface Sample {
  good: () => unknown;
  /** a malformed value; the error names the field with `sub` appended and shows `got` */
  bad: () => unknown;
  sub: string;
  got: string;
}

const bytes = () => Buffer.from([1, 2, 3]);
const fn = () => ({ kind: "source", source: "(x) => x" });

export const SAMPLES: Record<FieldKind, Sample> = {
  string: { good: () => "k", bad: () => 7, sub: "", got: "7" },
  number: { good: () => 3, bad: () => "3", sub: "", got: '"3"' },
  boolean: { good: () => true, bad: () => "yes", sub: "", got: '"yes"' },
  strings: { good: () => ["a", "b"], bad: () => ["a", 1], sub: "", got: "a list of 2" },
  parts: { good: () => [bytes()], bad: () => ["not bytes"], sub: "", got: "a list of 1" },
  numbers: { good: () => ({ GPU: 1 }), bad: () => ({ GPU: "1" }), sub: ".GPU", got: '"1"' },
  deps: { good: () => [["dep", 1, ["tcp://127.0.0.1:1"]]], bad: () => [["dep", "1", []]], sub: "[0]", got: "a list of 3" },
  copies: { good: () => [["k", 1]], bad: () => [["k"]], sub: "[0]", got: "a list of 1" },
  "who-has": { good: () => ({ dep: ["tcp://127.0.0.1:1"] }), bad: () => ({ dep: "tcp://127.0.0.1:1" }), sub: ".dep", got: '"tcp://127.0.0.1:1"' },
  error: { good: () => ({ name: "Error", message: "m", stack: "" }), bad: () => ({ name: "Error" }), sub: "", got: "a map" },
  function: { good: fn, bad: () => ({ kind: "source" }), sub: "", got: "a map" },
  map: { good: () => ({ a: 1 }), bad: () => [1], sub: "", got: "a list of 1" },
  data: { good: () => ({ k: [bytes()] }), bad: () => ({ k: "v" }), sub: ".k", got: '"v"' },
  entries: { good: () => [{ key: "k", nbytes: 1 }], bad: () => [{ key: "k" }], sub: "[0]", got: "a map" },
  tasks: { good: () => [{ key: "t", fn: 0, args: [bytes()], deps: [] }], bad: () => [{ key: "t", fn: 1, args: [], deps: [] }], sub: "[0].fn", got: "1" },
  functions: { good: () => [fn()], bad: () => [{ kind: "lambda" }], sub: "[0]", got: "a map" },
  "worker-status": { good: () => "paused", bad: () => "asleep", sub: "", got: '"asleep"' },
  "actor-kind": { good: () => "call", bad: () => "invoke", sub: "", got: '"invoke"' },
  startstops: {
    good: () => [{ action: "transfer", start: 1, stop: 2, source: "tcp://127.0.0.1:1", keys: ["k"], nbytes: 3 }, { action: "compute", start: 2, stop: 3 }],
    bad: () => [{ action: "sleep", start: 1, stop: 2 }],
    sub: "[0]",
    got: "a map",
  },
};

export function kindOf(spec: FieldSpec): { kind: FieldKind; optional: boolean } {
  const optional = spec.endsWith("?");
  return { kind: (optional ? spec.slice(0, -1) : spec) as FieldKind, optional };
}

/** A well-formed message of `op` with every field (optional ones too, unless `required`). */
export function goodMessage(op: string, shape: Record<string, FieldSpec>, required = false): Message {
  const m: Message = { op };
  for (const [field, spec] of Object.entries(shape)) {
    const { kind, optional } = kindOf(spec);
    if (!(required && optional)) m[field] = SAMPLES[kind].good();
  }
  return m;
}
