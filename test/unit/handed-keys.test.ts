// Keys handed to a client and not adopted yet (scheduler/handed-keys.ts). Protects: a release
// from that client crossing the hand-over's reply is held back, per key, as long as one of its
// hands is not adopted; nothing else is held back; a client that left awaits nothing.
import assert from "node:assert/strict";
import { HandedKeys } from "../../src/scheduler/handed-keys.js";

describe("handed keys", () => {
  it("holds back a crossing release of a handed key until each of its hands is adopted", () => {
    const h = new HandedKeys();
    h.hand("C", ["k", "k", "j"]); // a value holding k twice is one hand of k
    h.hand("C", ["k"]); // a second get
    assert.deepEqual(h.releasable("C", ["k", "j", "other"]), ["other"]);
    assert.deepEqual(h.releasable("D", ["k"]), ["k"], "another client's releases are its own");
    h.adopted("C", ["k", "j"]);
    assert.deepEqual(h.releasable("C", ["k", "j"]), ["j"], "k's second hand is not adopted yet");
    h.adopted("C", ["k", "never-handed"]);
    assert.deepEqual(h.releasable("C", ["k", "j"]), ["k", "j"]);
  });

  it("forgets a client that left, or everything (a restart)", () => {
    const h = new HandedKeys();
    h.hand("C", ["k"]);
    h.hand("D", ["k"]);
    h.forget("C");
    assert.deepEqual(h.releasable("C", ["k"]), ["k"]);
    assert.deepEqual(h.releasable("D", ["k"]), []);
    h.forget();
    assert.deepEqual(h.releasable("D", ["k"]), ["k"]);
  });
});
