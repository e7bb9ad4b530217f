import assert from "node:assert/strict";
import { type Instruction, MIN_SATURATION, SchedulerState } from "../../src/scheduler/state.js";
import type { TaskSpec } from "../../src/protocol/messages.js";

const spec = (key: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({ key, fn: "x => x", args: [new Uint8Array([0x90])], deps: [], ...extra });
const worker = (name: string, nthreads = 1, resources?: Record<string, number>) => ({ address: `tcp://w${name}:1`, name, host: "h", nthreads, memoryLimit: 0, pid: 1, resources });
const computes = (ins: Instruction[]) =>
  ins.filter((i) => i.type === "send-worker" && i.msg.op === "compute-task").map((i) => [(i as { worker: string }).worker, i.msg.key]);
const toClient = (ins: Instruction[], op: string) => ins.filter((i) => i.type === "send-client" && i.msg.op === op).map((i) => i.msg.key);

describe("scheduler state machine", () => {
  it("queues tasks until a worker arrives, then fills its slots only", () => {
    const s = new SchedulerState();
    s.addClient("c");
    assert.deepEqual(computes(s.updateGraph("c", [spec("a"), spec("b"), spec("c")], "s1")), []);
    assert.equal(s.tasks.get("a")!.state, "queued");
    const ins = s.addWorker(worker("1"), 0);
    assert.equal(computes(ins).length, MIN_SATURATION);
    assert.equal(s.tasks.get("c")!.state, "queued");
  });

  it("reports a finished task to the clients that want it and gives the slot to the next task", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("a"), spec("b"), spec("c")], "s1");
    const ins = s.taskFinished("tcp://w1:1", "a", 8, 0.5, "s2");
    const news = ins.find((i) => i.type === "send-client")!.msg;
    assert.deepEqual([news.op, news.key, news.nbytes, news.worker], ["key-in-memory", "a", 8, "tcp://w1:1"]);
    assert.deepEqual(computes(ins), [["tcp://w1:1", "c"]]);
    assert.deepEqual(s.whoHas(["a"]), { a: ["tcp://w1:1"] });
    assert.deepEqual(
      s.story("a").map((e) => `${e.from}->${e.to}`),
      ["released->waiting", "waiting->queued", "queued->processing", "processing->memory"],
    );
  });

  it("fast tasks get a deeper pipeline per worker than slow or unknown ones", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", Array.from({ length: 100 }, (_, i) => spec(`inc-${i}`)), "s1");
    const more = s.taskFinished("tcp://w1:1", "inc-0", 1, 0.0001, "s2");
    assert.ok(computes(more).length > 10, `a 100 us task prefix gets many slots, got ${computes(more).length}`);
  });

  it("runs a dependency first and sends the dependent with the dependency's holders", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    let ins = s.updateGraph("c", [spec("x"), spec("y", { deps: ["x"] })], "s1");
    assert.deepEqual(computes(ins).map((c) => c[1]), ["x"]);
    assert.equal(s.tasks.get("y")!.state, "waiting");
    const xOn = String(computes(ins)[0]![0]);
    ins = s.taskFinished(xOn, "x", 1000, 0.1, "s2");
    const send = ins.find((i) => i.type === "send-worker" && i.msg.op === "compute-task")!;
    assert.equal((send as { worker: string }).worker, xOn, "placed where its dependency's bytes are");
    assert.deepEqual(send.msg.deps, [["x", s.tasks.get("x")!.run, [xOn]]]);
    // the client lets go of x: it is kept while y needs it, then released and freed
    s.releaseKeys("c", ["x"], "s3");
    assert.equal(s.tasks.get("x")!.state, "memory");
    ins = s.taskFinished(xOn, "y", 8, 0.1, "s3");
    assert.ok(ins.some((i) => i.type === "send-worker" && i.msg.op === "free-keys" && (i.msg.keys as string[]).includes("x")));
    assert.equal(s.tasks.get("x")!.state, "released");
    s.releaseKeys("c", ["y"], "s4");
    assert.equal(s.tasks.size, 0, "everything forgotten once y is released");
  });

  it("an error propagates to dependents, and retries rerun a failing task", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("a", { retries: 1 }), spec("b", { deps: ["a"] })], "s1");
    const err = { name: "Error", message: "boom", stack: "" };
    let ins = s.taskErred("tcp://w1:1", "a", err, "s2");
    assert.deepEqual(computes(ins), [["tcp://w1:1", "a"]], "one retry");
    ins = s.taskErred("tcp://w1:1", "a", err, "s3");
    assert.deepEqual(toClient(ins, "key-erred").sort(), ["a", "b"]);
    assert.equal(ins.find((i) => i.msg.key === "b" && i.msg.op === "key-erred")!.msg.because, "a");
  });

  it("a key that erred, was released and then computed again keeps no old error: wanted again, it is computed, not erred", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("a"), spec("b", { deps: ["a"] })], "s1");
    s.taskErred("tcp://w1:1", "a", { name: "Error", message: "boom", stack: "" }, "s2");
    // the client lets go of a and keeps b (erred because of a): a is released, kept for b
    s.releaseKeys("c", ["a"], "s3");
    assert.equal(s.tasks.get("a")!.state, "released");
    // a new task needs a: a runs again and succeeds this time
    let ins = s.updateGraph("c", [spec("z", { deps: ["a"] })], "s4");
    assert.deepEqual(computes(ins), [["tcp://w1:1", "a"]]);
    ins = s.taskFinished("tcp://w1:1", "a", 8, 0.1, "s5");
    s.taskFinished("tcp://w1:1", "z", 8, 0.1, "s6");
    s.releaseKeys("c", ["z"], "s7");
    assert.equal(s.tasks.get("a")!.state, "released");
    // wanted again: its last run succeeded, so it is computed, not erred with the first run's error
    ins = s.updateGraph("c", [spec("a")], "s8");
    assert.deepEqual(toClient(ins, "key-erred"), []);
    assert.deepEqual(computes(ins), [["tcp://w1:1", "a"]]);
  });

  it("an erred key released and submitted again is computed again (its error is not kept), as in Dask", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("a"), spec("b", { deps: ["a"] })], "s1");
    s.taskErred("tcp://w1:1", "a", { name: "Error", message: "flaky", stack: "" }, "s2");
    s.releaseKeys("c", ["a"], "s3");
    assert.equal(s.tasks.get("a")!.state, "released");
    const ins = s.updateGraph("c", [spec("a")], "s4");
    assert.deepEqual(toClient(ins, "key-erred"), []);
    assert.deepEqual(computes(ins), [["tcp://w1:1", "a"]]);
  });

  it("honours worker restrictions by name, and resources", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2", 1, { GPU: 1 }), 0);
    assert.deepEqual(computes(s.updateGraph("c", [spec("p", { workers: ["1"] })], "s1")), [["tcp://w1:1", "p"]]);
    const ins = s.updateGraph("c", [spec("g1", { resources: { GPU: 1 } }), spec("g2", { resources: { GPU: 1 } })], "s2");
    assert.deepEqual(computes(ins), [["tcp://w2:1", "g1"]], "one GPU: one task at a time");
    assert.deepEqual(computes(s.taskFinished("tcp://w2:1", "g1", 1, 0.1, "s3")), [["tcp://w2:1", "g2"]]);
  });

  it("a task restricted to a missing worker waits, unless allowOtherWorkers", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    assert.deepEqual(computes(s.updateGraph("c", [spec("p", { workers: ["9"] })], "s1")), []);
    assert.deepEqual(computes(s.updateGraph("c", [spec("q", { workers: ["9"], allowOtherWorkers: true })], "s2")), [["tcp://w1:1", "q"]]);
    assert.deepEqual(computes(s.addWorker(worker("9"), 0)), [["tcp://w9:1", "p"]]);
  });

  it("higher priority runs first", () => {
    const s = new SchedulerState();
    s.updateGraph("c", [spec("low"), spec("high", { priority: 10 })], "s1");
    assert.deepEqual(computes(s.addWorker(worker("1"), 0)).map((c) => c[1]), ["high", "low"]);
  });

  it("reruns a dead worker's tasks and recomputes results only it held, with their lineage", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("a"), spec("b", { deps: ["a"] })], "s1");
    s.taskFinished("tcp://w1:1", "a", 1, 0.1, "s2");
    const ins = s.removeWorker("tcp://w1:1", "s3");
    assert.equal(s.tasks.get("b")!.state, "waiting");
    assert.ok(["waiting", "queued"].includes(s.tasks.get("a")!.state), "a is recomputed for b");
    assert.deepEqual(toClient(ins, "key-lost"), ["a"], "the client hears that its result is being recomputed");
    const again = s.addWorker(worker("2"), 0);
    assert.deepEqual(computes(again).map((c) => c[1]), ["a"]);
  });

  // Protects: a value whose spill file changed after its write made the tasks needing it err,
  // and the scheduler kept listing its worker as a holder (a gather asked it for good)
  it("release-worker-data: the worker is no holder; its tasks needing the value run again; a last copy is computed again, a stale report only requeues", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    s.updateGraph("c", [spec("a", { workers: ["1"] }), spec("b", { deps: ["a"], workers: ["1"] }), spec("z", { workers: ["2"] })], "s1");
    s.taskFinished("tcp://w1:1", "a", 1, 0.1, "s2");
    s.taskFinished("tcp://w2:1", "z", 1, 0.1, "s2b");
    assert.equal(s.tasks.get("b")!.processingOn, "tcp://w1:1");
    const run = s.tasks.get("a")!.run;
    // a report about another value of a: holders kept, b (dropped there) placed again
    const stale = s.releaseWorkerData("tcp://w1:1", ["a", "unknown"], { a: run + 1 }, "s3");
    assert.deepEqual(s.whoHas(["a"]), { a: ["tcp://w1:1"] });
    assert.deepEqual(computes(stale), [["tcp://w1:1", "b"]]);
    // the real loss of the last copy: a computed again, its client told, b waits for it
    const ins = s.releaseWorkerData("tcp://w1:1", ["a"], { a: run }, "s4");
    assert.deepEqual(s.whoHas(["a"]), { a: [] });
    assert.deepEqual(toClient(ins, "key-lost"), ["a"]);
    assert.deepEqual(computes(ins), [["tcp://w1:1", "a"]]);
    assert.equal(s.tasks.get("b")!.state, "waiting");
    // z, lost without a number (after a take-over): computed again
    const z = s.releaseWorkerData("tcp://w2:1", ["z"], {}, "s5");
    assert.deepEqual(toClient(z, "key-lost"), ["z"]);
    assert.deepEqual(computes(z), [["tcp://w2:1", "z"]]);
  });

  it("retry: the erred tasks a key erred because of and those that erred with them wait again, their clients told; others are left alone", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1", 4), 0);
    s.updateGraph("c", [spec("a"), spec("b", { deps: ["a"] }), spec("x"), spec("d", { deps: ["a", "x"] }), spec("ok")], "s1");
    s.taskErred("tcp://w1:1", "a", { name: "Error", message: "boom", stack: "" }, "s2");
    s.taskErred("tcp://w1:1", "x", { name: "Error", message: "other", stack: "" }, "s3");
    s.taskFinished("tcp://w1:1", "ok", 1, 0.1, "s4");
    assert.deepEqual(["a", "b", "x", "d"].map((k) => s.tasks.get(k)!.state), ["erred", "erred", "erred", "erred"]);
    // b alone: a, which b erred because of, and d, which erred with a, run again; d errs again at once (x still erred)
    const { keys, instructions } = s.retry(["b", "ok", "nope"], "s5");
    assert.deepEqual(keys.sort(), ["a", "b", "d"]);
    assert.deepEqual(toClient(instructions, "key-lost").sort(), ["a", "b", "d"]);
    assert.deepEqual(computes(instructions), [["tcp://w1:1", "a"]]);
    assert.equal(s.tasks.get("a")!.error, undefined);
    assert.equal(s.tasks.get("b")!.state, "waiting");
    assert.equal(s.tasks.get("d")!.state, "erred", "d also depends on x, still erred");
    assert.equal(s.tasks.get("d")!.erredBecause, "x");
    assert.equal(s.tasks.get("ok")!.state, "memory");
    const done = s.taskFinished("tcp://w1:1", "a", 1, 0.1, "s6");
    assert.deepEqual(computes(done), [["tcp://w1:1", "b"]]);
    assert.deepEqual(s.retry(["a"], "s7").keys, [], "a key not erred: nothing");
  });

  it("a task whose workers keep dying errs with KilledWorkerError after allowed-failures deaths", () => {
    const s = new SchedulerState({ allowedFailures: 3 });
    s.updateGraph("c", [spec("bad")], "s1");
    let ins: Instruction[] = [];
    for (let i = 0; i < 3; i++) {
      s.addWorker(worker(String(i)), 0);
      s.executing(`tcp://w${i}:1`, ["bad"]);
      ins = s.removeWorker(`tcp://w${i}:1`, `death-${i}`);
    }
    assert.equal(s.tasks.get("bad")!.state, "erred");
    assert.equal(ins.find((i) => i.msg.op === "key-erred")!.msg.error && (ins.find((i) => i.msg.op === "key-erred")!.msg.error as { name: string }).name, "KilledWorkerError");
  });

  it("a worker's death counts only against the tasks that were on its threads", () => {
    const s = new SchedulerState({ allowedFailures: 1 });
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("running"), spec("waiting-its-turn")], "s1");
    s.executing("tcp://w1:1", ["running"]);
    s.removeWorker("tcp://w1:1", "death");
    assert.equal(s.tasks.get("running")!.state, "erred");
    assert.equal(s.tasks.get("waiting-its-turn")!.state, "queued");
  });

  it("a key shared by two clients lives until both release it; cancel drops it for all", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c1", [spec("k")], "s1");
    s.updateGraph("c2", [spec("k")], "s2");
    s.removeClient("c1", "s3");
    assert.equal(s.tasks.get("k")!.state, "processing");
    const ins = s.cancelKeys(["k"], "s4");
    assert.deepEqual(toClient(ins, "key-cancelled"), ["k"]);
    assert.equal(s.tasks.has("k"), false);
  });

  // Regression (issue 12, point 2): cancelling a running task used to leave its dependent
  // waiting for it, so the cancelled task's late result went to memory and the dependent ran on
  // it. Cancel must cancel the dependents (recursively), through the transition table, and drop
  // a result that arrives afterwards, with the story telling both.
  it("cancel cancels the key and every dependent, and drops a late result of the cancelled key", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1", 2), 0);
    s.updateGraph("c1", [spec("a"), spec("b", { deps: ["a"] }), spec("d", { deps: ["b"] })], "s1");
    s.updateGraph("c2", [spec("b")], "s2");
    s.executing("tcp://w1:1", ["a"]);
    const ins = s.cancelKeys(["a"], "cancel-1", "c1 cancelled it");
    const cancelled = ins.filter((i) => i.type === "send-client" && i.msg.op === "key-cancelled").map((i) => [(i as { client: string }).client, i.msg.key, i.msg.reason]);
    assert.deepEqual(cancelled, [
      ["c1", "d", 'it depends on "a", which was cancelled'],
      ["c1", "b", 'it depends on "a", which was cancelled'],
      ["c2", "b", 'it depends on "a", which was cancelled'],
      ["c1", "a", "c1 cancelled it"],
    ]);
    assert.ok(ins.some((i) => i.type === "send-worker" && i.msg.op === "free-keys" && (i.msg.keys as string[]).includes("a")), "the worker drops the running task");
    assert.equal(s.tasks.size, 0, "all forgotten");
    assert.equal(s.workers.get("tcp://w1:1")!.processing.size, 0);
    assert.deepEqual(
      s.story("a").map((e) => [e.from, e.to, e.stimulusId, e.reason]),
      [
        ["released", "waiting", "s1", undefined],
        ["waiting", "queued", "s1", undefined],
        ["queued", "processing", "s1", undefined],
        ["processing", "released", "cancel-1", "c1 cancelled it"],
        ["released", "forgotten", "cancel-1", undefined],
      ],
    );
    assert.deepEqual(s.story("b").slice(-2).map((e) => [e.from, e.to, e.stimulusId, e.reason]), [
      ["waiting", "released", "cancel-1", 'it depends on "a", which was cancelled'],
      ["released", "forgotten", "cancel-1", undefined],
    ]);
    // the worker finished a before it heard: the result goes to no one, and is freed there
    const late = s.taskFinished("tcp://w1:1", "a", 8, 1, "task-finished-2", [Buffer.from([0x2a])]);
    assert.deepEqual(late, [{ type: "send-worker", worker: "tcp://w1:1", msg: { op: "free-keys", keys: ["a"] } }]);
    assert.equal(s.tasks.has("a"), false);
    const dropped = s.story("a").at(-1)!;
    assert.deepEqual([dropped.stimulusId, dropped.from, dropped.to, dropped.reason], ["task-finished-2", "forgotten", "forgotten", "result from tcp://w1:1 dropped: the key was cancelled or released"]);
    assert.equal(s.finished, 0, "a dropped result is not a finished task");
  });

  it("cancel of a key in memory cancels dependents in every state and frees their data", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1", 4), 0);
    s.updateGraph("c", [spec("a"), spec("m", { deps: ["a"] }), spec("p", { deps: ["a"] }), spec("w", { deps: ["m", "x"] }), spec("x")], "s1");
    s.taskFinished("tcp://w1:1", "a", 8, 0.1, "s2");
    s.taskFinished("tcp://w1:1", "m", 8, 0.1, "s3");
    assert.deepEqual([s.tasks.get("p")!.state, s.tasks.get("w")!.state], ["processing", "waiting"]);
    const ins = s.cancelKeys(["a"], "cancel-4", "c cancelled it");
    assert.deepEqual(toClient(ins, "key-cancelled").sort(), ["a", "m", "p", "w"]);
    const freed = ins.filter((i) => i.type === "send-worker" && i.msg.op === "free-keys").flatMap((i) => i.msg.keys as string[]);
    assert.deepEqual(freed.sort(), ["a", "m", "p"]);
    assert.deepEqual([...s.tasks.keys()], ["x"], "x, wanted by the client and not depending on a, stays");
    assert.equal(s.tasks.get("x")!.state, "processing");
  });

  // a dependent submitted after the cancel must not run on a stale value: it is cancelled
  it("a task submitted on a key the scheduler no longer knows is cancelled, with its dependents", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    const ins = s.updateGraph("c", [spec("k"), spec("late", { deps: ["gone"] }), spec("later", { deps: ["late", "k"] })], "s5");
    assert.deepEqual(computes(ins), [["tcp://w1:1", "k"]], "only k runs");
    const cancelled = ins.filter((i) => i.type === "send-client" && i.msg.op === "key-cancelled").map((i) => [i.msg.key, i.msg.reason]);
    assert.deepEqual(cancelled, [
      ["later", 'it depends on "late", which was cancelled'],
      ["late", 'it depends on "gone", which the scheduler does not know (cancelled or released)'],
    ]);
    assert.deepEqual([...s.tasks.keys()], ["k"]);
    assert.deepEqual([...s.tasks.get("k")!.dependents], [], "k lost its cancelled dependent");
  });

  it("restart cancels every task with one reason", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("a"), spec("b", { deps: ["a"] })], "s1");
    const ins = s.cancelAll("the cluster was restarted", "restart-1");
    assert.deepEqual(ins.filter((i) => i.msg.op === "key-cancelled").map((i) => [i.msg.key, i.msg.reason]).sort(), [["a", "the cluster was restarted"], ["b", "the cluster was restarted"]]);
    assert.equal(s.tasks.size, 0);
  });

  // protects adaptive scaling's inputs: queued and processing work in expected seconds, from
  // measured durations per key prefix, and which workers are idle
  it("workload() sums expected seconds of queued and processing tasks from measured durations", () => {
    const s = new SchedulerState();
    s.updateGraph("c", Array.from({ length: 6 }, (_, i) => spec(`slow-${i}`)), "s1");
    assert.deepEqual(s.workload(0.5), {
      queuedTasks: 6, queuedSeconds: 3, processingTasks: 0, processingSeconds: 0, workers: 0, nthreads: 0, nbytes: 0, memoryLimit: 0, unlimited: 0, idleWorkers: [],
    });
    s.addWorker(worker("1", 1), 0);
    s.addWorker(worker("2", 1), 0);
    // each takes MIN_SATURATION tasks; one finishes after 2 s, so the prefix is known to take 2 s
    const onW1 = [...s.workers.get("tcp://w1:1")!.processing].map((t) => t.key);
    s.taskFinished("tcp://w1:1", onW1[0]!, 8, 2, "s2");
    const w = s.workload(0.5);
    assert.equal(w.processingTasks, 4);
    assert.equal(w.processingSeconds, 8);
    assert.equal(w.queuedTasks, 1);
    assert.equal(w.queuedSeconds, 2);
    assert.deepEqual([w.workers, w.nthreads, w.nbytes, w.unlimited, w.idleWorkers], [2, 2, 8, 2, []]);
    const idle = new SchedulerState();
    idle.addWorker(worker("a"), 0);
    idle.addWorker(worker("b"), 0);
    idle.setClosing(["tcp://wb:1"]);
    assert.deepEqual(idle.workload(0.5).idleWorkers, [{ name: "a", nbytes: 0, memoryLimit: 0 }], "a retiring worker is not offered again");
  });
  // Protects: every state change goes through the transition table (no bypass), so scattered data
  // and its loss tell their story like any task, and wake their dependents.
  it("scattered data and its loss are transitions: released->memory wakes dependents, memory->erred errs them", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("b", { deps: ["x"] })], "s0"); // x unknown: b is cancelled
    s.addData("c", "tcp://w1:1", [{ key: "x", nbytes: 4 }], "scatter");
    assert.deepEqual(computes(s.updateGraph("c", [spec("y", { deps: ["x"] })], "s1")), [["tcp://w1:1", "y"]]);
    assert.deepEqual(s.story("x").map((e) => `${e.from}->${e.to}:${e.stimulusId}`), ["released->memory:scatter"]);
    s.removeWorker("tcp://w1:1", "gone");
    assert.deepEqual(s.story("x").map((e) => `${e.from}->${e.to}:${e.stimulusId}`), ["released->memory:scatter", "memory->erred:gone"]);
    assert.equal(s.tasks.get("x")!.error!.name, "LostDataError");
  });

  // Protects: a queued key that a client scatters leaves the queue (it is in memory now); before the
  // scatter went through the table, the key stayed queued and was later sent to a worker to compute.
  it("a queued key that is scattered leaves the queue and is never computed", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("a"), spec("b"), spec("q")], "s1");
    assert.equal(s.tasks.get("q")!.state, "queued");
    s.addData("c", "tcp://w1:1", [{ key: "q", nbytes: 1 }], "scatter");
    const after = [...s.taskFinished("tcp://w1:1", "a", 1, 0.1, "s2"), ...s.taskFinished("tcp://w1:1", "b", 1, 0.1, "s3")];
    assert.deepEqual(computes(after), []);
    assert.equal(s.tasks.get("q")!.state, "memory");
    assert.ok(s.idle());
  });

  // Protects (issue 14, point 1): a seceded task (long-running) stays processing on its worker
  // but takes no slot: the worker gets a task in its place; its end frees no slot twice.
  it("does not count a long-running (seceded) task towards its worker's occupancy", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("a"), spec("b"), spec("c"), spec("d")], "s1");
    assert.equal(s.occupancy("tcp://w1:1"), MIN_SATURATION);
    assert.equal(s.tasks.get("c")!.state, "queued");
    // a task that is not processing there (or an unknown one) changes nothing
    assert.deepEqual(computes(s.longRunning("tcp://w1:1", "c", "s2")), []);
    assert.deepEqual(computes(s.longRunning("tcp://w9:1", "a", "s2")), []);
    assert.deepEqual(computes(s.longRunning("tcp://w1:1", "a", "s3")), [["tcp://w1:1", "c"]]);
    assert.equal(s.tasks.get("a")!.state, "processing");
    assert.equal(s.occupancy("tcp://w1:1"), MIN_SATURATION);
    assert.equal(s.workers.get("tcp://w1:1")!.processing.size, MIN_SATURATION + 1);
    // told twice (a repeated message): still one task out of the count
    assert.deepEqual(computes(s.longRunning("tcp://w1:1", "a", "s4")), []);
    // the seceded task ends: it leaves processing and long-running, and its end frees no slot
    // for a queued task (it held none); a task that held a slot frees one
    assert.deepEqual(computes(s.taskFinished("tcp://w1:1", "a", 1, 5, "s5")), []);
    assert.equal(s.workers.get("tcp://w1:1")!.longRunning.size, 0);
    assert.deepEqual(computes(s.taskFinished("tcp://w1:1", "b", 1, 0.5, "s6")), [["tcp://w1:1", "d"]]);
    // a worker that dies with a seceded task: it is rescheduled like any processing task
    s.longRunning("tcp://w1:1", "c", "s7");
    s.removeWorker("tcp://w1:1", "s8");
    assert.equal(s.tasks.get("c")!.state, "queued");
    assert.equal(s.occupancy("tcp://w1:1"), 0);
  });

  // Regression (load loop, run 4 at ee93e2c): a key cancelled while it ran and submitted again
  // went to the same worker; the old run's result, sent before the worker heard of the cancel,
  // was taken as the new task's (a wrong value). Each assignment has a run number now, echoed by
  // the worker, and a finish of an earlier run is dropped.
  it("a result of an earlier run of a key is dropped, the current run's is taken", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    const first = s.updateGraph("c", [spec("reused")], "s1").find((i) => i.type === "send-worker" && i.msg.op === "compute-task")!;
    const oldRun = first.msg.run as number;
    assert.equal(typeof oldRun, "number");
    s.cancelKeys(["reused"], "s2");
    const second = s.updateGraph("c", [spec("reused", { fn: "x => x * 100" })], "s3").find((i) => i.type === "send-worker" && i.msg.op === "compute-task")!;
    const newRun = second.msg.run as number;
    assert.notEqual(newRun, oldRun);
    assert.deepEqual(toClient(s.taskFinished("tcp://w1:1", "reused", 8, 0.1, "s4", undefined, oldRun), "key-in-memory"), [], "the stale run's result is dropped");
    assert.equal(s.tasks.get("reused")?.state, "processing");
    assert.deepEqual(toClient(s.taskFinished("tcp://w1:1", "reused", 8, 0.1, "s5", undefined, newRun), "key-in-memory"), ["reused"]);
  });

  // take-over (issue 16): a holder that re-registers after its keys were placed again elsewhere
  // hands its result over, and the new run is stopped (it used to be freed, and computed again)
  it("a late holder's result is taken from it; the run computing the key again elsewhere is stopped", () => {
    const s = new SchedulerState();
    s.addClient("c");
    s.updateGraph("c", [spec("k")], "s1");
    const ins0 = s.addWorker(worker("1"), 0);
    assert.deepEqual(computes(ins0), [["tcp://w1:1", "k"]]);
    const { instructions, unknown } = s.addWorkersHolding([{ info: worker("2"), held: { k: 8, gone: 8 } }], 0, "s2");
    assert.equal(s.tasks.get("k")!.state, "memory");
    assert.deepEqual(s.whoHas(["k"]), { k: ["tcp://w2:1"] });
    assert.deepEqual(toClient(instructions, "key-in-memory"), ["k"]);
    const frees = instructions.filter((i) => i.type === "send-worker" && i.msg.op === "free-keys").map((i) => [(i as { worker: string }).worker, i.msg.keys]);
    assert.deepEqual(frees, [["tcp://w1:1", ["k"]]]);
    assert.deepEqual(unknown.get("tcp://w2:1"), ["gone"], "only what the graph does not know is freed on the holder");
    assert.equal(s.occupancy("tcp://w1:1"), 0);
    // the stopped run's report is dropped
    assert.deepEqual(toClient(s.taskFinished("tcp://w1:1", "k", 8, 0.1, "s3"), "key-in-memory"), []);
    assert.deepEqual(s.whoHas(["k"]), { k: ["tcp://w2:1"] });
  });

  it("keys erred before a take-over are erred again, their dependents with them, not computed", () => {
    const s = new SchedulerState();
    s.addClient("c");
    s.updateGraph("c", [spec("a"), spec("b", { deps: ["a"] }), spec("ok")], "s1");
    const error = { name: "Error", message: "on purpose", stack: "" };
    const ins = s.restoreErred([["a", error], ["nope", error]], "s2");
    assert.deepEqual(toClient(ins, "key-erred").sort(), ["a", "b"]);
    assert.equal(s.tasks.get("b")!.state, "erred");
    assert.deepEqual(computes(s.addWorker(worker("1"), 0)), [["tcp://w1:1", "ok"]]);
  });

  // protects: a scatter whose worker left between put-data and add-keys was reported in memory
  // with no holder, and a gather of it asked who-has until its timeout (forever, without one)
  it("data scattered to a worker that has left is lost at once, not reported in memory", () => {
    const s = new SchedulerState();
    s.addClient("c");
    s.addWorker(worker("1"), 0);
    const ins = s.addData("c", "tcp://gone:1", [{ key: "data-1", nbytes: 8 }], "s1");
    assert.deepEqual(toClient(ins, "key-in-memory"), []);
    assert.deepEqual(toClient(ins, "key-erred"), ["data-1"]);
    assert.match(String(s.tasks.get("data-1")!.error?.message), /"data-1" was lost: its worker tcp:\/\/gone:1 left before/);
    // a copy that did reach a live worker (a broadcast) brings it back
    const again = s.addData("c", "tcp://w1:1", [{ key: "data-1", nbytes: 8 }], "s2");
    assert.deepEqual(toClient(again, "key-in-memory"), ["data-1"]);
    assert.equal(s.tasks.get("data-1")!.state, "memory");
    assert.equal(s.tasks.get("data-1")!.error, undefined);
  });

  // scattered data the journal kept: no lineage, so it waits for its holder and is never computed
  it("scattered keys replayed by a take-over wait for their holder; tasks on them wait too, and run once it is back", () => {
    const s = new SchedulerState();
    s.addClient("c");
    s.awaitScattered("c", ["data-1"], "s1");
    assert.deepEqual(computes(s.updateGraph("c", [spec("use", { deps: ["data-1"] })], "s2")), []);
    assert.equal(s.tasks.get("data-1")!.state, "waiting");
    assert.equal(s.tasks.get("use")!.state, "waiting", "waits for the scattered key, does not err");
    const { instructions } = s.addWorkersHolding([{ info: worker("1"), held: { "data-1": 8 } }], 0, "s3");
    assert.deepEqual(toClient(instructions, "key-in-memory"), ["data-1"]);
    assert.deepEqual(computes(instructions), [["tcp://w1:1", "use"]]);
    assert.deepEqual(toClient(s.lostScattered("s4"), "key-erred"), [], "what came back is not lost");
    assert.equal(s.tasks.get("data-1")!.state, "memory");
  });

  it("scattered keys whose holder is not back after the grace are lost, with their dependents; a worker alone never computes them", () => {
    const s = new SchedulerState();
    s.addClient("c");
    s.awaitScattered("c", ["data-1"], "s1");
    s.updateGraph("c", [spec("use", { deps: ["data-1"] })], "s2");
    // a worker holding nothing joins: nothing to place (the scattered key has no function)
    assert.deepEqual(computes(s.addWorker(worker("1"), 0)), []);
    const ins = s.lostScattered("s3");
    assert.deepEqual(toClient(ins, "key-erred").sort(), ["data-1", "use"]);
    assert.equal(s.tasks.get("data-1")!.error?.name, "LostDataError");
    assert.match(String(s.tasks.get("data-1")!.error?.message), /"data-1" was lost: the worker holding it did not come back/);
    assert.equal(s.tasks.get("use")!.error?.name, "LostDataError", "the dependent carries the cause");
    assert.deepEqual(computes(ins), []);
    // the holder coming back later still brings the value back
    const { instructions } = s.addWorkersHolding([{ info: worker("2"), held: { "data-1": 8 } }], 0, "s4");
    assert.deepEqual(toClient(instructions, "key-in-memory"), ["data-1"]);
  });
});
