/**
 * Helpers for tests that launch real MPI jobs: which launchers exist (each with the addon build
 * its ranks must load), their command lines, and a bounded run that kills every process of the
 * job on timeout or from afterEach.
 *
 * Env: DASK_MPI_TS_TEST_MPI=openmpi|mpich|all (default all available),
 * DASK_MPI_TS_ADDON_OPENMPI / DASK_MPI_TS_ADDON_MPICH (addon builds; defaults
 * build/Release/dask_mpi_ts.node and build/mpich/Release/dask_mpi_ts.node), CI (inCi() in
 * helpers/skip.ts: a missing addon build is an error instead of a skipped launcher).
 *
 * Jobs are found for cleanup by a tag in their environment (DASK_MPI_TS_TEST_TAG), not by
 * process group: the launchers give ranks process groups and sessions of their own.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { inCi } from "./skip.js";

export interface Launcher {
  name: "openmpi" | "mpich";
  /** Absolute path of mpirun / mpiexec. */
  command: string;
  /** Launcher arguments before the program: -np, root/oversubscribe flags, env (incl. DASK_MPI_TS_ADDON). */
  args(np: number, extra?: { env?: Record<string, string> }): string[];
  /** The addon build the ranks load, passed as DASK_MPI_TS_ADDON. */
  addonPath?: string;
  /** The MPI compiler wrapper of this MPI (for test builds). */
  mpicc?: string;
}

/** The repository root (this file compiles to dist/test/helpers/mpi.js). */
export const repoRoot = (() => {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "native"))) return dir;
    if (path.dirname(dir) === dir) throw new Error("repository root not found");
  }
})();

/** A compiled test fixture: fixture("addon-basic") -> dist/test/mpi/fixtures/addon-basic.js. */
export function fixture(name: string): string {
  return path.join(repoRoot, "dist", "test", "mpi", "fixtures", `${name}.js`);
}

