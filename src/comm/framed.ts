/**
 * The message side of every transport: a framed, msgpack-speaking Comm over a byte stream
 * (a Wire). Backends differ only in their Wire: a TCP or TLS socket (comm/tcp.ts), or an
 * in-memory pipe (comm/inproc.ts); batching, the frame cap, raw parts and close semantics are
 * this one class, so code cannot tell which backend it talks over.
 *
 * Outgoing messages sent in the same turn of the event loop are batched into one frame (an
 * array of messages), so a map over 1,000 items costs a handful of writes, not 1,000.
 * A malformed frame or message closes this connection only, with a logged reason.
 */
import { FrameDecoder, decodeMessage, encodeMessage } from "../protocol/frames.js";
import { type WireCodec, wireCodec } from "../protocol/msgpack.js";
import { CommClosedError, MAX_FRAME_LIMIT, ProtocolError, TimeoutError, describeError, frameShare } from "../errors.js";
import { logger } from "../log.js";
import type { Message } from "../protocol/messages.js";
import type { Comm, MessageHandler } from "./types.js";

/** Frames allowed before the peer has authenticated: enough for the handshake, no more. */
export const PRE_AUTH_MAX_FRAME = 4096;
/** A connection that just wrote waits this long before its next write (batching under load). */
const FLUSH_INTERVAL_MS = 1;
/** A write of this many messages or more marks the connection busy. */
const BUSY_BATCH = 16;

const log = () => logger("comm");

/** The byte stream under a Comm. Incoming bytes and its end are reported to the comm by the backend. */
export interface Wire {
  /** Write one frame's buffers, in order. */
  write(parts: Uint8Array[]): void;
  /** Bytes written and not yet taken by the other end, held in this process. */
  backlog(): number;
  /** Close after what was written has gone out. */
  end(): void;
  /** Close now. */
  destroy(): void;
  ref(): void;
  unref(): void;
}

export class FramedComm implements Comm {
  /** The other end, for logs ("host:port" over a socket). */
  readonly peer: string;
  #wire: Wire;
  #decoder: FrameDecoder;
  /** This connection's msgpack records, one codec each way (see wireCodec). */
  #out: WireCodec = wireCodec();
  #in: WireCodec = wireCodec();
  #outbox: Message[] = [];
  /** Bytes of binary parts queued, as senders told them (send's `bytes`). */
  #outboxBytes = 0;
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

  constructor(peer: string, wire: Wire, maxFrameBytes = PRE_AUTH_MAX_FRAME) {
    this.peer = peer;
    this.#wire = wire;
    this.#decoder = new FrameDecoder(maxFrameBytes);
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

  #peerMax = MAX_FRAME_LIMIT;

  get peerMaxFrameBytes(): number {
    return this.#peerMax;
  }

  setPeerMaxFrameBytes(n: number): void {
    this.#peerMax = n;
  }

  get share(): number {
    return frameShare(this.#peerMax);
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

  /**
   * Queue a message; it leaves with the others of this turn. Throws if the comm is closed.
   * `bytes`: the size of its binary parts, when the sender knows it is big: what is queued
   * then leaves first if the two would not fit one frame together.
   */
  send(msg: Message, bytes = 0): void {
    if (this.#closeError) throw this.#closeError;
    if (bytes > 0) {
      if (this.#outboxBytes + bytes > this.share && this.#outbox.length) this.#flush();
      this.#outboxBytes += bytes;
    }
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

  /** Write what is queued now (Comm.flush). */
  flush(): void {
    this.#flush();
  }

  get backlog(): number {
    return this.#wire.backlog();
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
    this.#outboxBytes = 0;
    let parts: Uint8Array[];
    try {
      parts = encodeMessage(batch, this.#out);
    } catch (err) {
      // the codec's records saw the message: the stream cannot go on without it
      this.abort(`could not encode outgoing message: ${describeError(err)}`);
      return;
    }
    this.#wire.write(parts);
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
    this.ended(reason);
    this.#wire.end();
  }

  /** Keep the event loop alive for this connection; nothing once it is closed (a closed socket's ref() waits for a 'connect' that never comes, a listener each call). */
  ref(): void {
    if (!this.#closeError) this.#wire.ref();
  }

  unref(): void {
    if (!this.#closeError) this.#wire.unref();
  }

  /** Close at once, discarding what is queued (protocol errors, failed handshakes). */
  abort(reason: string, cause?: unknown): void {
    this.ended(reason, cause);
    this.#wire.destroy();
  }

  /**
   * The backend's report of bytes read. `transient`: the chunk's memory is reused after this
   * call (a socket's static read buffer).
   */
  received(chunk: Buffer, transient: boolean): void {
    if (this.#closeError) return;
    this.#reads++;
    let payloads: Buffer[];
    try {
      payloads = this.#decoder.push(chunk, transient);
    } catch (err) {
      this.#protocolFailure(err);
      return;
    }
    this.#payloads(payloads);
  }

  /**
   * Where a backend may read the next bytes straight into (the rest of a big frame being
   * received), or undefined: then it reads into a buffer of its own and hands it to received().
   */
  get readTarget(): Buffer | undefined {
    return this.#closeError ? undefined : this.#decoder.rest;
  }

  /** The backend read `n` bytes into readTarget. */
  receivedInPlace(n: number): void {
    if (this.#closeError) return;
    this.#reads++;
    let payloads: Buffer[];
    try {
      payloads = this.#decoder.filled(n);
    } catch (err) {
      this.#protocolFailure(err);
      return;
    }
    this.#payloads(payloads);
  }

  #payloads(payloads: Buffer[]): void {
    for (const payload of payloads) {
      let value: unknown;
      try {
        value = decodeMessage(payload, this.#in);
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

  /** The connection ended (the backend's report, or our own close): once, with the reason. */
  ended(reason: string, cause?: unknown): void {
    if (this.#closeError) return;
    this.#closeError = new CommClosedError(`connection to ${this.peer} closed: ${reason}`, cause === undefined ? undefined : { cause });
    this.#outbox = [];
    this.#keyLists.clear();
    this.#waiter?.(undefined);
    const listeners = this.#closeListeners.splice(0);
    for (const l of listeners) l(this.#closeError);
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
    this.abort(reason, err);
  }
}

function isMessage(m: unknown): m is Message {
  return typeof m === "object" && m !== null && typeof (m as Message).op === "string";
}
