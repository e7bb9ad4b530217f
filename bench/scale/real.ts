/**
 * Scale fixture, real workers: `node real.js [BIG] [SMALL] [TASKS] [ROUNDS]` (defaults 100, 2,
 * 20,000, 2). One scheduler (bench/scale.ts's withScheduler: its own process, no dashboard);
 * each round starts `dask-worker-ts --nworkers W` with nannies (W + 1 processes: as in Dask, the
 * W nannies live in the command's process and fork one worker process each; 1 thread each, an
 * explicit small --memory-limit, spill in a temp directory)
 * through the scheduler file, for W = BIG and SMALL in alternating order (BIG, SMALL, then
 * SMALL, BIG, ...), and measures:
 *   join     ms from the spawn until the scheduler holds all W workers, with the time until
 *            all W + 1 processes exist and the CPU the whole tree spent by then (start-up cost per
 *            process: what bounds the join on a machine with few cores);
 *   idle     the CPU the tree and the scheduler spend over 3 s with nothing to run;
 *   rate     client.map of TASKS trivial tasks + gather, checked, tasks/s (after a warm-up map
 *            that every worker takes part in), with the CPU per task of the scheduler, the
 *            whole worker tree and the client (on a machine with few cores their sum bounds it);
 *   memory   RSS and PSS (shared pages split among the processes) of the whole worker tree.
 * Then SIGTERM to the command, and a check that every process it started has ended (each
 * carries a tag variable in its environment, found through /proc as the tests do:
 * test/helpers/proc.ts). Prints one BENCH_JSON line.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { Client } from "../../src/index.js";
import { emit, median, now, within } from "../fixtures/common.js";
import { root } from "../runner.js";
import { withScheduler } from "../scale.js";
import { TAG_VAR, taggedPids as tagged } from "../../test/helpers/proc.js";
import { BENCH_CLIENT, sampleScheduler } from "./probe.js";
import { cpuMs, kb, pause, stop } from "./procs.js";

const [big = 100, small = 2, tasks = 20_000, rounds = 2] = process.argv.slice(2).map(Number);
if (![big, small, tasks, rounds].every((x) => Number.isInteger(x) && x > 0)) throw new Error("usage: real.js [BIG] [SMALL] [TASKS] [ROUNDS]");
const MEMORY_LIMIT = "512MiB";

export interface RealRun {
  workers: number;
  /** spawn -> all W workers held by the scheduler, ms */
  joinedMs: number;
  /** spawn -> the first worker held, ms */
  firstMs: number;
  /** spawn -> all W + 1 processes (the command, whose W nannies fork one worker process each) exist, ms */
  spawnedMs: number;
  /** CPU of the whole tree from spawn until all joined, ms per process */
  startCpuMsPerProcess: number;
  rate: number;
  rssMiB: number;
  pssMiB: number;
  processes: number;
  /** the scheduler's CPU per task over the map+gather, us */
  schedulerCpuUsPerTask: number;
  /** the worker tree's CPU per task over the map+gather, us (all its processes) */
  workersCpuUsPerTask: number;
  /** this client's CPU per task over the map+gather, us */
  clientCpuUsPerTask: number;
  /** the worker tree's CPU with nothing to do (heartbeats, timers), % of a core over 3 s */
  idleCorePercent: number;
  /** the scheduler's, idle, % of a core over the same 3 s */
  schedulerIdleCorePercent: number;
}

