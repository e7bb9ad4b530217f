// Random graphs on a real cluster (a scheduler and three nanny-supervised workers of two threads,
// over TCP), checked value by value against the same graph computed here. Each round submits a
// seeded random DAG (sums, failing tasks, busy tasks, big typed arrays, scattered leaves, impure
// duplicates), and while it runs releases, cancels, replicates and retries (Dask's retry) some
// of its futures, and may retire a worker (a new one takes its place), kill one (its nanny
// restarts it) or, in the second case, kill the journaled scheduler, which a new one takes over.
// In the third case the workers keep almost nothing in memory: values go to spill files and are
// read back for tasks, peers, replication and the client.
// Every future still held must end with its value computed here, its task's error (or a failed
// dependency's), or, below a cancelled key, cancelled: never another value and never a hang.
// The values are then gathered again as one nested structure.
// `RANDOM_GRAPH_ROUNDS` runs longer (`npm run random-graphs`); `RANDOM_GRAPH_SEED` replays a run.
import assert from "node:assert/strict";
import { CancelledError, Client, type Future, RemoteTaskError } from "../../src/index.js";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { rng } from "../fuzz/fuzzer.js";
import { BIN, startProcessCluster, tempDir } from "../helpers/cluster.js";
import { type Proc, cleanupProcs, spawnProc, waitFor } from "../helpers/proc.js";

const BIG = 20_000;
const FAIL = 1;
const BUSY = 2;
const ARRAY = 3;

/**
 * A task (shipped as source, so self-contained): folds its inputs into a number below 1000003.
 * FAIL throws for some inputs; BUSY spins a few ms; ARRAY returns a Float64Array of BIG copies
 * of the number (raw parts on the wire); an array input counts as its last element.
 */
function op(kind: number, c: number, ...xs: Array<number | Float64Array>): number | Float64Array {
  let s = c;
  for (const x of xs) s = (s * 31 + (typeof x === "number" ? x : x[x.length - 1]!)) % 1000003;
  if (kind === 1 && s % 5 === 0) throw new Error(`unlucky ${s}`);
  if (kind === 2) {
    const end = Date.now() + (s % 7);
    while (Date.now() < end);
  }
  return kind === 3 ? new Float64Array(20_000).fill(s) : s;
}

/**
 * A plain task (kind 0, the same value as `op`'s) whose modulus is the worker plugin "modulus"
 * of the thread it runs on: a thread without it errs, and the round fails.
 */
async function viaPlugin(_kind: number, c: number, ...xs: Array<number | Float64Array>): Promise<number> {
  const { workerPlugin } = await import("dask-mpi-ts");
  const m = workerPlugin<number>("modulus");
  let s = c;
  for (const x of xs) s = (s * 31 + (typeof x === "number" ? x : x[x.length - 1]!)) % m;
  return s;
}

/** What a task ends as, computed here: its value, or one of the errors it may carry. */
type Expected = { value: number; array: boolean } | { errors: string[] };

function expect(kind: number, c: number, inputs: Expected[]): Expected {
  // a failed dependency's error is the dependent's: with several, whichever failed first
  const failed = inputs.flatMap((x) => ("errors" in x ? x.errors : []));
  if (failed.length) return { errors: [...new Set(failed)] };
  let s = c;
  for (const x of inputs as Array<{ value: number }>) s = (s * 31 + x.value) % 1000003;
  if (kind === FAIL && s % 5 === 0) return { errors: [`unlucky ${s}`] };
  return { value: s, array: kind === ARRAY };
}

interface Node {
  future: Future<unknown>;
  expected: Expected;
  deps: number[];
  released: boolean;
  /** a key at or below a cancelled one: cancelled, or its value if it finished first */
  cancelled: boolean;
  scattered?: true;
  /** its function read the worker plugin "modulus" */
  plugin?: true;
}

interface Play {
  rounds: number;
  seed: number;
  /** kill the scheduler and start the one that takes over (a journaled cluster); absent: workers only */
  killScheduler?: () => Promise<void>;
  /** start a worker (in place of a retired one) */
  startWorker: () => void;
  /** called once a round's actions are done, before its futures are checked */
  afterActions?: () => void;
}

type Seen = { values: number; viaPlugin: number; arrays: number; errors: number; cancelled: number; released: number; workersKilled: number; workersRetired: number; schedulersKilled: number; retries: number };

