/**
 * Coordination primitives (client <-> the scheduler's coordination extension,
 * src/extensions/coordination/): locks and semaphores (leases), queues, variables, events and
 * pub/sub. Extension ops are routed raw: the extension runs these parsers itself. Every wait
 * carries `timeout` (ms): the scheduler answers "not yet" once it has passed, and the client
 * asks again for a longer wait. `value` is an encoded user value ([head, ...raws]) and `keys`
 * the keys of the futures inside it.
 */
import { type Message, type Parsers, fieldError, num, optional, parts, str, strList, wireError } from "./messages.js";
import type { WireError } from "./ops.js";

/** Locks are leases of a semaphore of one, with their own names. */
export type LeaseKind = "lock" | "semaphore";
/** `id`: the Lock or Semaphore object (a client may hold several); `lease` (ms): released after that long. */
export type LeaseAcquire = { op: "lease-acquire"; kind: LeaseKind; name: string; id: string; maxLeases: number; timeout: number; lease?: number };
export type LeaseRelease = { op: "lease-release"; kind: LeaseKind; name: string; id: string };
export type LeaseInfo = { op: "lease-info"; kind: LeaseKind; name: string };
/** `maxsize` is the queue's when this put creates it (0: unbounded). */
export type QueuePut = { op: "queue-put"; name: string; maxsize: number; value: Uint8Array[]; keys: string[]; timeout: number };
/** `batch`: 0 one item (waits), -1 all there are now (no wait), n > 0 that many (waits for them). */
export type QueueGet = { op: "queue-get"; name: string; batch: number; timeout: number };
export type QueueSize = { op: "queue-size"; name: string };
export type VariableSet = { op: "variable-set"; name: string; value: Uint8Array[]; keys: string[] };
export type VariableGet = { op: "variable-get"; name: string; timeout: number };
export type VariableDelete = { op: "variable-delete"; name: string };
export type EventSet = { op: "event-set"; name: string };
export type EventClear = { op: "event-clear"; name: string };
export type EventIsSet = { op: "event-is-set"; name: string };
export type EventWait = { op: "event-wait"; name: string; timeout: number };
/** `sub`: the Sub object; the scheduler pushes pubsub-message to its client. */
export type PubsubSubscribe = { op: "pubsub-subscribe"; name: string; sub: string };
export type PubsubUnsubscribe = { op: "pubsub-unsubscribe"; name: string; sub: string };
/** One-way: what a Pub puts goes to every client subscribed to `name` now. */
export type PubsubPut = { op: "pubsub-put"; name: string; value: Uint8Array[] };

export type CoordinationToScheduler =
  | LeaseAcquire | LeaseRelease | LeaseInfo | QueuePut | QueueGet | QueueSize | VariableSet | VariableGet | VariableDelete
  | EventSet | EventClear | EventIsSet | EventWait | PubsubSubscribe | PubsubUnsubscribe | PubsubPut;

/**
 * Scheduler -> client: an item published to `name`, for the client's subscribers of it; or, in
 * its place, the error saying why this client could not have it (too big for its frames).
 */
export type PubsubMessage = { op: "pubsub-message"; name: string } & ({ value: Uint8Array[] } | { error: WireError });

/** An item as a queue or variable holds and returns it. */
export type SharedItem = { value: Uint8Array[]; keys: string[] };

export interface CoordinationReplies {
  /** false: not granted within the timeout */
  "lease-acquire": boolean;
  /** false: this object held no lease */
  "lease-release": boolean;
  "lease-info": { leases: number; maxLeases: number };
  /** false: the queue stayed full for the timeout */
  "queue-put": boolean;
  /** `items` null: none within the timeout */
  "queue-get": { items: SharedItem[] | null };
  "queue-size": number;
  "variable-set": "ok";
  "variable-get": { item: SharedItem | null };
  "variable-delete": "ok";
  "event-set": "ok";
  "event-clear": "ok";
  "event-is-set": boolean;
  /** false: not set within the timeout */
  "event-wait": boolean;
  "pubsub-subscribe": "ok";
  "pubsub-unsubscribe": "ok";
}

function kind(m: Message): LeaseKind {
  if (m.kind !== "lock" && m.kind !== "semaphore") throw fieldError(m, "kind", '"lock" or "semaphore"', m.kind);
  return m.kind;
}
const named = (m: Message) => str(m, "name");
const waits = (m: Message) => (str(m, "name"), num(m, "timeout"));
const item = (m: Message) => (parts(m, "value"), strList(m, "keys"));

export const coordinationParsers: Parsers<CoordinationToScheduler> = {
  "lease-acquire": (m) => (kind(m), waits(m), str(m, "id"), num(m, "maxLeases"), optional(m, "lease", num), m as unknown as LeaseAcquire),
  "lease-release": (m) => (kind(m), named(m), str(m, "id"), m as unknown as LeaseRelease),
  "lease-info": (m) => (kind(m), named(m), m as unknown as LeaseInfo),
  "queue-put": (m) => (waits(m), num(m, "maxsize"), item(m), m as unknown as QueuePut),
  "queue-get": (m) => (waits(m), num(m, "batch"), m as unknown as QueueGet),
  "queue-size": (m) => (named(m), m as unknown as QueueSize),
  "variable-set": (m) => (named(m), item(m), m as unknown as VariableSet),
  "variable-get": (m) => (waits(m), m as unknown as VariableGet),
  "variable-delete": (m) => (named(m), m as unknown as VariableDelete),
  "event-set": (m) => (named(m), m as unknown as EventSet),
  "event-clear": (m) => (named(m), m as unknown as EventClear),
  "event-is-set": (m) => (named(m), m as unknown as EventIsSet),
  "event-wait": (m) => (waits(m), m as unknown as EventWait),
  "pubsub-subscribe": (m) => (named(m), str(m, "sub"), m as unknown as PubsubSubscribe),
  "pubsub-unsubscribe": (m) => (named(m), str(m, "sub"), m as unknown as PubsubUnsubscribe),
  "pubsub-put": (m) => (named(m), parts(m, "value"), m as unknown as PubsubPut),
};

export const pubsubMessageParser = (m: Message): PubsubMessage => (str(m, "name"), m.error === undefined ? parts(m, "value") : wireError(m, "error"), m as unknown as PubsubMessage);
