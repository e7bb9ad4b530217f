/**
 * Spawning real processes in tests: output captured, every wait raced against the process's
 * exit and bounded by a deadline, and a leak check. Each spawned process (and everything it
 * starts, which inherits the environment) carries a tag variable, so a test can find and kill
 * every descendant — mpirun ranks, nanny children — and prove none is left.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";

export const TAG_VAR = "DASK_MPI_TS_TEST_TAG";

export interface Proc {
  child: ChildProcess;
  tag: string;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitCode(): number | null | undefined;
}

const started: Proc[] = [];

/** This test run: every spawned process's tag starts with it, so the reaper finds them all. */
const RUN_ID = randomUUID();
let reaper: ChildProcess | undefined;

/**
 * A process of its own, started with the first spawn, that outlives this one by at most a
 * second: once the test run is gone, however it ended (a SIGKILL, a CI timeout, Ctrl-C on npx,
 * which does not pass the signal on), it kills every process a test started, and leaves.
 * (Signal handlers here would change what in-process tests of signal handling see.)
 */
function startReaper(): void {
  if (reaper) return;
  const script = `const fs = require("fs");
const [parent, mark] = process.argv.slice(1);
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
setInterval(() => {
  if (alive(Number(parent))) return;
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\\d+$/.test(d)) continue;
    try { if (fs.readFileSync("/proc/" + d + "/environ", "latin1").includes(mark)) process.kill(Number(d), "SIGKILL"); } catch {}
  }
  process.exit(0);
}, 1000);`;
  reaper = spawn(process.execPath, ["-e", script, String(process.pid), `${TAG_VAR}=${RUN_ID}-`], { detached: true, stdio: "ignore" });
  reaper.unref();
}

export function spawnProc(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Proc {
  startReaper();
  const tag = `${RUN_ID}-${randomUUID()}`;
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env, [TAG_VAR]: tag },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  let status: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("close", (code, signal) => resolve((status = { code, signal })));
    child.on("error", (e) => {
      err += String(e);
      resolve((status = { code: -1, signal: null }));
    });
  });
  const p: Proc = {
    child,
    tag,
    get stdout() {
      return out;
    },
    get stderr() {
      return err;
    },
    exited,
    exitCode: () => (status ? status.code : undefined),
  };
  started.push(p);
  return p;
}

/** Wait for a condition, failing early if `proc` exits first, and at the deadline. */
export async function waitFor<T>(
  what: string,
  cond: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs: number; proc?: Proc; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (opts.proc && opts.proc.exitCode() !== undefined) {
      throw new Error(`process exited (code ${opts.proc.exitCode()}) before ${what}\nstderr:\n${tail(opts.proc.stderr)}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${opts.proc ? `\nstderr:\n${tail(opts.proc.stderr)}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 25));
  }
}

/** The exit status, or an error if it takes longer than `timeoutMs` (the process is killed). */
export async function exitWithin(proc: Proc, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
  const r = await Promise.race([proc.exited, timeout]);
  clearTimeout(timer);
  if (r === "timeout") {
    killTagged(proc.tag);
    throw new Error(`process did not exit within ${timeoutMs} ms\nstderr:\n${tail(proc.stderr)}`);
  }
  return { ...r, ms: Date.now() - t0 };
}

/** PIDs of live processes carrying this tag in their environment. */
export function taggedPids(tag: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, "latin1");
      if (env.includes(`${TAG_VAR}=${tag}`) && !isZombie(entry)) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

function isZombie(pid: string): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return true;
  }
}

export function killTagged(tag: string, signal: NodeJS.Signals = "SIGKILL"): void {
  for (const pid of taggedPids(tag)) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Child PIDs of a process (from /proc), for process-tree checks. */
export function childPids(pid: number): number[] {
  const path = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
}

/**
 * For afterEach: kill everything the test started, then fail if anything had been left
 * alive after its launcher exited (a leak), or is still alive after SIGKILL.
 */
export async function cleanupProcs(): Promise<void> {
  const procs = started.splice(0);
  const leaks: string[] = [];
  for (const p of procs) {
    if (p.exitCode() !== undefined) {
      // the launcher is gone: give its descendants a moment to follow, then any left is a leak
      const left = await settle(() => taggedPids(p.tag), 15_000); // returns once none is left
      if (left.length) leaks.push(`${left.length} process(es) outlived their launcher: ${left.join(", ")}`);
    }
    killTagged(p.tag);
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000))]);
    const stuck = await settle(() => taggedPids(p.tag), 3000);
    if (stuck.length) leaks.push(`processes survived SIGKILL: ${stuck.join(", ")}`);
  }
  if (leaks.length) throw new Error(`process leak: ${leaks.join("; ")}`);
}

async function settle(get: () => number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let v = get();
  while (v.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    v = get();
  }
  return v;
}

export function tail(text: string, lines = 30): string {
  return text.split("\n").slice(-lines).join("\n");
}
