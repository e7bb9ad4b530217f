/**
 * The client's connection to its scheduler: connect, route the scheduler's news into the key
 * table, register, heartbeat; and, after the scheduler is lost, reconnecting to the one the
 * scheduler file (or address) names then, within the reconnect window (a journaled scheduler
 * taking over, scheduler/take-over.ts).
 */
import { DEFAULT_COMM, connect } from "../comm/connect.js";
import { Rpc, routes } from "../comm/rpc.js";
import { Op } from "../protocol/ops.js";
import { schedulerToClientParsers } from "../protocol/messages-client.js";
import type { ConnectPlan } from "./connect-target.js";
import type { GraphOutbox } from "./graph-outbox.js";
import { keepInline } from "./fetch.js";
import { startHeartbeat } from "./heartbeat.js";
import { type KeyTable, settle } from "./key-table.js";

const REQUEST_TIMEOUT_MS = 30_000;

/** What the link reports to its client. */
export interface LinkHost {
  readonly id: string;
  readonly keys: KeyTable;
  /** the tasks on their way, and graphs a journaled scheduler has not acknowledged yet */
  readonly graphs: GraphOutbox;
  /** the scheduler said it is closing, and why */
  closing(reason: string): void;
  /** the connection ended, or the scheduler missed its heartbeat */
  gone(reason: string): void;
}

/** Connect to the scheduler at `address`, register as `host.id`; resolves with the connection and the scheduler's services. */
export async function openLink(address: string, secret: string, timeoutMs: number, plan: ConnectPlan, host: LinkHost): Promise<{ rpc: Rpc; services?: Record<string, string>; journal: boolean }> {
  const comm = await connect(address, secret, Math.min(timeoutMs, 10_000), { ...DEFAULT_COMM, tls: plan.tls, maxFrameBytes: plan.maxFrameBytes });
  const keys = host.keys;
  const rpc = new Rpc(
    comm,
    routes({ parsers: schedulerToClientParsers, handlers: {
      // news about a key: for its live incarnation, unless it concerns one this client ended (key-table.ts)
      [Op.keyInMemory]: (m) => {
        const ks = keys.news(m.key);
        if (ks && m.value) ks.value = keepInline(m.value);
        settle(ks, "finished", undefined, undefined, m.worker);
      },
      [Op.keyErred]: (m) => settle(keys.news(m.key), "error", m.error, m.because),
      [Op.keyLost]: (m) => settle(keys.news(m.key), "pending"),
      [Op.keyCancelled]: (m) => settle(keys.cancelledByScheduler(m.key), "cancelled", undefined, m.reason),
      [Op.ackKeys]: (m) => keys.acked(m.seq),
      [Op.schedulerClosing]: (m) => host.closing(m.reason),
      [Op.graphDurable]: (m) => host.graphs.durable(m.seq, m.endings),
    } }),
    { holdLoop: "while-busy" },
  );
  comm.onClose((err) => host.gone(err.message));
  let reply: { services?: Record<string, string>; journal?: boolean } | undefined;
  try {
    reply = await rpc.request<{ services?: Record<string, string>; journal?: boolean }>({ op: Op.registerClient, id: host.id }, REQUEST_TIMEOUT_MS);
  } catch (err) {
    rpc.close("registration failed");
    throw err;
  }
  const stopHeartbeat = startHeartbeat(plan.heartbeat, {
    reads: () => comm.reads,
    send: () => void rpc.request({ op: Op.heartbeatClient }, REQUEST_TIMEOUT_MS, { background: true }).catch(() => {}),
    missed: (reason) => {
      host.gone(reason);
      comm.abort(reason);
    },
  });
  comm.onClose(stopHeartbeat);
  host.graphs.journal = reply?.journal === true;
  return { rpc, services: reply?.services, journal: reply?.journal === true };
}

/**
 * Go on with the scheduler that took over (`rpc`, after relink, now the client's): it knows
 * this client's graphs, releases and cancels from its journal but for those the old one had not
 * written yet. Those go again, in the order they first went (a release before the graph that
 * submits the key again), then what was submitted, released or cancelled while reconnecting,
 * then the keys the client wants now, as all it wants (`only`: the scheduler releases the
 * rest). Their news comes back after the scheduler acknowledges that want-keys (in memory,
 * erred, or cancelled if unknown there); news read before is ignored (KeyTable `lost`,
 * `resumed`).
 */
export function resume(rpc: Rpc, host: LinkHost): void {
  for (const m of host.graphs.notDurable()) rpc.send(m);
  const seq = host.graphs.nextEnding();
  host.keys.resumed(seq);
  rpc.send({ op: Op.wantKeys, keys: [...host.keys.keys()], only: true, seq });
}

/**
 * Reconnect after the scheduler was lost: where the target says the scheduler is now (the
 * scheduler file is read again each attempt), until `deadline`. Every failure is retried: a
 * scheduler that is starting may reset the handshake (ECONNRESET) or not listen yet. Resolves
 * undefined when the window closed (or `stop()` says to give up). A scheduler there without a
 * journal knows none of this client's work: the link is closed and `fresh` returned instead, so
 * the client fails its pending work as lost rather than as cancelled.
 */
export async function relink(
  where: () => { address: string; secret: string },
  deadline: number,
  plan: ConnectPlan,
  host: LinkHost,
  stop: () => boolean,
  onError: (err: unknown) => void,
): Promise<{ rpc: Rpc; address: string; secret: string } | { fresh: string } | undefined> {
  while (Date.now() < deadline && !stop()) {
    try {
      const { address, secret } = where();
      const { rpc, journal } = await openLink(address, secret, Math.max(1, deadline - Date.now()), plan, host);
      if (!journal) {
        rpc.close("a scheduler without a journal");
        return { fresh: address };
      }
      return { rpc, address, secret };
    } catch (err) {
      onError(err);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return undefined;
}
