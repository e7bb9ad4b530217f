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
 * (bench/python/dask_bench.py), side by side.
 *
 *   journal     the 50k-task map with the scheduler's journal on and off: ratio, bytes per task (bench/journal.ts)
 *   codec       per-task cost of user values' structured clone against plain msgpack, in-process
 *   scale       cost curves of one scheduler: tasks 10k -> 1M, null workers 2 -> 1,000 (bench/scale/section.ts),
 *               then scale-real: 100 real workers against 2 (bench/scale/real-section.ts; BENCH_SCALE_REAL=0 skips)
 *               then scale-million: 1M-task map and tree on 2 real workers (bench/scale/million-section.ts; BENCH_SCALE_MILLION=0 skips)
 *   BENCH_ONLY=startup,codec,throughput,latency,tree,transfer,dashboard,coordination,journal,scale,scale-real,scale-million   sections to run (default: all)
 *   BENCH_RUNS=N        repetitions (default 7 for start-up, 3 for the cases)
 *   BENCH_DASK_RUNS=N   repetitions on Python Dask (default 1: its 50k-task run alone takes ~2 min)
 *   BENCH_DASK=0        skip Python Dask (BENCH_PYTHON=path: another interpreter)
 * Every process is bounded by a timeout; a failed case shows as "failed" and the bench exits 1.
 */
import { availableParallelism } from "node:os";
import path from "node:path";
import { dist, median, parseResult, root, run, runCase, runsOr } from "./runner.js";
import { codec } from "./codec.js";
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
const daskRuns = Number(process.env.BENCH_DASK_RUNS) > 0 ? Number(process.env.BENCH_DASK_RUNS) : 1;
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
  const rows = await attempt("startup", () => startup(startupRuns));
  for (const r of rows ?? []) {
    if (r.failed) {
      failures.push(`startup ${r.mode}: ${r.failed} of ${startupRuns + 1} runs failed; the first:\n${r.error}`);
      exitCode = 1;
    }
  }
  console.log(`\nstart-up: time from mpirun -np 4 to the first result on rank 1, ${startupRuns} runs each (ms)\n`);
  console.log(
    rows
      ? table(
          ["mode", "median", "range", "of baseline", "failed runs"],
          rows.map((r) => [r.mode, fmt(r.median), `${fmt(r.min)}-${fmt(r.max)}`, `x${r.ofBaseline.toFixed(2)}`, r.failed ? String(r.failed) : ""]),
          "l",
        )
      : "failed (see below)",
  );
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
}

// ---- cases ---------------------------------------------------------------------------------

const cases = (["throughput", "latency", "tree", "transfer", "dashboard", "coordination"] as const).filter(selected);

type NA = { na: string };
type Throughput = Record<"10000" | "50000", number[]> & { cpuUsPerTask?: { client: number; scheduler: number; workers: number } };
type Latency = { p50: number[]; p99: number[] };
type Tree = { ms: number[]; tasks: number };
type Transfer = { c2w: number[]; scatterMs: number[]; w2w: number[] };
type Watched = { without: number[]; watched: number[] };
type Coordination = { lock: number[]; queue: number[]; config?: Record<string, unknown> };
type Dask = { version: string; throughput?: Throughput; latency?: Latency; tree?: Tree; transfer?: Transfer; coordination?: Coordination };

