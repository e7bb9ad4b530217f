/** Authenticated connections: TCP + the secret handshake, on both ends. */
import { ConfigError, describeError } from "../errors.js";
import { logger } from "../log.js";
import { formatAddress, parseAddress } from "./address.js";
import { acceptHandshake, offerHandshake } from "./handshake.js";
import { chooseHost } from "./interfaces.js";
import { connectTcp, listenTcp } from "./tcp.js";
import type { TlsContext } from "./tls.js";
import type { Comm, Listener, Scheme } from "./types.js";

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

/** The defaults of `distributed.comm.*` (a unit test keeps them equal to the configuration's). */
export const DEFAULT_COMM: CommOptions = {
  connectTimeoutMs: 30_000,
  handshakeTimeoutMs: 5000,
  maxFrameBytes: 512 * 2 ** 20,
};

/** Connect to `address` and authenticate with `secret`, all within `timeoutMs` (tls:// needs `opts.tls`). */
export async function connect(address: string, secret: string, timeoutMs: number, opts: CommOptions = DEFAULT_COMM): Promise<Comm> {
  const deadline = Date.now() + timeoutMs;
  const comm = await connectTcp(address, timeoutMs, opts.tls);
  const timeout = Math.max(1, Math.min(deadline - Date.now(), opts.handshakeTimeoutMs));
  await offerHandshake(comm, secret, { timeoutMs: timeout, maxFrameBytes: opts.maxFrameBytes });
  return comm;
}

/** Where to listen: the host chosen from an interface or a host (else all addresses), or an explicit address. */
export interface ListenOptions {
  /** Default: tls when `comm.tls` is given, else tcp. */
  protocol?: Scheme;
  /** Bind and advertise this interface's IPv4 address. */
  interface?: string;
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** The name of an inproc listener (P5). */
  name?: string;
  /** Bind exactly this `host:port` instead; a wildcard host advertises the chosen host. */
  listenAddress?: string;
}

/**
 * Listen; each connection must pass the handshake before `onComm` sees it. Failed or stalled
 * handshakes are closed and logged with their reason; serving goes on. `secret` may be a
 * function: a worker that joins a restarted scheduler takes on its new secret.
 */
export async function listen(o: ListenOptions, secret: string | (() => string), onComm: (comm: Comm) => void, opts: CommOptions = DEFAULT_COMM): Promise<Listener> {
  const scheme = o.protocol ?? (opts.tls ? "tls" : "tcp");
  if (scheme === "inproc") throw new ConfigError("inproc:// listeners are not available yet");
  if (scheme === "tls" && !opts.tls) throw new ConfigError("listening on tls:// needs certificates (comm.tls)");
  const { bind, advertise } = chooseHost(o);
  const at = o.listenAddress ? parseAddress(o.listenAddress) : { host: bind, port: o.port ?? 0 };
  const host = at.host === "0.0.0.0" || at.host === "::" ? advertise : at.host;
  const limits = { timeoutMs: opts.handshakeTimeoutMs, maxFrameBytes: opts.maxFrameBytes };
  const listener = await listenTcp(
    at.host,
    at.port,
    (comm) => {
      acceptHandshake(comm, typeof secret === "string" ? secret : secret(), limits).then(
        () => onComm(comm),
        (err) => logger("comm").warn({ peer: comm.peer, reason: describeError(err) }, "refused unauthenticated connection"),
      );
    },
    scheme === "tls" ? opts.tls : undefined,
  );
  return {
    address: formatAddress(host, listener.port, scheme),
    port: listener.port,
    hosts: { bind: at.host, advertise: host },
    close: () => listener.close(),
  };
}
