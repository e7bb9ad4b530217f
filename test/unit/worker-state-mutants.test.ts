// The worker's pure state machine (src/worker/state-machine.ts) fed events. Written to kill the
// mutants that survived `npm run mutate`: each test names the behaviour it protects.
import assert from "node:assert/strict";
import type { Copy, Dependency } from "../../src/protocol/messages.js";
import { INLINE_RESULT_BYTES, type WorkerInstruction } from "../../src/worker/state-machine.js";
import { Driver } from "../helpers/worker-state.js";
import { storedBytes } from "../../src/worker/data-store.js";

/** A task; each dependency's value is number 1 unless `depRuns` says otherwise. */
const task = (key: string, whoHas: Record<string, string[]> = {}, priority = 0, depRuns: Record<string, number> = {}) =>
  ({ key, fn: "x => x", args: [Buffer.from([0x90])], deps: Object.keys(whoHas).map((k) => [k, depRuns[k] ?? 1, whoHas[k]!] as Dependency), priority });
const ops = (ins: WorkerInstruction[]) =>
  ins.map((i) => (i.type === "send" ? `send ${i.msg.op} ${String(i.msg.key ?? ((i.msg.keys as string[] | undefined) ?? ((i.msg.copies as Copy[] | undefined) ?? []).map(([k]) => k)).join(","))}` : i.type === "fetch" ? `fetch ${i.worker} ${i.keys.join(",")}` : i.type === "free-data" ? `free-data ${i.keys.join(",")}` : `${i.type} ${i.key}`));
const value = (s: string) => [Buffer.from(s)];
const ok = (v = value("1")) => ({ ok: true as const, value: v, durationS: 0 });

