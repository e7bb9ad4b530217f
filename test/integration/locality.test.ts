// Issue 14, points 2, 3 and 9 on real clusters: gather's errors: "skip", fireAndForget (a task
// outlives its client), whoHas / hasWhat / nbytes, replicate and rebalance (values copied worker
// to worker, never recomputed: every task appends to a log file when it runs), a replica that
// survives its original holder's death (real processes), and a task error's `cause`.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CancelledError, Client, type Future, RemoteTaskError, fireAndForget } from "../../src/index.js";
import { type InprocCluster, tempDir, withCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/proc.js";

/** A value of `n` bytes, made by a task that logs its run in `log`. */
async function logged(spec: { log: string; n: number; tag: string }): Promise<Uint8Array> {
  const { appendFileSync } = await import("node:fs");
  appendFileSync(spec.log, `${spec.tag}\n`);
  return new Uint8Array(spec.n).fill(7);
}

const runs = (log: string) => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : []);

describe("collect what succeeded, where data lives (issue 14)", function () {
  this.timeout(120_000);
  const tmp = tempDir();
  after(() => tmp.remove());

  describe("on an in-process cluster", () => {
    let c: InprocCluster;
    let n = 0;
    const log = () => path.join(tmp.dir, `runs-${n}.log`);
    beforeEach(async () => {
      n++;
      c = await withCluster({ mode: "inproc", workers: 3 });
    });
    afterEach(() => c.cleanup());

    // protects: errors: "skip" leaves out erred and cancelled futures and keeps the order of the rest
    it('gather(futures, { errors: "skip" }) leaves out the failed ones; "raise" throws; a bad value is a TypeError', async () => {
      const fs = c.client.map((x: number) => {
        if (x === 2) throw new RangeError(`no ${x}`);
        return x * 10;
      }, [1, 2, 3, 4]);
      const slow = c.client.submit(() => new Promise((r) => setTimeout(r, 60_000)));
      await c.client.cancel(slow);
      assert.deepEqual(await c.client.gather([...fs, slow], { errors: "skip" }), [10, 30, 40]);
      await assert.rejects(c.client.gather(fs), (e: unknown) => e instanceof RemoteTaskError && e.remoteName === "RangeError");
      await assert.rejects(c.client.gather([slow], { errors: "raise" }), CancelledError);
      await assert.rejects(c.client.gather(fs, { errors: "ignore" as "skip" }), { name: "TypeError", message: /errors option must be "raise" or "skip", got "ignore"/ });
    });

    // protects: point 9 through a real task: the remote type name and message come back on err.cause
    it("a task's error keeps its type name on err.cause", async () => {
      const f = c.client.submit(() => {
        throw new SyntaxError("bad token");
      });
      const err = await f.result().then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof RemoteTaskError);
      const cause = err.cause;
      assert.deepEqual([cause.name, cause.message], ["SyntaxError", "bad token"]);
      assert.match(cause.stack!, /SyntaxError: bad token/);
    });

    // protects: fireAndForget keeps a task (and its result until it completes) after its client closes; an ordinary dropped task is released
    it("fireAndForget: the task runs to completion after its client closed; a plain dropped future is released", async () => {
      const go = path.join(tmp.dir, `go-${n}`);
      const done = path.join(tmp.dir, `done-${n}`);
      const other = await Client.connect(c.address, { secret: c.secret });
      const waitThenWrite = async (o: { go: string; done?: string }) => {
        const fs = await import("node:fs");
        const end = Date.now() + 60_000;
        while (!fs.existsSync(o.go) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
        if (o.done) fs.writeFileSync(o.done, "done");
        return 1;
      };
      const ff = other.submit(waitThenWrite, { go, done }, { key: `ff-${n}` });
      const plain = other.submit(waitThenWrite, { go }, { key: `plain-${n}` });
      fireAndForget(ff);
      assert.throws(() => fireAndForget([{ key: 3 } as unknown as Future<unknown>]), { name: "TypeError", message: /fireAndForget takes futures, got \{"key":3\}/ });
      await waitFor("both tasks to run", () => c.scheduler.state.tasks.get(`plain-${n}`)?.state === "processing" && c.scheduler.state.tasks.get(`ff-${n}`)?.state === "processing", { timeoutMs: 20_000 });
      await other.close();
      assert.equal(plain.status, "cancelled", "the closed client's own future is done with");
      await waitFor("the plain task to be released", () => !c.scheduler.state.tasks.has(`plain-${n}`), { timeoutMs: 20_000 });
      assert.equal(c.scheduler.state.tasks.get(`ff-${n}`)?.state, "processing", "the fire-and-forget task is kept");
      writeFileSync(go, "go");
      await waitFor("the fire-and-forget task's side effect", () => existsSync(done), { timeoutMs: 30_000 });
      await waitFor("the fire-and-forget task to be let go once finished", () => !c.scheduler.state.tasks.has(`ff-${n}`), { timeoutMs: 20_000 });
      await waitFor("its result freed on the worker", () => c.workers.every((w) => !w.data.has(`ff-${n}`)), { timeoutMs: 20_000 });
    });

    // protects: whoHas / hasWhat / nbytes report the scheduler's view, and name an unknown worker
    it("whoHas, hasWhat and nbytes", async () => {
      const [w0, w1] = c.workers.map((w) => w.address);
      const a = c.client.submit(logged, { log: log(), n: 100_000, tag: "a" }, { workers: ["w0"] });
      const b = c.client.submit(logged, { log: log(), n: 10, tag: "b" }, { workers: ["w1"] });
      await c.client.gather([a, b]);
      assert.deepEqual(await c.client.whoHas([a, b]), { [a.key]: [w0], [b.key]: [w1] });
      assert.deepEqual(await c.client.whoHas(a), { [a.key]: [w0] });
      const all = await c.client.whoHas();
      assert.deepEqual([all[a.key], all[b.key]], [[w0], [w1]]);
      const hw = await c.client.hasWhat();
      assert.deepEqual([hw[w0], hw[w1], hw[c.workers[2]!.address]], [[a.key], [b.key], []]);
      assert.deepEqual(await c.client.hasWhat(["w1"]), { [w1!]: [b.key] });
      const nb = await c.client.nbytes([a, b]);
      assert.ok(nb[a.key]! >= 100_000 && nb[a.key]! < 101_000, `nbytes of a 100 kB array: ${nb[a.key]}`);
      assert.ok(nb[b.key]! > 0 && nb[b.key]! < 1000);
      assert.deepEqual(Object.keys(await c.client.nbytes()).sort(), [a.key, b.key].sort());
      await assert.rejects(c.client.hasWhat(["nope"]), /has-what: unknown worker "nope"/);
    });

    // protects: replicate copies worker to worker (no recomputation), refuses n above the workers, and drops copies above n
    it("replicate: copies until n workers hold a value, without recomputing it", async () => {
      const a = c.client.submit(logged, { log: log(), n: 50_000, tag: "a" }, { workers: ["w0"] });
      await a.whenDone();
      await c.client.replicate(a, { n: 3 });
      assert.equal((await c.client.whoHas(a))[a.key]!.length, 3);
      assert.ok(c.workers.every((w) => w.data.has(a.key)), "every worker stores a copy");
      assert.deepEqual(runs(log()), ["a"], "computed once");
      await assert.rejects(c.client.replicate(a, { n: 4 }), { name: "RangeError", message: /n=4 copies asked, but there are only 3 workers/ });
      await assert.rejects(c.client.replicate(a, { n: 0 }), { name: "TypeError", message: /n must be a positive integer, got 0/ });
      await c.client.replicate(a, { n: 1 });
      assert.equal((await c.client.whoHas(a))[a.key]!.length, 1);
      await waitFor("the dropped copies freed on their workers", () => c.workers.filter((w) => w.data.has(a.key)).length === 1, { timeoutMs: 20_000 });
      assert.equal((await a.result()).length, 50_000);
      // n counts the copies among `workers`: the holder's copy is not one of them
      const [holder] = (await c.client.whoHas(a))[a.key]!;
      const others = c.workers.filter((w) => w.address !== holder).map((w) => w.name);
      await c.client.replicate(a, { n: 2, workers: others });
      assert.equal((await c.client.whoHas(a))[a.key]!.length, 3);
      await assert.rejects(c.client.replicate(a, { workers: ["w1", "w9"] }), /replicate: unknown worker "w9"/);
      await c.client.replicate(a); // default: on every worker
      assert.equal((await c.client.whoHas(a))[a.key]!.length, 3);
      assert.deepEqual(runs(log()), ["a"], "still computed once");
    });

    // protects: rebalance evens out stored bytes by moving values, freeing them at the source, recomputing none
    it("rebalance: values all on one worker end spread evenly, each stored once, none recomputed", async () => {
      const fs = Array.from({ length: 12 }, (_, i) => c.client.submit(logged, { log: log(), n: 40_000, tag: `v${i}` }, { workers: ["w0"] }));
      await Promise.all(fs.map((f) => f.whenDone()));
      const held = async () => Object.values(await c.client.hasWhat()).map((keys) => keys.length);
      assert.deepEqual(await held(), [12, 0, 0]);
      await c.client.rebalance();
      assert.deepEqual(await held(), [4, 4, 4]);
      await waitFor("moved values freed at the source", () => c.workers[0]!.data.size === 4, { timeoutMs: 20_000 });
      assert.deepEqual(c.workers.map((w) => w.data.size), [4, 4, 4]);
      assert.equal(runs(log()).length, 12, "nothing was recomputed");
      const values = await c.client.gather(fs);
      assert.ok(values.every((v) => v.length === 40_000 && v[0] === 7));
      assert.equal(runs(log()).length, 12);
      await c.client.rebalance(fs, { workers: ["w0", "w1"] }); // already balanced: nothing to do
      assert.deepEqual(await held(), [4, 4, 4]);
    });
  });

  describe("on real processes", () => {
    // protects: a replica is a real copy: the value outlives the worker that computed it, without recomputation
    it("a replicated value is gathered after its original holder is killed, not recomputed", async () => {
      const c = await withCluster({ mode: "process", workers: 2, nanny: false });
      try {
        const log = path.join(c.dir, "runs.log");
        const a = c.client.submit(logged, { log, n: 200_000, tag: "a" }, { workers: ["w0"] });
        await a.whenDone();
        await c.client.replicate(a, { n: 2 });
        assert.equal((await c.client.whoHas(a))[a.key]!.length, 2);
        c.workers[0]!.child.kill("SIGKILL");
        await waitFor("the scheduler to drop the dead worker", async () => Object.keys((await c.client.schedulerInfo()).workers).length === 1, { timeoutMs: 30_000 });
        const v = await a.result({ timeout: 30_000 });
        assert.equal(v.length, 200_000);
        assert.deepEqual(runs(log), ["a"], "the value was not recomputed");
      } finally {
        await c.cleanup();
      }
    });
  });
});