/** Plays `rounds` rounds on `c`'s cluster of three workers; throws at the first future that ends wrong. */
async function play(c: Client, { rounds, seed, killScheduler, startWorker, afterActions }: Play): Promise<Seen> {
  const rand = rng(seed); // a failing seed can be replayed
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const killedAt: number[] = [];
  await c.registerWorkerPlugin({ name: "modulus", setup: () => 1000003 });
  const seen: Seen = { values: 0, viaPlugin: 0, arrays: 0, errors: 0, cancelled: 0, released: 0, workersKilled: 0, workersRetired: 0, schedulersKilled: 0, retries: 0 };
  for (let round = 0; round < rounds; round++) {
    const where = `seed ${seed}, round ${round}`;
    const nodes: Node[] = [];
    // a few scattered leaves, on every worker: a killed worker cannot lose them
    const scattered = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Math.floor(rand() * 1000));
    for (const [i, f] of (await c.scatter(scattered, { broadcast: true })).entries()) {
      nodes.push({ future: f, expected: { value: scattered[i]!, array: false }, deps: [], released: false, cancelled: false, scattered: true });
    }
    const n = 30 + Math.floor(rand() * 50);
    for (let i = 0; i < n; i++) {
      const deps = nodes.length ? Array.from({ length: Math.floor(rand() * 4) }, () => Math.floor(rand() * nodes.length)) : [];
      const usable = deps.filter((d) => !nodes[d]!.released);
      const r = rand();
      const kind = r < 0.15 ? FAIL : r < 0.3 ? BUSY : r < 0.4 ? ARRAY : 0;
      const fn = r >= 0.4 && r < 0.5 ? viaPlugin : op;
      const k = Math.floor(rand() * 100);
      const impure = rand() < 0.1;
      const args = [kind, k, ...usable.map((d) => nodes[d]!.future)];
      const future = (impure ? c.submit(fn as never, ...(args as never[]), { pure: false } as never) : c.submit(fn as never, ...(args as never[]))) as Future<unknown>;
      const plugin = fn === viaPlugin || undefined;
      nodes.push({ future, expected: expect(kind, k, usable.map((d) => nodes[d]!.expected)), deps: usable, released: false, cancelled: false, plugin });
      // the same task submitted again shares its key (and its value)
      if (rand() < 0.05 && !impure) {
        nodes.push({ future: c.submit(fn as never, ...(args as never[])) as Future<unknown>, expected: nodes[nodes.length - 1]!.expected, deps: usable, released: false, cancelled: false, plugin });
      }
    }
    // while it runs: release some, cancel some (and, below them, everything), replicate some, maybe kill a worker or the scheduler
    const actions = Math.floor(rand() * 6);
    let killed = false;
    // one a round at most (two would take every copy of a value replicated to two workers),
    // four a minute (a nanny gives up on a worker that died five times within a minute)
    const kill = async () => {
      const now = Date.now();
      if (killed || killedAt.filter((t) => now - t < 65_000).length >= 4) return;
      killed = true;
      killedAt.push(now);
      seen.workersKilled++;
      await c.waitForWorkers(3, { timeout: 60_000 }); // after a take-over, the workers register again first
      const pids = Object.values(await c.run(() => process.pid));
      process.kill(pick(pids), "SIGKILL"); // its nanny starts it again
    };
    let schedulerKilled = false;
    let retired = false;
    const killTheScheduler = async () => {
      if (!killScheduler || schedulerKilled) return;
      schedulerKilled = true;
      seen.schedulersKilled++;
      await killScheduler();
    };
    if (round === rounds - 1 && seen.workersKilled === 0) await kill(); // every run kills a worker at least
    if (round === rounds - 1 && seen.schedulersKilled === 0) await killTheScheduler(); // and its scheduler, when it may
    for (let a = 0; a < actions; a++) {
      await new Promise((res) => setTimeout(res, rand() * 30));
      const x = rand();
      const node = pick(nodes);
      if (x < 0.35) {
        // a scattered value has no lineage: released, a dependent that must be computed again (its worker killed) cannot be
        if (node.scattered) continue;
        node.future.release();
        node.released = true;
      } else if (x < 0.55) {
        const key = node.future.key;
        for (const m of nodes) if (m.future.key === key) m.cancelled = true;
        // a key below a cancelled one is cancelled too; nodes only depend on earlier ones
        for (const m of nodes) if (m.deps.some((d) => nodes[d]!.cancelled)) m.cancelled = true;
        await node.future.cancel();
      } else if (x < 0.75) {
        const held = nodes.filter((m) => !m.released && !m.cancelled && "value" in m.expected).slice(0, 3).map((m) => m.future);
        await c.replicate(held, { n: 2 }).catch((err: unknown) => {
          // a worker killed this round may still be chosen to copy to (or from) until the scheduler hears it
          // died; a scheduler taking over knows no worker until they reconnect. A value lost with its
          // worker is computed again, and replicate waits for it (it failed "is not in memory" before)
          const why = String(err);
          const excused = ((killed || schedulerKilled) && /closed|ECONNRESET|ECONNREFUSED|left before it could copy/.test(why)) || (schedulerKilled && /only \d+ workers|is not in memory/.test(why));
          if (!excused) assert.fail(`${where}: replicate failed: ${String(err)}`);
        });
      } else if (x < 0.8) {
        // Dask's retry: erred ones run again (and err again: their errors come from their inputs); the others are left alone
        seen.retries++;
        await c.retry(nodes.filter((m) => !m.released && !m.cancelled).map((m) => m.future));
      } else if (x < 0.85 && !killed && !schedulerKilled && !retired) {
        // retired gracefully: its values move to the others first (scattered ones too); a new worker takes its place
        retired = true;
        seen.workersRetired++;
        await c.waitForWorkers(3, { timeout: 60_000 });
        await c.retireWorkers([pick(Object.keys((await c.schedulerInfo()).workers))]);
        startWorker();
      } else if (x < 0.93 || !killScheduler) {
        await kill();
      } else {
        await killTheScheduler();
      }
    }
    afterActions?.();
    for (const [i, node] of nodes.entries()) {
      if (node.released) {
        seen.released++;
        continue;
      }
      const what = `${where}, node ${i} (${node.future.key})`;
      let got: unknown;
      try {
        got = await node.future.result({ timeout: 60_000 });
      } catch (err) {
        if (node.cancelled && err instanceof CancelledError) {
          seen.cancelled++;
          continue;
        }
        if ("errors" in node.expected) {
          const errors = node.expected.errors;
          assert.ok(err instanceof RemoteTaskError, `${what}: expected one of the errors ${JSON.stringify(errors)}, got ${String(err)}`);
          assert.ok(errors.some((e) => err.message.endsWith(`Error: ${e}`)), `${what}: expected one of ${JSON.stringify(errors)} ending ${JSON.stringify(err.message)}`);
          seen.errors++;
          continue;
        }
        assert.fail(`${what}: expected ${JSON.stringify(node.expected)}, got ${String(err)}`);
      }
      assert.ok(!("errors" in node.expected), `${what}: expected one of the errors ${JSON.stringify("errors" in node.expected && node.expected.errors)}, got a value`);
      const want = node.expected as { value: number; array: boolean };
      if (want.array) {
        assert.ok(got instanceof Float64Array && got.length === BIG, `${what}: expected a Float64Array of ${BIG}, got ${String(got)}`);
        for (const j of [0, 1, BIG >> 1, BIG - 1]) assert.equal(got[j], want.value, `${what}: element ${j}`);
        seen.arrays++;
      } else {
        assert.equal(got, want.value, `${what}: expected ${want.value}, got ${String(got)}`);
        seen.values++;
        if (node.plugin) seen.viaPlugin++;
      }
    }
    // the values again, gathered as one nested structure (Dask's gather of a dict of lists)
    const valued = nodes.filter((m) => !m.released && !m.cancelled && "value" in m.expected);
    const again = await c.gather({ all: valued.map((m) => m.future), first: new Map(valued.slice(0, 3).map((m, i) => [i, m.future])) }, { timeout: 60_000 });
    valued.forEach((m, i) => {
      const v = again.all[i] as number | Float64Array;
      assert.equal(typeof v === "number" ? v : v[BIG - 1], (m.expected as { value: number }).value, `${where}: nested gather, node ${nodes.indexOf(m)}`);
    });
    assert.deepEqual([...again.first.values()], again.all.slice(0, 3), `${where}: nested gather, the Map`);
    for (const node of nodes) node.future.release();
    await c.waitForWorkers(3, { timeout: 60_000 });
  }
  // not vacuous: each kind of ending was met and checked
  assert.ok(seen.values > 0 && seen.viaPlugin > 0 && seen.arrays > 0 && seen.errors > 0 && seen.workersKilled > 0 && (!killScheduler || seen.schedulersKilled > 0), `seed ${seed}: ${JSON.stringify(seen)}`);
  if (process.env.RANDOM_GRAPH_ROUNDS) console.log(`      seed ${seed}: ${JSON.stringify(seen)}`);
  return seen;
}

