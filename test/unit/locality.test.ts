// Pure parts of issue 14's points 2, 3 and 9: rebalance's plan, the scheduler state's
// fire-and-forget and replica removal, gather's errors option, and RemoteTaskError.cause.
import assert from "node:assert/strict";
import { RemoteTaskError } from "../../src/errors.js";
import { gatherSkips } from "../../src/client/submit-options.js";
import { type Instruction, SchedulerState } from "../../src/scheduler/state.js";
import { Locality } from "../../src/scheduler/locality.js";
import { RemoteError, type Rpc } from "../../src/comm/rpc.js";
import { MOVE_RETRY_MS, move } from "../../src/client/locality.js";
import { NOT_IN_MEMORY } from "../../src/protocol/messages-locality.js";
import { type RebalanceWorker, planRebalance } from "../../src/scheduler/state-rebalance.js";
import type { TaskSpec } from "../../src/protocol/messages.js";

const spec = (key: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({ key, fn: "x => x", args: [new Uint8Array([0x90])], deps: [], ...extra });
const worker = (name: string) => ({ address: `tcp://w${name}:1`, name, host: "h", nthreads: 1, memoryLimit: 0, pid: 1 });

/** Workers holding keys of the given sizes (each key on its worker only). */
function holding(sizes: Record<string, number[]>): RebalanceWorker[] {
  return Object.entries(sizes).map(([address, list]) => ({
    address,
    nbytes: list.reduce((a, b) => a + b, 0),
    keys: list.map((nbytes, i) => ({ key: `${address}-${i}`, nbytes, holders: new Set([address]) })),
  }));
}

/** Bytes per worker after the moves. */
function after(ws: RebalanceWorker[], moves: ReturnType<typeof planRebalance>): Record<string, number> {
  const out = Object.fromEntries(ws.map((w) => [w.address, w.nbytes]));
  for (const m of moves) {
    out[m.from]! -= m.nbytes;
    out[m.to]! += m.nbytes;
  }
  return out;
}

describe("rebalance plan", () => {
  // protects: rebalance evens out stored bytes (10 equal values on one of two workers -> 5 and 5)
  it("moves half of one worker's equal values to an empty one", () => {
    const ws = holding({ a: Array(10).fill(100), b: [] });
    const moves = planRebalance(ws);
    assert.equal(moves.length, 5);
    assert.ok(moves.every((m) => m.from === "a" && m.to === "b"));
    assert.deepEqual(after(ws, moves), { a: 500, b: 500 });
  });

  // protects: largest first, and no move that would overshoot the mean (Dask's rule)
  it("sends the largest values first and never pushes a recipient past the mean", () => {
    const ws = holding({ a: [600, 300, 100, 100], b: [100], c: [100] });
    const moves = planRebalance(ws); // mean 433
    assert.deepEqual(moves.map((m) => [m.nbytes, m.to]), [[300, "b"], [100, "c"], [100, "c"]], "600 would overshoot; 300 fits b; then the 100s go to the emptiest");
    assert.deepEqual(after(ws, moves), { a: 600, b: 400, c: 300 });
  });

  // protects: a balanced cluster, and a copy a recipient already holds, are left alone
  it("moves nothing when balanced, and never to a worker that already holds the key", () => {
    assert.deepEqual(planRebalance(holding({ a: [100, 100], b: [100, 100] })), []);
    const ws: RebalanceWorker[] = [
      { address: "a", nbytes: 1000, keys: [{ key: "k", nbytes: 1000, holders: new Set(["a", "b"]) }] },
      { address: "b", nbytes: 1000, keys: [{ key: "k", nbytes: 1000, holders: new Set(["a", "b"]) }] },
      { address: "c", nbytes: 0, keys: [] },
    ];
    const moves = planRebalance(ws);
    assert.ok(moves.every((m) => m.to === "c"), JSON.stringify(moves));
    assert.ok(moves.length <= 1, "one copy of k moves at most (b's stays)");
  });
});

describe("scheduler state: fire-and-forget and replicas", () => {
  // protects: a fire-and-forget task outlives its client, and is released once it finished
  it("keeps a fire-and-forget task after its client leaves, and forgets it once finished", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addClient("c");
    s.updateGraph("c", [spec("ff"), spec("plain")], "s1");
    s.fireAndForget(["ff", "unknown-key"]);
    s.removeClient("c", "s2");
    assert.equal(s.tasks.get("plain"), undefined, "an ordinary task nobody wants is forgotten");
    assert.equal(s.tasks.get("ff")!.state, "processing");
    const ins = s.taskFinished("tcp://w1:1", "ff", 8, 0.1, "s3");
    assert.equal(s.tasks.get("ff"), undefined, "released and forgotten once finished");
    assert.ok(ins.some((i) => i.type === "send-worker" && i.msg.op === "free-keys"), "its result is freed on the worker");
  });

  // protects: an erred fire-and-forget task is let go too (no leak of erred tasks)
  it("lets go of a fire-and-forget task that erred", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.updateGraph("c", [spec("ff")], "s1");
    s.fireAndForget(["ff"]);
    s.releaseKeys("c", ["ff"], "s2");
    assert.equal(s.tasks.get("ff")!.state, "processing");
    s.taskErred("tcp://w1:1", "ff", { name: "Error", message: "boom", stack: "" }, "s3");
    assert.equal(s.tasks.get("ff"), undefined);
  });

  // protects: rebalance/replicate drop only a copy held elsewhere too, and keep the counts right
  it("removes a replica only when another copy stays", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    s.updateGraph("c", [spec("k", { workers: ["1"] })], "s1");
    s.taskFinished("tcp://w1:1", "k", 100, 0.1, "s2");
    assert.equal(s.removeReplica("k", "tcp://w1:1"), false, "the only copy stays");
    assert.equal(s.addReplica("k", "tcp://w2:1", s.tasks.get("k")!.run - 1), false, "a copy of another value of k is stray");
    assert.equal(s.addReplica("k", "tcp://w2:1", s.tasks.get("k")!.run), true);
    assert.equal(s.workers.get("tcp://w2:1")!.nbytes, 100);
    const ins = s.removeReplica("k", "tcp://w1:1");
    assert.ok(ins);
    assert.deepEqual(ins.map((i) => [i.type === "send-worker" && i.worker, i.msg.op, i.msg.keys]), [["tcp://w1:1", "free-keys", ["k"]]]);
    assert.deepEqual(s.whoHas(["k"]), { k: ["tcp://w2:1"] });
    assert.deepEqual(s.whoHas(), { k: ["tcp://w2:1"] }, "no keys: every key in memory");
    assert.equal(s.workers.get("tcp://w1:1")!.nbytes, 0);
    assert.equal(s.addReplica("gone", "tcp://w1:1", 1), false, "a copy of an unknown key is stray");
  });

  // protects: rebalance or replicate dropped a copy a task sent to that worker was about to use;
  // the worker freed it under the task, which erred ("dependency ... did not reach the task thread")
  it("keeps a copy a task on that worker needs", () => {
    const s = new SchedulerState();
    s.addWorker(worker("1"), 0);
    s.addWorker(worker("2"), 0);
    s.updateGraph("c", [spec("k", { workers: ["1"] })], "s1");
    s.taskFinished("tcp://w1:1", "k", 100, 0.1, "s2");
    s.addReplica("k", "tcp://w2:1", s.tasks.get("k")!.run);
    s.updateGraph("c", [spec("t", { deps: ["k"], workers: ["1"] })], "s3");
    assert.equal(s.tasks.get("t")!.processingOn, "tcp://w1:1");
    assert.equal(s.removeReplica("k", "tcp://w1:1"), false, "t on w1 needs it");
    assert.ok(s.removeReplica("k", "tcp://w2:1"), "w2's copy is nobody's there");
  });
});

