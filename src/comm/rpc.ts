/**
 * Requests and one-way messages over a Comm. A request carries `rid`; the handler's return
 * value (or thrown error) goes back as `{ op: "reply", rid, ok, value | error }`. Messages
 * without `rid` are one-way. An op with no handler is a protocol error: the comm is closed.
 *
 * Routes are either plain handlers by op (raw messages), or typed: `{ parsers, handlers, raw }`,
 * where each message is checked by its op's parser at this edge before its handler sees it (a
 * malformed request is answered with the parser's error; a malformed one-way message, like an
 * unknown op, closes this comm only) and `raw` takes ops that parse
 * themselves (an extension's).
 *
 * `holdLoop: "while-busy"` keeps the event loop alive only while a request is outstanding or
 * someone holds the endpoint (a client waiting for a result), so a program that is done exits.
 */
import { CommClosedError, FRAME_SHARE_BYTES, FrameTooLargeError, ProtocolError, TimeoutError, describeError } from "../errors.js";
import { logger } from "../log.js";
import { Op, toWireError, type WireError } from "../protocol/ops.js";
import { type Message, type Parser, type Parsers } from "../protocol/messages.js";
import type { Replies } from "../protocol/messages-replies.js";
import type { Comm } from "./types.js";

export type Handler = (msg: Message, rpc: Rpc) => unknown;

/** One handler per op of a union of incoming messages, each given its typed message. */
export type Handlers<In extends { op: string }> = { [K in In["op"]]: (msg: Extract<In, { op: K }>, rpc: Rpc) => unknown };

/** Typed routes: incoming messages parsed by op before their handler runs; `raw` ops are not parsed here. */
export interface Routes<In extends { op: string }> {
  parsers: Parsers<In>;
  handlers: Handlers<In>;
  raw?: Record<string, Handler>;
}

/** Typed routes for `Rpc` (infers `In` from the parsers, checks the handlers against it). */
export function routes<In extends { op: string }>(r: Routes<In>): Routes<In> {
  return r;
}

export interface RpcOptions {
  holdLoop?: "always" | "while-busy";
}

