// The journaled scheduler on real processes (issue 16): kill -9 of the scheduler mid-computation
// and a new one taking over from the journal (workers and client reconnect by themselves, every
// value right, a log written by the tasks proves no held result ran twice, a torn last record is
// ignored); two schedulers on one journal; start-up errors naming the directory or the version.
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { CancelledError, Client, Event, Pub, Queue, Sub, Variable, fireAndForget, remote } from "../../src/index.js";
import { encodeHeader, encodeRecord, JOURNAL_VERSION } from "../../src/scheduler/journal-codec.js";
import { BIN, type ProcessCluster, startProcessCluster, tempDir } from "../helpers/cluster.js";
import { type Proc, cleanupProcs, exitWithin, spawnProc, waitFor } from "../helpers/proc.js";

/** Appends "key" to the log, then returns i + 1 (stage one: held results). */
async function logged(log: string, key: string, i: number): Promise<number> {
  (await import("node:fs")).appendFileSync(log, `${key} ${Date.now()} ${process.pid}\n`);
  return i + 1;
}

/** Appends "key" to the log, then throws (an error the take-over keeps, not computed again). */
async function loggedFailure(log: string, key: string): Promise<never> {
  (await import("node:fs")).appendFileSync(log, `${key} ${Date.now()} ${process.pid}\n`);
  throw new Error(`${key} failed on purpose`);
}

/** Waits for the gate file, then sums (stage two: running when the scheduler dies). */
async function gatedSum(gate: string, a: number, b: number): Promise<number> {
  const fs = await import("node:fs");
  while (!fs.existsSync(gate)) await new Promise((r) => setTimeout(r, 20));
  return a + b;
}

/** Marks its start, waits for the gate file, then returns 2 (a named key's second computation). */
async function gatedTwo(gate: string, started: string): Promise<number> {
  const fs = await import("node:fs");
  fs.writeFileSync(started, "");
  while (!fs.existsSync(gate)) await new Promise((r) => setTimeout(r, 20));
  return 2;
}

/** Waits for the gate file, then appends "key" to the log. */
async function gatedLogged(gate: string, log: string, key: string): Promise<number> {
  const fs = await import("node:fs");
  while (!fs.existsSync(gate)) await new Promise((r) => setTimeout(r, 20));
  fs.appendFileSync(log, `${key} ${Date.now()} ${process.pid}\n`);
  return 1;
}

/** Waits for the gate file, then returns the scattered value's x plus one. */
async function gatedPlus(gate: string, v: { x: number }): Promise<number> {
  const fs = await import("node:fs");
  while (!fs.existsSync(gate)) await new Promise((r) => setTimeout(r, 20));
  return v.x + 1;
}

const journalEnv = (dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  DASK_MPI_TS_DISTRIBUTED__SCHEDULER__JOURNAL__DIRECTORY: dir,
  DASK_MPI_TS_LOG_LEVEL: "info",
  ...extra,
});

function startScheduler(file: string, env: NodeJS.ProcessEnv, args: string[] = []): Proc {
  return spawnProc(process.execPath, [BIN("dask-scheduler-ts"), "--scheduler-file", file, "--interface", "lo", "--no-dashboard", ...args], { env });
}

const schedulerAddress = (file: string): string | undefined => {
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { address: string }).address;
  } catch {
    return undefined;
  }
};

/**
 * kill -9 the cluster's scheduler and start the next on its journal (`env`), once `between` (if
 * any) has run; resolves with it once the scheduler file names it.
 */
async function takeOver(cluster: ProcessCluster, env: NodeJS.ProcessEnv, between?: () => void | Promise<void>): Promise<Proc> {
  const oldAddress = schedulerAddress(cluster.file);
  cluster.scheduler.child.kill("SIGKILL");
  await cluster.scheduler.exited;
  await between?.();
  const next = startScheduler(cluster.file, env);
  await waitFor("the new scheduler's file", () => (schedulerAddress(cluster.file) ?? oldAddress) !== oldAddress, { timeoutMs: 30_000, proc: next });
  return next;
}

