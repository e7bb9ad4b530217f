// Task keys (src/client/submit-options.ts): a pure task's token is SHA-1 of its function's
// digest and its encoded arguments whichever path computes it, random tokens do not repeat, and
// a key is one string of name, "-" and token.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { randomToken, taskKey, tokenize } from "../../src/client/submit-options.js";

/** The token by its definition, with one streaming hash. */
function reference(fn: object, head: Uint8Array, raws: Uint8Array[]): string {
  const digest = createHash("sha1").update(JSON.stringify(fn)).digest();
  const h = createHash("sha1").update(digest).update(head);
  for (const r of raws) h.update(r);
  return h.digest("hex").slice(0, 24);
}

describe("task keys", () => {
  const fn = { kind: "source", source: "(x) => x + 1" };
  const cases: Array<[string, Uint8Array, Uint8Array[]]> = [
    ["a small head (one call)", Buffer.from([0x91, 0x01]), []],
    ["an empty head", new Uint8Array(0), []],
    ["a head of 64 KiB less the digest (the one-call path's largest)", Buffer.alloc(64 * 1024 - 20, 7), []],
    ["a head over it (streamed)", Buffer.alloc(64 * 1024, 7), []],
    ["raw parts (streamed)", Buffer.from([0x92, 0x01, 0x02]), [Buffer.alloc(5000, 1), Buffer.alloc(3, 2)]],
    ["a view into a bigger buffer", new Uint8Array(Buffer.alloc(300, 9).buffer, 17, 40), []],
  ];
  for (const [what, head, raws] of cases) {
    it(`tokenize: ${what} gives SHA-1 of digest, head and raws`, () => {
      assert.equal(tokenize(fn, head, raws), reference(fn, head, raws));
      assert.equal(tokenize(fn, head, raws), tokenize(fn, head, raws), "not deterministic");
    });
  }

  it("tokenize: another function or other arguments give another token", () => {
    const head = Buffer.from([0x91, 0x01]);
    const other = { kind: "source", source: "(x) => x + 2" };
    assert.notEqual(tokenize(fn, head, []), tokenize(other, head, []));
    assert.notEqual(tokenize(fn, head, []), tokenize(fn, Buffer.from([0x91, 0x02]), []));
    assert.notEqual(tokenize(fn, head, []), tokenize(fn, head, [Buffer.alloc(1)]));
  });

  it("randomToken: 32 hex digits, none repeated across pool refills", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const t = randomToken();
      assert.match(t, /^[0-9a-f]{32}$/);
      assert.ok(!seen.has(t), `token ${t} came twice`);
      seen.add(t);
    }
  });

  it("taskKey: name, a dash and the token", () => {
    assert.equal(taskKey("inc", "abc"), "inc-abc");
    assert.equal(taskKey("lambda", randomToken()).length, "lambda-".length + 32);
  });
});
