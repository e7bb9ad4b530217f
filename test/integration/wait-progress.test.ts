// wait(), asCompleted() and progress() against an in-process cluster over inproc://.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { CancelledError, type Client, RemoteTaskError, TimeoutError } from "../../src/index.js";
import { asCompleted, wait } from "../../src/client/wait.js";
import { progress } from "../../src/client/progress.js";
import { type InprocCluster, ROOT, withCluster } from "../helpers/cluster.js";
import { spawnProc } from "../helpers/proc.js";
import { skipIf } from "../helpers/skip.js";
import path from "node:path";

const sleep = async (ms: number) => {
  await new Promise((r) => setTimeout(r, ms));
  return ms;
};
/** Longer than any wait here takes, even on a loaded machine (released, it ends on its thread). */
const SLOW_MS = 20_000;
const fail = async (ms: number) => {
  await new Promise((r) => setTimeout(r, ms));
  throw new Error(`failed after ${ms} ms`);
};

describe("wait, asCompleted and progress (in-process cluster over inproc://)", function () {
  this.timeout(30_000);
  let cluster: InprocCluster;
  let client: Client;

  // a thread runs one task at a time, and released tasks still run to the end: enough threads
  // that the slow tasks of earlier tests do not delay later ones
  before(async () => {
    cluster = await withCluster({ mode: "inproc", workers: 1, nthreads: 8 });
    client = cluster.client;
  });

  after(() => cluster.cleanup());

  it("wait: ALL_COMPLETED waits for every future, erred ones included", async () => {
    const fs = [client.submit(sleep, 50), client.submit(sleep, 150), client.submit(fail, 20)];
    const { done, notDone } = await wait(fs);
    assert.deepEqual(done, fs);
    assert.deepEqual(notDone, []);
    assert.deepEqual(fs.map((f) => f.status), ["finished", "finished", "error"]);
    assert.deepEqual(await wait([]), { done: [], notDone: [] });
  });

  // the slow tasks below outlast any load (SLOW_MS): a wait that returns with them not done
  // returned early by design, not by timing
  it("wait: FIRST_COMPLETED returns once one is done", async () => {
    const fast = client.submit(sleep, 30);
    const slow = client.submit(sleep, SLOW_MS);
    const { done, notDone } = await wait([slow, fast], { returnWhen: "FIRST_COMPLETED" });
    assert.deepEqual(done, [fast], "returned before the slow task finished");
    assert.deepEqual(notDone, [slow]);
    slow.release();
  });

  it("wait: FIRST_EXCEPTION returns at the first error, else when all are done", async () => {
    // ok is done before the error happens (on a loaded machine a 10 ms task may end after a 50 ms one)
    const ok = client.submit(sleep, 10);
    await ok.result();
    const slow = client.submit(sleep, SLOW_MS);
    const bad = client.submit(fail, 50);
    const { done, notDone } = await wait([slow, bad, ok], { returnWhen: "FIRST_EXCEPTION" });
    assert.deepEqual(new Set(done), new Set([bad, ok]));
    assert.deepEqual(notDone, [slow]);
    await assert.rejects(bad.result(), RemoteTaskError);
    slow.release();
    const fine = [client.submit(sleep, 20), client.submit(sleep, 60)];
    assert.deepEqual((await wait(fine, { returnWhen: "FIRST_EXCEPTION" })).done, fine);
  });

  it("wait: a timeout rejects with TimeoutError; a cancelled future with CancelledError", async () => {
    const fast = client.submit(sleep, 10);
    await fast.result();
    const slow = client.submit(sleep, SLOW_MS);
    await assert.rejects(wait([fast, slow], { timeout: 300 }), (err: unknown) => {
      assert.ok(err instanceof TimeoutError);
      assert.equal(err.code, "ERR_TIMEOUT");
      assert.equal(err.message, "wait timed out after 300 ms with 1 of 2 futures not done");
      return true;
    });
    await assert.rejects(wait([slow], { timeout: 100, returnWhen: "FIRST_COMPLETED" }), { code: "ERR_TIMEOUT" });
    slow.release();
    await assert.rejects(wait([slow, fast]), (err: unknown) => {
      assert.ok(err instanceof CancelledError);
      assert.equal(err.message, `wait found cancelled futures: ${JSON.stringify(slow.key)}`);
      return true;
    });
    await assert.rejects(wait([fast], { returnWhen: "ANY" as never }), { name: "TypeError", message: /^returnWhen must be one of ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, got "ANY"/ });
  });

  it("asCompleted yields in completion order, with results when asked", async () => {
    // gaps of over a second: tasks handed to threads a few hundred ms apart (a loaded machine) keep their order
    const fs = [3000, 100, 1500].map((ms) => client.submit(sleep, ms));
    const order: number[] = [];
    for await (const f of asCompleted(fs)) order.push(fs.indexOf(f));
    assert.deepEqual(order, [1, 2, 0]);
    // already-done futures come first, in input order
    const pairs: Array<[string, number]> = [];
    for await (const [f, v] of asCompleted(fs, { withResults: true })) pairs.push([f.key, v]);
    assert.deepEqual(pairs, fs.map((f, i) => [f.key, [3000, 100, 1500][i]]));
  });

  it("asCompleted with results throws a failed task's error; breaking out early is fine", async () => {
    const fs = [client.submit(sleep, 200), client.submit(fail, 20)];
    await assert.rejects(
      (async () => {
        for await (const _ of asCompleted(fs, { withResults: true }));
      })(),
      (err: unknown) => err instanceof RemoteTaskError && err.remoteMessage === "failed after 20 ms",
    );
    const more = [client.submit(sleep, 20), client.submit(sleep, 2000)];
    for await (const f of asCompleted(more)) {
      assert.equal(f, more[0]);
      break;
    }
    more[1]!.release();
  });

  // Dask's as_completed takes more futures while it runs (ac.add), the pattern of searches that
  // submit as results come in; asCompleted was a generator over a fixed list
  it("asCompleted takes more futures while it runs (add, update) and yields each once it is done; count, isEmpty, hasReady", async () => {
    const ac = asCompleted([client.submit(sleep, 30, { pure: false })]);
    assert.equal(ac.count(), 1);
    assert.throws(() => ac.add(5 as never), { name: "TypeError", message: "asCompleted: add takes a Future, got the number 5" });
    const seen: number[] = [];
    let submitted = 1;
    for await (const f of ac) {
      seen.push(await f.result());
      // each result brings more work, until 6 tasks were submitted
      if (submitted < 6) {
        ac.update([client.submit(sleep, 10 * submitted, { pure: false }), client.submit(sleep, 200 + submitted, { pure: false })].slice(0, 6 - submitted));
        submitted = Math.min(6, submitted + 2);
      }
      assert.equal(ac.count(), 6 - seen.length - (6 - submitted), "every future added and not yet yielded");
    }
    assert.equal(seen.length, 6);
    assert.ok(ac.isEmpty() && !ac.hasReady());
    const again = client.submit(sleep, 5, { pure: false });
    ac.add(again);
    const [f] = await ac.nextBatch();
    assert.equal(f, again, "an emptied asCompleted takes futures again");
  });

  it("asCompleted in batches: nextBatch gives every future done by then, batches() all of them; clear() forgets the rest", async () => {
    const quick = [client.submit(sleep, 1, { pure: false }), client.submit(sleep, 2, { pure: false }), client.submit(sleep, 3, { pure: false })];
    await wait(quick);
    const slow = client.submit(sleep, 300, { pure: false });
    const ac = asCompleted([...quick, slow], { withResults: true });
    assert.ok(ac.hasReady());
    assert.deepEqual(await ac.nextBatch(false), quick.map((q, i) => [q, i + 1]), "the three done ones at once, with their values");
    assert.deepEqual(await ac.nextBatch(false), [], "none done: no wait when not blocking");
    assert.deepEqual(await ac.nextBatch(), [[slow, 300]]);
    const later = [client.submit(sleep, 20, { pure: false }), client.submit(sleep, 400, { pure: false })];
    const batches: number[][] = [];
    for await (const b of asCompleted(later, { withResults: true }).batches()) batches.push(b.map(([, v]) => v));
    assert.deepEqual(batches.flat().sort((a, b) => a - b), [20, 400]);
    // two waits at once (Promise.all of next()): each gets its own future, none is left hanging
    const pair = [client.submit(sleep, 30, { pure: false }), client.submit(sleep, 60, { pure: false })];
    const both = asCompleted(pair);
    const [one, two] = await Promise.all([both.next(), both.next()]);
    assert.deepEqual(new Set([one.value, two.value]), new Set(pair));
    assert.deepEqual(await both.next(), { done: true, value: undefined });
    const forgotten = asCompleted([client.submit(sleep, SLOW_MS, { pure: false })]);
    assert.equal(forgotten.count(), 1);
    forgotten.clear();
    assert.ok(forgotten.isEmpty());
    assert.deepEqual(await forgotten.next(), { done: true, value: undefined }, "nothing left to wait for");
  });

  it("progress writes nothing to a stream that is not a terminal, and resolves when all are done", async () => {
    let written = "";
    const stream = { write: (s: string) => ((written += s), true), isTTY: false } as unknown as NodeJS.WritableStream;
    const fs = client.map(sleep, [20, 40, 60]);
    await progress(fs, { stream });
    assert.ok(fs.every((f) => f.status === "finished"));
    assert.equal(written, "");
  });

  it("progress draws in place on a TTY up to 100%", async () => {
    let written = "";
    const stream = { write: (s: string) => ((written += s), true), isTTY: true, columns: 80 } as unknown as NodeJS.WritableStream;
    const fs = [...client.map(sleep, [20, 40, 60]), client.submit(fail, 10)];
    await progress(fs, { stream, interval: 10 });
    const frames = written.split("\r").filter(Boolean);
    assert.ok(frames.length >= 2);
    assert.match(frames.at(-1)!, /^\[#{40}\] 4\/4 100% \| \d+\.\d s \| \d+\.\d\/s \| 1 erred\x1b\[K\n$/);
    assert.match(frames[0]!, /^\[-{40}\] 0\/4   0% /);
  });

  describe("progress in a real pseudo-terminal", () => {
    const fixture = path.join(ROOT, "dist/test/integration/fixtures/progress-app.js");
    const env = { DASK_MPI_TS_LOG_LEVEL: "silent" };
    let hasScript = true;
    before(function () {
      try {
        execFileSync("script", ["--version"], { stdio: "ignore" });
      } catch {
        hasScript = false;
        skipIf(this, "util-linux script(1) is missing (apt-get install bsdutils)");
      }
    });

    it("under script(1) the bar redraws and reaches 12/12 100%", async () => {
      assert.ok(hasScript);
      const p = spawnProc("script", ["-qfec", `${JSON.stringify(process.execPath)} ${JSON.stringify(fixture)}`, "/dev/null"], { env });
      const { code } = await p.exited;
      assert.equal(code, 0, p.stderr);
      const frames = p.stdout.split("\r").filter((s) => s.startsWith("["));
      assert.ok(frames.length >= 2, `several redraws: ${JSON.stringify(p.stdout)}`);
      assert.match(p.stdout, /\] 12\/12 100% \| \d+\.\d s \| \d+\.\d\/s/);
      assert.match(p.stdout, /ok\r?\n/);
    });

    it("with stderr piped it writes nothing", async () => {
      const p = spawnProc(process.execPath, [fixture], { env });
      const { code } = await p.exited;
      assert.equal(code, 0, p.stderr);
      assert.equal(p.stderr, "");
      assert.equal(p.stdout, "ok\n");
    });
  });
});
