/**
 * What the roles see of the transport: a Comm (one authenticated, framed, msgpack-speaking
 * connection), a Listener, and the Backend interface a scheme implements (comm/registry.ts:
 * tcp and tls in comm/tcp.ts, inproc in comm/inproc.ts). Roles name these types only.
 */
import type { CommClosedError } from "../errors.js";
import type { Message } from "../protocol/messages.js";
import type { TlsContext } from "./tls.js";

export type Scheme = "tcp" | "tls" | "inproc";

export type MessageHandler = (msg: Message, comm: Comm) => void;

export interface Comm {
  /** The other end, for logs: "host:port" over tcp/tls, the listener's address over inproc. */
  readonly peer: string;
  readonly closed: boolean;
  /** How many reads brought data so far: a liveness signal of the peer. */
  readonly reads: number;
  /**
   * Queue a message; it leaves with the others of this turn. Throws if the comm is closed.
   * `bytes`: the size of its binary parts, when known to be big: a batch then never passes the
   * peer's frame cap (what was queued before leaves first).
   */
  send(msg: Message, bytes?: number): void;
  /** Write what is queued now, not at the end of the turn (a sender in a long synchronous loop lets its peer start). */
  flush(): void;
  /** Bytes written and not yet taken by the peer, held in this process (a peer not keeping up). */
  readonly backlog: number;
  /** Queue `key` for a `{ op, keys: [...] }` message shared by the keys of this turn. */
  sendKey(op: string, key: string): void;
  /** Take back a key queued by sendKey in this turn. */
  unsendKey(op: string, key: string): void;
  /** Next message, for the handshake only, before a handler is set. */
  recv(timeoutMs: number): Promise<Message>;
  /** Route messages to `handler` from now on (queued ones first). */
  setHandler(handler: MessageHandler): void;
  setMaxFrameBytes(n: number): void;
  /** The largest frame the peer takes, as it said in the handshake (else the 32-bit limit). */
  readonly peerMaxFrameBytes: number;
  setPeerMaxFrameBytes(n: number): void;
  /** Bytes of values one message to the peer may carry: its frame cap less room for the envelope. */
  readonly share: number;
  /** Big incoming frames go to shared memory. */
  useSharedFrames(): void;
  onClose(listener: (err: CommClosedError) => void): void;
  /** Flush what is queued, then close. */
  close(reason: string): void;
  /** Close now, dropping what is queued. */
  abort(reason: string): void;
  /** Keep the event loop alive while this comm is open (the default), or not (Rpc's holdLoop "while-busy"). */
  ref(): void;
  unref(): void;
}

export interface Listener {
  /** Where peers reach it, e.g. `tcp://10.0.0.5:8786`. */
  readonly address: string;
  readonly port: number;
  /** The host bound (0.0.0.0: all) and the host in `address`: a service next to it (the dashboard) uses the same. */
  readonly hosts: { readonly bind: string; readonly advertise: string };
  close(): Promise<void>;
  /** Listening keeps no process alive from now on (its connections are the caller's to unref). */
  unref(): void;
}

/** Where to listen: the host chosen from an interface or a host (else all addresses), or an explicit address. */
export interface ListenOptions {
  /** Default: the scheme of `listenAddress`, else tls when `comm.tls` is given, else tcp. */
  protocol?: Scheme;
  /** Bind and advertise this interface's IPv4 address. */
  interface?: string;
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** The name of an inproc:// listener (default: a new unique one). */
  name?: string;
  /** Bind exactly this `host:port` (or `inproc://name`) instead; a wildcard host advertises the chosen host. */
  listenAddress?: string;
}

/** One transport scheme (comm/registry.ts maps schemes to backends). */
export interface Backend {
  /** A connection to `address`, not yet authenticated; `tls` is given for tls:// only. */
  connect(address: string, o: { timeoutMs: number; tls?: TlsContext }): Promise<Comm>;
  /** Accept connections (not yet authenticated) where `o` says; `tls` is given for tls:// only. */
  listen(o: ListenOptions, tls: TlsContext | undefined, onComm: (c: Comm) => void): Promise<Listener>;
}
