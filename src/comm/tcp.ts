/**
 * The tcp:// and tls:// backends: a FramedComm over a socket (TcpComm), and connect/listen.
 * Which host to bind and advertise is chosen here (comm/interfaces.ts); node:tls loads only
 * where TLS is used.
 */
import net from "node:net";
import { CommClosedError, ConfigError, HandshakeError, TimeoutError } from "../errors.js";
import { logger } from "../log.js";
import { formatAddress, parseAddress } from "./address.js";
import { FramedComm, PRE_AUTH_MAX_FRAME } from "./framed.js";
import { chooseHost } from "./interfaces.js";
import { type TlsContext, tlsOptions } from "./tls.js";
import type { Backend, ListenOptions, Listener } from "./types.js";

export { PRE_AUTH_MAX_FRAME };

const log = () => logger("comm");

/** A Comm over a TCP (or TLS) socket. */
export class TcpComm extends FramedComm {
  /** The socket itself (the fuzzer writes raw bytes on it). */
  readonly socket: net.Socket;

  /**
   * `reader`: the socket reads itself (`onread`) into what the reader's `target` gives, and hands
   * each read to its `deliver`, which this sets; otherwise the comm listens for 'data'.
   */
  constructor(socket: net.Socket, maxFrameBytes = PRE_AUTH_MAX_FRAME, reader?: Reader) {
    super(`${socket.remoteAddress}:${socket.remotePort}`, socketWire(socket), maxFrameBytes);
    this.socket = socket;
    socket.setNoDelay(true);
    if (reader) {
      reader.target = () => this.readTarget;
      // a read into the frame's own memory is already where it belongs; one into the shared
      // buffer is copied out before the next read reuses it
      reader.deliver = (buf, n) => (buf === readBuffer ? this.received(buf.subarray(0, n), true) : this.receivedInPlace(n));
    } else socket.on("data", (chunk: Buffer) => this.received(chunk, false));
    socket.on("error", (err) => this.ended(`socket error: ${err.message}`));
    socket.on("close", () => this.ended("connection closed by peer"));
  }
}

function socketWire(socket: net.Socket) {
  return {
    write(parts: Uint8Array[]) {
      socket.cork();
      for (const p of parts) socket.write(p);
      socket.uncork();
    },
    backlog: () => socket.writableLength,
    end() {
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    },
    destroy: () => socket.destroy(),
    ref: () => socket.ref(),
    unref: () => socket.unref(),
  };
}

/** How a socket this process opened reads: into the comm's frame, or into `readBuffer`. */
interface Reader {
  /** Where the next read may land straight (the rest of a big frame), if anywhere. */
  target?: () => Buffer | undefined;
  deliver?: (buf: Buffer, n: number) => void;
}

/**
 * Where connections this process opens read into: one buffer for all of them (a read is
 * consumed before the next one starts), so receiving a big value allocates nothing per read,
 * which on these machines makes worker-to-worker transfers about half again faster. Once a big
 * frame's header is in, the rest of the frame is read straight into the frame (no copy).
 * (Accepted connections cannot read this way: net.Server has no such option.)
 */
let readBuffer: Buffer | undefined;

/**
 * Open a connection to `tcp://host:port` or `tls://host:port` within `timeoutMs`. A tls://
 * address needs `tls`; the peer's certificate must be signed by its CA.
 */
