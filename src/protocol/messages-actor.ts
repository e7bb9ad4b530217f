/**
 * Actor calls (issue 14, point 6): a client (or a task's client) asks the worker an actor lives
 * on, directly, to call one of its methods or read one of its attributes. The worker runs the
 * calls of one actor one at a time, in the order they arrive.
 */
import { type Parsers, type Shapes, fieldError, optional, parts, str } from "./messages.js";

/** `kind` "call": method `name` with the encoded `args`; "get": the value of attribute `name`. */
export type ActorCall = { op: "actor-call"; key: string; kind: "call" | "get"; name: string; args?: Uint8Array[] };

export type ToActor = ActorCall;

export interface ActorReplies {
  /** the encoded value: head, then raw parts */
  "actor-call": Uint8Array[];
}

export const toActorParsers: Parsers<ToActor> = {
  "actor-call": (m) => {
    str(m, "key");
    if (m.kind !== "call" && m.kind !== "get") throw fieldError(m, "kind", '"call" or "get"', m.kind);
    str(m, "name");
    optional(m, "args", parts);
    return m as unknown as ActorCall;
  },
};

export const toActorShapes: Shapes<ToActor> = {
  "actor-call": { key: "string", kind: "actor-kind", name: "string", args: "parts?" },
};