if (cases.length) {
  // One cluster at a time: ours (one mpirun per case), the TCP pair, then Python Dask.
  const perCase = { throughput: 120_000 + runs * 150_000, latency: 60_000 + runs * 30_000, tree: 60_000 + runs * 120_000, transfer: 60_000 + runs * 60_000, dashboard: 90_000 + runs * 60_000, coordination: 60_000 + runs * 60_000 };
  const ours: Partial<Record<(typeof cases)[number], unknown>> = {};
  for (const c of cases) ours[c] = await attempt(`dask-mpi-ts ${c}`, () => runCase(c, perCase[c]));
  const tcp = cases.includes("transfer") || cases.includes("latency")
    ? await attempt("raw tcp", async () => parseResult<{ mibs: number[]; keptMibs: number[]; pingUs: number[] }>(await run(process.execPath, [dist("tcp/sender")], 90_000), "raw tcp"))
    : undefined;

  let dask: Dask | undefined;
  let daskNote: string;
  if (process.env.BENCH_DASK === "0") daskNote = "Dask: skipped (BENCH_DASK=0)";
  else if ((await run(PYTHON, ["-c", "import distributed, numpy"], 30_000)).code !== 0) daskNote = "Dask: not installed";
  else {
    const daskTimeout = 60_000 + daskRuns * (300_000 + 120_000 + 30_000 + 60_000 + 60_000);
    const script = path.join(root, "bench/python/dask_bench.py");
    dask = await attempt("python dask", async () =>
      parseResult<Dask>(await run(PYTHON, [script, String(daskRuns), cases.join(",")], daskTimeout, { PYTHONDONTWRITEBYTECODE: "1" }), "python dask"),
    );
    daskNote = dask
      ? `Dask ${dask.version}: LocalCluster(n_workers=2, threads_per_worker=1, processes=True)${cases.includes("coordination") ? " (coordination: dask-scheduler and 2 dask-worker processes, configuration above)" : ""}, ${daskRuns} run${daskRuns > 1 ? "s" : ""}`
      : "Dask: failed (see below)";
  }

  const rows: string[][] = [];
  const na = (v: unknown): v is NA => typeof v === "object" && v !== null && "na" in v;
  const range = (xs: number[]) => `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}`;
  /** One row: our median and range, Dask's median, ours/Dask, the target verdict. */
  const row = (name: string, metric: string, xs: number[] | string | undefined, dxs: number[] | undefined, target = "") => {
    const m = Array.isArray(xs) ? median(xs) : undefined;
    const d = dxs ? median(dxs) : undefined;
    rows.push([
      name,
      metric,
      m === undefined ? (xs as string | undefined) ?? "failed" : fmt(m),
      Array.isArray(xs) && xs.length > 1 ? range(xs) : "",
      d === undefined ? (dask ? "-" : "") : fmt(d),
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
    }
    const c = t?.cpuUsPerTask;
    if (c) {
      // all four processes share the machine: its cores divided by the CPU a task costs in all
      const total = c.client + c.scheduler + c.workers;
      const cores = availableParallelism();
      row("CPU per task, all processes", "us", [total], undefined, `client ${fmt(c.client)} + scheduler ${fmt(c.scheduler)} + workers ${fmt(c.workers)}`);
      row(`  => bound on ${cores} cores`, "tasks/s", [(cores * 1e6) / total], undefined, "cores / CPU per task");
    }
  }
  if (cases.includes("latency")) {
    const l = ours.latency as Latency | undefined;
    row("latency round trip", "p50 us", l?.p50, dask?.latency?.p50, l ? `<= 150: ${verdict(median(l.p50) <= 150)}` : "");
    row("latency round trip", "p99 us", l?.p99, dask?.latency?.p99);
    row("raw TCP 1-byte ping-pong (Node)", "p50 us", tcp?.pingUs, undefined, "floor of one hop");
  }
  if (cases.includes("tree")) {
    const t = ours.tree as Tree | NA | undefined;
    const perS = (x: Tree | undefined) => x?.ms.map((ms) => x.tasks / (ms / 1000));
    const dt = dask?.tree;
    row("tree reduction 1..10k", "wall ms", na(t) ? `n/a (${t.na})` : t?.ms, dt?.ms);
    row("tree reduction 1..10k", "tasks/s", na(t) ? "n/a" : perS(t), perS(dt));
  }
  if (cases.includes("transfer")) {
    const t = ours.transfer as Transfer | NA | undefined;
    const ceiling = tcp ? median(tcp.mibs) : undefined;
    const ofTcp = (xs: number[] | undefined) => (xs && ceiling ? `${Math.round((100 * median(xs)) / ceiling)}% of TCP` : "");
    const tt = na(t) ? undefined : t;
    row("transfer client->worker", "MiB/s", na(t) ? `n/a (${t.na})` : t?.c2w, dask?.transfer?.c2w, ofTcp(tt?.c2w));
    const w2wOfTcp = tt && ceiling ? median(tt.w2w) / ceiling : undefined;
    row(
      "transfer worker->worker",
      "MiB/s",
      na(t) ? "n/a" : t?.w2w,
      dask?.transfer?.w2w,
      w2wOfTcp === undefined ? "" : `${ofTcp(tt!.w2w)} (>= 70%): ${verdict(w2wOfTcp >= 0.7)}`,
    );
    row("raw TCP 256 MiB (Node)", "MiB/s", tcp?.mibs, undefined, "ceiling");
    const kept = tcp ? median(tcp.keptMibs) : undefined;
    row("raw TCP 256 MiB into new memory", "MiB/s", tcp?.keptMibs, undefined, kept && ceiling ? `${Math.round((100 * kept) / ceiling)}% of TCP: a receiver that keeps the bytes` : "");
  }

  if (cases.includes("dashboard")) {
    const d = ours.dashboard as Watched | NA | undefined;
    const ratio = d && !na(d) ? median(d.watched) / median(d.without) : undefined;
    row("10k tasks, nobody watching", "tasks/s", na(d) ? `n/a (${d.na})` : d?.without, undefined, "");
    row("10k tasks, dashboard open", "tasks/s", na(d) ? "n/a" : d?.watched, undefined, ratio === undefined ? "" : `x${ratio.toFixed(2)} of unwatched (Chromium shares the cores)`);
  }

  if (cases.includes("coordination")) {
    const k = ours.coordination as Coordination | undefined;
    row("Lock acquire + release", "median us", k?.lock, dask?.coordination?.lock);
    row("Queue put + get", "median us", k?.queue, dask?.coordination?.queue);
    if (dask?.coordination?.config) console.log(`\nDask configuration for coordination: ${JSON.stringify(dask.coordination.config, null, 1)}`);
  }

  console.log(`\ncases: mpirun -np 4 dask-mpi-ts (scheduler, client, 2 workers); dask-mpi-ts: median of ${runs} runs`);
  console.log(daskNote);
  console.log("ours/Dask: above 1 is better for tasks/s and MiB/s, below 1 is better for us and ms");
  console.log("targets: map+gather >= 50,000 tasks/s; median round trip <= 150 us; worker->worker >= 70% of raw TCP\n");
  console.log(table(["case", "metric", "dask-mpi-ts", "range", "Dask", "ours/Dask", "target"], rows, "llrrrrl"));
}

if (selected("journal")) await journalSection(attempt, runs);

// ---- scale ---------------------------------------------------------------------------------

if (selected("scale")) await scaleSection(attempt, PYTHON);
if (selected("scale") || selected("scale-real")) await realWorkersSection(attempt);
if (selected("scale") || selected("scale-million")) await millionSection(attempt);

if (failures.length) console.log(`\nfailures:\n${failures.join("\n\n")}`);
process.exit(exitCode);
