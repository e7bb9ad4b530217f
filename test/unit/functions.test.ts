// Client side of shipping task functions: wire encoding and remote() handles.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { encodeFunction, isRemote, isWireFunction, remote } from "../../src/protocol/functions.js";

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
    assert.throws(() => encodeFunction(Model), { name: "TypeError", message: 'cannot ship class "Model": submit a function (or a remote() module export) that uses it' });
    assert.throws(() => encodeFunction("x => x"), { name: "TypeError", message: "a task must be a function, got string" });
    assert.throws(() => encodeFunction(null), { message: "a task must be a function, got null" });
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
