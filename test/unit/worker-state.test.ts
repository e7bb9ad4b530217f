import assert from "node:assert/strict";
import type { Copy, Dependency } from "../../src/protocol/messages.js";
import { WorkerState, type WorkerInstruction } from "../../src/worker/state-machine.js";
import { Driver } from "../helpers/worker-state.js";

/** A task; each dependency's value is number 1 unless `depRuns` says otherwise. */
const task = (key: string, whoHas: Record<string, string[]> = {}, priority = 0, depRuns: Record<string, number> = {}) =>
  ({ key, fn: "x => x", args: [Buffer.from([0x90])], deps: Object.keys(whoHas).map((k) => [k, depRuns[k] ?? 1, whoHas[k]!] as Dependency), priority });
const ops = (ins: WorkerInstruction[]) =>
  ins.map((i) => (i.type === "send" ? `send ${i.msg.op} ${String(i.msg.key ?? ((i.msg.keys as string[] | undefined) ?? ((i.msg.copies as Copy[] | undefined) ?? []).map(([k]) => k)).join(","))}` : i.type === "fetch" ? `fetch ${i.worker} ${i.keys.join(",")}` : i.type === "free-data" ? `free-data ${i.keys.join(",")}` : `${i.type} ${i.key}`));
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

  // Protects: a dependency over the frame cap was refused, reported missing, and the task that
  // needed it never ran nor erred (the probe hung for good)
  it("fetches dependencies too big together one by one; one too big alone errs the tasks that need it, naming it", () => {
    const w = new Driver(2);
    const big = { bytes: 700, limit: 500 };
    assert.deepEqual(ops(w.computeTask(task("c", { x: ["tcp://a:1"], y: ["tcp://a:1"] }))), ["fetch tcp://a:1 x,y"]);
    // one at a time: two replies sent in one turn would share a frame again
    assert.deepEqual(ops(w.fetchFailed("tcp://a:1", ["x", "y"], big)), ["fetch tcp://a:1 x"]);
    assert.deepEqual(ops(w.fetchDone("tcp://a:1", { x: value("X") }, [])), ["send add-replica x", "fetch tcp://a:1 y"]);
    const erred = w.fetchFailed("tcp://a:1", ["y"], big);
    assert.deepEqual(ops(erred), ["send task-erred c"]);
    const msg = (erred[0] as Extract<WorkerInstruction, { type: "send" }>).msg;
    assert.deepEqual(msg.error, { name: "FrameTooLargeError", message: `dependency "y" on tcp://a:1 is 700 bytes as one frame, over this worker's distributed.comm.max-frame-size (500 bytes): raise it on every worker (at most 4 GiB - 1)`, stack: "" });
    assert.equal(w.tasks.size, 0);
    assert.equal(w.inFlight.size, 0);
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

  // Protects: a value whose spill file changed after its write made the tasks that needed it err
  // (they are computed again now); the tasks here that needed it must not run without it, nor
  // report a result the scheduler would take for theirs
  it("a held value lost (data-lost): dropped, the tasks here that need it dropped, their slots back, the scheduler told with the value's number", () => {
    const w = new Driver(1);
    w.computeTask({ ...task("x"), run: 7 });
    w.executed("x", { ok: true, value: value("X"), durationS: 0 });
    assert.deepEqual(ops(w.computeTask(task("c", { x: ["tcp://me:1"] }, 0, { x: 7 }))), ["execute c"]);
    assert.deepEqual(ops(w.computeTask(task("d", { x: ["tcp://me:1"] }, 0, { x: 7 }))), [], "waits for the slot");
    w.computeTask(task("other"));
    const told = w.handle({ type: "data-lost", stimulusId: w.sid("spill-unreadable"), keys: ["x", "never-held"], reason: "spill file f is 1 bytes" });
    assert.deepEqual(ops(told), ["send release-worker-data x"]);
    assert.deepEqual((told[0] as Extract<WorkerInstruction, { type: "send" }>).msg.runs, Object.assign(Object.create(null), { x: 7 }));
    assert.equal(w.data.has("x"), false);
    assert.deepEqual([...w.tasks.keys()], ["other"], "c and d dropped; other waits on");
    // c's run ends: its result is void, and its slot goes to the next task
    assert.deepEqual(ops(w.executed("c", { ok: false, error: { name: "Error", message: "dependency x was no longer here", stack: "" }, durationS: 0 })), ["execute other"]);
    assert.match(w.w.story("x").at(-1)!.reason ?? "", /^lost: spill file f is 1 bytes/);
    assert.deepEqual(ops(w.handle({ type: "data-lost", keys: ["x"], reason: "again" })), [], "a key not held: nothing");
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

  // Protects (issue 14, point 1): a seceded task gives its slot to the next ready task and the
  // scheduler is told (long-running); its result is still reported; a freed seceded task's late
  // result gives back no slot (it held none).
  it("moves a seceded task to long-running, starts the next one, and still reports its result", () => {
    const w = new Driver(1);
    w.computeTask(task("a"));
    assert.deepEqual(ops(w.computeTask(task("b"))), []);
    assert.deepEqual(ops(w.handle({ type: "secede", stimulusId: w.sid("secede"), key: "a" })), ["send long-running a", "execute b"]);
    assert.equal(w.tasks.get("a")!.state, "long-running");
    assert.equal(w.executing, 1);
    // seceding twice, or a task not running: nothing
    assert.deepEqual(ops(w.handle({ type: "secede", stimulusId: w.sid("secede"), key: "a" })), []);
    assert.deepEqual(ops(w.executed("a", { ok: true, value: value("1"), durationS: 3 })), ["send task-finished a"]);
    assert.equal(w.executing, 1);
    w.computeTask(task("c"));
    assert.deepEqual(ops(w.handle({ type: "secede", stimulusId: w.sid("secede"), key: "b" })), ["send long-running b", "execute c"]);
    w.handle({ type: "free-keys", stimulusId: w.sid("free"), keys: ["b"] });
    w.executed("b", { ok: true, value: value("2"), durationS: 1 });
    assert.equal(w.executing, 1, "c still runs: the freed seceded run gave back no slot");
    assert.ok(!w.data.has("b"));
    w.executed("c", { ok: true, value: value("3"), durationS: 1 });
    assert.equal(w.executing, 0);
  });
});

describe("worker state machine: a fetch's reply is taken only by that fetch", () => {
  // protects: a named key released and submitted again with another function; a fetch of its
  // ended incarnation still on its way when a task needing the new one comes must not feed it
  it("a fetch whose tasks all left is forgotten: its late reply feeds no task given afterwards", () => {
    const w = new Driver(1);
    assert.deepEqual(ops(w.computeTask(task("t1", { d: ["tcp://a:1"] }))), ["fetch tcp://a:1 d"]);
    const old = w.fetchId("tcp://a:1", ["d"]);
    w.freeKeys(["t1"]);
    assert.equal(w.inFlight.size, 0);
    // d was released and computed again, now on b: t2 fetches it there at once
    assert.deepEqual(ops(w.computeTask(task("t2", { d: ["tcp://b:1"] }))), ["fetch tcp://b:1 d"]);
    // the old reply (the ended incarnation's value) comes late: dropped
    assert.deepEqual(ops(w.fetchDone("tcp://a:1", { d: value("OLD") }, [], old)), []);
    assert.ok(!w.data.has("d"));
    assert.deepEqual(ops(w.fetchDone("tcp://b:1", { d: value("NEW") }, [])), ["send add-replica d", "execute t2"]);
    assert.deepEqual(w.data.get("d"), value("NEW"));
  });

  it("the same peer asked again: only the newer fetch's reply counts", () => {
    const w = new Driver(1);
    w.computeTask(task("t1", { d: ["tcp://a:1"] }));
    const old = w.fetchId("tcp://a:1", ["d"]);
    w.freeKeys(["t1"]);
    assert.deepEqual(ops(w.computeTask(task("t2", { d: ["tcp://a:1"] }))), ["fetch tcp://a:1 d"]);
    assert.deepEqual(ops(w.fetchDone("tcp://a:1", { d: value("OLD") }, [], old)), []);
    assert.deepEqual(ops(w.fetchFailed("tcp://a:1", ["d"], undefined, old)), [], "nor does its failure end the newer fetch");
    assert.equal(w.inFlight.get("d")?.worker, "tcp://a:1");
    assert.deepEqual(ops(w.fetchDone("tcp://a:1", { d: value("NEW") }, [])), ["send add-replica d", "execute t2"]);
    assert.deepEqual(w.data.get("d"), value("NEW"));
  });

  it("after a reset, a reply to a fetch made before it is dropped", () => {
    const w = new Driver(1);
    w.computeTask(task("t1", { d: ["tcp://a:1"] }));
    const old = w.fetchId("tcp://a:1", ["d"]);
    w.handle({ type: "reset", keepData: true });
    w.computeTask(task("t2", { d: ["tcp://a:1"] }));
    assert.deepEqual(ops(w.fetchDone("tcp://a:1", { d: value("OLD") }, [], old)), []);
    assert.ok(!w.data.has("d"));
  });
});

describe("worker state machine: events, stimulus ids, story, sizes", () => {
  const sid = (ins: WorkerInstruction[]) => ins.map((i) => ("stimulusId" in i ? i.stimulusId : "-"));

  // protects (issue 13): a put-data that gives a waiting task its last input returns the
  // execute; it used to stay queued until the next, unrelated event
  it("put-data returns the execute it causes, under its own stimulus id", () => {
    const w = new WorkerState<string>(1);
    w.handle({ type: "compute-task", stimulusId: "c-1", task: task("c", { x: ["tcp://p:1"] }) });
    const ins = w.handle({ type: "put-data", stimulusId: "put-7", key: "x", nbytes: 3, value: "X" });
    assert.deepEqual(ins, [
      { type: "store", key: "x", value: "X" },
      { type: "execute", key: "c", fn: "x => x", args: [Buffer.from([0x90])], deps: ["x"], stimulusId: "put-7" },
    ]);
    assert.equal(w.held.get("x"), 3);
  });

  // protects: the machine owns sizes, not values: results, fetched and put values go out in
  // `store` instructions, and freeing a held key says `free-data`; unheld keys are not named
  it("keeps sizes only: store and free-data instructions carry the values' fate", () => {
    const w = new WorkerState<string>(1);
    const run = w.handle({ type: "compute-task", stimulusId: "s1", task: task("a") });
    assert.deepEqual(sid(run), ["s1"]);
    const done = w.handle({ type: "executed", stimulusId: "s2", key: "a", result: { ok: true, nbytes: 2000, value: "big", durationS: 0 } });
    assert.deepEqual(done, [
      { type: "store", key: "a", value: "big" },
      { type: "send", msg: { op: "task-finished", key: "a", nbytes: 2000, duration: 0, value: undefined } },
    ]);
    assert.deepEqual([...w.held], [["a", 2000]]);
    assert.deepEqual(w.handle({ type: "free-keys", stimulusId: "s3", keys: ["a", "never-held"] }), [{ type: "free-data", keys: ["a"] }]);
    assert.equal(w.held.size, 0);
    assert.deepEqual(w.handle({ type: "free-keys", stimulusId: "s4", keys: ["a"] }), [], "nothing left to free");
  });

  // protects: a discarded result (its task was freed while it ran) is not stored
  it("does not store the result of a run freed while it ran", () => {
    const w = new WorkerState<string>(1);
    w.handle({ type: "compute-task", stimulusId: "s1", task: task("a") });
    w.handle({ type: "free-keys", stimulusId: "s2", keys: ["a"] });
    assert.deepEqual(w.handle({ type: "executed", stimulusId: "s3", key: "a", result: { ok: true, nbytes: 1, value: "v", durationS: 0 } }), []);
    assert.equal(w.held.size, 0);
    assert.deepEqual(w.story("a").map((e) => `${e.stimulusId} ${e.from}->${e.to}${e.reason ? " (dropped)" : ""}`), ["s1 released->ready", "s1 ready->executing", "s2 executing->released", "s3 released->released (dropped)"]);
  });

  // protects: fetches carry the stimulus id of the event that caused them; a fetched key's story
  // tells where it came from
  it("fetches name their stimulus; a fetched dependency's story goes flight -> memory", () => {
    const w = new WorkerState<string>(1);
    const ins = w.handle({ type: "compute-task", stimulusId: "ct-1", task: task("c", { x: ["tcp://p:1"] }) });
    assert.deepEqual(ins, [{ type: "fetch", worker: "tcp://p:1", id: 1, keys: ["x"], stimulusId: "ct-1" }]);
    const got = w.handle({ type: "fetch-done", stimulusId: "fd-2", worker: "tcp://p:1", id: 1, got: new Map([["x", { nbytes: 1, value: "X" }]]), notThere: [] });
    assert.deepEqual(got.map((i) => i.type), ["store", "send", "execute"]);
    assert.deepEqual(w.story("x").map((e) => [e.stimulusId, e.from, e.to]), [["ct-1", "released", "flight"], ["fd-2", "flight", "memory"]]);
    assert.deepEqual(w.story("c").map((e) => [e.stimulusId, e.to]), [["ct-1", "fetching"], ["fd-2", "ready"], ["fd-2", "executing"]]);
    const t = w.story("c")[0]!.at;
    assert.ok(Math.abs(t - Date.now()) < 60_000, "entries carry the time");
  });

  // protects: the story is bounded (oldest entries go first) and keeps order when it wraps
  it("keeps a bounded story, oldest dropped first", () => {
    const w = new WorkerState<string>(100, 4);
    for (let i = 1; i <= 3; i++) w.handle({ type: "put-data", stimulusId: `p${i}`, key: "k", nbytes: 1, value: "v" });
    assert.deepEqual(w.story("k").map((e) => e.stimulusId), ["p1", "p2", "p3"]);
    w.handle({ type: "put-data", stimulusId: "p4", key: "other", nbytes: 1, value: "v" });
    w.handle({ type: "put-data", stimulusId: "p5", key: "k", nbytes: 1, value: "v" });
    w.handle({ type: "put-data", stimulusId: "p6", key: "k", nbytes: 1, value: "v" });
    assert.deepEqual(w.story("k").map((e) => [e.stimulusId, e.from]), [["p3", "memory"], ["p5", "memory"], ["p6", "memory"]]);
    assert.deepEqual(w.story("k")[0]!.from, "memory");
    assert.deepEqual(w.story("nobody"), []);
  });

  // protects: losing the scheduler frees every held value through the shell
  it("reset frees every held key", () => {
    const w = new WorkerState<string>(1);
    w.handle({ type: "put-data", stimulusId: "p1", key: "x", nbytes: 1, value: "v" });
    w.handle({ type: "put-data", stimulusId: "p2", key: "y", nbytes: 1, value: "v" });
    assert.deepEqual(w.handle({ type: "reset", stimulusId: "r" }), [{ type: "free-data", keys: ["x", "y"] }]);
    assert.deepEqual(w.handle({ type: "reset", stimulusId: "r2" }), []);
  });

  // protects (issue 13 perf): events the shell does not name are numbered by the machine
  // (`${type}-${n}`, one counter with newStimulusId), and the id shows in the story and in the
  // instructions the event caused, though no string is made per event on the hot path
  it("numbers events given without a stimulus id, with the same counter as newStimulusId", () => {
    const w = new WorkerState<string>(1);
    assert.equal(w.newStimulusId("put-data"), "put-data-1");
    assert.deepEqual(sid(w.handle({ type: "compute-task", task: task("a") })), ["compute-task-2"]);
    w.handle({ type: "executed", key: "a", result: { ok: true, nbytes: 1, value: "v", durationS: 0 } });
    w.handle({ type: "free-keys", keys: ["a"] });
    assert.deepEqual(w.story("a").map((e) => `${e.stimulusId} ${e.from}->${e.to}`), [
      "compute-task-2 released->ready", "compute-task-2 ready->executing", "executed-3 executing->memory", "free-keys-4 memory->released",
    ]);
    w.handle({ type: "put-data", stimulusId: "given-9", key: "b", nbytes: 1, value: "v" });
    assert.deepEqual(w.story("b").map((e) => e.stimulusId), ["given-9"], "a given id is kept as given");
  });

  // protects: an event of an unknown type is a clear error, not a silent no-op
  it("rejects an unknown event type, naming it", () => {
    const w = new WorkerState(1);
    assert.throws(() => w.handle({ type: "bogus", stimulusId: "s" } as never), /unknown worker event "bogus"/);
  });

  // protects: losing the scheduler (data kept, task threads kept running) forgot the runs on
  // the threads; the same key sent again by the scheduler that took over ran a second time
  // alongside the first, and the first run's result was reported as the second's
  it("after a lost scheduler, a key still running on a thread is not started again until that run ends", () => {
    const w = new Driver(2);
    assert.deepEqual(ops(w.computeTask(task("a"))), ["execute a"]);
    w.handle({ type: "reset", stimulusId: "lost", keepData: true });
    assert.equal(w.executing, 1, "the run still holds its slot");
    assert.deepEqual(ops(w.computeTask(task("a"))), [], "waits for the old run");
    assert.deepEqual(ops(w.executed("a", { ok: true, value: value("old"), durationS: 0 })), ["execute a"], "the old run's result is dropped; the new run starts");
    assert.deepEqual(ops(w.executed("a", { ok: true, value: value("new"), durationS: 0 })), ["send task-finished a"]);
    assert.deepEqual(w.data.get("a"), value("new"));
    // a restart (fresh threads) forgets the runs
    w.computeTask(task("b"));
    w.reset();
    assert.equal(w.executing, 0);
    assert.deepEqual(ops(w.computeTask(task("b"))), ["execute b"]);
  });
});