/** An error the remote handler threw, rebuilt on this side. */
export class RemoteError extends Error {
  readonly remote: WireError;
  constructor(remote: WireError) {
    // a reply the peer could not send in one frame: its sizes, as the cause (frameTooLarge finds it)
    const { bytes, limit } = remote;
    const big = remote.name === "FrameTooLargeError" && typeof bytes === "number" && typeof limit === "number";
    super(remote.message, big ? { cause: new FrameTooLargeError(bytes, limit, remote.message) } : undefined);
    this.name = remote.name;
    this.remote = remote;
  }
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

export interface RequestOptions {
  /** the request does not keep the process alive */
  background?: boolean;
  /** the size of its binary parts, when big (see Comm.send) */
  bytes?: number;
  /**
   * A successful reply that comes after the request timed out: what the peer handed over in it
   * (a queue's item, a variable's value) must still be taken or given back. Kept for the
   * connection's life, for at most LATE_AT_MOST timed-out requests (the oldest go first).
   */
  late?: (value: unknown) => void;
}

/** Timed-out requests whose late reply is still taken (`RequestOptions.late`). */
const LATE_AT_MOST = 1000;

/**
 * Values (key -> parts) in groups that each fit one message's share of a frame (`share`: the
 * peer's, `Comm.share`), for put-data requests; a value over it alone is in `tooBig`.
 */
export function byFrame(data: Record<string, Uint8Array[]>, share = FRAME_SHARE_BYTES): { groups: Array<{ data: Record<string, Uint8Array[]>; bytes: number }>; tooBig: string[] } {
  const groups: Array<{ data: Record<string, Uint8Array[]>; bytes: number }> = [];
  const tooBig: string[] = [];
  let group: { data: Record<string, Uint8Array[]>; bytes: number } | undefined;
  for (const [key, parts] of Object.entries(data)) {
    let n = 0;
    for (const p of parts) n += p.byteLength;
    if (n > share) {
      tooBig.push(key);
      continue;
    }
    if (!group || group.bytes + n > share) groups.push((group = { data: {}, bytes: 0 }));
    group.data[key] = parts;
    group.bytes += n;
  }
  return { groups, tooBig };
}

/**
 * Encoded parts (arguments, a scattered value, a result) fit one message to the peer of `to`
 * (its frame cap less room for the envelope: `Comm.share`), else a FrameTooLargeError naming
 * them, its size and the peer's cap: the peer would close the connection on the frame.
 * @example checkFits([head, ...raws], rpc.comm, "the arguments", "the scheduler", "split the data") // FrameTooLargeError: the arguments: 629145700 bytes encoded, over ...
 */
export function checkFits(parts: Uint8Array[], to: FrameLimits, what: string | (() => string), peer: string, hint: string): void {
  const err = overFrames(parts, to, what, peer, hint);
  if (err) throw err;
}

/** A peer's frame limits, as its Comm knows them after the handshake. */
export type FrameLimits = Pick<Comm, "share" | "peerMaxFrameBytes">;

/** checkFits' error, returned (undefined when the parts fit): for callers that answer a waiter with it. */
export function overFrames(parts: Uint8Array[], to: FrameLimits, what: string | (() => string), peer: string, hint: string): FrameTooLargeError | undefined {
  let bytes = 0;
  for (const p of parts) bytes += p.byteLength;
  if (bytes <= to.share) return undefined;
  return new FrameTooLargeError(bytes, to.peerMaxFrameBytes, `${typeof what === "function" ? what() : what}: ${bytes} bytes encoded, over the largest frame ${peer} takes (${to.peerMaxFrameBytes} bytes, its distributed.comm.max-frame-size, less ${to.peerMaxFrameBytes - to.share} for the message): ${hint}`);
}

/** Sizes of big reply values, told by their handlers (sizedReply). */
const replyBytes = new WeakMap<object, number>();

/**
 * Mark a handler's reply value as `bytes` of binary parts: replies of one turn share a frame,
 * and big ones must not pass its 4 GiB cap together. Returns `value`.
 */
export function sizedReply<T extends object>(value: T, bytes: number): T {
  replyBytes.set(value, bytes);
  return value;
}

export class Rpc {
  readonly comm: Comm;
  #handlers: Record<string, Handler>;
  #parsers: Record<string, Parser<{ op: string }>> | undefined;
  #pending = new Map<number, Pending>();
  /** rid -> what takes its reply, for timed-out requests that asked for it (insertion order: oldest first) */
  #late = new Map<number, (value: unknown) => void>();
  #nextRid = 1;
  #holds = 0;
  #whileBusy: boolean;

