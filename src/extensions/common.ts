/** Small things the extensions share: who a peer is to them, keeping received bytes, values too big for a peer. */
import { overFrames, sizedReply } from "../comm/rpc.js";
import type { FrameTooLargeError } from "../errors.js";
import type { PeerRef, PeerWho } from "../scheduler/extension.js";

/** The id a peer waits or holds under (tasks are clients; a worker's own requests are its address). */
export function peerId(peer: PeerWho): string {
  return peer.kind === "client" ? peer.id : `worker:${peer.address}`;
}

/** Copies of the parts: what arrives is a view of a frame's buffer, which is not ours to keep. */
export function own(parts: Uint8Array[]): Uint8Array[] {
  return parts.map((p) => Uint8Array.prototype.slice.call(p));
}

/** A peer as the primitives keep it: the id it waits under, and its frame limits. */
export interface Taker {
  id: string;
  frames: PeerRef["frames"];
}

/** The peer of an op, as a Taker. */
export function taker(peer: PeerRef): Taker {
  return { id: peerId(peer), frames: peer.frames };
}

/**
 * The error for values too big for one message to `to` (its connection would close on the
 * frame), else undefined: the caller answers with it and keeps the values (a queue's item stays).
 */
export function tooBigFor(to: Taker, values: Array<{ value: Uint8Array[] }>, what: string, hint: string): FrameTooLargeError | undefined {
  const who = to.id.startsWith("worker:") ? `the worker ${to.id.slice("worker:".length)}` : `the client ${to.id}`;
  return overFrames(values.length === 1 ? values[0]!.value : values.flatMap((v) => v.value), to.frames, what, who, hint);
}

/** A reply carrying `values`, marked with their size (replies of one turn then share frames only as they fit). */
export function carrying<T extends object>(reply: T, values: Array<{ value: Uint8Array[] }> | null): T {
  let bytes = 0;
  for (const v of values ?? []) for (const p of v.value) bytes += p.byteLength;
  return sizedReply(reply, bytes);
}