/** The deterministic payload of the big broadcast in fixtures. */
export function bcastPayload(bytes = 100_000): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function versionText(cmd: string): string {
  try {
    return execFileSync(cmd, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
  } catch {
    return "";
  }
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

function withAddon(env: Record<string, string> | undefined, addonPath: string | undefined): [string, string][] {
  const all: Record<string, string> = addonPath ? { DASK_MPI_TS_ADDON: addonPath } : {};
  return Object.entries({ ...all, ...env });
}

function openMpi(): { launcher?: Launcher; missing?: string } {
  const command = which("mpirun.openmpi") ?? (/open mpi|open-mpi|openrte/i.test(versionText("mpirun")) ? which("mpirun") : undefined);
  if (!command) return { missing: "Open MPI: no mpirun.openmpi (or Open MPI mpirun) on PATH" };
  const addonPath = process.env.DASK_MPI_TS_ADDON_OPENMPI || path.join(repoRoot, "build", "Release", "dask_mpi_ts.node");
  if (!fs.existsSync(addonPath)) {
    return { missing: `Open MPI: addon build ${addonPath} not found (node scripts/build-addon.mjs, or set DASK_MPI_TS_ADDON_OPENMPI)` };
  }
  return {
    launcher: {
      name: "openmpi",
      command,
      addonPath,
      mpicc: which("mpicc.openmpi") ?? which("mpicc"),
      args: (np, extra) => [
        ...(isRoot ? ["--allow-run-as-root"] : []),
        "--oversubscribe",
        "-np",
        String(np),
        ...withAddon(extra?.env, addonPath).flatMap(([k, v]) => ["-x", `${k}=${v}`]),
      ],
    },
  };
}

function mpich(): { launcher?: Launcher; missing?: string } {
  const command = which("mpiexec.hydra") ?? which("mpirun.mpich");
  if (!command) return { missing: "MPICH: no mpiexec.hydra (or mpirun.mpich) on PATH" };
  const addonPath = process.env.DASK_MPI_TS_ADDON_MPICH || path.join(repoRoot, "build", "mpich", "Release", "dask_mpi_ts.node");
  if (!fs.existsSync(addonPath)) {
    return {
      missing: `MPICH: addon build ${addonPath} not found (MPICC=mpicc.mpich node scripts/build-addon.mjs --out build/mpich, or set DASK_MPI_TS_ADDON_MPICH)`,
    };
  }
  return {
    launcher: {
      name: "mpich",
      command,
      addonPath,
      mpicc: which("mpicc.mpich"),
      // hydra rejects --allow-run-as-root and needs no --oversubscribe.
      args: (np, extra) => ["-np", String(np), ...withAddon(extra?.env, addonPath).flatMap(([k, v]) => ["-genv", k, v])],
    },
  };
}

const noted = new Set<string>();
function note(message: string): void {
  if (noted.has(message)) return;
  noted.add(message);
  console.log(`    (mpi tests) skipping ${message}`);
}

function probe(names: Launcher["name"][], strict: boolean): Launcher[] {
  const out: Launcher[] = [];
  for (const name of names) {
    const r = name === "openmpi" ? openMpi() : mpich();
    if (r.launcher) out.push(r.launcher);
    else if (strict) throw new Error(`mpi tests: ${r.missing}`);
    else note(r.missing ?? name);
  }
  return out;
}

/**
 * Every launcher on this machine with an addon build for its MPI. One without a build is left
 * out with a note, or, in CI (inCi()), is an error.
 */
export function availableLaunchers(): Launcher[] {
  return probe(["openmpi", "mpich"], inCi());
}

/**
 * The launchers selected by DASK_MPI_TS_TEST_MPI (openmpi | mpich | all; default all
 * available). A launcher named explicitly must be available.
 */
export function launcherFromEnv(): Launcher[] {
  const sel = (process.env.DASK_MPI_TS_TEST_MPI ?? "all").trim().toLowerCase();
  if (sel === "" || sel === "all") return availableLaunchers();
  if (sel === "openmpi" || sel === "mpich") return probe([sel], true);
  throw new Error(`DASK_MPI_TS_TEST_MPI must be openmpi, mpich or all, got ${JSON.stringify(sel)}`);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

// Launchers put every rank in a process group (Open MPI) or even a session (hydra) of its own,
// so a job cannot be found by its process group. Each run gets a unique tag in its environment
// instead, which the launchers pass on to the ranks; cleanup finds every process with the tag
// in /proc (also ranks orphaned by a dead launcher).
const TAG_VAR = "DASK_MPI_TS_TEST_TAG";
const started = new Map<string, ChildProcess>();
let runs = 0;

/**
 * Runs `argv` (e.g. [process.execPath, fixture("addon-basic")]) under the launcher with np
 * ranks and resolves when the launcher exits. Past timeoutMs (default 30 s) every process of
 * the job gets SIGTERM, then SIGKILL 2 s later.
 */
export function runMpi(
  launcher: Launcher,
  np: number,
  argv: string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return runTagged(launcher.command, [...launcher.args(np, { env: opts.env }), ...argv], { timeoutMs: opts.timeoutMs ?? 30_000 });
}

/** Runs a command with a deadline, tagged for cleanup like runMpi (for builds and the like). */
export function runTagged(
  command: string,
  args: string[],
  opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<RunResult> {
  const t0 = Date.now();
  const tag = `${process.pid}-${++runs}-${t0}`;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...(opts.env ?? process.env), [TAG_VAR]: tag },
      cwd: opts.cwd,
    });
    started.set(tag, child);
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      killTagged(tag, "SIGTERM");
      setTimeout(() => killTagged(tag, "SIGKILL"), 2000).unref();
    }, opts.timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0, timedOut });
    });
  });
}

/** Pids of live (non-zombie) processes whose environment carries the tag. */
function taggedPids(tag: string): number[] {
  const needle = Buffer.from(`\0${TAG_VAR}=${tag}\0`);
  const out: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // State is the field after "(comm)"; Z = zombie (exited, not yet reaped by its parent).
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const environ = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${entry}/environ`), Buffer.from([0])]);
      if (environ.includes(needle)) out.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

function killTagged(tag: string, signal: NodeJS.Signals): number[] {
  const pids = taggedPids(tag);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
  return pids;
}

/**
 * For afterEach: SIGKILLs every process still alive from the runs started here and returns
 * their pids (the leak check: a test that cleaned up after itself returns []).
 */
export async function killStartedJobs(graceMs = 10_000): Promise<number[]> {
  // Helpers may outlive their launcher by a moment (Open MPI's singleton daemon does): wait.
  const deadline = Date.now() + graceMs;
  while ([...started.keys()].some((t) => taggedPids(t).length) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const leaked: number[] = [];
  for (const tag of started.keys()) {
    leaked.push(...killTagged(tag, "SIGKILL"));
    started.delete(tag);
  }
  if (leaked.length) await new Promise((r) => setTimeout(r, 200));
  return leaked;
}

/** The JSON of every "RESULT {...}" line of a run, sorted by rank. */
export function results<T extends { rank: number }>(stdout: string): T[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("RESULT "))
    .map((l) => JSON.parse(l.slice("RESULT ".length)) as T)
    .sort((a, b) => a.rank - b.rank);
}
