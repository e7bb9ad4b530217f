/**
 * The reply of every request op, by op (what `Rpc.request` resolves with), and what the
 * scheduler's one listener receives: clients' and workers' messages (a peer says which it is by
 * registering).
 */
import type { Parsers } from "./messages.js";
import { type ClientReplies, type ClientToScheduler, clientToSchedulerParsers } from "./messages-client.js";
import { type LocalityReplies, type LocalityToScheduler, localityParsers } from "./messages-locality.js";
import type { PeerReplies } from "./messages-peer.js";
import type { ActorReplies } from "./messages-actor.js";
import { type WorkerReplies, type WorkerToScheduler, workerToSchedulerParsers } from "./messages-worker.js";

export interface Replies extends ClientReplies, WorkerReplies, PeerReplies, ActorReplies, LocalityReplies {}

/** Everything a scheduler is sent (retire-workers comes from clients and from workers alike). */
export type ToScheduler = ClientToScheduler | WorkerToScheduler | LocalityToScheduler;

export const toSchedulerParsers: Parsers<ToScheduler> = { ...clientToSchedulerParsers, ...workerToSchedulerParsers, ...localityParsers };
