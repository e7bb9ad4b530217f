// The journal's pure parts (issue 16): the codec fed bytes (torn last record, damage, foreign
// and newer formats) and the fold of records with its compaction plan; and the lease lock and
// the file shell on a temporary directory.
import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { JournalError } from "../../src/index.js";
import { HEADER_BYTES, JOURNAL_VERSION, crc32, decodeJournal, encodeHeader, encodeRecord } from "../../src/scheduler/journal-codec.js";
import { JournalState, SCATTERED } from "../../src/scheduler/journal-state.js";
import { Journal } from "../../src/scheduler/journal.js";
import { JournalLock } from "../../src/scheduler/journal-lock.js";
import { writeCheckpoint } from "../../src/worker/checkpoint.js";
import { tempDir } from "../helpers/cluster.js";

const bytes = (...parts: Uint8Array[]) => Buffer.concat(parts);
const src = (s: string) => ({ kind: "source" as const, source: s });

describe("journal codec", () => {
  it("crc32 is zlib's", () => {
    assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926);
  });

  it("reads back what it wrote", () => {
    const recs = [["f", 1, src("x => x")], ["g", "Client-a", [["k", 1, [new Uint8Array([1, 2])], []]]], ["d", "k", 2, 8]];
    const d = decodeJournal(bytes(encodeHeader(), ...recs.map(encodeRecord)));
    assert.equal(d.torn, false);
    assert.equal(d.records.length, 3);
    assert.deepEqual((d.records[1] as unknown[])[1], "Client-a");
  });

  // a crash mid-write leaves part of the last record: it is ignored, what came before is kept
  it("ignores a torn last record at every cut, keeping what came before", () => {
    const good = bytes(encodeHeader(), encodeRecord(["c", "Client-a"]));
    const last = encodeRecord(["r", "Client-b", ["x", "y"]]);
    for (let cut = 1; cut < last.length; cut++) {
      const d = decodeJournal(bytes(good, last.subarray(0, cut)));
      assert.equal(d.torn, true, `cut ${cut}`);
      assert.equal(d.end, good.length);
      assert.equal(d.records.length, 1);
    }
    // a whole last record whose body is garbled is torn too
    const garbled = Buffer.from(last);
    garbled[garbled.length - 1]! ^= 0xff;
    assert.equal(decodeJournal(bytes(good, garbled)).torn, true);
  });

  it("damage before the last record stops reading, naming the offset", () => {
    const a = encodeRecord(["c", "Client-a"]);
    const garbled = Buffer.from(a);
    garbled[garbled.length - 1]! ^= 0xff;
    assert.throws(() => decodeJournal(bytes(encodeHeader(), garbled, encodeRecord(["c", "b"]))), new RegExp(`record at offset ${HEADER_BYTES} fails its checksum and is not the last one`));
  });

  it("a newer format fails naming its version; a foreign file names what it starts with", () => {
    assert.throws(() => decodeJournal(encodeHeader(JOURNAL_VERSION + 6)), new RegExp(`journal format version ${JOURNAL_VERSION + 6} is newer than the version this dask-mpi-ts reads \\(${JOURNAL_VERSION}\\)`));
    assert.throws(() => decodeJournal(Buffer.from("SQLite format 3\0 and more")), /not a dask-mpi-ts journal: it starts with "SQLite f"/);
  });
});

