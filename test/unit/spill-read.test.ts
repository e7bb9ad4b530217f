// Spilled values come back byte for byte: every byte of every part, for values of several
// parts whose sizes straddle 4 KiB boundaries (a reader that kept only the first and last
// 4 KiB of each part, or mixed parts up, passed a test that looked at three elements).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { SpillDirectory } from "../../src/worker/spill.js";

/** Bytes that differ at every position and between parts (xorshift), so no region can be faked. */
function noise(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("spill files: written and read back intact (real files)", () => {
  let root: string;
  let spill: SpillDirectory;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), "dask-mpi-ts-spill-read-"));
    spill = new SpillDirectory(path.join(root, "spill"));
  });
  afterEach(() => {
    spill.close();
    rmSync(root, { recursive: true, force: true });
  });

  const K = 4096;
  const sizes = [0, 1, K - 1, K, K + 1, 2 * K - 1, 2 * K, 2 * K + 1, 3 * K + 17, 8 * K + 5, (1 << 20) + 3];

  it("one value per size across 4 KiB boundaries, single-part: every byte back (sha-256 and byte compare)", async () => {
    for (const [i, n] of sizes.entries()) {
      const part = noise(n, i + 1);
      const back = await spill.read(spill.write(`single-${n}`, [part]));
      assert.equal(back.length, 1, `size ${n}: one part`);
      assert.equal(back[0]!.length, n, `size ${n}: length`);
      assert.equal(sha(back[0]!), sha(part), `size ${n}: contents`);
    }
  });

  it("a multi-part value (msgpack head + raw parts of all those sizes): parts in order, each byte for byte", async () => {
    const value = sizes.map((n, i) => noise(n, 100 + i));
    const s = spill.write("multi", value);
    assert.equal(s.nbytes, sizes.reduce((a, b) => a + b, 0));
    const back = await spill.read(s);
    assert.deepEqual(back.map((p) => p.length), sizes);
    back.forEach((p, i) => assert.ok(Buffer.compare(p, value[i]!) === 0, `part ${i} (${sizes[i]} bytes) differs`));
  });

  it("many values spilled side by side do not mix: each key reads its own bytes", async () => {
    const values = Array.from({ length: 12 }, (_, i) => [noise(64, 500 + i), noise(3 * K + i, 600 + i)]);
    const spilled = values.map((v, i) => spill.write(`k-${i}`, v));
    const back = await Promise.all(spilled.map((s) => spill.read(s)));
    back.forEach((v, i) => assert.deepEqual(v.map(sha), values[i]!.map(sha), `key k-${i}`));
  });
});
