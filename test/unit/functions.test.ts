// Client side of shipping task functions: wire encoding and remote() handles.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { FunctionTable, encodeFunction, functionIdentity, isRemote, isWireFunction, remote } from "../../src/protocol/functions.js";

describe("encodeFunction", () => {
  it("ships ordinary, arrow, async and method-shorthand functions as source", () => {
    function add(a: number, b: number) {
      return a + b;
    }
    const obj = { double(x: number) { return 2 * x; }, async later() { return 1; } };
    for (const fn of [add, (x: number) => x + 1, async (x: number) => x, obj.double, obj.later, function* gen() {}]) {
      assert.deepEqual(encodeFunction(fn), { kind: "source", source: fn.toString() });
    }
    assert.match((encodeFunction(obj.double) as { source: string }).source, /^double\(x\)/);
  });

  it("refuses native and bound functions, naming them", () => {
    assert.throws(() => encodeFunction(Math.max), { name: "TypeError", message: /^cannot ship function "max": native and bound functions have no source/ });
    const bound = ((x: number) => x).bind(null);
    assert.throws(() => encodeFunction(bound), { name: "TypeError", message: /^cannot ship function "bound ": native and bound/ });
  });

  it("refuses classes and non-functions", () => {
    class Model {}
    assert.throws(() => encodeFunction(Model), { name: "TypeError", message: 'cannot ship class "Model": submit a function (or a remote() module export) that uses it, or make an actor of it ({ actor: true })' });
    assert.throws(() => encodeFunction("x => x"), { name: "TypeError", message: "a task must be a function, got string" });
    assert.throws(() => encodeFunction(null), { message: "a task must be a function, got null" });
  });

  // Protects (issue 14, point 6): an actor's class ships marked as one, and only a class may.
  it("ships a class as an actor's, marked, and refuses a function as an actor", () => {
    class Model {}
    assert.deepEqual(encodeFunction(Model, { actor: true }), { kind: "source", source: Model.toString(), actor: true });
    assert.throws(() => encodeFunction((x: number) => x, { actor: true }), { name: "TypeError", message: "an actor must be a class (or a remote() export of one), got an anonymous function" });
  });
});

describe("remote", () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "dask-mpi-ts-remote-"));
    file = path.join(dir, "tasks.mjs");
    writeFileSync(file, "export const fit = async (xs) => xs.reduce((a, b) => a + b, 0);\nexport const answer = 42;\n");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("is a typed handle that encodes as a module reference", async () => {
    const url = pathToFileURL(file);
    const fit = remote<[number[]], number>(url, "fit");
    assert.equal(typeof fit, "function");
    assert.equal(fit.name, "fit");
    assert.ok(isRemote(fit));
    assert.ok(!isRemote(() => 1));
    assert.deepEqual(encodeFunction(fit), { kind: "module", url: url.href, name: "fit" });
    // an absolute path and a file: URL string mean the same module
    assert.deepEqual(encodeFunction(remote(file, "fit")), encodeFunction(remote(url.href, "fit")));
    // calling the handle here runs the export here
    const total: number = await fit([1, 2, 3]);
    assert.equal(total, 6);
    await assert.rejects(remote(url, "answer")(), { name: "TypeError", message: `module ${url.href} has no function export "answer"` });
  });

  it("its source form calls the export (for paths that ship fn.toString())", async () => {
    const source = remote(pathToFileURL(file), "fit").toString();
    const fn = (0, eval)(`(${source})`) as (xs: number[]) => Promise<number>;
    assert.equal(await fn([4, 5]), 9);
  });

  it("needs a file: URL or an absolute path, and an export name", () => {
    const msg = (v: string) => `remote module must be a file: URL or an absolute path (the workers import it from a shared file system), got ${JSON.stringify(v)}`;
    assert.throws(() => remote("./tasks.js", "fit"), { name: "TypeError", message: msg("./tasks.js") });
    assert.throws(() => remote("tasks", "fit"), { message: msg("tasks") });
    assert.throws(() => remote(new URL("https://example.com/tasks.js"), "fit"), { message: msg("https://example.com/tasks.js") });
    assert.throws(() => remote("data:text/javascript,export default 1", "default"), { message: /^remote module must be a file: URL/ });
    assert.throws(() => remote(file, ""), { name: "TypeError", message: 'remote export name must be a non-empty string, got ""' });
  });
});

describe("isWireFunction", () => {
  it("accepts the two wire forms only", () => {
    assert.ok(isWireFunction({ kind: "source", source: "(x) => x" }));
    assert.ok(isWireFunction({ kind: "module", url: "file:///t.js", name: "f" }));
    for (const v of [null, "(x) => x", { kind: "source" }, { kind: "module", url: "file:///t.js" }, { kind: "other", source: "" }]) assert.ok(!isWireFunction(v), JSON.stringify(v));
  });
});

