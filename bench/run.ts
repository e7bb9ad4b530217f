/**
 * The bench suite (`npm run bench`): start-up, then cases run on a real cluster,
 * `mpirun -np 4 dask-mpi-ts --interface lo FIXTURE` (rank 0 scheduler, rank 1 the fixture as
 * client, ranks 2-3 workers), each fixture printing its figures as JSON:
 *   throughput  map+gather of 10k and 50k trivial tasks, tasks/s
 *   latency     p50/p99 of 500 sequential submit().result() round trips
 *   tree        sum of 1..10,000 by pairwise tasks over futures, wall time and tasks/s
 *   transfer    256 MiB client -> worker and worker -> worker, MiB/s against a raw-TCP ceiling
 *   coordination  Lock acquire+release and Queue put+get round trips from the client, median us
 * and, when `/usr/bin/python3 -c "import distributed"` works, the same cases on Python Dask
 * (bench/python/dask_bench.py) on the same cluster shape (scheduler, 2 one-thread workers with
 * nannies, the client), at its best (worker-saturation inf, direct_to_workers, compression off)
 * and as shipped for throughput and latency, its effective configuration printed; start-up
 * of Python Dask too when mpi4py is there (bench/python/dask_mpi_start.py).
 *
 *   journal     the 50k-task map with the scheduler's journal on and off: ratio, bytes per task (bench/journal.ts)
 *   codec       per-task cost of user values' structured clone against plain msgpack, in-process
 *   scale       cost curves of one scheduler: tasks 10k -> 1M, null workers 2 -> 1,000 (bench/scale/section.ts),
 *               then scale-real: 100 real workers against 2 (bench/scale/real-section.ts; BENCH_SCALE_REAL=0 skips)
 *               then scale-million: 1M-task map and tree on 2 real workers (bench/scale/million-section.ts; BENCH_SCALE_MILLION=0 skips)
 *   BENCH_ONLY=startup,codec,throughput,latency,tree,transfer,dashboard,coordination,journal,scale,scale-real,scale-million   sections to run (default: all)
 *   BENCH_RUNS=N        repetitions (default 7 for start-up, 3 for the cases)
 *   BENCH_DASK_RUNS=N   repetitions on Python Dask (default: as many as ours)
 *   BENCH_DASK_DEFAULT=0  skip Dask as shipped (the second Dask profile: throughput and latency, ~8 min)
 *   BENCH_DASK=0        skip Python Dask (BENCH_PYTHON=path: another interpreter)
 * Every process is bounded by a timeout; a failed case shows as "failed" and the bench exits 1.
 */
import { availableParallelism, loadavg } from "node:os";
import path from "node:path";
import { dist, median, parseResult, root, run, runCase, runsOr } from "./runner.js";
import { codec, wireCodecs } from "./codec.js";
import { startup } from "./startup.js";
import { scaleSection } from "./scale/section.js";
import { millionSection } from "./scale/million-section.js";
import { realWorkersSection } from "./scale/real-section.js";
import { fmt, table } from "./table.js";
import { journalSection } from "./journal.js";

const SECTIONS = ["startup", "codec", "throughput", "latency", "tree", "transfer", "dashboard", "coordination", "journal", "scale", "scale-real", "scale-million"] as const;
type Section = (typeof SECTIONS)[number];
const only = process.env.BENCH_ONLY?.split(",").map((s) => s.trim()).filter(Boolean);
const unknown = only?.filter((s) => !(SECTIONS as readonly string[]).includes(s)) ?? [];
if (unknown.length) {
  console.error(`BENCH_ONLY: unknown section ${unknown.join(", ")}; known: ${SECTIONS.join(", ")}`);
  process.exit(2);
}
const selected = (s: Section) => !only || only.includes(s);
const runs = runsOr(3);
/** Equal statistics: Dask gets as many warmed runs as ours unless BENCH_DASK_RUNS says otherwise. */
const daskRuns = Number(process.env.BENCH_DASK_RUNS) > 0 ? Number(process.env.BENCH_DASK_RUNS) : runs;
/** The Python that must have `distributed`; BENCH_PYTHON overrides it (e.g. to test the fallback). */
const PYTHON = process.env.BENCH_PYTHON ?? "/usr/bin/python3";

