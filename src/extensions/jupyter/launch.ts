/**
 * Starting and stopping one Jupyter server on this host, behind the guard (guard.ts: Jupyter
 * and its kernels end with this process, even on SIGKILL). The start checks what it can say
 * clearly before Jupyter runs (jupyter and its subcommand on PATH, the notebook directory, the
 * port), then waits until the server answers its REST API with the token (raced against its
 * exit, bounded by the request's timeout) and checks that the kernel is one it has.
 *
 * The token: made here, handed to Jupyter in JUPYTER_TOKEN (not on its command line, which any
 * user can read), and never logged: Jupyter's output goes to the debug log with it blanked out.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type SchedulerFileContent, writeSchedulerFile } from "../../comm/scheduler-file.js";
import { ConfigError, JupyterError, TimeoutError } from "../../errors.js";
import { logger } from "../../log.js";
import type { JupyterServerInfo } from "../../protocol/messages-jupyter.js";
import { type JupyterRequest, findCommand, findSubcommand, installHint, jupyterArgs, jupyterEnv, probeHost, redact, urlHost } from "./spec.js";
import { STOP_GRACE_MS } from "./tree.js";

const log = () => logger("jupyter");
const GUARD = fileURLToPath(new URL("./guard.js", import.meta.url));
/** Where `npm run setup:jupyter` (scripts/setup-jupyter.mjs) installs the tslab kernel's spec. */
export const KERNEL_PREFIX = fileURLToPath(new URL("../../../../.tslab/share/jupyter", import.meta.url));
/** Jupyter's last output lines kept for an error message. */
const OUTPUT_LINES = 15;
const POLL_MS = 250;
/** Tries with a fresh free port when the one picked was taken meanwhile (port 0 only). */
const PORT_TRIES = 3;

type Exit = { code: number | null; signal: string | null; error?: string };

const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
};

/** A Jupyter server started here (with its guard), until stop(). */
export class JupyterProcess {
  readonly info: JupyterServerInfo;
  readonly request: JupyterRequest;
  readonly #run: GuardRun;
  readonly #runtimeDir: string;
  #stopping: Promise<void> | undefined;

  constructor(info: JupyterServerInfo, request: JupyterRequest, run: GuardRun, runtimeDir: string) {
    this.info = info;
    this.request = request;
    this.#run = run;
    this.#runtimeDir = runtimeDir;
  }

  /** Resolves when Jupyter has exited (after stop(), or by itself), with its exit and last lines. */
  get exited(): Promise<{ exit: Exit; output: string[] }> {
    return this.#run.exited.then((exit) => ({ exit, output: this.#run.output }));
  }

  /** Stop Jupyter and its kernels (idempotent), and remove its runtime files. */
  stop(): Promise<void> {
    this.#stopping ??= this.#run.stop().finally(() => rmSync(this.#runtimeDir, { recursive: true, force: true }));
    return this.#stopping;
  }
}

/** The guard and the Jupyter below it, as this process sees them. */
interface GuardRun {
  exited: Promise<Exit>;
  output: string[];
  pid: Promise<number>;
  stop(): Promise<void>;
}

function runGuard(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, token: string, runtimeDir: string): GuardRun {
  const guard: ChildProcess = spawn(process.execPath, [GUARD, "--runtime-dir", runtimeDir, command, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe", "ipc"] });
  const output: string[] = [];
  for (const stream of [guard.stdout!, guard.stderr!]) {
    createInterface({ input: stream, crlfDelay: Infinity }).on("line", (raw) => {
      const line = redact(raw, token);
      output.push(line);
      if (output.length > OUTPUT_LINES) output.shift();
      log().debug({ line }, "jupyter output");
    });
  }
  let exit: Exit | undefined;
  let jupyterPid: number | undefined;
  let resolvePid!: (pid: number) => void;
  const pid = new Promise<number>((r) => (resolvePid = r));
  guard.on("message", (m: { type?: string; pid?: number; code?: number | null; signal?: string | null; message?: string }) => {
    if (m.type === "spawned" && typeof m.pid === "number") resolvePid((jupyterPid = m.pid));
    else if (m.type === "exited") exit = { code: m.code ?? null, signal: m.signal ?? null };
    else if (m.type === "error") exit = { code: null, signal: null, error: m.message };
  });
  const exited = new Promise<Exit>((resolve) => {
    guard.on("error", (err) => resolve((exit ??= { code: null, signal: null, error: `its guard could not start: ${err.message}` })));
    guard.on("close", (code, signal) => resolve((exit ??= { code, signal, error: `its guard exited (${signal ?? `code ${code}`})` })));
  });
  const stop = async (): Promise<void> => {
    if (guard.exitCode !== null || guard.signalCode !== null) return;
    if (guard.connected) guard.send({ type: "stop" });
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), STOP_GRACE_MS + 4000)))]);
    clearTimeout(timer);
    if (!late) return;
    // the guard did not finish: end both ourselves
    log().warn({ pid: jupyterPid }, "jupyter's guard did not stop in time: killing it and jupyter");
    guard.kill("SIGKILL");
    try {
      if (jupyterPid !== undefined) process.kill(-jupyterPid, "SIGKILL");
    } catch {
      // gone
    }
    await exited;
  };
  return { exited, output, pid, stop };
}

