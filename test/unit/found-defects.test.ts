// Defects found by reading the code on 2026-12-03: each case shows one (it fails on 5376605).
import assert from "node:assert/strict";
import { type Instruction, SchedulerState } from "../../src/scheduler/state.js";
import type { Dependency, TaskSpec } from "../../src/protocol/messages.js";
import type { WorkerInstruction } from "../../src/worker/state-machine.js";
import { Driver } from "../helpers/worker-state.js";
import { withCluster } from "../helpers/cluster.js";
import { ref } from "../../src/index.js";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { waitFor } from "../helpers/proc.js";

const spec = (key: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({ key, fn: "x => x", args: [new Uint8Array([0x90])], deps: [], ...extra });
const worker = (name: string) => ({ address: `tcp://w${name}:1`, name, host: "h", nthreads: 1, memoryLimit: 0, pid: 1 });
const frees = (ins: Instruction[], to: string) =>
  ins.filter((i) => i.type === "send-worker" && i.worker === to && i.msg.op === "free-keys").flatMap((i) => (i as unknown as { msg: { keys: string[] } }).msg.keys);
const task = (key: string, whoHas: Record<string, string[]> = {}) => ({ key, fn: "x => x", args: [Buffer.from([0x90])], deps: Object.keys(whoHas).map((k) => [k, 1, whoHas[k]!] as Dependency), priority: 0 });
const ops = (ins: WorkerInstruction[]) =>
  ins.map((i) => (i.type === "send" ? `send ${i.msg.op} ${String(i.msg.key ?? (i.msg.keys as string[])?.join(","))}` : i.type === "fetch" ? `fetch ${i.worker} ${i.keys.join(",")}` : i.type === "free-data" ? `free-data ${i.keys.join(",")}` : `${i.type} ${i.key}`));

describe("defects found by reading (2026-12-03)", () => {
  it("scheduler: a stale run's result does not free the key's current run on the same worker", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    const first = s.updateGraph("c", [spec("k")], "s1").find((i) => i.type === "send-worker" && i.msg.op === "compute-task")!;
    s.cancelKeys(["k"], "s2");
    s.updateGraph("c", [spec("k")], "s3");
    const ins = s.taskFinished("tcp://w1:1", "k", 8, 0.1, "s4", undefined, first.msg.run as number);
    assert.deepEqual(frees(ins, "tcp://w1:1"), [], "the free-keys would hit the new run");
  });

  it("scheduler: holders a worker could not fetch from are told to free the key, unless a task there needs it", () => {
    const s = new SchedulerState();
    s.addClient("c");
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    s.addData("c", "tcp://w1:1", [{ key: "x", nbytes: 8 }], "s1");
    s.setPaused("tcp://w1:1", true, "s2"); // y goes to w2, which must fetch x from w1
    s.updateGraph("c", [spec("y", { deps: ["x"] })], "s3");
    assert.equal(s.tasks.get("y")?.processingOn, "tcp://w2:1");
    assert.deepEqual(frees(s.missingData("tcp://w2:1", "y", "x", ["tcp://w1:1"], "s4"), "tcp://w1:1"), ["x"], "the holder would keep a copy the scheduler no longer knows of");
    // a holder running a task that needs the key keeps it
    const t = new SchedulerState();
    t.addClient("c");
    t.addWorker(worker("1"), 0);
    t.addData("c", "tcp://w1:1", [{ key: "x", nbytes: 8 }], "s1");
    t.updateGraph("c", [spec("y", { deps: ["x"] })], "s2");
    assert.equal(t.tasks.get("y")?.processingOn, "tcp://w1:1");
    assert.deepEqual(frees(t.missingData("tcp://w9:1", "z", "x", ["tcp://w1:1"], "s3"), "tcp://w1:1").filter((k) => k === "x"), []);
  });

  it("worker: a peer whose fetch of a key was abandoned is asked again for it later", () => {
    const w = new Driver(1);
    assert.deepEqual(ops(w.computeTask(task("t1", { d: ["tcp://a:1"] }))), ["fetch tcp://a:1 d"]);
    w.freeKeys(["t1"]);
    w.fetchDone("tcp://a:1", { d: [Buffer.from("D")] }, []);
    assert.deepEqual(ops(w.computeTask(task("t2", { d: ["tcp://a:1"] }))), ["fetch tcp://a:1 d"]);
  });

  // since value numbers (value-numbers.test.ts) the answer is a new run, not the copy held
  it("worker: a compute-task for a key it holds is answered, not dropped", () => {
    const w = new Driver(1);
    w.computeTask(task("a"));
    w.executed("a", { ok: true, value: [Buffer.from("1")], durationS: 0 });
    assert.deepEqual(ops(w.computeTask(task("a"))), ["execute a"]);
    assert.deepEqual(ops(w.executed("a", { ok: true, value: [Buffer.from("1")], durationS: 0 })), ["send task-finished a"]);
  });

  it("client: submitGraph over one update-graph message runs dependents listed before their dependencies", async function () {
    this.timeout(120_000);
    const c = await withCluster({ mode: "inproc", workers: 1 });
    try {
      const graph: Record<string, [(...a: never[]) => unknown, ...unknown[]]> = { b: [(x: number) => x + 1, ref("a")] };
      for (let i = 0; i < 10_000; i++) graph[`f-${i}`] = [(x: number) => x, i];
      graph.a = [() => 41];
      const fs = c.client.submitGraph(graph);
      assert.equal(await fs.b!.result({ timeout: 60_000 }), 42);
    } finally {
      await c.cleanup();
    }
  });
});

