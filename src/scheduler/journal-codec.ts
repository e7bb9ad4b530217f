/**
 * The journal's bytes, with no I/O (journal-file.ts reads and writes them): a header, then
 * records. Unit tests feed this bytes.
 *
 *   header  8 bytes magic "DMTSJRNL", u32 format version, u32 reserved (0)      (16 bytes)
 *   record  u32 body length, u32 CRC-32 of the body, body (one msgpack value)    (8 + n bytes)
 *
 * Integers are little-endian. A record cut short at the end of the file (the process died while
 * writing it: its length, CRC or body incomplete, or a CRC that does not match on the very last
 * record) is a *torn* last record: reading stops there and reports its offset, so the file can be
 * truncated to it. The same damage before the last record is not a crash's trace but a damaged
 * file: `decodeJournal` throws naming the offset (the shell adds the file's name).
 */
import { decode, encode } from "../protocol/msgpack.js";

export const JOURNAL_MAGIC = "DMTSJRNL";
/** The format this build writes and reads. */
export const JOURNAL_VERSION = 1;
export const HEADER_BYTES = 16;
const RECORD_HEAD = 8;
/** A record's body is at most this (a corrupt length field is not believed past it). */
const MAX_RECORD = 1 << 30;

/** What was wrong with a journal's bytes (the shell turns it into a JournalError naming the file). */
export class JournalDecodeError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE, as zlib's). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function encodeHeader(version = JOURNAL_VERSION): Uint8Array {
  const b = new Uint8Array(HEADER_BYTES);
  for (let i = 0; i < 8; i++) b[i] = JOURNAL_MAGIC.charCodeAt(i);
  new DataView(b.buffer).setUint32(8, version, true);
  return b;
}

/** Check a header: throws naming what it found (another format, or a newer version). */
export function checkHeader(bytes: Uint8Array): void {
  if (bytes.length < HEADER_BYTES) throw new JournalDecodeError(`the file is ${bytes.length} bytes, shorter than a journal's ${HEADER_BYTES}-byte header`, 0);
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== JOURNAL_MAGIC) throw new JournalDecodeError(`not a dask-mpi-ts journal: it starts with ${JSON.stringify(magic)}, not ${JSON.stringify(JOURNAL_MAGIC)}`, 0);
  const version = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (version !== JOURNAL_VERSION) {
    throw new JournalDecodeError(
      `journal format version ${version} ${version > JOURNAL_VERSION ? "is newer than" : "differs from"} the version this dask-mpi-ts reads (${JOURNAL_VERSION})`,
      8,
    );
  }
}

/** One record's bytes (head and body). */
export function encodeRecord(value: unknown): Buffer {
  const body = encode(value);
  const out = Buffer.allocUnsafe(RECORD_HEAD + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  body.copy(out, RECORD_HEAD);
  return out;
}

export interface Decoded {
  records: unknown[];
  /** Where the good bytes end: the file's length, or the offset of a torn last record. */
  end: number;
  /** A torn last record was found (and ignored) at `end`. */
  torn: boolean;
}

/** A whole journal file's bytes -> its records; throws JournalDecodeError on damage. */
export function decodeJournal(bytes: Uint8Array): Decoded {
  checkHeader(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: unknown[] = [];
  let at = HEADER_BYTES;
  while (at < bytes.length) {
    if (bytes.length - at < RECORD_HEAD) return { records, end: at, torn: true };
    const len = view.getUint32(at, true);
    const crc = view.getUint32(at + 4, true);
    if (len > MAX_RECORD) {
      throw new JournalDecodeError(`record at offset ${at} claims ${len} bytes (more than ${MAX_RECORD}): the file is damaged`, at);
    }
    const stop = at + RECORD_HEAD + len;
    if (stop > bytes.length) return { records, end: at, torn: true };
    const body = bytes.subarray(at + RECORD_HEAD, stop);
    if (crc32(body) !== crc) {
      // a crash tears only what it was writing: the last record
      if (stop === bytes.length) return { records, end: at, torn: true };
      throw new JournalDecodeError(`record at offset ${at} fails its checksum and is not the last one: the file is damaged`, at);
    }
    try {
      records.push(decode(body));
    } catch (err) {
      throw new JournalDecodeError(`record at offset ${at} passes its checksum but is not msgpack (${(err as Error).message})`, at);
    }
    at = stop;
  }
  return { records, end: at, torn: false };
}
