// The message parsers of protocol/messages*.ts. Protects: a malformed message is refused with an
// error naming its op, the field and the value that came (the connection it came on is then
// closed, not the process), a well-formed one of every op passes (optional fields may be
// absent), and an op no parser knows is refused, not dispatched.
import assert from "node:assert/strict";
import { type Message, type Parsers, num, optional, parseWith, show, str, strList } from "../../src/protocol/messages.js";
import { parseNannyToWorker, parseWorkerToNanny } from "../../src/protocol/messages-nanny.js";
import { schedulerToWorkerParsers, workerToSchedulerParsers } from "../../src/protocol/messages-worker.js";
import { clientToSchedulerParsers } from "../../src/protocol/messages-client.js";
import { checkGetDataReply } from "../../src/protocol/messages-peer.js";
import { toSchedulerParsers } from "../../src/protocol/messages-replies.js";
import { Op } from "../../src/protocol/ops.js";
import { FrameGenerator } from "../fuzz/fuzzer.js";
import { DIRECTIONS, SAMPLES, goodMessage, kindOf } from "../fuzz/samples.js";

describe("message field checks", () => {
  const m: Message = { op: "who-has", keys: ["a", "b"], key: "a", n: 3 };

  it("accept well-typed fields and name op, field and value otherwise", () => {
    assert.equal(str(m, "key"), "a");
    assert.equal(num(m, "n"), 3);
    assert.deepEqual(strList(m, "keys"), ["a", "b"]);
    assert.throws(() => str(m, "n"), { name: "ProtocolError", message: "who-has: n must be a string, got 3" });
    assert.throws(() => num(m, "key"), { name: "ProtocolError", message: 'who-has: key must be a number, got "a"' });
    assert.throws(() => num(m, "absent"), { name: "ProtocolError", message: "who-has: absent must be a number, got undefined" });
    assert.throws(() => strList({ op: "x", keys: ["a", 1] }, "keys"), { name: "ProtocolError", message: "x: keys must be a list of strings, got a list of 2" });
    assert.equal(optional(m, "missing", str), undefined);
    assert.throws(() => optional(m, "n", str), { name: "ProtocolError" });
  });

  it("show() keeps values short: long strings cut, buffers and maps by size or kind", () => {
    assert.equal(show("x".repeat(100)), JSON.stringify(`${"x".repeat(40)}…`));
    assert.equal(show(Buffer.alloc(5000)), "5000 bytes");
    assert.equal(show({ a: 1 }), "a map");
    assert.equal(show(new Map()), "a Map");
    assert.equal(show(null), "null");
    assert.equal(show(5n), "5n");
    assert.equal(show(Object.create(null)), "a map");
    assert.equal(show({ constructor: 5 }), "a map");
    assert.equal(show(new Date(0)), "a Date");
    assert.equal(show(undefined), "undefined");
    // a huge key in a map does not make a huge error (it is logged)
    const key = "k".repeat(10_000);
    assert.throws(() => num({ op: "x", [key]: "1" }, key), (err: Error) => err.message.length < 200 && err.message.startsWith("x: kkk"));
  });

  it("parseWith dispatches on op and refuses unknown ones (also inherited names)", () => {
    type Ping = { op: "ping"; n: number };
    const parsers: Parsers<Ping> = { ping: (raw) => ({ op: "ping", n: num(raw, "n") }) };
    assert.deepEqual(parseWith(parsers, { op: "ping", n: 1 }), { op: "ping", n: 1 });
    assert.throws(() => parseWith(parsers, { op: "pong" }), { name: "ProtocolError", message: 'unknown op "pong"' });
    assert.throws(() => parseWith(parsers, { op: "toString" }), { name: "ProtocolError", message: 'unknown op "toString"' });
  });
});

