// The frame codec and the msgpack layer (src/protocol/frames.ts, src/protocol/msgpack.ts) fed
// bytes directly. Written to kill the mutants that survived `npm run mutate`: each test names
// the behaviour it protects.
import assert from "node:assert/strict";
import { FrameDecoder, SHARED_FRAME_BYTES, decodeMessage, encodeFrame, encodeMessage } from "../../src/protocol/frames.js";
import { type TcpComm as Comm, connectTcp, listenTcp } from "../../src/comm/tcp.js";
import { KeyReference, decode, decodeWithRaws, encode, encodeWithRaws } from "../../src/protocol/msgpack.js";

const frame = (payload: Buffer) => Buffer.concat(encodeFrame(payload));
const header = (n: number) => {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(n);
  return h;
};
/** A msgpack ext8 value of type `type` carrying `payload`. */
const ext = (type: number, payload: number[]) => Buffer.from([0xc7, payload.length, type, ...payload]);
const BINARY_EXT = 0x62;

describe("frame decoder limits and accounting", () => {
  // protects: the cap can be raised once a peer authenticated (and lowered again), and is
  // checked against the header of each frame
  it("setMaxFrameBytes moves the cap both ways", () => {
    const d = new FrameDecoder(10);
    assert.throws(() => d.push(header(11)), { code: "ERR_PROTOCOL", message: "frame of 11 bytes exceeds the limit of 10 bytes" });
    const e = new FrameDecoder(10);
    e.setMaxFrameBytes(50);
    assert.equal(e.push(frame(Buffer.alloc(50, 1)))[0]!.length, 50);
    e.setMaxFrameBytes(5);
    assert.throws(() => e.push(header(6)), { message: "frame of 6 bytes exceeds the limit of 5 bytes" });
  });

  // protects: pendingBytes (what a slow or stalled peer holds in memory) counts the header and
  // every byte of a partial frame, small or being assembled
  it("pendingBytes counts the header and the partial payload", () => {
    const d = new FrameDecoder(1 << 20);
    d.push(Buffer.concat([header(10), Buffer.alloc(5)]));
    assert.equal(d.pendingBytes, 9);
    d.push(Buffer.alloc(5));
    assert.equal(d.pendingBytes, 0);
    d.push(header(100_000).subarray(0, 3));
    assert.equal(d.pendingBytes, 3);
    d.push(Buffer.concat([header(100_000).subarray(3), Buffer.alloc(70_000)]));
    assert.equal(d.pendingBytes, 70_004);
    d.push(Buffer.alloc(10_000));
    assert.equal(d.pendingBytes, 80_004);
    const out = d.push(Buffer.alloc(20_000 + 3));
    assert.equal(out.length, 1);
    assert.equal(out[0]!.length, 100_000);
    assert.equal(d.pendingBytes, 3, "part of the next frame's header is pending");
  });

  // protects: frames go to shared memory only when asked, and only from SHARED_FRAME_BYTES up
  it("shared memory only when asked, from SHARED_FRAME_BYTES on", () => {
    const sizes = [SHARED_FRAME_BYTES - 1, SHARED_FRAME_BYTES];
    for (const shared of [false, true]) {
      for (const n of sizes) {
        const d = new FrameDecoder(4 * SHARED_FRAME_BYTES);
        if (shared) d.sharedFrames = true;
        const f = frame(Buffer.alloc(n, 3));
        const out = [...d.push(f.subarray(0, 1000)), ...d.push(f.subarray(1000))];
        assert.equal(out[0]!.length, n);
        assert.equal(out[0]![n - 1], 3);
        assert.equal(out[0]!.buffer instanceof SharedArrayBuffer, shared && n >= SHARED_FRAME_BYTES, `shared=${shared} n=${n}`);
      }
    }
  });
});

