// Worker side of shipping task functions: compiling source, importing module exports,
// dynamic import() from shipped source, and explaining closed-over variables.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker as Thread } from "node:worker_threads";
import { compileFunction, explainReferenceError, resolveFunction } from "../../src/protocol/functions.js";

const closureMessage = (name: string) =>
  `task function uses "${name}", which is not defined on the worker: shipped functions must be self-contained (pass "${name}" as an argument, or use remote())`;

describe("compileFunction", () => {
  it("compiles arrow, function, async, generator and method-shorthand source, once", async () => {
    assert.equal(compileFunction("(x) => x + 1")(1), 2);
    assert.equal(compileFunction("function add(a, b) { return a + b; }")(2, 3), 5);
    assert.equal(await compileFunction("async (s) => s.toUpperCase()")("ab"), "AB");
    assert.equal(compileFunction("double(x) { return 2 * x; }")(21), 42);
    assert.equal(await compileFunction("async later(x) { return x; }")(7), 7);
    assert.deepEqual([...(compileFunction("*count(n) { for (let i = 0; i < n; i++) yield i; }")(3) as Iterable<number>)], [0, 1, 2]);
    assert.equal(compileFunction("(x) => x // trailing comment")(4), 4);
    // methods whose names are computed or quoted, and accessors: compiled as an object literal's one member
    assert.equal(compileFunction('["c" + "d"](x) { return x + 6; }')(1), 7);
    assert.equal(compileFunction('"a b"(x) { return x + 7; }')(1), 8);
    assert.equal(await compileFunction("async ['q'](x) { return x; }")(9), 9);
    assert.equal(compileFunction("get answer() { return 42; }")(), 42);
    assert.equal(compileFunction("greet() { return typeof super.toString; }")(), "function");
    assert.equal(compileFunction("(x) => x * 3"), compileFunction("(x) => x * 3"));
    assert.equal(resolveFunction({ kind: "source", source: "(x) => x * 3" }), compileFunction("(x) => x * 3"));
  });

  it("sees only the global scope, and names shipped code in stack traces", () => {
    assert.equal(compileFunction("() => typeof compileFunction")(), "undefined");
    assert.throws(() => compileFunction("() => { throw new Error('boom'); }")(), (err: Error) => /\n\s+at .*dask-task:[0-9a-f]{8}:1:/.test(err.stack!));
  });

  it("a function using a variable it closed over fails saying so", async () => {
    const offset = 10;
    const fn = (x: number) => x + offset;
    assert.throws(() => compileFunction(fn.toString())(1), (err: Error) => {
      assert.equal(err.name, "ReferenceError");
      assert.equal(err.message, closureMessage("offset"));
      assert.match(err.stack!, /dask-task:/);
      assert.equal((err.cause as Error).message, "offset is not defined");
      return true;
    });
    // async, and inside a callback of the shipped function
    const scale = 2;
    const later = async (xs: number[]) => xs.map((x) => x * scale);
    await assert.rejects(Promise.resolve(compileFunction(later.toString())([1])), { name: "ReferenceError", message: closureMessage("scale") });
  });

  it("legit globals are not flagged and run", () => {
    const fn = () => [Math.max(1, 2), Buffer.from("hi").length, typeof process.pid, typeof structuredClone];
    assert.deepEqual(compileFunction(fn.toString())(), [2, 2, "number", "function"]);
  });

  it("explainReferenceError leaves other errors alone", () => {
    const src = "(x) => x + offset";
    const other = new TypeError("offset is not defined");
    assert.equal(explainReferenceError(other, src), other);
    // thrown outside shipped code (no dask-task frame)
    const outside = new ReferenceError("offset is not defined");
    assert.equal(explainReferenceError(outside, src), outside);
    // a name the source does not use as a variable (only as a property)
    const prop = (() => { try { compileFunction("(o) => o.offset + missingThing")({}); } catch (e) { return e as Error; } })()!;
    assert.equal(prop.message, closureMessage("missingThing"));
    const tdz = (() => { try { compileFunction("() => { x; let x = 1; }")(); } catch (e) { return e as Error; } })()!;
    assert.match(tdz.message, /before initialization/);
    // idempotent
    const once = explainReferenceError(prop, "(o) => o.offset + missingThing");
    assert.equal(once, prop);
  });

  it("a source that is not a function is refused", () => {
    assert.throws(() => compileFunction("42"), { name: "TypeError", message: "shipped source is not a function: 42" });
    assert.throws(() => compileFunction("x =>"), SyntaxError);
  });
});

describe("resolveFunction (modules)", () => {
  let dir: string;
  let url: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "dask-mpi-ts-compile-"));
    const file = path.join(dir, "tasks.mjs");
    writeFileSync(file, "let calls = 0;\nexport function fit(x) { return [x * 2, ++calls]; }\nexport const answer = 42;\nexport default () => 'dflt';\n");
    url = pathToFileURL(file).href;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("imports the module once and looks the export up by name", async () => {
    const fit = await resolveFunction({ kind: "module", url, name: "fit" });
    assert.deepEqual(fit(3), [6, 1]);
    // cached: synchronous now, same module instance (its state carries on)
    const again = resolveFunction({ kind: "module", url, name: "fit" });
    assert.equal(again, fit);
    assert.deepEqual((again as typeof fit)(4), [8, 2]);
    assert.equal((await resolveFunction({ kind: "module", url, name: "default" }))(), "dflt");
  });

  it("a missing or non-function export is a clear error listing the exports", async () => {
    await assert.rejects(async () => resolveFunction({ kind: "module", url, name: "fitt" }), {
      name: "TypeError",
      message: `module ${url} has no export "fitt": its exports are: answer, default, fit`,
    });
    await assert.rejects(async () => resolveFunction({ kind: "module", url, name: "answer" }), { message: `export "answer" of module ${url} is number, not a function` });
    await assert.rejects(async () => resolveFunction({ kind: "module", url: "https://example.com/t.js", name: "f" }), { message: 'task module must be a file: URL, got "https://example.com/t.js"' });
    await assert.rejects(async () => resolveFunction({ kind: "module", url: url + ".missing", name: "f" }), { code: "ERR_MODULE_NOT_FOUND" });
    // malformed wire values (they come off the network)
    assert.throws(() => resolveFunction(null as never), { name: "TypeError", message: 'a task function must be { kind: "source", source } or { kind: "module", url, name }, got null' });
    assert.throws(() => resolveFunction({ kind: "module", url } as never), { message: /, got \{"kind":"module","url":"file:/ });
  });
});

describe("import() in shipped source, in a worker thread", () => {
  // Regression: indirect eval has no module of its own; import("pkg") must still resolve
  // packages from the project's node_modules, inside worker_threads as on the main thread.
  it("a shipped function can import an installed package (msgpackr)", async () => {
    const compileUrl = new URL("../../src/protocol/functions.js", import.meta.url).href;
    const shipped = (async (x: number) => {
      const { pack, unpack } = await import("msgpackr");
      return unpack(pack({ x })).x + 1;
    }).toString();
    const code = `
      const { parentPort, workerData } = require("node:worker_threads");
      import(workerData.compileUrl)
        .then(({ resolveFunction }) => resolveFunction({ kind: "source", source: workerData.shipped })(41))
        .then((v) => parentPort.postMessage({ v }), (e) => parentPort.postMessage({ e: String(e) }));`;
    const thread = new Thread(code, { eval: true, workerData: { compileUrl, shipped } });
    const reply = await new Promise((resolve, reject) => thread.once("message", resolve).once("error", reject));
    await thread.terminate();
    assert.deepEqual(reply, { v: 42 });
  });
});
