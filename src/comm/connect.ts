/**
 * Authenticated connections on any transport: connect() and listen() find the backend of the
 * address's scheme (comm/registry.ts) and run the secret handshake on both ends.
 */
import { describeError } from "../errors.js";
import { logger } from "../log.js";
import { schemeOf } from "./address.js";
import { acceptHandshake, offerHandshake } from "./handshake.js";
import { backend, backendFor } from "./registry.js";
import type { TlsContext } from "./tls.js";
import type { Comm, ListenOptions, Listener } from "./types.js";

export type { ListenOptions };

/** Connection settings (`distributed.comm.*`). */
export interface CommOptions {
  /** Give up connecting to a peer after this long. */
  connectTimeoutMs: number;
  /** A peer must finish the handshake within this long. */
  handshakeTimeoutMs: number;
  /** Largest frame accepted from a peer once it has authenticated. */
  maxFrameBytes: number;
  /** Certificates for tls:// (listening on it, and reaching tls:// peers). */
  tls?: TlsContext;
  /**
   * false: these connections and listeners keep no process alive (a role beside a client's
   * script on its rank: the script's end ends the process, as it would without the role)
   */
  holdsProcess?: boolean;
}

/** The defaults of `distributed.comm.*` (a unit test keeps them equal to the configuration's). */
export const DEFAULT_COMM: CommOptions = {
  connectTimeoutMs: 30_000,
  handshakeTimeoutMs: 5000,
  maxFrameBytes: 512 * 2 ** 20,
};

/** Connect to `address` and authenticate with `secret`, all within `timeoutMs` (tls:// needs `opts.tls`). */
export async function connect(address: string, secret: string, timeoutMs: number, opts: CommOptions = DEFAULT_COMM): Promise<Comm> {
  const deadline = Date.now() + timeoutMs;
  const comm = await (await backendFor(address)).connect(address, { timeoutMs, tls: opts.tls });
  if (opts.holdsProcess === false) comm.unref();
  const timeout = Math.max(1, Math.min(deadline - Date.now(), opts.handshakeTimeoutMs));
  await offerHandshake(comm, secret, { timeoutMs: timeout, maxFrameBytes: opts.maxFrameBytes });
  return comm;
}

/**
 * Listen; each connection must pass the handshake before `onComm` sees it. Failed or stalled
 * handshakes are closed and logged with their reason; serving goes on. `secret` may be a
 * function: a worker that joins a restarted scheduler takes on its new secret.
 */
export async function listen(o: ListenOptions, secret: string | (() => string), onComm: (comm: Comm) => void, opts: CommOptions = DEFAULT_COMM): Promise<Listener> {
  const scheme = o.protocol ?? (o.listenAddress !== undefined && schemeOf(o.listenAddress) === "inproc" ? "inproc" : opts.tls ? "tls" : "tcp");
  const limits = { timeoutMs: opts.handshakeTimeoutMs, maxFrameBytes: opts.maxFrameBytes };
  const weak = opts.holdsProcess === false;
  const listener = await (await backend(scheme)).listen(o, scheme === "tls" ? opts.tls : undefined, (comm) => {
    if (weak) comm.unref();
    acceptHandshake(comm, typeof secret === "string" ? secret : secret(), limits).then(
      () => onComm(comm),
      (err) => logger("comm").warn({ peer: comm.peer, reason: describeError(err) }, "refused unauthenticated connection"),
    );
  });
  if (weak) listener.unref();
  return listener;
}