describe("journaled scheduler on real processes", function () {
  this.timeout(180_000);
  let tmp: ReturnType<typeof tempDir>;
  let cluster: ProcessCluster | undefined;
  let client: Client | undefined;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await client?.close();
    client = undefined;
    cluster = undefined;
    await cleanupProcs();
    tmp.remove();
  });

  it("kill -9 of the scheduler: a new one takes over; workers and client reconnect; held results are not computed again", async () => {
    const journal = path.join(tmp.dir, "journal");
    const log = path.join(tmp.dir, "runs.log");
    const gate = path.join(tmp.dir, "gate");
    cluster = await startProcessCluster(tmp.dir, { workers: 2, nthreads: 2, nanny: false, schedulerEnv: journalEnv(journal) });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    await client.waitForWorkers(2, { timeout: 30_000 });
    // a 10k-task graph whose results the workers hold, and 30 tasks on top of it
    const n1 = 10_000;
    const n = 30;
    const first = client.map(logged, Array(n1).fill(log), Array.from({ length: n1 }, (_, i) => `one-${i}`), Array.from({ length: n1 }, (_, i) => i));
    assert.deepEqual(await client.gather(first), Array.from({ length: n1 }, (_, i) => i + 1));
    const second = Array.from({ length: n }, (_, i) => client!.submit(gatedSum, gate, first[i]!, first[(i + 1) % n]!));
    // stage two is running (waits for the gate) when the scheduler is killed
    await waitFor("stage two to run", async () => (await client!.schedulerInfo()).workers && Object.values((await client!.schedulerInfo()).workers).some((w) => w.processing > 0), { timeoutMs: 30_000, proc: cluster.scheduler });
    const oldAddress = schedulerAddress(cluster.file);
    // the graph is acknowledged by nobody: wait until its group sync put it on disk (a graph sent
    // in the last group-sync interval before a crash is lost, and its futures fail as unknown)
    const onDisk = () => readdirSync(journal).filter((f) => f.endsWith(".log")).some((f) => readFileSync(path.join(journal, f)).includes(second[n - 1]!.key));
    await waitFor("stage two's graph in the journal", onDisk, { timeoutMs: 30_000 });
    const killedAt = Date.now();
    cluster.scheduler.child.kill("SIGKILL");
    await cluster.scheduler.exited;
    // the crash tore the record it was writing: a partial record at the journal's end
    const [file] = readdirSync(journal).filter((f) => /^journal-\d+\.log$/.test(f));
    const rec = encodeRecord(["c", client.id]);
    appendFileSync(path.join(journal, file!), rec.subarray(0, rec.length - 4));

    const next = startScheduler(cluster.file, journalEnv(journal));
    await waitFor("the new scheduler's file", () => (schedulerAddress(cluster!.file) ?? oldAddress) !== oldAddress, { timeoutMs: 30_000, proc: next });
    await waitFor("work to resume after the take-over", () => /take-over: work resumes/.test(next.stderr), { timeoutMs: 30_000, proc: next });
    assert.match(next.stderr, /journal: a torn last record was ignored/);
    assert.match(next.stderr, /"reason":"every holder is back"/, "both workers came back within the grace");
    writeFileSync(gate, "");
    const expected = Array.from({ length: n }, (_, i) => i + 1 + ((i + 1) % n) + 1);
    assert.deepEqual(await client.gather(second, { timeout: 60_000 }), expected);
    // the results held by live workers were taken over, not computed again
    const lines = readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => l.split(" "));
    const runs = lines.map(([key]) => key!);
    if (runs.length !== n1) {
      const seen = new Set<string>();
      const again = lines.filter(([key]) => seen.has(key!) || !seen.add(key!));
      const after = again.filter(([, at]) => Number(at) >= killedAt).length;
      console.log(`      ran again: ${again.slice(0, 5).map((l) => l.join(" ")).join("; ")} ...; killed at ${killedAt}`);
      console.log(next.stderr.split("\n").filter((l) => /take-over|worker added|worker removed|journal|client/.test(l)).join("\n"));
      assert.fail(`stage one ran ${runs.length} times for ${n1} keys: ${again.length} ran again, ${after} of them after the kill`);
    }
    assert.equal(new Set(runs).size, n1);
    // (a figure, not an assertion: how long the take-over took, start to work resuming)
    const took = /"tookMs":(\d+)/.exec(next.stderr)?.[1];
    const replay = /"replayMs":(\d+)/.exec(next.stderr)?.[1];
    console.log(`      take-over of ${n1 + n} tasks: replayed in ${replay} ms, work resumed ${took} ms later`);
    assert.equal(client.schedulerAddress, schedulerAddress(cluster.file));
    // the client goes on working with the new scheduler
    assert.equal(await client.submit((x: number) => x * 2, 21).result(), 42);
  });

  // publish's reply waits for the journal's group sync: what was acknowledged is on disk
  it("a published dataset, variables, events and queues are taken over after kill -9; a torn last record after them is ignored", async () => {
    const journal = path.join(tmp.dir, "journal");
    cluster = await startProcessCluster(tmp.dir, { workers: 1, nanny: false, schedulerEnv: journalEnv(journal) });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 0 });
    const futures = [client.submit((x: number) => x * 10, 4), client.submit((x: number) => x * 10, 5)];
    await client.gather(futures);
    await client.publishDataset("results", { label: "tens", futures });
    await new Variable("best", { client }).set(futures[1]);
    await new Event("ready", { client }).set();
    const q = new Queue<unknown>("work", { client });
    await q.put("first");
    await q.put(futures[0]);
    await q.put("third");
    assert.equal(await q.get(), "first");
    cluster.scheduler.child.kill("SIGKILL");
    await cluster.scheduler.exited;
    await client.close();
    client = undefined;
    const [file] = readdirSync(journal).filter((f) => /^journal-\d+\.log$/.test(f));
    const rec = encodeRecord(["x", "datasets", "results", null]); // an unpublish cut short by the crash
    appendFileSync(path.join(journal, file!), rec.subarray(0, rec.length - 1));
    const oldAddress = schedulerAddress(cluster.file);
    const next = startScheduler(cluster.file, journalEnv(journal));
    await waitFor("the new scheduler's file", () => (schedulerAddress(cluster!.file) ?? oldAddress) !== oldAddress, { timeoutMs: 30_000, proc: next });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000 });
    const got = await client.getDataset<{ label: string; futures: Array<{ result(): Promise<number> }> }>("results", { timeout: 30_000 });
    assert.equal(got.label, "tens");
    assert.deepEqual(await Promise.all(got.futures.map((f) => f.result())), [40, 50]);
    assert.equal(await (await new Variable<{ result(): Promise<number> }>("best", { client }).get({ timeout: 10_000 })).result(), 50);
    assert.equal(await new Event("ready", { client }).isSet(), true);
    const rest = (await new Queue<unknown>("work", { client }).get({ batch: true })) as unknown[];
    assert.equal(rest.length, 2);
    assert.equal(await (rest[0] as { result(): Promise<number> }).result(), 40);
    assert.equal(rest[1], "third");
    assert.match(next.stderr, /journal: a torn last record was ignored/);
  });

  // a graph is acknowledged once its group sync put it on disk; the client keeps it till then
  it("a graph the killed scheduler had not written yet is sent again by its client to the one that takes over", async () => {
    const journal = path.join(tmp.dir, "journal");
    const log = path.join(tmp.dir, "runs.log");
    // the old scheduler's group sync never comes: nothing after start-up reaches its disk
    const slow = journalEnv(journal, { DASK_MPI_TS_DISTRIBUTED__SCHEDULER__JOURNAL__SYNC_INTERVAL: "1h" });
    cluster = await startProcessCluster(tmp.dir, { workers: 1, nanny: false, schedulerEnv: slow });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    const f = client.submit(logged, log, "late", 41);
    assert.equal(await f.result(), 42);
    const onDisk = () => readdirSync(journal).filter((n) => n.endsWith(".log")).some((n) => readFileSync(path.join(journal, n)).includes(f.key));
    assert.equal(onDisk(), false, "the graph is not on the old scheduler's disk");
    const next = await takeOver(cluster, journalEnv(journal));
    // the client sent the graph again: the new scheduler knows the key (a dependent of it runs) and journals it
    assert.equal(await client.submit((x: number) => x + 1, f).result({ timeout: 60_000 }), 43);
    await waitFor("the resent graph in the new journal", onDisk, { timeoutMs: 30_000, proc: next });
    assert.equal(await f.result(), 42);
  });

  // retry (Dask's) clears errors: a take-over during the rerun must not restore the old error,
  // which the client, told the key is pending again, would get as the rerun's
  it("retry runs an erred task and the one that erred with it again, also across a kill -9 during the rerun", async () => {
    const journal = path.join(tmp.dir, "journal");
    const flag = path.join(tmp.dir, "tried");
    const gate = path.join(tmp.dir, "gate");
    cluster = await startProcessCluster(tmp.dir, { workers: 1, nanny: false, schedulerEnv: journalEnv(journal) });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    const flaky = async (flag: string, gate: string): Promise<number> => {
      const fs = await import("node:fs");
      if (!fs.existsSync(flag)) {
        fs.writeFileSync(flag, "");
        throw new Error("the first try fails");
      }
      while (!fs.existsSync(gate)) await new Promise((r) => setTimeout(r, 20));
      return 7;
    };
    const a = client.submit(flaky, flag, gate);
    const b = client.submit((x: number) => x * 6, a);
    await assert.rejects(b.result({ timeout: 30_000 }), /the first try fails/);
    assert.equal(a.status, "error");
    const records = () => readdirSync(journal).filter((n) => n.endsWith(".log")).reduce((c, n) => c + readFileSync(path.join(journal, n), "latin1").split(a.key).length - 1, 0);
    const before = records();
    await b.retry();
    assert.deepEqual([a.status, b.status], ["pending", "pending"], "pending again once retry resolves");
    await waitFor("the retry on the journal's disk", () => records() > before, { timeoutMs: 30_000 });
    await takeOver(cluster, journalEnv(journal));
    writeFileSync(gate, "");
    assert.equal(await b.result({ timeout: 60_000 }), 42);
    assert.equal(await a.result(), 7);
    await client.retry([a, b]); // neither erred: nothing to do
    assert.equal(await b.result(), 42);
  });

  // Found by reading (session 16): a user-named key released and submitted again with another
  // function, both lost with a scheduler killed before its group sync, came back with the old
  // function's value: the scheduler taking over knew the key from its journal and took the graph
  // the client sent again as a known key's. The client now keeps its releases too until they are
  // on disk, and sends them again in order with the graphs.
  it("a named key released and submitted again with another function just before a kill -9 gets the new function's value", async () => {
    const journal = path.join(tmp.dir, "journal");
    const gate = path.join(tmp.dir, "gate");
    const started = path.join(tmp.dir, "started");
    // a group sync every 10 s: the release and the second graph are not on disk when the scheduler dies
    const slow = journalEnv(journal, { DASK_MPI_TS_DISTRIBUTED__SCHEDULER__JOURNAL__SYNC_INTERVAL: "10s" });
    cluster = await startProcessCluster(tmp.dir, { workers: 1, nanny: false, schedulerEnv: slow });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    try {
      const first = client.submit(() => 1, { key: "named-k" });
      assert.equal(await first.result(), 1);
      const records = () => readdirSync(journal).filter((n) => n.endsWith(".log")).reduce((c, n) => c + readFileSync(path.join(journal, n), "latin1").split("named-k").length - 1, 0);
      await waitFor("the key's graph and completion in the journal", () => records() >= 2, { timeoutMs: 60_000, proc: cluster.scheduler });
      first.release();
      const second = client.submit(gatedTwo, gate, started, { key: "named-k" });
      await waitFor("the second function running", () => existsSync(started), { timeoutMs: 30_000, proc: cluster.scheduler });
      assert.equal(records(), 2, "the release and the second graph are not on disk");
      await takeOver(cluster, journalEnv(journal));
      writeFileSync(gate, "");
      assert.equal(await second.result({ timeout: 60_000 }), 2);
    } finally {
      writeFileSync(gate, "");
    }
  });

  // Found by reading (session 13): fire-and-forget wants were not journaled, so once the client
  // had left, a scheduler taking over (with new workers) forgot the task, which never ran.
  it("a fire-and-forget task of a client that left runs after a kill -9 of its scheduler and worker", async () => {
    const journal = path.join(tmp.dir, "journal");
    const gate = path.join(tmp.dir, "gate");
    const log = path.join(tmp.dir, "runs.log");
    const one = path.join(tmp.dir, "one");
    mkdirSync(one);
    cluster = await startProcessCluster(one, { workers: 1, nanny: false, schedulerEnv: journalEnv(journal) });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000 });
    const id = client.id;
    const text = () => readdirSync(journal).filter((n) => n.endsWith(".log")).map((n) => readFileSync(path.join(journal, n), "latin1")).join("");
    fireAndForget(client.submit(gatedLogged, gate, log, "ff"));
    await waitFor("the fire-and-forget want in the journal", () => text().includes("fire-and-forget"), { timeoutMs: 30_000, proc: cluster.scheduler });
    await client.close();
    client = undefined;
    // its leave on disk (msgpack ["c", id]: 0x92, "c", a str8 of the id), else it is awaited and its keys kept
    await waitFor("the client's leave in the journal", () => text().includes(`\x92\xa1c\xd9${String.fromCharCode(id.length)}${id}`), { timeoutMs: 30_000, proc: cluster.scheduler });
    await cleanupProcs(); // the scheduler and the worker running the task: kill -9
    writeFileSync(gate, "");
    const two = path.join(tmp.dir, "two");
    mkdirSync(two);
    cluster = await startProcessCluster(two, { workers: 1, nanny: false, schedulerEnv: journalEnv(journal) });
    await waitFor("the task run by the new worker", () => existsSync(log) && readFileSync(log, "utf8").includes("ff "), { timeoutMs: 60_000, proc: cluster.scheduler });
  });

  // protects: scattered data was not journaled, so the scheduler taking over freed it on the
  // workers that held it, and the tasks using it failed
  it("scattered data is taken over from the worker holding it after kill -9; data whose worker died too is lost, loudly", async () => {
    const journal = path.join(tmp.dir, "journal");
    const gate = path.join(tmp.dir, "gate");
    cluster = await startProcessCluster(tmp.dir, { workers: 2, nanny: false, schedulerEnv: journalEnv(journal) });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    await client.waitForWorkers(2, { timeout: 30_000 });
    const workers = (await client.schedulerInfo()).workers;
    const [kept, doomed] = Object.keys(workers).sort();
    const a = await client.scatter({ x: 41 }, { workers: [kept!] });
    const b = await client.scatter({ x: 7 }, { workers: [doomed!] });
    const ua = client.submit(gatedPlus, gate, a);
    const ub = client.submit(gatedPlus, gate, b);
    const text = () => readdirSync(journal).filter((n) => n.endsWith(".log")).map((n) => readFileSync(path.join(journal, n), "latin1")).join("");
    await waitFor("the scatters and tasks in the journal", () => [a.key, b.key, ua.key, ub.key].every((k) => text().includes(k)), { timeoutMs: 30_000, proc: cluster.scheduler });
    const oldAddress = schedulerAddress(cluster.file);
    cluster.scheduler.child.kill("SIGKILL");
    const doomedProc = cluster.workers.find((w) => w.child.pid === workers[doomed!]!.pid);
    assert.ok(doomedProc, `the process of worker ${doomed}`);
    doomedProc.child.kill("SIGKILL");
    await Promise.all([cluster.scheduler.exited, doomedProc.exited]);
    const next = startScheduler(cluster.file, journalEnv(journal, { DASK_MPI_TS_DISTRIBUTED__SCHEDULER__JOURNAL__TAKE_OVER_GRACE: "3s" }));
    await waitFor("the new scheduler's file", () => (schedulerAddress(cluster!.file) ?? oldAddress) !== oldAddress, { timeoutMs: 30_000, proc: next });
    await waitFor("work to resume after the take-over", () => /take-over: work resumes/.test(next.stderr), { timeoutMs: 30_000, proc: next });
    writeFileSync(gate, "");
    assert.equal(await ua.result({ timeout: 60_000 }), 42);
    assert.deepEqual(await a.result({ timeout: 60_000 }), { x: 41 });
    await assert.rejects(ub.result({ timeout: 60_000 }), (err: Error) => err.message.includes(`its dependency "${b.key}" failed: LostDataError`) && /was lost: the worker holding it did not come back/.test(err.message));
    await assert.rejects(b.result({ timeout: 60_000 }), (err: Error) => err.message.includes(`task "${b.key}" failed: LostDataError`));
    assert.match(next.stderr, /"reason":"grace of 3000 ms over"/, "the take-over waited for the dead worker, the holder of b");
  });

  // Found by random graphs (session 23): the journal kept one holder per key, so data scattered to
  // every worker, or moved by replicate, was taken over from the first (or only the original)
  // holder: lost, loudly but wrongly, when that one had died or dropped its copy before the kill.
  it("scattered data is taken over from every worker holding it: broadcast, or moved by replicate just before the kill", async () => {
    const journal = path.join(tmp.dir, "journal");
    cluster = await startProcessCluster(tmp.dir, { workers: 3, nanny: false, schedulerEnv: journalEnv(journal) });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    await client.waitForWorkers(3, { timeout: 30_000 });
    const workers = (await client.schedulerInfo()).workers;
    const everywhere = await client.scatter({ x: 1 }, { broadcast: true });
    const moved = await client.scatter({ x: 2 });
    const [first] = (await client.whoHas([moved]))[moved.key]!;
    await client.replicate([moved], { n: 3 });
    await client.replicate([moved], { n: 1 }); // drops all but one copy: maybe the first
    const [kept] = (await client.whoHas([moved]))[moved.key]!;
    // a holder of the broadcast value dies first (not the one keeping `moved`): the journal records it left
    const doomed = Object.keys(workers).find((a) => a !== kept)!;
    const doomedProc = cluster.workers.find((w) => w.child.pid === workers[doomed]!.pid)!;
    doomedProc.child.kill("SIGKILL");
    await doomedProc.exited;
    await waitFor("the scheduler to see the worker die", async () => (await client!.whoHas([everywhere]))[everywhere.key]!.length === 2, { timeoutMs: 30_000 });
    await takeOver(cluster, journalEnv(journal, { DASK_MPI_TS_DISTRIBUTED__SCHEDULER__JOURNAL__TAKE_OVER_GRACE: "3s" }));
    // a replicate right after the take-over (during the grace it waits: test/unit/locality.test.ts)
    await client.replicate([moved], { n: 2 });
    assert.deepEqual(await everywhere.result({ timeout: 60_000 }), { x: 1 });
    assert.deepEqual(await moved.result({ timeout: 60_000 }), { x: 2 }, `moved from ${first} to ${kept}`);
    assert.equal((await client.whoHas([everywhere]))[everywhere.key]!.length, 2, "both live holders taken over");
    const movedHolders = (await client.whoHas([moved]))[moved.key]!;
    assert.ok(movedHolders.length === 2 && movedHolders.includes(kept!), `the kept copy taken over, and one more: ${movedHolders}`);
    assert.equal(await client.submit((a: { x: number }, b: { x: number }) => a.x + b.x, everywhere, moved).result({ timeout: 60_000 }), 3);
  });

  // protects: a scatter was not acknowledged when on disk, so one made just before a crash was
  // unknown to the scheduler taking over, and its future failed as cancelled
  it("a scatter resolves once it is on disk: its value outlives a kill -9 right after it", async () => {
    const journal = path.join(tmp.dir, "journal");
    // the group sync never comes: only what a reply waits for (durable()) reaches the disk
    const slow = journalEnv(journal, { DASK_MPI_TS_DISTRIBUTED__SCHEDULER__JOURNAL__SYNC_INTERVAL: "1h" });
    cluster = await startProcessCluster(tmp.dir, { workers: 1, nanny: false, schedulerEnv: slow });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    await client.waitForWorkers(1, { timeout: 30_000 });
    const f = await client.scatter({ rows: [1, 2, 3] });
    const next = await takeOver(cluster, journalEnv(journal));
    await waitFor("the client to reconnect", () => client!.schedulerAddress === schedulerAddress(cluster!.file), { timeoutMs: 30_000, proc: next });
    assert.deepEqual(await f.result({ timeout: 60_000 }), { rows: [1, 2, 3] });
    assert.equal(await client.submit((v: { rows: number[] }) => v.rows.length, f).result({ timeout: 60_000 }), 3);
  });

  // protects: a finished future whose value the client fetches (scattered, or a result over
  // the inline size) asked who-has of the closed connection while the client reconnected, and
  // failed at once with CommClosedError instead of waiting the reconnect window as pending ones do
  it("result() of finished futures while the client reconnects waits for the scheduler taking over", async () => {
    const journal = path.join(tmp.dir, "journal");
    cluster = await startProcessCluster(tmp.dir, { workers: 1, nanny: false, schedulerEnv: journalEnv(journal) });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    await client.waitForWorkers(1, { timeout: 30_000 });
    const scattered = await client.scatter({ rows: [1, 2, 3] });
    const big = client.submit((n: number) => "x".repeat(n), 5000);
    assert.equal((await big.result({ timeout: 30_000 })).length, 5000);
    let results!: Promise<[PromiseSettledResult<unknown>, PromiseSettledResult<string>]>;
    // asked before any scheduler is back: they wait for it
    await takeOver(cluster, journalEnv(journal), () => {
      results = Promise.allSettled([scattered.result({ timeout: 60_000 }), big.result({ timeout: 60_000 })]);
    });
    const [a, b] = await results;
    assert.deepEqual(a.status === "fulfilled" ? a.value : a.reason, { rows: [1, 2, 3] });
    assert.equal(b.status === "fulfilled" ? b.value.length : b.reason, 5000);
  });

  // protects: the client took pushed ops (pubsub-message) on its first connection only; after a
  // take-over the first item for a new Sub closed the connection ("unknown op"), and the new
  // scheduler released everything the client held
  it("after a take-over, a new Sub gets its items and the client keeps its futures", async () => {
    const journal = path.join(tmp.dir, "journal");
    cluster = await startProcessCluster(tmp.dir, { workers: 1, nanny: false, schedulerEnv: journalEnv(journal) });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    const f = client.submit((x: number) => x * 3, 14);
    assert.equal(await f.result(), 42);
    const before = new Sub<string>("news", { client });
    await new Pub<string>("news", { client }).put("one");
    assert.equal(await before.get({ timeout: 10_000 }), "one");
    await takeOver(cluster, journalEnv(journal));
    assert.equal(await client.submit((x: number) => x + 1, f).result({ timeout: 60_000 }), 43, "reconnected");
    const after = new Sub<string>("news", { client });
    await new Pub<string>("news", { client }).put("two");
    assert.equal(await after.get({ timeout: 10_000 }), "two");
    assert.equal(await client.submit((x: number) => x - 1, f).result({ timeout: 10_000 }), 41, "the connection stayed, and f with it");
  });

  // Found by reading (session 12): a cancel made while the client was reconnecting was never
  // sent, and the client still expected its news, so the next key-cancelled for the key
  // (submitted again, then cancelled by another client) was swallowed: that future stayed
  // pending for good. Now the cancel goes to the scheduler that takes over, and news counts
  // again once it has the client's resume.
  it("a cancel made while reconnecting reaches the next scheduler, and the key submitted again is still cancelled by another client", async () => {
    const journal = path.join(tmp.dir, "journal");
    const gate = path.join(tmp.dir, "gate");
    // threads for the gated runs (the cancelled one runs on till the gate opens) and the rest
    cluster = await startProcessCluster(tmp.dir, { workers: 1, nthreads: 4, nanny: false, schedulerEnv: journalEnv(journal) });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    const other = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    try {
      const a = client.submit(gatedSum, gate, 1, 2);
      const shared = other.submit(gatedSum, gate, 1, 2); // the same task, wanted by the other client too
      assert.equal(await client.submit((x: number) => x * 2, 21).result(), 42, "a's graph went before");
      assert.equal(await other.submit((x: number) => x * 2, 20).result(), 40, "so did the other's");
      // both clients' wants of the key on disk (else a graph is sent again after the take-over, and its order with the cancel is open)
      const records = () => readdirSync(journal).filter((n) => n.endsWith(".log")).reduce((c, n) => c + readFileSync(path.join(journal, n), "latin1").split(a.key).length - 1, 0);
      await waitFor("both wants of the key in the journal", () => records() >= 2, { timeoutMs: 30_000, proc: cluster.scheduler });
      await takeOver(cluster, journalEnv(journal), async () => {
        await a.cancel();
        assert.equal(a.status, "cancelled");
      });
      // a cancel is for every client: the one the journal says still wants the key hears it
      await assert.rejects(shared.result({ timeout: 30_000 }), (err: Error) => err instanceof CancelledError || assert.fail(`got ${String(err)}`));
      const again = client.submit(gatedSum, gate, 1, 2);
      assert.equal(again.key, a.key);
      assert.equal(await client.submit((x: number) => x + 1, 1).result({ timeout: 60_000 }), 2, "the client is back, its resubmission before this");
      assert.equal(await other.submit((x: number) => x - 1, 1).result({ timeout: 60_000 }), 0, "so is the other client");
      await other.cancel(other.submit(gatedSum, gate, 1, 2));
      await assert.rejects(again.result({ timeout: 30_000 }), (err: Error) => err instanceof CancelledError || assert.fail(`got ${String(err)}`));
    } finally {
      writeFileSync(gate, "");
      await other.close();
    }
  });

  // Found by reading (session 12): the journal recorded a computation the live scheduler had
  // ignored (a known key submitted again with another function keeps its own, as in Dask), so
  // after a take-over the key, once lost, was computed again with the other function.
  it("a known key sent again with another function keeps its computation across a take-over", async () => {
    const journal = path.join(tmp.dir, "journal");
    cluster = await startProcessCluster(tmp.dir, { workers: 2, nanny: false, schedulerEnv: journalEnv(journal) });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    const other = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    try {
      await client.waitForWorkers(2, { timeout: 30_000 });
      const first = client.submit(() => 1, { key: "named-k" });
      assert.equal(await first.result(), 1);
      assert.equal(await other.submit(() => /* second */ 2, { key: "named-k" }).result(), 1, "the known key keeps its computation");
      // the other client's graph on disk (else it is sent again, to the next scheduler, which knows the key by then)
      const onDisk = () => readdirSync(journal).filter((n) => n.endsWith(".log")).some((n) => readFileSync(path.join(journal, n)).includes("/* second */"));
      await waitFor("the other client's graph in the journal", onDisk, { timeoutMs: 30_000, proc: cluster.scheduler });
      await takeOver(cluster, journalEnv(journal));
      assert.equal(await client.submit((x: number) => x * 10, first).result({ timeout: 60_000 }), 10, "the value computed before the take-over");
      // the holder dies: the key is computed again, from the computation the scheduler kept
      const holder = (await client.whoHas([first]))["named-k"]![0]!;
      const pid = (await client.run(() => process.pid, { workers: [holder] }))[holder]!;
      process.kill(pid, "SIGKILL");
      assert.equal(await client.submit((x: number) => x * 100, first).result({ timeout: 60_000 }), 100);
    } finally {
      await other.close();
    }
  });

  it("a checkpoint is loaded only for the same computation: an edited remote() module, or a named dependency given another function, is computed again", async () => {
    const journal = path.join(tmp.dir, "journal");
    const mod = path.join(tmp.dir, "steps.mjs");
    const log = path.join(tmp.dir, "runs.log");
    /** One run of the campaign on fresh processes; `a` is what the key "named-a" computes. */
    const campaign = async (run: string, a: () => number): Promise<number[]> => {
      const dir = path.join(tmp.dir, run);
      mkdirSync(dir);
      cluster = await startProcessCluster(dir, { workers: 1, nanny: false, schedulerEnv: journalEnv(journal) });
      client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000 });
      const step = remote<[number], number>(pathToFileURL(mod), "step");
      const named = client.submit(a, { key: "named-a" });
      const futures = [
        client.submit(step, 1, { checkpoint: true }),
        client.submit((x: number) => x + 1, named, { checkpoint: true }), // its key names "named-a", not what it computes
        client.submit(logged, log, "same", 1, { checkpoint: true }),
      ];
      const values = await client.gather(futures);
      await client.close();
      client = undefined;
      await cleanupProcs();
      // the run ended cleanly: its journal holds nothing live; its checkpoints stay
      for (const f of readdirSync(journal)) if (f !== "checkpoints") rmSync(path.join(journal, f));
      return values;
    };
    writeFileSync(mod, "export function step(x) { return x * 100; }\n");
    assert.deepEqual(await campaign("one", () => 5), [100, 6, 2]);
    assert.equal(readdirSync(path.join(journal, "checkpoints")).length, 3);
    writeFileSync(mod, "export function step(x) { return x * 200; }\n"); // the module edited between runs
    assert.deepEqual(await campaign("two", () => 7), [200, 8, 2], "computed again where the computation changed");
    assert.deepEqual(readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => l.split(" ")[0]), ["same"], "the unchanged task was loaded from its checkpoint");
  });

  // a signal (scancel, the walltime, a login node's limits) is not a shutdown: the workers stay
  it("SIGTERM of a journaled scheduler hands over: its workers stay and the next one takes their results over", async () => {
    const journal = path.join(tmp.dir, "journal");
    const log = path.join(tmp.dir, "runs.log");
    cluster = await startProcessCluster(tmp.dir, { workers: 1, nanny: false, schedulerEnv: journalEnv(journal) });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    const futures = Array.from({ length: 5 }, (_, i) => client!.submit(logged, log, `k-${i}`, i));
    assert.deepEqual(await client.gather(futures), [1, 2, 3, 4, 5]);
    const bad = client.submit(loggedFailure, log, "bad");
    const after = client.submit((x: number) => x, bad);
    await assert.rejects(bad.result(), /bad failed on purpose/);
    const oldAddress = schedulerAddress(cluster.file);
    cluster.scheduler.child.kill("SIGTERM");
    assert.equal((await exitWithin(cluster.scheduler, 30_000)).code, 0);
    assert.equal(cluster.workers[0]!.exitCode(), undefined, "the worker waits for the next scheduler");
    const next = startScheduler(cluster.file, journalEnv(journal));
    await waitFor("the new scheduler's file", () => (schedulerAddress(cluster!.file) ?? oldAddress) !== oldAddress, { timeoutMs: 30_000, proc: next });
    await waitFor("work to resume after the take-over", () => /"reason":"every holder is back"/.test(next.stderr), { timeoutMs: 30_000, proc: next });
    assert.match(next.stderr, /"erred":1,/, "the erred key was restored from the journal");
    const again = Array.from({ length: 5 }, (_, i) => client!.submit(logged, log, `k-${i}`, i));
    assert.deepEqual(await client.gather(again), [1, 2, 3, 4, 5]);
    // the erred key and its dependent are erred after the take-over, with the same error, not run again
    await assert.rejects(client.submit(loggedFailure, log, "bad").result(), /bad failed on purpose/);
    await assert.rejects(after.result(), /bad failed on purpose/);
    assert.deepEqual(readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => l.split(" ")[0]).sort(), ["bad", "k-0", "k-1", "k-2", "k-3", "k-4"]);
  });

  it("two schedulers on one journal: the second fails naming the holder", async () => {
    const journal = path.join(tmp.dir, "journal");
    // a lease of seconds: a first scheduler stalled on a loaded machine must not look gone
    const env = journalEnv(journal, { DASK_MPI_TS_DISTRIBUTED__SCHEDULER__JOURNAL__LEASE: "5s" });
    const first = startScheduler(path.join(tmp.dir, "a.json"), env);
    await waitFor("the first scheduler", () => existsSync(path.join(tmp.dir, "a.json")), { timeoutMs: 20_000, proc: first });
    const second = startScheduler(path.join(tmp.dir, "b.json"), env);
    const r = await exitWithin(second, 30_000);
    assert.equal(r.code, 1);
    assert.match(second.stderr, new RegExp(`journal ${journal} is locked by scheduler Scheduler-[0-9a-f-]+ on host .* \\(pid ${first.child.pid}\\)`));
    assert.equal(existsSync(path.join(tmp.dir, "b.json")), false);
    assert.equal(first.exitCode(), undefined, "the first one runs on");
  });

  it("a journal directory that cannot be written is a start-up error naming it", async () => {
    writeFileSync(path.join(tmp.dir, "plain"), "");
    const journal = path.join(tmp.dir, "plain", "journal");
    const s = startScheduler(path.join(tmp.dir, "s.json"), {}, ["--journal", journal]);
    const r = await exitWithin(s, 30_000);
    assert.equal(r.code, 1);
    assert.match(s.stderr, new RegExp(`journal directory ${journal} cannot be written`));
  });

  it("a journal of a newer format fails naming the version", async () => {
    const journal = path.join(tmp.dir, "journal");
    const s0 = startScheduler(path.join(tmp.dir, "s0.json"), {}, ["--journal", journal]);
    await waitFor("a scheduler on the journal", () => existsSync(path.join(tmp.dir, "s0.json")), { timeoutMs: 20_000, proc: s0 });
    s0.child.kill("SIGTERM");
    await exitWithin(s0, 30_000);
    writeFileSync(path.join(journal, "journal-9.log"), encodeHeader(JOURNAL_VERSION + 1));
    const s = startScheduler(path.join(tmp.dir, "s.json"), {}, ["--journal", journal]);
    const r = await exitWithin(s, 30_000);
    assert.equal(r.code, 1);
    assert.match(s.stderr, new RegExp(`journal-9.log: journal format version ${JOURNAL_VERSION + 1} is newer than the version this dask-mpi-ts reads \\(${JOURNAL_VERSION}\\)`));
  });
});
