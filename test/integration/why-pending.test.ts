// "Why pending?" on the scheduler's side (scheduler/pending.ts through the built-in pending
// extension and client.whyPending): a resource no worker offers, restrictions to workers not
// there, dependencies not computed, every thread busy, every worker paused for memory, a task
// the scheduler does not know; and the whole pending work grouped by reason. No job queue here:
// the answer has no queue part (test/jobqueue/pools.test.ts has it with SLURM).
import assert from "node:assert/strict";
import { type InprocCluster, withCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/proc.js";

const sleepMs = (ms: number) => (Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms), ms);

describe("why pending: the scheduler's reasons [integration]", function () {
  this.timeout(60_000);
  let c: InprocCluster | undefined;
  afterEach(async () => {
    await c?.cleanup();
    c = undefined;
  });

  it("names the missing resource, the restriction, the dependencies, the busy threads; an unknown key says so", async () => {
    c = await withCluster({ mode: "inproc", workers: 2, worker: (i) => (i === 1 ? { resources: { GPU: 1 } } : {}) });
    const { client } = c;
    const fpga = client.submit((x: number) => x, 1, { resources: { FPGA: 2 } });
    const pinned = client.submit((x: number) => x, 2, { workers: ["no-such-worker"] });
    // long enough for the checks below, under load too: they wait on conditions, not on time
    const slow = client.map(sleepMs, [6000, 6000], { pure: false });
    const after = client.submit((a: number, b: number) => a + b, slow[0]!, slow[1]!);
    const queued = client.submit(sleepMs, 1, { pure: false });
    const why = async (key: string, re: RegExp) => waitFor(`the reason for ${key}`, async () => {
      const w = await client.whyPending(key);
      return re.test(w.scheduler.join("\n")) ? w : undefined;
    }, { timeoutMs: 10_000 });
    const f = await why(fpga.key, /^no worker offers resource FPGA=2 \(the workers offer GPU\)$/);
    assert.equal(f.state, "queued");
    assert.equal(f.queue, undefined, "no job queue: no queue part");
    assert.deepEqual(f.answer, ["scheduler: no worker offers resource FPGA=2 (the workers offer GPU)"]);
    await why(pinned.key, /^it is restricted to workers no-such-worker, none of them connected$/);
    await why(after.key, /^it waits on 2 dependencies not computed yet: /);
    // queued on the scheduler, or already sent to a worker whose thread is busy
    await why(queued.key, /^(all 2 thread\(s\) of the 2 worker\(s\) that could run it are busy; it runs when one frees|it is sent to \S+ and waits there for a free thread \(1 of its 1 thread\(s\) busy\))$/);
    const overall = await client.whyPending();
    assert.equal(overall.key, undefined);
    assert.ok(overall.scheduler.includes("1 task(s) wait on dependencies"), overall.scheduler.join("\n"));
    assert.ok(overall.scheduler.some((r) => /^1 queued task\(s\): no worker offers resource FPGA=2/.test(r)), overall.scheduler.join("\n"));
    const unknown = await client.whyPending("no-such-key");
    assert.equal(unknown.state, "unknown");
    assert.deepEqual(unknown.scheduler, ['the scheduler has no task "no-such-key" (never submitted, or released)']);
    assert.deepEqual(await client.gather(slow), [6000, 6000]);
    assert.deepEqual((await client.whyPending(slow[0]!.key)).scheduler, ["it is done (in memory)"]);
  });

  it("every worker paused for memory: said so (workers whose memory is above their pause threshold)", async () => {
    // a limit far below this process's memory: the workers pause at their first measurement
    c = await withCluster({ mode: "inproc", workers: 1, worker: () => ({ memoryLimit: 1e6, memory: { target: false, spill: false, pause: 0.8, terminate: false }, memoryMonitorMs: 20 }) });
    const { client } = c;
    await waitFor("the worker to pause", () => [...c!.scheduler.state.workers.values()].every((w) => w.paused), { timeoutMs: 10_000 });
    const f = client.submit((x: number) => x, 1);
    const w = await waitFor("the reason", async () => {
      const r = await client.whyPending(f.key);
      return r.state === "queued" ? r : undefined;
    }, { timeoutMs: 10_000 });
    assert.deepEqual(w.scheduler, ["all 1 worker(s) that could run it are paused for memory (above their pause threshold)"]);
  });
});
