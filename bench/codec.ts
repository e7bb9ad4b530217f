/**
 * The cost of user values' structured clone (issue 12, point 3), measured in one process with
 * both codecs side by side: the value path of one task of the 50k-task map (client encodes its
 * argument list, the worker decodes it, the worker encodes the result, the client decodes it)
 * through today's user-value codec (`encodeWithRaws`: the walk that refuses what cannot travel,
 * msgpackr's structured clone, the encoder reset) against the protocol's plain msgpack encoder
 * that user values went through before. Runs alternate, so drift in machine load hits both.
 */
import { decodeWithRaws, encodeWithRaws, packMessage, unpackMessage, Sent } from "../src/protocol/msgpack.js";
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
