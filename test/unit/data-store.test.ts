// The worker's data store (src/worker/data-store.ts) on the real file system: values kept in use
// order, the least recently used spilled first, read back intact and in memory again, files
// removed when their key goes. Each test names the behaviour it protects.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DataStore, type Found, SPILL_RETRY_MS, type SpillLimits } from "../../src/worker/data-store.js";
import { DEFAULT_THRESHOLDS } from "../../src/worker/memory.js";
import { Spilled } from "../../src/worker/spill.js";

const KB = 1024;
const val = (n: number, fill: number) => [Buffer.alloc(8, fill), Buffer.alloc(n - 8, fill)];
/** spill what is over 50% of a 10 KiB limit (target), never on rss */
const LIMITS: SpillLimits = { memoryLimit: 10 * KB, thresholds: { ...DEFAULT_THRESHOLDS, target: 0.5, spill: false }, maxSpillBytes: false };

describe("worker data store (real files)", () => {
  let root: string;
  let store: DataStore;
  const files = () => readdirSync(readdirSync(root).map((d) => path.join(root, d))[0]!);
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), "dask-mpi-ts-data-store-"));
    store = new DataStore(LIMITS);
    store.openSpill(root);
  });
  afterEach(() => {
    store.close();
    rmSync(root, { recursive: true, force: true });
  });

  // protects: spilling takes the least recently used first, and only as much as is over target
  it("spills the least recently used values down to the target", () => {
    for (const [k, fill] of [["a", 1], ["b", 2], ["c", 3]] as const) store.put(k, val(2 * KB, fill));
    assert.ok(!(store.values(["a"]) instanceof Promise)); // a is now the most recently used
    store.put("d", val(2 * KB, 4)); // 8 KiB in memory, target 5 KiB: 3 KiB over -> b and c go
    store.spillIfNeeded(0);
    assert.deepEqual([...store.view].map(([k, v]) => `${k}${v instanceof Spilled ? " spilled" : ""}`), ["b spilled", "c spilled", "a", "d"]);
    assert.equal(store.memoryBytes, 4 * KB);
    assert.equal(store.spilledBytes, 4 * KB);
    assert.equal(files().length, 2);
  });

  // protects: a spilled value comes back byte for byte, is in memory again, and its file is gone;
  // two readers share one read
  it("reads spilled values back into memory", async () => {
    store.put("a", val(4 * KB, 7));
    store.put("b", val(4 * KB, 8));
    store.spillIfNeeded(0);
    assert.ok(store.view.get("a") instanceof Spilled);
    const [one, two] = await Promise.all([store.values(["a", "nope"]), store.values(["a"])]);
    assert.deepEqual(one.data.get("a"), val(4 * KB, 7));
    assert.deepEqual(one.missing, ["nope"]);
    assert.equal(two.data.get("a"), one.data.get("a"), "one read for both");
    assert.ok(Array.isArray(store.view.get("a")));
    assert.equal(store.spilledBytes, 0);
    assert.equal(files().length, 0);
  });

  // protects: a key freed while its value is read back reads as missing; freeing removes files
  it("frees spilled values and their files; a key freed during read-back is missing", async () => {
    store.put("a", val(4 * KB, 1));
    store.put("b", val(4 * KB, 2));
    store.spillIfNeeded(0);
    const reading = store.values(["a"]);
    store.delete(["a"]);
    assert.deepEqual(await reading, { data: new Map(), missing: ["a"] });
    assert.equal(store.has("a"), false);
    assert.equal(files().length, 0);
    assert.equal(store.spilledBytes, 0);
  });

  // protects: a spill file cut short after its write made the task that needed it err ("spill
  // file ... changed after it was written"), though the value could be computed again; now the
  // value is lost here: missing to every asker, dropped with its file, and onLost names it once
  it("a spill file that changed after its write: the value reads as missing to every asker, is dropped, and onLost is told once", async () => {
    const lost: Array<[string, string]> = [];
    store.close();
    store = new DataStore(LIMITS, (key, err) => lost.push([key, (err as Error).message]));
    store.openSpill(root);
    store.put("a", val(4 * KB, 1));
    store.put("b", val(4 * KB, 2));
    store.spillIfNeeded(0);
    const file = (store.view.get("a") as Spilled).file;
    truncateSync(file, 100);
    const [one, two] = await Promise.all([store.values(["a", "b"]), store.values(["a"])]);
    assert.deepEqual(one.missing, ["a"]);
    assert.deepEqual(one.data.get("b"), val(4 * KB, 2), "the other value is read back as ever");
    assert.deepEqual(two, { data: new Map(), missing: ["a"] });
    assert.equal(lost.length, 1, "told once, for both readers");
    assert.equal(lost[0]![0], "a");
    assert.match(lost[0]![1], /^spill file .* is 100 bytes, not the 4108 written/);
    assert.equal(store.has("a"), false);
    assert.equal(existsSync(file), false);
    assert.equal(store.spilledBytes, 0);
  });

  // protects: a value put over a spilled one replaces it and its file goes (no file left behind)
  it("a value put over a spilled one removes its file", () => {
    store.put("a", val(4 * KB, 1));
    store.put("b", val(4 * KB, 2));
    store.spillIfNeeded(0);
    store.put("a", val(1 * KB, 9));
    assert.equal(files().length, 0);
    assert.equal(store.spilledBytes, 0);
    assert.deepEqual((store.values(["a"]) as Found).data.get("a"), val(1 * KB, 9));
  });

  // protects: without a memory limit nothing spills, and close removes the directory
  // Found by reading (session 12): a failed spill (a full disk) was tried again, and logged, at
  // every tick of the memory monitor; now the value stays in memory and the next try waits
  it("a failed spill keeps the value in memory and waits before trying again", () => {
    store.put("a", val(4 * KB, 1));
    store.put("b", val(4 * KB, 2));
    const dir = readdirSync(root).map((d) => path.join(root, d))[0]!;
    rmSync(dir, { recursive: true }); // the spill directory is gone: every write fails
    store.spillIfNeeded(0, 1_000);
    assert.ok(Array.isArray(store.view.get("a")), "kept in memory");
    mkdirSync(dir, { mode: 0o700 }); // the disk has room again
    store.spillIfNeeded(0, 1_000 + SPILL_RETRY_MS - 1);
    assert.ok(Array.isArray(store.view.get("a")), "no new try before the wait is over");
    store.spillIfNeeded(0, 1_000 + SPILL_RETRY_MS);
    assert.ok(store.view.get("a") instanceof Spilled, "spilled once the wait is over");
  });

  it("never spills without a limit; close removes the directory", () => {
    const free = new DataStore({ ...LIMITS, memoryLimit: 0 });
    free.openSpill(root);
    free.put("a", val(64 * KB, 1));
    free.spillIfNeeded(1e12);
    assert.ok(Array.isArray(free.view.get("a")));
    assert.equal(readdirSync(root).length, 2, "this store's directory and the other's");
    free.close();
    assert.equal(free.size, 0);
    assert.equal(readdirSync(root).length, 1);
  });
});
