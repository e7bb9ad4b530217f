// Values through a real cluster (scheduler and worker processes, task threads): what round-trips
// as arguments and results, worker to worker, scattered and through run(); what is refused at
// submit/map/scatter with a TypeError naming its path, and how a task that returns such a
// value errs. Protects issue 12 points 3 and 4 (Maps came back as objects, -0 as 0, sockets as {}).
import assert from "node:assert/strict";
import net from "node:net";
import { Client, type Future, RemoteTaskError, Variable } from "../../src/index.js";
import { startProcessCluster, tempDir } from "../helpers/cluster.js";
import { cleanupProcs } from "../helpers/proc.js";

/** A value with every kind the README promises, a cycle and a shared reference. */
function sample() {
  const shared = { n: 1 };
  const v: Record<string, unknown> = {
    map: new Map<unknown, unknown>([[1, "one"], ["nested", new Map([["k", shared]])]]),
    set: new Set([1, "two"]),
    date: new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 6)),
    big: 2n ** 80n,
    holes: [1, undefined, 3],
    negZero: -0,
    f32: [new Float32Array([1.5, 2.5])],
    large: new Float64Array(100_000).fill(0.25), // a raw part
    re: /x+/gi,
    err: Object.assign(new TypeError("bad", { cause: "why" }), { code: "E1" }),
    protoKeyed: JSON.parse('{"__proto__": {"x": 1}, "y": 2}'), // msgpack renamed the key "__proto_"
    cut: { ["key \uDE00"]: "smile \uD83D" }, // lone surrogates arrived as U+FFFD
    shared,
    again: shared,
  };
  v.self = v;
  return v;
}

/** Runs on the worker: describes what arrived, so the client can check it arrived intact. */
function inspect(v: Record<string, any>) {
  return {
    mapIsMap: v.map instanceof Map && v.map.get(1) === "one" && v.map.get("nested") instanceof Map,
    sharedInMap: v.map.get("nested").get("k") === v.shared,
    setIsSet: v.set instanceof Set && v.set.has("two"),
    dateIsDate: v.date instanceof Date && v.date.getTime() === Date.UTC(2020, 0, 2, 3, 4, 5, 6),
    big: typeof v.big === "bigint" && v.big === 2n ** 80n,
    holes: v.holes.length === 3 && v.holes[1] === undefined && 1 in v.holes,
    negZero: Object.is(v.negZero, -0),
    f32: v.f32[0] instanceof Float32Array && v.f32[0][1] === 2.5,
    large: v.large instanceof Float64Array && v.large.length === 100_000 && v.large[99_999] === 0.25,
    re: v.re instanceof RegExp && v.re.flags === "gi",
    err: v.err.code === "E1" && v.err instanceof TypeError && v.err.message === "bad" && v.err.cause === "why",
    shared: v.shared === v.again,
    cycle: v.self === v,
    protoKeyed: Object.hasOwn(v.protoKeyed, "__proto__") && v.protoKeyed["__proto__"].x === 1 && Object.getPrototypeOf(v.protoKeyed) === Object.prototype && v.protoKeyed.y === 2,
    cut: v.cut["key \uDE00"] === "smile \uD83D",
  };
}
const ALL_TRUE = Object.fromEntries(Object.keys(inspect(sample())).map((k) => [k, true]));

function assertIntact(v: Record<string, any>) {
  assert.deepEqual(inspect(v), ALL_TRUE);
}