/** A free port on `ip` (the OS's pick), or the error of an address this host does not have. */
function portCheck(ip: string, port: number, hostname: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE") reject(new JupyterError(`port ${port} on ${ip} is taken on ${hostname}: pass another port, or port: 0 for a free one`));
      else if (err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND" || err.code === "EAI_AGAIN") reject(new ConfigError(`ip ${JSON.stringify(ip)} is not an address of ${hostname} (${err.code}): pass one of its addresses, or leave ip out for the scheduler's`));
      else reject(new JupyterError(`cannot listen on ${ip}:${port} on ${hostname}: ${err.message}`, { cause: err }));
    });
    srv.listen({ host: ip, port, exclusive: true }, () => {
      const got = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(got));
    });
  });
}

function describeExit(e: Exit): string {
  return e.error ?? (e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`);
}

/** Wait until the server answers /api/kernelspecs with the token; its kernel specs. */
async function untilServing(run: GuardRun, base: string, token: string, deadline: number, what: string, timeoutMs: number): Promise<Record<string, unknown>> {
  let exit: Exit | undefined;
  void run.exited.then((e) => (exit = e));
  let last = "no answer yet";
  for (;;) {
    if (exit) throw new JupyterError(`${what} ${describeExit(exit)} before it served ${base}; its last output:\n${run.output.join("\n")}`);
    try {
      const res = await fetch(`${base}api/kernelspecs`, { headers: { Authorization: `token ${token}` }, signal: AbortSignal.timeout(2000) });
      if (res.ok) return ((await res.json()) as { kernelspecs?: Record<string, unknown> }).kernelspecs ?? {};
      // a server that refuses our token is not ours (the port was taken meanwhile)
      throw new JupyterError(`${base} answered ${res.status} ${res.statusText} to ${what}'s token: another server has that port?`);
    } catch (err) {
      if (err instanceof JupyterError) throw err;
      last = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    }
    if (Date.now() > deadline) throw new TimeoutError(`${what} did not serve ${base} within ${timeoutMs} ms (${last}); its last output:\n${run.output.join("\n")}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Start `jupyter <app>` as asked. `scheduler` is the scheduler file its notebooks get, or the
 * content of one to write for them (a scheduler started without a file).
 */
export async function launchJupyter(r: JupyterRequest, scheduler: string | SchedulerFileContent): Promise<JupyterProcess> {
  const hostname = os.hostname();
  const PATH = process.env.PATH;
  const jupyter = findCommand(r.command, PATH, isExecutable);
  if (!jupyter) {
    const where = r.command.includes("/") ? `${r.command} is not an executable file` : `no ${JSON.stringify(r.command)} on PATH (${PATH ?? ""})`;
    throw new JupyterError(`jupyter is not installed on ${hostname}: ${where}; ${installHint(r.app)}, or pass command: "/path/to/jupyter"`);
  }
  if (!findSubcommand(jupyter, r.app, PATH, isExecutable)) {
    throw new JupyterError(`jupyter ${r.app} is not installed on ${hostname} (no jupyter-${r.app} next to ${jupyter} or on PATH): ${installHint(r.app)}`);
  }
  if (!existsSync(r.notebookDir) || !statSync(r.notebookDir).isDirectory()) {
    throw new ConfigError(`notebookDir ${JSON.stringify(r.notebookDir)} is not a directory on ${hostname}`);
  }
  if (r.port !== 0) await portCheck(r.ip, r.port, hostname);
  const kernelDirs = existsSync(KERNEL_PREFIX) ? [KERNEL_PREFIX] : [];
  const deadline = Date.now() + r.timeoutMs;
  const what = `jupyter ${r.app}`;
  for (let attempt = 1; ; attempt++) {
    // private (0700) runtime files of this server; its guard removes them when Jupyter exits
    const runtimeDir = mkdtempSync(path.join(os.tmpdir(), "dask-mpi-ts-jupyter-"));
    let run: GuardRun | undefined;
    try {
      let schedulerFile = scheduler as string;
      if (typeof scheduler !== "string") await writeSchedulerFile((schedulerFile = path.join(runtimeDir, "scheduler.json")), scheduler);
      const port = r.port || (await portCheck(r.ip, 0, hostname));
      const token = randomBytes(24).toString("hex");
      const env = jupyterEnv(process.env, { token, runtimeDir, schedulerFile, kernelDirs });
      run = runGuard(jupyter, jupyterArgs(r, port, process.getuid?.() === 0), r.notebookDir, env, token, runtimeDir);
      const specs = await untilServing(run, `http://${probeHost(r.ip)}:${port}/`, token, deadline, what, r.timeoutMs);
      if (!(r.kernel in specs)) {
        const have = Object.keys(specs).join(", ") || "none";
        const how = r.kernel === "tslab" ? "install it with `npm run setup:jupyter` in dask-mpi-ts (scripts/setup-jupyter.mjs)" : `install its kernel spec (jupyter kernelspec list shows what ${jupyter} finds)`;
        throw new JupyterError(`kernel ${JSON.stringify(r.kernel)} is not installed for ${jupyter} on ${hostname} (it has: ${have}): ${how}, or pass one of those as kernel`);
      }
      const baseUrl = `http://${urlHost(r.ip, hostname)}:${port}/`;
      const info: JupyterServerInfo = {
        url: `${baseUrl}?token=${token}`, baseUrl, token, ip: r.ip, port, hostname, app: r.app, kernel: r.kernel,
        notebookDir: r.notebookDir, schedulerFile, pid: await run.pid,
      };
      return new JupyterProcess(info, r, run, runtimeDir);
    } catch (err) {
      await run?.stop();
      rmSync(runtimeDir, { recursive: true, force: true });
      // the free port we picked was taken before Jupyter bound it: pick another
      if (!r.port && attempt < PORT_TRIES && run?.output.some((l) => /already in use/i.test(l))) continue;
      throw err;
    }
  }
}
