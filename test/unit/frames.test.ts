import assert from "node:assert/strict";
import { FrameDecoder, encodeFrame } from "../../src/protocol/frames.js";
import { decode, encode } from "../../src/protocol/msgpack.js";

const frame = (payload: Buffer) => Buffer.concat(encodeFrame(payload));

describe("frame codec", () => {
  it("round-trips frames fed in one chunk", () => {
    const d = new FrameDecoder(1024);
    const out = d.push(Buffer.concat([frame(Buffer.from("one")), frame(Buffer.from("two"))]));
    assert.deepEqual(out.map(String), ["one", "two"]);
    assert.equal(d.pendingBytes, 0);
  });

  it("reassembles frames fed one byte at a time", () => {
    const d = new FrameDecoder(1024);
    const bytes = Buffer.concat([frame(encode({ op: "x", n: 1 })), frame(Buffer.alloc(0)), frame(encode([1, 2, 3]))]);
    const out: Buffer[] = [];
    for (const b of bytes) out.push(...d.push(Buffer.from([b])));
    assert.equal(out.length, 3);
    assert.deepEqual(decode(out[0]!), { op: "x", n: 1 });
    assert.equal(out[1]!.length, 0);
    assert.deepEqual(decode(out[2]!), [1, 2, 3]);
  });

  it("holds a truncated frame until the rest arrives", () => {
    const d = new FrameDecoder(1024);
    const f = frame(Buffer.from("hello world"));
    assert.deepEqual(d.push(f.subarray(0, 7)), []);
    assert.equal(d.pendingBytes, 7);
    assert.deepEqual(d.push(f.subarray(7)).map(String), ["hello world"]);
  });

  it("rejects an oversized frame from its header alone, naming both sizes", () => {
    const d = new FrameDecoder(100);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(101);
    assert.throws(() => d.push(header), { code: "ERR_PROTOCOL", message: "frame of 101 bytes exceeds the limit of 100 bytes" });
  });

  it("accepts a frame of exactly the limit", () => {
    const d = new FrameDecoder(100);
    assert.equal(d.push(frame(Buffer.alloc(100, 7)))[0]!.length, 100);
  });

  it("msgpack keeps binary values as bytes and rejects garbage", () => {
    const v = decode(encode({ op: "a", data: Buffer.from([1, 2, 3]) })) as { data: Uint8Array };
    assert.ok(v.data instanceof Uint8Array);
    assert.deepEqual([...v.data], [1, 2, 3]);
    assert.throws(() => decode(Buffer.from([0x92, 0x01])), /Unexpected end/);
  });
});