const failures: string[] = [];
let exitCode = 0;

/** Run a step; on failure remember why and give undefined, so the tables still print. */
async function attempt<T>(what: string, f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (err) {
    failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    exitCode = 1;
    return undefined;
  }
}

// ---- start-up ------------------------------------------------------------------------------

if (selected("startup")) {
  const startupRuns = runsOr(7);
  const python = process.env.BENCH_DASK !== "0" && (await run(PYTHON, ["-c", "import mpi4py, distributed"], 30_000)).code === 0 ? PYTHON : undefined;
  const rows = await attempt("startup", () => startup(startupRuns, python));
  for (const r of rows ?? []) {
    if (r.failed) {
      failures.push(`startup ${r.mode}: ${r.failed} of ${startupRuns + 1} runs failed; the first:\n${r.error}`);
      exitCode = 1;
    }
  }
  console.log(`\nstart-up: time from mpirun -np 4 to the first result on rank 1 (x + 1 submitted, its value in hand), ${startupRuns} runs each after a warm-up round, the modes taking turns (ms)\n`);
  console.log(
    rows
      ? table(
          ["mode", "median", "range", "of its baseline", "failed runs"],
          rows.map((r) => [r.mode, fmt(r.median), `${fmt(r.min)}-${fmt(r.max)}`, `x${r.ofBaseline.toFixed(2)}`, r.failed ? String(r.failed) : ""]),
          "l",
        )
      : "failed (see below)",
  );
  console.log(
    python
      ? "Python: bench/python/dask_mpi_start.py, dask-mpi's initialize() as a script (dask-mpi itself is not packaged): scheduler rank 0, client rank 1, nanny + 1-thread worker ranks 2-3"
      : `Python Dask start-up: not measured (${PYTHON} lacks mpi4py or distributed: apt-get install python3-mpi4py python3-distributed)`,
  );
  console.log(`load (uptime): ${loadavg().map((x) => x.toFixed(1)).join(", ")}`);
}

// ---- value codec -----------------------------------------------------------------------------

if (selected("codec")) {
  const codecRuns = Math.max(runs, 5);
  const c = codec(codecRuns);
  const s = median(c.structured);
  const p = median(c.plain);
  console.log(`\nvalue codec: one task's argument list and result, encoded and decoded, ${codecRuns} alternating runs of 50k tasks each (us per task)\n`);
  const span = (xs: number[]) => `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}`;
  console.log(
    table(
      ["codec", "median", "range", "extra per task"],
      [
        ["plain msgpack (before: Map, -0, cycles were lost)", fmt(p), span(c.plain), ""],
        ["structured clone + refusal walk (now)", fmt(s), span(c.structured), `${s >= p ? "+" : ""}${fmt(s - p)} us`],
      ],
      "l",
    ),
  );
  console.log("compare the extra with the CPU per task of the throughput section (all processes): the 50k map may lose at most 5%");
  const w = wireCodecs(codecRuns);
  const wp = median(w.plain);
  const wr = median(w.records);
  console.log(`\nprotocol messages: those of one task of the 50k map (update-graph entry, compute-task, task-finished, key-in-memory, gather, release), in batches of 64, packed and unpacked, ${codecRuns} alternating runs (us per task)\n`);
  console.log(
    table(
      ["codec", "median", "range", "of plain"],
      [
        ["plain maps (before)", fmt(wp), span(w.plain), ""],
        ["records per connection, sequential (now)", fmt(wr), span(w.records), `x${(wr / wp).toFixed(2)}`],
      ],
      "l",
    ),
  );
}

// ---- cases ---------------------------------------------------------------------------------