/** One more nanny-supervised worker of two threads (cleanupProcs stops it). */
function startWorker(file: string, dir: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): void {
  spawnProc(process.execPath, [BIN("dask-worker-ts"), "--scheduler-file", file, "--interface", "lo", "--nthreads", "2", "--nanny", "--local-directory", dir, ...args], {
    env: { DASK_MPI_TS_LOG_LEVEL: "warn", ...env },
  });
}

/** Spill files (named by a key's sha1) anywhere under `dir` now. */
function spillFiles(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile() && /^[0-9a-f]{40}$/.test(e.name)) n++;
  return n;
}

describe("random graphs against values computed here (real processes)", function () {
  const rounds = Number(process.env.RANDOM_GRAPH_ROUNDS ?? 6);
  const seed = Number(process.env.RANDOM_GRAPH_SEED ?? Date.now() % 1e9);
  this.timeout(120_000 + rounds * 60_000);
  let tmp: ReturnType<typeof tempDir>;
  let client: Client | undefined;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await cleanupProcs();
    tmp.remove();
  });

  it(`${rounds} rounds with releases, cancels, replication and killed workers end right (seed ${seed})`, async () => {
    const cluster = await startProcessCluster(tmp.dir, { workers: 3, nthreads: 2 });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000 });
    await client.waitForWorkers(3, { timeout: 30_000 });
    await play(client, { rounds, seed, startWorker: () => startWorker(cluster.file, tmp.dir) });
  });

  it(`${rounds} rounds on a journaled scheduler killed and taken over, besides the rest, end right (seed ${seed})`, async () => {
    const journal = path.join(tmp.dir, "journal");
    const env = { DASK_MPI_TS_DISTRIBUTED__SCHEDULER__JOURNAL__DIRECTORY: journal, DASK_MPI_TS_LOG_LEVEL: "warn" };
    const cluster = await startProcessCluster(tmp.dir, { workers: 3, nthreads: 2, schedulerEnv: env });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    await client.waitForWorkers(3, { timeout: 30_000 });
    let scheduler: Proc = cluster.scheduler;
    const address = () => (JSON.parse(readFileSync(cluster.file, "utf8")) as { address: string }).address;
    await play(client, {
      rounds,
      seed,
      startWorker: () => startWorker(cluster.file, tmp.dir),
      killScheduler: async () => {
        const old = address();
        scheduler.child.kill("SIGKILL");
        await scheduler.exited;
        const next = spawnProc(process.execPath, [BIN("dask-scheduler-ts"), "--scheduler-file", cluster.file, "--interface", "lo", "--no-dashboard"], { env });
        scheduler = next;
        await waitFor("the scheduler taking over", () => existsSync(cluster.file) && address() !== old, { timeoutMs: 30_000, proc: next });
        if (process.env.RG_DEBUG) console.log("SCHED", old, "->", address());
      },
    });
  });

  it(`${rounds} rounds on workers that keep almost no value in memory (spilled and read back) end right (seed ${seed})`, async () => {
    // a target of 100 kB: at the next monitor tick every array (160 kB) goes to disk, and older small values with it
    const args = ["--memory-limit", "10GB", "--memory-target", "0.00001", "--memory-spill", "false", "--memory-pause", "false", "--memory-terminate", "false"];
    const env = { DASK_MPI_TS_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL: "10ms" };
    const cluster = await startProcessCluster(tmp.dir, { workers: 3, nthreads: 2, workerArgs: () => args, workerEnv: () => env });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000 });
    await client.waitForWorkers(3, { timeout: 30_000 });
    let spilledRounds = 0;
    await play(client, {
      rounds,
      seed,
      startWorker: () => startWorker(cluster.file, tmp.dir, args, env),
      afterActions: () => void (spillFiles(tmp.dir) > 0 && spilledRounds++),
    });
    // not vacuous: values were on disk when the futures were checked
    assert.ok(spilledRounds > 0, `no spill file in any of ${rounds} rounds`);
    if (process.env.RANDOM_GRAPH_ROUNDS) console.log(`      values on disk in ${spilledRounds} of ${rounds} rounds`);
  });
});
