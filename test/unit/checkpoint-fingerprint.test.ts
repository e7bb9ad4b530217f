// Which computation a checkpoint holds (scheduler/checkpoint-fingerprint.ts). Protects: a
// checkpoint is found only for the same computation; a key reused for another function or other
// arguments, an edited remote() module, or a dependency that now computes something else, gives
// another fingerprint (so another checkpoint file); the same graph gives the same one.
import assert from "node:assert/strict";
import { Fingerprints } from "../../src/scheduler/checkpoint-fingerprint.js";
import { checkpointPath } from "../../src/scheduler/journal.js";
import type { WireFunction } from "../../src/protocol/messages.js";

type Spec = { fn: WireFunction; args: Uint8Array[]; deps: string[] };
const source = (s: string): WireFunction => ({ kind: "source", source: s });
const bytes = (...xs: number[]) => new Uint8Array(xs);

/** Fingerprints over a table of tasks and module digests that the test may change. */
function table(tasks: Record<string, Spec>, modules: Record<string, string> = {}) {
  return new Fingerprints({ task: (k) => tasks[k], module: (url) => modules[url] ?? "unreadable" });
}

describe("checkpoint fingerprints", () => {
  const graph = (): Record<string, Spec> => ({
    a: { fn: source("() => 1"), args: [bytes(0x90)], deps: [] },
    b: { fn: source("(x) => x + 1"), args: [bytes(0x91, 0xc0)], deps: ["a"] },
    c: { fn: source("(x, y) => x + y"), args: [bytes(0x92, 0xc0, 0xc0)], deps: ["a", "b"] },
  });

  it("the same graph gives the same fingerprints, and different keys' computations differ", () => {
    const one = table(graph());
    const two = table(graph());
    for (const k of ["a", "b", "c"]) assert.equal(one.of(k), two.of(k));
    assert.equal(new Set(["a", "b", "c"].map((k) => one.of(k))).size, 3);
  });

  it("another function, other arguments, or an actor instead of a function, is another computation", () => {
    const base = table(graph()).of("b");
    const fn = graph();
    fn.b!.fn = source("(x) => x + 2");
    assert.notEqual(table(fn).of("b"), base);
    const args = graph();
    args.b!.args = [bytes(0x91, 0x01)];
    assert.notEqual(table(args).of("b"), base);
    // argument parts are delimited: [1, 2] + [3] is not [1] + [2, 3]
    const split = (parts: Uint8Array[]) => table({ k: { fn: source("f"), args: parts, deps: [] } }).of("k");
    assert.notEqual(split([bytes(1, 2), bytes(3)]), split([bytes(1), bytes(2, 3)]));
    const actor = graph();
    actor.b!.fn = { ...source("(x) => x + 1"), actor: true };
    assert.notEqual(table(actor).of("b"), base);
  });

  it("a dependency that computes something else under the same key changes its dependents", () => {
    const before = table(graph());
    const edited = graph();
    edited.a!.fn = source("() => 2"); // a named key given another function
    const after = table(edited);
    assert.notEqual(after.of("b"), before.of("b"));
    assert.notEqual(after.of("c"), before.of("c"));
  });

  it("a remote() export's module content counts; a module that cannot be read counts by its address", () => {
    const fn: WireFunction = { kind: "module", url: "file:///x/tasks.js", name: "step" };
    const tasks = { k: { fn, args: [bytes(0x90)], deps: [] } };
    const v1 = table(tasks, { "file:///x/tasks.js": "digest-1" }).of("k");
    assert.equal(table(tasks, { "file:///x/tasks.js": "digest-1" }).of("k"), v1);
    assert.notEqual(table(tasks, { "file:///x/tasks.js": "digest-2" }).of("k"), v1);
    assert.equal(table(tasks).of("k"), table(tasks).of("k"));
  });

  it("forget() makes a key journaled again count by its new computation; its cached dependents stay until forgotten", () => {
    const tasks = graph();
    const f = table(tasks);
    const [a1, b1] = [f.of("a"), f.of("b")];
    tasks.a!.fn = source("() => 2");
    assert.equal(f.of("a"), a1, "cached until forgotten");
    f.forget("a");
    f.forget("b");
    assert.notEqual(f.of("a"), a1);
    assert.notEqual(f.of("b"), b1);
    assert.equal(f.of("b"), table(tasks).of("b"), "as computed afresh");
  });

  it("a key no task makes (scattered data) counts by its key; a chain of 100k and a cycle end", () => {
    const scattered = table({ k: { fn: source("(x) => x"), args: [bytes(0x91, 0xc0)], deps: ["data-1"] } });
    const other = table({ k: { fn: source("(x) => x"), args: [bytes(0x91, 0xc0)], deps: ["data-2"] } });
    assert.notEqual(scattered.of("k"), other.of("k"));
    const chain: Record<string, Spec> = {};
    for (let i = 0; i < 100_000; i++) chain[`t${i}`] = { fn: source("(x) => x"), args: [], deps: i ? [`t${i - 1}`] : [] };
    assert.match(table(chain).of("t99999"), /^[\w-]{43}$/);
    const cycle = table({ x: { fn: source("f"), args: [], deps: ["y"] }, y: { fn: source("g"), args: [], deps: ["x"] } });
    assert.match(cycle.of("x"), /^[\w-]{43}$/);
  });

  it("names the checkpoint file by key and computation", () => {
    assert.equal(checkpointPath("/j", "k", "fp-1"), checkpointPath("/j", "k", "fp-1"));
    assert.notEqual(checkpointPath("/j", "k", "fp-1"), checkpointPath("/j", "k", "fp-2"));
    assert.notEqual(checkpointPath("/j", "k", "fp-1"), checkpointPath("/j", "k2", "fp-1"));
  });
});
