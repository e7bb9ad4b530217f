/**
 * The one msgpack encoder of the project, configured once and imported everywhere.
 * Records (msgpackr's structure extension) are off: every message decodes on its own, so a
 * peer that connects late or restarts never depends on structures it did not see.
 */
import { Packr } from "msgpackr";

const packr = new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

/** Encode to a Buffer that the caller owns (msgpackr reuses its internal buffer). */
export function encode(value: unknown): Buffer {
  return packr.pack(value);
}

/** Decode one msgpack value; throws on malformed input. */
export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}