// The one registry of task functions by identity (client, scheduler, worker). Protects: a
// function object is encoded once and equal sources share one wire form; the scheduler numbers
// each distinct function once and sends its definition to a peer only the first time; workers
// compile or import a function once; the table stays bounded and never reuses a number.
describe("FunctionTable", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "dask-fntable-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("wireOf: once per function object; equal sources (a lambda made in a loop) share one wire form", () => {
    const t = new FunctionTable();
    const made = [1, 2].map(() => (x: number) => x + 1);
    assert.notEqual(made[0], made[1]);
    const w = t.wireOf(made[0]);
    assert.deepEqual(w, { kind: "source", source: made[0]!.toString() });
    assert.equal(t.wireOf(made[0]), w);
    assert.equal(t.wireOf(made[1]), w);
    const fit = remote(pathToFileURL(path.join(dir, "m.js")), "fit");
    assert.deepEqual(t.wireOf(fit), { kind: "module", url: pathToFileURL(path.join(dir, "m.js")).href, name: "fit" });
    assert.equal(t.size, 2);
    assert.throws(() => t.wireOf(Math.max), { name: "TypeError", message: /native and bound/ });
  });

  // a source that cannot compile alone failed on every worker, as a SyntaxError, instead of at the submit
  it("wireOf refuses, at the submit, a method whose source does not compile on its own; a class only as an actor's", () => {
    const t = new FunctionTable();
    class Counter {
      #n = 0;
      next() {
        return ++this.#n;
      }
    }
    assert.throws(() => t.wireOf(Counter.prototype.next), {
      name: "TypeError",
      message: /^cannot ship function "next": its source does not compile on its own \(Private field '#n' must be declared in an enclosing class\); submit an arrow function/,
    });
    const quoted = { "a b"(x: number) { return x; } }["a b"];
    assert.deepEqual(t.wireOf(quoted), { kind: "source", source: quoted.toString() });
    assert.equal(t.wireOf(Counter, true).actor, true);
    assert.throws(() => t.wireOf(Counter), { name: "TypeError", message: /^cannot ship class "Counter"/ });
  });

  it("idOf numbers distinct functions by identity; sendOnce gives the definition once per peer", () => {
    const t = new FunctionTable();
    const a = t.idOf({ kind: "source", source: "(x) => x" });
    assert.equal(t.idOf({ kind: "source", source: "(x) => x" }), a);
    const b = t.idOf({ kind: "module", url: "file:///x.js", name: "f" });
    assert.notEqual(a, b);
    // a source that looks like a module identity is still another function
    assert.notEqual(t.idOf({ kind: "source", source: "file:///x.js#f" }), b);
    assert.notEqual(functionIdentity({ kind: "source", source: "file:///x.js#f" }), functionIdentity({ kind: "module", url: "file:///x.js", name: "f" }));
    const p1 = {};
    const p2 = {};
    assert.deepEqual(t.sendOnce(p1, a), { kind: "source", source: "(x) => x" });
    assert.equal(t.sendOnce(p1, a), undefined);
    assert.deepEqual(t.sendOnce(p2, a), { kind: "source", source: "(x) => x" });
    assert.equal(t.wireById(b)?.kind, "module");
    assert.throws(() => t.sendOnce(p1, 999), { name: "RangeError", message: "function 999 is not in the table (forgotten or never added)" });
  });

  it("resolve compiles a source once and imports a module export once (then synchronously)", async () => {
    const t = new FunctionTable();
    const f = t.resolve({ kind: "source", source: "(x) => x * 3" });
    assert.equal(typeof f, "function");
    assert.equal(t.resolve({ kind: "source", source: "(x) => x * 3" }), f);
    assert.equal((f as (x: number) => number)(2), 6);
    const file = path.join(dir, "tasks.mjs");
    writeFileSync(file, "export const twice = (x) => 2 * x;\n");
    const wire = { kind: "module", url: pathToFileURL(file).href, name: "twice" } as const;
    const loading = t.resolve(wire);
    assert.ok(loading instanceof Promise);
    const twice = await loading;
    assert.equal(twice(4), 8);
    assert.equal(t.resolve(wire), twice, "held: synchronous after the first load");
    assert.throws(() => t.resolve({ kind: "lambda" } as never), { name: "TypeError", message: /^a task function must be/ });
  });

  it("a module that failed to load is tried again on the next use", async () => {
    const t = new FunctionTable();
    const file = path.join(dir, "later.mjs");
    const wire = { kind: "module", url: pathToFileURL(file).href, name: "f" } as const;
    await assert.rejects(Promise.resolve(t.resolve(wire)), /Cannot find module|ERR_MODULE_NOT_FOUND/);
    writeFileSync(file, "export const f = () => 'here';\n");
    assert.equal((await t.resolve(wire))(), "here");
  });

  it("stays bounded: past its limit the oldest is forgotten, and comes back under a new number", () => {
    const t = new FunctionTable({ limit: 2 });
    const w = (s: string) => ({ kind: "source", source: s }) as const;
    const a = t.idOf(w("a"));
    const peer = {};
    assert.ok(t.sendOnce(peer, a));
    t.idOf(w("b"));
    t.idOf(w("c"));
    assert.equal(t.size, 2);
    assert.equal(t.wireById(a), undefined);
    const a2 = t.idOf(w("a"));
    assert.ok(a2 > a, "numbers are never reused");
    assert.deepEqual(t.sendOnce(peer, a2), w("a"), "sent again under its new number");
  });
});
