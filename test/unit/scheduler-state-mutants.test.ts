// The scheduler's pure state machine (src/scheduler/state.ts) fed events, on paths the first
// tests did not reach. Written to kill the mutants that survived `npm run mutate`: each test
// names the behaviour it protects.
import assert from "node:assert/strict";
import { type Instruction, SchedulerState } from "../../src/scheduler/state.js";
import type { TaskSpec } from "../../src/protocol/messages.js";

const spec = (key: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({ key, fn: "x => x", args: [new Uint8Array([0x90])], deps: [], ...extra });
const worker = (name: string, memoryLimit = 0) => ({ address: `tcp://w${name}:1`, name, host: "h", nthreads: 1, memoryLimit, pid: 1 });
const W1 = "tcp://w1:1";
const W2 = "tcp://w2:1";
const computes = (ins: Instruction[]) =>
  ins.filter((i) => i.type === "send-worker" && i.msg.op === "compute-task").map((i) => [(i as { worker: string }).worker, i.msg.key]);
const toClient = (ins: Instruction[], op: string) => ins.filter((i) => i.type === "send-client" && i.msg.op === op).map((i) => i.msg);
const frees = (ins: Instruction[]) =>
  ins.filter((i) => i.type === "send-worker" && i.msg.op === "free-keys").map((i) => [(i as { worker: string }).worker, ...(i.msg.keys as string[])]);

describe("scheduler state machine: edges", () => {
  // protects: scattered data is in memory where it was put, counted, and used by dependents;
  // when its only worker dies it cannot be recomputed: LostDataError for it and its dependents
  it("scattered data: in memory on its worker, and lost with it", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    const ins = s.addData("c", W1, [{ key: "x", nbytes: 100 }], "scatter");
    assert.deepEqual(toClient(ins, "key-in-memory"), [{ op: "key-in-memory", key: "x", nbytes: 100 }]);
    assert.deepEqual(s.whoHas(["x"]), { x: [W1] });
    assert.equal(s.workload(1).nbytes, 100);
    assert.deepEqual(computes(s.updateGraph("c", [spec("y", { deps: ["x"] })], "s1")), [[W1, "y"]], "placed where its input is");
    const gone = s.removeWorker(W1, "died");
    assert.deepEqual(toClient(gone, "key-lost").map((m) => m.key), ["x"]);
    const erred = toClient(gone, "key-erred");
    assert.deepEqual(erred.map((m) => [m.key, (m.error as { name: string }).name]), [["x", "LostDataError"], ["y", "LostDataError"]]);
    assert.equal((erred[0]!.error as { message: string }).message, 'scattered data "x" was lost with its worker');
    assert.equal(erred[1]!.because, "x");
    assert.deepEqual(computes(gone), [], "nothing is recomputed from scattered data");
  });

  // protects: scattering a key a task is computing makes it available at once
  it("scattering a key that dependents wait for lets them run", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("y", { deps: ["x"] }), spec("x", { workers: ["nobody"] })], "s1");
    assert.equal(s.tasks.get("y")!.state, "waiting");
    const ins = s.addData("c", W1, [{ key: "x", nbytes: 1 }], "scatter");
    assert.deepEqual(computes(ins), [[W1, "y"]]);
  });

  // protects: a dependency the scheduler does not know (cancelled or released) cancels the task,
  // naming both keys, and nothing runs
  it("an unknown dependency cancels the task naming both keys", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    const ins = s.updateGraph("c", [spec("y", { deps: ["ghost"] })], "s1");
    const [msg] = toClient(ins, "key-cancelled");
    assert.equal(msg!.key, "y");
    assert.match(String(msg!.reason), /"ghost".*does not know/);
    assert.deepEqual(computes(ins), []);
  });

  // protects: only the worker a task was sent to may finish it; another worker's (or a stale)
  // result is freed there and changes nothing, and an unknown worker is ignored
  it("results from the wrong worker are freed there, not taken", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    const placed = computes(s.updateGraph("c", [spec("a")], "s1"));
    const [on] = placed[0]!;
    const other = on === W1 ? W2 : W1;
    assert.deepEqual(frees(s.taskFinished(other, "a", 8, 0.1, "s2")), [[other, "a"]]);
    assert.equal(s.tasks.get("a")!.state, "processing");
    assert.deepEqual(s.taskFinished("tcp://stranger:1", "a", 8, 0.1, "s3"), []);
    assert.deepEqual(s.taskErred(other, "a", { name: "Error", message: "x", stack: "" }, "s4"), []);
    assert.deepEqual(s.missingData(other, "a", "none", [], "s5"), []);
    assert.equal(s.tasks.get("a")!.state, "processing");
    assert.equal(s.finished, 0);
    s.taskFinished(on as string, "a", 8, 0.1, "s6");
    assert.equal(s.tasks.get("a")!.state, "memory");
    assert.equal(s.finished, 1);
  });

  // protects: a worker that could not fetch a dependency from any holder makes the scheduler
  // drop those copies, recompute the dependency and rerun the task once it is back; (regression)
  // the holders' byte counts drop with the copies (they used to keep them, and grow with
  // every recomputation: adaptive scaling then saw bytes no worker held)
  it("missing-data: the copies are dropped, the dependency recomputed, the task rerun", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    s.updateGraph("c", [spec("x", { workers: ["1"] }), spec("y", { deps: ["x"], workers: ["2"] })], "s1");
    assert.deepEqual(computes(s.taskFinished(W1, "x", 8, 0.1, "s2")), [[W2, "y"]]);
    const ins = s.missingData(W2, "y", "x", [W1], "s3");
    assert.deepEqual(s.whoHas(["x"]), { x: [] });
    assert.deepEqual(computes(ins), [[W1, "x"]]);
    assert.equal(s.tasks.get("y")!.state, "waiting");
    assert.equal(s.workload(1).nbytes, 0, "the dropped copy no longer counts");
    assert.deepEqual(computes(s.taskFinished(W1, "x", 8, 0.1, "s4")), [[W2, "y"]]);
    assert.equal(s.workers.get(W1)!.nbytes, 8, "one copy, counted once");
    s.missingData(W2, "y", "x", [W2], "s5"); // names a holder that never had x
    assert.deepEqual([s.whoHas(["x"]).x, s.workers.get(W1)!.nbytes, s.workers.get(W2)!.nbytes], [[W1], 8, 0]);
  });

  // protects: a released task is dropped in whatever state it is: never run if waiting or
  // queued, freed on its worker if processing, forgotten if erred
  it("releasing waiting, queued, processing and erred tasks forgets them", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("q", { workers: ["nobody"] }), spec("w", { deps: ["q"] }), spec("p"), spec("e")], "s1");
    s.taskErred(W1, "e", { name: "Error", message: "boom", stack: "" }, "s2");
    assert.deepEqual([s.tasks.get("q")!.state, s.tasks.get("w")!.state, s.tasks.get("p")!.state, s.tasks.get("e")!.state], ["queued", "waiting", "processing", "erred"]);
    assert.equal(s.failed, 1);
    assert.deepEqual(s.releaseKeys("c", ["w"], "r1"), []);
    assert.equal(s.tasks.has("w"), false);
    assert.equal(s.tasks.get("q")!.state, "queued", "still wanted by the client");
    s.releaseKeys("c", ["q", "e"], "r2");
    assert.deepEqual([s.tasks.has("q"), s.tasks.has("e")], [false, false]);
    assert.deepEqual(frees(s.releaseKeys("c", ["p"], "r3")), [[W1, "p"]]);
    assert.equal(s.tasks.size, 0);
    assert.equal(s.idle(), true);
  });

  // protects: a dependent running with an input that was lost is stopped (freed on its worker)
  // and waits for the input's recomputation
  it("a lost input stops its running dependent until recomputed", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    s.updateGraph("c", [spec("x", { workers: ["1"], allowOtherWorkers: true }), spec("y", { deps: ["x"], workers: ["2"] })], "s1");
    s.taskFinished(W1, "x", 8, 0.1, "s2");
    assert.equal(s.tasks.get("y")!.state, "processing");
    const ins = s.removeWorker(W1, "died");
    assert.deepEqual(frees(ins), [[W2, "y"]]);
    assert.deepEqual(computes(ins), [[W2, "x"]]);
    assert.equal(s.tasks.get("y")!.state, "waiting");
    assert.deepEqual(computes(s.taskFinished(W2, "x", 8, 0.1, "s3")), [[W2, "y"]]);
  });

  // protects: idle() (the scheduler's "all done" test) is false while anything is queued or
  // running, true otherwise
  it("idle only when nothing is queued or processing", () => {
    const s = new SchedulerState();
    assert.equal(s.idle(), true);
    s.updateGraph("c", [spec("a")], "s1");
    assert.equal(s.idle(), false, "queued");
    s.addWorker(worker("1"), 0);
    assert.equal(s.idle(), false, "processing");
    s.taskFinished(W1, "a", 1, 0.1, "s2");
    assert.equal(s.idle(), true);
    assert.deepEqual(s.counts(), { memory: 1 });
  });

  // protects: retirement's view of which keys only one worker holds, and replicas it adds
  it("uniqueKeys and addReplica", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    s.updateGraph("c", [spec("x", { workers: ["1"] }), spec("q", { workers: ["nobody"] })], "s1");
    s.taskFinished(W1, "x", 8, 0.1, "s2");
    assert.deepEqual(s.uniqueKeys(W1).map((t) => t.key), ["x"]);
    assert.deepEqual(s.uniqueKeys(W2), []);
    assert.deepEqual(s.uniqueKeys("tcp://nobody:1"), []);
    s.addReplica("q", W2, s.tasks.get("q")!.run); // not in memory: no replica of nothing
    assert.deepEqual(s.whoHas(["q"]), { q: [] });
    s.addReplica("x", W2, s.tasks.get("x")!.run);
    s.addReplica("x", W2, s.tasks.get("x")!.run);
    assert.deepEqual(s.whoHas(["x"]).x!.sort(), [W1, W2]);
    assert.deepEqual(s.uniqueKeys(W1), []);
    assert.equal(s.workload(1).nbytes, 16, "each copy counted once");
  });

  // protects: a paused worker gets no new tasks; resuming fills it
  it("a paused worker gets nothing until it resumes", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    assert.deepEqual(s.setPaused(W1, true, "p"), []);
    assert.deepEqual(computes(s.updateGraph("c", [spec("a")], "s1")), []);
    assert.deepEqual(computes(s.setPaused(W1, false, "r")), [[W1, "a"]]);
    assert.deepEqual(s.setPaused("tcp://nobody:1", false, "r2"), []);
  });

  // protects: the adaptive-scaling inputs: memory limits added up (0 = unlimited, counted
  // apart), idle workers fewest bytes first; durations as an EWMA per key prefix
  it("workload memory totals, idle order, and duration averages", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1", 100), 0);
    s.addWorker(worker("2", 0), 0);
    s.addWorker(worker("3", 50), 0);
    s.updateGraph("c", [spec("inc-1", { workers: ["1"] })], "s1");
    s.taskFinished(W1, "inc-1", 30, 1, "s2");
    s.updateGraph("c", [spec("inc-2", { workers: ["1"] })], "s3");
    s.taskFinished(W1, "inc-2", 0, 2, "s4");
    assert.ok(Math.abs(s.durations.get("inc")! - 1.3) < 1e-9, String(s.durations.get("inc")));
    const w = s.workload(1);
    assert.deepEqual([w.memoryLimit, w.unlimited, w.nthreads, w.workers], [150, 1, 3, 3]);
    assert.deepEqual(w.idleWorkers.map((i) => [i.name, i.nbytes]).slice(-1), [["1", 30]]);
    s.heartbeat(W1, { rss: 5 }, 123);
    assert.deepEqual([s.workers.get(W1)!.lastSeen, s.workers.get(W1)!.metrics], [123, { rss: 5 }]);
    s.heartbeat("tcp://nobody:1", {}, 1);
  });
});