  constructor(comm: Comm, handlers: Record<string, Handler> | Routes<any>, options: RpcOptions = {}) {
    this.comm = comm;
    if (isRoutes(handlers)) {
      this.#parsers = handlers.parsers as Record<string, Parser<{ op: string }>>;
      this.#handlers = { ...(handlers.raw ?? {}), ...(handlers.handlers as Record<string, Handler>) };
    } else {
      this.#handlers = { ...handlers };
    }
    this.#whileBusy = options.holdLoop === "while-busy";
    if (this.#whileBusy) comm.unref();
    comm.onClose((err) => {
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(err);
      }
      this.#pending.clear();
      this.#late.clear();
    });
    comm.setHandler((m) => this.#onMessage(m));
  }

  get closed(): boolean {
    return this.comm.closed;
  }

  /**
   * Route one more op (raw, not parsed here) after construction: a client module (datasets,
   * coordination primitives) taking messages the scheduler pushes. An op has one handler.
   */
  handle(op: string, handler: Handler): void {
    if (Object.hasOwn(this.#handlers, op)) throw new Error(`op ${JSON.stringify(op)} already has a handler`);
    this.#handlers[op] = handler;
  }

  send(msg: Message, bytes?: number): void {
    this.comm.send(msg, bytes);
  }

  /** See Comm.sendKey. */
  sendKey(op: string, key: string): void {
    this.comm.sendKey(op, key);
  }

  /** See Comm.unsendKey. */
  unsendKey(op: string, key: string): void {
    this.comm.unsendKey(op, key);
  }

  /**
   * Send a request and wait for its reply, at most `timeoutMs`. A `background` request (a
   * heartbeat) does not keep the event loop alive while it waits.
   */
  request<K extends keyof Replies>(msg: { op: K } & Message, timeoutMs: number, options?: RequestOptions): Promise<Replies[K]>;
  request<T = unknown>(msg: Message, timeoutMs: number, options?: RequestOptions): Promise<T>;
  request<T = unknown>(msg: Message, timeoutMs: number, options: RequestOptions = {}): Promise<T> {
    if (this.comm.closed) return Promise.reject(new CommClosedError(`cannot send ${msg.op}: connection to ${this.comm.peer} is closed`));
    const rid = this.#nextRid++;
    const background = options.background === true;
    if (!background) this.hold();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        // timers run before I/O: after a turn that held the event loop past the deadline, a
        // reply already in the socket is read first (a lock's grant, a queue's item: the peer
        // acted on the request, and dropping its reply would lose what it handed over)
        setImmediate(() => {
          if (!this.#pending.delete(rid)) return;
          if (options.late) {
            if (this.#late.size >= LATE_AT_MOST) this.#late.delete(this.#late.keys().next().value!);
            this.#late.set(rid, options.late);
          }
          reject(new TimeoutError(`no reply to ${msg.op} from ${this.comm.peer} within ${timeoutMs} ms`));
        });
      }, timeoutMs);
      if (background) timer.unref();
      this.#pending.set(rid, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.comm.send({ ...msg, rid }, options.bytes);
    }).finally(() => background || this.release());
  }

  /** Keep the event loop alive (while-busy mode) until the matching release(). */
  hold(): void {
    if (this.#holds++ === 0 && this.#whileBusy) this.comm.ref();
  }

  release(): void {
    if (this.#holds > 0 && --this.#holds === 0 && this.#whileBusy) this.comm.unref();
  }

  close(reason: string): void {
    this.comm.close(reason);
  }

  #onMessage(m: Message): void {
    if (m.op === Op.reply) {
      const p = typeof m.rid === "number" ? this.#pending.get(m.rid) : undefined;
      if (!p) {
        // a reply that arrived after its timeout: dropped, unless the request asked for it
        const late = typeof m.rid === "number" ? this.#late.get(m.rid) : undefined;
        if (late) {
          this.#late.delete(m.rid as number);
          try {
            if (m.ok) late(m.value);
          } catch (err) {
            logger("rpc").warn({ peer: this.comm.peer, err: describeError(err) }, "a late reply could not be taken");
          }
        }
        return;
      }
      this.#pending.delete(m.rid as number);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.value);
      else p.reject(new RemoteError(m.error as WireError));
      return;
    }
    const handler = Object.hasOwn(this.#handlers, m.op) ? this.#handlers[m.op] : undefined;
    if (!handler) throw new ProtocolError(`unknown op ${JSON.stringify(m.op)} from ${this.comm.peer}`);
    // typed routes: the message is checked here, before anything acts on it. A malformed request
    // (from a peer that passed the handshake) is answered with the parser's error and the
    // connection stays, so one bad call does not cost a client all its work; a malformed one-way
    // message, which has no one to answer, closes the connection.
    const parse = this.#parsers && Object.hasOwn(this.#parsers, m.op) ? this.#parsers[m.op] : undefined;
    if (parse) {
      if (typeof m.rid !== "number") m = parse(m) as Message;
      else {
        try {
          m = parse(m) as Message;
        } catch (err) {
          logger("rpc").warn({ op: m.op, peer: this.comm.peer, err: describeError(err) }, "malformed request refused");
          return this.#reply({ op: Op.reply, rid: m.rid, ok: false, error: toWireError(err) });
        }
      }
    }
    const rid = m.rid;
    if (rid === undefined) {
      const r = handler(m, this);
      if (r instanceof Promise) r.catch((err) => this.#oneWayFailed(m.op, err));
      return;
    }
    if (typeof rid !== "number") throw new ProtocolError(`request ${m.op} has a non-numeric rid`);
    Promise.resolve()
      .then(() => handler(m, this))
      .then(
        (value) => this.#reply({ op: Op.reply, rid, ok: true, value }, typeof value === "object" && value !== null ? replyBytes.get(value) : undefined),
        (err) => this.#reply({ op: Op.reply, rid, ok: false, error: toWireError(err) }),
      );
  }

  #reply(msg: Message, bytes?: number): void {
    if (!this.comm.closed) this.comm.send(msg, bytes);
  }

  #oneWayFailed(op: string, err: unknown): void {
    logger("rpc").warn({ op, peer: this.comm.peer, err: describeError(err) }, "one-way message handler failed");
  }
}

function isRoutes(h: Record<string, Handler> | Routes<any>): h is Routes<any> {
  return typeof h.parsers === "object" && typeof h.handlers === "object";
}