async function oneRun(client: Client, file: string, w: number): Promise<RealRun> {
  const tag = randomUUID();
  const local = mkdtempSync(path.join(tmpdir(), "scale-real-"));
  let child: ChildProcess | undefined;
  let stderr = "";
  try {
    // the previous round's workers are gone from the scheduler
    await within(60_000, "the scheduler to drop the last round's workers", (async () => {
      while ((await sampleScheduler(client, false)).workers > 0) await pause(100);
    })());
    const t0 = now();
    child = spawn(
      process.execPath,
      [path.join(root, "bin/dask-worker-ts.js"), "--scheduler-file", file, "--nworkers", String(w), "--nthreads", "1", "--memory-limit", MEMORY_LIMIT, "--local-directory", local, "--host", "127.0.0.1", "--log-level", "warn"],
      { cwd: root, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, [TAG_VAR]: tag } },
    );
    child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
    let firstMs: number | undefined;
    let spawnedMs: number | undefined;
    const seen = new Set<number>();
    const deadline = t0 + 300_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`dask-worker-ts exited (${child.exitCode}) before ${w} workers joined:\n${stderr}`);
      if (now() > deadline) throw new Error(`${w} workers did not join within 300 s:\n${stderr}`);
      if (spawnedMs === undefined) {
        for (const p of tagged(tag)) seen.add(p);
        if (seen.size >= w + 1) spawnedMs = now() - t0;
      }
      const held = (await sampleScheduler(client, false)).workers;
      if (held > 0 && firstMs === undefined) firstMs = now() - t0;
      if (held >= w) break;
      await pause(50);
    }
    const joinedMs = now() - t0;
    const pids = tagged(tag);
    const startCpu = pids.reduce((a, p) => a + cpuMs(p), 0);

    // warm-up: every worker takes tasks, the function is known everywhere
    const inc = (x: number) => x + 1;
    const warm = client.map(inc, Array.from({ length: Math.max(1000, w * 20) }, (_, i) => i));
    await within(300_000, "warm-up gather", client.gather(warm));
    for (const f of warm) f.release();
    // idle: what the tree and the scheduler spend with nothing to run
    const treeCpu = () => pids.reduce((a, p) => a + cpuMs(p), 0);
    const i0 = treeCpu();
    const is0 = await sampleScheduler(client, false);
    const ti = now();
    await pause(3000);
    const idleMs = now() - ti;
    const idleCorePercent = ((treeCpu() - i0) / idleMs) * 100;
    const schedulerIdleCorePercent = (((await sampleScheduler(client, false)).cpuUs - is0.cpuUs) / 1000 / idleMs) * 100;

    const items = Array.from({ length: tasks }, (_, i) => i);
    const s0 = await sampleScheduler(client, false);
    const w0 = treeCpu();
    const c0 = process.cpuUsage();
    const t1 = now();
    const futures = client.map(inc, items, { pure: false });
    const out = await within(600_000, "map+gather", client.gather(futures));
    const rate = tasks / ((now() - t1) / 1000);
    const c1 = process.cpuUsage(c0);
    const w1 = treeCpu();
    const s1 = await sampleScheduler(client, false);
    for (let i = 0; i < tasks; i++) if (out[i] !== i + 1) throw new Error(`wrong value at ${i}: ${out[i]}`);
    for (const f of futures) f.release();

    const rssKb = pids.reduce((a, p) => a + kb(`/proc/${p}/status`, "VmRSS"), 0);
    const pssKb = pids.reduce((a, p) => a + kb(`/proc/${p}/smaps_rollup`, "Pss"), 0);
    return {
      workers: w,
      joinedMs,
      firstMs: firstMs ?? joinedMs,
      spawnedMs: spawnedMs ?? joinedMs,
      startCpuMsPerProcess: startCpu / pids.length,
      rate,
      rssMiB: rssKb / 1024,
      pssMiB: pssKb / 1024,
      processes: pids.length,
      schedulerCpuUsPerTask: (s1.cpuUs - s0.cpuUs) / tasks,
      workersCpuUsPerTask: ((w1 - w0) * 1000) / tasks,
      clientCpuUsPerTask: (c1.user + c1.system) / tasks,
      idleCorePercent,
      schedulerIdleCorePercent,
    };
  } finally {
    if (child) await stop(child, tag);
    rmSync(local, { recursive: true, force: true });
  }
}

/**
 * The floor of a process's start-up: CPU (user + system, ms) of `node` doing nothing, and of
 * `node` loading dask-worker-ts's code (the CLI's module graph, not started), median of 3.
 */
async function startupFloor(): Promise<{ bareNodeCpuMs: number; workerCodeCpuMs: number }> {
  const cpu = async (code: string) => {
    const xs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const c = spawn(process.execPath, ["--input-type=module", "-e", `${code}; const u = process.cpuUsage(); console.log((u.user + u.system) / 1000)`], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      c.stdout!.on("data", (d) => (out += d));
      await new Promise((r) => c.once("close", r));
      xs.push(Number(out.trim()));
    }
    return median(xs);
  };
  return { bareNodeCpuMs: await cpu("0"), workerCodeCpuMs: await cpu(`await import(${JSON.stringify(path.join(root, "dist/src/cli/dask-worker.js"))})`) };
}

const result = await withScheduler(async (file) => {
  const client = await Client.connect({ schedulerFile: file }, BENCH_CLIENT);
  try {
    const runs: RealRun[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [big, small] : [small, big];
      for (const w of order) runs.push(await oneRun(client, file, w));
    }
    return runs;
  } finally {
    await client.close();
  }
});
emit({ cores: availableParallelism(), memoryLimit: MEMORY_LIMIT, tasks, floor: await startupFloor(), runs: result });
process.exit(0);
