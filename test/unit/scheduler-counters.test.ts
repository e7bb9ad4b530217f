// The dashboard's counters (dask_scheduler_tasks_finished_total, ..._erred_total) are read
// from SchedulerState.finished/failed: each must move exactly once per task that entered
// memory (or erred) by computing, whatever path the result took. Checked against the
// transition log, with the awkward paths: a result reported twice, a result from a worker the
// task is no longer on, a result after its worker left, recomputation of a lost result.
import assert from "node:assert/strict";
import { SchedulerState } from "../../src/scheduler/state.js";
import type { TaskSpec } from "../../src/protocol/messages.js";

const spec = (key: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({ key, fn: "x => x", args: [new Uint8Array([0x90])], deps: [], ...extra });
const worker = (name: string) => ({ address: `tcp://w${name}:1`, name, host: "h", nthreads: 1, memoryLimit: 0, pid: 1 });
const W1 = "tcp://w1:1";
const W2 = "tcp://w2:1";

/** processing->memory and processing->erred transitions in the log, over all keys. */
function logged(s: SchedulerState, keys: string[]): { memory: number; erred: number } {
  let memory = 0;
  let erred = 0;
  for (const k of keys) {
    for (const e of s.story(k)) {
      if (e.from === "processing" && e.to === "memory") memory++;
      if (e.from === "processing" && e.to === "erred") erred++;
    }
  }
  return { memory, erred };
}

describe("scheduler counters match the transitions (finished / erred)", () => {
  it("every path a result can take counts once per computation, none twice, none missed", () => {
    const s = new SchedulerState();
    s.addClient("c");
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    const keys = Array.from({ length: 40 }, (_, i) => `sq-${i}`);
    s.updateGraph("c", [...keys.map((k) => spec(k)), spec("bad"), spec("dep"), spec("user", { deps: ["dep"] })], "s1");
    const all = [...keys, "bad", "dep", "user"];
    let round = 0;
    // finish whatever is processing, sometimes reporting twice or from the other worker
    const drain = () => {
      for (let guard = 0; guard < 1000; guard++) {
        const running = [...s.tasks.values()].filter((t) => t.state === "processing");
        if (!running.length) return;
        for (const t of running) {
          const on = t.processingOn!;
          const other = on === W1 ? W2 : W1;
          round++;
          if (t.key === "bad") s.taskErred(on, "bad", { name: "Error", message: "on purpose", stack: "" }, `e${round}`);
          else {
            if (round % 7 === 0) s.taskFinished(other, t.key, 8, 0.001, `wrong-worker-${round}`); // ignored
            s.taskFinished(on, t.key, 8, 0.001, `f${round}`);
            if (round % 5 === 0) s.taskFinished(on, t.key, 8, 0.001, `dup-${round}`); // ignored
          }
        }
      }
      assert.fail("tasks kept processing");
    };
    drain();
    // a worker leaves: what only it held and someone wants is recomputed (and counted again)
    s.removeWorker(W1, "gone");
    s.taskFinished(W1, keys[0]!, 8, 0.001, "late-from-gone"); // ignored: no such worker
    drain();
    const want = logged(s, all);
    assert.ok(want.memory > all.length - 1, `some work was recomputed (${want.memory} computations)`);
    assert.equal(s.finished, want.memory, "finished counts each processing->memory once");
    assert.equal(s.failed, want.erred);
    assert.equal([...s.finishedByPrefix.values()].reduce((a, b) => a + b, 0), s.finished, "per-group counts add up to the total");
    for (const k of all) assert.ok(k === "bad" ? s.tasks.get(k)!.state === "erred" : s.tasks.get(k)?.state === "memory" || !s.tasks.has(k), k);
  });
});
