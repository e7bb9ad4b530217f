/** The reply of every request op, by op (what `Rpc.request` resolves with). */
import type { ClientReplies } from "./messages-client.js";
import type { PeerReplies } from "./messages-peer.js";
import type { WorkerReplies } from "./messages-worker.js";

export interface Replies extends ClientReplies, WorkerReplies, PeerReplies {}