describe("message parsers, every op of every direction", () => {
  it("every parser table has a shape for each of its ops and every op is a known wire op", () => {
    const wireOps = new Set<string>(Object.values(Op));
    for (const d of DIRECTIONS) {
      assert.deepEqual(Object.keys(d.parsers).sort(), Object.keys(d.shapes).sort(), d.name);
      for (const op of Object.keys(d.parsers)) assert.ok(wireOps.has(op), `${d.name}: ${op} is not in ops.ts`);
    }
  });

  for (const d of DIRECTIONS) {
    describe(d.name, () => {
      for (const [op, shape] of Object.entries(d.shapes)) {
        const parse = d.parsers[op]!;
        it(`${op}: a good message parses (with and without its optional fields); each wrong field names op, field and value`, () => {
          const full = goodMessage(op, shape);
          assert.equal(parseWith(d.parsers, full), full, "parses in place, returning the message");
          const required = goodMessage(op, shape, true);
          assert.equal(parse(required), required);
          for (const [field, spec] of Object.entries(shape)) {
            const { kind, optional } = kindOf(spec);
            const s = SAMPLES[kind];
            const bad = { ...full, [field]: s.bad() };
            assert.throws(() => parse(bad), (err: Error) => {
              assert.equal(err.name, "ProtocolError");
              assert.ok(err.message.startsWith(`${op}: ${field}${s.sub} must be `), `${err.message} (field ${field})`);
              assert.ok(err.message.endsWith(`, got ${s.got}`), `${err.message} (field ${field})`);
              return true;
            });
            const missing = { ...full };
            delete missing[field];
            if (optional) assert.equal(parse(missing), missing, `${op}: ${field} is optional`);
            else assert.throws(() => parse(missing), { name: "ProtocolError", message: new RegExp(`^${op}: ${field}.* must be .*, got undefined$`) });
          }
        });
      }
    });
  }
});

describe("get-data replies as the asker takes them", () => {
  // protects: a reply's values were read from a map without a check: a malformed reply from a
  // peer failed a gather with a bare TypeError, or fed a fetch values that are not bytes
  it("takes keys with their values and the missing keys; names the field of a bad reply", () => {
    const good = { keys: ["a", "b"], values: [[Buffer.from([1])], []], missing: ["c"] };
    assert.equal(checkGetDataReply(good), good);
    const bad = (r: unknown, message: string) => assert.throws(() => checkGetDataReply(r), { name: "ProtocolError", message });
    bad(null, "get-data reply: the reply must be a map, got null");
    bad({ ...good, keys: ["a", 2] }, "get-data reply: keys must be a list of strings, got a list of 2");
    bad({ ...good, values: [[Buffer.from([1])]] }, "get-data reply: values must be a list of 2 values, got a list of 1");
    bad({ ...good, values: [[Buffer.from([1])], ["x"]] }, "get-data reply: values[1] must be a list of byte arrays, got a list of 1");
    bad({ ...good, missing: undefined }, "get-data reply: missing must be a list of strings, got undefined");
    bad({ data: { a: [Buffer.from([1])] }, missing: [] }, "get-data reply: keys must be a list of strings, got undefined");
  });
});