describe("worker state machine: edges", () => {
  // protects: the byte count of a value (parts added up)
  it("storedBytes adds up parts", () => {
    assert.equal(storedBytes([Buffer.alloc(3), Buffer.alloc(4)]), 7);
    assert.equal(storedBytes([]), 0);
  });

  // protects: a task sent twice (or whose result is already here) runs once
  it("a duplicate compute-task does not run the key again; one for a key held runs it again", () => {
    const w = new Driver(2);
    assert.deepEqual(ops(w.computeTask(task("a"))), ["execute a"]);
    assert.deepEqual(w.computeTask(task("a")), []);
    w.executed("a", ok());
    assert.equal(w.executing, 0);
    assert.deepEqual(ops(w.computeTask(task("a"))), ["execute a"], "the copy held may be of an ended incarnation");
    assert.equal(w.executing, 1);
  });

  // protects: a dependency already held is not fetched, and is handed to the task
  it("dependencies already here are not fetched", () => {
    const w = new Driver(1);
    const x = value("X");
    w.putData("x", x);
    const ins = w.computeTask(task("c", { x: ["tcp://p:1"] }));
    assert.deepEqual(ops(ins), ["execute c"]);
    assert.deepEqual((ins[0] as Extract<WorkerInstruction, { type: "execute" }>).deps, ["x"]);
    assert.equal(w.data.get("x"), x);
  });

  // protects: a task becomes ready only when its last missing dependency arrives
  it("waits for every dependency, arriving one by one", () => {
    const w = new Driver(1);
    assert.deepEqual(ops(w.computeTask(task("c", { x: ["tcp://p:1"], y: ["tcp://q:1"] }))).sort(), ["fetch tcp://p:1 x", "fetch tcp://q:1 y"]);
    assert.deepEqual(ops(w.fetchDone("tcp://p:1", { x: value("X") }, [])), ["send add-replica x"]);
    assert.equal(w.tasks.get("c")?.state, "fetching");
    assert.deepEqual(ops(w.fetchDone("tcp://q:1", { y: value("Y") }, [])), ["send add-replica y", "execute c"]);
  });

  // protects: only the peer a key was asked from may deliver it; a key nobody waits for any
  // more is neither kept nor announced
  it("ignores deliveries from the wrong peer and keys no task needs", () => {
    const w = new Driver(1);
    w.computeTask(task("c", { x: ["tcp://p:1"] }));
    assert.deepEqual(w.fetchDone("tcp://other:1", { x: value("X") }, []), []);
    assert.equal(w.data.has("x"), false);
    assert.equal(w.inFlight.get("x")?.worker, "tcp://p:1");
    assert.deepEqual(w.fetchFailed("tcp://other:1", ["x"]), [], "a failure elsewhere does not stop the fetch in flight");
    assert.equal(w.inFlight.get("x")?.worker, "tcp://p:1");
    w.freeKeys(["c"]);
    assert.deepEqual(w.fetchDone("tcp://p:1", { x: value("X") }, []), []);
    assert.equal(w.data.has("x"), false);
  });

  // protects: a dependency still needed by another task is still fetched and used when one of
  // its dependents is freed
  it("freeing one of two dependents keeps the other waiting", () => {
    const w = new Driver(2);
    w.computeTask(task("c", { x: ["tcp://p:1"] }));
    w.computeTask(task("d", { x: ["tcp://p:1"] }));
    w.freeKeys(["c"]);
    assert.deepEqual(ops(w.fetchDone("tcp://p:1", { x: value("X") }, [])), ["send add-replica x", "execute d"]);
  });

  // protects: the missing-data report names the dependency and the holders that answered they
  // do not have it; a holder that could not be reached (or answered too late) may still hold it
  // (a busy or stopped process): it is not named, so the scheduler keeps its copy
  it("missing-data names the dependency and only the holders that said they do not have it", () => {
    const w = new Driver(1);
    w.computeTask(task("c", { x: ["tcp://a:1", "tcp://b:1", "tcp://e:1"] }));
    w.fetchDone("tcp://a:1", {}, ["x"]);
    w.fetchFailed("tcp://b:1", ["x"]);
    const [ins] = w.fetchDone("tcp://e:1", {}, ["x"]);
    assert.deepEqual(ins, { type: "send", msg: { op: "missing-data", key: "c", missing: "x", holders: ["tcp://a:1", "tcp://e:1"] } });
    const v = new Driver(1);
    v.computeTask(task("c", { x: ["tcp://a:1"] }));
    assert.deepEqual(v.fetchFailed("tcp://a:1", ["x"]), [{ type: "send", msg: { op: "missing-data", key: "c", missing: "x", holders: [] } }]);
  });

  // protects: small results ride along with task-finished (up to and including the limit),
  // bigger ones stay on the worker
  it("inlines results up to INLINE_RESULT_BYTES", () => {
    for (const [n, inline] of [[INLINE_RESULT_BYTES, true], [INLINE_RESULT_BYTES + 1, false]] as const) {
      const w = new Driver(1);
      w.computeTask(task("a"));
      const v = [Buffer.alloc(n - 1), Buffer.alloc(1)];
      const [ins] = w.executed("a", { ok: true, value: v, durationS: 0.5 });
      const msg = (ins as Extract<WorkerInstruction, { type: "send" }>).msg;
      assert.deepEqual({ ...msg, value: msg.value !== undefined }, { op: "task-finished", key: "a", nbytes: n, duration: 0.5, value: inline });
    }
  });

  // protects: a result for a task this worker does not run frees no slot (slots never exceed
  // the executor's), while one for a task freed during its run does
  it("results of unknown tasks free no slot", () => {
    const w = new Driver(1);
    w.computeTask(task("a"));
    assert.deepEqual(w.executed("nobody", ok()), []);
    assert.deepEqual(w.computeTask(task("b")), []);
    assert.equal(w.executing, 1);
    assert.equal(w.readyCount, 1);
    w.freeKeys(["a"]);
    assert.deepEqual(ops(w.executed("a", ok())), ["execute b"]);
    assert.equal(w.data.has("a"), false);
  });

  // protects: a freed task that was only queued leaves the queue and never runs
  it("a freed ready task never runs", () => {
    const w = new Driver(1);
    w.computeTask(task("a"));
    w.computeTask(task("b"));
    w.computeTask(task("c"));
    assert.deepEqual(w.freeKeys(["b", "unknown"]), []);
    assert.deepEqual(ops(w.executed("a", ok())), ["send task-finished a", "execute c"]);
    assert.equal(w.readyCount, 0);
  });

  // protects: a task that became ready by a fetch and was freed before a slot came never runs
  it("a task freed after its inputs arrived, before it ran, never runs", () => {
    const w = new Driver(1);
    w.computeTask(task("a"));
    w.computeTask(task("c", { x: ["tcp://p:1"] }));
    w.fetchDone("tcp://p:1", { x: value("X") }, []);
    assert.equal(w.readyCount, 1);
    w.freeKeys(["c"]);
    assert.deepEqual(ops(w.executed("a", ok())), ["send task-finished a"]);
    assert.equal(w.executing, 0);
  });

  // protects (regression): a key freed while it ran and sent again before the old run ended
  // runs again once that run's (discarded) result frees its slot; the slot used to stay taken
  // for good, and the worker never ran the key again nor anything behind it
  it("a key freed while running and sent again runs when the old run ends", () => {
    const w = new Driver(1);
    w.computeTask(task("a"));
    w.freeKeys(["a"]);
    assert.deepEqual(w.computeTask(task("a")), [], "the old run still holds the only slot");
    w.computeTask(task("b"));
    assert.deepEqual(ops(w.executed("a", ok(value("old")))), ["execute a"], "the old result is discarded, the new run starts");
    assert.equal(w.data.has("a"), false);
    assert.deepEqual(ops(w.executed("a", ok(value("new")))), ["send task-finished a", "execute b"]);
    assert.equal(String(w.data.get("a")), "new");
  });

  // protects: every stale run of a key freed twice is discarded, one slot each, and only the
  // current run's result is reported
  it("a key freed while it ran and sent again waits for the stale run, whose result is discarded", () => {
    const w = new Driver(2);
    w.computeTask(task("a"));
    w.freeKeys(["a"]);
    // a second run of the same key would race the stale one for the result: it waits
    assert.deepEqual(w.computeTask(task("a")), [], "the key waits for its stale run to end");
    assert.deepEqual(ops(w.executed("a", ok(value("stale")))), ["execute a"]);
    assert.equal(w.executing, 1);
    assert.deepEqual(ops(w.executed("a", ok(value("current")))), ["send task-finished a"]);
    assert.equal(String(w.data.get("a")), "current");
    assert.equal(w.executing, 0);
  });

  // protects: a paused worker starts nothing; resuming starts what waited
  it("pause holds tasks, resume runs them", () => {
    const w = new Driver(2);
    assert.deepEqual(w.setPaused(true), []);
    assert.equal(w.paused, true);
    assert.deepEqual(w.computeTask(task("a")), []);
    assert.deepEqual(ops(w.setPaused(false)), ["execute a"]);
    assert.equal(w.paused, false);
  });

  // protects: data put here directly (scatter, replication) satisfies waiting tasks and makes
  // the fetch in flight for it moot
  it("putData of an awaited key readies its dependents and ends the fetch", () => {
    const w = new Driver(1);
    w.computeTask(task("c", { x: ["tcp://p:1"] }));
    assert.deepEqual(ops(w.putData("x", value("X"))), ["execute c"], "put-data returns the execute it caused");
    assert.equal(w.inFlight.has("x"), false);
    assert.equal(w.executing, 1, "c started");
    assert.deepEqual(ops(w.fetchDone("tcp://p:1", { x: value("late") }, [])), [], "the late copy is neither kept nor announced");
    assert.equal(String(w.data.get("x")), "X");
  });

  // protects: losing the scheduler voids everything: no data, no tasks, all slots free
  it("reset forgets everything and frees the slots", () => {
    const w = new Driver(1);
    w.computeTask(task("a"));
    w.computeTask(task("b"));
    w.computeTask(task("c", { x: ["tcp://p:1"] }));
    w.putData("y", value("Y"));
    w.reset();
    assert.deepEqual([w.data.size, w.tasks.size, w.inFlight.size, w.executing, w.readyCount], [0, 0, 0, 0, 0]);
    assert.deepEqual(ops(w.computeTask(task("d"))), ["execute d"]);
    assert.deepEqual(ops(w.computeTask(task("e", { x: ["tcp://p:1"] }))), ["fetch tcp://p:1 x"]);
  });
});
