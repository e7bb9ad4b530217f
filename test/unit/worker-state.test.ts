import assert from "node:assert/strict";
import { type WorkerInstruction } from "../../src/worker/state-machine.js";
import { Driver } from "../helpers/worker-state.js";

const task = (key: string, whoHas: Record<string, string[]> = {}, priority = 0) => ({ key, fn: "x => x", args: [Buffer.from([0x90])], whoHas, priority });
const ops = (ins: WorkerInstruction[]) =>
  ins.map((i) => (i.type === "send" ? `send ${i.msg.op} ${String(i.msg.key ?? (i.msg.keys as string[])?.join(","))}` : i.type === "fetch" ? `fetch ${i.worker} ${i.keys.join(",")}` : i.type === "free-data" ? `free-data ${i.keys.join(",")}` : `${i.type} ${i.key}`));
const value = (s: string) => [Buffer.from(s)];

describe("worker state machine", () => {
  it("runs a task whose inputs are here and reports its result", () => {
    const w = new Driver(1);
    assert.deepEqual(ops(w.computeTask(task("a"))), ["execute a"]);
    assert.deepEqual(ops(w.executed("a", { ok: true, value: value("1"), durationS: 0.01 })), ["send task-finished a"]);
    assert.ok(w.data.has("a"));
  });

  it("holds tasks beyond its slots and runs them as slots free, by priority", () => {
    const w = new Driver(1);
    w.computeTask(task("a"));
    assert.deepEqual(ops(w.computeTask(task("low", {}, 0))), []);
    assert.deepEqual(ops(w.computeTask(task("high", {}, 5))), []);
    assert.deepEqual(ops(w.executed("a", { ok: true, value: value("1"), durationS: 0 })), ["send task-finished a", "execute high"]);
  });

  it("fetches missing dependencies from a holder, grouped per peer, then runs", () => {
    const w = new Driver(2);
    const ins = w.computeTask(task("c", { x: ["tcp://p:1"], y: ["tcp://p:1"] }));
    assert.deepEqual(ops(ins), ["fetch tcp://p:1 x,y"]);
    // a second task needing x does not fetch it again
    assert.deepEqual(ops(w.computeTask(task("d", { x: ["tcp://p:1"] }))), []);
    const done = w.fetchDone("tcp://p:1", { x: value("X"), y: value("Y") }, []);
    assert.deepEqual(ops(done).sort(), ["execute c", "execute d", "send add-replica x,y"]);
    const exec = done.find((i) => i.type === "execute" && i.key === "c") as Extract<WorkerInstruction, { type: "execute" }>;
    assert.deepEqual([...exec.deps].sort(), ["x", "y"]);
  });

  it("tries the next holder when one fails, and tells the scheduler when all did", () => {
    const w = new Driver(1);
    assert.deepEqual(ops(w.computeTask(task("c", { x: ["tcp://a:1", "tcp://b:1"] }))), ["fetch tcp://a:1 x"]);
    assert.deepEqual(ops(w.fetchFailed("tcp://a:1", ["x"])), ["fetch tcp://b:1 x"]);
    assert.deepEqual(ops(w.fetchDone("tcp://b:1", {}, ["x"])), ["send missing-data c"]);
    assert.equal(w.tasks.size, 0);
  });

  it("discards the result of a task freed while it ran, and frees its slot", () => {
    const w = new Driver(1);
    w.computeTask(task("a"));
    w.computeTask(task("b"));
    assert.deepEqual(ops(w.freeKeys(["a"])), []);
    assert.deepEqual(ops(w.executed("a", { ok: true, value: value("1"), durationS: 0 })), ["execute b"]);
    assert.equal(w.data.has("a"), false);
    // (issue 12, point 2) nor is it handed to a task that needs that key afterwards: it is fetched
    assert.deepEqual(ops(w.computeTask(task("c", { a: ["tcp://p:1"] }))), ["fetch tcp://p:1 a"]);
  });

  // Regression (issue 12, after point 2): a key cancelled while it ran and given again must not
  // get the freed run's result (another function may be behind the key now), nor lose the slot.
  it("starts a key given again only after its freed run ended, and reports that run's result", () => {
    const w = new Driver(2);
    assert.deepEqual(ops(w.computeTask(task("a"))), ["execute a"]);
    w.freeKeys(["a"]);
    assert.deepEqual(ops(w.computeTask(task("a"))), [], "waits for the freed run, though a slot is free");
    assert.deepEqual(ops(w.computeTask(task("b"))), ["execute b"], "others do not wait");
    assert.deepEqual(ops(w.executed("a", { ok: true, value: value("old"), durationS: 0 })), ["execute a"]);
    assert.equal(w.data.has("a"), false, "the freed run's result is dropped");
    const done = w.executed("a", { ok: true, value: value("new"), durationS: 0 });
    assert.deepEqual(ops(done), ["send task-finished a"]);
    assert.deepEqual(w.data.get("a"), value("new"));
    assert.equal(w.executing, 1, "b still runs; every other slot came back");
  });

  it("reports task errors", () => {
    const w = new Driver(1);
    w.computeTask(task("e"));
    const ins = w.executed("e", { ok: false, error: { name: "Error", message: "boom", stack: "" }, durationS: 0 });
    assert.deepEqual(ops(ins), ["send task-erred e"]);
  });
});
