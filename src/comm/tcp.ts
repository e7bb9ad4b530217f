/**
 * A framed, msgpack-speaking connection over a TCP socket, plus listen/connect.
 *
 * Outgoing messages sent in the same turn of the event loop are batched into one frame (an
 * array of messages), so a map over 1,000 items costs a handful of writes, not 1,000.
 * A malformed frame or message closes this connection only, with a logged reason.
 */
import net from "node:net";
import { FrameDecoder, decodeMessage, encodeMessage } from "../protocol/frames.js";
import { CommClosedError, ConfigError, HandshakeError, ProtocolError, TimeoutError, describeError } from "../errors.js";
import { logger } from "../log.js";
import { formatAddress, parseAddress } from "./address.js";
import { type TlsContext, tlsOptions } from "./tls.js";
import type { Message } from "../protocol/messages.js";
import type { Comm, MessageHandler } from "./types.js";

/** Frames allowed before the peer has authenticated: enough for the handshake, no more. */
export const PRE_AUTH_MAX_FRAME = 4096;
/** A connection that just wrote waits this long before its next write (batching under load). */
const FLUSH_INTERVAL_MS = 1;
/** A write of this many messages or more marks the connection busy. */
const BUSY_BATCH = 16;

const log = () => logger("comm");

export class TcpComm implements Comm {
  readonly socket: net.Socket;
  /** "host:port" of the other end, for logs. */
  readonly peer: string;
  #decoder: FrameDecoder;
  #outbox: Message[] = [];
  /** Messages made by sendKey() in this batch (unsendKey may empty them: they are then dropped). */
  #keyLists = new Set<Message>();
  #flushScheduled = false;
  #lastFlush = -Infinity;
  #lastBatch = 0;
  #handler: MessageHandler | undefined;
  #inbox: Message[] = [];
  #waiter: ((m: Message | undefined) => void) | undefined;
  #closeError: CommClosedError | undefined;
  #closeListeners: Array<(err: CommClosedError) => void> = [];
  #reads = 0;

