// The codec of user values (task arguments, results, scattered data): what round-trips, what is
// refused, and that binaries still leave as raw parts. Protects issue 12 points 3 and 4.
import assert from "node:assert/strict";
import net from "node:net";
import { EventEmitter } from "node:events";
import { Sent, decodeWithRaws, encodeWithRaws, KeyReference } from "../../src/protocol/msgpack.js";
import { collectGarbage } from "../../src/worker/gc.js";
import { keepInline } from "../../src/client/fetch.js";

const THRESHOLD = 1024;
function roundTrip<T>(value: T): T {
  const { head, raws } = encodeWithRaws(value, THRESHOLD, Sent.arguments);
  return decodeWithRaws(head, raws) as T;
}

describe("user values", () => {
  describe("round-trip", () => {
    // each came back as a plain object, 0, a number or null before structured clone
    const cases: Array<[string, unknown]> = [
      ["a Map with non-string keys", new Map<unknown, unknown>([[1, "one"], [{ k: 2 }, [2]], ["s", new Map([["in", 1]])]])],
      ["a Set", new Set([1, "a", { b: 2 }])],
      ["a Date", new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789))],
      ["BigInts, small and large", [5n, -7n, 2n ** 100n, -(2n ** 70n)]],
      ["undefined inside arrays and objects", [1, undefined, { a: undefined, b: 2 }]],
      ["-0 at the top", -0],
      ["-0 inside arrays, objects and Maps", [0, -0, { z: -0 }, new Map([["z", -0]])]],
      ["NaN and infinities", [NaN, Infinity, -Infinity]],
      ["a RegExp with flags", /a+b?/gimsu],
      ["nested typed arrays", { a: [new Float32Array([1.5, -2]), [new Int16Array([-3, 4])]], b: new BigInt64Array([1n, -1n]) }],
      ["a Buffer, an ArrayBuffer and a DataView", [Buffer.from("hi"), new Uint8Array([1, 2, 3]).buffer, new DataView(new ArrayBuffer(4))]],
    ];
    for (const [name, value] of cases) {
      it(name, () => {
        assert.deepStrictEqual(roundTrip(value), value);
      });
    }

    it("an invalid Date stays a Date; a null-prototype object arrives as a plain object", () => {
      const out = roundTrip([new Date(NaN), Object.assign(Object.create(null) as object, { a: 1 })]);
      assert.ok(out[0] instanceof Date && Number.isNaN(out[0].getTime()));
      assert.deepStrictEqual(out[1], { a: 1 });
    });

    it("keeps -0 distinct from 0", () => {
      const out = roundTrip([-0, 0, { z: -0 }]);
      assert.ok(Object.is(out[0], -0), "-0 in an array");
      assert.ok(Object.is(out[1], 0), "0 stays 0");
      assert.ok(Object.is((out[2] as { z: number }).z, -0), "-0 in an object");
      assert.ok(Object.is(roundTrip(-0), -0), "-0 alone");
    });

    // msgpackr's decoder renamed an own key "__proto__" to "__proto_" (JSON.parse makes such keys)
    it('keeps an own key "__proto__" as an own key, with the prototype untouched, shared references kept', () => {
      const inner = JSON.parse('{"__proto__": {"x": 1}, "a": -0}') as Record<string, unknown>;
      const out = roundTrip([inner, inner, { in: inner }, new Map([["m", inner]])]);
      const [first, again, holder, map] = out as [Record<string, unknown>, unknown, { in: unknown }, Map<string, unknown>];
      assert.deepStrictEqual(Object.keys(first), ["__proto__", "a"]);
      assert.ok(Object.hasOwn(first, "__proto__"), "an own key, not the prototype");
      assert.equal(Object.getPrototypeOf(first), Object.prototype);
      assert.deepStrictEqual(first["__proto__"], { x: 1 });
      assert.ok(Object.is(first.a, -0), "a -0 beside it stays -0");
      assert.ok(again === first && holder.in === first && map.get("m") === first, "shared references stay shared");
      assert.equal(Object.keys(roundTrip(JSON.parse('{"__proto_": 1}') as object)).join(), "__proto_", "a key that merely looks like it is its own");
    });

    // UTF-8 cannot hold a lone surrogate (a string cut inside a surrogate pair): it arrived as U+FFFD
    it("keeps strings with lone surrogates, as values, keys of objects and Maps, Set members and an Error's message", () => {
      const cut = "smile \uD83D"; // an emoji cut in half
      const value = { [cut]: "\uDE00 alone", short: "\uD800", long: "x".repeat(5000) + "\uDFFF", whole: "\uD83D\uDE00" };
      const out = roundTrip([value, new Map([[cut, 1]]), new Set([cut]), cut, new Error(cut)]);
      assert.deepStrictEqual(out.slice(0, 4), [value, new Map([[cut, 1]]), new Set([cut]), cut]);
      assert.equal((out[4] as Error).message, cut);
      assert.equal(roundTrip(cut), cut, "alone");
    });

    it("an Error keeps its class (built-ins), name, message, stack, cause and fields", () => {
      const e = Object.assign(new RangeError("too far", { cause: new Error("inner") }), { code: "E_FAR", detail: { n: 1 } });
      const out = roundTrip(e);
      assert.ok(out instanceof RangeError);
      assert.equal(out.message, "too far");
      assert.equal(out.stack, e.stack);
      assert.equal((out.cause as Error).message, "inner");
      assert.equal(out.code, "E_FAR");
      assert.deepEqual(out.detail, { n: 1 });
      class MyError extends Error {
        override name = "MyError";
      }
      const mine = roundTrip(new MyError("mine"));
      assert.ok(mine instanceof Error);
      assert.equal(mine.name, "MyError");
      assert.equal(mine.message, "mine");
      const agg = roundTrip(new AggregateError([new TypeError("a")], "both"));
      assert.ok(agg instanceof AggregateError);
      assert.equal(agg.message, "both");
      assert.ok(agg.errors[0] instanceof TypeError);
    });

    // an Error was a leaf of the marking copy: a -0 among its fields arrived as 0, a lone surrogate as U+FFFD
    it("an Error's fields, cause and message keep what msgpack would change; a non-string message and a missing stack stay so", () => {
      const shared = { n: 1 };
      const e = Object.assign(new RangeError("cut \uD83D", { cause: -0 }), { z: -0, s: "\uDE00", o: JSON.parse('{"__proto__": 1}'), shared });
      const [back, same, again] = roundTrip([e, e, shared]) as [RangeError & typeof e, unknown, unknown];
      assert.ok(back instanceof RangeError && back === same, "one RangeError, shared");
      assert.equal(back.message, "cut \uD83D");
      assert.equal(back.stack, e.stack);
      assert.ok(Object.is(back.cause, -0) && Object.is(back.z, -0), "-0 in the cause and a field");
      assert.equal(back.s, "\uDE00");
      assert.ok(Object.hasOwn(back.o, "__proto__"));
      assert.ok(back.shared === again, "a field shared with the rest of the value stays shared");
      const odd = roundTrip(Object.assign(new Error(), { message: 5 }));
      assert.equal(odd.message, 5 as unknown as string);
      const bare = new Error("no stack");
      delete bare.stack;
      assert.equal(roundTrip(bare).stack, undefined);
    });

    it("keeps cycles", () => {
      const a: Record<string, unknown> = { name: "a" };
      a.self = a;
      const list: unknown[] = [1];
      list.push(list);
      const m = new Map<string, unknown>();
      m.set("me", m);
      const out = roundTrip({ a, list, m });
      assert.equal(out.a.self, out.a);
      assert.equal(out.list[1], out.list);
      assert.equal(out.m.get("me"), out.m);
      const top = roundTrip(a); // the value itself in the cycle
      assert.equal(top.self, top);
    });

    it("keeps shared references shared", () => {
      const shared = { v: 1 };
      const bytes = new Float64Array(4);
      const out = roundTrip({ x: shared, y: [shared], m: new Map([["s", shared]]), b1: bytes, b2: bytes });
      assert.equal(out.x, out.y[0]);
      assert.equal(out.x, out.m.get("s"));
      assert.equal(out.b1, out.b2);
    });

    it("sends large binaries as raw parts, views of the caller's memory", () => {
      const big = new Float64Array(4096).map((_, i) => i);
      const value = { big, map: new Map([["big", big]]), small: new Uint8Array(8) };
      const { head, raws } = encodeWithRaws(value, THRESHOLD, Sent.arguments);
      assert.equal(raws.length, 1, "one raw part: the shared array once, the small one inline");
      assert.equal(raws[0]!.buffer, big.buffer, "not copied");
      const out = decodeWithRaws(head, raws) as typeof value;
      assert.deepStrictEqual(out.big, big);
      assert.equal(out.map.get("big"), out.big);
    });

    it("encodes futures as key references and resolves them when decoding", () => {
      const { head, raws, keys } = encodeWithRaws([new KeyReference("k1"), { m: new Map([["f", new KeyReference("k2")]]) }], THRESHOLD, Sent.arguments);
      assert.deepEqual(keys.sort(), ["k1", "k2"]);
      const out = decodeWithRaws(head, raws, (k) => `value of ${k}`) as [string, { m: Map<string, string> }];
      assert.equal(out[0], "value of k1");
      assert.equal(out[1].m.get("f"), "value of k2");
    });
  });

  describe("refusals", () => {
    // each arrived as {} or undefined (or overflowed the stack) before
    class Point {
      constructor(readonly x = 1) {}
    }
    const refused = (value: unknown[], message: string) => () =>
      assert.throws(() => encodeWithRaws(value, THRESHOLD, Sent.arguments), (err: Error) => {
        assert.ok(err instanceof TypeError, `a TypeError, got ${err.name}`);
        assert.equal(err.message.slice(0, message.length), message);
        return true;
      });
    let socket: net.Socket;
    before(() => {
      socket = new net.Socket();
    });
    after(() => socket.destroy());

    it("a socket, naming its path", () => refused([{ conn: socket }], "argument 1 .conn: a net.Socket cannot be sent to a worker: it holds an operating-system handle")());
    it("a Promise", refused([1, Promise.resolve(2)], "argument 2: a Promise cannot be sent to a worker: await it and send its value"));
    it("a WeakMap", refused([{ a: [new WeakMap()] }], "argument 1 .a[0]: a WeakMap cannot be sent to a worker"));
    it("a WeakSet inside a Map", refused([new Map([["k", new WeakSet()]])], 'argument 1 .get("k"): a WeakSet cannot be sent to a worker'));
    it("a function outside the function position", refused([{ "odd key": () => 1 }], 'argument 1 ["odd key"]: a function "odd key" cannot be sent to a worker: only the task function'));
    it("a symbol", refused([[Symbol("s")]], "argument 1 [0]: a symbol, Symbol(s), cannot be sent to a worker"));
    it("an EventEmitter", refused([new EventEmitter()], "argument 1: a EventEmitter (an EventEmitter) cannot be sent to a worker"));
    it("an instance of a user class, inside a Set", refused([new Set([new Point()])], "argument 1 .values()[0]: an instance of class Point cannot be sent to a worker: its class cannot be rebuilt"));
    it("an unsendable cause of an error", refused([new Error("x", { cause: Promise.resolve() })], "argument 1 .cause: a Promise cannot be sent"));
    // a hole arrived as an undefined element: `i in a` and forEach told the two apart
    it("a sparse array, naming its first hole; an array of undefined elements still travels", () => {
      // eslint-disable-next-line no-sparse-arrays
      refused([{ a: [1, , 3] }], "argument 1 .a: a sparse array (no element at index 1) cannot be sent to a worker: its holes would arrive as undefined")();
      refused([new Array(3)], "argument 1: a sparse array (no element at index 0)")();
      const back = roundTrip([[1, undefined, 3], Array.from(new Array(2))]) as unknown[][];
      assert.deepEqual(back, [[1, undefined, 3], [undefined, undefined]]);
      assert.ok(1 in back[0]! && 0 in back[1]!);
    });
    // a RegExp match arrived as its elements alone: index, input and groups were dropped
    it("an array, Map, Set, Date or RegExp with named fields, naming them; non-enumerable fields are not sent (as for objects)", () => {
      refused([{ m: "abc".match(/b/) }], "argument 1 .m: an array with named fields (index, input, groups) cannot be sent to a worker: only its elements")();
      const tagged = Object.assign([1, 2], { unit: "m" });
      refused([tagged], "argument 1: an array with named fields (unit)")();
      refused([Object.assign(new Map([[1, 2]]), { note: 1 })], "argument 1: a Map with named fields (note)")();
      refused([[Object.assign(new Set(), { a: 1, b: 2, c: 3, d: 4 })]], "argument 1 [0]: a Set with named fields (a, b, c, ... (4))")();
      refused([Object.assign(new Date(0), { tz: "UTC" })], "argument 1: a Date with named fields (tz)")();
      const hidden = [1, 2];
      Object.defineProperty(hidden, "cache", { value: 1, enumerable: false });
      const re = /x/g;
      re.lastIndex = 3;
      const back = roundTrip([[...("abc".match(/b/) ?? [])], hidden, re, [[]], new Map(), new Set([1])]) as unknown[];
      assert.deepEqual(back.slice(0, 2), [["b"], [1, 2]]);
      assert.ok(back[2] instanceof RegExp);
    });
    it("a refusal inside a cycle still names its path", () => {
      const a: Record<string, unknown> = {};
      a.self = a;
      a.p = new Point();
      refused([a], "argument 1 .p: an instance of class Point")();
    });

    // an Error on a cycle through its own fields decoded as a plain object: refused, never changed
    it("an Error on a cycle through itself; an Error merely inside a cycle still travels", () => {
      const e = new Error("boom") as Error & { self?: unknown; owner?: unknown };
      e.self = e;
      refused([e], "argument 1 .self: an Error that refers back to itself cannot be sent")();
      const f = new Error("f") as Error & { box?: unknown };
      f.box = { back: f };
      refused([{ f }], "argument 1 .f.box.back: an Error that refers back to itself")();
      const g = new Error("g") as Error & { owner?: unknown };
      const o: Record<string, unknown> = { g };
      g.owner = o;
      const enc = encodeWithRaws([o], THRESHOLD, Sent.arguments);
      const [back] = decodeWithRaws(enc.head, enc.raws) as [{ g: Error & { owner: unknown } }];
      assert.ok(back.g instanceof Error && back.g.owner === back);
    });

    // msgpackr rebuilds an object met again in a cycle by assigning its fields: "__proto__" set the prototype
    it('an object with an own key "__proto__" on a cycle through itself, or an Error with such a field', () => {
      const o = JSON.parse('{"__proto__": 1}') as Record<string, unknown>;
      o.box = { back: o };
      refused([o], 'argument 1 .box.back: an object with a key named "__proto__" that refers back to itself cannot be sent')();
      const e = Object.defineProperty(new Error("e"), "__proto__", { value: 1, enumerable: true });
      refused([e], 'argument 1: an Error with a field named "__proto__" cannot be sent')();
      refused([Object.assign(new Error("e"), { ["cut \uD83D"]: 1 })], 'argument 1: an Error with a field named "cut \\ud83d" cannot be sent')();
    });

    it("labels results and scattered values by what they are", () => {
      assert.throws(() => encodeWithRaws({ conn: socket }, THRESHOLD, Sent.result), /^TypeError: result \.conn: a net\.Socket cannot be sent from a worker/);
      assert.throws(() => encodeWithRaws([new WeakRef({})], THRESHOLD, Sent.scattered(2)), /^TypeError: value 3 \[0\]: a WeakRef cannot be sent to a worker/);
    });
  });

  // protects: a value once encoded is not kept alive by the encoder. msgpackr's structured clone
  // held every packed object until the next pack, so a worker that freed a 400 MB result never
  // got its memory back and stayed paused (memory.test: "resumes once results go")
  it("the encoder keeps no reference to what it encoded", async () => {
    let value: { big: Buffer; m: Map<number, number> } | undefined = { big: Buffer.alloc(1 << 20, 1), m: new Map([[1, 2]]) };
    const big = new WeakRef(value.big);
    const whole = new WeakRef(value);
    encodeWithRaws(value, THRESHOLD, Sent.result);
    value = undefined;
    for (let i = 0; i < 3 && (big.deref() || whole.deref()); i++) {
      await new Promise((r) => setImmediate(r));
      collectGarbage();
    }
    assert.equal(whole.deref(), undefined, "the encoded object is still reachable");
    assert.equal(big.deref(), undefined, "its buffer is still reachable");
  });

  // protects (issue 13 perf): the reset is skipped for primitives and short lists of primitives
  // (map()'s [x]); a short list holding an object (a buffer) still leaves nothing behind
  it("a short list holding a buffer is not kept either", async () => {
    let value: Buffer[] | undefined = [Buffer.alloc(1 << 20, 1)];
    const big = new WeakRef(value[0]!);
    encodeWithRaws(value, THRESHOLD, Sent.arguments);
    value = undefined;
    for (let i = 0; i < 3 && big.deref(); i++) {
      await new Promise((r) => setImmediate(r));
      collectGarbage();
    }
    assert.equal(big.deref(), undefined, "the buffer is still reachable");
  });

  it('a "__proto__"-keyed object whose entries are not string keys and values is a protocol error', () => {
    // ext 0x6f around: a list of one item, a number, a list whose key is a number
    for (const hex of ["d46f0091a15f", "d46f0005", "d46f009201a15f"]) {
      assert.throws(() => decodeWithRaws(Buffer.from(hex, "hex"), []), /ProtocolError: malformed value: an object with a key msgpack would change/, hex);
    }
  });

  it("a string's UTF-16 code units of an odd number of bytes are a protocol error", () => {
    assert.throws(() => decodeWithRaws(Buffer.from("d47541", "hex"), []), /ProtocolError: malformed value: a string's UTF-16 code units take an even number of bytes, got 1/);
  });

  // Found by reading (session 22): msgpack's never-used byte 0xc1 decoded to msgpackr's C1
  // object, handed to the task or the caller as if it were a value. Our encoder never writes it,
  // so found where a value starts, the bytes are corrupt: an error. As data inside a binary, a
  // string or a number it is no token, and the value decodes.
  it("a value with msgpack's never-used byte 0xc1 where a value starts is an error, not an object", () => {
    assert.throws(() => decodeWithRaws(new Uint8Array([0xc1]), []), /ProtocolError: a value's bytes hold msgpack's never-used byte 0xc1/);
    const nested = Buffer.from(encodeWithRaws([1, { a: 2 }], THRESHOLD, Sent.arguments).head);
    const at = nested.indexOf(0x02); // the 2 of { a: 2 }
    nested[at] = 0xc1;
    assert.throws(() => decodeWithRaws(nested, []), /never-used byte 0xc1/);
    const data = [new Uint8Array([0xc1, 0xc1]), "\u00c1", 0xc1c1, new Map([["k", -131073.5]])];
    assert.ok(Buffer.from(encodeWithRaws(data, THRESHOLD, Sent.arguments).head).includes(0xc1), "the byte is in the head, as data");
    assert.deepEqual(roundTrip(data), data);
  });

  // the client keeps a small result that came with key-in-memory: primitives decoded, the rest as bytes of its own
  describe("inline results kept by the client", () => {
    /** The result's parts as they arrive: views into a bigger received frame. */
    function arrived(value: unknown): { parts: Uint8Array[]; frame: ArrayBuffer } {
      const { head, raws } = encodeWithRaws(value, THRESHOLD, Sent.result);
      const frame = new ArrayBuffer(64 * 1024);
      let at = 100;
      const parts = [head, ...raws].map((p) => {
        const view = new Uint8Array(frame, at, p.byteLength);
        view.set(p);
        at += p.byteLength + 8;
        return view;
      });
      return { parts, frame };
    }

    for (const v of [0, 7, -1, -33, 2 ** 40, -(2 ** 40), 1.5, NaN, Infinity, -Infinity, "", "abc", "é".repeat(300), true, false, null]) {
      it(`keeps ${typeof v === "string" ? `a string of ${v.length}` : String(v)} as itself`, () => {
        const kept = keepInline(arrived(v).parts);
        assert.ok(Object.is(kept, v), `got ${String(kept)}`);
        assert.ok(Object.is(kept, roundTrip(v)), "the same value a later decode gives");
      });
    }

    it("keeps bytes that do not decode as they are (gather fails on them, for that key alone)", () => {
      const bad = Buffer.from([0xd9, 0x20, 0x41]); // a str8 of 32 bytes cut after one
      const kept = keepInline([bad]);
      assert.ok(Array.isArray(kept));
      assert.deepEqual([...kept[0]!], [...bad]);
      assert.throws(() => decodeWithRaws(kept[0]!, []));
    });

    const others: Array<[string, unknown]> = [
      ["undefined", undefined],
      ["-0 (an extension, so that it stays -0)", -0],
      ["a bigint", 5n],
      ["an array", [1, 2]],
      ["an object", { a: 1 }],
      ["a Map", new Map([[1, 2]])],
      ["a Date", new Date(0)],
      ["bytes", new Uint8Array([1, 2, 3])],
    ];
    for (const [what, v] of others) {
      it(`keeps ${what} as bytes of its own, decoded afresh at each gather`, () => {
        const { parts, frame } = arrived(v);
        const kept = keepInline(parts);
        assert.ok(Array.isArray(kept), `${what} was decoded at once: ${String(kept)}`);
        for (const p of kept) assert.notEqual(p.buffer, frame, "a kept part still holds the whole received frame");
        const a = decodeWithRaws(kept[0]!, kept.slice(1));
        assert.deepEqual(a, v);
        if (typeof v === "object" && v !== null) assert.notEqual(decodeWithRaws(kept[0]!, kept.slice(1)), a, "two gathers share one mutable value");
      });
    }
  });
});

