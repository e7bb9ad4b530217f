/**
 * The coordination primitives' scheduler extension: locks and semaphores (leases.ts), queues
 * (queues.ts), variables and events (variables.ts), pub/sub (pubsub.ts). Their state lives
 * here, on the scheduler, so it outlives any worker; each op is parsed here (extension ops
 * arrive raw) and answered by the primitive's table. When a client goes, its leases end, its
 * waits are answered and its subscriptions end.
 */
import type { PeerRef, SchedulerExtension, SchedulerView } from "../../scheduler/extension.js";
import type { Message } from "../../protocol/messages.js";
import { type CoordinationToScheduler, coordinationParsers } from "../../protocol/messages-coordination.js";
import { KeyHolds } from "../key-holds.js";
import { type Taker, peerId, taker } from "../common.js";
import { Leases } from "./leases.js";
import { PubSub } from "./pubsub.js";
import { Queues } from "./queues.js";
import { Events, Variables } from "./variables.js";

type Op = CoordinationToScheduler["op"];

/**
 * What a journaled scheduler keeps of the primitives (issue 16): variables, events and queues,
 * whose values a program means to keep. Not journaled: locks and semaphores (a lease belongs to
 * its holder's connection and lapses with it; a scheduler taking over starts with none held, so
 * holders acquire again), pub/sub (messages go to whoever subscribes at that moment; subscribers
 * subscribe again) and waits in progress (they fail with the lost connection).
 */
const JOURNALED: Partial<Record<Op, "variable" | "event" | "queue">> = {
  "variable-set": "variable", "variable-delete": "variable", "event-set": "event", "event-clear": "event", "queue-put": "queue", "queue-get": "queue",
};
type Handler<K extends Op> = (m: Extract<CoordinationToScheduler, { op: K }>, client: Taker) => unknown;

/** The primitives' tables, on one scheduler view (exported for the unit tests). */
export class Coordination {
  readonly holds: KeyHolds;
  readonly leases = new Leases();
  readonly queues: Queues;
  readonly variables: Variables;
  readonly events = new Events();
  readonly pubsub: PubSub;

  readonly #view: () => SchedulerView;

  constructor(view: () => SchedulerView) {
    this.#view = view;
    this.holds = new KeyHolds("coordination", view);
    this.queues = new Queues(this.holds);
    this.variables = new Variables(this.holds);
    this.pubsub = new PubSub((client, msg, bytes) => view().sendToClient(client, msg, bytes));
  }

  readonly handlers: { [K in Op]: Handler<K> } = {
    "lease-acquire": (m, c) => this.leases.acquire(m, c.id),
    "lease-release": (m, c) => this.leases.release(m.kind, m.name, c.id, m.id),
    "lease-info": (m) => this.leases.info(m.kind, m.name),
    "queue-put": (m, c) => this.queues.put(m, c.id),
    "queue-get": (m, c) => this.queues.get(m, c),
    "queue-size": (m) => this.queues.size(m.name),
    "variable-set": (m) => this.variables.set(m.name, m.value, m.keys),
    "variable-get": (m, c) => this.variables.get(m.name, m.timeout, c),
    "variable-delete": (m) => this.variables.delete(m.name),
    "event-set": (m) => this.events.set(m.name),
    "event-clear": (m) => this.events.clear(m.name),
    "event-is-set": (m) => this.events.isSet(m.name),
    "event-wait": (m, c) => this.events.wait(m.name, m.timeout, c.id),
    "pubsub-subscribe": (m, c) => this.pubsub.subscribe(m.name, c, m.sub),
    "pubsub-unsubscribe": (m, c) => this.pubsub.unsubscribe(m.name, c.id, m.sub),
    "pubsub-put": (m) => this.pubsub.put(m.name, m.value),
  };

  /** Parse and answer one op from `client`; with a journal, a change is answered once it is on disk. */
  handle(op: Op, m: Message, client: Taker): unknown {
    const parsed = coordinationParsers[op](m) as never;
    const r = (this.handlers[op] as Handler<Op>)(parsed, client);
    const journal = this.#view().journal;
    const what = JOURNALED[op];
    if (!journal || !what) return r;
    const name = (parsed as { name: string }).name;
    return Promise.resolve(r).then(async (v) => {
      const value = what === "variable" ? this.variables.peek(name) : what === "event" ? (this.events.isSet(name) || null) : this.queues.contents(name);
      journal.put("coordination", `${what}:${name}`, value ?? null);
      await journal.durable();
      return v;
    });
  }

  /** Variables, events and queues as the journal had them (take-over); see JOURNALED. */
  restore(): void {
    for (const [key, v] of this.#view().journal?.restored("coordination") ?? []) {
      const at = key.indexOf(":");
      const what = key.slice(0, at);
      const name = key.slice(at + 1);
      if (what === "variable") {
        const item = v as { value: Uint8Array[]; keys: string[] };
        if (!this.holds.add(item.keys).length) this.variables.set(name, item.value.map((p) => new Uint8Array(p)), item.keys);
        this.holds.release(item.keys); // set() holds them itself
      } else if (what === "event") this.events.set(name);
      else if (what === "queue") {
        const q = v as { maxsize: number; items: Array<{ value: Uint8Array[]; keys: string[] }> };
        this.queues.restore(name, q.maxsize, q.items);
      }
    }
  }

  clientRemoved(client: string): void {
    this.leases.clientRemoved(client);
    this.queues.clientRemoved(client);
    this.variables.clientRemoved(client);
    this.events.clientRemoved(client);
    this.pubsub.clientRemoved(client);
  }
}

/** The coordination extension (deploy/extensions.ts lists it). */
export function coordinationExtension(): SchedulerExtension {
  let view: SchedulerView | undefined;
  const c = new Coordination(() => view!);
  const ops: Record<string, (m: Message, peer: PeerRef) => unknown> = {};
  for (const op of Object.keys(coordinationParsers) as Op[]) ops[op] = (m, peer) => c.handle(op, m, taker(peer));
  const ext: SchedulerExtension = {
    name: "coordination",
    ops,
    start: async (v) => {
      view = v;
      c.restore();
    },
    onClientRemoved: (id) => c.clientRemoved(id),
    // a worker's own requests wait under its address (peerId)
    onWorkerRemoved: (address) => c.clientRemoved(peerId({ kind: "worker", address })),
  };
  return ext;
}
