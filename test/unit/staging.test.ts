// The client's reused memory for the copies of big scattered binaries (client/staging.ts).
// Protects: a copy holds the bytes as they were at the call, whatever the caller does to its
// array after; memory given back serves the next copy of about its size (the point: memory
// written before copies faster than fresh memory); only its own buffers are taken back, each
// once, up to its bound; small values are copied as before and never kept.
import assert from "node:assert/strict";
import { STAGE_MIN_BYTES, Staging } from "../../src/client/staging.js";

const MIB = 1 << 20;
const filled = (n: number, v: number) => new Uint8Array(n).fill(v);

describe("staging of scattered binaries", () => {
  it("copies: the copy keeps the bytes of the call, and a small value is a plain copy", () => {
    const s = new Staging(64 * MIB);
    const src = filled(3 * MIB + 5, 7);
    const c = s.copy(src);
    src.fill(9);
    assert.equal(c.byteLength, 3 * MIB + 5);
    assert.ok(c.every((b) => b === 7));
    const small = filled(100, 1);
    const cs = s.copy(small);
    assert.notEqual(cs.buffer, small.buffer);
    s.giveBack([cs]);
    assert.equal(s.kept, 0, "a small copy is not kept");
    s.clear();
  });

  it("memory given back serves the next copy of about its size, with the new bytes", () => {
    const s = new Staging(64 * MIB);
    const first = s.copy(filled(4 * MIB, 1));
    s.giveBack([first, first]); // the same copy sent to two workers: kept once
    assert.equal(s.kept, 4 * MIB);
    const second = s.copy(filled(4 * MIB - 10, 2));
    assert.equal(second.buffer, first.buffer, "the kept buffer is reused");
    assert.equal(second.byteLength, 4 * MIB - 10);
    assert.ok(second.every((b) => b === 2));
    assert.equal(s.kept, 0, "a buffer in use is not kept");
    const big = s.copy(filled(9 * MIB, 3)); // nothing free fits: new memory
    assert.notEqual(big.buffer, first.buffer);
    s.giveBack([second, big]);
    assert.equal(s.kept, 13 * MIB);
    const tiny = s.copy(filled(STAGE_MIN_BYTES, 4));
    assert.notEqual(tiny.buffer, big.buffer, "a buffer over twice the need is not used for it");
    assert.notEqual(tiny.buffer, second.buffer);
    s.clear();
    assert.equal(s.kept, 0);
  });

  it("keeps at most its bound, and takes back only its own buffers", () => {
    const s = new Staging(5 * MIB);
    const a = s.copy(filled(4 * MIB, 1));
    const b = s.copy(filled(4 * MIB, 1));
    s.giveBack([a, b, new Uint8Array(8 * MIB)]);
    assert.equal(s.kept, 4 * MIB, "one 4 MiB buffer fits a 5 MiB bound; the foreign one is ignored");
    s.clear();
  });
});