const cases = (["throughput", "latency", "tree", "transfer", "dashboard", "coordination"] as const).filter(selected);

type NA = { na: string };
type Throughput = Record<"10000" | "50000", number[]> & { cpuUsPerTask?: { client: number; scheduler: number; workers: number } };
type Latency = { p50: number[]; p99: number[] };
type DaskLatency = Latency & { clientIntervalMs?: number; unpaced?: Latency };
type Tree = { ms: number[]; tasks: number };
type Transfer = { c2w: number[]; scatterMs: number[]; w2w: number[]; freshCopyMibs?: number[] };
type Watched = { without: number[]; watched: number[] };
type Coordination = { lock: number[]; queue: number[] };
type Tcp = { mibs: number[]; keptMibs: number[]; touchedMibs: number[]; copyMibs: number[]; copyFreshMibs: number[]; pingUs: number[] };
type Dask = {
  version: string;
  profile: string;
  config?: Record<string, unknown>;
  throughput?: Throughput;
  latency?: DaskLatency;
  tree?: Tree;
  transfer?: Transfer;
  coordination?: Coordination;
};
/** 2.5 GB/s in MiB/s, the transfer target of issue 17. */
const GBS_2_5 = 2.5e9 / 2 ** 20;

if (cases.length) {
  // One cluster at a time: ours (one mpirun per case), the TCP pair, then Python Dask.
  const perCase = { throughput: 120_000 + runs * 150_000, latency: 60_000 + runs * 30_000, tree: 60_000 + runs * 120_000, transfer: 90_000 + runs * 60_000, dashboard: 90_000 + runs * 60_000, coordination: 60_000 + runs * 60_000 };
  const ours: Partial<Record<(typeof cases)[number], unknown>> = {};
  for (const c of cases) ours[c] = await attempt(`dask-mpi-ts ${c}`, () => runCase(c, perCase[c]));
  const tcp = cases.includes("transfer") || cases.includes("latency")
    ? await attempt("raw tcp", async () => parseResult<Tcp>(await run(process.execPath, [dist("tcp/sender")], 120_000), "raw tcp"))
    : undefined;

  let dask: Dask | undefined;
  let shipped: Dask | undefined;
  let daskNote: string;
  const daskCases = cases.filter((c) => c !== "dashboard");
  if (process.env.BENCH_DASK === "0") daskNote = "Dask: skipped (BENCH_DASK=0)";
  else if (!daskCases.length) daskNote = "";
  else if ((await run(PYTHON, ["-c", "import distributed, numpy"], 30_000)).code !== 0) daskNote = "Dask: not installed";
  else {
    const script = path.join(root, "bench/python/dask_bench.py");
    const daskRun = (profile: string, which: string[], timeout: number) =>
      attempt(`python dask (${profile})`, async () =>
        parseResult<Dask>(await run(PYTHON, [script, String(daskRuns), which.join(","), profile], timeout, { PYTHONDONTWRITEBYTECODE: "1" }), `python dask (${profile})`),
      );
    dask = await daskRun("best", daskCases, 120_000 + daskRuns * 600_000);
    // Dask as shipped, for the rows where its defaults change the figure most; slow (its 50k map
    // runs at ~0.5k tasks/s here), BENCH_DASK_DEFAULT=0 skips it.
    const shippedCases = daskCases.filter((c) => c === "throughput" || c === "latency");
    if (shippedCases.length && process.env.BENCH_DASK_DEFAULT !== "0") shipped = await daskRun("default", shippedCases, 120_000 + daskRuns * 900_000);
    daskNote = dask
      ? `Dask ${dask.version}, ${daskRuns} warmed run${daskRuns > 1 ? "s" : ""} (as ours: one warm-up round, then counted rounds; medians and ranges), the same cluster shape: ${String(dask.config?.cluster)}`
      : "Dask: failed (see below)";
    for (const d of [dask, shipped]) if (d?.config) console.log(`\nDask's effective configuration, profile "${d.profile}":\n${JSON.stringify(d.config, null, 1)}`);
  }

  const rows: string[][] = [];
  const na = (v: unknown): v is NA => typeof v === "object" && v !== null && "na" in v;
  const range = (xs: number[] | undefined) => (xs && xs.length > 1 ? `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}` : "");
  /** One row: our median and range, Dask's median and range, ours/Dask, the target or a note. */
  const row = (name: string, metric: string, xs: number[] | string | undefined, dxs: number[] | undefined, target = "") => {
    const m = Array.isArray(xs) ? median(xs) : undefined;
    const d = dxs?.length ? median(dxs) : undefined;
    rows.push([
      name,
      metric,
      m === undefined ? (xs as string | undefined) ?? "failed" : fmt(m),
      Array.isArray(xs) ? range(xs) : "",
      d === undefined ? (dask ? "-" : "") : fmt(d),
      range(dxs),
      m !== undefined && d !== undefined ? `x${fmt(m / d)}` : "",
      target,
    ]);
  };
  const verdict = (ok: boolean) => (ok ? "met" : "MISSED");

  if (cases.includes("throughput")) {
    const t = ours.throughput as Throughput | undefined;
    for (const n of ["10000", "50000"] as const) {
      const m = t ? median(t[n]) : undefined;
      row(`throughput ${Number(n) / 1000}k`, "tasks/s", t?.[n], dask?.throughput?.[n], m === undefined ? "" : `>= 50,000: ${verdict(m >= 50_000)}`);
      if (shipped?.throughput) row("  Dask as shipped", "tasks/s", "", shipped.throughput[n], "worker-saturation 1.1, no direct_to_workers");
    }
    const c = t?.cpuUsPerTask;
    if (c) {
      // all four processes share the machine: its cores divided by the CPU a task costs in all
      const total = c.client + c.scheduler + c.workers;
      const cores = availableParallelism();
      row("CPU per task, all processes", "us", [total], undefined, `<= 40: ${verdict(total <= 40)}; client ${fmt(c.client)} + scheduler ${fmt(c.scheduler)} + workers ${fmt(c.workers)}`);
      row(`  => bound on ${cores} cores`, "tasks/s", [(cores * 1e6) / total], undefined, "cores / CPU per task");
    }
  }
  if (cases.includes("latency")) {
    const l = ours.latency as Latency | undefined;
    const dl = dask?.latency;
    const paced = dl?.clientIntervalMs ?? 10;
    row("round trip submit().result()", "p50 us", l?.p50, dl?.unpaced?.p50, l ? `<= 150: ${verdict(median(l.p50) <= 150)}; Dask: its client's ${fmt(paced)} ms batching set to 0 (its scheduler's 5 ms and workers' 2 ms stream batching stay)` : "");
    row("round trip submit().result()", "p99 us", l?.p99, dl?.unpaced?.p99, l ? `<= 1,000: ${verdict(median(l.p99) <= 1000)}` : "");
    if (dl) row("  Dask, client as shipped", "p50 us", "", dl.p50, `its client sends to the scheduler at most every ${fmt(paced)} ms: a submit after the last release waits`);
    if (shipped?.latency) row("  Dask as shipped, all defaults", "p50 us", "", shipped.latency.p50, "and no direct_to_workers");
    row("Node TCP 1-byte ping-pong", "p50 us", tcp?.pingUs, undefined, "one hop's floor; a round trip takes 4 hops today");
  }
  if (cases.includes("tree")) {
    const t = ours.tree as Tree | NA | undefined;
    const perS = (x: Tree | undefined) => x?.ms.map((ms) => x.tasks / (ms / 1000));
    const dt = dask?.tree;
    row("tree reduction 1..10k", "wall ms", na(t) ? `n/a (${t.na})` : t?.ms, dt?.ms, na(t) || !t ? "" : `<= 200: ${verdict(median(t.ms) <= 200)}; Dask: one graph (client.get)`);
    row("tree reduction 1..10k", "tasks/s", na(t) ? "n/a" : perS(t), perS(dt));
  }
  if (cases.includes("transfer")) {
    const t = ours.transfer as Transfer | NA | undefined;
    const tt = na(t) ? undefined : t;
    const target = (xs: number[] | undefined) => (xs ? `>= 2.5 GB/s (${fmt(GBS_2_5)} MiB/s): ${verdict(median(xs) >= GBS_2_5)}` : "");
    row("transfer client->worker 256 MiB", "MiB/s", na(t) ? `n/a (${t.na})` : t?.c2w, dask?.transfer?.c2w, target(tt?.c2w));
    row("transfer worker->worker 256 MiB", "MiB/s", na(t) ? "n/a" : t?.w2w, dask?.transfer?.w2w, target(tt?.w2w));
    row("Node receive path: count only", "MiB/s", tcp?.mibs, undefined, "2 Node processes, loopback, bytes dropped");
    row("Node receive path: into new memory", "MiB/s", tcp?.keptMibs, undefined, "copied into a fresh SharedArrayBuffer");
    row("Node receive path: into touched memory", "MiB/s", tcp?.touchedMibs, undefined, "copied into one buffer touched before");
    row("memory copy 256 MiB, touched", "MiB/s", tcp?.copyMibs, undefined, "Buffer.copy, one thread: the machine's copy bandwidth");
    row("memory copy 256 MiB, fresh", "MiB/s", tcp?.copyFreshMibs, dask?.transfer?.freshCopyMibs, "Node: a new SharedArrayBuffer (4 KiB page faults); Dask column: numpy (huge pages)");
  }

  if (cases.includes("dashboard")) {
    const d = ours.dashboard as Watched | NA | undefined;
    const ratio = d && !na(d) ? median(d.watched) / median(d.without) : undefined;
    row("10k tasks, nobody watching", "tasks/s", na(d) ? `n/a (${d.na})` : d?.without, undefined, "");
    row("10k tasks, dashboard open", "tasks/s", na(d) ? "n/a" : d?.watched, undefined, ratio === undefined ? "" : `x${ratio.toFixed(2)} of unwatched (Chromium shares the cores)`);
  }

  if (cases.includes("coordination")) {
    const k = ours.coordination as Coordination | undefined;
    row("Lock acquire + release", "median us", k?.lock, dask?.coordination?.lock, "Dask: its asyncio client");
    row("Queue put + get", "median us", k?.queue, dask?.coordination?.queue, "Dask: its asyncio client");
  }

  console.log(`\ncases: mpirun -np 4 dask-mpi-ts (scheduler, client, 2 one-thread workers with nannies); dask-mpi-ts: median of ${runs} warmed runs`);
  if (daskNote) console.log(daskNote);
  if (dask) console.log("Dask column: Dask at its best (worker-saturation inf, direct_to_workers=True, compression off: the transfer data is np.arange, which lz4 would shrink; dask-mpi-ts never compresses)");
  console.log(`load (uptime) at the end: ${loadavg().map((x) => x.toFixed(1)).join(", ")} on ${availableParallelism()} cores; under load compare ratios, not figures`);
  console.log("ours/Dask: above 1 is better for tasks/s and MiB/s, below 1 is better for us and ms\n");
  console.log(table(["case", "metric", "dask-mpi-ts", "range", "Dask", "Dask range", "ours/Dask", "target / note"], rows, "llrrrrrl"));
}

if (selected("journal")) await journalSection(attempt, runs);

// ---- scale ---------------------------------------------------------------------------------

if (selected("scale")) await scaleSection(attempt, PYTHON);
if (selected("scale") || selected("scale-real")) await realWorkersSection(attempt);
if (selected("scale") || selected("scale-million")) await millionSection(attempt);

if (failures.length) console.log(`\nfailures:\n${failures.join("\n\n")}`);
process.exit(exitCode);
