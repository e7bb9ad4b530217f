// The scheduler's extension plumbing and function registry as pure parts: the function table
// numbers functions by content and sends each to a peer once; extension ops may not take a
// scheduler op; withDashboard turns the launchers' dashboardAddress into an extension.
import assert from "node:assert/strict";
import { ConfigError } from "../../src/errors.js";
import { withDashboard } from "../../src/deploy/dashboard.js";
import { Extensions } from "../../src/scheduler/extension.js";
import { FunctionTable } from "../../src/protocol/functions.js";

describe("scheduler function table", () => {
  // Protects: one number per distinct function whichever message brought it, and a worker gets
  // a function's definition once (compute-task then names it by number).
  it("numbers functions by content and sends each to a peer once", () => {
    const t = new FunctionTable({ limit: Infinity });
    const a = t.idOf({ kind: "source", source: "x => x" });
    assert.equal(t.idOf({ kind: "source", source: "x => x" }), a);
    const b = t.idOf({ kind: "source", source: "x => x + 1" });
    assert.notEqual(a, b);
    const p1 = {};
    const p2 = {};
    assert.deepEqual(t.sendOnce(p1, b), { kind: "source", source: "x => x + 1" });
    assert.equal(t.sendOnce(p1, b), undefined);
    assert.deepEqual(t.sendOnce(p2, b), { kind: "source", source: "x => x + 1" });
  });
});

describe("scheduler extensions", () => {
  // Protects: an extension cannot silently replace a scheduler op (or another extension's).
  it("an extension op that the scheduler already has is refused, naming extension and op", async () => {
    const ext = await Extensions.load([{ name: "greedy", ops: { identity: () => 1 } }]);
    assert.throws(() => ext.ops(new Set(["identity"])), /extension "greedy" adds op "identity"/);
    const two = await Extensions.load([{ name: "a", ops: { x: () => 1 } }, async () => ({ name: "b", ops: { x: () => 2 } })]);
    assert.throws(() => two.ops(new Set()), /extension "b" adds op "x"/);
  });

  // Protects: hooks are gathered once, only from the extensions that have them.
  it("gathers each hook from the extensions that have it", async () => {
    const seen: string[] = [];
    const ext = await Extensions.load([{ name: "a", onTaskFinished: (e) => seen.push(e.key) }, { name: "b" }]);
    assert.equal(ext.taskFinished.length, 1);
    assert.equal(ext.workerRemoved.length, 0);
    ext.taskFinished[0]!({ key: "k", worker: "w", durationS: 0, at: 0 });
    assert.deepEqual(seen, ["k"]);
  });

  // Protects: the launchers' dashboardAddress still serves a dashboard (as an extension), and a
  // bad address is refused where it is given.
  it("withDashboard moves dashboardAddress into extensions; a bad address is a ConfigError", () => {
    const o = withDashboard({ secret: "s", dashboardAddress: ":0" });
    assert.equal(o.dashboardAddress, undefined);
    assert.equal(o.extensions?.length, 1);
    assert.deepEqual(withDashboard({ secret: "s" }), { secret: "s" });
    assert.throws(() => withDashboard({ secret: "s", dashboardAddress: "nope" }), (e) => e instanceof ConfigError && /"nope"/.test(e.message));
  });
});
