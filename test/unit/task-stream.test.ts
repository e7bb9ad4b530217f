// Pure parts of issue 14's point 7: the worker state machine passes a task's thread and
// startstops on to the scheduler, the worker's TransferLog hands each fetch to the task it was
// for, the task-stream ring is bounded and filters by time and count, get-task-stream's fields
// are checked, and the report's HTML escapes what the cluster names.
import assert from "node:assert/strict";
import { renderReport } from "../../src/client/report-html.js";
import { TaskStream, recordOf } from "../../src/extensions/task-stream.js";
import { parseGetTaskStream } from "../../src/protocol/messages-task-stream.js";
import type { TaskStreamRecord } from "../../src/protocol/messages-task-stream.js";
import { WorkerState } from "../../src/worker/state-machine.js";
import { TransferLog } from "../../src/worker/transfers.js";

const rec = (key: string, start: number, stop: number): TaskStreamRecord => ({ key, group: "g", worker: "w", thread: 0, start, stop, status: "memory", nbytes: 1, transfers: [] });

describe("task stream: pure parts", () => {
  // protects: the scheduler gets where and when a task ran, with its result or its error
  it("the worker state machine puts thread and startstops into task-finished and task-erred", () => {
    const w = new WorkerState<Buffer[]>(2);
    w.handle({ type: "compute-task", stimulusId: "s1", task: { key: "a", fn: "f", args: [], deps: [], priority: 0 } });
    w.handle({ type: "compute-task", stimulusId: "s2", task: { key: "b", fn: "f", args: [], deps: [], priority: 0 } });
    const timing = { thread: 1, startstops: [{ action: "compute" as const, start: 10, stop: 20 }] };
    const ok = w.handle({ type: "executed", stimulusId: "s3", key: "a", result: { ok: true, value: [Buffer.from("x")], nbytes: 1, durationS: 0.01 }, timing });
    const fin = ok.find((i) => i.type === "send")!;
    assert.deepEqual(fin.type === "send" && [fin.msg.op, fin.msg.thread, fin.msg.startstops], ["task-finished", 1, timing.startstops]);
    const bad = w.handle({ type: "executed", stimulusId: "s4", key: "b", result: { ok: false, error: { name: "E", message: "m", stack: "" }, durationS: 0 }, timing: { thread: 0, startstops: [] } });
    const err = bad.find((i) => i.type === "send")!;
    assert.deepEqual(err.type === "send" && [err.msg.op, err.msg.thread], ["task-erred", 0]);
  });

  // protects: a fetch is reported once, with the first task that uses what it brought
  it("TransferLog hands a fetch to the first task needing any of its keys, once", () => {
    const log = new TransferLog();
    log.record("tcp://a:1", ["x", "y"], 300, 1, 2);
    log.record("tcp://b:1", ["z"], 5, 3, 4);
    const first = log.take(["x", "z", "unknown"]);
    assert.deepEqual(first.map((t) => [t.source, t.keys, t.nbytes]), [["tcp://a:1", ["x", "y"], 300], ["tcp://b:1", ["z"], 5]]);
    assert.deepEqual(log.take(["x", "z"]), [], "claimed already");
    assert.deepEqual(log.take(["y"]), [], "y came with x's fetch, already reported: counted once");
    log.record("tcp://a:1", [], 0, 1, 2);
    assert.deepEqual(log.take([""]), []);
  });

  // protects: a bounded ring (memory), oldest first, filtered by time window and count
  it("TaskStream keeps the last `size` records and filters by start, stop and count", () => {
    const s = new TaskStream(3);
    for (let i = 0; i < 5; i++) s.add(rec(`k${i}`, i * 10, i * 10 + 5));
    assert.deepEqual(s.records().map((r) => r.key), ["k2", "k3", "k4"]);
    assert.deepEqual(s.records({ start: 36 }).map((r) => r.key), ["k4"], "stopped at or after start");
    assert.deepEqual(s.records({ stop: 30 }).map((r) => r.key), ["k2"], "started before stop");
    assert.deepEqual(s.records({ count: 2 }).map((r) => r.key), ["k3", "k4"]);
    assert.deepEqual(s.records({ count: 0 }), []);
    assert.equal(s.added, 5);
    assert.deepEqual(s.records({ after: 3 }).map((r) => r.key), ["k3", "k4"], "taken after the mark 3");
    assert.deepEqual(s.records({ after: 0 }).map((r) => r.key), ["k2", "k3", "k4"], "a mark older than the ring: what is kept");
    assert.deepEqual(s.records({ after: 5 }), []);
    assert.throws(() => new TaskStream(0), RangeError);
  });

  // protects: records without startstops (an older worker) still get times; transfers and errors are kept
  it("recordOf builds records from task-finished and task-erred events", () => {
    const r = recordOf({ key: "k", worker: "w", durationS: 0.5, at: 1000, nbytes: 8 }, "g");
    assert.deepEqual([r.start, r.stop, r.thread, r.status, r.nbytes], [500, 1000, -1, "memory", 8]);
    const t = recordOf(
      { key: "k", worker: "w", durationS: 0, at: 9, thread: 2, error: "RangeError", startstops: [{ action: "transfer", start: 1, stop: 2, source: "s", keys: ["d"], nbytes: 3 }, { action: "compute", start: 2, stop: 4 }] },
      "g",
    );
    assert.deepEqual([t.start, t.stop, t.thread, t.status, t.error, t.transfers], [2, 4, 2, "erred", "RangeError", [{ source: "s", keys: ["d"], nbytes: 3, start: 1, stop: 2 }]]);
  });

  // protects: bad get-task-stream fields are refused by name
  it("parseGetTaskStream checks start, stop and count", () => {
    assert.deepEqual(parseGetTaskStream({ op: "get-task-stream", start: 1, count: 2 }), { op: "get-task-stream", start: 1, count: 2 });
    assert.throws(() => parseGetTaskStream({ op: "get-task-stream", start: "1" }), { message: 'get-task-stream: start must be a number, got "1"' });
    assert.throws(() => parseGetTaskStream({ op: "get-task-stream", count: 1.5 }), { message: "get-task-stream: count must be an integer >= 0, got 1.5" });
    assert.throws(() => parseGetTaskStream({ op: "get-task-stream", after: -1 }), { message: "get-task-stream: after must be an integer >= 0, got -1" });
  });

  // protects: keys are user strings: the report cannot be broken (or scripted) by one
  it("the report escapes keys, groups and addresses", () => {
    const html = renderReport({ records: [{ ...rec("<script>alert(1)</script>", 1, 2), group: "a&b", worker: 'w"1' }], start: 0, stop: 3, scheduler: "tcp://x:1" });
    assert.ok(!html.includes("<script>alert(1)"));
    assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert.ok(html.includes("a&amp;b") && html.includes("w&quot;1"));
    assert.equal((html.match(/<script>/g) ?? []).length, 1, "the report's own script only");
  });
});
