import assert from "node:assert/strict";
import type { TaskSpec } from "../../src/protocol/messages.js";
import { type Instruction, MIN_SATURATION, SchedulerState } from "../../src/scheduler/state.js";
import { EMPTY, NameSets } from "../../src/scheduler/state-sets.js";
import { FreeWorkers } from "../../src/scheduler/state-placement.js";
import type { TaskRecord, WorkerRecord } from "../../src/scheduler/state-types.js";

const spec = (key: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({ key, fn: 1, args: [new Uint8Array([0x90])], deps: [], ...extra });
const addr = (i: number) => `tcp://w${i}:1`;
const worker = (i: number, nthreads = 1) => ({ address: addr(i), name: `w${i}`, host: "h", nthreads, memoryLimit: 0, pid: i, resources: {} });
const computes = (ins: Instruction[]) =>
  ins.filter((i) => i.type === "send-worker" && i.msg.op === "compute-task").map((i) => [(i as { worker: string }).worker, i.msg.key] as [string, string]);
const perWorker = (s: SchedulerState) => [...s.workers.values()].map((ws) => ws.processing.size);

describe("scheduler state at scale: placement without scans, shared sets", () => {
  it("spreads tasks over 1,000 workers evenly, the lightest (then the earliest) first", () => {
    const s = new SchedulerState();
    for (let i = 0; i < 1000; i++) s.addWorker(worker(i, i % 2 ? 2 : 1), 0);
    const ins = s.updateGraph("c", Array.from({ length: 10_000 }, (_, i) => spec(`inc-${i}`)), "s1");
    // every slot filled: MIN_SATURATION per thread
    assert.equal(computes(ins).length, 1500 * MIN_SATURATION);
    assert.deepEqual(perWorker(s), Array.from({ length: 1000 }, (_, i) => (i % 2 ? 2 : 1) * MIN_SATURATION));
    // the first round went one task per worker in registration order
    assert.deepEqual(computes(ins).slice(0, 3), [[addr(0), "inc-0"], [addr(1), "inc-1"], [addr(2), "inc-2"]]);
    // a freed slot takes the next queued task on that worker
    assert.deepEqual(computes(s.taskFinished(addr(7), computes(ins).find(([w]) => w === addr(7))![1], 8, 0.5, "s2")), [[addr(7), "inc-3000"]]);
  });

  it("gives nothing to paused, retiring or removed workers, and again to a resumed one", () => {
    const s = new SchedulerState();
    for (let i = 0; i < 3; i++) s.addWorker(worker(i), 0);
    s.setPaused(addr(0), true, "p");
    s.setClosing([addr(1)]);
    s.updateGraph("c", Array.from({ length: 20 }, (_, i) => spec(`t-${i}`)), "s1");
    assert.deepEqual(perWorker(s), [0, 0, MIN_SATURATION]);
    // removing a worker with work does not bring it back among the candidates
    s.removeWorker(addr(2), "gone", { died: false });
    assert.deepEqual(perWorker(s), [0, 0]);
    assert.equal(s.counts().queued, 20);
    assert.equal(computes(s.setPaused(addr(0), false, "r")).length, MIN_SATURATION);
    assert.deepEqual(perWorker(s), [MIN_SATURATION, 0]);
  });

  it("puts a task with the holder of its dependency's bytes while it has a slot, else on the lightest", () => {
    const s = new SchedulerState();
    for (let i = 0; i < 100; i++) s.addWorker(worker(i), 0);
    s.updateGraph("c", [spec("x")], "s1");
    const on = s.tasks.get("x")!.processingOn;
    assert.equal(on, addr(0));
    s.taskFinished(addr(0), "x", 1000, 0.5, "s2");
    const deps = Array.from({ length: 3 }, (_, i) => spec(`y-${i}`, { deps: ["x"] }));
    const placed = computes(s.updateGraph("c", deps, "s3"));
    // the holder's two slots first, then the lightest other worker
    assert.deepEqual(placed.map(([w]) => w), [addr(0), addr(0), addr(1)]);
  });

  it("a task restricted to named workers runs only there, found by name or address", () => {
    const s = new SchedulerState();
    for (let i = 0; i < 50; i++) s.addWorker(worker(i), 0);
    const placed = computes(s.updateGraph("c", [spec("a", { workers: ["w42"] }), spec("b", { workers: [addr(17)] }), spec("c", { workers: ["nobody"] })], "s1"));
    assert.deepEqual(placed, [[addr(42), "a"], [addr(17), "b"]]);
    assert.equal(s.tasks.get("c")!.state, "queued");
  });

  it("tasks of one client share one wanter set; changing one task's wanters leaves the others alone", () => {
    const s = new SchedulerState();
    s.updateGraph("c", [spec("a"), spec("b")], "s1");
    const [a, b] = [s.tasks.get("a")!, s.tasks.get("b")!];
    assert.equal(a.wantedBy, b.wantedBy);
    assert.equal(a.whoHas, EMPTY);
    s.wantKeys("d", ["a"], "s2");
    assert.deepEqual([...a.wantedBy], ["c", "d"]);
    assert.deepEqual([...b.wantedBy], ["c"]);
    s.releaseKeys("c", ["a"], "s3");
    assert.deepEqual([...a.wantedBy], ["d"]);
    assert.deepEqual([...b.wantedBy], ["c"]);
  });

  it("a shared set throws when changed; NameSets replaces it", () => {
    assert.throws(() => (EMPTY as Set<string>).add("x"), { message: "a shared set is never changed: replace it" });
    assert.equal(EMPTY.delete("x" as never), false);
    const names = new NameSets();
    const one = names.with(EMPTY, "c");
    assert.equal(names.with(EMPTY, "c"), one);
    assert.throws(() => one.add("d"), { message: "a shared set is never changed: replace it" });
    const two = names.with(one, "d");
    assert.notEqual(two, one);
    assert.deepEqual([...one], ["c"]);
    assert.deepEqual([...names.without(two, "c")], ["d"]);
    assert.equal(names.without(one, "c"), EMPTY);
  });

  it("200k tasks, half waiting on the other half, all run and are released in the end", () => {
    const s = new SchedulerState();
    for (let i = 0; i < 4; i++) s.addWorker(worker(i), 0);
    const n = 100_000;
    const specs: TaskSpec[] = [];
    for (let i = 0; i < n; i++) specs.push(spec(`inc-${i}`));
    for (let i = 0; i < n; i++) specs.push(spec(`add-${i}`, { deps: [`inc-${(i * 7) % n}`] }));
    let running = computes(s.updateGraph("c", specs, "s1"));
    let done = 0;
    while (running.length) {
      const next: Array<[string, string]> = [];
      for (const [w, k] of running) {
        next.push(...computes(s.taskFinished(w, k, 8, 0.001, `f-${done}`)));
        done++;
        if (k.startsWith("add-")) s.releaseKeys("c", [k], `r-${done}`);
      }
      running = next;
    }
    assert.equal(done, 2 * n);
    assert.equal(s.finished, 2 * n);
    // the add- keys are released; inc- keys stay, wanted by the client, in memory
    assert.deepEqual(s.counts(), { memory: n });
    assert.ok(s.idle());
  });

  it("the free workers' first is always the lightest eligible worker (then the earliest at that load), whatever the order of changes", () => {
    // random changes, checked against a scan that keeps when each worker reached its load
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const free = new FreeWorkers();
    const ws: WorkerRecord[] = Array.from({ length: 40 }, (_, i) => ({ nthreads: 1 + (i % 3), processing: new Set(), longRunning: new Set(), closing: false, paused: false, load: 0, seq: i, bucket: -1 }) as unknown as WorkerRecord);
    // the model: when each worker (eligible) reached its occupied count
    const reached = new Map<WorkerRecord, { k: number; at: number }>();
    let clock = 0;
    const reweigh = (w: WorkerRecord) => {
      free.reweigh(w);
      const k = w.processing.size;
      if (w.paused || w.closing) reached.delete(w);
      else if (reached.get(w)?.k !== k) reached.set(w, { k, at: clock++ });
    };
    for (const w of ws) reweigh(w);
    const task = () => ({}) as TaskRecord;
    const load = (x: WorkerRecord) => x.processing.size / x.nthreads;
    for (let step = 0; step < 20_000; step++) {
      const w = ws[rand(ws.length)]!;
      const r = rand(10);
      if (r < 4) w.processing.add(task());
      else if (r < 8) {
        const first = w.processing.values().next();
        if (!first.done) w.processing.delete(first.value);
      } else if (r === 8) w.paused = !w.paused;
      else {
        // the first takes a task, as placement does
        const top = free.peek();
        if (top) {
          top.processing.add(task());
          reweigh(top);
        }
        continue;
      }
      reweigh(w);
      // per thread count, the earliest at the lowest count; then among those the lightest, then the earliest registered
      const heads = new Map<number, WorkerRecord>();
      for (const [x, { k, at }] of reached) {
        const h = heads.get(x.nthreads);
        const hr = h && reached.get(h)!;
        if (!hr || k < hr.k || (k === hr.k && at < hr.at)) heads.set(x.nthreads, x);
      }
      const lightest = [...heads.values()].reduce<WorkerRecord | undefined>((a, x) => (!a || load(x) < load(a) || (load(x) === load(a) && x.seq < a.seq) ? x : a), undefined);
      assert.equal(free.peek(), lightest, `step ${step}`);
      // search walks the eligible workers lightest first
      const walked: WorkerRecord[] = [];
      free.search((x) => (walked.push(x), "skip"), ws.length);
      assert.equal(walked.length, reached.size);
      for (let i = 1; i < walked.length; i++) assert.ok(load(walked[i - 1]!) <= load(walked[i]!), `step ${step}: walked in load order`);
    }
  });
});
