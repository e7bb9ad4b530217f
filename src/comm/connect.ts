/** Authenticated connections: TCP + the secret handshake, on both ends. */
import { DEFAULT_CONFIG } from "../config/defaults.js";
import { describeError } from "../errors.js";
import { logger } from "../log.js";
import { acceptHandshake, offerHandshake } from "./handshake.js";
import { type Comm, type TcpListener, connectTcp, listenTcp } from "./tcp.js";
import type { TlsContext } from "./tls.js";

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
}

const { comm } = DEFAULT_CONFIG.distributed;
export const DEFAULT_COMM: CommOptions = {
  connectTimeoutMs: comm.timeouts.connect,
  handshakeTimeoutMs: comm["handshake-timeout"],
  maxFrameBytes: comm["max-frame-size"],
};

/** Connect to `address` and authenticate with `secret`, all within `timeoutMs` (tls:// needs `opts.tls`). */
export async function connect(address: string, secret: string, timeoutMs: number, opts: CommOptions = DEFAULT_COMM): Promise<Comm> {
  const deadline = Date.now() + timeoutMs;
  const comm = await connectTcp(address, timeoutMs, opts.tls);
  const timeout = Math.max(1, Math.min(deadline - Date.now(), opts.handshakeTimeoutMs));
  await offerHandshake(comm, secret, { timeoutMs: timeout, maxFrameBytes: opts.maxFrameBytes });
  return comm;
}

/**
 * Listen on host:port; each connection must pass the handshake before `onComm` sees it.
 * Failed or stalled handshakes are closed and logged with their reason; serving goes on.
 */
/** `secret` may be a function: a worker that joins a restarted scheduler takes on its new secret. */
export function serve(host: string, port: number, secret: string | (() => string), onComm: (comm: Comm) => void, opts: CommOptions = DEFAULT_COMM): Promise<TcpListener> {
  const limits = { timeoutMs: opts.handshakeTimeoutMs, maxFrameBytes: opts.maxFrameBytes };
  return listenTcp(
    host,
    port,
    (comm) => {
      acceptHandshake(comm, typeof secret === "string" ? secret : secret(), limits).then(
        () => onComm(comm),
        (err) => logger("comm").warn({ peer: comm.peer, reason: describeError(err) }, "refused unauthenticated connection"),
      );
    },
    opts.tls,
  );
}