describe("gather's errors option", () => {
  // protects: a typo in errors is an error naming the value, not a silent raise
  it('accepts "raise" and "skip" only, naming a bad value', () => {
    assert.equal(gatherSkips(undefined), false);
    assert.equal(gatherSkips("raise"), false);
    assert.equal(gatherSkips("skip"), true);
    assert.throws(() => gatherSkips("ignore"), { name: "TypeError", message: 'gather\'s errors option must be "raise" or "skip", got "ignore"' });
  });
});

describe("RemoteTaskError.cause", () => {
  // protects: checks by the remote error's type name, without instanceof (point 9)
  it("is an Error with the remote name, message and stack", () => {
    const err = new RemoteTaskError("k", { name: "RangeError", message: "too far", stack: "RangeError: too far\n    at remote (task.js:1:1)" });
    assert.ok(err.cause instanceof Error);
    assert.equal(err.cause.name, "RangeError");
    assert.equal(err.cause.message, "too far");
    assert.match(err.cause.stack!, /at remote \(task\.js:1:1\)/);
    assert.equal(err.remoteName, "RangeError");
    const bare = new RemoteTaskError("k", { name: "TypeError", message: "m", stack: "" });
    assert.equal(bare.cause.stack, "TypeError: m", "no remote stack: the name and message stand for it");
  });
});

