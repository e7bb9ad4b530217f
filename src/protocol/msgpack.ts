/**
 * The one msgpack encoder of the project, configured once and imported everywhere.
 * Records (msgpackr's structure extension) are off: every message decodes on its own, so a
 * peer that connects late or restarts never depends on structures it did not see.
 */
import { createRequire } from "node:module";
import type { Packr as PackrType } from "msgpackr";

// msgpackr's optional native string extractor costs ~25 ms of start-up per process (and
// thread) for a gain only on very large string-heavy messages; our big values are binary.
// Its single-file CommonJS build also loads faster than the ESM tree.
process.env.MSGPACKR_NATIVE_ACCELERATION_DISABLED ??= "true";
const { Packr } = createRequire(import.meta.url)("msgpackr") as { Packr: typeof PackrType };

const packr = new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

/** Encode to a Buffer that the caller owns (msgpackr reuses its internal buffer). */
export function encode(value: unknown): Buffer {
  return packr.pack(value);
}

/** Decode one msgpack value; throws on malformed input. */
export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}
