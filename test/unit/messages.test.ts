// The field checks of protocol/messages.ts. Protects: a malformed message is refused with an
// error naming its op, the field and what came (the connection it came on is then closed),
// and an op no parser knows is refused, not dispatched. P2 adds one case per op here.
import assert from "node:assert/strict";
import { type Message, type Parsers, num, optional, parseWith, str, strList } from "../../src/protocol/messages.js";

describe("message field checks", () => {
  const m: Message = { op: "who-has", keys: ["a", "b"], key: "a", n: 3 };

  it("accept well-typed fields and name op, field and value type otherwise", () => {
    assert.equal(str(m, "key"), "a");
    assert.equal(num(m, "n"), 3);
    assert.deepEqual(strList(m, "keys"), ["a", "b"]);
    assert.throws(() => str(m, "n"), { name: "ProtocolError", message: "who-has: n must be a string, got number" });
    assert.throws(() => num(m, "key"), { name: "ProtocolError", message: "who-has: key must be a number, got string" });
    assert.throws(() => strList({ op: "x", keys: ["a", 1] }, "keys"), { name: "ProtocolError", message: "x: keys must be a list of strings" });
    assert.equal(optional(m, "missing", str), undefined);
    assert.throws(() => optional(m, "n", str), { name: "ProtocolError" });
  });

  it("parseWith dispatches on op and refuses unknown ones (also inherited names)", () => {
    type Ping = { op: "ping"; n: number };
    const parsers: Parsers<Ping> = { ping: (raw) => ({ op: "ping", n: num(raw, "n") }) };
    assert.deepEqual(parseWith(parsers, { op: "ping", n: 1 }), { op: "ping", n: 1 });
    assert.throws(() => parseWith(parsers, { op: "pong" }), { name: "ProtocolError", message: 'unknown op "pong"' });
    assert.throws(() => parseWith(parsers, { op: "toString" }), { name: "ProtocolError", message: 'unknown op "toString"' });
  });
});
