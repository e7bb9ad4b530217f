import assert from "node:assert/strict";
import { TaskStream, snapshot } from "../../src/dashboard/snapshot.js";
import { parseDashboardAddress } from "../../src/dashboard/address.js";
import { SchedulerState } from "../../src/scheduler/state.js";

describe("dashboard data", () => {
  it("parses :8787, 8787 and host:8787, and names a bad address", () => {
    assert.deepEqual(parseDashboardAddress(":8787"), { host: "", port: 8787 });
    assert.deepEqual(parseDashboardAddress("8787"), { host: "", port: 8787 });
    assert.deepEqual(parseDashboardAddress("10.0.0.1:0"), { host: "10.0.0.1", port: 0 });
    assert.deepEqual(parseDashboardAddress("[::1]:9000"), { host: "::1", port: 9000 });
    for (const bad of ["", "http://x:1", "host:99999", "host:port"]) {
      assert.throws(() => parseDashboardAddress(bad), { code: "ERR_CONFIG", message: new RegExp(`got ${JSON.stringify(JSON.stringify(bad)).slice(1, -1).replace(/[/]/g, "\\/")}`) });
    }
  });

  it("the task stream keeps the newest entries, oldest first, and thins to a maximum", () => {
    const s = new TaskStream(5);
    for (let i = 0; i < 8; i++) s.record({ group: "g", worker: "w", start: i, stop: i + 1 });
    assert.deepEqual(s.since(0).map((e) => e.stop), [4, 5, 6, 7, 8]);
    assert.deepEqual(s.since(6).map((e) => e.stop), [7, 8]);
    assert.equal(s.since(0, 2).length, 2);
    s.clear();
    assert.deepEqual(s.since(0), []);
  });

  it("a snapshot counts tasks per group by state, with what finished so far and the workers' reports", () => {
    const st = new SchedulerState();
    st.addWorker({ address: "tcp://a:1", name: "a", host: "h", nthreads: 2, memoryLimit: 1000, pid: 1, resources: {} }, 0);
    st.updateGraph("c", [
      { key: "inc-1", fn: "f", args: [], deps: [] },
      { key: "inc-2", fn: "f", args: [], deps: [] },
      { key: "sum-1", fn: "f", args: [], deps: ["inc-1", "inc-2"] },
    ] as never, "s1");
    st.taskFinished("tcp://a:1", "inc-1", 8, 0.01, "s2");
    st.heartbeat("tcp://a:1", { rss: 500, storedBytes: 8, spilledBytes: 0, cpu: 50 }, 1);
    const snap = snapshot(st, 42, []);
    assert.equal(snap.time, 42);
    assert.deepEqual(snap.workers.map((w) => [w.name, w.memory, w.cpu, w.status]), [["a", 500, 50, "running"]]);
    const inc = snap.groups.find((g) => g.name === "inc")!;
    const sum = snap.groups.find((g) => g.name === "sum")!;
    assert.deepEqual({ done: inc.done, memory: inc.memory, processing: inc.processing }, { done: 1, memory: 1, processing: 1 });
    assert.equal(sum.waiting, 1);
    assert.equal(snap.totals.finished, 1);
    assert.equal(snap.totals.threads, 2);
  });
});
