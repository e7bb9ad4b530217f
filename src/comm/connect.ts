/** Authenticated connections: TCP + the secret handshake, on both ends. */
import { describeError } from "../errors.js";
import { logger } from "../log.js";
import { acceptHandshake, offerHandshake } from "./handshake.js";
import { type Comm, type TcpListener, connectTcp, listenTcp } from "./tcp.js";
import type { TlsContext } from "./tls.js";

/** Connect to `address` and authenticate with `secret`, all within `timeoutMs` (tls:// needs `tls`). */
export async function connect(address: string, secret: string, timeoutMs: number, tls?: TlsContext): Promise<Comm> {
  const deadline = Date.now() + timeoutMs;
  const comm = await connectTcp(address, timeoutMs, tls);
  await offerHandshake(comm, secret, Math.max(1, Math.min(deadline - Date.now(), 10_000)));
  return comm;
}

/**
 * Listen on host:port; each connection must pass the handshake before `onComm` sees it.
 * Failed or stalled handshakes are closed and logged with their reason; serving goes on.
 */
export function serve(host: string, port: number, secret: string, onComm: (comm: Comm) => void, tls?: TlsContext): Promise<TcpListener> {
  return listenTcp(
    host,
    port,
    (comm) => {
      acceptHandshake(comm, secret).then(
        () => onComm(comm),
        (err) => logger("comm").warn({ peer: comm.peer, reason: describeError(err) }, "refused unauthenticated connection"),
      );
    },
    tls,
  );
}