export async function connectTcp(address: string, timeoutMs: number, tlsContext?: TlsContext): Promise<TcpComm> {
  const { scheme, host, port } = parseAddress(address);
  if (scheme === "tls" && !tlsContext) {
    throw new ConfigError(`${address} is a TLS address: give --tls-cert, --tls-key and --tls-ca (or the tls option) to reach it`);
  }
  // node:tls loads only where TLS is used (it costs start-up time on every rank)
  const tls = scheme === "tls" ? await import("node:tls") : undefined;
  return new Promise((resolve, reject) => {
    const reader: Reader = {};
    let socket: net.Socket;
    if (scheme === "tls") {
      socket = tls!.connect({ host, port, ...tlsOptions(tlsContext!) });
    } else {
      readBuffer ??= Buffer.allocUnsafe(64 * 1024);
      socket = net.connect({
        host,
        port,
        onread: {
          // asked again after every read: the next one goes where this says
          buffer: () => reader.target?.() ?? readBuffer!,
          callback: (n, buf) => {
            reader.deliver?.(buf as Buffer, n);
            return true;
          },
        },
      });
    }
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TimeoutError(`could not connect to ${address} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(scheme === "tls" ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(scheme === "tls" ? new TcpComm(socket) : new TcpComm(socket, PRE_AUTH_MAX_FRAME, reader));
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // a certificate the other side will not accept, or one we do not: retrying cannot help
      if (scheme === "tls" && /CERT|SSL|TLS|SIGNATURE|ISSUER/.test(err.code ?? "")) {
        reject(new HandshakeError(`TLS with ${address} failed: ${err.message} (${err.code}); are --tls-cert/--tls-key signed by the cluster's CA, and --tls-ca that CA?`, { cause: err }));
      } else {
        reject(new CommClosedError(`could not connect to ${address}: ${err.message}`, { cause: err }));
      }
    });
  });
}

export interface TcpListener {
  /** The host that was bound, e.g. 0.0.0.0. */
  readonly boundHost: string;
  readonly port: number;
  close(): Promise<void>;
  unref(): void;
}

/**
 * Listen on host:port (port 0 = random); every accepted socket becomes a Comm. With `tls`,
 * peers must present a certificate its CA signed; those that do not are logged and dropped.
 */
export async function listenTcp(host: string, port: number, onComm: (comm: TcpComm) => void, tlsContext?: TlsContext): Promise<TcpListener> {
  const tls = tlsContext ? await import("node:tls") : undefined;
  return new Promise((resolve, reject) => {
    const sockets = new Set<net.Socket>();
    const accepted = (socket: net.Socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      onComm(new TcpComm(socket));
    };
    let server: net.Server;
    if (tls && tlsContext) {
      server = tls.createServer({ ...tlsOptions(tlsContext), requestCert: true, handshakeTimeout: 5000 }, accepted);
      server.on("tlsClientError", (err, socket) => {
        log().warn({ peer: `${socket.remoteAddress}:${socket.remotePort}`, reason: err.message }, "refused a TLS connection");
      });
    } else {
      server = net.createServer(accepted);
    }
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(new CommClosedError(`could not listen on ${formatAddress(host, port)}: ${err.message}`, { cause: err }));
    });
    server.listen({ host, port }, () => {
      const addr = server.address() as net.AddressInfo;
      resolve({
        boundHost: host,
        port: addr.port,
        unref: () => void server.unref(),
        // accepted connections are ended too, or server.close() would wait for them forever
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const socket of sockets) socket.destroy();
          }),
      });
    });
  });
}

/** tcp:// or tls:// (which needs certificates on both ends). */
function socketBackend(scheme: "tcp" | "tls"): Backend {
  return {
    connect: (address, o) => connectTcp(address, o.timeoutMs, o.tls),
    async listen(o: ListenOptions, tls: TlsContext | undefined, onComm): Promise<Listener> {
      if (scheme === "tls" && !tls) throw new ConfigError("listening on tls:// needs certificates (comm.tls)");
      const { bind, advertise } = chooseHost(o);
      const at = o.listenAddress ? parseAddress(o.listenAddress) : { host: bind, port: o.port ?? 0 };
      const host = at.host === "0.0.0.0" || at.host === "::" ? advertise : at.host;
      const listener = await listenTcp(at.host, at.port, onComm, scheme === "tls" ? tls : undefined);
      return {
        address: formatAddress(host, listener.port, scheme),
        port: listener.port,
        hosts: { bind: at.host, advertise: host },
        close: () => listener.close(),
        unref: listener.unref,
      };
    },
  };
}

export const tcpBackend = socketBackend("tcp");
export const tlsBackend = socketBackend("tls");
