/**
 * fireAndForget (Dask's fire_and_forget): the scheduler keeps these tasks running, and their
 * results until they are done, even after every client let go of them or closed; once done,
 * they are released like any result nobody wants.
 */
import type { Message } from "../protocol/messages.js";
import { Op } from "../protocol/ops.js";
import type { Future } from "./future.js";

interface Sender {
  send(msg: Message): void;
}

/**
 * Let these futures' tasks run to completion whatever happens to the futures and the client.
 * @example fireAndForget(client.submit(writeReport, data)); await client.close();
 */
export function fireAndForget(futures: Future<unknown> | Iterable<Future<unknown>>): void {
  const list = isFuture(futures) ? [futures] : [...(futures as Iterable<unknown>)];
  const byClient = new Map<Sender, string[]>();
  for (const f of list) {
    if (!isFuture(f)) throw new TypeError(`fireAndForget takes futures, got ${JSON.stringify(f) ?? String(f)}`);
    const c = f.client as unknown as Sender;
    byClient.set(c, [...(byClient.get(c) ?? []), f.key]);
  }
  for (const [c, keys] of byClient) c.send({ op: Op.fireAndForget, keys });
}

function isFuture(v: unknown): v is Future<unknown> {
  const f = v as Future<unknown> | null;
  return typeof f === "object" && f !== null && typeof f.key === "string" && typeof (f.client as unknown as Partial<Sender>)?.send === "function";
}
