// A copy of a key's value is used only as the value the scheduler names: each value carries
// a number (the run that computed it, or one the scheduler gave scattered data), and a copy of
// another number (made while its key was released and submitted again with another function)
// is never taken for the key's new value. Each case fails on the code before the numbers.
import assert from "node:assert/strict";
import { SchedulerState } from "../../src/scheduler/state.js";
import type { Copy, Dependency, TaskSpec } from "../../src/protocol/messages.js";
import type { WorkerInstruction } from "../../src/worker/state-machine.js";
import { Driver, bytesOf, type Value } from "../helpers/worker-state.js";

const spec = (key: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({ key, fn: "x => x", args: [new Uint8Array([0x90])], deps: [], ...extra });
const worker = (name: string) => ({ address: `tcp://w${name}:1`, name, host: "h", nthreads: 1, memoryLimit: 0, pid: 1 });
const W1 = "tcp://w1:1";
const W2 = "tcp://w2:1";
const task = (key: string, whoHas: Record<string, string[]> = {}, depRuns: Record<string, number> = {}, run?: number) =>
  ({ key, fn: "x => x", args: [Buffer.from([0x90])], deps: Object.keys(whoHas).map((k) => [k, depRuns[k] ?? 1, whoHas[k]!] as Dependency), priority: 0, ...(run !== undefined && { run }) });
const ops = (ins: WorkerInstruction[]) =>
  ins.map((i) => (i.type === "send" ? `send ${i.msg.op} ${JSON.stringify(i.msg.copies ? Object.fromEntries(i.msg.copies as Copy[]) : i.msg.key)}` : i.type === "fetch" ? `fetch ${i.worker} ${i.keys.join(",")}` : i.type === "free-data" ? `free-data ${i.keys.join(",")}` : `${i.type} ${i.key}`));
const value = (s: string): Value => [Buffer.from(s)];
const putData = (w: Driver, key: string, v: Value, run?: number) => w.handle({ type: "put-data", stimulusId: w.sid("put-data"), key, nbytes: bytesOf(v), value: v, run });

describe("value numbers: a copy is used only as the value the scheduler names", () => {
  it("worker: a compute-task for a key held here computes it again (the copy may be of an ended incarnation)", () => {
    const w = new Driver(1);
    w.computeTask(task("a", {}, {}, 1));
    w.executed("a", { ok: true, value: value("OLD"), durationS: 0 });
    const ins = w.computeTask(task("a", {}, {}, 7));
    assert.deepEqual(ops(ins), ["execute a"], "run again, not answered with the copy held");
    assert.ok(w.last.some((i) => i.type === "free-data" && i.keys.includes("a")), "the copy is dropped");
    assert.deepEqual(ops(w.executed("a", { ok: true, value: value("NEW"), durationS: 0 })), ['send task-finished "a"']);
    assert.equal(w.data.get("a")![0]!.toString(), "NEW");
    assert.equal(w.w.heldRun.get("a"), 7, "its number is its run's");
  });

  it("worker: a dependency held with another number is dropped and fetched; with the same number it is used", () => {
    const w = new Driver(1);
    w.computeTask(task("t1", { d: ["tcp://a:1"] }, { d: 3 }));
    w.fetchDone("tcp://a:1", { d: value("OLD") }, []);
    w.executed("t1", { ok: true, value: value("1"), durationS: 0 });
    assert.equal(w.w.heldRun.get("d"), 3);
    assert.deepEqual(ops(w.computeTask(task("t2", { d: ["tcp://a:1"] }, { d: 3 }))), ["execute t2"], "the same value: used");
    w.executed("t2", { ok: true, value: value("2"), durationS: 0 });
    assert.deepEqual(ops(w.computeTask(task("t3", { d: ["tcp://b:1"] }, { d: 9 }))), ["fetch tcp://b:1 d"]);
    assert.equal(w.data.has("d"), false, "the copy of value 3 is dropped");
    assert.deepEqual(ops(w.fetchDone("tcp://b:1", { d: value("NEW") }, [])), ['send add-replica {"d":9}', "execute t3"]);
    assert.equal(w.data.get("d")![0]!.toString(), "NEW");
  });

  it("worker: a fetch of another value of the dependency, still on its way, is not taken", () => {
    const w = new Driver(1);
    w.computeTask(task("t1", { d: ["tcp://a:1"] }, { d: 3 }));
    // t1 stays (its free-keys crossed) while a task of the key's new incarnation arrives
    assert.deepEqual(ops(w.computeTask(task("t2", { d: ["tcp://b:1"] }, { d: 9 }))), ["fetch tcp://b:1 d"]);
    assert.deepEqual(ops(w.fetchDone("tcp://a:1", { d: value("OLD") }, [], w.fetchId("tcp://a:1", ["d"]))), [], "the reply for value 3 is dropped");
    assert.equal(w.data.has("d"), false);
    w.fetchDone("tcp://b:1", { d: value("NEW") }, []);
    assert.equal(w.data.get("d")![0]!.toString(), "NEW");
    assert.equal(w.w.heldRun.get("d"), 9);
  });

  it("worker: a replicated copy of another value than the one tasks here wait for is not kept", () => {
    const w = new Driver(1);
    w.computeTask(task("t", { d: ["tcp://a:1"] }, { d: 9 }));
    putData(w, "d", value("OLD"), 3);
    assert.equal(w.data.has("d"), false);
    assert.equal(w.tasks.get("t")!.state, "fetching");
    putData(w, "d", value("NEW"), 9);
    assert.equal(w.data.get("d")![0]!.toString(), "NEW");
    assert.equal(w.w.heldRun.get("d"), 9);
    assert.equal(w.tasks.get("t")!.state, "executing");
  });

  it("worker: after the scheduler is lost, held copies keep no number (one taking over vouches for them by spec)", () => {
    const w = new Driver(1);
    w.computeTask(task("a", {}, {}, 4));
    w.executed("a", { ok: true, value: value("A"), durationS: 0 });
    w.handle({ type: "reset", stimulusId: w.sid("reset"), keepData: true });
    assert.equal(w.w.heldRun.size, 0);
    assert.deepEqual(ops(w.computeTask(task("t", { a: ["tcp://me:1"] }, { a: 1 }))), ["execute t"], "numbered by the new scheduler: used");
  });

  it("scheduler: compute-task names each dependency's value number", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("x")], "s1");
    const run = s.tasks.get("x")!.run;
    s.taskFinished(W1, "x", 8, 0.1, "s2", undefined, run);
    const ins = s.updateGraph("c", [spec("y", { deps: ["x"] })], "s3");
    const ct = ins.find((i) => i.msg.op === "compute-task" && i.msg.key === "y")!;
    assert.deepEqual((ct.msg.deps as Dependency[]).map(([k, r]) => [k, r]), [["x", run]]);
  });

  it("scheduler: a copy announced after its key was released and submitted again with another function is stray", () => {
    const s = new SchedulerState();
    s.addClient("c");
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    s.updateGraph("c", [spec("x", { workers: ["1"] })], "s1");
    const old = s.tasks.get("x")!.run;
    s.taskFinished(W1, "x", 8, 0.1, "s2", undefined, old);
    // a task on w2 fetches x; before w2's add-replica arrives, x is released and submitted again
    s.updateGraph("c", [spec("t", { deps: ["x"], workers: ["2"] })], "s3");
    s.cancelKeys(["x"], "s4");
    s.releaseKeys("c", ["x", "t"], "s5");
    s.updateGraph("c", [spec("x", { fn: "() => 2", workers: ["1"] })], "s6");
    const fresh = s.tasks.get("x")!.run;
    s.taskFinished(W1, "x", 8, 0.1, "s7", undefined, fresh);
    assert.equal(s.tasks.get("x")!.state, "memory");
    assert.equal(s.addReplica("x", W2, old), false, "a copy of the ended incarnation's value");
    assert.deepEqual(s.whoHas(["x"]), { x: [W1] });
    assert.equal(s.addReplica("x", W2, fresh), true, "a copy of the value it has now");
  });

  it("scheduler: scattered data gets a number, and copies of it are recorded with it", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    s.addData("c", W1, [{ key: "d", nbytes: 4 }], "s1");
    const run = s.tasks.get("d")!.run;
    assert.ok(run > 0);
    const ins = s.updateGraph("c", [spec("t", { deps: ["d"], workers: ["2"] })], "s2");
    assert.deepEqual((ins.find((i) => i.msg.op === "compute-task")!.msg.deps as Dependency[]).map(([k, r]) => [k, r]), [["d", run]]);
    assert.equal(s.addReplica("d", W2, run), true);
  });
});

describe("maps keyed by task names go as plain msgpack maps, not records", () => {
  it("a null-prototype map round-trips as a plain map; a message around it stays a record", async () => {
    const { wireCodec } = await import("../../src/protocol/msgpack.js");
    const { keyedMap } = await import("../../src/protocol/messages.js");
    const { packr, unpackr } = wireCodec();
    for (let i = 0; i < 3; i++) {
      const runs = keyedMap<number>();
      runs[`k-${i}`] = i;
      runs["7"] = 7;
      const bytes = packr.pack({ op: "replicate-to", runs });
      // a plain msgpack map of 2 entries (map16: de 00 02) is in the bytes; a record would define a structure instead
      assert.ok(bytes.includes(Buffer.from([0xde, 0x00, 0x02])), `no plain 2-entry map in ${bytes.toString("hex")}`);
      assert.deepEqual(unpackr.unpack(bytes), { op: "replicate-to", runs: { [`k-${i}`]: i, 7: 7 } });
    }
  });
});