describe("defects found by reading (2026-12-03), scattered data", () => {
  it("scheduler: a released scattered key needed again after its dependent was lost is not computed with no function", () => {
    const s = new SchedulerState();
    s.addClient("c");
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    s.addData("c", "tcp://w1:1", [{ key: "x", nbytes: 8 }], "s1");
    s.updateGraph("c", [spec("t", { deps: ["x"] })], "s2");
    const tOn = s.tasks.get("t")!.processingOn!;
    s.taskFinished(tOn, "t", 8, 0.1, "s3");
    s.releaseKeys("c", ["x"], "s4");
    // t's holder dies (x was on w1: take w2 if t is there, else w1, which takes x with it too)
    const ins = s.removeWorker(tOn, "s5", { died: true });
    const sent = ins.filter((i) => i.type === "send-worker" && i.msg.op === "compute-task").map((i) => (i as unknown as { msg: { key: string; fn: unknown } }).msg);
    for (const m of sent) assert.notEqual(m.fn, null, `compute-task of ${m.key} with no function`);
    assert.notEqual(s.tasks.get("x")?.state, "processing", "a scattered key cannot be computed");
    assert.equal(s.tasks.get("t")?.state, "erred");
    assert.equal(s.tasks.get("t")?.error?.name, "LostDataError");
  });
});

describe("defects found by reading (2026-12-04)", () => {
  it("scheduler: a released scattered key wanted again errs with LostDataError, never computed with no function", () => {
    const s = new SchedulerState();
    s.addClient("c");
    s.addClient("d");
    s.addWorker(worker("1"), 0);
    s.addData("c", "tcp://w1:1", [{ key: "x", nbytes: 8 }], "s1");
    s.updateGraph("c", [spec("t", { deps: ["x"] })], "s2");
    s.taskFinished("tcp://w1:1", "t", 8, 0.1, "s3");
    // x released and freed; its record stays, a dependency of t
    s.releaseKeys("c", ["x"], "s4");
    assert.equal(s.tasks.get("x")?.state, "released");
    const ins = s.wantKeys("d", ["x"], "s5");
    const sent = ins.filter((i) => i.type === "send-worker" && i.msg.op === "compute-task");
    assert.deepEqual(sent, [], "no compute-task for data that has no function");
    assert.equal(s.tasks.get("x")?.state, "erred");
    const told = ins.find((i) => i.type === "send-client" && i.client === "d" && i.msg.key === "x")?.msg as { op: string; error?: { name: string; message: string } } | undefined;
    assert.equal(told?.op, "key-erred");
    assert.equal(told?.error?.name, "LostDataError");
    assert.match(told!.error!.message, /scattered data "x" was released/);
  });

  it("scheduler: a missing-data of a run that ended neither stops the key's newer run nor drops holders", () => {
    const s = new SchedulerState();
    s.addClient("c");
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    s.addData("c", "tcp://w1:1", [{ key: "x", nbytes: 8 }], "s1");
    s.updateGraph("c", [spec("y", { deps: ["x"] })], "s2");
    const y = s.tasks.get("y")!;
    const [on, oldRun] = [y.processingOn!, y.run];
    // y runs again (its worker went away and came back would do; a retry is simplest here)
    s.taskErred(on, "y", { name: "Error", message: "once", stack: "" }, "s3");
    s.releaseKeys("c", ["y"], "s4");
    s.updateGraph("c", [spec("y", { deps: ["x"] })], "s5");
    const again = s.tasks.get("y")!;
    assert.notEqual(again.run, oldRun);
    const before = [again.state, again.processingOn, [...s.tasks.get("x")!.whoHas]];
    s.missingData(again.processingOn!, "y", "x", ["tcp://w1:1"], "s6", oldRun);
    assert.deepEqual([again.state, again.processingOn, [...s.tasks.get("x")!.whoHas]], before, "the stale report changed nothing");
  });

  it("worker: missing-data carries the run it is about", () => {
    const w = new Driver(1);
    w.computeTask({ ...task("c", { x: ["tcp://a:1"] }), run: 7 });
    assert.deepEqual(w.fetchDone("tcp://a:1", {}, ["x"]), [{ type: "send", msg: { op: "missing-data", key: "c", missing: "x", holders: ["tcp://a:1"], run: 7 } }]);
  });

  // the old task threads' end (WorkerThreadError for the run they held) came after a key sent
  // again had started on the new threads, and was taken for that run's result
  it("worker: a key sent again while a restart ends the old task threads gets its own result, not the old run's end", async function () {
    this.timeout(120_000);
    const dir = mkdtempSync(path.join(tmpdir(), "restart-race-"));
    const started = path.join(dir, "started");
    const c = await withCluster({ mode: "inproc", workers: 1 });
    try {
      const hung = c.client.submit(
        async (file: string) => {
          (await import("node:fs")).writeFileSync(file, "");
          const end = Date.now() + 60_000;
          while (Date.now() < end); // ended by the restart, which terminates its thread
          return 1;
        },
        started,
        { key: "k" },
      );
      await waitFor("the first run of k to start", () => existsSync(started), { timeoutMs: 60_000 });
      hung.release();
      const restarting = c.client.restart();
      await new Promise((r) => setTimeout(r, 0)); // the restart is on its way
      // sent after the restart: it reaches the worker while the old threads are being ended
      const again = c.client.submit(async () => {
        await new Promise((r) => setTimeout(r, 500)); // the old threads' end comes first
        return 2;
      }, { key: "k" });
      await restarting;
      assert.equal(await again.result({ timeout: 60_000 }), 2);
    } finally {
      await c.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
