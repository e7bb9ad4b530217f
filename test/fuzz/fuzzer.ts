/**
 * A wire fuzzer: many short connections to the ports of a running cluster, each sending frames
 * that a broken or hostile peer might send, then hanging up. What the frames are:
 *   - random bytes, and valid frame headers announcing oversized or truncated payloads;
 *   - valid msgpack of random shape (scalars, lists, maps with and without an op) before the
 *     handshake, and mutated handshake messages;
 *   - after a real handshake (the fuzzer holds the secret, like a buggy but trusted peer):
 *     messages of every op with fields of random types, also after registering as a worker
 *     or client with random details, plus the random frames above;
 *   - messages built from the parsers' shapes (protocol/messages-*.ts): a well-formed message of
 *     an op with one to three fields malformed (the kind's known-bad value, a random value, a
 *     corrupted element inside a list or map, or the field left out).
 * Ops that legitimately stop or reshape the cluster (shutdown, restart, close-worker, run,
 * retire-workers...) are left out of the authenticated part: a peer with the secret may run
 * code anyway; the point is that bad bytes and bad shapes never take a process down.
 * Deterministic for a seed, so a failure can be replayed.
 */
import net from "node:net";
import { connect } from "../../src/comm/connect.js";
import type { TcpComm } from "../../src/comm/tcp.js";
import { parseAddress } from "../../src/comm/address.js";
import { encodeFrame } from "../../src/protocol/frames.js";
import { encode } from "../../src/protocol/msgpack.js";
import { Op } from "../../src/protocol/ops.js";
import { DIRECTIONS, SAMPLES, goodMessage, kindOf } from "./samples.js";

/** Ops whose legitimate effect is to stop, restart or reconfigure something, or start a process (Jupyter): not fuzzed. */
const DISRUPTIVE = new Set<string>([
  Op.shutdown, Op.restart, Op.closeWorker, Op.run, Op.runOnScheduler, Op.broadcast, Op.retireWorkers,
  Op.replicateTo, "unregister-worker", Op.startJupyter,
]);
const OPS = Object.values(Op).filter((op) => !DISRUPTIVE.has(op));
/** Every op's fields as its parser checks them (the disruptive ops left out). */
const SHAPED = DIRECTIONS.flatMap((d) => Object.entries(d.shapes).filter(([op]) => !DISRUPTIVE.has(op)).map(([op, shape]) => ({ op, shape })));
const FIELDS = [...new Set(["rid", "mac", "nonce", ...SHAPED.flatMap((s) => Object.keys(s.shape))])];