describe("message layout", () => {
  // protects: raw parts start at the first 8-aligned offset after the head, so that a
  // Float64Array arrives as a view of the frame (no copy), and the frame is no longer than that
  it("raw parts are 8-aligned with minimal padding and decode as views of the frame", () => {
    for (const name of ["a", "ab", "abc", "abcdefg"]) {
      const big = new Float64Array(10_000).map((_, i) => i + 0.5);
      const parts = encodeMessage({ op: name, big, bytes: Buffer.alloc(70_000, 1) });
      const wire = Buffer.concat(parts);
      assert.equal(wire.readUInt32BE(0), wire.length - 4, "frame header holds the payload length");
      const payload = Buffer.from(wire.subarray(4)); // own buffer, offset 0
      const headLength = payload.readUInt32BE(0);
      assert.equal(payload.readUInt32BE(4), 2, "two raw parts");
      const first = Math.ceil((8 + 8 + headLength) / 8) * 8;
      const second = Math.ceil((first + big.byteLength) / 8) * 8;
      assert.equal(payload.length, second + 70_000, "no more padding than alignment needs");
      const out = decodeMessage(payload) as { big: Float64Array; bytes: Buffer };
      assert.equal(out.big.buffer, payload.buffer, "a view, not a copy");
      assert.equal(out.big.byteOffset, first);
      assert.deepEqual([out.big[0], out.big[9_999]], [0.5, 9_999.5]);
      assert.equal(out.bytes.byteOffset, second);
    }
  });

  // protects: a short or truncated payload is a ProtocolError naming the problem, never a
  // RangeError from deep inside or a value made of bytes past the frame
  it("short and truncated payloads are refused with a ProtocolError", () => {
    assert.throws(() => decodeMessage(Buffer.alloc(7)), { code: "ERR_PROTOCOL", message: "frame of 7 bytes is too short for a message" });
    const head = Buffer.alloc(12);
    head.writeUInt32BE(100, 0);
    assert.throws(() => decodeMessage(head), { code: "ERR_PROTOCOL", message: "message head runs past the end of its frame" });
    const payload = Buffer.from(Buffer.concat(encodeMessage({ op: "x", bytes: Buffer.alloc(70_000, 1) })).subarray(4));
    assert.throws(() => decodeMessage(payload.subarray(0, payload.length - 1)), { code: "ERR_PROTOCOL", message: "raw part runs past the end of its frame" });
    assert.equal((decodeMessage(payload) as { bytes: Buffer }).bytes.length, 70_000);
  });
});

