// asCompleted's bookkeeping with stand-in futures (the real ones: test/integration/wait-progress.test.ts).
import assert from "node:assert/strict";
import { asCompleted } from "../../src/client/wait.js";
import type { Future } from "../../src/client/future.js";

/** A stand-in future: done when `finish()` is called; counts the waits made on it. */
function fake(key: string) {
  let done: (() => void) | undefined;
  const f = {
    key,
    status: "pending",
    waits: 0,
    whenDone(): Promise<void> {
      f.waits++;
      return new Promise<void>((r) => (done = r));
    },
    finish() {
      f.status = "finished";
      done?.();
    },
  };
  return f;
}

describe("asCompleted (stand-in futures)", () => {
  // Protects: an asCompleted that nobody iterates kept a wait on each future, so the process
  // could not exit before they were done (the generator it replaced started nothing)
  it("waits for nothing until asked: the first next(), nextBatch() or hasReady() starts the watches", async () => {
    const a = fake("a");
    const ac = asCompleted([a as unknown as Future<number>]);
    assert.equal(ac.count(), 1);
    assert.equal(a.waits, 0, "not iterated: not watched");
    assert.equal(ac.hasReady(), false);
    assert.equal(a.waits, 1);
    a.finish();
    assert.deepEqual(await ac.next(), { done: false, value: a });
    assert.deepEqual(await ac.next(), { done: true, value: undefined });
  });

  it("futures already done come first, in the order added; clear() forgets the rest and wakes the waiting", async () => {
    const [a, b, c] = [fake("a"), fake("b"), fake("c")];
    b.status = "finished";
    c.status = "error";
    const ac = asCompleted([a, b, c] as unknown as Array<Future<number>>);
    assert.deepEqual(await ac.nextBatch(false), [b, c]);
    const waiting = ac.next();
    ac.clear();
    assert.deepEqual(await waiting, { done: true, value: undefined });
    assert.ok(ac.isEmpty());
  });
});