  /**
   * `reader`: the socket reads into a static buffer (`onread`), and hands each read to the
   * function this sets; otherwise the comm listens for 'data'.
   */
  constructor(socket: net.Socket, maxFrameBytes = PRE_AUTH_MAX_FRAME, reader?: { deliver?: (chunk: Buffer) => void }) {
    this.socket = socket;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#decoder = new FrameDecoder(maxFrameBytes);
    socket.setNoDelay(true);
    if (reader) reader.deliver = (chunk) => this.#onData(chunk, true);
    else socket.on("data", (chunk: Buffer) => this.#onData(chunk, false));
    socket.on("error", (err) => this.#closed(`socket error: ${err.message}`));
    socket.on("close", () => this.#closed("connection closed by peer"));
  }

  get closed(): boolean {
    return this.#closeError !== undefined;
  }

  /** How many reads brought data so far: a liveness signal of the peer that costs one increment. */
  get reads(): number {
    return this.#reads;
  }

  setMaxFrameBytes(n: number): void {
    this.#decoder.setMaxFrameBytes(n);
  }

  /** Big incoming frames go to shared memory (see FrameDecoder.sharedFrames). */
  useSharedFrames(): void {
    this.#decoder.sharedFrames = true;
  }

  /** Route messages to `handler` from now on (queued ones first). */
  setHandler(handler: MessageHandler): void {
    this.#handler = handler;
    const queued = this.#inbox.splice(0);
    for (const m of queued) this.#dispatch(m);
  }

  /** Next message, for the handshake before a handler is set. */
  recv(timeoutMs: number): Promise<Message> {
    const queued = this.#inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closeError) return Promise.reject(this.#closeError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new TimeoutError(`no message from ${this.peer} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiter = (m) => {
        clearTimeout(timer);
        this.#waiter = undefined;
        if (m) resolve(m);
        else reject(this.#closeError);
      };
    });
  }

  /** Queue a message; it leaves with the others of this turn. Throws if the comm is closed. */
  send(msg: Message): void {
    if (this.#closeError) throw this.#closeError;
    this.#outbox.push(msg);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // a quiet connection writes at the end of this turn (latency); a busy one (its last
      // write carried many messages) at most once per FLUSH_INTERVAL_MS, so thousands of
      // small messages share a few system calls
      const wait = this.#lastBatch >= BUSY_BATCH ? this.#lastFlush + FLUSH_INTERVAL_MS - performance.now() : 0;
      if (wait <= 0) setImmediate(() => this.#flush());
      else setTimeout(() => this.#flush(), wait);
    }
  }

  /**
   * Queue `key` for a `{ op, keys: [...] }` message: keys queued one after another in a turn
   * share one message (thousands of released futures make one release-keys, not thousands).
   * Order with other messages is kept: a key joins the last queued message only if that is a
   * list of the same op.
   */
  sendKey(op: string, key: string): void {
    const last = this.#outbox[this.#outbox.length - 1];
    if (last !== undefined && last.op === op && this.#keyLists.has(last)) (last.keys as string[]).push(key);
    else {
      const m: Message = { op, keys: [key] };
      this.send(m);
      this.#keyLists.add(m);
    }
  }

  /** Take back a key queued by sendKey that has not been written yet (if it is still there). */
  unsendKey(op: string, key: string): void {
    for (const m of this.#keyLists) {
      if (m.op !== op) continue;
      const j = (m.keys as string[]).lastIndexOf(key);
      if (j >= 0) {
        (m.keys as string[]).splice(j, 1);
        return;
      }
    }
  }

  /** Write queued messages now (used before closing). */
  #flush(): void {
    this.#flushScheduled = false;
    this.#lastFlush = performance.now();
    if (this.#keyLists.size) {
      const lists = this.#keyLists;
      this.#keyLists = new Set();
      for (const m of lists) {
        if ((m.keys as string[]).length === 0) this.#outbox.splice(this.#outbox.indexOf(m), 1);
      }
    }
    if (this.#closeError || this.#outbox.length === 0) return;
    this.#lastBatch = this.#outbox.length;
    const batch = this.#outbox.length === 1 ? this.#outbox[0] : this.#outbox;
    this.#outbox = [];
    let parts: Uint8Array[];
    try {
      parts = encodeMessage(batch);
    } catch (err) {
      this.abort(`could not encode outgoing message: ${describeError(err)}`);
      return;
    }
    this.socket.cork();
    for (const p of parts) this.socket.write(p);
    this.socket.uncork();
  }

  /** Called once with the reason when the connection ends, however it ends. */
  onClose(listener: (err: CommClosedError) => void): void {
    if (this.#closeError) listener(this.#closeError);
    else this.#closeListeners.push(listener);
  }

  /** Close gracefully: pending messages are written first. */
  close(reason: string): void {
    if (this.#closeError) return;
    this.#flush();
    this.#closed(reason);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  /** Close at once, discarding what is queued (protocol errors, failed handshakes). */
  abort(reason: string): void {
    this.#closed(reason);
    this.socket.destroy();
  }

  #onData(chunk: Buffer, transient: boolean): void {
    if (this.#closeError) return;
    this.#reads++;
    let payloads: Buffer[];
    try {
      payloads = this.#decoder.push(chunk, transient);
    } catch (err) {
      this.#protocolFailure(err);
      return;
    }
    for (const payload of payloads) {
      let value: unknown;
      try {
        value = decodeMessage(payload);
      } catch (err) {
        this.#protocolFailure(new ProtocolError(`malformed msgpack from ${this.peer}: ${describeError(err)}`));
        return;
      }
      const messages = Array.isArray(value) ? value : [value];
      for (const m of messages) {
        if (this.#closeError) return;
        if (!isMessage(m)) {
          this.#protocolFailure(new ProtocolError(`message from ${this.peer} is not a map with a string op`));
          return;
        }
        this.#deliver(m);
      }
    }
  }

  #deliver(m: Message): void {
    if (this.#handler) this.#dispatch(m);
    else if (this.#waiter) this.#waiter(m);
    else this.#inbox.push(m);
  }

  #dispatch(m: Message): void {
    try {
      this.#handler!(m, this);
    } catch (err) {
      this.#protocolFailure(err);
    }
  }

  #protocolFailure(err: unknown): void {
    const reason = describeError(err);
    log().warn({ peer: this.peer, reason }, "closing connection after a protocol error");
    this.abort(reason);
  }

  #closed(reason: string): void {
    if (this.#closeError) return;
    this.#closeError = new CommClosedError(`connection to ${this.peer} closed: ${reason}`);
    this.#outbox = [];
    this.#keyLists.clear();
    this.#waiter?.(undefined);
    const listeners = this.#closeListeners.splice(0);
    for (const l of listeners) l(this.#closeError);
  }
}

function isMessage(m: unknown): m is Message {
  return typeof m === "object" && m !== null && typeof (m as Message).op === "string";
}

/**
 * Where connections this process opens read into: one buffer for all of them (a read is
 * consumed before the next one starts), so receiving a big value allocates nothing per read,
 * which on these machines makes worker-to-worker transfers about half again faster.
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
    const reader: { deliver?: (chunk: Buffer) => void } = {};
    let socket: net.Socket;
    if (scheme === "tls") {
      socket = tls!.connect({ host, port, ...tlsOptions(tlsContext!) });
    } else {
      readBuffer ??= Buffer.allocUnsafe(64 * 1024);
      socket = net.connect({
        host,
        port,
        onread: {
          buffer: readBuffer,
          callback: (n, buf) => {
            reader.deliver?.((buf as Buffer).subarray(0, n));
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