describe("message parsers on what the senders send", () => {
  it("compute-task as the scheduler sends it (function by number, then its definition once)", () => {
    const first = { op: "compute-task", key: "f-1", fn: 1, fnDef: { kind: "source", source: "(x) => x" }, args: [Buffer.from([0x90])], deps: [["a", 3, ["tcp://h:1"]]], priority: 0 };
    assert.equal(parseWith(schedulerToWorkerParsers, first), first);
    assert.throws(() => parseWith(schedulerToWorkerParsers, { ...first, deps: null }), { message: "compute-task: deps must be a list of [key, run, holders], got null" });
    // each dependency names its value's number: a copy of another value held there is not used
    assert.throws(() => parseWith(schedulerToWorkerParsers, { ...first, deps: [["a", ["tcp://h:1"]]] }), { message: "compute-task: deps[0] must be [key, run, holders], got a list of 2" });
  });

  it("task-finished with and without an inline value", () => {
    const m = { op: "task-finished", key: "k", nbytes: 10, duration: 0.01, value: [Buffer.from([1])] };
    assert.equal(parseWith(workerToSchedulerParsers, m), m);
    assert.equal(parseWith(workerToSchedulerParsers, { ...m, value: undefined }).op, "task-finished");
    assert.throws(() => parseWith(workerToSchedulerParsers, { ...m, nbytes: "10" }), { message: 'task-finished: nbytes must be a number, got "10"' });
  });

  it("update-graph names the task and field that is wrong", () => {
    const task = { key: "t", fn: 0, args: [Buffer.from([0x90])], deps: ["a"], workers: ["w"], priority: 1, resources: { GPU: 1 } };
    const m = { op: "update-graph", functions: [{ kind: "module", url: "file:///x.js", name: "f" }], tasks: [task, { ...task, key: "u" }] };
    assert.equal(parseWith(clientToSchedulerParsers, m), m);
    const bad = (t: Record<string, unknown>) => ({ ...m, tasks: [task, { ...task, ...t }] });
    assert.throws(() => parseWith(clientToSchedulerParsers, bad({ deps: "a" })), { message: 'update-graph: tasks[1].deps must be a list of strings, got "a"' });
    assert.throws(() => parseWith(clientToSchedulerParsers, bad({ resources: { GPU: "1" } })), { message: "update-graph: tasks[1].resources must be a map of numbers, got a map" });
    assert.throws(() => parseWith(clientToSchedulerParsers, bad({ fn: 0.5 })), { message: "update-graph: tasks[1].fn must be an index into functions (0 to 0), got 0.5" });
    assert.throws(() => parseWith(clientToSchedulerParsers, bad({ key: "__proto__" })), { message: 'update-graph: tasks[1].key must be a string other than "__proto__", got "__proto__"' });
    assert.throws(() => parseWith(clientToSchedulerParsers, { ...m, tasks: [task, 3] }), { message: "update-graph: tasks[1] must be a task, got 3" });
  });

  it("the scheduler's table takes both clients' and workers' ops", () => {
    assert.equal(parseWith(toSchedulerParsers, { op: "register-client", id: "c" }).op, "register-client");
    assert.equal(parseWith(toSchedulerParsers, { op: "task-finished", key: "k", nbytes: 1 }).op, "task-finished");
    assert.equal(parseWith(toSchedulerParsers, { op: "retire-workers", workers: ["w"] }).op, "retire-workers");
    assert.throws(() => parseWith(toSchedulerParsers, { op: "compute-task" }), { message: 'unknown op "compute-task"' });
  });

  it("the nanny's IPC messages: known types with their fields, else an error naming type, field and value", () => {
    const start = { type: "start", options: { nthreads: 2 }, log: { level: "info" } };
    assert.equal(parseNannyToWorker(start), start);
    assert.deepEqual(parseNannyToWorker({ type: "close", reason: "r" }), { type: "close", reason: "r" });
    assert.throws(() => parseNannyToWorker({ type: "start", options: "x", log: {} }), { name: "ProtocolError", message: 'start: options must be a map, got "x"' });
    assert.throws(() => parseNannyToWorker({ type: "stop" }), { message: 'nanny: unknown message type "stop"' });
    assert.deepEqual(parseWorkerToNanny({ type: "ready", address: "tcp://h:1" }), { type: "ready", address: "tcp://h:1" });
    assert.throws(() => parseWorkerToNanny({ type: "closing", reason: "r", clean: "yes", retired: false }), { message: 'closing: clean must be a boolean, got "yes"' });
    assert.throws(() => parseWorkerToNanny(null), { message: "worker child: a message must be a map, got null" });
  });
});

describe("message parsers under the fuzzer's messages", () => {
  // Protects: whatever comes off the wire, a parser either returns the message or throws a
  // ProtocolError naming the op (never a TypeError from poking at a malformed value, which
  // would not say what was wrong); and the fuzzer's shaped messages are mostly refused, so it
  // really exercises the refusals.
  it("10,000 generated messages: each parses or is refused with a ProtocolError naming its op", function () {
    this.timeout(60_000); // a loaded machine
    const gen = new FrameGenerator(1234);
    let refused = 0;
    let shaped = 0;
    for (let i = 0; i < 10_000; i++) {
      const m = (i % 2 ? gen.shaped() : gen.message()) as Message;
      const d = DIRECTIONS.find((x) => typeof m.op === "string" && Object.hasOwn(x.parsers, m.op));
      if (!d) continue;
      if (i % 2) shaped++;
      try {
        parseWith(d.parsers, m);
      } catch (err) {
        assert.equal((err as Error).name, "ProtocolError", `${(err as Error).stack} for ${String(m.op)}`);
        assert.ok((err as Error).message.startsWith(`${m.op}: `), (err as Error).message);
        if (i % 2) refused++;
      }
    }
    assert.ok(refused > shaped / 2, `only ${refused} of ${shaped} shaped messages were refused`);
  });
});
