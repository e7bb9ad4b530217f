// Placement with workers that will retire (a lifetime, or their batch job's walltime minus a
// margin): no task starts on a worker whose time left is shorter than its task group's measured
// duration (for each round of tasks queued ahead of it there); unmeasured groups, workers that do
// not retire, and tasks longer than any worker lives are not held back (they would never run).
import assert from "node:assert/strict";
import type { TaskSpec } from "../../src/protocol/messages.js";
import { type Instruction, SchedulerState } from "../../src/scheduler/state.js";

const spec = (key: string): TaskSpec => ({ key, fn: 1, args: [new Uint8Array([0x90])], deps: [] });
const addr = (i: number) => `tcp://w${i}:1`;
const computes = (ins: Instruction[]) =>
  ins.filter((i) => i.type === "send-worker" && i.msg.op === "compute-task").map((i) => [(i as { worker: string }).worker, i.msg.key] as [string, string]);
const on = (s: SchedulerState, i: number) => [...s.workers.get(addr(i))!.processing].map((t) => t.key).sort();

describe("scheduler placement on retiring workers", () => {
  let now = 1_000_000;
  const clock = () => now;
  const worker = (i: number, retiresAt?: number) => ({ address: addr(i), name: `w${i}`, host: "h", nthreads: 1, memoryLimit: 0, pid: i, resources: {}, ...(retiresAt === undefined ? {} : { retiresAt }) });

  /** w0 joined 57 s ago and retires in 3 s; w1 joined now and retires in 60 s; "wait" tasks take 2 s. */
  function twoWorkers(): SchedulerState {
    now = 1_000_000;
    const s = new SchedulerState({ now: clock });
    s.addWorker(worker(0, now + 3000), now - 57_000);
    s.addWorker(worker(1, now + 60_000), now);
    s.updateGraph("c", [spec("wait-a")], "m1");
    assert.deepEqual(on(s, 0), ["wait-a"]);
    s.taskFinished(addr(0), "wait-a", 8, 2, "m2");
    return s;
  }

  it("starts no task on a worker that would not finish it before it retires, counting the tasks queued ahead there", () => {
    const s = twoWorkers();
    const placed = computes(s.updateGraph("c", ["wait-1", "wait-2", "wait-3", "wait-4"].map(spec), "u1"));
    // w0 (3 s left) takes one 2-s task; a second would finish after 4 s: it goes to w1, whose two slots fill
    assert.equal(placed.length, 3);
    assert.equal(on(s, 0).length, 1);
    assert.equal(on(s, 1).length, 2);
    assert.equal(s.tasks.get("wait-4")!.state, "queued");
    // 1 s before w0 retires, its free slot takes no 2-s task
    now += 2000;
    assert.deepEqual(computes(s.taskFinished(addr(0), on(s, 0)[0]!, 8, 2, "f1")), []);
    assert.equal(s.tasks.get("wait-4")!.state, "queued");
    // a slot on w1 takes it
    assert.deepEqual(computes(s.taskFinished(addr(1), on(s, 1)[0]!, 8, 2, "f2")), [[addr(1), "wait-4"]]);
  });

  it("a task group never measured goes to a worker about to retire (nothing to judge by)", () => {
    const s = twoWorkers();
    now += 2500;
    // both workers' slots fill, w0's too although it retires in 0.5 s
    computes(s.updateGraph("c", ["other-1", "other-2", "other-3", "other-4"].map(spec), "u1"));
    assert.equal(on(s, 0).length, 2);
    assert.equal(on(s, 1).length, 2);
  });

  it("a task longer than any worker lives is not held back; once a worker that never retires joins, it waits for that one", () => {
    const s = twoWorkers();
    // a 100-s group: no worker here lives that long (the longest: 60 s), so holding it back would be forever
    s.updateGraph("c", [spec("long-a")], "u1");
    const first = s.tasks.get("long-a")!.processingOn!;
    s.taskFinished(first, "long-a", 8, 100, "f1");
    s.updateGraph("c", [spec("long-b")], "u2");
    assert.equal(s.tasks.get("long-b")!.state, "processing", "placed although no worker has 100 s left");
    // a worker without an end joins: a long task now goes there only
    s.addWorker(worker(2), now);
    s.updateGraph("c", [spec("long-c"), spec("long-d"), spec("long-e")], "u3");
    assert.deepEqual(on(s, 2), ["long-c", "long-d"]);
    assert.equal(s.tasks.get("long-e")!.state, "queued", "w2's slots are full and the others retire too soon");
    // it goes when w2 leaves again (no worker lives long enough then)
    assert.equal(computes(s.removeWorker(addr(2), "gone", { died: false })).length, 3);
  });

  for (const near of [5, 40]) {
    it(`with ${near} workers near their end (the lightest: they get nothing), a task goes to the lightest worker in time`, () => {
      now = 1_000_000;
      const s = new SchedulerState({ now: clock });
      // joined long ago, retiring in 1 s; then two fresh workers
      for (let i = 0; i < near; i++) s.addWorker(worker(i, now + 1000), now - 59_000);
      s.addWorker(worker(near, now + 60_000), now);
      s.addWorker(worker(near + 1, now + 60_000), now);
      s.updateGraph("c", [spec("unmeasured-a")], "u0");
      s.taskFinished(s.tasks.get("unmeasured-a")!.processingOn!, "unmeasured-a", 8, 0.1, "f0");
      s.updateGraph("c", [spec("wait-a")], "u1");
      const first = s.tasks.get("wait-a")!.processingOn!;
      s.taskFinished(first, "wait-a", 8, 2, "f1");
      const placed = computes(s.updateGraph("c", Array.from({ length: 5 }, (_, i) => spec(`wait-${i}`)), "u2"));
      // the two fresh workers' slots, lightest first (then the earlier registered); none on a worker near its end
      assert.deepEqual(placed.map(([w]) => w), [addr(near), addr(near + 1), addr(near), addr(near + 1)]);
      assert.equal(s.tasks.get("wait-4")!.state, "queued");
      for (let i = 0; i < near; i++) assert.equal(s.workers.get(addr(i))!.processing.size, 0);
    });
  }

  it("workers without an end are never held back, whatever the durations", () => {
    now = 1_000_000;
    const s = new SchedulerState({ now: clock });
    s.addWorker(worker(0), now);
    s.updateGraph("c", [spec("slow-a")], "u1");
    s.taskFinished(addr(0), "slow-a", 8, 3600, "f1");
    assert.deepEqual(computes(s.updateGraph("c", [spec("slow-b"), spec("slow-c")], "u2")), [[addr(0), "slow-b"], [addr(0), "slow-c"]]);
  });
});
