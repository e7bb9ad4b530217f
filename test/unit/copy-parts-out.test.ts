import assert from "node:assert/strict";
import { copyPartsOut } from "../../src/protocol/frames.js";

describe("copyPartsOut", () => {
  it("copies every part out of the message buffer: small ones into one shared buffer, big ones each alone", () => {
    const message = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    const lists = [[message.subarray(0, 3), message.subarray(3, 5000)], [], [message.subarray(5000, 5001), message.subarray(5001, 5001)]];
    const before = lists.map((l) => l.map((p) => Buffer.from(p)));
    copyPartsOut(lists);
    assert.deepEqual(lists.map((l) => l.map((p) => Buffer.from(p))), before, "same bytes");
    for (const l of lists) for (const p of l) assert.notEqual(p.buffer, message.buffer, "no view into the message is left");
    assert.equal(lists[0]![0]!.buffer, lists[2]![0]!.buffer, "the small parts share one buffer");
    assert.notEqual(lists[0]![1]!.buffer, lists[0]![0]!.buffer, "a big part has its own");
    assert.equal(lists[0]![1]!.byteLength, 4997);
  });
});
