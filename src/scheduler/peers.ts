/**
 * The scheduler's connections: each accepted comm becomes an Rpc over the one set of routes,
 * and is known as a worker or a client once it registers. A connection that closes is taken
 * out of the tables before the scheduler hears of it.
 */
import { type CommOptions, connect } from "../comm/connect.js";
import { type Handler, type Routes, Rpc } from "../comm/rpc.js";
import type { Comm } from "../comm/types.js";
import { ProtocolError, describeError } from "../errors.js";
import type { ToScheduler } from "../protocol/messages-replies.js";
import type { Versions } from "../version.js";
import type { PeerRef } from "./extension.js";

/** How long the scheduler tries to connect back to a registering worker. */
const PROBE_TIMEOUT_MS = 5000;

export type Peer = { kind: "unknown" } | PeerRef;

const UNKNOWN: Peer = { kind: "unknown" };

/** The peer's frame limits, fixed once its handshake is done (a copy: PeerRef is plain data). */
const limits = (rpc: Rpc): PeerRef["frames"] => ({ share: rpc.comm.share, peerMaxFrameBytes: rpc.comm.peerMaxFrameBytes });

export class Peers {
  /** the connections of registered workers, by address, and of clients, by id */
  readonly workers = new Map<string, Rpc>();
  readonly clients = new Map<string, Rpc>();
  readonly workerVersions = new Map<string, Versions>();
  #peers = new Map<Rpc, Peer>();
  #routes: Record<string, Handler> | Routes<ToScheduler> = {};
  readonly #onClosed: (peer: Peer) => void;

  constructor(onClosed: (peer: Peer) => void) {
    this.#onClosed = onClosed;
  }

  /** The routes every connection uses (set once, before the first accept). */
  setRoutes(routes: Routes<ToScheduler>): void {
    this.#routes = routes;
  }

  accept(comm: Comm): void {
    const rpc = new Rpc(comm, this.#routes);
    this.#peers.set(rpc, UNKNOWN);
    comm.onClose(() => {
      const peer = this.#peers.get(rpc) ?? UNKNOWN;
      this.#peers.delete(rpc);
      if (peer.kind === "worker") {
        this.workers.delete(peer.address);
        this.workerVersions.delete(peer.address);
      } else if (peer.kind === "client") {
        this.clients.delete(peer.id);
      }
      this.#onClosed(peer);
    });
  }

  /** Every open connection, registered or not. */
  all(): IterableIterator<Rpc> {
    return this.#peers.keys();
  }

  addWorker(rpc: Rpc, address: string, versions: Versions): void {
    this.#peers.set(rpc, { kind: "worker", address, frames: limits(rpc) });
    this.workers.set(address, rpc);
    this.workerVersions.set(address, versions);
  }

  addClient(rpc: Rpc, id: string): void {
    this.#peers.set(rpc, { kind: "client", id, frames: limits(rpc) });
    this.clients.set(id, rpc);
  }

  /** Who sent a message on `rpc`, for extension ops: registered peers only. */
  ref(rpc: Rpc): PeerRef {
    const p = this.#peers.get(rpc);
    if (!p || p.kind === "unknown") throw new ProtocolError(`${rpc.comm.peer} sent an op before registering`);
    return p;
  }

  /** The worker `rpc` registered as; a worker op from anyone else is a protocol error. */
  worker(rpc: Rpc): string {
    const p = this.#peers.get(rpc);
    if (p?.kind !== "worker") throw new ProtocolError(`${rpc.comm.peer} sent a worker op before registering as a worker`);
    return p.address;
  }

  client(rpc: Rpc): string {
    const p = this.#peers.get(rpc);
    if (p?.kind !== "client") throw new ProtocolError(`${rpc.comm.peer} sent a client op before registering as a client`);
    return p.id;
  }
}

/**
 * A worker is only as good as the address it advertises: the scheduler connects back to it
 * once (handshake included) before accepting it, so a worker listening on a network the
 * others cannot reach (the wrong --interface) is refused with a reason instead of failing
 * every transfer later.
 */
export async function probeWorker(address: string, secret: string, comm: CommOptions): Promise<void> {
  try {
    const c = await connect(address, secret, PROBE_TIMEOUT_MS, comm);
    c.close("reachability checked");
  } catch (err) {
    throw new Error(
      `the scheduler cannot reach this worker at ${address} (${describeError(err)}): a worker must listen where the scheduler and the other workers can connect; check --interface, --host or --contact-address`,
    );
  }
}