describe("msgpack binary values", () => {
  const kinds = [
    Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]),
    new Uint8Array([1, 255]),
    new Int8Array([-1, 127]),
    new Uint8ClampedArray([0, 255]),
    new Int16Array([-2, 300]),
    new Uint16Array([65535, 2]),
    new Int32Array([-5, 1 << 30]),
    new Uint32Array([2 ** 32 - 1]),
    new Float32Array([1.5, -2.25]),
    new Float64Array([Math.PI, -0]),
    new BigInt64Array([-(2n ** 63n), 5n]),
    new BigUint64Array([2n ** 64n - 1n]),
  ];

  // protects: each binary kind keeps its type and contents, inline and as a raw part
  it("every typed array kind round-trips inline and as raws", () => {
    for (const v of kinds) {
      for (const threshold of [Infinity, 1]) {
        const { head, raws } = encodeWithRaws({ v }, threshold);
        assert.equal(raws.length, threshold === 1 ? 1 : 0);
        const out = (decodeWithRaws(head, raws) as { v: typeof v }).v;
        assert.equal(out.constructor, v.constructor, `${v.constructor.name} threshold ${threshold}`);
        assert.deepEqual([...(out as Iterable<unknown>)], [...(v as Iterable<unknown>)]);
      }
    }
    const ab = new Uint8Array([9, 8, 7]).buffer;
    const back = decode(encode(ab)) as ArrayBuffer;
    assert.ok(back instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(back)], [9, 8, 7]);
    const dv = decode(encode(new DataView(new Uint8Array([4, 5, 6, 7]).buffer, 1, 2))) as DataView;
    assert.ok(dv instanceof DataView);
    assert.deepEqual([dv.getUint8(0), dv.getUint8(1), dv.byteLength], [5, 6, 2]);
  });

  // protects: an ArrayBuffer from a raw part is exactly its bytes (a view of a bigger buffer is
  // cut to size, a whole buffer is kept)
  it("ArrayBuffers from raws have exactly their bytes", () => {
    const ab = new Uint8Array([1, 2, 3, 4]).buffer;
    const { head, raws } = encodeWithRaws(ab, 1);
    const whole = decodeWithRaws(head, raws) as ArrayBuffer;
    assert.equal(whole, ab, "a raw covering its whole buffer is that buffer");
    const inBigger = decodeWithRaws(head, [Buffer.from([0, 1, 2, 3, 4, 0]).subarray(1, 5)]) as ArrayBuffer;
    assert.deepEqual([inBigger.byteLength, ...new Uint8Array(inBigger)], [4, 1, 2, 3, 4]);
    for (const [offset, what] of [[0, "the start"], [4, "the end"]] as const) {
      const raw = Buffer.from(new ArrayBuffer(8), offset, 4);
      raw.set([1, 2, 3, 4]);
      const out = decodeWithRaws(head, [raw]) as ArrayBuffer;
      assert.deepEqual([out.byteLength, ...new Uint8Array(out)], [4, 1, 2, 3, 4], `raw at ${what} of a bigger buffer`);
    }
    const shared = Buffer.from(new SharedArrayBuffer(4));
    shared.set([5, 6, 7, 8]);
    const fromShared = decodeWithRaws(head, [shared]);
    assert.ok(fromShared instanceof ArrayBuffer, "an ArrayBuffer, not the frame's SharedArrayBuffer");
    assert.deepEqual([...new Uint8Array(fromShared)], [5, 6, 7, 8]);
  });

  // protects: raws are used in place when aligned, copied (not misread) when not, and inline
  // typed arrays do not alias the bytes they were decoded from (those are reused)
  it("aligned raws are views, unaligned ones are copied, inline arrays are copies", () => {
    const f = new Float64Array([1.25, 2.5]);
    const { head, raws } = encodeWithRaws(f, 1);
    const aligned = Buffer.from(new ArrayBuffer(24), 8, 16);
    aligned.set(raws[0]!);
    const view = decodeWithRaws(head, [aligned]) as Float64Array;
    assert.equal(view.buffer, aligned.buffer);
    const unaligned = Buffer.from(new ArrayBuffer(24), 3, 16);
    unaligned.set(raws[0]!);
    const copy = decodeWithRaws(head, [unaligned]) as Float64Array;
    assert.notEqual(copy.buffer, unaligned.buffer);
    assert.deepEqual([...copy], [1.25, 2.5]);
    const bytes = encode({ f, u: new Uint8Array([7, 8]), b: Buffer.from([9]) });
    const inline = decode(bytes) as { f: Float64Array; u: Uint8Array; b: Buffer };
    assert.equal(inline.b.buffer, bytes.buffer, "an inline Buffer stays a view of the message");
    bytes.fill(0);
    assert.deepEqual([...inline.f, ...inline.u], [1.25, 2.5, 7, 8]);
  });

  // protects: the raw threshold is inclusive, and applies only inside encodeWithRaws
  it("binaries of the threshold or more go out of line; plain encode keeps them inline", () => {
    assert.equal(encodeWithRaws(Buffer.alloc(10), 10).raws.length, 1);
    assert.equal(encodeWithRaws(Buffer.alloc(9), 10).raws.length, 0);
    const big = Buffer.alloc(100, 7);
    const bytes = encode(big);
    assert.ok(bytes.length > 100, "inline");
    assert.ok((decode(bytes) as Buffer).equals(big));
  });

  // protects: encode returns bytes the caller owns (msgpackr reuses its buffer)
  it("encode's result is not overwritten by the next encode", () => {
    const a = encode({ x: 1 });
    encode({ y: "a longer string that would overwrite" });
    assert.deepEqual(decode(a), { x: 1 });
  });

  // protects: malformed binary extensions are ProtocolErrors naming what is wrong
  it("unknown kinds, truncated values and dangling references are refused", () => {
    assert.throws(() => decode(ext(BINARY_EXT, [99, 0, 1])), { code: "ERR_PROTOCOL", message: "unknown binary kind 99" });
    assert.throws(() => decode(ext(BINARY_EXT, [1])), { code: "ERR_PROTOCOL", message: "truncated binary value" });
    assert.throws(() => decodeWithRaws(ext(BINARY_EXT, [0, 1, 5, 0, 0, 0]), []), { code: "ERR_PROTOCOL", message: "binary reference 5 has no raw part" });
    assert.deepEqual([...(decodeWithRaws(ext(BINARY_EXT, [1, 1, 1, 0, 0, 0]), [Buffer.from([0]), Buffer.from([42])]) as Uint8Array)], [42]);
    assert.throws(() => decode(ext(BINARY_EXT, [0, 1, 0, 0, 0, 0])), { code: "ERR_PROTOCOL", message: "binary reference 0 has no raw part" }, "plain decode has no raws");
    for (const empty of [new Uint8Array(0), Buffer.alloc(0), new Float64Array(0)]) {
      const back = decode(encode(empty)) as Uint8Array;
      assert.deepEqual([back.constructor, back.length], [empty.constructor, 0], "empty binaries round-trip");
    }
  });
});