describe("journal state", () => {
  const task = (key: string, deps: string[] = []) => [key, 1, [new Uint8Array([0])], deps];

  it("keeps what clients want and its lineage; compaction drops the rest", () => {
    const s = new JournalState();
    s.apply(["f", 1, src("f")]);
    s.apply(["g", "Client-a", [task("a"), task("b", ["a"]), task("c", ["b"])]]);
    s.apply(["g", "Client-b", [task("x")]]);
    s.apply(["w", 7, "tcp://h:1"]);
    s.apply(["d", "a", 7, 10]);
    s.apply(["d", "x", 7, 10]);
    s.apply(["r", "Client-a", ["a", "b"]]);
    s.apply(["c", "Client-b"]);
    // c still wants its lineage a, b; x is nobody's
    assert.deepEqual([...s.liveKeys()].sort(), ["a", "b", "c"]);
    const snap = s.snapshot();
    assert.deepEqual(snap.tasks.map((t) => t[0]).sort(), ["a", "b", "c"]);
    assert.deepEqual(snap.done, [["a", 7, 10]]);
    const again = new JournalState();
    again.apply(["s", snap]);
    assert.deepEqual([...again.liveKeys()].sort(), ["a", "b", "c"]);
    assert.deepEqual(again.ordered(["c"]).map((t) => t[0]), ["a", "b", "c"]);
  });

  // protects: cancel-keys and restart() were not journaled, so a take-over computed the
  // cancelled keys (and their dependents, and a whole pre-restart workload) again
  it("a cancel takes the keys and their dependents from every client and holder; a restart takes everything", () => {
    const s = new JournalState();
    s.apply(["g", "Client-a", [task("a"), task("b", ["a"]), task("y")]]);
    s.apply(["g", "Client-b", [task("c", ["b"]), task("z")]]);
    s.apply(["ww", "datasets", ["b"]]);
    s.apply(["n", ["a"]]);
    assert.deepEqual([...s.liveKeys()].sort(), ["y", "z"]);
    s.apply(["n", null]);
    assert.deepEqual([...s.liveKeys()], []);
  });

  it("scattered data is a task without a function: kept with its holder while wanted or in a live task's lineage", () => {
    const s = new JournalState();
    s.apply(["f", 1, src("f")]);
    s.apply(["g", "Client-a", [["data", SCATTERED, [], []]]]);
    s.apply(["w", 3, "tcp://h:1"]);
    s.apply(["d", "data", 3, 64]);
    s.apply(["g", "Client-a", [task("use", ["data"])]]);
    s.apply(["r", "Client-a", ["data"]]);
    // released by its client, but "use" still depends on it
    const snap = s.snapshot();
    assert.deepEqual(snap.functions.map(([id]) => id), [1], "no function is journaled for it");
    const again = new JournalState();
    again.apply(["s", snap]);
    assert.deepEqual(again.ordered(["use"]).map((t) => [t[0], t[1]]), [["data", SCATTERED], ["use", 1]]);
    assert.deepEqual(again.done.get("data"), new Map([[3, 64]]));
    again.apply(["r", "Client-a", ["use"]]);
    assert.deepEqual([...again.liveKeys()], []);
  });

  it("a worker that left takes its completions with it", () => {
    const s = new JournalState();
    s.apply(["g", "Client-a", [task("a")]]);
    s.apply(["w", 1, "tcp://h:1"]);
    s.apply(["d", "a", 1, 3]);
    s.apply(["wx", 1]);
    assert.equal(s.done.size, 0);
  });

  // a take-over must not hand back the value of a key's earlier incarnation (a wrong value), nor
  // its error: found by reading (session 12), a key that erred, was released and submitted again
  // (a rerun, after a flaky failure) was restored erred by a take-over during the rerun
  it("a key submitted again loses the old run's completion and error, and its checkpoint unless the computation is the same", () => {
    const s = new JournalState();
    s.apply(["g", "Client-a", [task("a"), task("e"), task("k")]]);
    s.apply(["w", 1, "tcp://h:1"]);
    s.apply(["D", [["a", 1, 3], ["k", 1, 3]]]);
    s.apply(["e", "e", { name: "Error", message: "x", stack: "" }]);
    s.apply(["k", "k"]);
    s.apply(["r", "Client-a", ["a", "e", "k"]]);
    s.apply(["g", "Client-a", [task("a"), task("e"), task("k")]]); // the same computations again
    assert.deepEqual([s.done.has("a"), s.erred.has("e"), s.checkpoints.has("k")], [false, false, true]);
    s.apply(["D", [["a", 1, 3], ["k", 1, 3]]]);
    s.apply(["e", "e", { name: "Error", message: "x", stack: "" }]);
    s.apply(["r", "Client-a", ["a", "e", "k"]]);
    s.apply(["g", "Client-a", [[ "a", 2, [new Uint8Array([0])], []], ["e", 1, [new Uint8Array([9])], []], ["k", 1, [new Uint8Array([0])], ["a"]]]]);
    assert.deepEqual([s.done.has("a"), s.erred.has("e"), s.checkpoints.has("k"), s.done.has("k")], [false, false, false, false]);
    assert.equal(s.tasks.get("a")![1], 2, "the new spec is the one replayed");
  });

  // a retried key's error must not come back with a take-over during its rerun (the client,
  // told it is pending, would see the old error again)
  it("a retry record clears the keys' errors; a later error is kept again", () => {
    const s = new JournalState();
    s.apply(["g", "Client-a", [task("a"), task("b")]]);
    s.apply(["e", "a", { name: "Error", message: "x", stack: "" }]);
    s.apply(["e", "b", { name: "Error", message: "y", stack: "" }]);
    s.apply(["y", ["a"]]);
    assert.deepEqual([...s.erred.keys()], ["b"]);
    assert.deepEqual(s.snapshot().erred.map(([k]) => k), ["b"]);
    s.apply(["e", "a", { name: "Error", message: "again", stack: "" }]);
    assert.deepEqual([...s.erred.keys()].sort(), ["a", "b"]);
  });

  // fire-and-forget wants were not journaled: a scheduler taking over after the client left
  // forgot the task (lost work). They are kept until the key is done or erred, as live.
  it("fire-and-forget wants are live until the key is done or erred", () => {
    const s = new JournalState();
    s.apply(["g", "Client-a", [task("a"), task("b"), task("c")]]);
    s.apply(["ww", "fire-and-forget", ["a", "b", "c"]]);
    s.apply(["c", "Client-a"]);
    assert.deepEqual([...s.liveKeys()].sort(), ["a", "b", "c"], "the client left: fire-and-forget keeps them");
    s.apply(["w", 1, "tcp://h:1"]);
    s.apply(["D", [["a", 1, 3]]]);
    s.apply(["e", "b", { name: "Error", message: "x", stack: "" }]);
    assert.deepEqual([...s.liveKeys()], ["c"]);
    s.completed("c", 1, 3); // as Journal.finished applies it
    assert.deepEqual([...s.liveKeys()], []);
  });

  // protects: a fire-and-forget task that erred because a dependency failed kept its want in
  // the journal for good (only the failing key's error is journaled): each take-over erred it again
  it("compaction drops the fire-and-forget keys that erred with a dependency", () => {
    const s = new JournalState();
    s.apply(["f", 1, src("f")]);
    s.apply(["g", "Client-a", [task("bad"), task("mid", ["bad"]), task("top", ["mid"]), task("fine")]]);
    s.apply(["ww", "fire-and-forget", ["top", "fine"]]);
    s.apply(["c", "Client-a"]);
    s.apply(["e", "bad", { name: "Error", message: "on purpose", stack: "" }]);
    assert.deepEqual(s.snapshot().wants, [["fire-and-forget", ["fine"]]]);
    assert.deepEqual(s.snapshot().tasks.map((t) => t[0]), ["fine"]);
  });

  it("names a record kind it does not know", () => {
    assert.throws(() => new JournalState().apply(["zz", 1]), /unknown journal record kind "zz"/);
  });
  // Found by random graphs (session 23): a key kept one holder, the last completion's, so data
  // scattered to every worker (broadcast) was taken over from one of them only, and lost (an
  // error, though two live workers held it) when that one had died before the take-over.
  it("scattered data keeps every holder, through a worker leaving and a snapshot", () => {
    const s = new JournalState();
    s.apply(["g", "Client-a", [["data", SCATTERED, [], []]]]);
    for (const w of [1, 2, 3]) s.apply(["w", w, `tcp://h:${w}`]);
    s.apply(["D", [["data", 1, 8], ["data", 2, 8], ["data", 3, 8]]]);
    s.apply(["wx", 1]);
    assert.deepEqual(s.done.get("data"), new Map([[2, 8], [3, 8]]));
    const again = new JournalState();
    again.apply(["s", s.snapshot()]);
    assert.deepEqual(again.done.get("data"), new Map([[2, 8], [3, 8]]));
    again.apply(["wx", 2]);
    again.apply(["wx", 3]);
    assert.equal(again.done.has("data"), false, "gone with its last holder");
    // a key submitted again is a new run: its holders start afresh
    s.apply(["g", "Client-a", [task("k")]]);
    s.apply(["d", "k", 2, 5]);
    s.apply(["g", "Client-a", [task("k")]]);
    assert.equal(s.done.has("k"), false);
  });
});

