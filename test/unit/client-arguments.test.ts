// How submit(), map() and run() tell options from arguments (src/client/arguments.ts): the
// rule that keeps a second iterable, or an object argument, from being taken as options.
import assert from "node:assert/strict";
import { SUBMIT_OPTION_KEYS, splitMapArguments, splitTrailingOptions, zipIterables } from "../../src/client/arguments.js";

const map = (...rest: unknown[]) => splitMapArguments<Record<string, unknown>>(rest, SUBMIT_OPTION_KEYS);
const submit = (declared: number, ...rest: unknown[]) => splitTrailingOptions<Record<string, unknown>>("submit", rest, declared, SUBMIT_OPTION_KEYS);

describe("client arguments: options versus data", () => {
  // issue 12.1: map(fn, xs, ys) took ys as options, and every result was NaN
  it("map: several iterables of any kind, then optional options", () => {
    const ys = new Set([10, 20]);
    assert.deepEqual(map([1, 2], ys), { iterables: [[1, 2], ys], options: {} });
    assert.deepEqual(map([1], { priority: 2, workers: ["a"] }).options, { priority: 2, workers: ["a"] });
    const bare = Object.assign(Object.create(null) as object, { pure: false });
    assert.equal(map([1], bare).options, bare, "a null-prototype object of option names is options");
    assert.deepEqual(map([1], {}).iterables, [[1]], "{} is options with nothing set");
    assert.deepEqual(map([1], undefined), { iterables: [[1]], options: {} }, "options passed on as undefined");
  });

  it("map: anything that is neither an iterable nor options throws a TypeError saying how to pass options", () => {
    assert.throws(() => map([1], [2], { workers: ["a"], scale: 2 }), { name: "TypeError", message: /argument 4 mixes option names \(workers\) with other keys \(scale\).*only these keys: key, pure/ });
    assert.throws(() => map([1], 5), { name: "TypeError", message: /argument 3 is the number 5, which is neither an iterable .* nor options/ });
    assert.throws(() => map([1], { scale: 2 }), { name: "TypeError", message: /argument 3 is the object \{ scale: 2 \}/ });
    class Box {}
    assert.throws(() => map(new Box()), { name: "TypeError", message: /argument 2 is a Box/ });
    assert.throws(() => map({ pure: true }), { name: "TypeError", message: /map needs at least one iterable/ });
    assert.throws(() => map(), { name: "TypeError", message: /map needs at least one iterable/ });
  });

  it("an iterable plain object is an iterable, even with option-like keys", () => {
    const it = { key: "k", *[Symbol.iterator]() { yield 1; } };
    assert.deepEqual(map([1], it).iterables, [[1], it]);
  });

  it("zip stops at the shortest and closes the generators it did not use up", () => {
    let closed = false;
    function* gen() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    assert.deepEqual([...zipIterables([["a", "b", "c"], gen(), new Set([true, false])])], [["a", 0, true], ["b", 1, false]]);
    assert.ok(closed, "the endless generator was closed");
    assert.deepEqual([...zipIterables([[1, 2], []])], []);
  });

  it("submit: trailing options only past the declared parameters; a mixed object throws", () => {
    assert.deepEqual(submit(1, 1, { priority: 1 }), { args: [1], options: { priority: 1 } });
    assert.deepEqual(submit(1, { priority: 1 }), { args: [{ priority: 1 }], options: {} }, "a declared parameter is an argument");
    assert.deepEqual(submit(0, { value: 1 }), { args: [{ value: 1 }], options: {} }, "no option names: an argument");
    assert.throws(() => submit(0, { key: "k", value: 1 }), { name: "TypeError", message: /^submit: the last argument \(past the function's 0 declared parameters\) mixes option names \(key\) with other keys \(value\).*\(\{\} for none\)/ });
    assert.deepEqual(submit(0, { key: "k", value: 1 }, {}), { args: [{ key: "k", value: 1 }], options: {} }, "{} after it makes it an argument");
  });
});