describe("values over a real connection", () => {
  // protects (regression): an ArrayBuffer big enough to travel as a raw part arrives with
  // exactly its bytes; it used to come back as the whole frame's buffer (message head and
  // padding included: 100032 bytes for 100000 sent)
  it("a 100 kB ArrayBuffer crosses loopback TCP with exactly its bytes", async () => {
    let accepted: (c: Comm) => void;
    const server = new Promise<Comm>((r) => (accepted = r));
    const listener = await listenTcp("127.0.0.1", 0, (c) => accepted(c));
    const client = await connectTcp(`tcp://127.0.0.1:${listener.port}`, 5000);
    const peer = await server;
    try {
      peer.setMaxFrameBytes(1 << 20);
      const sent = new Uint8Array(100_000).map((_, i) => i % 251);
      client.send({ op: "data", ab: sent.buffer, small: sent.slice(0, 10).buffer });
      const got = await peer.recv(5000);
      const ab = got.ab as ArrayBuffer;
      assert.ok(ab instanceof ArrayBuffer);
      assert.equal(ab.byteLength, 100_000);
      assert.ok(Buffer.from(ab).equals(Buffer.from(sent)), "same bytes");
      assert.deepEqual([...new Uint8Array(got.small as ArrayBuffer)], [...sent.slice(0, 10)]);
    } finally {
      client.abort("test over");
      peer.abort("test over");
      await listener.close();
    }
  });
});

describe("msgpack key references", () => {
  // protects: the keys of futures inside arguments are collected once each while packing, and
  // resolved to values while unpacking; a reference where none can resolve names its key
  it("collects referenced keys and resolves them", () => {
    const value = { a: new KeyReference("k1"), b: [new KeyReference("k2"), new KeyReference("k1")] };
    const { head, raws, keys } = encodeWithRaws(value, Infinity);
    assert.deepEqual(keys, ["k1", "k2"]);
    assert.deepEqual(decodeWithRaws(head, raws, (k) => `value of ${k}`), { a: "value of k1", b: ["value of k2", "value of k1"] });
    assert.throws(() => decodeWithRaws(head, raws), { code: "ERR_PROTOCOL", message: 'a reference to "k1" arrived where none can be resolved' });
    assert.deepEqual(encodeWithRaws({ n: 1 }, Infinity).keys, [], "keys of an earlier message do not leak into the next");
    // plain encode (no key collection) still writes references
    assert.deepEqual(decodeWithRaws(encode([new KeyReference("k3")]), [], (k) => k.toUpperCase()), ["K3"]);
  });

  // protects: decoding a dependency inside a resolver (task threads do) leaves the outer
  // message's raws and resolver in place
  it("nested decoding restores the outer raws and resolver", () => {
    const inner = encodeWithRaws(Buffer.alloc(20, 2), 1);
    const outer = encodeWithRaws({ dep: new KeyReference("d"), own: Buffer.alloc(20, 1), again: new KeyReference("d") }, 1);
    let calls = 0;
    const out = decodeWithRaws(outer.head, outer.raws, () => {
      calls++;
      return decodeWithRaws(inner.head, inner.raws);
    }) as { dep: Buffer; own: Buffer; again: Buffer };
    assert.equal(calls, 2);
    assert.ok(out.dep.equals(Buffer.alloc(20, 2)));
    assert.ok(out.own.equals(Buffer.alloc(20, 1)), "the outer raw, not the inner one");
    assert.ok(out.again.equals(Buffer.alloc(20, 2)));
    assert.throws(() => decodeWithRaws(outer.head, []), { message: /binary reference|none can be resolved/ });
  });
});
