/** Small things the extensions share: who a peer is to them, and keeping received bytes. */
import type { PeerRef } from "../scheduler/extension.js";

/** The id a peer waits or holds under (tasks are clients; a worker's own requests are its address). */
export function peerId(peer: PeerRef): string {
  return peer.kind === "client" ? peer.id : `worker:${peer.address}`;
}

/** Copies of the parts: what arrives is a view of a frame's buffer, which is not ours to keep. */
export function own(parts: Uint8Array[]): Uint8Array[] {
  return parts.map((p) => Uint8Array.prototype.slice.call(p));
}
