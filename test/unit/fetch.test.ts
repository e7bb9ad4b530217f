// gather's fetch from the workers (client/fetch.ts fetchValues) on what a worker answers: a
// value is decoded, bytes that do not decode fail their key alone, and a reply that breaks the
// protocol fails its keys at once, naming the bad field. The worker is a stub answering get-data.
import assert from "node:assert/strict";
import { fetchValues, type FetchHost } from "../../src/client/fetch.js";
import type { Rpc } from "../../src/comm/rpc.js";
import type { KeyState } from "../../src/client/key-table.js";
import { Sent, encodeWithRaws } from "../../src/protocol/msgpack.js";

const W = "tcp://127.0.0.1:1";
const finished = (key: string): KeyState => ({ key, status: "finished", refs: 1, holder: W });

function hostAnswering(reply: unknown): FetchHost & { asked: number } {
  const host = {
    asked: 0,
    whoHas: async () => ({}),
    worker: async () => ({ request: async () => (host.asked++, reply) }) as unknown as Rpc,
    timeoutMs: 10_000,
    actors: { call: async () => undefined },
  };
  return host;
}

describe("gather's fetch from a worker", () => {
  it("decodes the values of a well-formed reply; bytes that do not decode fail their key alone", async () => {
    const v = encodeWithRaws({ n: 42 }, 1 << 20, Sent.result);
    const host = hostAnswering({ keys: ["a", "b"], values: [[v.head], [Buffer.from([0x92, 0x01])]], missing: [] });
    const got = await fetchValues([["a", finished("a")], ["b", finished("b")]], host);
    assert.deepEqual(got.values.get("a"), { n: 42 });
    assert.ok(got.failed.has("b") && !got.failed.has("a"));
  });

  // protects: a reply that breaks the protocol (from a worker that is not ours, or broken) was a
  // bare TypeError; once checked, it must fail its keys, not be asked again until the gather's
  // timeout (none by default: a hang)
  it("fails the keys of a malformed reply at once with a ProtocolError naming the field", async () => {
    const host = hostAnswering({ data: { a: [Buffer.from([1])] }, missing: [] }); // the old form
    const got = await fetchValues([["a", finished("a")]], host);
    assert.equal(host.asked, 1);
    assert.equal(got.values.size, 0);
    const err = got.failed.get("a");
    assert.equal(err?.name, "ProtocolError");
    assert.equal(err?.message, "get-data reply: keys must be a list of strings, got undefined");
  });
});
