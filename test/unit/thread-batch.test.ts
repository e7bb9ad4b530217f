// What a batch of tasks posted to a task thread carries (worker/executor.ts toBatch): parts that
// are views into a bigger buffer (a frame read off a socket) must not take that buffer along,
// since postMessage clones a view's whole ArrayBuffer.
import assert from "node:assert/strict";
import { toBatch } from "../../src/worker/executor.js";

const KiB = 1024;

describe("batches posted to task threads", () => {
  // protects: a part over 64 KiB cut from a frame under the shared-memory size went to the thread
  // as a view (Buffer's slice() is a view, not a copy), and the thread got the whole frame cloned
  it("a big part that is a view into a frame goes in a buffer of its own size; small parts share one; shared memory stays shared", () => {
    const frame = Buffer.alloc(1024 * KiB);
    for (let i = 0; i < frame.length; i++) frame[i] = i % 251;
    const big = frame.subarray(1000, 1000 + 100 * KiB); // a Buffer view, as decoding gives
    const small = frame.subarray(5, 15);
    const whole = new Uint8Array(100 * KiB);
    const shared = new Uint8Array(new SharedArrayBuffer(200 * KiB));
    const b = toBatch([{ id: 1, key: "k", fn: { kind: "source", source: "(x) => x" }, args: [big, small, whole], deps: new Map([["d", [shared]]]) }]);
    const [bigOut, smallOut, wholeOut] = b.parts as Uint8Array[];
    assert.equal(bigOut!.buffer.byteLength, 100 * KiB, "the big part alone, not its frame");
    assert.deepEqual(Buffer.from(bigOut!), Buffer.from(big), "the same bytes");
    assert.notEqual(smallOut!.buffer, frame.buffer, "small parts are copied out of the frame");
    assert.deepEqual(Buffer.from(smallOut!), Buffer.from(small));
    assert.equal(wholeOut, whole, "a part that is its whole buffer is posted as it is");
    assert.equal((b.deps[0] as ReadonlyMap<string, Uint8Array[]>).get("d")![0], shared, "shared memory is shared, not copied");
  });
});