describe("Locality: copies (replicate, rebalance, retirement) recorded for the task they were asked for", () => {
  /** A scheduler state with x in memory on w1, and a holder whose replicate-to answers when the test says. */
  function setUp() {
    const state = new SchedulerState();
    state.addClient("c");
    state.addWorker(worker("1"), 0);
    state.addWorker(worker("2"), 0);
    state.updateGraph("c", [spec("x", { workers: ["1"] })], "s1");
    state.taskFinished("tcp://w1:1", "x", 8, 0.1, "s2");
    let answer!: (keys: string[]) => void;
    const holder = { request: () => new Promise<string[]>((r) => (answer = r)) } as unknown as Rpc;
    const sent: Instruction[] = [];
    const locality = new Locality({ state, workers: new Map([["tcp://w1:1", holder]]), run: (ins) => sent.push(...ins) });
    return { state, locality, sent, answer: (keys: string[]) => answer(keys) };
  }
  const freed = (ins: Instruction[], to: string) => ins.filter((i) => i.type === "send-worker" && i.worker === to && i.msg.op === "free-keys").flatMap((i) => i.msg.keys as string[]);

  it("a copy of the key as asked is a replica", async () => {
    const { state, locality, answer } = setUp();
    const copying = locality.replicate({ op: "replicate", keys: ["x"], n: 2 });
    await Promise.resolve();
    answer(["x"]);
    assert.deepEqual(await copying, { copied: 1, dropped: 0 });
    assert.deepEqual([...state.tasks.get("x")!.whoHas].sort(), ["tcp://w1:1", "tcp://w2:1"]);
  });

  it("a copy of a key released and submitted again meanwhile is not counted as the new one's, and is freed there", async () => {
    const { state, locality, sent, answer } = setUp();
    const copying = locality.replicate({ op: "replicate", keys: ["x"], n: 2 });
    await Promise.resolve();
    state.releaseKeys("c", ["x"], "s3");
    state.updateGraph("c", [spec("x", { fn: "() => 2", workers: ["1"] })], "s4");
    state.taskFinished("tcp://w1:1", "x", 8, 0.1, "s5");
    answer(["x"]);
    assert.deepEqual(await copying, { copied: 0, dropped: 0 });
    assert.deepEqual([...state.tasks.get("x")!.whoHas], ["tcp://w1:1"], "w2 holds the old value: never a holder of the new");
    assert.deepEqual(freed(sent, "tcp://w2:1"), ["x"]);
  });

  it("a stray copy is not freed where the key's new run is processing", async () => {
    const { state, locality, sent, answer } = setUp();
    const copying = locality.replicate({ op: "replicate", keys: ["x"], n: 2 });
    await Promise.resolve();
    state.releaseKeys("c", ["x"], "s3");
    state.updateGraph("c", [spec("x", { fn: "() => 2", workers: ["2"] })], "s4");
    assert.equal(state.tasks.get("x")!.processingOn, "tcp://w2:1");
    answer(["x"]);
    assert.deepEqual(await copying, { copied: 0, dropped: 0 });
    assert.deepEqual(freed(sent, "tcp://w2:1"), [], "freeing x there would drop its run");
    assert.equal(state.tasks.get("x")!.processingOn, "tcp://w2:1");
  });
});

