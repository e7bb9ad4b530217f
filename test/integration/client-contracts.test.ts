// Client contracts a Dask user relies on (issue 12): map over several iterables, the options
// rule, errors of run()/runOnScheduler() as thrown, a lost scheduler named as such, and a
// corrupt scheduler file reported at once. Real processes and real TCP on 127.0.0.1.
import assert from "node:assert/strict";
import { existsSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Client, RemoteTaskError } from "../../src/index.js";
import { Scheduler } from "../../src/scheduler/server.js";
import { Worker } from "../../src/worker/worker.js";
import { BIN, startProcessCluster, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, exitWithin, spawnProc, waitFor } from "../helpers/proc.js";

const secret = "test-secret-0123456789";

describe("client contracts (issue 12)", function () {
  this.timeout(60_000);

  describe("in-process cluster", () => {
    let scheduler: Scheduler;
    let workers: Worker[];
    let client: Client;

    before(async () => {
      scheduler = await Scheduler.start({ secret, host: "127.0.0.1" });
      workers = await Promise.all(["a", "b"].map((name) => Worker.start({ schedulerAddress: scheduler.address, secret, name, host: "127.0.0.1", nthreads: 2 })));
      client = await Client.connect(scheduler.address, { secret });
      await client.waitForWorkers(2, { timeout: 10_000 });
    });

    after(async () => {
      await client.close();
      await Promise.all(workers.map((w) => w.close("test over")));
      await scheduler.close("test over");
    });

    // 12.1: map(fn, xs, ys) zips, as Dask's map(func, *iterables); it used to take ys as options
    it("map zips several iterables (arrays, Sets, generators, futures inside), stopping at the shortest", async () => {
      assert.deepEqual(await client.gather(client.map((x: number, y: number) => x + y, [1, 2, 3], [10, 20])), [11, 22]);
      function* gen() {
        for (let i = 0; ; i++) yield i * 100;
      }
      const tens = client.map((x: number) => x * 10, [1, 2, 3]);
      const sums = client.map((a: number, b: number, c: number) => a + b + c, new Set([1, 2, 3]), gen(), tens, { workers: ["b"], pure: false });
      assert.deepEqual(await client.gather(sums), [11, 122, 233]);
      const onB = workers.find((w) => w.name === "b")!;
      for (const f of sums) assert.ok(onB.data.has(f.key), `options after the iterables still apply: ${f.key} is on worker b`);
      const named = client.map((x: number) => x, [1, 2], { key: "sq" });
      assert.ok(named.every((f) => /^sq-/.test(f.key)) && named[0]!.key !== named[1]!.key, `a key is a prefix: ${named.map((f) => f.key)}`);
    });

    // 12.1: an ambiguous last argument throws instead of becoming options or a NaN
    it("map and submit throw a TypeError on an ambiguous or non-iterable argument", () => {
      const bad: unknown[] = [[1, 2], 5];
      assert.throws(() => (client.map as (...a: unknown[]) => unknown)((x: number) => x, ...bad), { name: "TypeError", message: /argument 3 is the number 5/ });
      assert.throws(() => client.map((x: number, o: object) => [x, o], [1], { workers: ["a"], scale: 2 } as never), { name: "TypeError", message: /mixes option names \(workers\) with other keys \(scale\)/ });
      assert.throws(() => client.submit((...xs: unknown[]) => xs, { key: "k", value: 1 }), { name: "TypeError", message: /^submit: .*mixes option names \(key\)/ });
    });

    // Protects: a timeout of Infinity (or over 2^31-1 ms) fired at once ("not done within
    // Infinity ms": Node runs such a timer after 1 ms), and "5s" or NaN timed out at once
    // ("within NaN ms") instead of being refused
    it("result(), gather() and whenDone() wait as long as asked, Infinity and beyond 2^31 ms too; a timeout that is not a number >= 0 is a TypeError naming it", async () => {
      const slow = () => client.submit((ms: number) => new Promise((r) => setTimeout(() => r(ms), ms)), 300, { pure: false });
      assert.equal(await slow().result({ timeout: Infinity }), 300);
      assert.equal(await slow().result({ timeout: 2 ** 31 + 5 }), 300);
      assert.deepEqual(await client.gather([slow()], { timeout: Infinity }), [300]);
      const f = slow();
      await f.whenDone({ timeout: Infinity });
      assert.equal(f.status, "finished");
      await assert.rejects(slow().result({ timeout: 100 }), { name: "TimeoutError", message: /not done within 100 ms/ });
      for (const bad of ["5s", NaN, -1]) {
        await assert.rejects(slow().result({ timeout: bad as number }), { name: "TypeError", message: `result: timeout must be a number of milliseconds >= 0, got ${typeof bad === "string" ? JSON.stringify(bad) : bad}` });
        await assert.rejects(client.gather([slow()], { timeout: bad as number }), { name: "TypeError", message: /^gather: timeout must be/ });
        await assert.rejects(slow().whenDone({ timeout: bad as number }), { name: "TypeError", message: /^whenDone: timeout must be a number of milliseconds >= 0/ });
        await assert.rejects(client.waitForWorkers(1, { timeout: bad as number }), { name: "TypeError", message: /^waitForWorkers: timeout must be/ });
      }
    });

    // Protects: gather of a value that is not a future failed with "Cannot read properties of
    // undefined (reading 'status')"; then gather refused Dask's nested structures
    it("gather takes Dask's nested structures: each future replaced by its value, anything else kept; a Promise or a cycle is a TypeError naming where it is", async () => {
      const f = client.submit((x: number) => x * 10, 1);
      const g = client.submit((x: number) => ({ x }), 2);
      const bad = client.submit(() => {
        throw new Error("no value here");
      }, { pure: false });
      const protoKeyed = JSON.parse('{"__proto__": 7}') as Record<string, unknown>;
      protoKeyed["__proto__"] = f; // an own key, set by JSON.parse: assignment now sets it
      const bare = Object.create(null) as Record<string, unknown>;
      bare.v = g;
      const when = new Date(0);
      const got = await client.gather({ a: f, list: [f, 2, [g, "s"]], map: new Map<unknown, unknown>([[1, g], ["k", null]]), set: new Set([f, 5]), protoKeyed, bare, when, none: undefined });
      assert.deepEqual(got, { a: 10, list: [10, 2, [{ x: 2 }, "s"]], map: new Map<unknown, unknown>([[1, { x: 2 }], ["k", null]]), set: new Set([10, 5]), protoKeyed: JSON.parse('{"__proto__": 10}'), bare: Object.assign(Object.create(null), { v: { x: 2 } }), when, none: undefined });
      assert.equal(Object.getPrototypeOf(got.protoKeyed), Object.prototype, "an own __proto__ key stays a key");
      assert.equal(Object.getPrototypeOf(got.bare), null);
      assert.equal(got.when, when, "what is not walked comes back as it was");
      assert.deepEqual(await client.gather([f, 2] as const), [10, 2]);
      assert.equal(await client.gather(3), 3);
      // skip: a failed future leaves its item or entry out
      assert.deepEqual(await client.gather({ a: f, b: bad, l: [bad, f], m: new Map([["b", bad]]) }, { errors: "skip" }), { a: 10, l: [10], m: new Map() });
      await assert.rejects(client.gather({ a: f, b: bad }), { message: /no value here/ });
      await assert.rejects(client.gather({ a: [f, f.result()] }), { name: "TypeError", message: /^gather: the value at \["a"\]\[1\] is a Promise \(a value being awaited\), not a Future: await it instead of gathering it$/ });
      const cyclic: unknown[] = [f];
      cyclic.push({ back: cyclic });
      await assert.rejects(client.gather(cyclic), { name: "TypeError", message: /^gather: the value at \[1\]\["back"\] contains itself \(a cycle\)/ });
    });

    // Protects: these reached the scheduler as malformed messages, which closed the client's
    // connection: the client reported the scheduler lost and every pending future failed
    it("bad arguments to story, cancel, run, retireWorkers, scatter, waitForWorkers and submit are TypeErrors naming them; the client and its pending work go on", async () => {
      const pending = client.submit((ms: number) => new Promise((r) => setTimeout(() => r("still here"), ms)), 500, { pure: false });
      await assert.rejects(client.story(5 as never), { name: "TypeError", message: "story: key must be a string (a future's key), got 5" });
      await assert.rejects(client.cancel("x" as never), { name: "TypeError", message: /^cancel: its argument is the string "x", not a Future: cancel takes a future or an array of futures$/ });
      await assert.rejects(client.cancel([pending, 3 as never]), { name: "TypeError", message: /^cancel: item 2 is the number 3, not a Future/ });
      await assert.rejects(client.run(() => 1, { workers: "a" as never }), { name: "TypeError", message: `run's workers option must be a list of worker names or addresses, got "a"` });
      await assert.rejects(client.run(() => 1, { timeout: "5s" as never }), { name: "TypeError", message: /^run: timeout must be a number of milliseconds >= 0, got "5s"/ });
      // an unknown worker is named, not skipped (run answered {} for it)
      await assert.rejects(client.run(() => 1, { workers: ["a", "nobody"] }), { message: /^run: unknown worker "nobody" \(workers: / });
      await assert.rejects(client.retireWorkers("a" as never), { name: "TypeError", message: `retireWorkers' argument must be a list of worker names or addresses, got "a"` });
      assert.throws(() => client.submit((x: number) => x, 1, { key: 5 as never }), { name: "TypeError", message: "key must be a string, got 5" });
      assert.throws(() => client.submit((x: number) => x, 1, { allowOtherWorkers: "yes" as never, pure: false }), { name: "TypeError", message: `allowOtherWorkers must be true or false, got "yes"` });
      assert.throws(() => client.submit((x: number) => x, 1, { priority: NaN, pure: false }), { name: "TypeError", message: "priority must be a finite number, got NaN" });
      await assert.rejects(client.scatter(1, { broadcast: "yes" as never }), { name: "TypeError", message: `scatter's broadcast option must be true or false, got "yes"` });
      await assert.rejects(client.scatter(1, { hash: false } as never), { name: "TypeError", message: /^scatter: unknown option "hash"; scatter takes workers and broadcast/ });
      await assert.rejects(client.scatter(1, { workers: "a" as never }), { name: "TypeError", message: `scatter's workers option must be a list of worker names or addresses, got "a"` });
      for (const n of ["1", 1.5, -1, NaN]) {
        await assert.rejects(client.waitForWorkers(n as number, { timeout: 1000 }), { name: "TypeError", message: /^waitForWorkers: the number of workers must be an integer >= 0, got the (string "1"|number 1.5|number -1|number NaN)$/ });
      }
      assert.throws(() => client.submitGraph({ a: 5 as never }), { name: "TypeError", message: "submitGraph: task \"a\" must be [fn, ...args], got the number 5" });
      // a malformed request that gets past the client (or comes from another one) is answered, not a reason to drop it
      await assert.rejects(client.request({ op: "story", key: 5 } as never), /story: key must be a string, got 5/);
      assert.equal(await pending.result({ timeout: 10_000 }), "still here");
      assert.equal(await client.submit((x: number) => x * 2, 21, { pure: false }).result({ timeout: 10_000 }), 42);
    });

    it("submit passes an option-like object as an argument when {} follows it", async () => {
      assert.deepEqual(await client.submit((...xs: unknown[]) => xs, { key: "k", value: 1 }, {}).result(), [{ key: "k", value: 1 }]);
    });

    // 12.5: run() used to give "Error: [object Object]" for an error thrown on a worker
    it("run() and runOnScheduler() keep the remote error's name, message and stack", async () => {
      await assert.rejects(
        client.run(function failsOnWorker() {
          throw new RangeError("worker says no: 7");
        }),
        (err: unknown) => {
          assert.ok(err instanceof RemoteTaskError, String(err));
          assert.equal(err.remoteName, "RangeError");
          assert.equal(err.remoteMessage, "worker says no: 7");
          assert.match(err.remoteStack, /RangeError: worker says no: 7\n\s+at failsOnWorker/);
          assert.match(err.message, /RangeError: worker says no: 7/);
          assert.doesNotMatch(err.message, /\[object Object\]/);
          return true;
        },
      );
      await assert.rejects(
        client.runOnScheduler(function failsOnScheduler() {
          throw new TypeError("scheduler says no");
        }),
        (err: unknown) => err instanceof RemoteTaskError && err.remoteName === "TypeError" && err.remoteMessage === "scheduler says no" && /at failsOnScheduler/.test(err.remoteStack),
      );
      // a thrown non-Error keeps its content
      await assert.rejects(
        client.run(() => {
          throw { code: 42 };
        }),
        (err: unknown) => err instanceof RemoteTaskError && err.remoteMessage === "{ code: 42 }",
      );
    });
  });

  describe("separate processes", () => {
    const tmp = tempDir();
    afterEach(cleanupProcs);
    after(() => tmp.remove());

    // 12.6: a scheduler killed with SIGKILL used to fail pending futures with "was cancelled"
    it("a lost scheduler fails pending futures with SchedulerLostError after the reconnect window", async () => {
      const c = await startProcessCluster(tmp.dir, { workers: 1, nanny: false });
      const waiting = await Client.connect({ schedulerFile: c.file, reconnectTimeout: 1500 });
      const impatient = await Client.connect({ schedulerFile: c.file, reconnectTimeout: 0 });
      try {
        await waiting.waitForWorkers(1, { timeout: 30_000 });
        const address = waiting.schedulerAddress;
        const slow = () => new Promise((r) => setTimeout(r, 120_000));
        const f = waiting.submit(slow, { pure: false });
        const g = impatient.submit(slow, { pure: false });
        await waitFor("both tasks to run", async () => (await waiting.story(f.key)).some((s) => s.to === "processing") && (await impatient.story(g.key)).some((s) => s.to === "processing"), { timeoutMs: 20_000 });
        const killedAt = Date.now();
        c.scheduler.child.kill("SIGKILL");
        const [ef, eg] = await Promise.all([f.result().then(() => undefined, (e: unknown) => e), g.result().then(() => undefined, (e: unknown) => e)]);
        const waited = Date.now() - killedAt;
        for (const [err, ms] of [[ef, 1500], [eg, 0]] as const) {
          assert.ok(err instanceof Error, `rejected: ${String(err)}`);
          assert.equal(err.name, "SchedulerLostError", err.stack);
          assert.equal((err as Error & { code: string }).code, "ERR_SCHEDULER_LOST");
          assert.ok(err.message.includes(`the scheduler at ${address} was lost (connection to ${address.replace("tcp://", "")} closed`), err.message);
          assert.match(err.message, ms ? /the client waited \d+ ms for it to come back \(reconnectTimeout 1500 ms\)/ : /did not wait for it \(reconnectTimeout 0\)/);
          assert.match(err.message, /work that was pending is lost: check that the scheduler process is still running .* and that this host can reach tcp:/);
        }
        assert.ok(waited >= 1500, `the patient client waited its window (${waited} ms)`);
        assert.ok((ef as Error & { waitedMs: number }).waitedMs >= 1500);
        // the client is done: new calls say why
        assert.throws(() => waiting.submit((x: number) => x, 1), { name: "SchedulerLostError" });
        // every call to the scheduler says the same (story, getVersions and whyPending said "connection closed")
        for (const call of [() => waiting.story(f.key), () => waiting.getVersions(), () => waiting.whyPending(), () => waiting.schedulerInfo()]) {
          await assert.rejects(call(), { name: "SchedulerLostError" });
        }
      } finally {
        await waiting.close();
        await impatient.close();
      }
    });

    // issue 16 changed reconnecting: a client follows the scheduler file to whatever scheduler is
    // there next. One without a journal knows none of the client's work: that work is lost, and
    // says so (SchedulerLostError), never "cancelled" as if someone had cancelled it
    it("a new scheduler without a journal in the window: pending futures fail as lost, saying it has no journal", async () => {
      const c = await startProcessCluster(tmp.dir, { workers: 1, nanny: false });
      const client = await Client.connect({ schedulerFile: c.file, reconnectTimeout: 60_000 });
      try {
        await client.waitForWorkers(1, { timeout: 30_000 });
        const address = client.schedulerAddress;
        const f = client.submit(() => new Promise((r) => setTimeout(r, 120_000)), { pure: false });
        await waitFor("the task to run", async () => (await client.story(f.key)).some((s) => s.to === "processing"), { timeoutMs: 20_000 });
        c.scheduler.child.kill("SIGKILL");
        await exitWithin(c.scheduler, 10_000);
        unlinkSync(c.file);
        const next = spawnProc(process.execPath, [BIN("dask-scheduler-ts"), "--scheduler-file", c.file, "--interface", "lo"], { env: { DASK_MPI_TS_LOG_LEVEL: "warn" } });
        await waitFor("the new scheduler's file", () => existsSync(c.file), { timeoutMs: 15_000, proc: next });
        const err = await f.result().then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof Error, `rejected: ${String(err)}`);
        assert.equal(err.name, "SchedulerLostError", err.stack);
        assert.ok(err.message.startsWith(`the scheduler at ${address} was lost (connection to `), err.message);
        assert.match(err.message, /; the scheduler now at tcp:\/\/127\.0\.0\.1:\d+ has no journal, so it does not know this client's work\)/);
        assert.throws(() => client.submit((x: number) => x, 1), { name: "SchedulerLostError" });
      } finally {
        await client.close();
      }
    });

    // 12.7: a corrupt file was reported as "does not exist yet" after the whole timeout
    it("Client.connect fails at once on a corrupt scheduler file, naming it and what is wrong", async () => {
      const cases: Array<[string, RegExp]> = [
        ['{"address": "tcp://127.0.0.1:1", "secret": ', /is corrupt: not valid JSON/],
        ["null", /has no address or secret \(a JSON null\)/],
        ['{"type": "Scheduler", "secret": "s"}', /has no address \(keys: type, secret\)/],
      ];
      for (const [i, [text, wrong]] of cases.entries()) {
        const file = path.join(tmp.dir, `corrupt-${i}.json`);
        writeFileSync(file, text, { mode: 0o600 });
        await assert.rejects(Client.connect({ schedulerFile: file, timeout: 45_000 }), (err: unknown) => {
          assert.ok(err instanceof Error && (err as Error & { code: string }).code === "ERR_CONFIG", String(err));
          assert.ok(err.message.includes(`scheduler file ${file}`), err.message);
          assert.match(err.message, wrong);
          return true;
        });
      }
    });

    it("dask-worker-ts exits non-zero at once on a corrupt scheduler file, with the reason and no stack trace", async () => {
      const file = path.join(tmp.dir, "corrupt-worker.json");
      writeFileSync(file, "{ not json", { mode: 0o600 });
      for (const nanny of ["--no-nanny", "--nanny"]) {
        const w = spawnProc(process.execPath, [BIN("dask-worker-ts"), "--scheduler-file", file, "--interface", "lo", nanny, "--death-timeout", "120s", "--local-directory", tmp.dir], {
          env: { DASK_MPI_TS_LOG_LEVEL: "warn" },
        });
        const { code } = await exitWithin(w, 45_000);
        assert.equal(code, 1, w.stderr);
        assert.ok(w.stderr.includes(`dask-worker-ts: error: `) && w.stderr.includes(`scheduler file ${file} is corrupt: not valid JSON`), `${nanny}: ${w.stderr}`);
        assert.doesNotMatch(w.stderr, /\n\s+at /, "no stack trace");
      }
      assert.ok(existsSync(file), "the file is left for the user to look at");
    });
  });
});
