// Values the caller or a task keeps are not changed or taken away by sending them (each case
// failed on ff6a7ef).
import assert from "node:assert/strict";
import { withCluster } from "../helpers/cluster.js";

describe("values kept by the sender", function () {
  this.timeout(120_000);
  it("an argument array changed after submit is sent as it was at submit", async () => {
    const c = await withCluster({ mode: "inproc", workers: 1 });
    try {
      const buf = new Float64Array(10_000).fill(1);
      const f1 = c.client.submit((a: Float64Array) => a.reduce((s, x) => s + x, 0), buf);
      buf.fill(2);
      const f2 = c.client.submit((a: Float64Array) => a.reduce((s, x) => s + x, 0), buf);
      assert.deepEqual(await c.client.gather([f1, f2]), [10_000, 20_000]);
    } finally {
      await c.cleanup();
    }
  });

  it("an actor's typed array survives being returned", async () => {
    const c = await withCluster({ mode: "inproc", workers: 1 });
    try {
      class Holder {
        w = new Float64Array(20_000).fill(1);
        get() {
          return this.w;
        }
        sum() {
          return this.w.reduce((s, v) => s + v, 0);
        }
      }
      const actor = await c.client.submit(Holder, { actor: true }).result();
      await (actor as unknown as { get(): Promise<Float64Array> }).get();
      assert.equal(await (actor as unknown as { sum(): Promise<number> }).sum(), 20_000);
    } finally {
      await c.cleanup();
    }
  });

  it("a scattered array changed while scatter waits is sent as it was", async () => {
    const c = await withCluster({ mode: "inproc", workers: 1 });
    try {
      const buf = new Float64Array(10_000).fill(1);
      const scattered = c.client.scatter(buf);
      buf.fill(2);
      const sum = await c.client.submit((a: Float64Array) => a.reduce((s, x) => s + x, 0), await scattered).result();
      assert.equal(sum, 10_000);
    } finally {
      await c.cleanup();
    }
  });

  // protects: a scattered value holding a future was accepted, and gathering it (or a task
  // using it) failed to decode on every round, until the gather's 24 h timeout
  it("scatter refuses a value that holds a future", async () => {
    const c = await withCluster({ mode: "inproc", workers: 1 });
    try {
      const f = c.client.submit((x: number) => x + 1, 1);
      await assert.rejects(c.client.scatter({ a: f }), { name: "TypeError", message: /^scatter: the value holds a future \("/ });
      await assert.rejects(c.client.scatter([1, [f]]), { name: "TypeError", message: /^scatter: value 2 holds a future/ });
      assert.equal(await f.result(), 2);
    } finally {
      await c.cleanup();
    }
  });
});
