import assert from "node:assert/strict";
import { type Instruction, SATURATION, SchedulerState, type TaskSpec } from "../../src/scheduler/state.js";

const spec = (key: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({ key, fn: "x => x", args: new Uint8Array([0x90]), ...extra });
const worker = (name: string, nthreads = 1) => ({ address: `tcp://w${name}:1`, name, host: "h", nthreads, memoryLimit: 0, pid: 1 });
const computes = (ins: Instruction[]) =>
  ins.filter((i) => i.type === "send-worker" && i.msg.op === "compute-task").map((i) => [(i as { worker: string }).worker, i.msg.key]);

describe("scheduler state machine", () => {
  it("queues tasks until a worker arrives, then fills its slots only", () => {
    const s = new SchedulerState();
    s.addClient("c");
    assert.deepEqual(computes(s.updateGraph("c", [spec("a"), spec("b"), spec("c")], "s1")), []);
    assert.equal(s.tasks.get("a")!.state, "queued");
    const ins = s.addWorker(worker("1"), 0);
    assert.equal(computes(ins).length, SATURATION);
    assert.equal(s.tasks.get("c")!.state, "queued");
  });

  it("reports a finished task to the clients that want it and gives the slot to the next task", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("a"), spec("b"), spec("c")], "s1");
    const ins = s.taskFinished("tcp://w1:1", "a", 8, "s2");
    assert.deepEqual(ins.find((i) => i.type === "send-client")?.msg, { op: "key-in-memory", key: "a", nbytes: 8 });
    assert.deepEqual(computes(ins), [["tcp://w1:1", "c"]]);
    assert.deepEqual(s.whoHas(["a"]), { a: ["tcp://w1:1"] });
    assert.deepEqual(
      s.story("a").map((e) => `${e.from}->${e.to}`),
      ["released->queued", "queued->processing", "processing->memory"],
    );
  });

  it("honours worker restrictions by name", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    const ins = s.updateGraph("c", [spec("p", { workers: ["2"] })], "s1");
    assert.deepEqual(computes(ins), [["tcp://w2:1", "p"]]);
  });

  it("a task restricted to a missing worker waits, unless allowOtherWorkers", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    assert.deepEqual(computes(s.updateGraph("c", [spec("p", { workers: ["9"] })], "s1")), []);
    assert.deepEqual(computes(s.updateGraph("c", [spec("q", { workers: ["9"], allowOtherWorkers: true })], "s2")), [["tcp://w1:1", "q"]]);
    assert.deepEqual(computes(s.addWorker(worker("9"), 0)), [["tcp://w9:1", "p"]]);
  });

  it("reruns a dead worker's tasks and recomputes results it held", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("a"), spec("b")], "s1");
    s.taskFinished("tcp://w1:1", "a", 1, "s2");
    const ins = s.removeWorker("tcp://w1:1", "s3");
    assert.ok(ins.some((i) => i.type === "send-client" && i.msg.op === "key-lost" && i.msg.key === "a"));
    assert.equal(s.tasks.get("a")!.state, "queued");
    assert.equal(s.tasks.get("b")!.state, "queued");
    assert.deepEqual(computes(s.addWorker(worker("2"), 0)).map((c) => c[1]).sort(), ["a", "b"]);
  });

  it("an error goes to the client; released keys are freed on workers and forgotten", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("a"), spec("e")], "s1");
    const err = { name: "Error", message: "boom", stack: "" };
    assert.deepEqual(s.taskErred("tcp://w1:1", "e", err, "s2").find((i) => i.type === "send-client")?.msg, { op: "key-erred", key: "e", error: err });
    s.taskFinished("tcp://w1:1", "a", 1, "s3");
    const ins = s.releaseKeys("c", ["a", "e"], "s4");
    assert.ok(ins.some((i) => i.type === "send-worker" && i.msg.op === "free-keys"));
    assert.equal(s.tasks.size, 0);
  });

  it("a key shared by two clients lives until both release it", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c1", [spec("k")], "s1");
    s.updateGraph("c2", [spec("k")], "s2");
    s.removeClient("c1", "s3");
    assert.equal(s.tasks.get("k")!.state, "processing");
    s.removeClient("c2", "s4");
    assert.equal(s.tasks.has("k"), false);
  });
});