/** mulberry32: small, fast, seedable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FrameGenerator {
  readonly #r: () => number;
  /** messages built from the parsers' shapes so far */
  shapedCount = 0;
  constructor(seed: number) {
    this.#r = rng(seed);
  }

  int(n: number): number {
    return Math.floor(this.#r() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** A random value of random type, nested at most `depth` deep. */
  value(depth = 3): unknown {
    switch (this.int(depth > 0 ? 12 : 8)) {
      case 0: return null;
      case 1: return this.int(2) === 1;
      case 2: return this.pick([0, -1, 1, 2 ** 31, -(2 ** 53), 1.5, NaN, Infinity, this.int(1e9)]);
      case 3: return this.pick(["", "x", "tcp://127.0.0.1:1", "a".repeat(this.int(300)), "\u0000\uffff", "__proto__", "constructor"]);
      case 4: return Buffer.from(Array.from({ length: this.int(64) }, () => this.int(256)));
      case 5: return this.pick(OPS);
      case 6: return BigInt(this.int(1000));
      case 7: return new Date(this.int(2e12));
      case 8: return Array.from({ length: this.int(5) }, () => this.value(depth - 1));
      case 9: return Object.fromEntries(Array.from({ length: this.int(5) }, () => [this.pick(FIELDS), this.value(depth - 1)]));
      case 10: return new Map(Array.from({ length: this.int(3) }, () => [this.value(0), this.value(depth - 1)]));
      default: return Array.from({ length: this.int(40) }, () => this.pick(["k", "x", this.int(9)]));
    }
  }

  /** A message with a known (or unknown) op and random fields, or one malformed from its parser's shape. */
  message(): Record<string, unknown> {
    if (this.int(2) === 0) return this.shaped();
    const m: Record<string, unknown> = { op: this.int(10) === 0 ? this.value(1) : this.pick(OPS) };
    for (let i = this.int(5); i > 0; i--) m[this.pick(FIELDS)] = this.value();
    if (this.int(3) === 0) m.rid = this.int(4) === 0 ? this.value(0) : this.int(1000);
    return m;
  }

  /**
   * A message of a known op, well-formed (with or without its optional fields) but for one to
   * three fields: given the kind's known-bad value, a random value, a corrupted element, or left out.
   */
  shaped(): Record<string, unknown> {
    this.shapedCount++;
    const { op, shape } = this.pick(SHAPED);
    const m: Record<string, unknown> = goodMessage(op, shape, this.int(2) === 0);
    const fields = Object.keys(shape);
    if (!fields.length) {
      m[this.pick(FIELDS)] = this.value();
      return m;
    }
    for (let i = 1 + this.int(3); i > 0; i--) {
      const f = this.pick(fields);
      const sample = SAMPLES[kindOf(shape[f]!).kind];
      switch (this.int(4)) {
        case 0: m[f] = sample.bad(); break;
        case 1: delete m[f]; break;
        case 2: m[f] = this.value(); break;
        default: m[f] = this.corrupt(sample.good());
      }
    }
    return m;
  }

  /** `v` with one element (list) or entry (map) replaced by a random value. */
  corrupt(v: unknown): unknown {
    if (Array.isArray(v) && v.length) {
      const j = this.int(v.length);
      return v.map((x, i) => (i === j ? (this.int(2) ? this.corrupt(x) : this.value(1)) : x));
    }
    if (typeof v === "object" && v !== null && !(v instanceof Uint8Array)) {
      const keys = Object.keys(v);
      return { ...v, [keys.length && this.int(2) ? this.pick(keys) : this.pick(FIELDS)]: this.value(1) };
    }
    return this.value();
  }

  /** Register as a worker or client with random details (or nearly right ones). */
  registration(): Record<string, unknown> {
    if (this.int(2) === 0) return { op: Op.registerClient, id: this.int(3) === 0 ? this.value(0) : `fuzz-client-${this.int(1e9)}` };
    return {
      op: Op.registerWorker,
      address: this.int(3) === 0 ? this.value(0) : `tcp://127.0.0.1:${1 + this.int(65534)}`,
      name: this.int(3) === 0 ? this.value(0) : `fuzz-${this.int(1e9)}`,
      nthreads: this.int(3) === 0 ? this.value(0) : 1 + this.int(4),
      memoryLimit: this.value(0),
      resources: this.value(1),
    };
  }

  /** The bytes of one hostile frame (a header and maybe a payload). */
  frame(): Buffer {
    const payload = (): Buffer => {
      switch (this.int(6)) {
        case 0: return Buffer.from(Array.from({ length: this.int(300) }, () => this.int(256)));
        case 1: return encode(this.value());
        case 2: return encode(this.message());
        case 3: return encode([this.message(), this.message()]);
        case 4: {
          // a valid message with a few bytes flipped
          const b = Buffer.from(encode(this.message()));
          for (let i = this.int(4); i >= 0 && b.length; i--) b[this.int(b.length)] ^= 1 << this.int(8);
          return b;
        }
        default: {
          // a message-style part table that lies about its parts
          const t = Buffer.alloc(8 + 4 * this.int(4));
          for (let i = 0; i < t.length; i += 4) t.writeUInt32BE(this.pick([0, 1, 7, 0xffffffff, this.int(1e6)]), i);
          return Buffer.concat([t, encode(this.message())]);
        }
      }
    };
    switch (this.int(8)) {
      case 0: return Buffer.from(Array.from({ length: 1 + this.int(64) }, () => this.int(256)));
      case 1: {
        const h = Buffer.alloc(4);
        h.writeUInt32BE(this.pick([0xffffffff, 2 ** 30, 4097, 600 * 2 ** 20]));
        return h;
      }
      case 2: {
        const p = payload();
        return Buffer.concat(encodeFrame(p)).subarray(0, 4 + this.int(p.length + 1)); // truncated
      }
      default: return Buffer.concat(encodeFrame(payload()));
    }
  }
}

export interface FuzzTarget {
  address: string;
  secret: string;
}

export interface FuzzStats {
  frames: number;
  connections: number;
  authenticated: number;
  /** messages malformed from the parsers' shapes (inside frames, before or after the handshake) */
  shaped: number;
}

/**
 * Send `frames` hostile frames in total to the targets, `concurrency` connections at a time,
 * every connection bounded in time. Resolves with what was sent; never rejects for the
 * targets' reactions (being cut off is the expected answer).
 */
export async function fuzz(targets: FuzzTarget[], opts: { frames: number; seed: number; concurrency?: number }): Promise<FuzzStats> {
  const gen = new FrameGenerator(opts.seed);
  const stats: FuzzStats = { frames: 0, connections: 0, authenticated: 0, shaped: 0 };
  const one = async (): Promise<void> => {
    const target = gen.pick(targets);
    const n = 1 + gen.int(8);
    const frames = Array.from({ length: n }, () => gen.frame());
    stats.frames += n;
    stats.connections++;
    let socket: net.Socket;
    if (gen.int(3) === 0) {
      // a trusted peer gone wrong: real handshake, maybe a registration, then bad messages
      let comm;
      try {
        comm = await connect(target.address, target.secret, 5000);
      } catch {
        return;
      }
      stats.authenticated++;
      socket = (comm as TcpComm).socket; // the tcp backend: the fuzzer writes raw frames on it
      const msgs = [gen.registration(), ...Array.from({ length: gen.int(6) }, () => gen.message())];
      if (gen.int(2) === 0) msgs.shift();
      stats.frames += msgs.length;
      for (const m of msgs) {
        try {
          socket.write(Buffer.concat(encodeFrame(encode(m))));
        } catch {
          break;
        }
      }
    } else {
      const { host, port } = parseAddress(target.address);
      socket = net.connect({ host, port });
      socket.on("error", () => {});
      await new Promise<void>((resolve) => {
        socket.once("connect", () => resolve());
        socket.once("close", () => resolve());
        setTimeout(resolve, 2000).unref();
      });
    }
    for (const f of frames) if (!socket.destroyed) socket.write(f);
    // let the other side react, then hang up (sometimes politely, sometimes not)
    await new Promise((r) => setTimeout(r, gen.int(20)));
    if (gen.int(2) === 0) socket.end();
    socket.destroy();
  };
  const lane = async (): Promise<void> => {
    while (stats.frames < opts.frames) await one();
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 16 }, lane));
  stats.shaped = gen.shapedCount;
  return stats;
}
