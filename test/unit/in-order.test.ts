// The worker starts tasks in the order its state machine chose, though some first wait for a
// checkpoint file or spilled dependencies (worker/checkpoint.ts InOrder). Protects: a read that
// finished first started its task first, and under load a journaled campaign's step waiting on
// a later condition took the only thread before the steps queued ahead of it (a 60 s stall).
import assert from "node:assert/strict";
import { InOrder } from "../../src/worker/checkpoint.js";

const later = <T>(ms: number, v: T) => new Promise<T>((r) => setTimeout(() => r(v), ms));

describe("worker: tasks start in the order they came (InOrder)", () => {
  it("starts at once when nothing waits; reads finishing out of order start in order; a failure keeps its place", async () => {
    const order: string[] = [];
    const q = new InOrder();
    q.run("a", (v) => order.push(v), () => order.push("never"));
    assert.deepEqual(order, ["a"], "nothing waiting: started in the same call");
    q.run(later(40, "b"), (v) => order.push(v), () => order.push("never"));
    q.run("c", (v) => order.push(v), () => order.push("never")); // ready, but behind b
    q.run(later(5, "d"), (v) => order.push(v), () => order.push("never"));
    q.run(Promise.reject(new Error("e")), () => order.push("never"), (err) => order.push(`failed ${(err as Error).message}`));
    q.run(later(1, "f"), (v) => order.push(v), () => order.push("never"));
    assert.deepEqual(order, ["a"]);
    await later(80, undefined);
    assert.deepEqual(order, ["a", "b", "c", "d", "failed e", "f"]);
    q.run("g", (v) => order.push(v), () => order.push("never"));
    assert.deepEqual(order.at(-1), "g", "idle again: at once");
  });
});