describe("values through a real cluster", function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let client: Client | undefined;

  before(async () => {
    tmp = tempDir();
    const c = await startProcessCluster(tmp.dir, { workers: 2, nthreads: 1 });
    client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
    await client.waitForWorkers(2, { timeout: 20_000 });
  });
  after(async () => {
    await client?.close();
    client = undefined;
    await cleanupProcs();
    tmp.remove();
  });

  it("arguments arrive intact in the task (client -> worker task thread)", async () => {
    assert.deepEqual(await client!.submit(inspect, sample()).result(), ALL_TRUE);
  });

  it("results come back intact (task thread -> worker -> client), worker to worker too", async () => {
    const c = client!;
    const made = c.submit(
      () => {
        const shared = { n: 1 };
        const v: Record<string, unknown> = {
          map: new Map<unknown, unknown>([[1, "one"], ["nested", new Map([["k", shared]])]]),
          set: new Set([1, "two"]), date: new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 6)), big: 2n ** 80n,
          holes: [1, undefined, 3], negZero: -0, f32: [new Float32Array([1.5, 2.5])],
          large: new Float64Array(100_000).fill(0.25), re: /x+/gi,
          err: Object.assign(new TypeError("bad", { cause: "why" }), { code: "E1" }), shared, again: shared,
          protoKeyed: JSON.parse('{"__proto__": {"x": 1}, "y": 2}'), cut: { ["key \uDE00"]: "smile \uD83D" },
        };
        v.self = v;
        return v;
      },
      { workers: ["w0"] },
    );
    assertIntact(await made.result());
    // the dependent runs on the other worker: the value moved worker to worker
    const there = c.submit(inspect, made, { workers: ["w1"] });
    assert.deepEqual(await there.result(), ALL_TRUE);
    const both = await c.gather<unknown>([made, c.submit((m: Map<number, string>) => m, new Map([[1, "a"]]))]);
    assert.ok(both[1] instanceof Map, "a small Map result (news or gather) is a Map");
  });

  it("scatter, run and runOnScheduler keep values", async () => {
    const c = client!;
    const [scattered] = (await c.scatter([sample()])) as unknown as Array<Future<unknown>>;
    assert.deepEqual(await c.submit(inspect, scattered!).result(), ALL_TRUE);
    const ran = await c.run((v: Record<string, unknown>) => new Map([["negZero", v.negZero]]), { negZero: -0 });
    for (const r of Object.values(ran)) assert.ok(r instanceof Map && Object.is(r.get("negZero"), -0));
    assert.deepEqual(await c.runOnScheduler(inspect, sample()), ALL_TRUE);
  });

  // Protects the reuse of the client's copies of big scattered binaries (client/staging.ts): the
  // second and third scatters copy into the memory of the first once its worker has it; every
  // value on the workers stays the one scattered, a caller's change to its array after the call
  // travels nowhere, and a broadcast value is the same on each worker.
  it("big scattered values stay as scattered when the client reuses its copies' memory", async () => {
    const c = client!;
    const sumOf = (a: Float64Array) => {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += a[i]!;
      return [a.length, s];
    };
    const n = (3 << 20) / 8; // 3 MiB each
    const src = new Float64Array(n).fill(1);
    const pa = c.scatter(src, { workers: ["w0"] });
    src.fill(5); // after the call, while a's bytes wait to be written: a keeps its 1s
    const pb = c.scatter(new Float64Array(n).fill(2), { workers: ["w1"] }); // a's copy is still in use
    const [a, b] = await Promise.all([pa, pb]);
    const both = await c.scatter(new Float64Array(n).fill(3), { broadcast: true }); // in a's or b's memory
    const d = await c.scatter(new Float64Array(n).fill(4), { workers: ["w0"] });
    const sums = await c.gather([
      c.submit(sumOf, a, { workers: ["w0"] }),
      c.submit(sumOf, b, { workers: ["w1"] }),
      c.submit(sumOf, both, { workers: ["w0"], pure: false }),
      c.submit(sumOf, both, { workers: ["w1"], pure: false }),
      c.submit(sumOf, d, { workers: ["w1"] }),
    ]);
    assert.deepEqual(sums, [[n, n], [n, 2 * n], [n, 3 * n], [n, 3 * n], [n, 4 * n]]);
    assert.deepEqual([...(await a.result()).subarray(0, 2)], [1, 1]);
  });

  it("refuses what cannot travel at submit, map, submitGraph and scatter, naming the path", async () => {
    const c = client!;
    const socket = new net.Socket();
    try {
      assert.throws(() => c.submit((x: unknown) => x, { conn: socket }), {
        name: "TypeError",
        message: /^argument 1 \.conn: a net\.Socket cannot be sent to a worker/,
      });
      // map and submitGraph are all or nothing: the refused item is named, and the items before
      // it are not submitted either
      assert.throws(() => c.map((x: unknown) => x, [1, Promise.resolve(2)], { key: "refused-map" }), {
        name: "TypeError",
        message: /^map item 2, argument 1: a Promise cannot be sent/,
      });
      assert.throws(() => c.submitGraph({ "refused-ok": [(x: unknown) => x, 1], a: [(x: unknown) => x, { w: new WeakMap() }] }), {
        name: "TypeError",
        message: /^task "a", argument 1 \.w: a WeakMap cannot be sent/,
      });
      assert.equal(await c.submit((x: number) => x + 1, 41).result(), 42); // flushed after anything queued before
      const refusedKeys = await c.runOnScheduler((s: { scheduler: { state: { tasks: Map<string, unknown> } } }) =>
        [...s.scheduler.state.tasks.keys()].filter((k) => k.startsWith("refused-")),
      );
      assert.deepEqual(refusedKeys, []);
      await assert.rejects(c.scatter([1, { deep: [Symbol("s")] }]), { name: "TypeError", message: /^value 2 \.deep\[0\]: a symbol/ });
    } finally {
      socket.destroy();
    }
  });

  // msgpack renames a map key "__proto__", and maps keyed by task names travel (put-data, who-has):
  // a task keyed so would be stored, replicated or reported under another name
  // and a lone surrogate arrives as U+FFFD: two such keys (or Variable names) would be one
  it('refuses the task key "__proto__" at submit and submitGraph, and keys and names with a lone surrogate', () => {
    const c = client!;
    const message = /^key "__proto__" cannot name a task/;
    assert.throws(() => c.submit(() => 1, { key: "__proto__" }), { name: "TypeError", message });
    assert.throws(() => c.submitGraph(Object.defineProperty({}, "__proto__", { value: [() => 1], enumerable: true })), { name: "TypeError", message });
    assert.throws(() => c.submit(() => 1, { key: "k\uD800" }), { name: "TypeError", message: /^key "k\\ud800" cannot name a task: it holds a lone surrogate/ });
    assert.throws(() => new Variable("v\uDC00", { client: c }), { name: "TypeError", message: /^Variable name "v\\udc00" holds a lone surrogate/ });
  });

  it("a task that returns what cannot travel errs with the same kind of message, never {}", async () => {
    const c = client!;
    const f = c.submit(() => ({ p: Promise.resolve(1) }));
    await assert.rejects(f.result(), (err: Error) => {
      assert.ok(err instanceof RemoteTaskError, String(err));
      assert.match(err.message, /result \.p: a Promise cannot be sent from a worker/);
      return true;
    });
    const g = c.submit(() => {
      class Point {
        x = 1;
      }
      return [new Point()];
    });
    await assert.rejects(g.result(), /result \[0\]: an instance of class Point cannot be sent from a worker/);
  });
});