describe("journal files and lock", function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => {
    try {
      chmodSync(tmp.dir, 0o755);
    } catch {}
    tmp.remove();
  });

  it("a directory that cannot be written is an error naming it", async () => {
    // under a regular file (fails for root too); and, when not root, a read-only directory
    writeFileSync(path.join(tmp.dir, "plain"), "");
    const under = path.join(tmp.dir, "plain", "journal");
    await assert.rejects(Journal.open(under, { owner: "s0" }), (e: unknown) => e instanceof JournalError && e.code === "ERR_JOURNAL" && e.message.startsWith(`journal directory ${under} cannot be written: `));
    if (process.getuid?.() === 0) return; // root writes anywhere
    const dir = path.join(tmp.dir, "ro");
    await Journal.open(dir, { owner: "s0" }).then((j) => j.close());
    chmodSync(dir, 0o555);
    await assert.rejects(Journal.open(dir, { owner: "s1" }), (e: unknown) => e instanceof JournalError && e.message.includes(`journal directory ${dir} cannot be written`));
  });

  // protects (issue 12, point 10: any file a role writes that holds data is private): journal
  // files were 0644 in a directory of any owner, readable by every user of the node (every
  // task's function, arguments and errors), and a planted journal would be replayed
  it("the journal, its lock and its checkpoints are private; a directory another user owns is refused", async () => {
    const dir = path.join(tmp.dir, "private");
    const j = await Journal.open(dir, { owner: "s1" });
    j.graph("Client-a", [src("f")], [{ key: "k", fn: 0, args: [new Uint8Array([1])], deps: [] }], false);
    await j.durable();
    await j.close();
    const mode = (p: string) => statSync(p).mode & 0o777;
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(path.join(dir, "checkpoints")), 0o700);
    const files = readdirSync(dir).filter((f) => f !== "checkpoints");
    assert.ok(files.some((f) => f.startsWith("journal-")), files.join(", "));
    for (const f of files) assert.equal(mode(path.join(dir, f)), 0o600, f);
    // a checkpoint, as a worker writes it
    const point = path.join(dir, "checkpoints", "ab", "k.bin");
    await writeCheckpoint(point, "k", [Buffer.from("result")]);
    assert.equal(mode(point), 0o600);
    assert.equal(mode(path.dirname(point)), 0o700);
    if (process.getuid?.() !== 0) return; // only root can give a directory to another user
    const theirs = path.join(tmp.dir, "theirs");
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, 4242, 4242);
    await assert.rejects(Journal.open(theirs, { owner: "s2" }), (e: unknown) => e instanceof JournalError && /journal directory .* is owned by uid 4242, not by this user/.test(e.message));
  });

  it("writes, syncs, and a second open replays it (a fresh generation replaces the old)", async () => {
    const j = await Journal.open(tmp.dir, { owner: "s1" });
    j.graph("Client-a", [src("f")], [{ key: "k", fn: 0, args: [new Uint8Array([1])], deps: [] }], false);
    j.finished("k", "tcp://h:1", 9);
    await j.durable();
    await j.close();
    const j2 = await Journal.open(tmp.dir, { owner: "s2" });
    assert.equal(j2.torn, undefined);
    assert.deepEqual([...j2.state.liveKeys()], ["k"]);
    assert.deepEqual([...j2.state.done.get("k")!.values()], [9]);
    assert.deepEqual(readdirSync(tmp.dir).filter((f) => f.startsWith("journal-")), ["journal-2.log"]);
    await j2.close();
  });

  // Found by reading (session 12): completions were written at the end of their group, after
  // records that came later, so a key finished, released and submitted again with another
  // computation within one group was replayed as done for the new computation: the scheduler
  // taking over would hand out the old value for it.
  it("a completion is replayed before what came after it in the same group", async () => {
    const j = await Journal.open(tmp.dir, { owner: "s1" });
    j.graph("Client-a", [src("f")], [{ key: "k", fn: 0, args: [new Uint8Array([1])], deps: [] }, { key: "j", fn: 0, args: [], deps: [] }], false);
    j.finished("k", "tcp://h:1", 9);
    j.released("Client-a", ["k"]);
    j.graph("Client-a", [src("g")], [{ key: "k", fn: 0, args: [new Uint8Array([2])], deps: [] }], false);
    j.finished("j", "tcp://h:1", 3); // a later completion, of another key
    assert.equal(j.state.done.has("k"), false, "live: the new computation is not done");
    await j.durable();
    await j.close();
    const j2 = await Journal.open(tmp.dir, { owner: "s2" });
    assert.equal(j2.state.done.has("k"), false, "replayed: nor is it after a take-over");
    assert.deepEqual([...j2.state.done.get("j")!.values()], [3]);
    await j2.close();
  });

  // a durable request answered while its group was already being written must still be answered
  it("durable() resolves when what it waits for is in the group being written", async () => {
    const j = await Journal.open(tmp.dir, { owner: "s1" });
    const tasks = Array.from({ length: 60_000 }, (_, i) => ({ key: `k-${i}-${"x".repeat(60)}`, fn: 0, args: [new Uint8Array(12)], deps: [] }));
    j.graph("Client-a", [src("f")], tasks, false); // past 4 MiB: its group is written at once
    await j.durable();
    await j.close();
    const j2 = await Journal.open(tmp.dir, { owner: "s2" });
    assert.equal(j2.state.liveKeys().size, 60_000);
    await j2.close();
  });

  it("a torn last record on disk is ignored and reported", async () => {
    const j = await Journal.open(tmp.dir, { owner: "s1" });
    j.graph("Client-a", [src("f")], [{ key: "k", fn: 0, args: [], deps: [] }], false);
    await j.close();
    const file = path.join(tmp.dir, "journal-1.log");
    const rec = encodeRecord(["c", "Client-a"]);
    writeFileSync(file, Buffer.concat([readFileSync(file), rec.subarray(0, rec.length - 3)]));
    const j2 = await Journal.open(tmp.dir, { owner: "s2" });
    assert.equal(j2.torn?.file, file);
    assert.deepEqual([...j2.state.liveKeys()], ["k"], "the client's leaving was torn: its want stays");
    await j2.close();
  });

  it("damage in the middle stops start-up naming the file and offset", async () => {
    const j = await Journal.open(tmp.dir, { owner: "s1" });
    j.clientLeft("Client-a");
    j.clientLeft("Client-b");
    await j.close();
    const file = path.join(tmp.dir, "journal-1.log");
    const b = readFileSync(file);
    b[b.length - encodeRecord(["c", "Client-b"]).length - 2]! ^= 0xff; // inside the first of the two records after the snapshot
    writeFileSync(file, b);
    await assert.rejects(Journal.open(tmp.dir, { owner: "s2" }), (e: unknown) => e instanceof JournalError && e.message.startsWith(`journal file ${file}: record at offset`) && /is not the last one/.test(e.message));
  });

  it("a journal of a newer format fails naming the version", async () => {
    writeFileSync(path.join(tmp.dir, "journal-3.log"), encodeHeader(JOURNAL_VERSION + 1));
    await assert.rejects(Journal.open(tmp.dir, { owner: "s" }), new RegExp(`journal-3.log: journal format version ${JOURNAL_VERSION + 1} is newer`));
  });

  it("a live lease makes a second taker fail naming the holder; a stale one is taken over", async () => {
    const lost: string[] = [];
    // A's lease is long, so that no stalled event loop (a loaded machine) lets B find it stale
    const a = await JournalLock.acquire(tmp.dir, { owner: "A", leaseMs: 5000, waitMs: 0, onLost: (w) => lost.push(w) });
    await assert.rejects(JournalLock.acquire(tmp.dir, { owner: "B", leaseMs: 300, waitMs: 600, onLost: () => {} }), (e: unknown) => e instanceof JournalError && /is locked by scheduler A on host .* \(pid \d+\)/.test(e.message));
    // A's lease is replaced by another's: A hears that it lost it (and must stop writing)
    writeFileSync(a.path, JSON.stringify({ owner: "Z", host: "elsewhere", pid: 1, renewedAt: Date.now() - 10_000, leaseMs: 300 }));
    const deadline = Date.now() + 15_000;
    while (!lost.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.match(lost[0] ?? "", /another scheduler took the journal's lock: scheduler Z on host elsewhere/);
    // Z's lease (another host, not renewed for 10 s) is stale: B takes it over
    const b = await JournalLock.acquire(tmp.dir, { owner: "B", leaseMs: 60_000, waitMs: 2000, onLost: () => {} });
    assert.match(b.tookOver ?? "", /took over the journal's lock from scheduler Z on host elsewhere .*: its lease was last renewed \d+ ms ago \(lease 300 ms\)/);
    b.release();
    assert.equal(existsSync(b.path), false);
    a.release(); // not its lease any more: leaves it alone
  });
});
