// Spilling (src/worker/spill.ts) on the real file system: what is written comes back byte for
// byte, the byte count follows writes and removals, and files and directory go when asked.
// Written to kill the mutants that survived `npm run mutate`.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { SpillDirectory, spillParent } from "../../src/worker/spill.js";
import { tempDir } from "../helpers/cluster.js";
import { skipIf } from "../helpers/skip.js";

describe("spill files (real file system)", () => {
  let tmp: { dir: string; remove: () => void };
  beforeEach(() => (tmp = tempDir("dask-spill-test-")));
  afterEach(() => tmp.remove());

  // protects: every byte of every part comes back (not only the ends: a reader that zeroed the
  // middle of big parts went unnoticed before), part boundaries included, empty parts too
  it("reads back every byte of every part, of many sizes", async () => {
    const spill = new SpillDirectory(path.join(tmp.dir, "spill"));
    const values = [
      [randomBytes(200_000), Buffer.alloc(0), randomBytes(3), randomBytes(70_001)],
      [randomBytes(1)],
      [],
      [Buffer.alloc(0)],
    ];
    const spilled = values.map((v, i) => spill.write(`key-${i}`, v));
    for (const [i, v] of values.entries()) {
      const back = await spill.read(spilled[i]!);
      assert.equal(back.length, v.length, `part count of key-${i}`);
      back.forEach((p, j) => assert.ok(Buffer.from(p).equals(v[j]!), `key-${i} part ${j} intact`));
    }
  });

  // protects: a file cut short read back as shorter parts (a Float64Array of fewer elements)
  it("refuses a file cut short or grown after the write, naming it", async () => {
    const spill = new SpillDirectory(path.join(tmp.dir, "spill"));
    const v = [randomBytes(100), randomBytes(5000)];
    for (const [what, bytes, message] of [
      ["cut inside a part", (b: Buffer) => b.subarray(0, b.length - 10), /is 5102 bytes, not the 5112 written \(2 parts, 5100 bytes of value\)/],
      ["grown", (b: Buffer) => Buffer.concat([b, Buffer.alloc(3)]), /is 5115 bytes, not the 5112 written/],
      ["cut inside the header", (b: Buffer) => b.subarray(0, 6), /is 6 bytes, shorter than its header of 2 parts/],
      ["emptied", () => Buffer.alloc(0), /is 0 bytes, shorter than its header$/],
    ] as const) {
      const s = spill.write("k", v);
      writeFileSync(s.file, bytes(readFileSync(s.file)));
      await assert.rejects(spill.read(s), (err: Error) => {
        assert.ok(err.message.startsWith(`spill file ${s.file} `), what);
        assert.match(err.message.split(": it changed")[0]!, message, what);
        return true;
      });
      spill.remove(s);
    }
  });

  // protects: the size accounting the memory monitor relies on (bytes on disk per value, and
  // in total as values are written and removed)
  it("counts the bytes spilled, per value and in total", () => {
    const spill = new SpillDirectory(path.join(tmp.dir, "spill"));
    assert.equal(spill.bytes, 0);
    const a = spill.write("a", [Buffer.alloc(10), Buffer.alloc(5)]);
    const b = spill.write("b", [Buffer.alloc(100)]);
    assert.equal(a.nbytes, 15);
    assert.equal(b.nbytes, 100);
    assert.equal(spill.bytes, 115);
    spill.remove(a);
    assert.equal(spill.bytes, 100);
    assert.equal(existsSync(a.file), false, "the file of a removed value is gone");
    assert.equal(existsSync(b.file), true);
    spill.remove(a); // removing twice does not throw (a key freed while it was being read back)
  });

  // protects: writing closes its files (a worker spilling for hours must not run out of
  // descriptors)
  it("leaves no file descriptor open", function () {
    skipIf(this, existsSync("/proc/self/fd") ? undefined : "no /proc/self/fd to count descriptors (Linux only)");
    const spill = new SpillDirectory(path.join(tmp.dir, "spill"));
    const before = readdirSync("/proc/self/fd").length;
    for (let i = 0; i < 50; i++) spill.write(`k${i}`, [Buffer.alloc(10)]);
    assert.ok(readdirSync("/proc/self/fd").length < before + 10, "50 writes left descriptors open");
  });

  // protects: one file per key (no two keys share a file, the same key writes the same file),
  // all inside the directory, which close() removes with everything in it
  it("keeps one file per key inside its directory, and close removes it all", async () => {
    const spill = new SpillDirectory(path.join(tmp.dir, "spill"));
    const dir = spill.dir; // a private directory made inside the local directory
    const a = spill.write("x", [Buffer.from("first")]);
    const b = spill.write("y", [Buffer.from("second")]);
    assert.notEqual(a.file, b.file);
    assert.equal(path.dirname(a.file), dir);
    assert.deepEqual(readdirSync(dir).sort(), [path.basename(a.file), path.basename(b.file)].sort(), "no probe or other file left behind");
    assert.equal(String((await spill.read(b))[0]), "second");
    spill.close();
    assert.equal(existsSync(dir), false);
    assert.equal(spill.bytes, 0);
  });

  // protects: an unwritable local directory is a clear start-up error naming it and the ways out
  it("refuses an unwritable directory with a ConfigError naming it", () => {
    // a path under a regular file cannot be created, whoever runs the test (root included)
    const file = path.join(tmp.dir, "a-file");
    writeFileSync(file, "");
    const dir = path.join(file, "spill");
    assert.throws(() => new SpillDirectory(dir), (err: Error & { code?: string }) => {
      assert.equal(err.code, "ERR_CONFIG");
      assert.ok(err.message.includes(`local directory ${dir} cannot be used`), err.message);
      assert.match(err.message, /--local-directory/);
      return true;
    });
  });

  // protects: a worker that never spills (no memory limit, or target and spill both off) gets
  // no directory and must not touch the disk; one that may spill gets one in its local directory
  it("spillParent: none without a limit or with spilling off, else the local directory", () => {
    const local = tmp.dir;
    assert.equal(spillParent({ localDirectory: local }), undefined);
    assert.equal(spillParent({ localDirectory: local, memoryLimit: 0 }), undefined);
    assert.equal(spillParent({ localDirectory: local, memoryLimit: 1e9, memory: { target: false, spill: false } }), undefined);
    for (const memory of [{}, { target: false }, { spill: false }] as const) {
      assert.equal(spillParent({ localDirectory: local, memoryLimit: 1e9, memory }), local, JSON.stringify(memory));
    }
  });
});