// Found by random graphs (session 23): a journaled scheduler lost scattered data that replicate
// had moved, and replicate during a take-over's grace failed with "only 0 workers".
describe("Locality with a journaled scheduler: the grace, copies of scattered data, and drops", () => {
  it("waits for the grace, reports each copy of scattered data, and drops a copy only once the journal is durable", async () => {
    const state = new SchedulerState();
    state.addClient("c");
    state.addWorker(worker("1"), 0);
    state.addWorker(worker("2"), 0);
    state.addData("c", "tcp://w1:1", [{ key: "s", nbytes: 8 }], "s1");
    const asked: string[] = [];
    const holder = { request: async (m: { runs: Record<string, number> }) => (asked.push("replicate-to"), Object.keys(m.runs)) } as unknown as Rpc;
    const copied: string[] = [];
    let resume!: () => void;
    const resumed = new Promise<void>((r) => (resume = r));
    let durable!: () => void;
    const events: string[] = [];
    const locality = new Locality({
      state,
      workers: new Map([["tcp://w1:1", holder], ["tcp://w2:1", holder]]),
      run: () => {},
      copiedScattered: (key, to, nbytes) => copied.push(`${key} ${to} ${nbytes}`),
      durable: () => (events.push("durable asked"), new Promise<void>((r) => (durable = r))),
      resumed: () => resumed,
    });
    const copying = locality.replicate({ op: "replicate", keys: ["s"], n: 2 });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(asked, [], "nothing planned before work resumes");
    resume();
    assert.deepEqual(await copying, { copied: 1, dropped: 0 });
    assert.deepEqual(copied, ["s tcp://w2:1 8"], "the new holder is journaled");
    const dropping = locality.replicate({ op: "replicate", keys: ["s"], n: 1 });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, ["durable asked"]);
    assert.equal(state.tasks.get("s")!.whoHas.size, 2, "no copy dropped before the journal is on disk");
    durable();
    assert.deepEqual(await dropping, { copied: 0, dropped: 1 });
    assert.equal(state.tasks.get("s")!.whoHas.size, 1);
  });
});

// Found in session 23 (noted, fixed in 24): a replicate of a value whose holder died after the
// client saw it done failed with 'replicate: "x" is not in memory (it is processing)'; it now
// waits for the value to be computed again and asks again, as a user would have to
describe("replicate and rebalance of a value being computed again", () => {
  it("the scheduler names such a key's error NotInMemoryError; an unknown or released key's stays a plain Error", async () => {
    const state = new SchedulerState();
    state.addClient("c");
    state.addWorker(worker("1"), 0);
    state.updateGraph("c", [spec("x")], "s1");
    const locality = new Locality({ state, workers: new Map(), run: () => {} });
    await assert.rejects(locality.replicate({ op: "replicate", keys: ["x"], n: 1 }), { name: NOT_IN_MEMORY, message: 'replicate: "x" is not in memory (it is processing)' });
    await assert.rejects(locality.rebalance({ op: "rebalance", keys: ["y"] }), { name: "Error", message: 'rebalance: "y" is not in memory (it is unknown to the scheduler)' });
  });

  /** Futures that are done, counting the waits for them. */
  const done = () => {
    const waits: number[] = [];
    const f = { key: "x", status: "finished", whenDone: async (o: { timeout: number }) => void waits.push(o.timeout), exception: () => undefined };
    return { futures: [f] as never, waits };
  };
  const notInMemory = () => new RemoteError({ name: NOT_IN_MEMORY, message: 'replicate: "x" is not in memory (it is processing)', stack: "" });

  it("the client waits for the futures again and asks again while a key is being computed again", async () => {
    const { futures, waits } = done();
    let asks = 0;
    const host = { request: async () => (++asks < 3 ? Promise.reject(notInMemory()) : "ok") };
    await move(host as never, futures, { op: "replicate", keys: ["x"], n: 1 });
    assert.equal(asks, 3);
    assert.equal(waits.length, 3, "the futures waited for before each ask");
    assert.equal(waits[0], Infinity, "the first wait is as long as it takes, as in Dask");
  });

  it("any other error is thrown at once, as a plain Error (a RangeError kept); retries end after retryMs", async () => {
    const { futures } = done();
    let asks = 0;
    const range = { request: async () => (asks++, Promise.reject(new RemoteError({ name: "RangeError", message: "replicate: n=3 copies asked, but there are only 2 workers", stack: "" }))) };
    await assert.rejects(move(range as never, futures, { op: "replicate" }), { name: "RangeError", message: /^replicate: n=3/ });
    assert.equal(asks, 1);
    let tries = 0;
    const always = { request: async () => (tries++, Promise.reject(notInMemory())) };
    await assert.rejects(move(always as never, futures, { op: "replicate" }, 3 * MOVE_RETRY_MS), (err: Error) => err.name === "Error" && /is not in memory \(it is processing\)$/.test(err.message));
    assert.ok(tries >= 2 && tries <= 5, `${tries} asks within the retry window`);
  });
});
