/**
 * The cost of user values' structured clone (issue 12, point 3), measured in one process with
 * both codecs side by side: the value path of one task of the 50k-task map (client encodes its
 * argument list, the worker decodes it, the worker encodes the result, the client decodes it)
 * through today's user-value codec (`encodeWithRaws`: the walk that refuses what cannot travel,
 * msgpackr's structured clone, the encoder reset) against the protocol's plain msgpack encoder
 * that user values went through before. Runs alternate, so drift in machine load hits both.
 */
import { type WireCodec, decodeWithRaws, encodeWithRaws, packMessage, unpackMessage, Sent, wireCodec } from "../src/protocol/msgpack.js";
import { RAW_PART_BYTES } from "../src/protocol/frames.js";

const TASKS = 50_000;

function structuredPath(): void {
  for (let i = 0; i < TASKS; i++) {
    const a = encodeWithRaws([i], RAW_PART_BYTES, Sent.arguments);
    const [x] = decodeWithRaws(a.head, a.raws) as [number];
    const r = encodeWithRaws(x + 1, RAW_PART_BYTES, Sent.result);
    decodeWithRaws(r.head, r.raws);
  }
}

function plainPath(): void {
  for (let i = 0; i < TASKS; i++) {
    const a = packMessage([i], RAW_PART_BYTES);
    const [x] = unpackMessage(a.head, a.raws) as [number];
    const r = packMessage(x + 1, RAW_PART_BYTES);
    unpackMessage(r.head, r.raws);
  }
}

const usPerTask = (f: () => void): number => {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e3 / TASKS;
};

/** Microseconds of value encoding and decoding per task, both codecs, `runs` alternating runs each. */
export function codec(runs: number): { structured: number[]; plain: number[] } {
  structuredPath(); // warm both
  plainPath();
  const structured: number[] = [];
  const plain: number[] = [];
  for (let k = 0; k < runs; k++) {
    structured.push(usPerTask(structuredPath));
    plain.push(usPerTask(plainPath));
  }
  return { structured, plain };
}

// ---- the protocol's messages: plain maps against the connection's records ---------------------

/**
 * The protocol messages one task of the 50k map causes, in batches of 64 as the comms send them
 * under load: its task in the client's update-graph, compute-task to the worker, task-finished
 * back, key-in-memory to the client, the client's gather and release. Shapes follow the parse
 * tables (protocol/messages-*.ts); user values are already-encoded bytes in them.
 */
function taskMessages(i: number): unknown[][] {
  const key = `lambda-${i.toString(16)}-3f9a1c`;
  const args = [Buffer.from([0x91, i & 0x7f])];
  const batch = (f: (j: number) => unknown) => Array.from({ length: 64 }, (_, j) => f(j));
  return [
    [{ op: "update-graph", functions: [{ kind: "source", source: "(x) => x + 1" }], tasks: batch((j) => ({ key: `${key}-${j}`, fn: 0, args, deps: [] })) }],
    batch((j) => ({ op: "compute-task", key: `${key}-${j}`, fn: 1, args, whoHas: {}, priority: i + j, run: 1 })),
    batch((j) => ({ op: "task-finished", key: `${key}-${j}`, nbytes: 9, value: [Buffer.from([i & 0x7f])], thread: 0, startstops: [{ action: "compute", start: 1.7e9 + j, stop: 1.7e9 + j + 1e-5 }], run: 1 })),
    batch((j) => ({ op: "key-in-memory", key: `${key}-${j}`, nbytes: 9, value: [Buffer.from([i & 0x7f])] })),
    [{ op: "gather", keys: batch((j) => `${key}-${j}`) }, { op: "release-keys", keys: batch((j) => `${key}-${j}`) }],
  ];
}

const MESSAGE_ROUNDS = Math.ceil(50_000 / 64);

/** Built once, outside the clock. */
let messages: unknown[][][] | undefined;

function wirePath(codecs: (() => [WireCodec, WireCodec]) | undefined): void {
  messages ??= Array.from({ length: MESSAGE_ROUNDS }, (_, r) => taskMessages(r));
  // one connection per direction and kind of peer, as in a cluster
  const pairs = Array.from({ length: 5 }, () => codecs?.());
  for (let r = 0; r < MESSAGE_ROUNDS; r++) {
    messages[r]!.forEach((batch, k) => {
      const [out, inn] = pairs[k] ?? [];
      const e = packMessage(batch, RAW_PART_BYTES, out);
      unpackMessage(e.head, e.raws, inn);
    });
  }
}

/** Microseconds per task of packing and unpacking its protocol messages: plain maps, and records per connection. */
export function wireCodecs(runs: number): { plain: number[]; records: number[] } {
  // the sender's packr and the receiver's unpackr (each end of a comm has a wireCodec)
  const records = (): [WireCodec, WireCodec] => [wireCodec(), wireCodec()];
  const time = (f: () => void) => {
    const t0 = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - t0) / 1e3 / 50_000;
  };
  wirePath(undefined);
  wirePath(records);
  const out = { plain: [] as number[], records: [] as number[] };
  for (let k = 0; k < runs; k++) {
    out.plain.push(time(() => wirePath(undefined)));
    out.records.push(time(() => wirePath(records)));
  }
  return out;
}
