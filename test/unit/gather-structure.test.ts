import assert from "node:assert/strict";
import { SKIPPED, findFutures, gatherStructure } from "../../src/client/gather-structure.js";

/** A stand-in future: gather-structure knows futures only by the predicate it is given. */
class F {
  constructor(readonly key: string) {}
}
const isF = (v: unknown): v is F => v instanceof F;
/** Values as the fetch gives them: each future's key upper-cased, a key starting with "bad" SKIPPED. */
const fetch = async (fs: F[], skip: boolean) => fs.map((f) => (f.key.startsWith("bad") ? (skip ? SKIPPED : assert.fail("a skip was not asked for")) : f.key.toUpperCase()));

describe("gather's structures (gather-structure.ts)", () => {
  it("finds each future in arrays, plain objects, Maps and Sets, in walk order, and puts values back in fresh containers", () => {
    const a = new F("a");
    const input = { x: [a, 1, { y: a }], m: new Map<unknown, unknown>([[{ k: 1 }, new F("b")]]), s: new Set([new F("c"), "c"]) };
    const found = findFutures(input, isF);
    assert.deepEqual(found.futures.map((f) => f.key), ["a", "a", "b", "c"]);
    const out = found.rebuild(["A", "A2", "B", "C"]) as typeof input & { x: unknown[] };
    assert.deepEqual(out, { x: ["A", 1, { y: "A2" }], m: new Map([[{ k: 1 }, "B"]]), s: new Set(["C", "c"]) });
    assert.notEqual(out.x, input.x, "containers are rebuilt, never changed in place");
    assert.equal(input.x[0], a);
    assert.equal([...out.m.keys()][0], [...input.m.keys()][0], "a Map's keys are kept as they are");
  });

  it("keeps what it does not walk: class instances, functions, typed arrays, and their futures", () => {
    const inner = new F("hidden");
    const box = new (class Box {
      f = inner;
    })();
    const fn = () => 1;
    const bytes = new Uint8Array([1, 2]);
    const found = findFutures([box, fn, bytes, null, undefined], isF);
    assert.deepEqual(found.futures, []);
    const out = found.rebuild([]) as unknown[];
    assert.equal(out[0], box);
    assert.equal(out[1], fn);
    assert.equal(out[2], bytes);
    assert.deepEqual(out.slice(3), [null, undefined]);
  });

  it("keeps a plain object's prototype (null or Object.prototype) and an own __proto__ key as a key", () => {
    const odd = JSON.parse('{"__proto__": 1, "b": 2}') as Record<string, unknown>;
    odd["__proto__"] = new F("p");
    const bare = Object.assign(Object.create(null) as object, { q: new F("q") });
    const out = findFutures({ odd, bare }, isF).rebuild(["P", "Q"]) as { odd: Record<string, unknown>; bare: Record<string, unknown> };
    assert.equal(Object.getPrototypeOf(out.odd), Object.prototype);
    assert.deepEqual(Object.keys(out.odd), ["__proto__", "b"]);
    assert.equal(Object.getOwnPropertyDescriptor(out.odd, "__proto__")?.value, "P");
    assert.equal(Object.getPrototypeOf(out.bare), null);
    assert.equal(out.bare.q, "Q");
  });

  it("leaves SKIPPED values out: an array's or Set's item, an object's or Map's entry", () => {
    const out = findFutures({ a: [1, new F("x"), 2], o: { k: new F("y"), j: 3 }, m: new Map([["k", new F("z")]]), s: new Set([new F("w")]) }, isF).rebuild([SKIPPED, SKIPPED, SKIPPED, SKIPPED]);
    assert.deepEqual(out, { a: [1, 2], o: { j: 3 }, m: new Map(), s: new Set() });
  });

  it("refuses a Promise and a cycle, naming where each is", () => {
    assert.throws(() => findFutures({ a: [1, Promise.resolve(2)] }, isF), { name: "TypeError", message: /^gather: the value at \["a"\]\[1\] is a Promise/ });
    assert.throws(() => findFutures(Promise.resolve(1), isF), { name: "TypeError", message: /^gather: its argument is a Promise/ });
    const m = new Map<string, unknown>();
    m.set("self", [m]);
    assert.throws(() => findFutures({ m }, isF), { name: "TypeError", message: /^gather: the value at \["m"\]\.get\("self"\)\[0\] contains itself \(a cycle\)/ });
    // shared, not cyclic: walked twice, fine
    const shared = [new F("s")];
    assert.deepEqual(findFutures([shared, shared], isF).rebuild(["S", "S"]), [["S"], ["S"]]);
  });

  // Protects: a rebuilt array dropped its holes (a later element moved to a lower index) and
  // named fields, and a rebuilt object its hidden and symbol-keyed properties, silently
  it("refuses what a rebuilt copy would lose: holes, named fields, hidden or symbol keys; walks no subclass", () => {
    assert.throws(() => findFutures({ a: [new F("x"), , 3] }, isF), { name: "TypeError", message: /^gather: the value at \["a"\] is a sparse array \(no element at index 1\), which gather would lose when it rebuilds it/ });
    const named = Object.assign([new F("x")], { index: 4 });
    assert.throws(() => findFutures([named], isF), { message: /^gather: the value at \[0\] is an array with named fields \(index\)/ });
    const withSymbol = { a: new F("x"), [Symbol("s")]: 1 };
    assert.throws(() => findFutures(withSymbol, isF), { message: /^gather: its argument is an object with a non-enumerable or symbol-keyed property \(Symbol\(s\)\)/ });
    const hidden = Object.defineProperty({ a: new F("x") }, "secret", { value: 2, enumerable: false });
    assert.throws(() => findFutures(hidden, isF), { message: /non-enumerable or symbol-keyed property \(secret\)/ });
    assert.throws(() => findFutures(Object.assign(new Map(), { tag: 1 }), isF), { message: /^gather: its argument is a Map with named fields \(tag\)/ });
    // a subclass's instance is kept as it is, like any class instance (its class would be lost)
    class Bag extends Array<unknown> {}
    const bag = Bag.from([new F("inside")]);
    const found = findFutures({ bag }, isF);
    assert.deepEqual(found.futures, []);
    assert.equal((found.rebuild([]) as { bag: unknown }).bag, bag);
  });

  it("gatherStructure: a lone future's value, a flat array's values without walking (skipped ones left out), any other structure walked", async () => {
    assert.equal(await gatherStructure(new F("one"), true, isF, async (fs, skip) => (assert.equal(skip, false, "a lone future's error is thrown"), fetch(fs, skip))), "ONE");
    assert.deepEqual(await gatherStructure([new F("a"), new F("bad1"), new F("b")], true, isF, fetch), ["A", "B"]);
    assert.deepEqual(await gatherStructure({ k: [new F("c"), new F("bad2")] }, true, isF, fetch), { k: ["C"] });
    assert.equal(await gatherStructure(7, false, isF, fetch), 7);
  });
});
