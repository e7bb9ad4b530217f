// A task thread posts the values of a batch's quick tasks together (task-thread.ts): a value
// must still not wait behind a task that is not known to be quick. Real threads, in process.
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { TaskPool } from "../../src/worker/executor.js";
import { encodeFunction } from "../../src/protocol/functions.js";
import { decodeWithRaws, encodeWithRaws } from "../../src/protocol/msgpack.js";
import type { ThreadResult } from "../../src/worker/task-thread.js";
import { tempDir } from "../helpers/cluster.js";

const args = (...xs: unknown[]) => {
  const { head, raws } = encodeWithRaws(xs, 64 * 1024);
  return [head, ...raws];
};
const valueOf = (r: ThreadResult): unknown => {
  if (!r.ok) throw new Error(r.error.message);
  return decodeWithRaws(r.parts[0]!, r.parts.slice(1));
};

describe("task thread values", function () {
  this.timeout(60_000);
  let pool: TaskPool | undefined;
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
    tmp.remove();
  });

  it("a quick task's value goes before a task of unknown length in its batch runs", async () => {
    pool = new TaskPool(1);
    const quick = encodeFunction((x: number) => x + 1);
    // a first run: the thread is up and the function compiled. In the batch below the quick
    // value is held, and the task after it has never run here: the value must go before it runs
    assert.equal(await new Promise((resolve) => pool!.run({ key: "warm", fn: quick, args: args(0), deps: new Map() }, (r) => resolve(valueOf(r)))), 1);
    const gate = path.join(tmp.dir, "gate");
    // holds the thread until the quick task's value reached the pool (which opens the gate)
    const slow = encodeFunction(async (file: string) => {
      const fs = await import("node:fs");
      const end = Date.now() + 10_000;
      while (!fs.existsSync(file) && Date.now() < end);
      return fs.existsSync(file) ? "gated" : "the quick task's value was held back";
    });
    // one turn: both go to the thread in one batch
    const first = new Promise((resolve) =>
      pool!.run({ key: "quick", fn: quick, args: args(41), deps: new Map() }, (r) => {
        writeFileSync(gate, "");
        resolve(valueOf(r));
      }),
    );
    const second = new Promise((resolve) => pool!.run({ key: "slow", fn: slow, args: args(gate), deps: new Map() }, (r) => resolve(valueOf(r))));
    assert.equal(await first, 42);
    assert.equal(await second, "gated");
    assert.ok(existsSync(gate));
  });

  it("every value of a batch of quick tasks arrives, each with its own", async () => {
    pool = new TaskPool(1);
    const quick = encodeFunction((x: number) => x * 2);
    const n = 500;
    const got = await Promise.all(Array.from({ length: n }, (_, i) => new Promise((resolve) => pool!.run({ key: `k-${i}`, fn: quick, args: args(i), deps: new Map() }, (r) => resolve(valueOf(r))))));
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i * 2));
  });
});
