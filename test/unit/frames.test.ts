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

  it("assembles big frames as their bytes arrive, from reused read buffers, in shared memory when asked", () => {
    for (const shared of [false, true]) {
      const d = new FrameDecoder(8 * 1024 * 1024);
      d.sharedFrames = shared;
      const big = Buffer.alloc(3 * 1024 * 1024 + 5);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
      const small = [Buffer.from("before"), Buffer.from("after"), Buffer.alloc(70_000, 9)];
      const bytes = Buffer.concat([frame(small[0]!), frame(big), frame(small[1]!), frame(small[2]!)]);
      // one static buffer, overwritten between pushes, like a socket's onread buffer
      const reused = Buffer.alloc(65_536);
      const out: Buffer[] = [];
      let step = 1;
      for (let off = 0; off < bytes.length; off += step, step = (step * 3 + 1) % 65_536 || 1) {
        const n = Math.min(step, bytes.length - off);
        bytes.copy(reused, 0, off, off + n);
        out.push(...d.push(reused.subarray(0, n), true));
        reused.fill(0xee);
      }
      assert.equal(out.length, 4);
      assert.equal(String(out[0]), "before");
      assert.ok(out[1]!.equals(big), "the big frame is intact");
      assert.equal(out[1]!.buffer instanceof SharedArrayBuffer, shared);
      assert.equal(String(out[2]), "after");
      assert.ok(out[3]!.equals(small[2]!));
      assert.equal(d.pendingBytes, 0);
    }
  });

  // Protects: a socket that reads straight into the frame being assembled (comm/tcp.ts) must
  // get the frame whole, the frames around it as they were, and never a read past the frame
  it("reads into the rest of a big frame in place, interleaved with pushes from a reused buffer", () => {
    const d = new FrameDecoder(8 * 1024 * 1024);
    d.sharedFrames = true;
    const big = Buffer.alloc(2 * 1024 * 1024 + 3);
    for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;
    const bytes = Buffer.concat([frame(Buffer.from("before")), frame(big), frame(Buffer.from("after"))]);
    const reused = Buffer.alloc(65_536);
    const out: Buffer[] = [];
    let off = 0;
    let step = 5;
    let inPlace = 0;
    while (off < bytes.length) {
      const rest = d.rest;
      // a read lands in the frame when there is one, else in the reused buffer
      const into = rest ?? reused;
      const n = Math.min(step, into.length, bytes.length - off);
      bytes.copy(into, 0, off, off + n);
      if (rest) {
        out.push(...d.filled(n));
        inPlace += n;
      } else {
        out.push(...d.push(reused.subarray(0, n), true));
        reused.fill(0xee);
      }
      off += n;
      step = (step * 7 + 3) % 300_000 || 1;
    }
    assert.deepEqual([String(out[0]), String(out[2])], ["before", "after"]);
    assert.ok(out[1]!.equals(big), "the big frame is intact");
    assert.equal(out[1]!.buffer instanceof SharedArrayBuffer, true);
    assert.ok(inPlace > big.length / 2, `only ${inPlace} bytes went in place`);
    assert.equal(d.rest, undefined);
    assert.equal(d.pendingBytes, 0);
    // more bytes than the frame has left is a fault of the caller, named
    const e = new FrameDecoder(1024 * 1024);
    e.push(frame(Buffer.alloc(100_000)).subarray(0, 1000));
    assert.equal(e.rest?.length, 100_000 - 996);
    assert.throws(() => e.filled(100_000), /100000 bytes reported read into a frame with 99004 bytes left/);
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

describe("messages with raw parts", () => {
  // a message over 4 GiB threw Node's RangeError from writeUInt32BE, naming no size or cap
  it("a message over a frame's 4 GiB - 1 is a FrameTooLargeError with its size, before any length is written", async () => {
    const { encodeMessage, MAX_FRAME_LIMIT } = await import("../../src/protocol/frames.js");
    const { FrameTooLargeError } = await import("../../src/errors.js");
    // never touched: the pages are not committed
    const a = Buffer.allocUnsafeSlow(2.2e9);
    const b = Buffer.allocUnsafeSlow(2.2e9);
    assert.throws(() => encodeMessage({ op: "x", data: [a, b] }), (err: unknown) => {
      assert.ok(err instanceof FrameTooLargeError);
      assert.equal(err.limit, MAX_FRAME_LIMIT);
      assert.ok(err.overCap);
      assert.ok(err.bytes > 4.4e9 && err.bytes < 4.4e9 + 1000, String(err.bytes));
      assert.match(err.message, /^message of \d+ bytes is larger than a frame can carry \(4 GiB - 1 bytes\)$/);
      return true;
    });
  });

  it("large binaries travel as aligned raw parts and come back as views, not copies", async () => {
    const { encodeMessage, decodeMessage, RAW_PART_BYTES } = await import("../../src/protocol/frames.js");
    const big = new Float64Array(RAW_PART_BYTES); // 8 x the threshold
    big[12345] = 42.5;
    const msg = { op: "x", small: Buffer.from([1, 2, 3]), nested: { big, bytes: Buffer.alloc(RAW_PART_BYTES + 1, 7) } };
    const parts = encodeMessage(msg);
    assert.ok(parts.some((p) => p.buffer === big.buffer), "the array itself is one of the parts written (no copy)");
    const frame = Buffer.concat(parts);
    const payload = frame.subarray(4); // FrameDecoder strips the length header
    const out = decodeMessage(Buffer.from(payload)) as typeof msg;
    assert.ok(out.nested.big instanceof Float64Array);
    assert.equal(out.nested.big[12345], 42.5);
    assert.equal(out.nested.big.length, big.length);
    assert.ok(Buffer.isBuffer(out.small) && out.small.equals(Buffer.from([1, 2, 3])));
    assert.equal(out.nested.bytes.length, RAW_PART_BYTES + 1);
    assert.equal(out.nested.bytes[RAW_PART_BYTES], 7);
  });

  it("rejects a frame whose part table runs past its end", async () => {
    const { decodeMessage } = await import("../../src/protocol/frames.js");
    const bad = Buffer.alloc(12);
    bad.writeUInt32BE(100, 0); // head of 100 bytes in a 12-byte frame
    assert.throws(() => decodeMessage(bad), { code: "ERR_PROTOCOL" });
  });

  it("records per connection: each codec pair decodes its own stream in order, reads plain frames too, and shares nothing with another pair", async () => {
    const { decodeMessage, encodeMessage } = await import("../../src/protocol/frames.js");
    const { wireCodec } = await import("../../src/protocol/msgpack.js");
    const payloadOf = (parts: Uint8Array[]) => Buffer.concat(parts).subarray(4);
    const [aOut, aIn, bOut, bIn] = [wireCodec(), wireCodec(), wireCodec(), wireCodec()];
    const messages = [
      { op: "compute-task", key: "k-1", fn: 0, args: [Buffer.from([1, 2])], priority: 70 },
      [{ op: "task-finished", key: "k-1", nbytes: 8 }, { op: "task-finished", key: "k-2", nbytes: 100, value: [Buffer.alloc(3)] }],
      { op: "compute-task", key: "k-3", fn: 1, args: [], deps: [["k-1", 1, ["tcp://a:1"]]], priority: 64 },
    ];
    for (const m of messages) {
      // a second connection, started later, needs nothing the first one sent
      assert.deepEqual(JSON.parse(JSON.stringify(decodeMessage(payloadOf(encodeMessage(m, bOut)), bIn))), JSON.parse(JSON.stringify(m)));
      assert.deepEqual(JSON.parse(JSON.stringify(decodeMessage(payloadOf(encodeMessage(m, aOut)), aIn))), JSON.parse(JSON.stringify(m)));
    }
    // a shape already defined on a connection travels as a record id: shorter than a plain map
    const again = messages[2]!;
    assert.ok(payloadOf(encodeMessage(again, aOut)).length < payloadOf(encodeMessage(again)).length);
    // a plain frame (no records) is read by a connection's decoder, after its records too
    assert.deepEqual(decodeMessage(payloadOf(encodeMessage({ op: "x", n: 100, s: "y" })), aIn), { op: "x", n: 100, s: "y" });
  });
});
